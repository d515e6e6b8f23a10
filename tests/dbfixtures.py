"""Scratch databases on the local PostgreSQL and MariaDB servers, for the database tests.

Each scratch database has a unique name, is created for one test and dropped after it, so
tests never touch other data. A server that cannot be reached skips the test with the reason.

    @pytest.fixture
    def pg() -> Iterator[Scratch]:
        yield from dbfixtures.scratch_postgres()

Servers: ``$SQLAGENT_TEST_POSTGRES`` / ``$SQLAGENT_TEST_MARIADB`` (admin URLs), by default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres`` and
``mysql+pymysql://root@127.0.0.1:3306/test``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

POSTGRES_ADMIN = os.environ.get(
    "SQLAGENT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
MARIADB_ADMIN = os.environ.get("SQLAGENT_TEST_MARIADB", "mysql+pymysql://root@127.0.0.1:3306/test")


@dataclass
class Scratch:
    """A scratch database: ``url`` to connect sqlagent to, ``run`` to set it up as admin."""

    url: str
    name: str
    engine: Any

    def run(self, *statements: str) -> None:
        """Run setup statements (autocommit; ``%`` needs no escaping)."""
        with self.engine.connect() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement, execution_options={"no_parameters": True})

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        """Rows of a query, read as admin (to check that data is unchanged)."""
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(sql).fetchall()]


def _admin_engine(url: str, *, server: str) -> Any:
    sa = pytest.importorskip("sqlalchemy")
    engine = sa.create_engine(
        url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with engine.connect():
            pass
    except Exception as exc:  # any failure to reach the server is a reason to skip
        engine.dispose()
        pytest.skip(f"{server} is not reachable at {url}: {str(exc).splitlines()[0]}")
    return engine


def _unique() -> str:
    return f"sqlagent_test_{uuid.uuid4().hex[:10]}"


def _scratch(admin_url: str, server: str, create: str, drop: str) -> Iterator[Scratch]:
    """A fresh database on ``server``, created and dropped with the given statements
    (``{name}`` is replaced by its generated name)."""
    sa = pytest.importorskip("sqlalchemy")
    admin = _admin_engine(admin_url, server=server)
    name = _unique()
    with admin.connect() as conn:
        conn.exec_driver_sql(create.format(name=name))
    url = sa.make_url(admin_url).set(database=name)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        yield Scratch(url=url.render_as_string(hide_password=False), name=name, engine=engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(drop.format(name=name))
        admin.dispose()


def scratch_postgres() -> Iterator[Scratch]:
    """A fresh PostgreSQL database, dropped afterwards."""
    return _scratch(
        POSTGRES_ADMIN,
        "PostgreSQL",
        'CREATE DATABASE "{name}"',
        'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
    )


def scratch_mariadb() -> Iterator[Scratch]:
    """A fresh MariaDB database, dropped afterwards."""
    return _scratch(
        MARIADB_ADMIN, "MariaDB", "CREATE DATABASE `{name}`", "DROP DATABASE IF EXISTS `{name}`"
    )


# ---------------------------------------------------------------------- shared expectations

CANONICAL_JSON: dict[str, Any] = {
    "i": 42,
    "d": 12.5,
    "t": "héllo",
    "day": "2024-01-02",
    "ts": "2024-01-02T03:04:05",
    "tod": "12:30:00",
    "f": 0.25,
    "b": "00ff",
    "u": "12345678-1234-5678-1234-567812345678",
    "n": None,
}
"""The JSON every dialect must give for the same logical row (see each test_db_* module)."""


def result_json(result: Any) -> dict[str, Any]:
    """The single row of a ``QueryResult`` as ``{column: to_json_value(value)}``."""
    from sqlagent.types import to_json_value

    assert len(result.rows) == 1
    return {c: to_json_value(v) for c, v in zip(result.columns, result.rows[0], strict=True)}


def free_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
