"""Chart choice from a result's shape, and the Vega-Lite specs drawn from it."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sqlagent.answer.charts import (
    ChartSpec,
    applicable_kinds,
    choose_chart,
    column_roles,
    vega_lite_spec,
)

MONTHS = [(dt.date(2025, m, 1), 1000.0 * m) for m in range(1, 7)]
CATEGORIES = [("grocery", 74), ("fuel", 68), ("travel", 69)]

# columns, rows, expected (kind, x, y, color) of the default chart, or None for table only
CASES: list[tuple[str, list[str], list[tuple[Any, ...]], tuple[Any, ...] | None]] = [
    ("single number", ["customers"], [(5000,)], ("metric", None, None, None)),
    ("row of numbers", ["names", "locations"], [(120, 600)], ("metric", None, None, None)),
    ("date + measure", ["month", "spend"], MONTHS, ("line", "month", "spend", None)),
    (
        "timestamp + measure",
        ["ts", "n"],
        [(dt.datetime(2025, 1, 1, h), h) for h in range(5)],
        ("line", "ts", "n", None),
    ),
    (
        "month as text",
        ["month", "total"],
        [("2025-01", 1.5), ("2025-02", 2.5), ("2025-03", 1.0)],
        ("line", "month", "total", None),
    ),
    (
        "year number",
        ["year", "orders"],
        [(2023, 10), (2024, 12), (2025, 15)],
        ("line", "year", "orders", None),
    ),
    (
        "time + category series",
        ["month", "channel", "n"],
        [(dt.date(2025, m, 1), c, m) for m in (1, 2, 3) for c in ("online", "in_store")],
        ("line", "month", "n", "channel"),
    ),
    (
        "category + measure",
        ["category", "merchants"],
        CATEGORIES,
        ("bar", "category", "merchants", None),
    ),
    (
        "decimal measure",
        ["tier", "avg_limit"],
        [("gold", Decimal("5000.50")), ("platinum", Decimal("12000.00"))],
        ("bar", "tier", "avg_limit", None),
    ),
    (
        "label + id + measure",
        ["customer_id", "first_name", "spend"],
        [(1, "Ann", 10.0), (2, "Bo", 20.0), (3, "Cy", 5.0)],
        ("bar", "first_name", "spend", None),
    ),
    (
        "repeated labels split by a category",
        ["merchant", "city", "spend"],
        [("QuickFuel", "Phoenix", 5.0), ("QuickFuel", "Tucson", 4.0), ("Grill", "Phoenix", 3.0)],
        ("bar", "merchant", "spend", "city"),
    ),
    (
        "two measures",
        ["amount", "fee"],
        [(10.0, 0.3), (20.0, 0.5), (30.0, 0.9)],
        ("scatter", "amount", "fee", None),
    ),
    ("one text column", ["merchant_name"], [("A",), ("B",)], None),
    ("no rows", ["category", "n"], [], None),
    ("text only, one row", ["name", "city"], [("A", "Phoenix")], None),
    ("ids are not measures", ["card_id", "customer_id"], [(1, 2), (3, 4)], None),
    (
        "a listing of many columns",
        ["transaction_id", "card_id", "merchant_id", "ts", "amount", "status", "channel"],
        [
            (i, i + 1, i + 2, dt.datetime(2025, 1, 1, i), 9.5 * i, "approved", "online")
            for i in range(1, 6)
        ],
        None,
    ),
    (
        "too many categories for bars",
        ["name", "n"],
        [(f"m{i}", i) for i in range(80)],
        None,
    ),
    (
        "repeated times without a series",
        ["day", "n"],
        [(dt.date(2025, 1, 1), 1), (dt.date(2025, 1, 1), 2), (dt.date(2025, 1, 2), 3)],
        None,
    ),
]


@pytest.mark.parametrize(
    ("columns", "rows", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_default_chart_follows_the_shape(
    columns: list[str], rows: list[tuple[Any, ...]], expected: tuple[Any, ...] | None
) -> None:
    chart = choose_chart(columns, rows)
    if expected is None:
        assert chart is None
        return
    assert chart is not None
    assert (chart.kind, chart.x, chart.y, chart.color) == expected
    assert chart.options[0] == chart.kind


def test_the_choice_is_deterministic() -> None:
    assert choose_chart(["month", "spend"], MONTHS) == choose_chart(["month", "spend"], MONTHS)


@pytest.mark.parametrize(
    ("columns", "rows", "kinds"),
    [
        (["month", "spend"], MONTHS, ("line", "bar")),
        (["category", "merchants"], CATEGORIES, ("bar",)),
        (["category", "n", "spend"], [("a", 1, 2.0), ("b", 3, 1.0)], ("bar", "scatter")),
        (["customers"], [(5000,)], ("metric",)),
        (["name"], [("a",), ("b",)], ()),
    ],
)
def test_applicable_kinds(
    columns: list[str], rows: list[tuple[Any, ...]], kinds: tuple[str, ...]
) -> None:
    assert applicable_kinds(columns, rows) == kinds


def test_switching_kind_and_measure() -> None:
    columns = ["month", "transactions", "spend"]
    rows = [(dt.date(2025, m, 1), 10 * m, 99.5 * m) for m in range(1, 5)]
    line = choose_chart(columns, rows)
    assert line is not None and (line.kind, line.y) == ("line", "transactions")
    assert line.measures == ("transactions", "spend")
    bar = choose_chart(columns, rows, kind="bar", measure="spend")
    assert bar is not None and (bar.kind, bar.x, bar.y) == ("bar", "month", "spend")
    scatter = choose_chart(columns, rows, kind="scatter")
    assert scatter is not None and (scatter.x, scatter.y) == ("transactions", "spend")
    # A kind that does not fit gives None rather than a wrong chart.
    assert choose_chart(columns, rows, kind="metric") is None
    # An unknown measure falls back to the first one.
    assert choose_chart(columns, rows, measure="nope").y == "transactions"  # type: ignore[union-attr]


def test_a_listing_can_still_be_charted_on_request() -> None:
    case = next(c for c in CASES if c[0] == "a listing of many columns")
    columns, rows = case[1], case[2]
    assert choose_chart(columns, rows) is None
    chart = choose_chart(columns, rows, kind="line")
    assert chart is not None and (chart.x, chart.y) == ("ts", "amount")


def test_column_roles() -> None:
    columns = ["id", "year", "day", "city", "amount", "flag", "mixed", "empty"]
    rows = [
        (1, 2024, dt.date(2024, 1, 1), "Phoenix", Decimal("1.5"), True, "x", None),
        (2, 2025, dt.date(2024, 1, 2), "Tucson", 2.5, False, 3, None),
    ]
    assert column_roles(columns, rows) == (
        "nominal",
        "ordinal",
        "temporal",
        "nominal",
        "quantitative",
        "nominal",
        "nominal",
        "nominal",
    )


# --------------------------------------------------------------------------- Vega-Lite


@pytest.fixture(scope="module")
def validator() -> Any:
    """A validator for the Vega-Lite JSON schema shipped with altair (skip when absent)."""
    jsonschema = pytest.importorskip("jsonschema")
    altair = pytest.importorskip("altair")
    found = sorted(Path(altair.__file__).parent.glob("vegalite/v*/schema/vega-lite-schema.json"))
    if not found:
        pytest.skip("altair ships no Vega-Lite schema")
    schema = json.loads(found[-1].read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema)


SPEC_CASES = [
    ("line", ["month", "spend"], MONTHS),
    ("bar", ["category", "merchants"], CATEGORIES),
    ("bar", ["month", "spend"], MONTHS),
    ("scatter", ["amount", "fee"], [(10.0, 0.3), (20.0, 0.5)]),
    ("metric", ["customers"], [(5000,)]),
    (
        "line",
        ["month", "channel", "n"],
        [(dt.date(2025, m, 1), c, m) for m in (1, 2) for c in "ab"],
    ),
]


@pytest.mark.parametrize(("kind", "columns", "rows"), SPEC_CASES)
def test_specs_are_valid_vega_lite(
    validator: Any, kind: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    chart = choose_chart(columns, rows, kind=kind)  # type: ignore[arg-type]
    assert chart is not None
    spec = vega_lite_spec(chart, columns, rows)
    json.dumps(spec)  # plain JSON, nothing else
    errors = list(validator.iter_errors(spec))
    assert not errors, errors[0].message


def test_spec_encodes_the_chosen_columns_and_data() -> None:
    chart = choose_chart(["month", "spend"], MONTHS)
    assert chart is not None
    spec = vega_lite_spec(chart, ["month", "spend"], MONTHS)
    assert spec["mark"]["type"] == "line"
    x, y = spec["encoding"]["x"], spec["encoding"]["y"]
    assert (x["field"], x["type"], x["scale"]) == ("month", "temporal", {"type": "utc"})
    assert (y["field"], y["type"]) == ("spend", "quantitative")
    assert spec["data"]["values"][0] == {"month": "2025-01-01", "spend": 1000.0}
    assert [t["field"] for t in spec["encoding"]["tooltip"]] == ["month", "spend"]


@pytest.mark.parametrize(
    ("months", "monthly"),
    [
        (["2025-01", "2025-02", "2025-03"], True),
        ([dt.date(2025, 1, 1), dt.date(2025, 2, 1)], True),
        ([dt.datetime(2025, 1, 1), dt.datetime(2025, 2, 1)], True),
        ([dt.date(2025, 1, 1), dt.date(2025, 1, 2)], False),
        (["2025-01-01", "2025-01-15"], False),
    ],
)
def test_monthly_time_axes_are_labelled_by_month(months: list[Any], monthly: bool) -> None:
    rows = [(m, float(i)) for i, m in enumerate(months)]
    chart = choose_chart(["month", "spend"], rows)
    assert chart is not None and chart.kind == "line"
    axis = vega_lite_spec(chart, ["month", "spend"], rows)["encoding"]["x"].get("axis", {})
    assert ("'%b %Y'" in axis.get("labelExpr", "")) is monthly


def test_bar_of_categories_is_horizontal_in_query_order() -> None:
    chart = choose_chart(["category", "merchants"], CATEGORIES)
    assert chart is not None
    spec = vega_lite_spec(chart, ["category", "merchants"], CATEGORIES)
    assert spec["encoding"]["y"]["field"] == "category"
    assert spec["encoding"]["y"]["sort"] is None
    assert spec["encoding"]["x"]["field"] == "merchants"


def test_values_are_normalised_and_timestamps_read_as_utc() -> None:
    rows = [
        (dt.datetime(2025, 1, 1, 8, 30), Decimal("1.25")),
        (dt.datetime(2025, 1, 2, 9, 0), Decimal("2")),
    ]
    chart = choose_chart(["ts", "amount"], rows)
    assert chart is not None
    values = vega_lite_spec(chart, ["ts", "amount"], rows)["data"]["values"]
    assert values == [
        {"ts": "2025-01-01T08:30:00Z", "amount": 1.25},
        {"ts": "2025-01-02T09:00:00Z", "amount": 2},
    ]


def test_awkward_column_names_are_escaped_and_made_unique() -> None:
    columns = ["a.b", "n", "n"]
    rows = [("x", 1, 2), ("y", 3, 4)]
    chart = ChartSpec("bar", x="a.b", y="n", measures=("n",))
    spec = vega_lite_spec(chart, columns, rows)
    assert spec["encoding"]["y"]["field"] == "a\\.b"
    assert spec["encoding"]["y"]["title"] == "a.b"
    assert spec["data"]["values"][0] == {"a.b": "x", "n": 1, "n_2": 2}
    assert [t["field"] for t in spec["encoding"]["tooltip"]] == ["a\\.b", "n", "n_2"]


def test_spec_needs_axes_for_xy_charts() -> None:
    with pytest.raises(ValueError, match="needs x and y"):
        vega_lite_spec(ChartSpec("bar"), ["a"], [(1,)])


def test_sample_questions_get_sensible_charts(sample_db: Any) -> None:
    """Every example question of the sample database gets a chart that fits its result."""
    from sqlagent.sample import sample_questions

    seen: dict[str, str] = {}
    for item in sample_questions():
        result = sample_db.execute(item["sql"], max_rows=1000, timeout=30)
        chart = choose_chart(result.columns, result.rows)
        seen[item["question"]] = chart.kind if chart else "table"
        if chart is not None and chart.kind != "metric":
            spec = vega_lite_spec(chart, result.columns, result.rows)
            assert len(spec["data"]["values"]) == result.row_count
    assert seen["What was the total approved spend per month in 2025?"] == "line"
    assert seen["How many merchant locations are there per category?"] == "bar"
    assert seen["How many customers are there?"] == "metric"
    assert (
        seen["How many unique merchants are there in Phoenix and what are their names?"] == "table"
    )
