"""The SQL guard: decide, before anything runs, whether a statement may run.

The model writes SQL from text that users and the data control, so every statement is
untrusted. ``check`` parses it with sqlglot and refuses, with a typed error that says what and
why, anything that is not a single read-only query over tables the policy allows:

1. exactly one statement, parsed strictly (no "best effort" fallback);
2. only SELECT / WITH ... SELECT / set operations / VALUES at the top, and no statement,
   ``SELECT ... INTO``, locking clause or denied function anywhere inside (CTEs, subqueries);
   table functions in FROM only from a short allow list; no file paths or URLs as tables;
3. every table exists and the policy allows it; every column exists (resolved with sqlglot's
   optimizer against the schema) and is not denied.

What runs is regenerated from the checked syntax tree, without comments, so text that the
database would read differently from sqlglot (executable comments, odd comment styles) cannot
smuggle anything past the guard. The guard is pure: no I/O, no database.

``SELECT *`` over a table with denied columns is expanded to the allowed columns (``sql`` and
``executable`` then list them explicitly) rather than refused; naming a denied column anywhere
(projection, WHERE, JOIN, ORDER BY, USING, ``t.*`` inside a function) is refused.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect, NormalizationStrategy
from sqlglot.errors import ErrorLevel, OptimizeError, ParseError, SqlglotError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.qualify_columns import quote_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

from . import guard_rules
from .errors import (
    GuardError,
    PolicyViolation,
    SQLParseError,
    UnknownColumn,
    UnknownTable,
    UnsafeSQL,
)
from .guard_functions import function_refusal
from .guard_rules import DialectRules, rules_for
from .settings import Policy
from .types import GuardedSQL, SchemaInfo, TableInfo

__all__ = ["check", "visible_schema"]

_ONLY_READS = "only a single read-only query (SELECT, WITH ... SELECT, UNION, VALUES) can run"
_SYNTHETIC = "_sqlagent_t"
"""Prefix of the names physical tables get in the private copy that column checks run on."""
_MAX_LISTED = 30
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


# --------------------------------------------------------------------------- public API


def check(
    sql: str, *, schema: SchemaInfo, policy: Policy, dialect: str | None = None
) -> GuardedSQL:
    """Check one statement and return it normalised, with the row bound the executor needs.

    Raises ``SQLParseError``, ``UnsafeSQL``, ``PolicyViolation``, ``UnknownTable`` or
    ``UnknownColumn`` (all ``GuardError``), each with ``sql`` set and a message that says what
    was refused and why. ``dialect`` defaults to ``schema.dialect``.

    >>> from sqlagent.types import ColumnInfo, TableInfo
    >>> s = SchemaInfo("duckdb", (TableInfo("t", (ColumnInfo("a", "INTEGER"),)),))
    >>> check("select a from t", schema=s, policy=Policy(max_rows=10)).executable
    'SELECT a FROM t LIMIT 11'
    """
    name = (dialect or schema.dialect).lower()
    rules = rules_for(name)
    try:
        _check_size(sql, policy)
        tree = _parse(sql, name, rules)
        _check_statement(tree, sql, name)
        _check_reserved_names(tree)
        _check_nodes(tree, rules, policy)
        tree = _strip_parens(tree)
        if rules.double_quoted_strings:
            _demote_double_quoted(tree, _known_names(tree, schema), demote_all=False)
        # SQLite reads an unresolvable "name" as the string 'name'; each retry turns one more
        # such name into a string, exactly as SQLite would, until everything resolves.
        for _ in range(64):
            try:
                output, tables = _analyse(tree, schema, policy, rules)
                break
            except _QuotedName as quoted:
                _demote_double_quoted(tree, {quoted.name}, demote_all=True)
        else:  # pragma: no cover - needs more than 64 distinct unresolvable quoted names
            raise SQLParseError("The query has too many unresolvable quoted names")
        if rules.case_insensitive_names:
            _spell_as_defined(output, schema)
        text = _generate(output, name)
        bounded, added = _bound(output, policy.max_rows)
        executable = _generate(bounded, name) if added else text
    except GuardError as err:
        err.sql = sql
        raise
    except Exception as exc:  # the guard fails closed, with a typed error
        raise SQLParseError(
            f"The query could not be checked ({type(exc).__name__}: {exc}); rewrite it more simply",
            sql=sql,
        ) from exc
    return GuardedSQL(sql=text, executable=executable, tables=tables, limit_added=added)


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


# --------------------------------------------------------------------------- parsing

_LITERAL = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(?<![\w.])\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
)


def _check_size(sql: str, policy: Policy) -> None:
    """Refuse input too big to parse within the time limit, before parsing it.

    No timeout applies inside sqlglot's parser, which needs seconds for a 200,000-item IN
    list; a regular expression counts the literals in a fraction of that.
    """
    if len(sql) > policy.max_sql_length:
        raise UnsafeSQL(
            f"The query is too long: {len(sql):,} characters, over the limit of "
            f"{policy.max_sql_length:,}",
            hint="Filter with a join or a subquery instead of listing values.",
        )
    literals = sum(1 for _ in _LITERAL.finditer(sql))
    if literals > policy.max_literals:
        raise UnsafeSQL(
            f"The query holds too many values: {literals:,} literals, over the limit of "
            f"{policy.max_literals:,}",
            hint="Filter with a join or a subquery instead of listing values.",
        )



def _parse(sql: str, dialect: str, rules: DialectRules) -> exp.Expr:
    if not sql or not sql.strip():
        raise SQLParseError("The query is empty: send a single SELECT statement")
    try:
        if rules.executable_comments:
            _check_executable_comments(sql, dialect)
        statements = [
            s for s in sqlglot.parse(sql, read=dialect, error_level=ErrorLevel.RAISE) if s
        ]
    except (ParseError, TokenError) as exc:
        raise SQLParseError(_parse_message(exc, dialect)) from None
    if not statements:
        raise SQLParseError("The query is empty (only comments or semicolons)")
    if len(statements) > 1:
        labels = ", ".join(_statement_label(s) for s in statements)
        raise UnsafeSQL(
            f"Only one statement can run, but the input holds {len(statements)} ({labels}): "
            f"{_ONLY_READS}"
        )
    tree = statements[0]
    for node in tree.walk():
        # A "/* sqlglot.meta case_sensitive */" comment would stop names being normalised;
        # the statement's author must not steer how the guard compares names.
        if node.meta_get("case_sensitive") is not None:
            node.meta.pop("case_sensitive", None)
    return tree


def _parse_message(exc: ParseError | TokenError, dialect: str) -> str:
    errors = getattr(exc, "errors", None) or []
    if errors:
        first = errors[0]
        where = f" (line {first.get('line')}, column {first.get('col')})"
        near = _ANSI.sub("", str(first.get("highlight") or "")).strip()
        near_text = f" near '{near}'" if near else ""
        desc = _tidy(str(first.get("description") or "syntax error"))
        return f"The query does not parse as {dialect} SQL: {desc}{where}{near_text}"
    text = _tidy(str(exc)).splitlines()[0] if str(exc) else "syntax error"
    return f"The query does not parse as {dialect} SQL: {text}"


def _tidy(message: str) -> str:
    """sqlglot's parser messages without terminal colours and internal class names."""
    message = _ANSI.sub("", message)
    message = re.sub(r"<class '(?:\w+\.)*(\w+)'>", r"\1", message)
    return re.sub(r"<Token token_type: [\w.]+, text: (.*?), line: .*?>", r"'\1'", message)


