"""Constructs refused anywhere in a query: statements inside it, variables, and functions
outside the dialect's allow-list (``sqlagent.guard.functions``).
"""

from __future__ import annotations

from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from ..errors import (
    UnsafeSQL,
)
from ..settings import Policy
from . import rules as guard_rules
from .analysis import _SYNTHETIC
from .functions import function_refusal
from .messages import _ONLY_READS, _listing
from .rules import DialectRules, rules_for


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
        if isinstance(node, exp.Cast) and _catalog_type(node):
            raise UnsafeSQL(
                f"Casting to {node.args['to'].sql(dialect=rules.dialect)} is not allowed: it "
                "looks names up in the server's catalogs, beyond the tables you may read"
            )
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
            _check_qualifier(node, rules)
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


CATALOG_TYPES = frozenset(
    {
        "regclass", "regproc", "regprocedure", "regoper", "regoperator", "regtype",
        "regrole", "regnamespace", "regconfig", "regdictionary", "regcollation",
    }
)  # fmt: skip
"""PostgreSQL's object-identifier types: a cast to one looks a name up in the catalogs
(whether a table, function or role exists, hidden or not)."""


def _catalog_type(node: exp.Cast) -> bool:
    target = node.args.get("to")
    return target is not None and target.sql().lower() in CATALOG_TYPES


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


SYSTEM_FUNCTION_SCHEMAS: dict[str, frozenset[str]] = {"postgres": frozenset({"pg_catalog"})}


"""Schemas a function call may name: where the engine keeps its built-in functions."""


def _check_qualifier(node: exp.Func, rules: DialectRules) -> None:
    """Refuse ``schema.f(...)`` outside the built-in schema: the name would reach a function
    the database's users defined (which may do anything), not the built-in on the list."""
    parent = node.parent
    if not (isinstance(parent, exp.Dot) and node.arg_key == "expression"):
        return
    qualifier = parent.this.sql(dialect=rules.dialect)
    if qualifier.strip('"`').lower() in SYSTEM_FUNCTION_SCHEMAS.get(rules.dialect, frozenset()):
        return
    raise UnsafeSQL(
        f"Function {qualifier}.{_call_name(node)}() is not allowed: a qualified name may call "
        f"a function defined in the database; call the built-in {_call_name(node)}() instead",
        hint="If the function is safe on this database, add its name to the policy's "
        "allowed_functions.",
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
