"""Property: a denied column is refused in every position a query can hold it, per dialect.

Queries are generated from clause templates (select list, WHERE, GROUP BY, HAVING, ORDER BY,
JOIN ON, window PARTITION/ORDER, FILTER, QUALIFY, DISTINCT ON, ORDER BY inside an aggregate,
scalar, IN, EXISTS and LATERAL subqueries, CTEs, derived tables, UNION) times expression
wrappers (functions, casts, CASE, concatenation) times ways of naming the column (bare,
qualified, other case, quoted). Each query must be refused with ``PolicyViolation`` when the
column is the denied ``customers.ssn``, and the same query must pass with the allowed
``customers.city`` in its place: so every generated query is one the guard otherwise accepts,
and the refusal is the policy's doing.
"""

from __future__ import annotations

import pytest
from guard_corpus import cards_schema
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sqlagent.errors import PolicyViolation
from sqlagent.guard import check
from sqlagent.settings import Policy

ALL = ("duckdb", "postgres", "mysql", "sqlite")

# (template, dialects): {e} is the expression holding the column; the table alias is c.
TEMPLATES: list[tuple[str, tuple[str, ...]]] = [
    ("SELECT {e} AS v FROM customers c", ALL),
    ("SELECT name FROM customers c WHERE {e} IS NOT NULL", ALL),
    ("SELECT city FROM customers c GROUP BY city HAVING max({e}) IS NOT NULL", ALL),
    ("SELECT city FROM customers c GROUP BY city HAVING count(*) > 0 AND min({e}) > ''", ALL),
    ("SELECT count(*) AS n FROM customers c GROUP BY {e}", ALL),
    ("SELECT name FROM customers c ORDER BY {e}", ALL),
    ("SELECT c.name FROM customers c JOIN cards k ON k.customer_id = c.customer_id "
     "AND {e} IS NOT NULL", ALL),
    ("SELECT (SELECT max({e}) FROM customers c) AS m", ALL),
    ("SELECT k.card_id FROM cards k WHERE EXISTS (SELECT 1 FROM customers c "
     "WHERE c.customer_id = k.customer_id AND {e} IS NOT NULL)", ALL),
    ("SELECT k.card_id FROM cards k WHERE k.customer_id IN (SELECT c.customer_id "
     "FROM customers c WHERE {e} > '')", ALL),
    ("WITH w AS (SELECT {e} AS v FROM customers c) SELECT count(*) FROM w", ALL),
    ("SELECT count(*) FROM (SELECT name FROM customers c WHERE {e} > '') t", ALL),
    ("SELECT name, row_number() OVER (PARTITION BY {e} ORDER BY name) AS r FROM customers c",
     ALL),
    ("SELECT name, rank() OVER (ORDER BY {e}) AS r FROM customers c", ALL),
    ("SELECT CASE WHEN {e} IS NULL THEN 1 ELSE 0 END AS v FROM customers c", ALL),
    ("SELECT name FROM customers c UNION SELECT {e} FROM customers c", ALL),
    ("SELECT count(DISTINCT {e}) AS n FROM customers c", ALL),
    ("SELECT name FROM customers c WHERE coalesce({e}, '') LIKE 'a%'", ALL),
    ("SELECT city FROM customers c GROUP BY city HAVING city IN (SELECT {e} FROM customers c)",
     ALL),
    ("SELECT c.name FROM customers c GROUP BY c.name, c.customer_id HAVING EXISTS "
     "(SELECT 1 FROM cards k WHERE k.customer_id = c.customer_id AND max({e}) > '')",
     ("duckdb", "postgres", "sqlite")),
    ("SELECT count(*) FILTER (WHERE {e} IS NOT NULL) AS n FROM customers c",
     ("duckdb", "postgres", "sqlite")),
    ("SELECT name FROM customers c QUALIFY row_number() OVER (ORDER BY {e}) = 1", ("duckdb",)),
    ("SELECT DISTINCT ON ({e}) name FROM customers c", ("duckdb", "postgres")),
    ("SELECT string_agg(name, ',' ORDER BY {e}) AS s FROM customers c", ("duckdb", "postgres")),
    ("SELECT group_concat(name ORDER BY {e}) AS s FROM customers c", ("mysql",)),
    ("SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY {e}) AS p FROM customers c",
     ("postgres",)),
    ("SELECT k.card_id, x.v FROM cards k, LATERAL (SELECT {e} AS v FROM customers c "
     "WHERE c.customer_id = k.customer_id) x", ("duckdb", "postgres", "mysql")),
    ("SELECT name FROM customers c WINDOW w AS (ORDER BY {e}) ORDER BY name",
     ("duckdb", "postgres", "mysql", "sqlite")),
]  # fmt: skip

WRAPPERS = (
    "{r}",
    "lower({r})",
    "coalesce({r}, 'x')",
    "CAST({r} AS CHAR(20))",
    "length({r})",
    "CASE WHEN {r} = 'a' THEN 'b' ELSE {r} END",
    "substr({r}, 1, 1)",
    "nullif({r}, '')",
    "upper(trim({r}))",
)
REFERENCES = ("{col}", "c.{col}", "{upper}", "c.{upper}", "{quoted}", "c.{quoted}")
QUOTE = {"mysql": "`"}


def _query(template: str, wrapper: str, reference: str, column: str, dialect: str) -> str:
    q = QUOTE.get(dialect, '"')
    ref = reference.format(col=column, upper=column.upper(), quoted=f"{q}{column}{q}")
    return template.format(e=wrapper.format(r=ref))


POLICY = Policy(denied_columns=("customers.ssn",))


@pytest.mark.parametrize("dialect", ALL)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_denied_column_is_refused_wherever_it_stands(dialect: str, data: st.DataObject) -> None:
    templates = [t for t, dialects in TEMPLATES if dialect in dialects]
    template = data.draw(st.sampled_from(templates), label="template")
    wrapper = data.draw(st.sampled_from(WRAPPERS), label="wrapper")
    reference = data.draw(st.sampled_from(REFERENCES), label="reference")
    schema = cards_schema(dialect)

    allowed = _query(template, wrapper, reference, "city", dialect)
    # In SQLite, "CITY" in double quotes still names the column; every variant must pass.
    check(allowed, schema=schema, policy=POLICY, dialect=dialect)

    denied = _query(template, wrapper, reference, "ssn", dialect)
    with pytest.raises(PolicyViolation):
        check(denied, schema=schema, policy=POLICY, dialect=dialect)


@pytest.mark.parametrize(
    ("dialect", "template"), [(d, t) for t, dialects in TEMPLATES for d in dialects]
)
def test_every_template_with_the_bare_column(dialect: str, template: str) -> None:
    """The same, exhaustively over templates, with the plainest wrapper and reference."""
    schema = cards_schema(dialect)
    check(template.format(e="city"), schema=schema, policy=POLICY, dialect=dialect)
    with pytest.raises(PolicyViolation):
        check(template.format(e="ssn"), schema=schema, policy=POLICY, dialect=dialect)
