"""Settings: one frozen value with every knob, its default and its help text in one place.

Only the shells (CLI, UI) read the environment, through ``Settings.from_env()``; the chain
receives a ``Settings`` value and never looks anything up itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError

DEFAULT_MODEL = "gpt-4.1-mini"

LLM_HELP = (
    "Set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL for any OpenAI-compatible server, e.g. "
    "OPENAI_BASE_URL=http://localhost:11434/v1 for Ollama or http://localhost:8000/v1 for "
    "vLLM, and SQLAGENT_MODEL for the model name."
)
"""How to configure a model: shown wherever a missing one stops something."""


FilterValue = str | int | float | bool | None | tuple[str | int | float | bool | None, ...]
"""A value bound into a row filter: a user's attribute (a list becomes a tuple)."""


@dataclass(frozen=True)
class RowFilter:
    """A condition every row read from ``table`` must meet, whoever reads it and however.

    ``condition`` is SQL over the table's own columns; ``:user.<name>`` stands for the
    asking user's attribute ``<name>``, bound from ``values`` as a literal (never pasted as
    text). ``origin`` says where it was written (``policy.yaml:12``), for error messages.
    """

    table: str
    condition: str
    values: tuple[tuple[str, FilterValue], ...] = ()
    origin: str = ""

    @property
    def parameters(self) -> tuple[str, ...]:
        """The user attributes the condition names, in order of first use."""
        from .access.filters import condition_parameters

        return condition_parameters(self.condition)