def _check_executable_comments(sql: str, dialect: str) -> None:
    for token in sqlglot.tokenize(sql, read=dialect):
        for comment in token.comments:
            body = comment.lstrip()
            if body.startswith("!") or body[:2].upper() == "M!":
                raise UnsafeSQL(
                    "Executable comments (/*! ... */) are not allowed: the server runs their "
                    "text as SQL, which the guard cannot check"
                )


def _statement_label(node: exp.Expr) -> str:
    if isinstance(node, (exp.Select, exp.Values)):
        return "SELECT" if isinstance(node, exp.Select) else "VALUES"
    if isinstance(node, exp.SetOperation):
        return type(node).__name__.upper()
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    label = guard_rules.STATEMENT_LABELS.get(type(node).__name__)
    if label:
        return label
    words = node.sql().split()
    return words[0].upper() if words else type(node).__name__.upper()


def _first_keyword(sql: str, dialect: str) -> str | None:
    try:
        tokens = sqlglot.tokenize(sql, read=dialect)
    except SqlglotError:  # pragma: no cover - the text has already parsed
        return None
    return tokens[0].text.upper() if tokens else None


# --------------------------------------------------------------------------- safety


def _check_reserved_names(tree: exp.Expr) -> None:
    """Refuse names in the guard's own namespace: a CTE or alias called like the synthetic
    names the analysis gives tables would be bound in their place and skip the checks."""
    for ident in tree.find_all(exp.Identifier):
        if ident.name.lower().startswith(_SYNTHETIC):
            raise UnsafeSQL(
                f"The name '{ident.name}' is reserved by sqlagent: use another name",
            )
    for assign in tree.find_all(exp.PropertyEQ):
        if isinstance(assign.this, (exp.Parameter, exp.SessionParameter)):
            # MySQL's SELECT @a := 1 sets a variable that outlives the query on the connection.
            raise UnsafeSQL(
                f"Assigning a variable ({assign.sql(dialect='mysql')}) is not allowed: "
                "it changes the session's state"
            )


