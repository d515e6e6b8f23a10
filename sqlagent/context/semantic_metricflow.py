"""dbt MetricFlow YAML (``semantic_models``, ``metrics``, and the ``models`` docs beside them)
read into named expressions and table notes.

A semantic model's ``model: ref('orders')`` is the table ``orders``; dimensions and entities
that are plain columns give column notes; measures become named expressions (``agg(expr)``).
Metrics are resolved across every file read together, since a metric may use a measure of
another file: simple (a measure with an optional filter), ratio, cumulative and derived
metrics are supported; conversion metrics, period-over-period offsets and filters that name
something no semantic model defines are skipped with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .knowledge import NamedExpression
from .semantic_model import LineDict, LineList, Reader, clean_text, text_list

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_REF = re.compile(r"""^\s*ref\(\s*(?:['"][^'"]+['"]\s*,\s*)?['"]([^'"]+)['"]\s*(?:,[^)]*)?\)\s*$""")
_JINJA = re.compile(
    r"""\{\{\s*(Dimension|TimeDimension|Entity)\(\s*['"]([^'"]+)['"]"""
    r"""(?:\s*,\s*['"][^'"]*['"])?\s*\)(?:\s*\.\s*\w+\([^)]*\))*\s*\}\}"""
)
_AGGS = {
    "sum": "SUM({x})",
    "max": "MAX({x})",
    "min": "MIN({x})",
    "count": "COUNT({x})",
    "count_distinct": "COUNT(DISTINCT {x})",
    "average": "AVG({x})",
    "avg": "AVG({x})",
    "median": "MEDIAN({x})",
    "sum_boolean": "SUM(CASE WHEN {x} THEN 1 ELSE 0 END)",
}


@dataclass
class _Measure:
    name: str
    table: str
    agg: str
    expr: str
    line: int
    source: str
    time: str | None = None
    percentile: float | None = None
    discrete: bool = False

    def sql(self, condition: str | None = None) -> str:
        """The aggregate, counting only rows that meet ``condition`` when given."""
        if self.agg == "percentile":
            func = "PERCENTILE_DISC" if self.discrete else "PERCENTILE_CONT"
            arg = f"CASE WHEN {condition} THEN {self.expr} END" if condition else self.expr
            return f"{func}({self.percentile}) WITHIN GROUP (ORDER BY {arg})"
        if self.agg == "sum_boolean":
            inner = f"({condition}) AND ({self.expr})" if condition else self.expr
            return _AGGS["sum_boolean"].format(x=inner)
        arg = f"CASE WHEN {condition} THEN {self.expr} END" if condition else self.expr
        return _AGGS[self.agg].format(x=arg)


@dataclass
class _Model:
    """What the metrics need of the semantic models of every file."""

    measures: dict[str, _Measure] = field(default_factory=dict)
    dimensions: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Dimension or entity name → (table, SQL expression)."""
    pending: list[tuple[Reader, LineDict]] = field(default_factory=list)


def read_metricflow(data: LineDict, reader: Reader) -> None:
    """Read one MetricFlow file's docs and semantic models; its metrics wait in
    ``reader.pending_metrics`` for ``resolve_metrics`` (they may use other files' measures)."""
    model = _Model()
    reader.metricflow = model
    for key in data:
        if key in ("semantic_models", "metrics", "models", "version"):
            continue
        if key in ("saved_queries",):
            reader.skip(
                data.line_of(key), str(key), "saved queries are not used (their metrics are)"
            )
        # Other dbt keys (sources, unit_tests, seeds, macros...) hold no semantics: ignored.
    _models_docs(data.get("models"), reader)
    items = data.get("semantic_models")
    if items is not None:
        for item, line in _entries(items, data.line_of("semantic_models")):
            _semantic_model(item, line, reader, model)
    metrics = data.get("metrics")
    if metrics is not None:
        for item, line in _entries(metrics, data.line_of("metrics")):
            if not isinstance(item, LineDict):
                reader.skip(line, "metric", "must be a mapping with name and type")
                continue
            model.pending.append((reader, item))


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _entries(value: Any, line: int) -> list[tuple[Any, int]]:
    if not isinstance(value, LineList):
        return [(value, line)] if value else []
    return list(zip(value, value.item_lines, strict=True))


def _models_docs(value: Any, reader: Reader) -> None:
    """dbt model docs: the model's and its columns' descriptions."""
    if not isinstance(value, LineList):
        return
    for item, line in _entries(value, value.line):
        if not isinstance(item, LineDict) or not isinstance(item.get("name"), str):
            continue
        draft = reader.table(item["name"], line)
        draft.describe(clean_text(item.get("description")))
        columns = item.get("columns")
        if isinstance(columns, LineList):
            for col in columns:
                if isinstance(col, LineDict) and isinstance(col.get("name"), str):
                    desc = clean_text(col.get("description"))
                    if desc:
                        draft.column(col["name"], desc)