@dataclass(frozen=True)
class Policy:
    """What the guard lets through. Table and column names are glob patterns, case-insensitive.

    ``allowed_tables`` empty means every table not denied. A table pattern may be
    schema-qualified (``sales.*``); an unqualified one matches the table name in any schema.
    Column patterns are ``table.column`` (``customers.ssn``, ``*.password``).
    """

    allowed_tables: tuple[str, ...] = ()
    denied_tables: tuple[str, ...] = ()
    denied_columns: tuple[str, ...] = ()
    allowed_functions: tuple[str, ...] = ()
    """Functions to let through although they are not on the dialect's allow-list, or are
    refused by name (e.g. read_csv)."""
    allow_server_info: bool = False
    """Let queries read details of the server and session: system variables (``@@version``),
    ``version()``, ``current_user``, server addresses, PostgreSQL's system columns (``xmin``,
    ``ctid``...)."""
    max_rows: int = 1000
    statement_timeout: float = 30.0
    max_sql_length: int = 100_000
    """Characters a statement may have: longer input is refused before it is parsed."""
    max_literals: int = 10_000
    """Literal values (numbers, strings) a statement may hold: a huge IN list is refused before
    parsing, where no timeout applies."""
    max_query_blocks: int = 200
    """SELECTs, CTEs, subqueries and table references a statement may hold: checking a
    statement takes time in proportion to them, and no timeout applies to the check."""
    max_result_bytes: int = 64 * 1024 * 1024
    """Bytes a result may hold (text and binary values); rows past it are cut as past
    ``max_rows``, and a single value larger than it is an error."""
    row_filters: tuple[RowFilter, ...] = ()
    """Conditions on the rows of tables (``row_filters: {orders: "region = :user.region"}``
    in a file): the guard reads each such table as only its rows that meet every condition
    naming it, in every part of every query, and the context shows only those rows' values."""
    ceilings: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """The limits (``max_rows``, ``statement_timeout``) a policy file set: other settings
    may lower them but not raise them."""

    def __post_init__(self) -> None:
        # Lists are accepted for convenience, and kept as tuples: a policy is a hashable value.
        for name in (
            "allowed_tables", "denied_tables", "denied_columns", "allowed_functions",
            "row_filters",
        ):  # fmt: skip
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))
            elif not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    def limited(
        self, *, max_rows: int | None = None, statement_timeout: float | None = None
    ) -> Policy:
        """This policy with other limits asked for; a limit the policy file set is a ceiling.

        >>> Policy.from_mapping({"max_rows": 500}).limited(max_rows=2000).max_rows
        500
        >>> Policy().limited(max_rows=2000).max_rows
        2000
        """
        changes: dict[str, Any] = {}
        if max_rows is not None:
            changes["max_rows"] = (
                min(max_rows, self.max_rows) if "max_rows" in self.ceilings else max_rows
            )
        if statement_timeout is not None:
            changes["statement_timeout"] = (
                min(statement_timeout, self.statement_timeout)
                if "statement_timeout" in self.ceilings
                else statement_timeout
            )
        return replace(self, **changes) if changes else self

    def bound(self, values: Mapping[str, FilterValue]) -> Policy:
        """This policy with each row filter's ``:user.<name>`` values taken from ``values``.

        Raises ``ConfigError`` naming the filter when an attribute it needs is missing (a
        person without the attribute reads nothing rather than everything).
        """
        if not self.row_filters:
            return self
        bound: list[RowFilter] = []
        for rf in self.row_filters:
            needed = rf.parameters
            missing = [n for n in needed if n not in values]
            if missing:
                raise ConfigError(
                    f"The row filter on {rf.table} ({rf.origin or rf.condition}) needs the "
                    f"user attribute(s) {', '.join(missing)}, which this user does not have",
                    hint="Give the user the attribute in the policy file's users section, "
                    "or as a claim of the sign-in provider.",
                )
            bound.append(replace(rf, values=tuple((n, _frozen(values[n])) for n in needed)))
        return replace(self, row_filters=tuple(bound))

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], *, source: str = "", lines: Mapping[Any, int] | None = None
    ) -> Policy:
        """Build a policy from a mapping (as loaded from YAML/JSON); unknown keys are errors.

        ``source`` and ``lines`` (key path -> line, from ``load_yaml_with_lines``) place a
        bad row filter in its file. The keys of roles and their holders (``roles``, ``users``,
        ``groups``, ``default_role``...) are read by ``sqlagent.access.roles``, not here.
        """
        data = {k: v for k, v in data.items() if k not in ACCESS_KEYS}
        known = {f.name for f in fields(cls)} - {"ceilings"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                f"Unknown policy setting(s): {', '.join(unknown)}",
                hint=f"Known settings: {', '.join(sorted(known))}",
            )
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key in (
                "max_rows", "max_sql_length", "max_literals", "max_query_blocks",
                "max_result_bytes",
            ):  # fmt: skip
                kwargs[key] = _positive_int(key, value)
            elif key == "allow_server_info":
                if not isinstance(value, bool):
                    raise ConfigError(f"Policy setting {key!r} must be true or false")
                kwargs[key] = value
            elif key == "statement_timeout":
                kwargs[key] = _positive_float(key, value)
            elif key == "row_filters":
                kwargs[key] = _row_filters(value, source, lines or {})
            else:
                if isinstance(value, str):
                    value = [value]
                if not isinstance(value, (list, tuple)) or not all(
                    isinstance(v, str) for v in value
                ):
                    raise ConfigError(f"Policy setting {key!r} must be a list of strings")
                kwargs[key] = tuple(value)
        ceilings = tuple(k for k in ("max_rows", "statement_timeout") if k in kwargs)
        return cls(**kwargs, ceilings=ceilings)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Policy:
        """Load a policy from a YAML (or JSON) file."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"Policy file not found: {p}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"Policy file {p} cannot be read: {exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"Policy file {p} is not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"Policy file {p} must hold a mapping of settings")
        return cls.from_mapping(data, source=str(p), lines=_yaml_lines(p))


@dataclass(frozen=True)
class Settings:
    """Everything the chain can be told. Defaults suit an analyst on a laptop."""

    model: str = DEFAULT_MODEL
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    llm_timeout: float = 60.0
    """Seconds allowed for one LLM call before it is abandoned."""
    llm_retries: int = 2
    """Retries of an LLM call on transient failures (connection errors, 5xx, 429)."""
    max_repairs: int = 2
    """How many times a failed query is sent back to the model for repair."""
    max_tokens: int | None = None
    """A bound on each generated reply (None: the endpoint's own); a reply cut off at the
    bound is asked for once more with a higher one."""
    structured_output: bool = False
    """Ask the endpoint for a JSON object (sql / clarification / refusal) through
    ``response_format``; an endpoint that rejects it is asked in plain text instead."""
    narrate: bool = True
    """Ask the model to narrate the result; off gives a short mechanical summary."""
    narrate_rows: int = 20
    """At most this many rows are shown to the model when it narrates a result."""
    policy: Policy = field(default_factory=Policy)
    policy_file: str | None = None
    """The policy file ``policy`` was read from; its roles (``sqlagent.access.roles``) decide
    what each person may see when a user is named."""
    knowledge_path: str | None = None
    """A knowledge YAML file; by default ``<database>.knowledge.yaml`` beside a database file."""
    semantic_paths: tuple[str, ...] = ()
    """dbt MetricFlow or Snowflake Cortex Analyst semantic model files (or folders of them),
    read beside the knowledge file (``sqlagent.context.semantic``)."""
    candidates: int = 1
    """Self-consistency: generate this many candidate queries and keep the majority result."""
    adaptive: bool = False
    """With candidates > 2: sample two first and the rest only when those two disagree."""
    history: bool = True
    """Record every answer's trace in the local history store (``sqlagent history``)."""
    history_path: str | None = None
    """The history database; by default in the user's data directory."""
    store_url: str | None = None
    """A shared store for history, feedback and verified examples (a SQLAlchemy URL,
    PostgreSQL or SQLite); replaces the local history file when set."""
    context_budget: int = 3000
    """Approximate tokens of schema context; a larger schema is pruned to the question."""
    schema_cache: bool = True
    """Keep introspected schemas on disk, so the next start skips introspection."""
    otel: bool = False
    """Send each answer as an OpenTelemetry trace (``sqlagent.observe.otel``)."""
    value_index: bool = True
    """Index the distinct values of text columns, so 'Phoenix' in a question finds its column."""
    value_index_seconds: float = 20.0
    """Time allowed for building the value index (on the first question); columns not read
    by then are left out."""
    profiles: bool = True
    """Profile the columns (ranges, null share, top values) for the context."""
    profile_seconds: float = 20.0
    """Time allowed for profiling (on the first question); tables not started by then are
    left out."""

    @property
    def max_rows(self) -> int:
        return self.policy.max_rows

    @property
    def statement_timeout(self) -> float:
        return self.policy.statement_timeout

    @property
    def llm_configured(self) -> bool:
        """True when an endpoint can be called: a key, or a base URL of a local server."""
        return bool(self.api_key or self.base_url)

    def with_(self, **changes: Any) -> Settings:
        """A copy with some settings changed (``max_rows``/``statement_timeout`` included)."""
        policy_changes = {
            k: changes.pop(k) for k in ("max_rows", "statement_timeout") if k in changes
        }
        policy = changes.pop("policy", self.policy)
        if policy_changes:
            policy = replace(policy, **policy_changes)
        return replace(self, policy=policy, **changes)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, policy_file: str | None = None
    ) -> Settings:
        """Read settings from environment variables (only the shells call this).

        ``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``SQLAGENT_MODEL``, ``SQLAGENT_LLM_TIMEOUT``,
        ``SQLAGENT_MAX_ROWS``, ``SQLAGENT_MAX_REPAIRS``, ``SQLAGENT_STATEMENT_TIMEOUT``,
        ``SQLAGENT_POLICY`` (a policy file), ``SQLAGENT_KNOWLEDGE`` (a knowledge file),
        ``SQLAGENT_SEMANTIC`` (semantic model files or folders, separated by ``os.pathsep``),
        ``SQLAGENT_HISTORY=off`` (no history; ``SQLAGENT_HOME`` moves it),
        ``SQLAGENT_STORE`` (a shared store's SQLAlchemy URL instead of the local file),
        ``SQLAGENT_SCHEMA_CACHE=off``, ``SQLAGENT_VALUE_INDEX=off``, ``SQLAGENT_PROFILES=off``,
        ``SQLAGENT_MAX_TOKENS``, ``SQLAGENT_STRUCTURED_OUTPUT=on``, ``SQLAGENT_OTEL=on``
        (each answer as an OpenTelemetry trace, see ``sqlagent.observe.otel``).
        ``policy_file`` (the command line's ``--policy``) replaces ``SQLAGENT_POLICY``; the
        limits a policy file sets are ceilings for the other variables.
        """
        env = os.environ if environ is None else environ
        settings = cls(
            model=env.get("SQLAGENT_MODEL") or DEFAULT_MODEL,
            api_key=env.get("OPENAI_API_KEY") or None,
            base_url=env.get("OPENAI_BASE_URL") or None,
            knowledge_path=env.get("SQLAGENT_KNOWLEDGE") or None,
            semantic_paths=tuple(
                p.strip()
                for p in (env.get("SQLAGENT_SEMANTIC") or "").split(os.pathsep)
                if p.strip()
            ),
            history=_switch(env, "SQLAGENT_HISTORY"),
            store_url=(env.get("SQLAGENT_STORE") or "").strip() or None,
            schema_cache=_switch(env, "SQLAGENT_SCHEMA_CACHE"),
            value_index=_switch(env, "SQLAGENT_VALUE_INDEX"),
            profiles=_switch(env, "SQLAGENT_PROFILES"),
            structured_output=_switch(env, "SQLAGENT_STRUCTURED_OUTPUT", default="off"),
            otel=_switch(env, "SQLAGENT_OTEL", default="off"),
        )
        changes: dict[str, Any] = {}
        if "SQLAGENT_MAX_TOKENS" in env:
            changes["max_tokens"] = _positive_int("SQLAGENT_MAX_TOKENS", env["SQLAGENT_MAX_TOKENS"])
        if "SQLAGENT_LLM_TIMEOUT" in env:
            changes["llm_timeout"] = _positive_float(
                "SQLAGENT_LLM_TIMEOUT", env["SQLAGENT_LLM_TIMEOUT"]
            )
        if "SQLAGENT_MAX_REPAIRS" in env:
            changes["max_repairs"] = _non_negative_int(
                "SQLAGENT_MAX_REPAIRS", env["SQLAGENT_MAX_REPAIRS"]
            )
        policy_file = policy_file or env.get("SQLAGENT_POLICY")
        policy = Policy.from_file(policy_file) if policy_file else Policy()
        rows = (
            _positive_int("SQLAGENT_MAX_ROWS", env["SQLAGENT_MAX_ROWS"])
            if "SQLAGENT_MAX_ROWS" in env
            else None
        )
        seconds = (
            _positive_float("SQLAGENT_STATEMENT_TIMEOUT", env["SQLAGENT_STATEMENT_TIMEOUT"])
            if "SQLAGENT_STATEMENT_TIMEOUT" in env
            else None
        )
        changes["policy"] = policy.limited(max_rows=rows, statement_timeout=seconds)
        changes["policy_file"] = policy_file or None
        return replace(settings, **changes)


