"""Names and qualification: every table resolved against the schema, every column against its
tables, on a private copy of the statement, with the dialect's rules for case and quoting.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import OptimizeError, SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.qualify_columns import quote_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

from ..errors import (
    PolicyViolation,
    SQLParseError,
    UnknownColumn,
    UnknownTable,
    UnsafeSQL,
)
from ..settings import Policy
from ..types import SchemaInfo, TableInfo
from . import rules as guard_rules
from .analysis import (
    _SYNTHETIC,
    _Analysis,
    _case_hint,
    _close,
    _column_key,
    _cte_names,
    _denied_in,
    _denied_message,
    _did_you_mean,
    _guard_dialect,
    _has_visible,
    _in,
    _projection_star,
    _pseudo,
    _scope_chain,
    _scope_outputs,
    _table_suggestions,
    _table_text,
    _visible_columns,
    _visible_tables,
)
from .denied import _check_denied_references, _check_star_leaks, _check_system_columns
from .policy import _PolicyMatcher
from .rules import DialectRules


class _QuotedName(Exception):
    """A double-quoted name that does not resolve, which SQLite reads as a string."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _spell_as_defined(tree: exp.Expr, schema: SchemaInfo) -> None:
    """Make MySQL/MariaDB compare names the way the guard did.

    The guard resolves table names, aliases and qualifiers without case (it cannot know the
    server's ``lower_case_table_names``), but a server on Linux compares table names and
    table aliases with case. So that the server binds every name exactly as the guard did,
    tables are written as the catalog stores them (with a lower-case alias when that
    spelling has capitals and the query gave none), and every alias (of tables, derived
    tables, CTEs) and every column qualifier is written in lower case: the server then
    compares the same lower-case strings the guard compared.
    Column names need nothing: MySQL compares them without case everywhere.
    """
    by_name: dict[str, list[TableInfo]] = {}
    for info in schema.tables:
        by_name.setdefault(info.name.lower(), []).append(info)
    for table in list(tree.find_all(exp.Table)):
        if not isinstance(table.this, exp.Identifier):
            continue
        if _cte_names(table):
            table.set("this", _lower(table.this))
            continue
        db = table.text("db").lower()
        default = (schema.default_schema or "").lower()
        found = [
            t
            for t in by_name.get(table.name.lower(), [])
            if (t.schema or default).lower() == db
            or (not db and (t.schema is None or t.schema == schema.default_schema))
        ]
        if len(found) != 1:
            # The analysis resolved every table; one it cannot place again would keep its
            # spelling while its qualifiers change case: refuse rather than guess.
            raise SQLParseError(f"The table {table.sql(dialect='mysql')} could not be resolved")
        info = found[0]
        if not table.args.get("alias") and info.name != info.name.lower():
            # Qualifiers are lower-cased below: they then name this alias, not the table.
            table.set("alias", exp.TableAlias(this=exp.to_identifier(table.name.lower())))
        table.set("this", exp.to_identifier(info.name, quoted=table.this.quoted))
        stored_db = info.schema or schema.default_schema
        if db and stored_db:
            table.set("db", exp.to_identifier(stored_db, quoted=table.args["db"].quoted))
    for alias in tree.find_all(exp.TableAlias):
        if isinstance(alias.this, exp.Identifier):
            alias.set("this", _lower(alias.this))
    for column in tree.find_all(exp.Column):
        qualifier = column.args.get("table")
        if isinstance(qualifier, exp.Identifier):
            column.set("table", _lower(qualifier))
            # db.table.column would name the table, which now has an alias.
            column.set("db", None)
            column.set("catalog", None)


def _lower(ident: exp.Identifier) -> exp.Identifier:
    return exp.to_identifier(ident.name.lower(), quoted=ident.quoted)


def _known_names(tree: exp.Expr, schema: SchemaInfo) -> set[str]:
    names = {c.name.lower() for t in schema.tables for c in t.columns}
    names.update(t.name.lower() for t in schema.tables)
    for node in tree.walk():
        if isinstance(node, exp.Alias):
            names.add(node.alias.lower())
        elif isinstance(node, exp.TableAlias):
            names.add(node.name.lower())
            names.update(c.name.lower() for c in node.columns)
    return names


def _demote_double_quoted(tree: exp.Expr, names: set[str], *, demote_all: bool) -> None:
    """Turn quoted one-part column names into string literals, as SQLite does.

    With ``demote_all`` the names in ``names`` are demoted; otherwise every quoted name that
    is *not* in ``names`` (the known columns and aliases) is.
    """
    for column in list(tree.find_all(exp.Column)):
        ident = column.this
        if column.table or not isinstance(ident, exp.Identifier) or not ident.quoted:
            continue
        known = ident.name.lower() in names
        if known == demote_all:
            column.replace(exp.Literal.string(ident.name))