def _check_statement(tree: exp.Expr, sql: str, dialect: str) -> None:
    if type(tree).__name__ in guard_rules.ALLOWED_TOP_LEVEL:
        return
    # The first word says best what the author meant (sqlglot parses some statements, e.g.
    # CHECKPOINT or DEALLOCATE, into odd shapes).
    label = _first_keyword(sql, dialect) or _statement_label(tree)
    if isinstance(tree, exp.Command):
        label = _statement_label(tree)
    raise UnsafeSQL(f"{label} is not allowed: {_ONLY_READS}")


def _check_nodes(tree: exp.Expr, rules: DialectRules, policy: Policy) -> None:
    allowed = {f.lower() for f in policy.allowed_functions}
    denied_classes = _denied_classes(rules.dialect)
    for node in tree.walk():
        cls = type(node)
        name = cls.__name__
        if isinstance(node, exp.Into):
            raise UnsafeSQL(
                f"SELECT ... INTO is not allowed: it creates a table or writes a file; "
                f"{_ONLY_READS}"
            )
        if isinstance(node, exp.Lock):
            raise UnsafeSQL(
                "Locking clauses (FOR UPDATE / FOR SHARE / LOCK IN SHARE MODE) are not "
                f"allowed: they lock rows; {_ONLY_READS}"
            )
        label = guard_rules.STATEMENT_LABELS.get(name)
        if (
            label is None
            and cls.__module__ in guard_rules.STATEMENT_MODULES
            and name not in guard_rules.HARMLESS_STATEMENT_CLASSES
        ):
            label = name.upper()
        if label is not None:
            if isinstance(node, exp.Command):
                label = str(node.this).upper()
            where = "" if node is tree else " inside a query (in a CTE, subquery or expression)"
            raise UnsafeSQL(f"{label} is not allowed{where}: {_ONLY_READS}")
        if isinstance(node, (exp.SessionParameter, exp.Parameter, exp.Placeholder)):
            _check_variable(node, rules, policy)
        if isinstance(node, exp.Func):
            names = _function_names(node)
            if names & allowed:
                continue
            for fname in sorted(names):
                why = rules.denied_functions.get(fname)
                if why is not None:
                    raise UnsafeSQL(_function_message(fname, why))
            if cls in denied_classes:
                fname = min(names)
                raise UnsafeSQL(_function_message(fname, denied_classes[cls]))
            if _is_table_function(node):
                if names & rules.table_functions or name in guard_rules.ROW_GENERATOR_CLASSES:
                    continue  # a row generator: its arguments are checked like any other
                shown = _listing(sorted(rules.table_functions))
                raise UnsafeSQL(
                    f"Table function {min(names)}() is not allowed in FROM: only tables of the "
                    f"database and row generators ({shown}) can be read",
                    hint="Add the function to policy.allowed_functions to permit it.",
                )
            refusal = function_refusal(
                node, names, rules.dialect, allow_server_info=policy.allow_server_info
            )
            if refusal is not None:
                raise UnsafeSQL(
                    f"Function {_call_name(node)}() {refusal}",
                    hint="If the function is safe on this database, add it to the policy's "
                    "allowed_functions.",
                )


def _check_variable(node: exp.Expr, rules: DialectRules, policy: Policy) -> None:
    """Refuse server and session variables (``@@datadir``, ``@v``) and query parameters."""
    if isinstance(node, exp.SessionParameter):
        if policy.allow_server_info:
            return
        raise UnsafeSQL(
            f"System variables ({node.sql(dialect=rules.dialect)}) are not allowed: they "
            "describe the server, which the policy does not allow"
        )
    if isinstance(node, exp.Parameter) and isinstance(node.parent, exp.Parameter):
        return  # the name inside @x or $1; the outer node has been judged
    raise UnsafeSQL(
        f"Variables and parameters ({node.sql(dialect=rules.dialect)}) are not allowed: "
        "write the values into the query"
    )


def _call_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name()


def _function_message(name: str, why: str) -> str:
    return f"Function {name}() is not allowed: it {why}. Query the tables of the database instead"


def _function_names(node: exp.Func) -> set[str]:
    """Every name a function call is known by, lower case."""
    if isinstance(node, exp.Anonymous):
        return {str(node.name).lower()}
    names = {n.lower() for n in type(node).sql_names()}
    names.add(node.key)
    return names


def _is_table_function(node: exp.Func) -> bool:
    parent = node.parent
    while isinstance(parent, exp.Dot):  # schema-qualified call: main.f(...)
        parent = parent.parent
    return isinstance(parent, (exp.Table, exp.Lateral)) and node.arg_key == "this"


