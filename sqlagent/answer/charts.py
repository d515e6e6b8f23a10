"""Charts chosen from the shape of a result, as declarative Vega-Lite specs.

The chart is never written by the model: it follows from the columns and rows alone, so the
same result always gets the same chart::

    from sqlagent.answer.charts import choose_chart, vega_lite_spec
    chart = choose_chart(answer.columns, answer.rows)    # None: the table says it best
    if chart is not None:
        spec = vega_lite_spec(chart, answer.columns, answer.rows)

The rules, in order: one row of numbers is a **metric**; a time or date column with a
measure is a **line**; a category with a measure is a **bar**; two measures are a
**scatter**; anything else is a table only. ``chart.options`` lists every kind that fits, so
an interface can offer to switch (``choose_chart(..., kind="bar")``).
"""

from __future__ import annotations

import datetime as _dt
import decimal
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ..types import to_json_value
from .export import unique_names

__all__ = [
    "CHART_KINDS",
    "ChartKind",
    "ChartSpec",
    "Role",
    "applicable_kinds",
    "choose_chart",
    "column_roles",
    "vega_lite_spec",
]

ChartKind = Literal["line", "bar", "scatter", "metric"]
CHART_KINDS: tuple[ChartKind, ...] = ("metric", "line", "bar", "scatter")
"""Every kind, in the order the rules prefer them."""

Role = Literal["temporal", "ordinal", "quantitative", "nominal"]
"""What a column is to a chart: a point in time, a countable time unit (year, month number),
a measure, or a category."""

MAX_BARS = 50
"""More categories than this make an unreadable bar chart."""
MAX_SERIES = 12
"""More coloured series than this cannot be told apart."""
MAX_METRICS = 6
"""A single row with more numbers than this is a table, not a row of metrics."""
MAX_UNUSED = 2
"""A result with more columns than the chart shows (besides measures) is a listing: the table
is the default view, though a chart can still be chosen."""

_ISO_DATE = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])$"  # a month written as 2025-01
    r"|^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?$"
)
_ID_NAME = re.compile(r"(^|_)(id|key|code|zip|zipcode|postal_code|phone)$|^id_", re.IGNORECASE)
_TIME_UNIT = re.compile(
    r"(^|_)(year|yr|quarter|qtr|month|mon|week|wk|day|dow|weekday|hour|hr|minute)s?$",
    re.IGNORECASE,
)
_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
_NUMBER_FORMAT = ",.4~f"


@dataclass(frozen=True)
class ChartSpec:
    """Which chart to draw and which columns it encodes (names as in the result).

    ``measures`` are the numeric columns that ``y`` may be switched to (for a metric: the
    numbers shown); ``options`` are every kind that fits this result, the default first.
    """

    kind: ChartKind
    x: str | None = None
    y: str | None = None
    color: str | None = None
    measures: tuple[str, ...] = ()
    options: tuple[ChartKind, ...] = ()


# --------------------------------------------------------------------------- column roles


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)


def _is_moment(value: Any) -> bool:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return True
    return isinstance(value, str) and bool(_ISO_DATE.match(value.strip()))


def _role(name: str, values: Sequence[Any]) -> Role:
    present = [v for v in values if v is not None]
    if not present:
        return "nominal"
    if all(_is_number(v) for v in present):
        if _TIME_UNIT.search(name) and all(float(v).is_integer() for v in present):
            return "ordinal"
        # Identifiers and codes are numbers nobody sums: they label rows.
        return "nominal" if _ID_NAME.search(name) else "quantitative"
    if all(_is_moment(v) for v in present):
        return "temporal"
    return "nominal"