ACCESS_KEYS = frozenset({"roles", "users", "groups", "default_role", "group_claim"})
"""Policy-file keys that say who holds which role (``sqlagent.access.roles`` reads them)."""


def _frozen(value: Any) -> FilterValue:
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_frozen_item(v) for v in value)
    return _frozen_item(value)


def _frozen_item(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _row_filters(value: Any, source: str, lines: Mapping[Any, int]) -> tuple[RowFilter, ...]:
    """``{table: condition or [conditions]}`` -> filters, each checked and placed in its file."""
    from .access.filters import FilterSyntaxError, parse_condition

    if not isinstance(value, Mapping):
        raise ConfigError(
            "Policy setting 'row_filters' must map tables to conditions",
            hint='For example  row_filters: {orders: "region = :user.region"}',
        )
    out: list[RowFilter] = []
    for table, conditions in value.items():
        where = _origin(source, lines, ("row_filters", table))
        items = conditions if isinstance(conditions, list) else [conditions]
        if not isinstance(table, str) or not table.strip() or not items:
            raise ConfigError(f"{where}: a row filter needs a table name and a condition")
        for i, condition in enumerate(items):
            at = _origin(source, lines, ("row_filters", table, i)) if len(items) > 1 else where
            if not isinstance(condition, str):
                raise ConfigError(f"{at}: the row filter on {table} must be a SQL condition")
            try:
                parse_condition(condition)
            except FilterSyntaxError as exc:
                raise ConfigError(f"{at}: {exc}") from None
            out.append(RowFilter(table=table.strip(), condition=condition, origin=at))
    return tuple(out)


def _origin(source: str, lines: Mapping[Any, int], path: tuple[Any, ...]) -> str:
    """``file:line`` of the key at ``path`` (the nearest known parent's line otherwise)."""
    for end in range(len(path), 0, -1):
        line = lines.get(path[:end])
        if line is not None:
            return f"{source}:{line}" if source else f"line {line}"
    return source or "policy"


def _yaml_lines(path: Path) -> dict[tuple[Any, ...], int]:
    """Key path -> 1-based line of each mapping key and sequence item in a YAML file."""
    import yaml

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return {}
    return yaml_lines(root)


def yaml_lines(root: Any, prefix: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Key path -> 1-based line, for a composed YAML node (``yaml.compose``)."""
    import yaml

    out: dict[tuple[Any, ...], int] = {}
    stack: list[tuple[tuple[Any, ...], Any]] = [(prefix, root)]
    while stack:
        at, node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, child in node.value:
                path = (*at, key.value)
                out[path] = key.start_mark.line + 1
                stack.append((path, child))
        elif isinstance(node, yaml.SequenceNode):
            for i, child in enumerate(node.value):
                path = (*at, i)
                out[path] = child.start_mark.line + 1
                stack.append((path, child))
    return out


def _switch(env: Mapping[str, str], name: str, default: str = "on") -> bool:
    """An on/off variable: anything but off/0/false/no is on; unset is ``default``."""
    return (env.get(name) or default).strip().lower() not in ("off", "0", "false", "no")


def _positive_float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}") from None
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"{name} must be a finite number above zero, not {value!r}")
    return number


def _positive_int(name: str, value: Any) -> int:
    number = _non_negative_int(name, value)
    if number == 0:
        raise ConfigError(f"{name} must be at least 1")
    return number


def _non_negative_int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from None
    if number < 0:
        raise ConfigError(f"{name} must not be negative, not {value!r}")
    return number
