"""Row filters: every read of a filtered table becomes a read of only its permitted rows.

After a statement passed every other check, each reference to a physical table that a
policy row filter names (in any scope: joins, subqueries, CTE bodies, set operations,
lateral and correlated subqueries) is replaced by a derived table that reads the same
table through the filter:

    FROM orders o JOIN ...      ->  FROM (SELECT * FROM orders AS _sqlagent_rows
                                          WHERE _sqlagent_rows.region = 'West') AS o JOIN ...

The derived table keeps the reference's alias (or the table's name), so every column
reference of the query means what it meant; the condition's columns are qualified with
the inner alias, so a filter can never be captured by a column of an outer scope. A CTE
that shadows the table's name is not a read of the table and is left alone; a CTE's body
that reads the table is rewritten like any other read. The user's attributes are bound as
literals that sqlglot quotes for the database's dialect.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from ..errors import PolicyViolation
from ..settings import Policy, RowFilter
from ..types import SchemaInfo, TableInfo
from .analysis import _Analysis, _cte_names, _guard_dialect
from .names import _lookup_table
from .policy import INNER_ALIAS, _PolicyMatcher, filter_condition, filters_for
from .rules import DialectRules

# Table arguments that have a meaning on the derived table too, and are moved onto it.
_MOVED = ("alias", "pivots", "sample", "laterals", "joins")
# Arguments that stay with the physical table (they say which data of it is read).
_KEPT = ("this", "db", "catalog", "version", "when", "system_time", "only", "partition")


def apply_row_filters(
    tree: exp.Expr, schema: SchemaInfo, policy: Policy, rules: DialectRules
) -> exp.Expr:
    """``tree`` with every read of a filtered table replaced by a read of its permitted
    rows (in place; the tree is returned). Tables are resolved as the guard resolved them."""
    if not policy.row_filters:
        return tree
    dialect = _guard_dialect(rules)
    ana = _Analysis(rules, _PolicyMatcher(policy, schema), schema, dialect)
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier) or _cte_names(table):
            continue
        probe = normalize_identifiers(
            exp.Table(this=table.this.copy(), db=_copy(table.args.get("db"))), dialect=dialect
        )
        info = _lookup_table(probe.name, probe.text("db") or None, ana)
        if info is None:
            continue  # a file the policy lets be read, or a name the other checks passed
        found = filters_for(info, policy, schema)
        if found:
            _replace(table, info, found)
    return tree


def filtered_source(info: TableInfo, policy: Policy, schema: SchemaInfo, alias: str) -> exp.Expr:
    """A FROM item that reads ``info`` as the policy lets it be read: the table itself, or
    its permitted rows as a derived table (for the context's own queries: samples, value
    index, profiles)."""
    table = exp.table_(info.name, db=info.schema, quoted=True, alias=alias)
    found = filters_for(info, policy, schema)
    if not found:
        return table
    holder = exp.select("*").from_(table)
    _replace(table, info, found)
    source = holder.args["from_"].this
    return source


def _replace(table: exp.Table, info: TableInfo, filters: Sequence[RowFilter]) -> None:
    unknown = [
        k for k, v in table.args.items() if v not in (None, [], False) and k not in _MOVED + _KEPT
    ]
    if unknown:
        # Fail closed: a table clause this rewrite does not know could change which rows
        # the derived table stands for.
        raise PolicyViolation(
            f"Table {info.qualified_name} has row filters and cannot be read with "
            f"{', '.join(sorted(unknown))}: write the query without it"
        )
    inner = exp.Table(**{k: _copy(table.args.get(k)) for k in _KEPT if table.args.get(k)})
    inner.set("alias", exp.TableAlias(this=exp.to_identifier(INNER_ALIAS)))
    select = exp.select(exp.Star()).from_(inner).where(
        filter_condition(info, filters, INNER_ALIAS), copy=False
    )
    alias = table.args.get("alias")
    if alias is None:
        alias = exp.TableAlias(this=exp.to_identifier(table.name, quoted=table.this.quoted))
        _unqualify_columns(table, table.name)
    derived = exp.Subquery(this=select, alias=alias.copy())
    for key in ("pivots", "sample", "laterals", "joins"):
        value = table.args.get(key)
        if value:
            derived.set(key, value)
    table.replace(derived)


def _unqualify_columns(table: exp.Table, name: str) -> None:
    """``db.t.col`` -> ``t.col`` where ``t`` now names the derived table."""
    if not table.args.get("db"):
        return
    root = table.root()
    for column in root.find_all(exp.Column):
        if column.args.get("db") and column.table == name:
            column.set("db", None)
            column.set("catalog", None)


def _copy(node: object) -> object:
    return node.copy() if isinstance(node, exp.Expr) else node