def _analyse(
    tree: exp.Expr, schema: SchemaInfo, policy: Policy, rules: DialectRules
) -> tuple[exp.Expr, tuple[str, ...]]:
    """Check tables and columns on a private copy; return the tree to run and the tables."""
    dialect = _guard_dialect(rules)
    work = normalize_identifiers(tree.copy(), dialect=dialect)
    ana = _Analysis(rules, _PolicyMatcher(policy, schema), schema, dialect)
    _resolve_tables(work, ana)
    _check_system_columns(work, ana)
    if ana.restrict_stars:
        _check_star_leaks(work, ana)
        _check_denied_references(work, ana)
    mapping = _mapping_schema(ana, dialect)
    try:
        qualified = qualify(
            work,
            dialect=dialect,
            schema=mapping,
            allow_partial_qualification=True,
            validate_qualify_columns=False,
            quote_identifiers=False,
            expand_stars=True,
        )
    except OptimizeError as exc:
        raise _optimize_error(exc, ana) from None
    _check_columns(qualified, ana)
    tables = tuple(dict.fromkeys(t.qualified_name for t in ana.order))
    if not ana.restrict_stars or not _has_expanded_star(tree):
        return tree, tables
    # Expanded stars name only the allowed columns: run the qualified copy, real names back.
    for node in qualified.find_all(exp.Table):
        original = ana.originals.get(node.name)
        if original is not None:
            this, db, catalog = original
            node.set("this", this.copy() if this else None)
            node.set("db", db.copy() if db else None)
            node.set("catalog", catalog.copy() if catalog else None)
    return quote_identifiers(qualified, dialect=dialect, identify=False), tables


def _has_expanded_star(tree: exp.Expr) -> bool:
    """True when the query has a projection star (``*``, ``t.*``) that the optimizer expands."""
    return any(_projection_star(star) for star in tree.find_all(exp.Star))


def _resolve_tables(work: exp.Expr, ana: _Analysis) -> None:
    allowed_functions = {f.lower() for f in ana.matcher.policy.allowed_functions}
    for table in list(work.find_all(exp.Table)):
        if isinstance(table.this, exp.Func):
            continue  # table functions: checked with the other functions
        if not isinstance(table.this, exp.Identifier):
            raise UnsafeSQL(
                f"Unsupported table source '{table.sql()}': read tables of the database by name"
            )
        if _cte_names(table):
            continue
        name = table.name
        db = table.text("db") or None
        if table.args.get("catalog"):
            raise UnknownTable(
                f"Unknown table '{table.sql()}': database-qualified names are not supported, "
                f"write schema.table or table",
                name=table.sql(),
                suggestions=tuple(t.qualified_name for t in _table_suggestions(name, ana)),
            )
        info = _lookup_table(name, db, ana)
        if info is None:
            reader = _file_reader(name)
            if db is not None and db.lower() in ana.rules.file_formats:
                reader = db.lower()
            if reader is not None or _looks_like_path(name):
                if reader is not None and reader in allowed_functions:
                    continue  # the policy lets this file be read; its columns are unknown
                raise UnsafeSQL(
                    f"Reading files or URLs ('{name}') is not allowed: query the tables of "
                    f"the database"
                )
            shown = f"{db}.{name}" if db else name
            close = _table_suggestions(name, ana)
            hint = _did_you_mean(
                [_table_text(t, ana) for t in close],
                [_table_text(t, ana) for t in _visible_tables(ana)],
            )
            case = _case_hint(name, [t.name for t in close], ana)
            raise UnknownTable(
                f"Unknown table '{shown}'. {hint}{case}",
                name=shown,
                suggestions=tuple(t.qualified_name for t in close),
            )
        refusal = ana.matcher.table_refusal(info)
        if refusal is not None:
            raise PolicyViolation(refusal)
        visible = [c for c in info.columns if not ana.matcher.column_denied(info, c.name)]
        if not visible:
            raise PolicyViolation(
                f"Table {info.qualified_name} is not accessible: the policy denies all of "
                f"its columns"
            )
        if len(visible) < len(info.columns):
            ana.restrict_stars = True
        key = f"{_SYNTHETIC}{next(i for i, t in enumerate(ana.schema.tables) if t is info)}"
        ana.infos[key] = info
        ana.originals[key] = (table.this, table.args.get("db"), table.args.get("catalog"))
        ana.order.append(info)
        if not table.alias:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(name)))
        # Quoted, so dialects that fold names to upper case keep the synthetic name as is.
        table.set("this", exp.to_identifier(key, quoted=True))
        table.set("db", None)
        table.set("catalog", None)


