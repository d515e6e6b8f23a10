"""The policy's table and column patterns, and the schema as the model may see it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from fnmatch import fnmatchcase

from sqlglot import exp

from ..access.filters import FilterSyntaxError, MissingAttribute, bind, condition_columns
from ..errors import ConfigError, PolicyViolation
from ..settings import Policy, RowFilter
from ..types import SchemaInfo, TableInfo
from .rules import rules_for

INNER_ALIAS = "_sqlagent_rows"
"""The alias a row-filtered table is read under inside the derived table standing for it."""


def visible_schema(schema: SchemaInfo, policy: Policy) -> SchemaInfo:
    """The schema as the model may see it: denied tables and columns removed.

    Tables outside ``policy.allowed_tables`` (when set) go too, and so do foreign keys that
    point at a removed table or use a removed column, so nothing hints at what is hidden.
    """
    if not (
        policy.allowed_tables or policy.denied_tables or policy.denied_columns
        or policy.row_filters
    ):  # fmt: skip
        # Nothing to hide: the same value, so caches keyed on it stay warm (and a thousand
        # tables are not copied on every question).
        return schema
    matcher = _PolicyMatcher(policy, schema)
    kept: list[TableInfo] = []
    for table in schema.tables:
        if matcher.table_refusal(table) is not None:
            continue
        columns = tuple(c for c in table.columns if not matcher.column_denied(table, c.name))
        if not columns:
            continue
        row_filter = _row_filter_text(table, policy, schema)
        if row_filter is not None:
            # Introspection's samples and row count describe every row, not the permitted
            # ones: they go, and the profiles (read through the filter) stand in for them.
            columns = tuple(replace(c, samples=()) for c in columns)
            table = replace(table, row_count=None, row_filter=row_filter)
        visible = {c.name.lower() for c in columns}
        foreign_keys = tuple(
            fk
            for fk in table.foreign_keys
            if all(c.lower() in visible for c in fk.columns)
            and _foreign_key_visible(schema, matcher, table, fk.ref_table, fk.ref_schema, fk)
        )
        kept.append(
            replace(
                table,
                columns=columns,
                primary_key=tuple(c for c in table.primary_key if c.lower() in visible),
                foreign_keys=foreign_keys,
            )
        )
    return SchemaInfo(schema.dialect, tuple(kept), schema.default_schema)


def _row_filter_text(table: TableInfo, policy: Policy, schema: SchemaInfo) -> str | None:
    """The bound row filters of ``table`` as one condition in the schema's dialect, or None.
    A filter that cannot be bound leaves a condition that matches nothing (fail closed)."""
    if not policy.row_filters:
        return None
    found = filters_for(table, policy, schema)
    if not found:
        return None
    try:
        return filter_condition(table, found, INNER_ALIAS).sql(dialect=schema.dialect)
    except PolicyViolation:
        return "1 = 0"


def check_row_filters(schema: SchemaInfo, policy: Policy) -> None:
    """Raise ``ConfigError`` (naming the file and line) for a row filter that names a table
    this database does not have, or a column its table does not have."""
    if not policy.row_filters:
        return
    matcher = _PolicyMatcher(policy, schema)
    for rf in policy.row_filters:
        pattern = rf.table.lower()
        if not any(matcher.table_matches(pattern, t) for t in schema.tables) and not any(
            ch in pattern for ch in "*?["
        ):
            raise ConfigError(
                f"{rf.origin or 'policy'}: the row filter names the table {rf.table}, which "
                f"this database does not have",
                hint="Name the table as the schema shows it (sqlagent schema).",
            )
    for table in schema.tables:
        found = filters_for(table, policy, schema)
        if not found:
            continue
        for rf in found:
            try:
                filter_condition(table, [rf], INNER_ALIAS)
            except PolicyViolation as exc:
                if "attribute" in exc.message:
                    continue  # a person's missing attribute, not a mistake in the file
                raise ConfigError(f"{rf.origin or 'policy'}: {exc.message}") from None


def filters_for(info: TableInfo, policy: Policy, schema: SchemaInfo) -> list[RowFilter]:
    """The policy's row filters whose table pattern matches ``info``."""
    if not policy.row_filters:
        return []
    matcher = _PolicyMatcher(policy, schema)
    return [rf for rf in policy.row_filters if matcher.table_matches(rf.table.lower(), info)]


