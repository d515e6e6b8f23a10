"""Row-filter cases shared by the property test and the real-engine tests: a small database
(customers, products, orders) with rows on both sides of two filters, and query templates
in DuckDB's SQL with the engines each runs on (written for the others with sqlglot)."""

from __future__ import annotations

import decimal
import random
from typing import Any

from sqlagent.settings import RowFilter

REGIONS = ("West", "East", "North", "South")

FILTERS = (
    RowFilter("orders", "region = :user.region", origin="test:orders"),
    RowFilter("customers", "region IN (:user.regions) OR vip", origin="test:customers"),
)

AGGREGATES = (
    "count(*)",
    "sum(amount)",
    "max(amount)",
    "min(amount)",
    "avg(amount)",
    "count(DISTINCT customer_id)",
)

BOTH = ("duckdb", "sqlite")
"""The engines of the property test."""

ALL = ("duckdb", "sqlite", "postgres", "mysql", "spark")
NO_MYSQL = ("duckdb", "sqlite", "postgres", "spark")

# {agg}: an aggregate over orders' columns; {n}: an amount threshold.
TEMPLATES: list[tuple[str, tuple[str, ...]]] = [
    ("SELECT {agg} AS v FROM orders", ALL),
    ("SELECT region, {agg} AS v FROM orders GROUP BY region", ALL),
    ("SELECT o.id, c.name FROM orders o JOIN customers c ON c.customer_id = o.customer_id "
     "WHERE o.amount > {n}", ALL),
    ("SELECT c.name, (SELECT count(*) FROM orders o WHERE o.customer_id = c.customer_id) AS k "
     "FROM customers c", ALL),
    ("SELECT name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o "
     "WHERE o.customer_id = c.customer_id AND o.amount > {n})", ALL),
    ("SELECT customer_id FROM customers c WHERE NOT EXISTS (SELECT 1 FROM orders o "
     "WHERE o.customer_id = c.customer_id)", ALL),
    ("SELECT id FROM orders WHERE customer_id IN (SELECT customer_id FROM customers)", ALL),
    ("SELECT id FROM orders WHERE customer_id NOT IN (SELECT customer_id FROM customers)", ALL),
    ("WITH big AS (SELECT * FROM orders WHERE amount > {n}) SELECT {agg} AS v FROM big", ALL),
    # SQLite reads the inner name as the CTE itself (a circular reference), the others as
    # the table.
    ("WITH orders AS (SELECT * FROM orders WHERE amount > {n}) SELECT {agg} AS v FROM orders",
     ("duckdb", "postgres")),
    ("WITH c AS (SELECT customer_id FROM customers), o AS (SELECT * FROM orders "
     "WHERE customer_id IN (SELECT customer_id FROM c)) SELECT {agg} AS v FROM o", ALL),
    ("SELECT id FROM orders UNION ALL SELECT customer_id FROM customers", ALL),
    ("SELECT region FROM orders UNION SELECT region FROM customers", ALL),
    ("SELECT region FROM customers EXCEPT SELECT region FROM orders", ALL),
    ("SELECT region FROM orders INTERSECT SELECT region FROM customers", ALL),
    ("SELECT c.customer_id, x.total FROM customers c, LATERAL (SELECT sum(amount) AS total "
     "FROM orders o WHERE o.customer_id = c.customer_id) x", ("duckdb", "postgres")),
    ("SELECT o1.id, o2.id FROM orders o1 JOIN orders o2 ON o1.customer_id = o2.customer_id "
     "AND o1.id < o2.id WHERE o1.amount > {n}", ALL),
    ("SELECT id, sum(amount) OVER (PARTITION BY customer_id ORDER BY id) AS r FROM orders",
     ALL),
    ("SELECT id, rank() OVER (ORDER BY amount DESC, id) AS r FROM orders", ALL),
    ("SELECT * FROM (SELECT customer_id, {agg} AS v FROM orders GROUP BY customer_id) t "
     "WHERE v IS NOT NULL", ALL),
    ("SELECT p.name, count(o.id) AS n FROM products p LEFT JOIN orders o "
     "ON o.product_id = p.product_id GROUP BY p.name", ALL),
    ("SELECT p.name, {agg} AS v FROM orders JOIN products p USING (product_id) "
     "GROUP BY p.name", ALL),
    ("SELECT max(amount) AS v FROM orders WHERE amount < (SELECT avg(amount) FROM orders)",
     ALL),
    ("SELECT region, count(*) AS n FROM orders GROUP BY region "
     "HAVING count(*) >= (SELECT count(*) FROM customers) / 20", ALL),
    ("SELECT o.region, c.region AS cr FROM orders o FULL OUTER JOIN customers c "
     "ON o.customer_id = c.customer_id", NO_MYSQL),
    ("SELECT o.region, c.name FROM customers c RIGHT JOIN orders o "
     "ON o.customer_id = c.customer_id WHERE o.amount > {n}", ALL),
    ("SELECT DISTINCT customer_id FROM orders NATURAL JOIN customers", ALL),
    ("SELECT c.name, o.id FROM customers c JOIN orders o USING (customer_id)", ALL),
    ("SELECT * FROM orders o WHERE o.amount = (SELECT max(o2.amount) FROM orders o2 "
     "WHERE o2.customer_id = o.customer_id)", ALL),
    ("SELECT (SELECT max(amount) FROM orders) - (SELECT min(amount) FROM orders) AS spread",
     ALL),
    ("SELECT count(*) AS n FROM main.orders", BOTH),
    ("SELECT main.orders.id FROM main.orders WHERE main.orders.amount > {n}", BOTH),
    ('SELECT id FROM "orders" WHERE "amount" > {n}', ALL),
    ("SELECT ID FROM ORDERS WHERE AMOUNT > {n}", NO_MYSQL),
    ("SELECT * FROM orders", ALL),
    ("SELECT * FROM customers", ALL),
    ("SELECT orders.* FROM orders JOIN customers USING (customer_id)", ALL),
    ("WITH RECURSIVE r(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM r WHERE k < 4) "
     "SELECT k, (SELECT count(*) FROM orders WHERE amount > k * {n}) AS c FROM r",
     ("duckdb", "sqlite", "postgres", "mysql")),
    ("SELECT region, {agg} AS v FROM (SELECT * FROM orders UNION ALL SELECT * FROM orders) t "
     "GROUP BY region", ALL),
    ("SELECT c.region, count(*) AS n FROM customers c WHERE c.customer_id IN "
     "(SELECT customer_id FROM orders GROUP BY customer_id HAVING {agg} > 0) GROUP BY c.region",
     ALL),
    ("SELECT CASE WHEN EXISTS (SELECT 1 FROM orders WHERE amount > {n}) THEN 'yes' "
     "ELSE 'no' END AS any_big", ALL),
    ("SELECT coalesce(max(amount), -1) AS v FROM orders WHERE region = 'East'", ALL),
    ("SELECT count(*) AS n FROM customers WHERE vip", ALL),
    ("SELECT id FROM orders QUALIFY row_number() OVER (PARTITION BY region ORDER BY id) = 1",
     ("duckdb",)),
    ("SELECT o.customer_id, count(*) AS n FROM orders o GROUP BY ALL", ("duckdb",)),
]  # fmt: skip