def _lookup_table(name: str, db: str | None, ana: _Analysis) -> TableInfo | None:
    """The table ``[db.]name`` (normalised identifiers) names, compared as the dialect does."""
    schema = ana.schema

    def matches(tables: Iterable[TableInfo]) -> list[TableInfo]:
        return [t for t in tables if ana.key(t.name) == name]

    if db is not None:
        found = matches(t for t in schema.tables if t.schema and ana.key(t.schema) == db)
        low = db.lower()
        if not found and (
            low in ana.rules.default_schema_names or low == (schema.default_schema or "").lower()
        ):
            found = matches(t for t in schema.tables if t.schema is None)
        if len(found) > 1:  # names that differ only in case, compared case-insensitively
            raise UnknownTable(
                f"Table name '{db}.{name}' is ambiguous: it matches "
                f"{', '.join(t.qualified_name for t in found)}",
                name=f"{db}.{name}",
                suggestions=tuple(t.qualified_name for t in found),
            )
        return found[0] if found else None
    found = matches(schema.tables)
    if len(found) > 1:
        default = (schema.default_schema or "").lower()
        preferred = [t for t in found if t.schema is None or t.schema.lower() == default]
        if len(preferred) == 1:
            return preferred[0]
        raise UnknownTable(
            f"Table name '{name}' is ambiguous: write it with its schema, as one of "
            f"{', '.join(t.qualified_name for t in found)}",
            name=name,
            suggestions=tuple(t.qualified_name for t in found),
        )
    return found[0] if found else None


def _looks_like_path(name: str) -> bool:
    low = name.lower()
    return "/" in low or "\\" in low or "://" in low or low.startswith("~")


def _file_reader(name: str) -> str | None:
    """The DuckDB reader a file name would be read with, or None when it is not a file."""
    low = name.lower()
    for suffix in (".gz", ".zst", ".bz2", ".xz"):
        if low.endswith(suffix):
            low = low[: -len(suffix)]
    if not low.endswith(guard_rules.PATH_SUFFIXES) and not _looks_like_path(name):
        return None
    if low.endswith((".csv", ".tsv", ".txt")):
        return "read_csv"
    if low.endswith(".parquet"):
        return "read_parquet"
    if low.endswith((".json", ".jsonl", ".ndjson")):
        return "read_json"
    return "file"


@cache
def _data_type(type_text: str, dialect: str) -> exp.DataType:
    try:
        return exp.DataType.build(type_text, dialect=dialect) if type_text else _unknown()
    except (SqlglotError, ValueError):
        return _unknown()


def _unknown() -> exp.DataType:
    return exp.DataType.build("unknown")


def _mapping_schema(ana: _Analysis, dialect: Dialect) -> MappingSchema:
    mapping: dict[str, object] = {}
    for key, info in ana.infos.items():
        mapping[key] = {
            _column_key(c.name, dialect): _data_type(c.type or "", ana.rules.dialect)
            for c in info.columns
            if not ana.matcher.column_denied(info, c.name)
        }
    return MappingSchema(mapping, dialect=dialect, normalize=False)


def _optimize_error(exc: OptimizeError, ana: _Analysis) -> Exception:
    message = str(exc).splitlines()[0]
    joined = re.match(r"Cannot automatically join: (.+)", message)
    if joined:
        name = joined.group(1)
        denied = [t for t in ana.order if _denied_in(t, name, ana)]
        if denied:
            return PolicyViolation(_denied_message(denied[0], name))
        return UnknownColumn(
            f"Column '{name}' in USING (...) is not a column of both joined tables",
            name=name,
        )
    return SQLParseError(f"The query could not be analysed: {message}")


def _check_columns(tree: exp.Expr, ana: _Analysis) -> None:
    if ana.restrict_stars:
        for whole_row in tree.find_all(exp.TableColumn):
            raise PolicyViolation(
                f"'{whole_row.name}' names a whole row, which is not allowed on tables with "
                f"denied columns: name the columns instead"
            )
        if any(_projection_star(star) for star in tree.find_all(exp.Star)):
            # The optimizer leaves a star it cannot expand (a table function beside the
            # table); run as written it would read the denied columns.
            raise PolicyViolation(
                "'*' cannot be expanded here, and the tables read have denied columns: "
                "name the columns instead"
            )
    done: set[int] = set()
    for scope in traverse_scope(tree):
        if scope.pivots:
            continue  # PIVOT outputs are computed from data; only its tables were checked
        for column in scope.columns:
            if id(column) in done or isinstance(column.this, exp.Star):
                continue
            table = column.table
            if not table:
                done.add(id(column))
                _check_unqualified(column, scope, ana)
                continue
            source = scope.sources.get(table)
            if source is None:
                if scope.can_be_correlated:
                    continue  # an outer scope lists it among its own columns
                done.add(id(column))
                raise UnknownColumn(
                    f"Unknown table or alias '{table}' in column {table}.{column.name}. "
                    f"{_did_you_mean([], sorted(scope.sources))}",
                    name=f"{table}.{column.name}",
                )
            done.add(id(column))
            _check_in_source(column, table, source, ana)


