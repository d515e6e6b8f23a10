"""Schema context: what the model is shown about the database for one question.

``render`` writes tables as compact DDL; ``build`` picks what fits the token budget for a
question, using ``linking`` (names, comments, knowledge, values), ``valueindex``, ``profile``
and ``knowledge``; ``schema_cache`` keeps introspection on disk between runs.
"""

from .build import build_context, context_notes
from .render import estimate_tokens, quote_ident, quote_value, render_schema, render_table

__all__ = [
    "build_context",
    "context_notes",
    "estimate_tokens",
    "quote_ident",
    "quote_value",
    "render_schema",
    "render_table",
]