def table_of(item: LineDict) -> str | None:
    """The table a semantic model reads: ``ref('x')`` → ``x``; ``node_relation.alias``."""
    ref = item.get("model")
    if isinstance(ref, str):
        found = _REF.match(ref)
        if found:
            return found.group(1)
        if _IDENT.match(ref.strip()):
            return ref.strip()
    relation = item.get("node_relation")
    if isinstance(relation, dict) and isinstance(relation.get("alias"), str):
        return str(relation["alias"])
    return None


def _semantic_model(item: Any, line: int, reader: Reader, model: _Model) -> None:
    if not isinstance(item, LineDict) or not isinstance(item.get("name"), str):
        reader.skip(line, "semantic model", "must be a mapping with a name")
        return
    name = item["name"]
    table = table_of(item)
    if table is None:
        reader.skip(
            item.line_of("model"),
            f"semantic model {name}",
            f"model {item.get('model')!r} is not a ref('table') this can read",
        )
        return
    draft = reader.table(table, line)
    draft.describe(clean_text(item.get("description")))
    defaults = _mapping(item.get("defaults"))
    default_time = defaults.get("agg_time_dimension") if defaults else None

    for ent, eline in _entries(item.get("entities"), item.line_of("entities")):
        if not isinstance(ent, LineDict) or not isinstance(ent.get("name"), str):
            reader.skip(eline, f"entity of {name}", "must be a mapping with a name")
            continue
        expr = str(ent.get("expr") or ent["name"]).strip()
        model.dimensions.setdefault(ent["name"].lower(), (table, expr))
        if _IDENT.match(expr):
            synonyms = [ent["name"]] if ent["name"].lower() != expr.lower() else []
            draft.column(expr, clean_text(ent.get("description")), synonyms)

    for dim, dline in _entries(item.get("dimensions"), item.line_of("dimensions")):
        if not isinstance(dim, LineDict) or not isinstance(dim.get("name"), str):
            reader.skip(dline, f"dimension of {name}", "must be a mapping with a name")
            continue
        kind = str(dim.get("type") or "").lower()
        if kind not in ("categorical", "time"):
            reader.skip(
                dim.line_of("type"),
                f"dimension {dim['name']}",
                f"type {dim.get('type')!r} is not categorical or time",
            )
            continue
        expr = str(dim.get("expr") if dim.get("expr") is not None else dim["name"]).strip()
        model.dimensions.setdefault(dim["name"].lower(), (table, expr))
        synonyms = list(text_list(dim.get("label")))
        if _IDENT.match(expr):
            if dim["name"].lower() != expr.lower():
                synonyms.append(dim["name"])
            draft.column(expr, clean_text(dim.get("description")), synonyms)
        else:
            reader.expressions.append(
                NamedExpression(
                    name=dim["name"],
                    kind="dimension",
                    table=table,
                    sql=expr,
                    description=clean_text(dim.get("description")),
                    label=clean_text(dim.get("label")),
                    tables=(table,),
                    origin=reader.at(dline),
                )
            )

    for mea, mline in _entries(item.get("measures"), item.line_of("measures")):
        _measure(mea, mline, table, default_time, reader, model)


def _measure(
    mea: Any,
    line: int,
    table: str,
    default_time: Any,
    reader: Reader,
    model: _Model,
) -> None:
    if not isinstance(mea, LineDict) or not isinstance(mea.get("name"), str):
        reader.skip(line, "measure", "must be a mapping with a name")
        return
    name = mea["name"]
    agg = str(mea.get("agg") or "").lower()
    if agg not in _AGGS and agg != "percentile":
        reader.skip(
            mea.line_of("agg"), f"measure {name}", f"aggregation {agg or None!r} is unknown"
        )
        return
    expr = str(mea.get("expr") if mea.get("expr") is not None else name).strip()
    measure = _Measure(name, table, agg, expr, line, reader.source)
    time = mea.get("agg_time_dimension") or default_time
    measure.time = str(time) if time else None
    if agg == "percentile":
        params = _mapping(mea.get("agg_params"))
        pct = params.get("percentile") if params else None
        if not isinstance(pct, (int, float)) or not 0 <= pct <= 1:
            reader.skip(
                mea.line_of("agg_params"),
                f"measure {name}",
                "a percentile measure needs agg_params.percentile between 0 and 1",
            )
            return
        measure.percentile = float(pct)
        measure.discrete = bool(params.get("use_discrete_percentile"))
    note = None
    if isinstance(mea.get("non_additive_dimension"), dict):
        nad = mea["non_additive_dimension"]
        note = (
            f"not additive over {nad.get('name')}: take the "
            f"{nad.get('window_choice', 'max')} {nad.get('name')} only"
        )
    model.measures.setdefault(name.lower(), measure)
    reader.expressions.append(
        NamedExpression(
            name=name,
            kind="measure",
            table=table,
            sql=measure.sql(),
            description=clean_text(mea.get("description")),
            label=clean_text(mea.get("label")),
            tables=(table,),
            note=note,
            origin=reader.at(line),
        )
    )