def _check_in_source(
    column: exp.Column, alias: str, source: exp.Table | Scope, ana: _Analysis
) -> None:
    name = column.name
    if isinstance(source, exp.Table):
        info = ana.infos.get(source.name)
        if info is None:
            return  # a table function or an allowed file: its columns are not known here
        if _has_visible(info, name, ana) or _pseudo(name, ana):
            return
        if _denied_in(info, name, ana):
            raise PolicyViolation(_denied_message(info, name))
        cols = _visible_columns(info, ana)
        suggestions = _close(name, cols)
        where = (
            info.qualified_name
            if alias == info.name.lower()
            else f"{info.qualified_name} (alias {alias})"
        )
        raise UnknownColumn(
            f"Unknown column '{name}' in table {where}. "
            f"{_did_you_mean(suggestions, cols, ana)}{_case_hint(name, suggestions, ana)}",
            name=name,
            suggestions=suggestions,
        )
    outputs = _scope_outputs(source)
    if outputs is None or _in(name, outputs):
        return
    suggestions = _close(name, outputs)
    raise UnknownColumn(
        f"Unknown column '{name}' in '{alias}' (a CTE or subquery). "
        f"{_did_you_mean(suggestions, outputs, ana)}",
        name=name,
        suggestions=suggestions,
    )


def _check_unqualified(column: exp.Column, scope: Scope, ana: _Analysis) -> None:
    name = column.name
    if _pseudo(name, ana) and any(isinstance(s, exp.Table) for s in scope.sources.values()):
        return
    order = column.find_ancestor(exp.Order, exp.Select)
    if (
        isinstance(order, exp.Order)
        and isinstance(order.parent, exp.SetOperation)
        and name in order.parent.named_selects
    ):
        return  # ORDER BY of a UNION names one of its output columns
    holders: list[str] = []
    denied: list[TableInfo] = []
    candidates: list[str] = []
    read: list[str] = []
    for current in _scope_chain(scope):
        for alias, source in current.selected_sources.items():
            _, src = source
            if isinstance(src, exp.Table):
                info = ana.infos.get(src.name)
                if info is None:
                    return  # an opaque source (table function) may well provide it
                if _has_visible(info, name, ana):
                    holders.append(f"{alias}.{name}")
                elif _denied_in(info, name, ana):
                    denied.append(info)
                candidates.extend(_visible_columns(info, ana))
                read.append(f"table {_table_text(info, ana)}")
            else:
                read.append(alias)
                outputs = _scope_outputs(src)
                if outputs is None:
                    return
                if _in(name, outputs):
                    holders.append(f"{alias}.{name}")
                candidates.extend(outputs)
        if holders or denied:
            break
    if denied:
        raise PolicyViolation(_denied_message(denied[0], name))
    if len(holders) == 1:
        return  # an outer reference the optimizer left as it was; the name does resolve
    if holders:
        raise UnknownColumn(
            f"Ambiguous column '{name}': it is in {', '.join(h.split('.')[0] for h in holders)}. "
            f"Qualify it, e.g. {holders[0]}",
            name=name,
            suggestions=tuple(holders),
        )
    if ana.rules.double_quoted_strings and _original_quoted(column):
        raise _QuotedName(name)
    unique = list(dict.fromkeys(candidates))
    suggestions = _close(name, unique)
    tables = list(dict.fromkeys(read))
    if not tables:
        where, hint = "", "The query reads no table."
    else:
        where = f" in {', '.join(tables)}"
        hint = _did_you_mean(suggestions, unique, ana) + _case_hint(name, suggestions, ana)
    if _original_quoted(column) and not suggestions:
        hint += " Double quotes name a column here: write a text value in single quotes."
    raise UnknownColumn(
        f"Unknown column '{name}'{where}. {hint}", name=name, suggestions=suggestions
    )


def _original_quoted(column: exp.Column) -> bool:
    ident = column.this
    return isinstance(ident, exp.Identifier) and bool(ident.quoted)
