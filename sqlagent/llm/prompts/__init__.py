"""Prompt templates, kept as text files and versioned by the hash of their content.

Templates use ``string.Template`` placeholders (``$name``) rather than ``str.format`` so that
SQL and JSON examples inside a template need no brace escaping.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from string import Template

NAMES = (
    "generate_system",
    "generate_user",
    "repair_user",
    "narrate_system",
    "narrate_user",
    "no_sql_user",
    "narrate_retry_user",
    "generate_json_system",
)


@cache
def template(name: str) -> Template:
    """The template called ``name`` (a file ``<name>.txt`` in this package)."""
    if name not in NAMES:
        raise KeyError(f"unknown prompt template {name!r}")
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return Template(text)


def render(name: str, **values: object) -> str:
    """Fill template ``name``; a missing placeholder is a bug, so it raises KeyError."""
    return template(name).substitute({k: str(v) for k, v in values.items()}).strip()


@cache
def version() -> str:
    """A short content hash over every template: it changes whenever any prompt changes."""
    digest = hashlib.sha256()
    for name in NAMES:
        digest.update(name.encode())
        digest.update(template(name).template.encode())
    return digest.hexdigest()[:12]
