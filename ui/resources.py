"""What the dashboard connects to: shared databases, the session's model, the agent.

Databases (and with them their cached schemas) are opened once per URL for the whole server
and shared by every browser session through ``st.cache_resource``; the model client and the
conversation belong to one session.

Tests (and embedders) can give a session its own model: put any object with the ``LLM``
interface in ``st.session_state[LLM_STATE_KEY]`` before the first run (for AppTest:
``at.session_state[LLM_STATE_KEY] = ScriptedLLM([...])``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from sqlagent.api import Agent
from sqlagent.settings import Settings

if TYPE_CHECKING:
    from sqlagent.db.base import Database
    from sqlagent.llm.client import LLM
    from sqlagent.store.history import HistoryStore

ENV_DB = "SQLAGENT_DB"
LLM_STATE_KEY = "sqlagent_llm"
_LLM_CACHE_KEY = "_sqlagent_llm_client"


@dataclass(frozen=True)
class ConnectionConfig:
    """What one session is connected to. ``target`` empty means the sample database."""

    target: str = ""
    model: str = ""
    base_url: str = ""
    api_key: str = field(default="", repr=False)


def default_config(environ: Mapping[str, str] | None = None) -> ConnectionConfig:
    """The configuration a new session starts with: the environment's (key not copied)."""
    env = os.environ if environ is None else environ
    return ConnectionConfig(
        target=(env.get(ENV_DB) or "").strip(),
        model=(env.get("SQLAGENT_MODEL") or "").strip(),
        base_url=(env.get("OPENAI_BASE_URL") or "").strip(),
    )


@st.cache_resource(show_spinner="Preparing the sample database…")
def sample_target() -> str:
    """The bundled sample database's path, built on first use (once per server)."""
    from sqlagent.sample import ensure_sample_database

    return str(ensure_sample_database())


def _release_database(db: Database) -> None:
    """Close a database the cache lets go of (evicted past ``max_entries``, or cleared)."""
    db.close()


@st.cache_resource(
    show_spinner="Opening the database…", max_entries=8, on_release=_release_database
)
def open_database(target: str) -> Database:
    """A read-only connection for ``target``, shared by every session using it.

    Failures raise (``ConnectionFailed``) and are not cached, so a fixed URL works on retry.
    A connection evicted from the cache (a ninth URL) or cleared is closed, not left open
    for the life of the server.
    """
    from sqlagent.db import connect

    return connect(target)


def resolve_target(config: ConnectionConfig) -> str:
    """The database target to open: the configured one, else the sample database."""
    return config.target or sample_target()


def is_sample(target: str) -> bool:
    """True when ``target`` is the bundled sample database."""
    from sqlagent.sample import sample_database_path

    try:
        return Path(target).resolve() == sample_database_path().resolve()
    except (OSError, ValueError):
        return False


def build_settings(config: ConnectionConfig) -> Settings:
    """The environment's settings with the session's model choices on top."""
    settings = Settings.from_env()
    changes: dict[str, Any] = {}
    if config.model:
        changes["model"] = config.model
    if config.base_url:
        changes["base_url"] = config.base_url
    if config.api_key:
        changes["api_key"] = config.api_key
    return settings.with_(**changes) if changes else settings


def session_llm(settings: Settings) -> LLM | None:
    """The session's model: an injected one, else a client for the settings, else None."""
    injected = st.session_state.get(LLM_STATE_KEY)
    if injected is not None:
        return injected
    if not settings.llm_configured:
        return None
    # One client per session and configuration; the key only enters the cache key hashed.
    digest = hashlib.sha256((settings.api_key or "").encode()).hexdigest()[:16]
    key = (settings.model, settings.base_url, digest, settings.llm_timeout, settings.llm_retries)
    cached = st.session_state.get(_LLM_CACHE_KEY)
    if cached is not None and cached[0] == key:
        return cached[1]
    from sqlagent.llm.client import OpenAILLM

    llm = OpenAILLM.from_settings(settings)
    st.session_state[_LLM_CACHE_KEY] = (key, llm)
    return llm


@st.cache_resource(show_spinner=False, max_entries=4)
def open_history(path: str) -> HistoryStore | None:
    """The answer history at ``path`` (a file, or a shared store's URL), opened once per
    server (None when it cannot be)."""
    from sqlagent.store.history import HistoryError, HistoryStore

    try:
        return HistoryStore(path)
    except HistoryError:
        return None  # an unwritable data directory must not stop anyone asking


def build_agent(db: Database, settings: Settings, llm: LLM | None) -> Agent:
    """An agent over the shared database with the session's model (cheap: no I/O)."""
    history = None
    if settings.history:
        from sqlagent.store.history import default_path

        history = open_history(settings.store_url or str(settings.history_path or default_path()))
    return Agent(db, llm=llm, settings=settings, history=history, source="ui")


def knowledge_file(agent: Agent, target: str) -> Path | None:
    """Where this database's knowledge file is (it may not exist yet), or None."""
    from sqlagent.context.knowledge import default_knowledge_path

    explicit = getattr(agent, "knowledge_path", None) or agent.settings.knowledge_path
    if explicit:
        return Path(explicit)
    return default_knowledge_path(agent.db.path or target)


def metrics_endpoint() -> str | None:
    """Start the opt-in ``/metrics`` endpoint (``SQLAGENT_METRICS``) once per server; its
    address, or None. An address that cannot be bound is logged, not shown to every user."""
    return _metrics_endpoint(os.environ.get("SQLAGENT_METRICS", ""))


@st.cache_resource(show_spinner=False)
def _metrics_endpoint(address: str) -> str | None:
    import logging

    from sqlagent.errors import ConfigError
    from sqlagent.observe.metrics import serve_from_env

    try:
        server = serve_from_env({"SQLAGENT_METRICS": address})
    except ConfigError as exc:
        logging.getLogger("sqlagent.ui").error("%s", exc.message)
        return None
    return server.address if server is not None else None
