"""The README's Quick start: the user's install has no development tools; the second command
adds them; .ci/run runs the same commands; the extras they name exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def extras(command: str) -> set[str]:
    found = re.search(r'pip install -e "\.\[([\w,]+)\]"', command)
    return set(found.group(1).split(",")) if found else set()


def test_the_first_command_installs_no_development_tools_and_starts_the_dashboard() -> None:
    first, second = quick_start_commands()[:2]
    assert first.endswith("sqlagent ui") and "pip install -e" in first
    assert "dev" not in extras(first)
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and newer
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    optional = project["project"]["optional-dependencies"]
    assert extras(first) <= set(optional)
    user = " ".join(
        project["project"]["dependencies"] + [d for e in extras(first) for d in optional[e]]
    )
    for tool in ("pytest", "hypothesis", "ruff", "mypy", "playwright"):
        assert tool not in user
    # The second adds the development tools and runs the tests, also from a fresh clone.
    assert second.startswith("python3 -m venv .venv") and "dev" in extras(second)
    assert second.endswith(".venv/bin/python -m pytest")
    dev = " ".join(optional["dev"])
    for tool in ("pytest", "hypothesis", "ruff", "mypy", "playwright"):
        assert tool in dev
    # The tests need both drivers: the dev extra brings them.
    assert "sqlagent[postgres,mysql]" in optional["dev"]


def test_ci_follows_the_readme() -> None:
    first, second = quick_start_commands()[:2]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    install_first = first.rsplit(" && ", 1)[0].replace("pip install -e", "pip install -q -e")
    install_second = second.rsplit(" && ", 1)[0].replace("pip install -e", "pip install -q -e")
    assert install_first in ci and install_second in ci
    assert ci.index(install_first) < ci.index(install_second)
    assert ci.rstrip().endswith(".venv/bin/python -m pytest -q")