# --------------------------------------------------------------------------- metrics


class _Unusable(Exception):
    """A metric that cannot be written as SQL; the message says why."""


@dataclass(frozen=True)
class _Resolved:
    sql: str
    """The aggregate with its own filter written in (usable inside other metrics)."""
    plain: str
    """The aggregate without its filter."""
    filter: str | None
    tables: tuple[str, ...]
    note: str | None = None


def resolve_metrics(readers: Sequence[Reader]) -> None:
    """Turn the pending metrics of every MetricFlow file read together into named
    expressions (or skipped entries, with the reason)."""
    whole = _Model()
    for reader in readers:
        part: _Model | None = getattr(reader, "metricflow", None)
        if part is None:
            continue
        for key, m in part.measures.items():
            whole.measures.setdefault(key, m)
        for key, d in part.dimensions.items():
            whole.dimensions.setdefault(key, d)
        whole.pending.extend(part.pending)
    raw: dict[str, tuple[Reader, LineDict]] = {}
    for reader, item in whole.pending:
        if isinstance(item.get("name"), str):
            raw.setdefault(item["name"].lower(), (reader, item))
    done: dict[str, _Resolved] = {}
    failed: dict[str, str] = {}
    used: set[str] = set()

    def resolve(name: str, stack: tuple[str, ...]) -> _Resolved:
        key = name.lower()
        if key in done:
            return done[key]
        if key in failed:
            raise _Unusable(f"it uses metric {name}, which is skipped")
        if key in stack:
            raise _Unusable(f"it refers to itself through {' -> '.join((*stack, name))}")
        if key not in raw:
            raise _Unusable(f"it uses metric {name!r}, which is not defined")
        _reader, item = raw[key]
        result = _metric(item, whole, lambda n: resolve(n, (*stack, name)))
        done[key] = result
        return result

    for reader, item in whole.pending:
        line = item.line
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            reader.skip(line, "metric", "has no name")
            continue
        what = f"metric {name}"
        first = raw[name.lower()]
        if first[1] is not item:
            reader.skip(line, what, f"also defined at {first[0].at(first[1].line)}")
            continue
        try:
            result = resolve(name, ())
        except _Unusable as exc:
            failed[name.lower()] = str(exc)
            reader.skip(line, what, str(exc))
            continue
        reader.expressions.append(
            NamedExpression(
                name=name,
                kind="metric",
                table=result.tables[0],
                sql=result.plain if result.filter else result.sql,
                filter=result.filter,
                description=clean_text(item.get("description")),
                label=clean_text(item.get("label")),
                tables=result.tables,
                note=result.note,
                origin=reader.at(line),
            )
        )
        used.update(_measures_used(item))
    # A measure a metric publishes is shown through the metric only: MetricFlow's measures
    # are building blocks, and the metric says which rows count.
    for reader in readers:
        reader.expressions[:] = [
            e for e in reader.expressions if not (e.kind == "measure" and e.name.lower() in used)
        ]


def _measures_used(item: LineDict) -> set[str]:
    ref = _mapping(item.get("type_params")).get("measure")
    name = ref.get("name") if isinstance(ref, dict) else ref
    return {name.strip().lower()} if isinstance(name, str) and name.strip() else set()


def _metric(item: LineDict, model: _Model, resolve: Any) -> _Resolved:
    kind = str(item.get("type") or "").lower()
    params = _mapping(item.get("type_params"))
    if kind in ("simple", "cumulative"):
        measure = _measure_ref(params.get("measure"), model)
        own, own_tables = _filter(item.get("filter"), model, measure)
        extra, extra_tables = _filter(_ref_filter(params.get("measure")), model, measure)
        cond = _and(own, extra)
        tables = tuple(dict.fromkeys((measure.table, *own_tables, *extra_tables)))
        note = _cumulative_note(params, measure, model) if kind == "cumulative" else None
        return _Resolved(measure.sql(cond), measure.sql(), cond, tables, note)
    if item.get("filter") is not None:
        raise _Unusable(f"a filter on a {kind or 'typeless'} metric cannot be written into its SQL")
    if kind == "ratio":
        num = _metric_ref(params.get("numerator"), "numerator", resolve)
        den = _metric_ref(params.get("denominator"), "denominator", resolve)
        sql = f"1.0 * {num.sql} / NULLIF({den.sql}, 0)"
        return _Resolved(sql, sql, None, tuple(dict.fromkeys(num.tables + den.tables)))
    if kind == "derived":
        return _derived(params, resolve)
    if kind == "conversion":
        raise _Unusable("conversion metrics (funnels between events) are not supported")
    raise _Unusable(f"type {item.get('type')!r} is not simple, ratio, cumulative or derived")


