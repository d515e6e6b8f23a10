"""Which functions a checked statement may call: allow-lists per dialect, as data.

A function is let through only when it is known to compute from its arguments and read
nothing else: a sqlglot typed function class on the reviewed list (``data/classes.txt``,
the same in every dialect), or, for the calls sqlglot leaves untyped, a name on the dialect's
reviewed list (``data/<dialect>.txt``). Dialects without a list of their own get the
names that every reviewed engine agrees on. Server and session details
(``data/server_info.txt``) pass only when a policy sets ``allow_server_info``.
Anything else is refused with a message naming it; a policy's ``allowed_functions`` adds
names for one deployment.

Everything here is data and pure lookups: ``benchmarks/function_allowlist.py`` prints the
sizes and regenerates the named lists from the engines' catalogs for review.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

from sqlglot import exp

__all__ = ["REVIEWED_DIALECTS", "allow_list_size", "function_refusal"]

REVIEWED_DIALECTS: tuple[str, ...] = ("duckdb", "postgres", "sqlite", "mysql", "spark")
"""Dialects with a named list of their own, reviewed against the engine's catalog or manual."""

_LIST_OF: dict[str, str] = {"mariadb": "mysql", "databricks": "spark", "spark2": "spark"}
"""Dialects that share another's list."""

NAMED_CLASSES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Anonymous,
        exp.AnonymousAggFunc,
        exp.CombinedAggFunc,
        exp.ParameterizedAgg,
        exp.CombinedParameterizedAgg,
    }
)
"""Classes that stand for a call by name: judged by the name, not the class."""


@dataclass(frozen=True)
class AllowListSize:
    """How big a dialect's allow-list is."""

    classes: int
    named: int
    distinct_names: int
    """Distinct lower-case names callable: the typed classes' SQL names plus the named list."""


def _lines(name: str) -> list[str]:
    text = resources.files("sqlagent.guard.data").joinpath(name).read_text(encoding="utf-8")
    return [s for line in text.splitlines() if (s := line.strip()) and not s.startswith("#")]


@cache
def _classes() -> frozenset[type[exp.Expr]]:
    found: set[type[exp.Expr]] = set()
    for name in _lines("classes.txt"):
        cls = getattr(exp, name, None)
        # A class a newer sqlglot dropped is simply not there; one that is not a function
        # would be a mistake in the data.
        if isinstance(cls, type) and issubclass(cls, exp.Func):
            found.add(cls)
    return frozenset(found)


@cache
def _server_info() -> tuple[frozenset[type[exp.Expr]], frozenset[str]]:
    classes: set[type[exp.Expr]] = set()
    names: set[str] = set()
    for line in _lines("server_info.txt"):
        if line.startswith("class "):
            cls = getattr(exp, line.split()[1], None)
            if isinstance(cls, type):
                classes.add(cls)
        else:
            names.add(line.lower())
    return frozenset(classes), frozenset(names)


@cache
def _named(dialect: str) -> frozenset[str]:
    key = _LIST_OF.get(dialect, dialect)
    if key in REVIEWED_DIALECTS:
        return frozenset(n.lower() for n in _lines(f"{key}.txt"))
    common: frozenset[str] | None = None
    for reviewed in REVIEWED_DIALECTS:
        names = _named(reviewed)
        common = names if common is None else common & names
    return common or frozenset()


def function_refusal(
    node: exp.Func, names: set[str], dialect: str, *, allow_server_info: bool
) -> str | None:
    """Why ``node`` (known by ``names``, lower case) may not run in ``dialect``, or None.

    >>> import sqlglot
    >>> call = sqlglot.parse_one("SELECT pg_stat_reset_shared('bgwriter')").selects[0]
    >>> why = function_refusal(call, {"pg_stat_reset_shared"}, "postgres", allow_server_info=False)
    >>> why.split(":")[0]
    'is not on the list of functions allowed in postgres queries'
    >>> function_refusal(sqlglot.parse_one("SELECT lower('A')").selects[0], {"lower"}, "duckdb",
    ...                  allow_server_info=False) is None
    True
    """
    cls = type(node)
    info_classes, info_names = _server_info()
    if cls in info_classes or (cls in NAMED_CLASSES and names & info_names):
        if allow_server_info:
            return None
        return "reads details of the server or the session, which the policy does not allow"
    if cls in NAMED_CLASSES:
        if names & _named(dialect):
            return None
    elif cls in _classes():
        return None
    return (
        f"is not on the list of functions allowed in {dialect} queries: only functions "
        "known to compute from their arguments can run"
    )


def allow_list_size(dialect: str) -> AllowListSize:
    """The size of ``dialect``'s allow-list (for the benchmark's table)."""
    classes = _classes()
    named = _named(dialect)
    typed_names = {
        n.lower() for cls in classes if issubclass(cls, exp.Func) for n in cls.sql_names()
    }
    return AllowListSize(len(classes), len(named), len(typed_names | named))
