"""sqlagent: ask questions about your data in plain language.

    from sqlagent import Agent
    agent = Agent.connect("duckdb:///sample_data/cards.duckdb")
    answer = agent.ask("How many unique merchants are there in Phoenix?")
    answer.sql, answer.dataframe, answer.narrative, answer.trace
"""

from __future__ import annotations

from .api import Agent
from .conversation import Conversation
from .errors import SqlAgentError
from .settings import Policy, Settings
from .types import Answer, QueryResult, SchemaInfo

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "Answer",
    "Conversation",
    "Policy",
    "QueryResult",
    "SchemaInfo",
    "Settings",
    "SqlAgentError",
]
