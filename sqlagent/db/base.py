"""The database interface every backend implements, and small helpers they share."""

from __future__ import annotations

import contextlib
import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

from ..types import QueryResult, SchemaInfo

T = TypeVar("T")

SAMPLE_ROWS = 10_000
"""Rows read per table when looking for sample values: a huge table costs no more than this."""
SAMPLE_MAX_DISTINCT = 50
"""A text column with more distinct values than this (in the sampled rows) gets no samples."""
SAMPLES_PER_COLUMN = 5
SAMPLE_MAX_LENGTH = 80
"""A column holding longer values is free text, not a category: it gets no samples."""
SAMPLE_TIMEOUT = 2.0
"""Seconds allowed for the sampling query of one table."""
SAMPLE_BUDGET = 15.0
"""Seconds allowed for sampling all tables; tables left over get no samples."""
COUNT_TIMEOUT = 5.0
"""Seconds allowed for one batch of exact row counts."""


@runtime_checkable
class Database(Protocol):
    """A read-only connection to the user's data.

    ``dialect`` is the sqlglot dialect name; ``display_url`` is safe to show (password masked);
    ``path`` is the database file or folder when there is one (for files kept beside it).
    An engine whose interrupt stops a statement of bounded steps within moments may say so
    with a ``prompt_interrupt = True`` attribute (see ``execute_within``).
    """

    dialect: str
    display_url: str
    path: Path | None

    def schema(self, *, refresh: bool = False) -> SchemaInfo:
        """Tables, views, columns, keys, comments, row counts and samples (cached)."""
        ...

    def execute(self, sql: str, *, max_rows: int, timeout: float) -> QueryResult:
        """Run one read-only statement, fetching at most ``max_rows`` rows within ``timeout``."""
        ...

    def close(self) -> None:
        """Release the connection; the object is unusable afterwards."""
        ...


