"""What a model call costs: a price table in USD per million input and output tokens.

The built-in table covers current OpenAI and Gemini models at their list prices (standard
tier, prompts under 200k tokens). A YAML or JSON file named by ``SQLAGENT_PRICES`` adds
models or overrides prices::

    gpt-4.1-mini: {input: 0.40, output: 1.60}
    my-local-llama: [0, 0]

A model not in the table has no known cost (``None``), never a guessed one. Dated snapshots
(``gpt-4.1-mini-2025-04-14``) and provider prefixes (``openai/gpt-4o``, ``models/gemini-2.5-pro``)
are priced as their base model.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..types import Usage

__all__ = ["BUILTIN_PRICES", "Price", "cost_usd", "load_prices", "price_for"]


@dataclass(frozen=True)
class Price:
    """USD per one million tokens."""

    input: float
    output: float


BUILTIN_PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": Price(1.25, 10.00),
    "gpt-5-mini": Price(0.25, 2.00),
    "gpt-5-nano": Price(0.05, 0.40),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "o3": Price(2.00, 8.00),
    "o3-mini": Price(1.10, 4.40),
    "o4-mini": Price(1.10, 4.40),
    # Google Gemini
    "gemini-2.5-pro": Price(1.25, 10.00),
    "gemini-2.5-flash": Price(0.30, 2.50),
    "gemini-2.5-flash-lite": Price(0.10, 0.40),
    "gemini-2.0-flash": Price(0.10, 0.40),
    "gemini-2.0-flash-lite": Price(0.075, 0.30),
}

# A snapshot suffix: -2025-04-14, -20250414, -001, -latest.
_SNAPSHOT = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3}|latest)$")


def _parse_price(model: str, value: Any, source: str) -> Price:
    if isinstance(value, Mapping):
        low = {str(k).lower(): v for k, v in value.items()}
        raw = (low.get("input"), low.get("output"))
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        raw = (value[0], value[1])
    else:
        raise ConfigError(
            f"Price of {model!r} in {source} must be {{input: X, output: Y}} or [X, Y]"
        )
    try:
        numbers = [float(v) for v in raw]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"Price of {model!r} in {source} must be two numbers") from None
    if any(n < 0 for n in numbers):
        raise ConfigError(f"Price of {model!r} in {source} must not be negative")
    return Price(numbers[0], numbers[1])


@cache
def _file_prices(path: str, mtime: float) -> dict[str, Price]:
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"Price file not found: {p} (SQLAGENT_PRICES)") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"Price file {p} is not valid YAML or JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise ConfigError(f"Price file {p} must map model names to prices")
    return {str(k).lower(): _parse_price(str(k), v, str(p)) for k, v in data.items()}


def load_prices(environ: Mapping[str, str] | None = None) -> dict[str, Price]:
    """The built-in table, overridden by the file ``SQLAGENT_PRICES`` names (if any)."""
    env = os.environ if environ is None else environ
    table = dict(BUILTIN_PRICES)
    path = env.get("SQLAGENT_PRICES")
    if path:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            raise ConfigError(f"Price file not found: {path} (SQLAGENT_PRICES)") from None
        table.update(_file_prices(path, mtime))
    return table


def price_for(model: str, prices: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model``, or None when it is not in the table.

    >>> price_for("openai/gpt-4.1-mini-2025-04-14")
    Price(input=0.4, output=1.6)
    """
    table = load_prices() if prices is None else prices
    name = model.strip().lower()
    candidates = [name, name.rsplit("/", 1)[-1]]
    for cand in candidates:
        if cand in table:
            return table[cand]
        base = _SNAPSHOT.sub("", cand)
        if base != cand and base in table:
            return table[base]
    return None


def cost_usd(model: str, usage: Usage, prices: Mapping[str, Price] | None = None) -> float | None:
    """What ``usage`` cost on ``model`` in USD, or None for a model of unknown price.

    >>> cost_usd("gpt-4.1-mini", Usage(1_000_000, 500_000))
    1.2
    """
    price = price_for(model, prices)
    if price is None:
        return None
    cost = usage.prompt_tokens * price.input / 1e6 + usage.completion_tokens * price.output / 1e6
    return round(cost, 10)
