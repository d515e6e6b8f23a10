"""Shared fixtures: the sample database, the Spider subset, and settings for tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sqlagent.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def spider_dir() -> Path:
    """The shared Spider subset: ../shared beside the repository, or $SQLAGENT_SPIDER_DIR."""
    env = os.environ.get("SQLAGENT_SPIDER_DIR")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "datasets" / "spider-dev-subset"


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """History and caches go to a scratch folder, never the user's data directory."""
    old = os.environ.get("SQLAGENT_HOME")
    os.environ["SQLAGENT_HOME"] = str(tmp_path_factory.mktemp("sqlagent-home"))
    yield
    if old is None:
        os.environ.pop("SQLAGENT_HOME", None)
    else:
        os.environ["SQLAGENT_HOME"] = old


@pytest.fixture(scope="session")
def spider() -> Path:
    path = spider_dir()
    if not (path / "dev.json").exists():
        pytest.skip(
            f"the Spider dev subset is not at {path} (it ships with CI's shared folder, not "
            "with a clone; set SQLAGENT_SPIDER_DIR to use another copy)"
        )
    return path


@pytest.fixture(scope="session")
def sample_db_path() -> Path:
    """The bundled sample database, built on first use (the same file the CLI uses)."""
    from sqlagent.sample import ensure_sample_database

    return ensure_sample_database()


@pytest.fixture()
def sample_db(sample_db_path: Path) -> Iterator[object]:
    """A read-only connection to the sample database."""
    from sqlagent.db import connect

    db = connect(f"duckdb:///{sample_db_path}")
    try:
        yield db
    finally:
        db.close()


@pytest.fixture()
def settings() -> Settings:
    """Settings for tests: no environment read, generous timeouts."""
    return Settings(model="scripted", api_key=None, base_url=None)


@pytest.fixture(scope="session")
def spark_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """One local Spark Connect server for the whole session (see tests/sparkserver.py);
    skipped with the reason when Java or pyspark is missing."""
    import sparkserver

    found = sparkserver.from_environment()
    if found is not None:
        yield found
        return
    why = sparkserver.unavailable()
    if why:
        pytest.skip(f"Spark tests need a Spark Connect server: {why}")
    server = sparkserver.start(tmp_path_factory.mktemp("spark"))
    try:
        yield server
    finally:
        server.stop()