class Watchdog:
    """Call ``cancel`` once if the ``with`` block is still running after ``seconds``.

    >>> import time
    >>> cancelled = []
    >>> with Watchdog(0.05, lambda: cancelled.append(True)) as dog:
    ...     time.sleep(0.5)   # the statement, still running at the deadline
    >>> dog.fired, cancelled
    (True, [True])

    Deadlines are kept by one shared background thread (see ``_Deadlines``): entering a
    watchdog starts no thread, which matters on a busy machine, where starting one per
    statement costs milliseconds.
    """

    def __init__(self, seconds: float, cancel: Callable[[], Any]) -> None:
        self.seconds = seconds
        self.fired = False
        self._cancel = cancel
        self._lock = threading.Lock()
        self._done = False

    def _fire(self) -> None:
        # The lock makes "block finished" and "cancel started" mutually exclusive, so a cancel
        # never lands on the next statement of the same connection.
        with self._lock:
            if self._done:
                return
            self.fired = True
            # A failed cancel leaves the server-side limit to act.
            with contextlib.suppress(Exception):
                self._cancel()

    def __enter__(self) -> Watchdog:
        _DEADLINES.add(time.monotonic() + max(self.seconds, 0.0), self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._done = True
            # Queued until its deadline, the watchdog must not keep the cursor alive.
            self._cancel = _nothing


def _nothing() -> None:
    return None


class _Deadlines:
    """One daemon thread firing every live ``Watchdog`` whose deadline has passed.

    Finished watchdogs stay queued until their deadline comes up and are then dropped
    unfired. Each cancel runs on a thread of its own, so a slow one (``KILL QUERY`` through a
    new connection) never delays another statement's.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, Watchdog]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, deadline: float, dog: Watchdog) -> None:
        with self._cond:
            heapq.heappush(self._queue, (deadline, next(self._order), dog))
            if self._thread is None or not self._thread.is_alive():  # first use, or forked
                self._thread = threading.Thread(
                    target=self._run, name="sqlagent-deadlines", daemon=True
                )
                self._thread.start()
            elif self._queue[0][2] is dog:
                self._cond.notify()  # the earliest deadline changed: re-arm the wait

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._queue and self._queue[0][2]._done:
                        heapq.heappop(self._queue)
                    if not self._queue:
                        self._cond.wait()
                        continue
                    delay = self._queue[0][0] - time.monotonic()
                    if delay <= 0:
                        dog = heapq.heappop(self._queue)[2]
                        break
                    self._cond.wait(delay)
            threading.Thread(target=dog._fire, name="sqlagent-cancel", daemon=True).start()


_DEADLINES = _Deadlines()


class Stopwatch:
    """Seconds since creation: ``sw = Stopwatch(); ...; sw.elapsed``."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start


def bounded(
    rows: Sequence[tuple[Any, ...]], max_rows: int
) -> tuple[tuple[tuple[Any, ...], ...], bool]:
    """Cut ``rows`` (fetched as ``max_rows + 1``) to ``max_rows``; say whether any were cut."""
    truncated = len(rows) > max_rows
    # Copied once: cut only when there is something to cut.
    return tuple(rows[:max_rows] if truncated else rows), truncated


def timeout_message(timeout: float) -> str:
    """The message of every ``QueryTimeout``: names the limit in seconds."""
    return f"The query ran longer than the statement timeout of {timeout:g} s and was cancelled"


TIMEOUT_HINT = "Make the query cheaper (filter earlier, aggregate) or raise the statement timeout."


def check_fetch_args(max_rows: int, timeout: float) -> None:
    """Reject nonsense limits early, with a plain message."""
    if max_rows < 0:
        raise ValueError(f"max_rows must be >= 0, not {max_rows}")
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, not {timeout}")


DEADLINE_GRACE = 0.2
"""Seconds past the statement timeout after which the caller gets a timeout back, even while
the engine is still winding down the interrupted statement (one huge value can keep DuckDB
busy for seconds after its interrupt)."""


class _Workers:
    """Daemon threads that run statements, so that a caller can stop waiting at a deadline.

    Daemon threads, not a ``ThreadPoolExecutor``: an abandoned statement that the engine is
    still cancelling must not hold up the interpreter's exit. A job never waits for a busy
    worker (that wait would count against its deadline): it is given an idle one or a new
    one. The queue and the locks are the C ones, as the hand-over is on every statement.
    """

    def __init__(self, limit: int = 64) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._idle = 0
        self._threads = 0
        self._jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle:
                self._idle -= 1  # that worker is spoken for
                spawn = False
            else:
                spawn = self._threads < self._limit
                self._threads += spawn
        self._jobs.put(job)
        if spawn:
            threading.Thread(target=self._run, name="sqlagent-statement", daemon=True).start()

    def _run(self) -> None:
        while True:
            self._jobs.get()()
            with self._lock:
                self._idle += 1


_WORKERS = _Workers()


class _Abandoned:
    """The jobs whose caller stopped waiting at the deadline and that are still running.

    Each is known by its ``done`` lock, released when the job ends; a finished one is dropped
    the next time the set is looked at.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[threading.Lock] = []

    def add(self, done: threading.Lock) -> None:
        with self._lock:
            self._jobs.append(done)

    def count(self) -> int:
        with self._lock:
            self._jobs = [done for done in self._jobs if done.locked()]
            return len(self._jobs)


_ABANDONED = _Abandoned()


def in_background(fn: Callable[[], Any], name: str) -> None:
    """``fn()`` on a daemon thread of its own, counted by ``winding_down`` until it ends."""
    done = threading.Lock()
    done.acquire()
    _ABANDONED.add(done)

    def job() -> None:
        try:
            fn()
        except Exception:  # nobody waits for it: a failure leaves things as they were
            pass
        finally:
            done.release()

    threading.Thread(target=job, name=name, daemon=True).start()


def winding_down() -> int:
    """How many statements (or checks) left at their deadline, and closes left to the
    background, are still running.

    A process that is about to exit uses it to know that the interpreter's shutdown would
    wait for, or crash in, an engine still winding down (see ``sqlagent.cli.entry``).
    """
    return _ABANDONED.count()


def call_within(fn: Callable[[], T], seconds: float, on_timeout: Callable[[], Exception]) -> T:
    """``fn()`` on a worker thread; its result or error, or ``on_timeout()`` raised once
    ``seconds`` have passed (``fn`` then goes on to its end on the worker, and what it
    returns is dropped)."""
    done = threading.Lock()
    done.acquire()
    outcome: list[Any] = []

    def job() -> None:
        try:
            outcome.append(fn())
        except BaseException as exc:  # handed to the caller, who raises it
            outcome.append(exc)
        finally:
            done.release()

    _WORKERS.submit(job)
    if not done.acquire(timeout=max(seconds, 0.0)):
        _ABANDONED.add(done)
        raise on_timeout()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return cast(T, result)


def execute_within(
    db: Database,
    sql: str,
    *,
    max_rows: int,
    timeout: float,
    grace: float = DEADLINE_GRACE,
    max_bytes: int | None = None,
    stops_promptly: bool = False,
) -> QueryResult:
    """``db.execute``, returning (or raising ``QueryTimeout``) by ``timeout + grace`` seconds;
    with ``max_bytes``, the result is also cut to that many bytes of text (``bound_bytes``).

    The engine's own watchdog interrupts the statement at ``timeout``; this bounds what the
    caller waits when the engine is slow to notice (a single huge value, a long-running
    function): the statement goes on winding down on its worker thread, and its result, if
    any, is dropped. A statement that ``stops_promptly`` (``GuardedSQL.stops_promptly``) on
    an engine whose interrupt is prompt (``prompt_interrupt``) runs on the caller's thread
    instead: the interrupt alone ends it in time, and the two thread hand-offs (a tenth of a
    millisecond or more each, waking an idle core) are saved.
    """
    from ..errors import QueryTimeout

    def job() -> QueryResult:
        result = db.execute(sql, max_rows=max_rows, timeout=timeout)
        return result if max_bytes is None else bound_bytes(result, max_bytes)

    if stops_promptly and getattr(db, "prompt_interrupt", False):
        return job()
    return call_within(
        job,
        timeout + grace,
        lambda: QueryTimeout(timeout_message(timeout), sql=sql, hint=TIMEOUT_HINT),
    )


_TEXT_TYPES = (str, bytes, bytearray, memoryview)


def _text_bytes(result: QueryResult, stop: int) -> int:
    """The length of the text and binary values of ``result``, counted until past ``stop``.

    Column by column, with the work in C: a column the engine declares numeric (or a date...)
    is passed over unread, one of other values on its value types alone, and a column of text
    alone is measured without a test per value.
    """
    total = 0
    for i in range(len(result.columns)):
        declared = result.declared_kind(i)
        if declared is not None and not issubclass(declared, _TEXT_TYPES):
            continue
        column = result.by_column[i]
        if declared is not None:
            try:
                total += sum(map(len, column))
            except TypeError:  # NULLs among them
                total += sum([len(v) for v in column if v is not None])
        else:
            kinds = result.column_types[i]
            text = [k for k in kinds if issubclass(k, _TEXT_TYPES)]
            if not text:
                continue
            if len(text) == len(kinds):
                total += sum(map(len, column))
            else:
                total += sum([len(v) for v in column if isinstance(v, _TEXT_TYPES)])
        if total > stop:
            break
    return total


def bound_bytes(result: QueryResult, max_bytes: int) -> QueryResult:
    """``result`` cut to the rows whose text and binary values fit in ``max_bytes``.

    Rows past the bound are dropped and the result marked truncated, as past ``max_rows``; a
    first row alone over the bound is an ``ExecutionError`` (there is nothing to show).
    """
    from dataclasses import replace

    from ..errors import ExecutionError

    # Nearly every result is far under the bound: one pass over the columns, no per-row work.
    if _text_bytes(result, max_bytes) <= max_bytes:
        return result
    total = 0
    for i, row in enumerate(result.rows):
        for value in row:
            if isinstance(value, _TEXT_TYPES):
                total += len(value)
        if total > max_bytes:
            if i == 0:
                raise ExecutionError(
                    f"The result's first row holds {total:,} bytes of text or binary data, "
                    f"over the result-size limit of {max_bytes:,} bytes",
                    hint="Select shorter values (e.g. left(col, 100)) or fewer columns.",
                )
            return replace(result, rows=result.rows[:i], truncated=True)
    return result
