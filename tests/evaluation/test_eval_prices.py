"""Model prices: the built-in table, snapshot names, and the SQLAGENT_PRICES override."""

from __future__ import annotations

from pathlib import Path

import pytest

from sqlagent.errors import ConfigError
from sqlagent.evaluation.prices import Price, cost_usd, load_prices, price_for
from sqlagent.types import Usage


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("gpt-4.1-mini", Price(0.40, 1.60)),
        ("gpt-4.1-mini-2025-04-14", Price(0.40, 1.60)),
        ("openai/gpt-4o", Price(2.50, 10.00)),
        ("gpt-4o-mini", Price(0.15, 0.60)),
        ("models/gemini-2.5-flash", Price(0.30, 2.50)),
        ("gemini-2.0-flash-001", Price(0.10, 0.40)),
        ("llama3.1", None),
        ("gpt-4o-audio-preview", None),  # not guessed from its prefix
        ("oracle", None),
    ],
)
def test_price_for(model: str, price: Price | None) -> None:
    assert price_for(model, load_prices({})) == price


def test_cost_is_per_million_tokens() -> None:
    assert cost_usd("gpt-4.1", Usage(500_000, 100_000), load_prices({})) == pytest.approx(1.8)
    assert cost_usd("unknown-model", Usage(10, 10), load_prices({})) is None


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("prices.yaml", "my-llama: {input: 0.0, output: 0.0}\ngpt-4.1-mini: [1, 2]\n"),
        ("prices.json", '{"my-llama": [0, 0], "gpt-4.1-mini": {"input": 1, "output": 2}}'),
    ],
)
def test_price_file_adds_and_overrides(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    table = load_prices({"SQLAGENT_PRICES": str(path)})
    assert price_for("my-llama", table) == Price(0, 0)
    assert price_for("gpt-4.1-mini", table) == Price(1, 2)
    assert price_for("gpt-4o", table) == Price(2.50, 10.00)  # the rest stays
    assert cost_usd("my-llama", Usage(1000, 1000), table) == 0


@pytest.mark.parametrize(
    "text", ["just text", "m: [1]", "m: {input: x, output: 1}", "m: [-1, 2]", "[1, 2]"]
)
def test_bad_price_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError):
        load_prices({"SQLAGENT_PRICES": str(path)})


def test_missing_price_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_prices({"SQLAGENT_PRICES": str(tmp_path / "nope.yaml")})