def make_data(seed: int) -> dict[str, list[tuple[Any, ...]]]:
    rnd = random.Random(seed)
    customers = [
        (i, f"customer {i}", rnd.choice(REGIONS), rnd.random() < 0.1) for i in range(1, 61)
    ]
    products = [(i, f"product {i}") for i in range(1, 9)]
    orders = [
        (
            i,
            rnd.randint(1, 70),  # some orders name a customer that does not exist
            rnd.randint(1, 8),
            rnd.choice(REGIONS),
            decimal.Decimal(rnd.randint(100, 99_999)) / 100,
        )
        for i in range(1, 401)
    ]
    return {"customers": customers, "products": products, "orders": orders}


DDL = (
    "CREATE TABLE customers (customer_id INTEGER, name VARCHAR(40), region VARCHAR(10), "
    "vip BOOLEAN)",
    "CREATE TABLE products (product_id INTEGER, name VARCHAR(40))",
    "CREATE TABLE orders (id INTEGER, customer_id INTEGER, product_id INTEGER, "
    "region VARCHAR(10), amount DECIMAL(10, 2))",
)


def permitted(
    data: dict[str, list[tuple[Any, ...]]], region: str, regions: tuple[str, ...]
) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "customers": [r for r in data["customers"] if r[2] in regions or r[3]],
        "products": data["products"],
        "orders": [r for r in data["orders"] if r[3] == region],
    }


def canonical(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    def cell(v: Any) -> Any:
        if isinstance(v, (float, decimal.Decimal)):
            return round(float(v), 4)
        return v

    return sorted((tuple(cell(v) for v in r) for r in rows), key=repr)




REGION_SETS = [
    ("West", ("West",)),
    ("East", ("East", "North")),
    ("North", ()),
    ("Nowhere", ("South",)),
]
"""(region, regions) of the people the tests ask as: one matching no order at all."""
