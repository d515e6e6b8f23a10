"""What the table pass learns about a statement, and the scope helpers every column check
shares: which source a name belongs to, what a CTE or subquery provides.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.optimizer.scope import Scope

from ..types import SchemaInfo, TableInfo
from .messages import _listing
from .policy import _PolicyMatcher
from .rules import DialectRules

_SYNTHETIC = "_sqlagent_t"


"""Prefix of the names physical tables get in the private copy that column checks run on."""


@dataclass
class _Analysis:
    """What the table pass learns, for the column pass."""

    rules: DialectRules
    matcher: _PolicyMatcher
    schema: SchemaInfo
    dialect: Dialect
    infos: dict[str, TableInfo] = field(default_factory=dict)
    """Synthetic table name -> the table it stands for."""
    originals: dict[str, tuple[exp.Expr | None, exp.Expr | None, exp.Expr | None]] = field(
        default_factory=dict
    )
    order: list[TableInfo] = field(default_factory=list)
    restrict_stars: bool = False
    """True when a table read has denied columns: stars must then be expanded."""
    _keys: dict[str, str] = field(default_factory=dict)

    def key(self, name: str) -> str:
        """``name`` (as stored in the database) the way the dialect compares identifiers."""
        found = self._keys.get(name)
        if found is None:
            found = self._keys[name] = _column_key(name, self.dialect)
        return found


def _guard_dialect(rules: DialectRules) -> Dialect:
    if rules.case_insensitive_names:
        return Dialect.get_or_raise(f"{rules.dialect}, normalization_strategy=case_insensitive")
    return Dialect.get_or_raise(rules.dialect)


def _cte_positions(with_: exp.With) -> dict[str, int]:
    """Each CTE name of ``with_`` -> the position of its first definition (cached on the node:
    looking names up one by one made a statement of thousands of CTEs quadratic)."""
    found = with_.meta.get("sqlagent_cte_positions")
    if found is None or len(with_.expressions) != found.get("", -1):
        found = {"": len(with_.expressions)}
        for i, cte in enumerate(with_.expressions):
            found.setdefault(cte.alias, i)
        with_.meta["sqlagent_cte_positions"] = found
    return found


def _cte_names(table: exp.Table) -> bool:
    """True when ``table`` names a CTE visible where it is used.

    The main query of a WITH sees all of its CTEs; the body of a CTE sees only the CTEs
    listed before it (and itself under WITH RECURSIVE). Anywhere else the name is the real
    table, as the database reads it: ``WITH customers AS (SELECT * FROM customers)`` reads
    the table ``customers`` inside, and that read is checked like any other.
    """
    if table.args.get("db") or table.args.get("catalog"):
        return False
    name = table.name
    path: list[exp.Expr] = [table]
    node: exp.Expr | None = table.parent
    while node is not None:
        with_ = node.args.get("with_") if isinstance(node, exp.Expr) else None
        if isinstance(with_, exp.With):
            ctes = list(with_.expressions)
            visible = ctes
            if len(path) >= 2 and path[-1] is with_:
                # Reached through the WITH clause: from inside the body of path[-2].
                through = path[-2]
                index = next((i for i, cte in enumerate(ctes) if cte is through), len(ctes))
                visible = ctes[: index + 1] if with_.args.get("recursive") else ctes[:index]
            first = _cte_positions(with_)
            if name in first and first[name] < len(visible):
                return True
        path.append(node)
        node = node.parent
    return False


def _visible_tables(ana: _Analysis) -> list[TableInfo]:
    return [t for t in ana.schema.tables if ana.matcher.table_refusal(t) is None]


def _table_suggestions(name: str, ana: _Analysis) -> tuple[TableInfo, ...]:
    by_bare: dict[str, list[TableInfo]] = {}
    for info in _visible_tables(ana):
        by_bare.setdefault(info.name.lower(), []).append(info)
    close = difflib.get_close_matches(name.lower(), list(by_bare), n=3, cutoff=0.6)
    return tuple(t for bare in close for t in by_bare[bare])


def _table_text(info: TableInfo, ana: _Analysis) -> str:
    parts = [info.schema, info.name] if info.schema else [info.name]
    return ".".join(_quoted(p, ana) for p in parts)


def _did_you_mean(
    suggestions: Sequence[str], available: Sequence[str], ana: _Analysis | None = None
) -> str:
    if ana is not None:
        suggestions = [_quoted(n, ana) for n in suggestions]
        available = [_quoted(n, ana) for n in available]
    if suggestions:
        return f"Did you mean: {', '.join(suggestions)}?"
    return f"Available: {_listing(available)}."


def _quoted(name: str, ana: _Analysis) -> str:
    """``name`` as it must be written in the dialect (quoted when case or characters need it)."""
    ident = exp.to_identifier(name)
    ana.dialect.quote_identifier(ident, identify=False)
    return ident.sql(dialect=ana.dialect)


def _case_hint(name: str, suggestions: Sequence[str], ana: _Analysis) -> str:
    for candidate in suggestions:
        if candidate.lower() == name.lower() and candidate != name:
            return f" Names are case-sensitive here: write it as {_quoted(candidate, ana)}."
    return ""


def _plain_star(star: exp.Star) -> bool:
    """A star the optimizer expands (``SELECT *``, ``t.*``) or a bare ``COUNT(*)``."""
    if isinstance(star.parent, exp.Count):
        return True
    return _projection_star(star)


def _projection_star(star: exp.Star) -> bool:
    """``*`` or ``t.*`` in a SELECT list."""
    node: exp.Expr = star.parent if isinstance(star.parent, exp.Column) else star
    return isinstance(node.parent, exp.Select) and node.arg_key == "expressions"


def _column_key(name: str, dialect: Dialect) -> str:
    """A stored name as the dialect compares it with the (normalised) names of a query."""
    if dialect.normalization_strategy is NormalizationStrategy.UPPERCASE and name.islower():
        # SQLAlchemy reports case-insensitive Oracle/Snowflake names in lower case.
        return name.upper()
    ident = exp.to_identifier(name, quoted=True)
    return dialect.normalize_identifier(ident).name


def _denied_in(info: TableInfo, name: str, ana: _Analysis) -> bool:
    col = _find_column(info, name, ana)
    return col is not None and ana.matcher.column_denied(info, col)


def _denied_message(info: TableInfo, name: str) -> str:
    return (
        f"Column {info.qualified_name}.{name} is not accessible: the policy denies it "
        f"(it cannot be selected, filtered, joined or sorted on)"
    )


def _scope_chain(scope: Scope) -> Iterator[Scope]:
    current: Scope | None = scope
    while current is not None:
        yield current
        if not current.can_be_correlated:
            return
        current = current.parent


def _scope_outputs(source: Scope) -> list[str] | None:
    """The column names a CTE or derived table provides, or None when they are not known."""
    expr = source.expression
    if not isinstance(expr, (exp.Select, exp.SetOperation)):
        return None
    selects = expr.selects if isinstance(expr, exp.Select) else _leftmost(expr).selects
    if any(isinstance(s, exp.Star) or isinstance(s.this, exp.Star) for s in selects):
        return None
    return [n for n in expr.named_selects if n]


def _leftmost(expr: exp.Expr) -> exp.Select:
    while isinstance(expr, exp.SetOperation):
        expr = expr.this
    while isinstance(expr, exp.Subquery):
        expr = expr.this
    return expr if isinstance(expr, exp.Select) else exp.select("*")


def _has_visible(info: TableInfo, name: str, ana: _Analysis) -> bool:
    col = _find_column(info, name, ana)
    return col is not None and not ana.matcher.column_denied(info, col)


def _find_column(info: TableInfo, name: str, ana: _Analysis) -> str | None:
    """The stored name of the column ``name`` (normalised) refers to in ``info``."""
    for col in info.columns:
        if ana.key(col.name) == name:
            return col.name
    return None


def _visible_columns(info: TableInfo, ana: _Analysis) -> list[str]:
    return [c.name for c in info.columns if not ana.matcher.column_denied(info, c.name)]


def _pseudo(name: str, ana: _Analysis) -> bool:
    return name.lower() in ana.rules.pseudo_columns


def _in(name: str, names: Iterable[str]) -> bool:
    return name in set(names)  # both sides are normalised identifiers


def _close(name: str, names: Sequence[str]) -> tuple[str, ...]:
    by_low = {n.lower(): n for n in names}
    low = name.lower()
    close = difflib.get_close_matches(low, list(by_low), n=3, cutoff=0.6)
    extra = [n for n in by_low if low in n or (len(n) > 2 and n in low)]
    return tuple(by_low[n] for n in dict.fromkeys([*close, *extra]))[:5]