def column_roles(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> tuple[Role, ...]:
    """The chart role of each column, from its name and its (non-NULL) values.

    >>> column_roles(["month", "city", "spend"], [("2025-01-01", "Phoenix", 1.5)])
    ('temporal', 'nominal', 'quantitative')
    """
    return tuple(_role(name, [row[i] for row in rows]) for i, name in enumerate(columns))


# --------------------------------------------------------------------------- choosing


@dataclass(frozen=True)
class _Shape:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    roles: tuple[Role, ...]

    def of_role(self, *roles: Role) -> list[int]:
        return [i for i, r in enumerate(self.roles) if r in roles]

    def distinct(self, *indices: int) -> int:
        return len({tuple(_key(row[i]) for i in indices) for row in self.rows})

    def unique(self, *indices: int) -> bool:
        return self.distinct(*indices) == len(self.rows)

    def labels(self) -> list[int]:
        """Nominal columns, plain labels before identifiers."""
        nominal = self.of_role("nominal")
        plain = [i for i in nominal if not _ID_NAME.search(self.columns[i])]
        return plain + [i for i in nominal if i not in plain]

    def series_for(self, x: int) -> int | None:
        """A category that splits rows sharing an ``x`` into a few series, or None."""
        candidates = [i for i in self.labels() if i != x]
        candidates.sort(key=lambda i: self.distinct(i))
        for i in candidates:
            n = self.distinct(i)
            if 1 < n <= MAX_SERIES and n < len(self.rows) and self.unique(x, i):
                return i
        return None


def _key(value: Any) -> Any:
    j = to_json_value(value)
    return repr(j) if isinstance(j, (dict, list)) else j


def _layouts(shape: _Shape) -> dict[ChartKind, tuple[int | None, int | None]]:
    """Every kind that fits, with its x and colour column (indices)."""
    measures = shape.of_role("quantitative")
    out: dict[ChartKind, tuple[int | None, int | None]] = {}
    n = len(shape.rows)
    if not measures or n == 0:
        return out
    if n == 1:
        if len(measures) <= MAX_METRICS:
            out["metric"] = (None, None)
        return out
    times = shape.of_role("temporal", "ordinal")
    if times:
        x = times[0]
        if shape.distinct(x) > 1:
            if shape.unique(x):
                out["line"] = (x, None)
            elif (color := shape.series_for(x)) is not None:
                out["line"] = (x, color)
    labels = shape.labels()
    bar_x = labels[0] if labels else (times[0] if times else None)
    if bar_x is not None and shape.distinct(bar_x) <= MAX_BARS:
        if shape.unique(bar_x):
            out["bar"] = (bar_x, None)
        elif (color := shape.series_for(bar_x)) is not None:
            out["bar"] = (bar_x, color)
    if len(measures) >= 2:
        colors = [i for i in labels if 1 < shape.distinct(i) <= MAX_SERIES]
        out["scatter"] = (None, colors[0] if colors else None)
    return out


def applicable_kinds(
    columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> tuple[ChartKind, ...]:
    """Every chart kind that fits this result, in the order the rules prefer them."""
    shape = _Shape(tuple(columns), tuple(tuple(r) for r in rows), column_roles(columns, rows))
    layouts = _layouts(shape)
    return tuple(k for k in CHART_KINDS if k in layouts)


def choose_chart(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    kind: ChartKind | None = None,
    measure: str | None = None,
) -> ChartSpec | None:
    """The chart for a result, or None when a table shows it best.

    With ``kind`` the chart of that kind is returned if it fits (None otherwise), even for a
    listing whose default is the table. ``measure`` picks the plotted numeric column (the
    first one by default).

    >>> choose_chart(["category", "merchants"], [("grocery", 12), ("fuel", 8)]).kind
    'bar'
    >>> choose_chart(["customers"], [(5000,)]).kind
    'metric'
    >>> choose_chart(["name"], [("a",), ("b",)]) is None
    True
    """
    cols = tuple(str(c) for c in columns)
    shape = _Shape(cols, tuple(tuple(r) for r in rows), column_roles(cols, rows))
    layouts = _layouts(shape)
    options = tuple(k for k in CHART_KINDS if k in layouts)
    if not options:
        return None
    measures = tuple(cols[i] for i in shape.of_role("quantitative"))
    if kind is None:
        kind = options[0]
        x, color = layouts[kind]
        shown = {i for i in (x, color) if i is not None} | set(shape.of_role("quantitative"))
        if kind != "metric" and len(cols) - len(shown) > MAX_UNUSED:
            return None
    elif kind not in layouts:
        return None
    x, color = layouts[kind]
    if kind == "metric":
        return ChartSpec("metric", measures=measures, options=options)
    if kind == "scatter":
        first = measure if measure in measures else measures[0]
        second = next(m for m in measures if m != first)
        return ChartSpec(
            "scatter",
            x=first,
            y=second,
            color=None if color is None else cols[color],
            measures=measures,
            options=options,
        )
    assert x is not None
    return ChartSpec(
        kind,
        x=cols[x],
        y=measure if measure in measures else measures[0],
        color=None if color is None else cols[color],
        measures=measures,
        options=options,
    )


# --------------------------------------------------------------------------- Vega-Lite


def _field(name: str) -> str:
    """A data key as a Vega-Lite field reference (dots and brackets would mean nesting)."""
    return re.sub(r"([.\[\]\\])", r"\\\1", name)


def _temporal_text(value: Any) -> Any:
    """ISO text read as UTC by the browser, so no time zone shifts a date to the day before."""
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            return value.isoformat() + "Z"
        return value.isoformat()
    if isinstance(value, str) and len(value.strip()) > 10:  # a timestamp written as text
        text = value.strip().replace(" ", "T", 1)
        return text if re.search(r"(Z|[+-]\d{2}:?\d{2})$", text) else text + "Z"
    return to_json_value(value)


_MONTH_START = re.compile(r"\d{4}-\d{2}(-01([ T]00:00(:00)?)?)?")


def _monthly(values: Sequence[Any]) -> bool:
    """True when every value is the start of a month (``2025-03``, ``2025-03-01``, a date or
    midnight timestamp on the 1st): axis labels should then name months, not days."""
    present = [v for v in values if v is not None]
    if not present:
        return False
    for value in present:
        if isinstance(value, _dt.datetime):
            if value.day != 1 or value.time() != _dt.time(0):
                return False
        elif isinstance(value, _dt.date):
            if value.day != 1:
                return False
        elif not (isinstance(value, str) and _MONTH_START.fullmatch(value.strip())):
            return False
    return True


def vega_lite_spec(
    chart: ChartSpec, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> dict[str, Any]:
    """A self-contained Vega-Lite (v5) spec drawing ``chart`` over the result's rows.

    The data is inlined (values normalised as in JSON output); every column is in the
    tooltip. The spec is plain JSON-able data, safe to serialise or render anywhere.
    """
    cols = [str(c) for c in columns]
    keys = unique_names(cols)
    by_name: dict[str, str] = {}
    for name, key in zip(cols, keys, strict=True):
        by_name.setdefault(name, key)  # a repeated name means its first column
    roles = column_roles(cols, rows)
    role_of = {k: r for k, r in zip(keys, roles, strict=True)}

    values = []
    for row in rows:
        record = {}
        for key, role, value in zip(keys, roles, row, strict=False):
            record[key] = _temporal_text(value) if role == "temporal" else to_json_value(value)
        values.append(record)

    def enc(name: str, **extra: Any) -> dict[str, Any]:
        key = by_name[name]
        role = role_of[key]
        vl_type = "nominal" if role == "nominal" else role
        out: dict[str, Any] = {"field": _field(key), "type": vl_type, "title": name}
        if role == "temporal":
            out["scale"] = {"type": "utc"}
        elif role == "ordinal":
            out["sort"] = "ascending"
        out.update(extra)
        return out

    def tooltip() -> list[dict[str, Any]]:
        tips = []
        for name, key in zip(cols, keys, strict=True):
            role = role_of[key]
            tip: dict[str, Any] = {"field": _field(key), "title": name}
            if role == "quantitative":
                tip.update(type="quantitative", format=_NUMBER_FORMAT)
            else:
                # The value as the table shows it (dates as written, not re-formatted).
                tip["type"] = "nominal"
            tips.append(tip)
        return tips

    spec: dict[str, Any] = {"$schema": _SCHEMA, "data": {"values": values}}
    if chart.kind == "metric":
        first = chart.measures[0] if chart.measures else cols[0]
        spec["mark"] = {"type": "text", "fontSize": 40, "fontWeight": "bold"}
        spec["encoding"] = {"text": enc(first, format=_NUMBER_FORMAT)}
        return spec
    if chart.y is None or chart.x is None:
        raise ValueError(f"A {chart.kind} chart needs x and y columns")

    encoding: dict[str, Any] = {"tooltip": tooltip()}
    y_axis = enc(chart.y)
    x_key = by_name.get(chart.x) if chart.x is not None else None
    monthly = (
        x_key is not None
        and role_of[x_key] == "temporal"
        and _monthly([r[keys.index(x_key)] for r in rows])
    )
    if chart.kind == "line":
        spec["mark"] = {"type": "line", "point": True}
        encoding["x"] = enc(chart.x)
        if monthly:  # "Jan 2025", not the default's "2025" for January and day ticks
            # A label expression, since Vega ignores format with formatType "utc" here and a
            # local-time format would show December for January west of Greenwich.
            encoding["x"]["axis"] = {
                "labelExpr": "utcFormat(datum.value, '%b %Y')",
                "tickCount": "month",
            }
        encoding["y"] = y_axis
    elif chart.kind == "bar":
        spec["mark"] = {"type": "bar", "cornerRadiusEnd": 3}
        if role_of[by_name[chart.x]] == "nominal":
            # Horizontal bars keep long labels readable; rows stay in the query's order.
            encoding["y"] = enc(chart.x, sort=None, axis={"labelLimit": 220})
            encoding["x"] = y_axis
            spec["height"] = {"step": 24 if chart.color is None else 28}
        else:
            x_enc = enc(chart.x, type="ordinal", axis={"labelAngle": -45})
            if x_enc.pop("scale", None) is not None:  # a temporal column, drawn as steps
                x_enc["timeUnit"] = "utcyearmonth" if monthly else "utcyearmonthdate"
            encoding["x"] = x_enc
            encoding["y"] = y_axis
    elif chart.kind == "scatter":
        spec["mark"] = {"type": "point", "filled": True, "size": 60}
        encoding["x"] = enc(chart.x)
        encoding["y"] = y_axis
    else:  # pragma: no cover - ChartKind is closed
        raise ValueError(f"Unknown chart kind {chart.kind!r}")
    if chart.color is not None:
        encoding["color"] = enc(chart.color, type="nominal")
    spec["encoding"] = encoding
    return spec
