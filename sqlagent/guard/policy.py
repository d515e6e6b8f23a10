"""The policy's table and column patterns, and the schema as the model may see it."""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase

from ..settings import Policy
from ..types import SchemaInfo, TableInfo
from .rules import rules_for


def visible_schema(schema: SchemaInfo, policy: Policy) -> SchemaInfo:
    """The schema as the model may see it: denied tables and columns removed.

    Tables outside ``policy.allowed_tables`` (when set) go too, and so do foreign keys that
    point at a removed table or use a removed column, so nothing hints at what is hidden.
    """
    if not (policy.allowed_tables or policy.denied_tables or policy.denied_columns):
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