def _cumulative_note(params: Any, measure: _Measure, model: _Model) -> str:
    cumulative = params.get("cumulative_type_params")
    cparams = cumulative if isinstance(cumulative, dict) else params
    window = cparams.get("window")
    grain = cparams.get("grain_to_date")
    time = model.dimensions.get((measure.time or "").lower(), ("", measure.time or ""))[1]
    if window:
        how = f"a running {measure.agg} over a trailing window of {window}"
    elif grain:
        how = f"a running {measure.agg} since the start of each {grain}"
    else:
        how = f"a running {measure.agg} over all time"
    return f"cumulative: {how}, ordered by {time or 'the time dimension'}"


def _derived(params: Any, resolve: Any) -> _Resolved:
    expr = params.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        raise _Unusable("a derived metric needs type_params.expr")
    parts = params.get("metrics")
    if not isinstance(parts, list) or not parts:
        raise _Unusable("a derived metric needs type_params.metrics")
    names: dict[str, _Resolved] = {}
    for part in parts:
        alias = part
        if isinstance(part, dict):
            if part.get("offset_window") or part.get("offset_to_grain"):
                raise _Unusable(
                    "period-over-period offsets (offset_window, offset_to_grain) "
                    "cannot be written as one expression"
                )
            alias = part.get("alias") or part.get("name")
        names[str(alias)] = _metric_ref(part, "metric", resolve)
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b")
    sql = pattern.sub(lambda m: f"({names[m.group(1)].sql})", expr.strip())
    tables = tuple(dict.fromkeys(t for r in names.values() for t in r.tables))
    return _Resolved(sql, sql, None, tables)


def _and(first: str | None, second: str | None) -> str | None:
    if first and second:
        return f"({first}) AND ({second})"
    return first or second


def _ref_filter(ref: Any) -> Any:
    return ref.get("filter") if isinstance(ref, dict) else None


def _measure_ref(ref: Any, model: _Model) -> _Measure:
    name = ref.get("name") if isinstance(ref, dict) else ref
    if not isinstance(name, str) or not name.strip():
        raise _Unusable("it names no measure (type_params.measure)")
    measure = model.measures.get(name.strip().lower())
    if measure is None:
        raise _Unusable(f"measure {name!r} is not defined in any semantic model read")
    return measure


def _metric_ref(ref: Any, role: str, resolve: Any) -> _Resolved:
    name = ref.get("name") if isinstance(ref, dict) else ref
    if not isinstance(name, str) or not name.strip():
        raise _Unusable(f"its {role} names no metric")
    if _ref_filter(ref) is not None:
        raise _Unusable(f"a filter on its {role} ({name}) is not supported")
    resolved: _Resolved = resolve(name.strip())
    return resolved


def _filter(
    value: Any, model: _Model, measure: _Measure | None
) -> tuple[str | None, tuple[str, ...]]:
    """A MetricFlow filter (Jinja ``{{ Dimension('entity__name') }}`` templates) as SQL, with
    the tables of the dimensions it names."""
    if value is None:
        return None, ()
    items = value if isinstance(value, list) else [value]
    parts = []
    tables: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise _Unusable("a filter must be text")

        def replace(found: re.Match[str]) -> str:
            kind, ref = found.group(1), found.group(2)
            name = ref.split("__")[-1].lower()
            if kind == "TimeDimension" and name == "metric_time" and measure is not None:
                name = (measure.time or "").lower()
            hit = model.dimensions.get(name)
            if hit is None:
                raise _Unusable(f"its filter uses {kind}({ref!r}), which no semantic model defines")
            if hit[0] not in tables:
                tables.append(hit[0])
            return hit[1]

        text = _JINJA.sub(replace, item.strip())
        if "{{" in text or "{%" in text:
            raise _Unusable("its filter uses a template this cannot read")
        if text:
            parts.append(text)
    if not parts:
        return None, ()
    sql = parts[0] if len(parts) == 1 else " AND ".join(f"({p})" for p in parts)
    return sql, tuple(tables)
