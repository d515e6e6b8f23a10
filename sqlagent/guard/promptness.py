"""Can the engine stop this statement within moments of its deadline?

An engine that runs in the process (DuckDB) notices an interrupt between the chunks of rows
it works through, so a statement made only of steps whose cost per row is bounded stops
almost at once. What it notices only late is a single step that runs long on its own: one
huge value being built (``repeat``, ``string_agg``, list functions), a table function
generating rows, a holistic aggregate sorting a whole group (``median``), a window over one
huge partition, a recursive query, or the planning of a statement with very many joins.

``stops_promptly`` vouches for a statement only when every node of it is on a short,
reviewed list of bounded steps, over at most ``MAX_TABLES`` table references and
``MAX_NODES`` nodes. Anything it does not know is answered "no": that only means the
statement runs on a worker thread (the caller still returns at the deadline), never that a
statement goes unbounded.
"""

from __future__ import annotations

from sqlglot import exp

__all__ = ["MAX_NODES", "MAX_TABLES", "stops_promptly"]

MAX_TABLES = 8
"""Table references at most: planning many joins is not interruptible."""

MAX_NODES = 400
"""Syntax nodes at most: parsing and planning grow with the statement, outside any check."""

_STRUCTURE: tuple[type[exp.Expr], ...] = (
    exp.Select, exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Order,
    exp.Ordered, exp.Limit, exp.Offset, exp.Distinct, exp.With, exp.CTE, exp.Subquery,
    exp.Union, exp.Intersect, exp.Except, exp.Exists, exp.Paren, exp.Alias, exp.TableAlias,
    exp.Table, exp.Column, exp.Identifier, exp.Star, exp.Literal, exp.Null, exp.Boolean,
    exp.Var, exp.DataType, exp.DataTypeParam, exp.Tuple,
)  # fmt: skip
"""The shape of a query: what it reads and how, not what it computes."""

_BOUNDED: tuple[type[exp.Expr], ...] = (
    # Arithmetic, comparison and logic: fixed work per row.
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.IntDiv, exp.Neg,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.Is, exp.In, exp.Between, exp.And, exp.Or, exp.Not,
    exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Cast, exp.TryCast,
    exp.Abs, exp.Round, exp.Floor, exp.Ceil, exp.Sign,
    # Dates: fixed work per row.
    exp.Extract, exp.DateTrunc, exp.TimestampTrunc, exp.Year, exp.Quarter, exp.Month,
    exp.Week, exp.Day, exp.DayOfWeek, exp.Interval,
    # Text whose result is no longer than its input (the input is a stored value).
    exp.Lower, exp.Upper, exp.Length, exp.Like, exp.ILike,
    # Aggregates that keep a fixed-size state per group (or a hash set, built chunk by chunk).
    exp.Sum, exp.Avg, exp.Count, exp.Min, exp.Max, exp.Filter,
)  # fmt: skip
"""Computations whose cost per row and whose result size are bounded."""

_ALLOWED = frozenset(_STRUCTURE + _BOUNDED)


def stops_promptly(tree: exp.Expr) -> bool:
    """True when an interrupt stops ``tree`` (a checked statement) within moments: only
    bounded steps (see the module docstring), no recursion, a small statement."""
    tables = 0
    for count, node in enumerate(tree.walk(), start=1):
        kind = type(node)
        if kind not in _ALLOWED or count > MAX_NODES:
            return False
        if kind is exp.Table:
            tables += 1
            # A table reference names a table or a CTE; a call in its place generates rows.
            if tables > MAX_TABLES or not isinstance(node.this, exp.Identifier):
                return False
        elif kind is exp.With and node.args.get("recursive"):
            return False
    return True