def filter_condition(info: TableInfo, filters: Sequence[RowFilter], alias: str) -> exp.Expr:
    """The bound conditions of ``filters`` for ``info``, ANDed, columns qualified by
    ``alias``. Raises ``PolicyViolation`` when a filter names a column the table lacks or
    an attribute that is not bound (fail closed: such a table is not read at all)."""
    parts: list[exp.Expr] = []
    known = {c.name.lower(): c.name for c in info.columns}
    for rf in filters:
        where = rf.origin or "the policy"
        try:
            missing = [c for c in condition_columns(rf.condition) if c.lower() not in known]
            if missing:
                raise PolicyViolation(
                    f"The row filter on {info.qualified_name} ({where}) names "
                    f"{', '.join(missing)}, which {info.qualified_name} does not have: the "
                    f"table cannot be read until the policy is fixed"
                )
            condition = bind(rf.condition, dict(rf.values))
        except MissingAttribute as missing_attribute:
            raise PolicyViolation(
                f"The row filter on {info.qualified_name} ({where}) needs the user attribute "
                f"{missing_attribute.name!r}: the table cannot be read without it"
            ) from None
        except FilterSyntaxError as exc:
            raise PolicyViolation(
                f"The row filter on {info.qualified_name} ({where}): {exc}"
            ) from None
        for column in condition.find_all(exp.Column):
            name = known[column.name.lower()]
            column.set("this", exp.to_identifier(name, quoted=True))
            column.set("table", exp.to_identifier(alias))
        parts.append(exp.paren(condition, copy=False) if len(filters) > 1 else condition)
    return exp.and_(*parts, copy=False) if len(parts) > 1 else parts[0]


class _PolicyMatcher:
    """Glob matching of the policy's table and column patterns, case-insensitive."""

    def __init__(self, policy: Policy, schema: SchemaInfo) -> None:
        self.policy = policy
        self.schema = schema
        rules = rules_for(schema.dialect)
        defaults = set(rules.default_schema_names)
        if schema.default_schema:
            defaults.add(schema.default_schema.lower())
        self._defaults = sorted(defaults) or [""]
        self._allowed = [p.lower() for p in policy.allowed_tables]
        self._denied = [p.lower() for p in policy.denied_tables]
        self._columns: list[tuple[str, str]] = []
        for pattern in policy.denied_columns:
            table, _, column = pattern.lower().rpartition(".")
            self._columns.append((table or "*", column))
        self._cache: dict[tuple[int, str], bool] = {}

    def _names(self, info: TableInfo) -> list[str]:
        if info.schema:
            return [f"{info.schema}.{info.name}".lower()]
        return [f"{d}.{info.name}".lower() for d in self._defaults]

    def table_matches(self, pattern: str, info: TableInfo) -> bool:
        if "." in pattern:
            return any(fnmatchcase(n, pattern) for n in self._names(info))
        return fnmatchcase(info.name.lower(), pattern)

    def table_refusal(self, info: TableInfo) -> str | None:
        """Why the policy refuses the table, or None when it may be read."""
        if any(self.table_matches(p, info) for p in self._denied):
            return f"Table {info.qualified_name} is not accessible: the policy denies it"
        if self._allowed and not any(self.table_matches(p, info) for p in self._allowed):
            return (
                f"Table {info.qualified_name} is not accessible: the policy allows only "
                f"{', '.join(self.policy.allowed_tables)}"
            )
        filters = self.policy.row_filters
        if (
            info.kind == "view"
            and filters
            and not any(self.table_matches(rf.table.lower(), info) for rf in filters)
        ):
            # A view reads its tables by itself, without their row filters: under row
            # filters a view is read only when a filter names it (its own, or "1 = 1").
            return (
                f"View {info.qualified_name} is not accessible while row filters apply: give it "
                f"a row filter of its own in the policy to allow it"
            )
        return None

    def column_denied(self, info: TableInfo, column: str) -> bool:
        key = (id(info), column)
        hit = self._cache.get(key)
        if hit is None:
            low = column.lower()
            hit = any(
                fnmatchcase(low, col) and self.table_matches(table, info)
                for table, col in self._columns
            )
            self._cache[key] = hit
        return hit


def _foreign_key_visible(
    schema: SchemaInfo,
    matcher: _PolicyMatcher,
    owner: TableInfo,
    ref_table: str,
    ref_schema: str | None,
    fk: object,
) -> bool:
    target = schema.table(ref_table, ref_schema if ref_schema else owner.schema)
    if target is None:
        target = schema.table(ref_table)
    if target is None or matcher.table_refusal(target) is not None:
        return False
    ref_columns = getattr(fk, "ref_columns", ())
    return not any(matcher.column_denied(target, c) for c in ref_columns)
