"""The bundled sample database: a synthetic credit-card transactions warehouse in DuckDB.

The database is not checked in; ``sample_data/generate.py`` builds it deterministically in a
few seconds the first time it is needed::

    from sqlagent.sample import ensure_sample_database
    path = ensure_sample_database()          # sample_data/cards.duckdb, built if missing

``sample_questions()`` returns example questions with verified SQL and expected rows.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import ConfigError

SAMPLE_DIR = Path(__file__).resolve().parents[1] / "sample_data"
DATABASE_NAME = "cards.duckdb"
GENERATOR_NAME = "generate.py"
QUESTIONS_NAME = "questions.yaml"
_MODULE_NAME = "sqlagent_sample_generate"


def _require(name: str) -> Path:
    path = SAMPLE_DIR / name
    if not path.is_file():
        raise ConfigError(
            f"The sample data folder is missing ({path} not found).",
            hint="The sample database ships with a source checkout of sqlagent; install it "
            "from the repository (pip install -e .) or point sqlagent at your own database.",
        )
    return path


def load_generator() -> ModuleType:
    """The ``sample_data/generate.py`` module (``build_database``, ``generate``, ``DEFAULT_SEED``).

    Raises ``ConfigError`` when the sample data folder is not there.
    """
    # Loaded by path: sample_data/ is a plain folder of the repository, not a package.
    path = _require(GENERATOR_NAME)
    loaded = sys.modules.get(_MODULE_NAME)
    if loaded is not None and getattr(loaded, "__file__", None) == str(path):
        return loaded
    spec = importlib.util.spec_from_file_location(_MODULE_NAME, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"Cannot load the sample database generator {path}.")
    module = importlib.util.module_from_spec(spec)
    # Registered before running it: dataclasses look their module up while being defined.
    sys.modules[_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_MODULE_NAME]
        raise
    return module


def sample_database_path() -> Path:
    """Where the sample database lives by default (it may not be built yet).

    >>> sample_database_path().name
    'cards.duckdb'
    """
    return SAMPLE_DIR / DATABASE_NAME


def is_sample_target(target: str | os.PathLike[str]) -> bool:
    """True when ``target`` (a path or a ``duckdb:`` URL) names the bundled sample database,
    built or not, so that opening it by name builds it as opening the default does.

    >>> is_sample_target(f"duckdb:///{sample_database_path()}")
    True
    """
    text = os.fspath(target).strip()
    if text.lower().startswith("duckdb:"):
        text = text[len("duckdb:") :].split("?", 1)[0]
        if text.startswith("///"):  # duckdb:///relative/path, duckdb:////absolute/path
            text = text[3:]
    elif "://" in text:
        return False
    if not text or text == ":memory:":
        return False
    try:
        return Path(text).expanduser().resolve() == sample_database_path().resolve()
    except OSError:
        return False


def needs_build(path: Path) -> bool:
    """True when the database at ``path`` is missing or older than the generator.

    A database built before ``generate.py`` last changed (e.g. before a ``git pull``) would no
    longer match ``questions.yaml``, so it counts as missing.
    """
    if not path.is_file():
        return True
    generator = SAMPLE_DIR / GENERATOR_NAME
    return generator.is_file() and path.stat().st_mtime < generator.stat().st_mtime


def ensure_sample_database(path: Path | None = None, *, force: bool = False) -> Path:
    """Return the path of the sample database, building it first if needed.

    ``path`` defaults to ``sample_database_path()``. The database is built when it is missing,
    older than the generator (see ``needs_build``) or ``force`` is true. The build writes a
    temporary file and renames it, so a crash never leaves a broken database. Raises
    ``ConfigError`` when a build is needed but the generator is not available (non-source
    install).

    >>> ensure_sample_database()  # doctest: +SKIP
    PosixPath('.../sample_data/cards.duckdb')
    """
    target = Path(path) if path is not None else sample_database_path()
    if not force and not needs_build(target):
        return target
    result: Path = load_generator().build_database(target)
    return result


def sample_questions() -> list[dict[str, Any]]:
    """The example questions of ``sample_data/questions.yaml``, in file order.

    Each item has ``question``, ``sql``, ``expected`` (``columns`` and ``rows``) and optionally
    ``answer_contains``.
    """
    import yaml

    path = _require(QUESTIONS_NAME)
    items = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(items, list):
        raise ConfigError(f"{path} must contain a list of questions.")
    return items