@cache
def _denied_classes(dialect: str) -> dict[type[exp.Expr], str]:
    """Expression classes that sqlglot parses a denied function into, for ``dialect``.

    A name such as ``read_csv`` may come back as ``exp.ReadCSV`` rather than an anonymous call;
    probing the parser with each denied name finds every such class, so the check holds even
    when a new sqlglot version gives a function its own class under another name.
    """
    rules = rules_for(dialect)
    found: dict[type[exp.Expr], str] = {}
    for fname, why in rules.denied_functions.items():
        for args in ("'x'", "'x', 'y'", "1"):
            try:
                probe = sqlglot.parse_one(f"SELECT {fname}({args})", read=dialect)
            except SqlglotError:
                continue
            for func in probe.find_all(exp.Func):
                if not isinstance(func, exp.Anonymous) and func.parent is probe:
                    found[type(func)] = why
            break
    # A denied name must never make a harmless class refused (range -> GenerateSeries etc.).
    for harmless in (exp.GenerateSeries, exp.Explode, exp.Unnest):
        found.pop(harmless, None)
    return found


def _strip_parens(tree: exp.Expr) -> exp.Expr:
    """``(SELECT ...)`` at the top is just parentheses; SQLite rejects them, so drop them."""
    while isinstance(tree, exp.Subquery) and not any(
        tree.args.get(k) for k in ("alias", "limit", "offset", "order", "with_")
    ):
        inner = tree.this
        inner.pop()
        tree = inner
    return tree


# --------------------------------------------------------------------------- SQLite strings


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


# --------------------------------------------------------------------------- analysis


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


def _analyse(
    tree: exp.Expr, schema: SchemaInfo, policy: Policy, rules: DialectRules
) -> tuple[exp.Expr, tuple[str, ...]]:
    """Check tables and columns on a private copy; return the tree to run and the tables."""
    dialect = _guard_dialect(rules)
    work = normalize_identifiers(tree.copy(), dialect=dialect)
    ana = _Analysis(rules, _PolicyMatcher(policy, schema), schema, dialect)
    _resolve_tables(work, ana)
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
            if any(cte.alias == name for cte in visible):
                return True
        path.append(node)
        node = node.parent
    return False


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


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    more = len(names) - _MAX_LISTED
    return f"{shown} and {more} more" if more > 0 else shown or "(none)"


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


def _denied_in(info: TableInfo, name: str, ana: _Analysis) -> bool:
    col = _find_column(info, name, ana)
    return col is not None and ana.matcher.column_denied(info, col)


def _denied_message(info: TableInfo, name: str) -> str:
    return (
        f"Column {info.qualified_name}.{name} is not accessible: the policy denies it "
        f"(it cannot be selected, filtered, joined or sorted on)"
    )


# --------------------------------------------------------------------------- columns


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


# --------------------------------------------------------------------------- row bound


def _bound(tree: exp.Expr, max_rows: int) -> tuple[exp.Expr, bool]:
    """The query with its top-level row count bounded to ``max_rows + 1``."""
    n = max_rows + 1
    if isinstance(tree, exp.Values):
        if len(tree.expressions) <= n:
            return tree, False  # a literal list of rows already has a known, small size
        return _wrapped(tree, n), True
    limit = tree.args.get("limit")
    if limit is None:
        bounded = tree.copy()
        bounded.set("limit", exp.Limit(expression=exp.Literal.number(n)))
        return bounded, True
    if isinstance(limit, exp.Fetch):
        options = limit.args.get("limit_options")
        plain = options is None or not (
            options.args.get("percent") or options.args.get("with_ties")
        )
        count = _int_literal(limit.args.get("count")) if plain else None
        arg = "count"
    else:
        count = _int_literal(limit.expression)
        arg = "expression"
    if count is None:
        return _wrapped(tree, n), True
    if count <= n:
        return tree, False
    bounded = tree.copy()
    bounded.args["limit"].set(arg, exp.Literal.number(n))
    return bounded, True


def _wrapped(tree: exp.Expr, n: int) -> exp.Expr:
    inner = tree.copy()
    sub = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("_bounded")))
    return exp.select("*").from_(sub).limit(n)


def _int_literal(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            value = int(str(node.this))
        except ValueError:
            return None
        return value if value >= 0 else None
    return None


def _generate(tree: exp.Expr, dialect: str) -> str:
    try:
        return tree.sql(dialect=dialect, comments=False, unsupported_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise SQLParseError(
            f"The query cannot be reproduced faithfully in {dialect}: {exc}"
        ) from None


# --------------------------------------------------------------------------- policy


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
