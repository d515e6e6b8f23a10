"""Denied columns wherever a statement names them: every column node of the tree is judged,
so no clause can be forgotten.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.scope import Scope, traverse_scope

from ..errors import (
    PolicyViolation,
    UnsafeSQL,
)
from .analysis import (
    _Analysis,
    _denied_in,
    _denied_message,
    _has_visible,
    _plain_star,
    _scope_chain,
    _scope_outputs,
)


def _check_star_leaks(work: exp.Expr, ana: _Analysis) -> None:
    """With denied columns about, refuse the constructs that reach columns without naming them."""
    for node in work.walk():
        if isinstance(node, exp.Join) and node.method and node.method.upper() == "NATURAL":
            raise PolicyViolation(
                "NATURAL JOIN is not allowed on tables with denied columns: it may join on "
                "them. Join with ON and name the columns"
            )
        if isinstance(node, exp.Pivot):
            raise PolicyViolation(
                "PIVOT/UNPIVOT is not allowed on tables with denied columns: aggregate with "
                "GROUP BY and name the columns"
            )
        if isinstance(node, exp.Columns) or (
            isinstance(node, exp.Anonymous) and str(node.name).lower() == "columns"
        ):
            raise PolicyViolation(
                "COLUMNS(...) is not allowed on tables with denied columns: name the columns"
            )
        if isinstance(node, exp.PositionalColumn):
            # DuckDB's #n is the n-th column of the FROM clause, denied or not.
            raise PolicyViolation(
                "Positional column references (#n) are not allowed on tables with denied "
                "columns: they may reach them. Name the columns instead"
            )
        if isinstance(node, exp.Star) and not _plain_star(node):
            raise PolicyViolation(
                "'*' inside an expression is not allowed on tables with denied columns: it "
                "would read them. Name the columns instead"
            )


def _check_denied_references(work: exp.Expr, ana: _Analysis) -> None:
    """Refuse every column that the database could resolve to a denied column.

    Every column node of the statement is judged, whatever clause or expression holds it
    (select list, WHERE, HAVING, QUALIFY, window, FILTER, ORDER BY inside an aggregate...):
    the walk visits nodes, not a list of clauses, so a clause sqlglot learns to parse later
    is covered too. Resolution follows SQL's rules against the full schema: a qualified name
    belongs to its source; an unqualified one to the innermost scope that has a column of
    that name, and a denied column of that name in the same scope refuses it even where an
    output alias could also be meant (``HAVING ssn``: PostgreSQL reads the column). A name
    the analysis cannot place with certainty is refused when it could be a denied column.
    """
    seen: set[int] = set()
    for scope in traverse_scope(work):
        for column in scope.find_all(exp.Column):
            if id(column) in seen:
                continue
            seen.add(id(column))
            if not isinstance(column.this, exp.Star):
                _check_denied_column(column, scope, ana)
    denied = _denied_names(ana)
    for node in work.walk():
        if isinstance(node, exp.Column) and id(node) in seen:
            continue
        if isinstance(node, (exp.Column, exp.Var)):
            parts = [p.name for p in node.parts] if isinstance(node, exp.Column) else [node.name]
        elif isinstance(node, exp.Identifier) and node.arg_key == "using":
            parts = [node.name]
        else:
            continue
        for part in parts:
            key = ana.key(part) if isinstance(node, exp.Var) else part
            if key in denied:
                raise PolicyViolation(
                    f"'{part}' names a column the policy denies ({denied[key]}), in a place "
                    "the guard cannot resolve with certainty: name allowed columns only"
                )


def _check_denied_column(column: exp.Column, scope: Scope, ana: _Analysis) -> None:
    name, table = column.name, column.table
    for current in _scope_chain(scope):
        sources = current.selected_sources
        if table:
            if table not in sources:
                continue
            src = sources[table][1]
            info = ana.infos.get(src.name) if isinstance(src, exp.Table) else None
            if info is not None and _denied_in(info, name, ana):
                raise PolicyViolation(_denied_message(info, name))
            return
        found = False
        for _, src in sources.values():
            if isinstance(src, exp.Table):
                info = ana.infos.get(src.name)
                if info is not None and _denied_in(info, name, ana):
                    raise PolicyViolation(_denied_message(info, name))
                found = found or (info is not None and _has_visible(info, name, ana))
            else:
                outputs = _scope_outputs(src)
                found = found or (outputs is not None and name in outputs)
        if found:
            return
    # Not placed: the qualifier may name no source (a struct field, ``col.field``), or the
    # name no column. Either part could be a denied column the database finds.
    denied = _denied_names(ana)
    for part in (p.name for p in column.parts):
        if part in denied:
            raise PolicyViolation(
                f"'{part}' names a column the policy denies ({denied[part]}): name allowed "
                "columns only"
            )


def _denied_names(ana: _Analysis) -> dict[str, str]:
    """Normalised names of the denied columns of the tables read -> ``table.column``."""
    found: dict[str, str] = {}
    for info in ana.order:
        for col in info.columns:
            if ana.matcher.column_denied(info, col.name):
                found.setdefault(ana.key(col.name), f"{info.qualified_name}.{col.name}")
    return found


def _check_system_columns(work: exp.Expr, ana: _Analysis) -> None:
    """Refuse every column name the database could read as a system column (PostgreSQL's
    ``xmin``, ``ctid``...) unless the policy sets ``allow_server_info``.

    Judged on the statement as written, before names are qualified: a name is a system
    column where the innermost scope that could bind it reads a table of the database and
    no source of that scope has a real column of that name (a view may have one). Output
    aliases count only where PostgreSQL reads them first, as a whole ``ORDER BY`` item: it
    reads ``GROUP BY xmin`` and ``ORDER BY xmin + 0`` as the table's column even when
    ``xmin`` is also an alias, so those are refused.
    """
    names = ana.rules.system_columns
    if not names or ana.matcher.policy.allow_server_info:
        return
    if not any(c.name.lower() in names for c in work.find_all(exp.Column)):
        return  # the common case: no scopes to build
    seen: set[int] = set()
    for scope in traverse_scope(work):
        for column in scope.find_all(exp.Column):
            if id(column) in seen:
                continue
            seen.add(id(column))
            if (
                column.name.lower() in names
                and not _orders_by_alias(column)
                and _binds_system_column(column, scope, ana)
            ):
                raise UnsafeSQL(
                    f"Column {column.name} is a PostgreSQL system column: it shows "
                    "transaction ids and where rows are stored, server details the policy "
                    "does not allow",
                    hint="Set allow_server_info: true in the policy to permit system columns "
                    "(or give the column another alias).",
                )


def _orders_by_alias(column: exp.Column) -> bool:
    """``ORDER BY name`` of a query whose select list has an output of that name."""
    ordered = column.parent
    if column.table or not isinstance(ordered, exp.Ordered):
        return False
    order = ordered.parent
    query = order.parent if isinstance(order, exp.Order) else None
    if (
        not isinstance(query, (exp.Select, exp.SetOperation))
        or query.args.get("order") is not order
    ):
        return False  # a window's ORDER BY reads the input columns
    return column.name in query.named_selects


def _binds_system_column(column: exp.Column, scope: Scope, ana: _Analysis) -> bool:
    name, table = column.name, column.table
    for current in _scope_chain(scope):
        sources = current.selected_sources
        if table:
            if table not in sources:
                continue
            return _system_in(sources[table][1], name, ana)
        held = False
        physical = False
        for _, src in sources.values():
            if isinstance(src, exp.Table):
                info = ana.infos.get(src.name)
                held = held or (info is not None and _has_visible(info, name, ana))
                physical = physical or info is not None
            else:
                outputs = _scope_outputs(src)
                held = held or (outputs is not None and name in outputs)
        if held:
            return False
        if physical:
            return True
    return False


def _system_in(source: exp.Expr | Scope, name: str, ana: _Analysis) -> bool:
    """Whether ``name`` read from ``source`` is its system column: a table of the database
    without a real column of that name (derived tables and functions have none)."""
    if not isinstance(source, exp.Table):
        return False
    info = ana.infos.get(source.name)
    return info is not None and not _has_visible(info, name, ana)
