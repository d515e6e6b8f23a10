"""Execution accuracy: do two queries return the same answer? The official rules, reimplemented.

**Spider** (taoyds/test-suite-sql-eval, ``exec_eval.py``: ``eval_exec_match`` and
``result_eq``; ``parse.py``: ``remove_distinct``), the default:

1. ``postprocess``: ``"> ="``, ``"< ="``, ``"! ="`` become ``>=``, ``<=``, ``!=`` in both queries.
2. Unless ``keep_distinct`` (off by default there), every ``DISTINCT`` keyword is deleted from
   both queries before they run, ``COUNT(DISTINCT x)`` included (it becomes ``COUNT( x)``).
   String literals, quoted identifiers and comments are left alone.
3. ``YEAR(CURDATE())`` is replaced by ``2020`` (``replace_cur_year``).
4. Row order matters iff the processed gold text contains ``order by`` (a plain, lower-cased
   substring test: ``'order by' in g_str.lower()``).
5. The gold query must run; a prediction that raises is wrong.
6. ``result_eq(gold, pred, order_matters)``: two empty results are equal; a different number of
   rows, or of columns (counted on the first row), is not. Then a quick rejection: each row's
   values are sorted by ``str(v) + str(type(v))`` and the lists of such rows (order matters)
   or their sets (it does not) must be equal. Then a search over column permutations of the
   prediction, each predicted column restricted to gold columns holding all its values: the
   results are equal if some permutation makes them equal as lists (order matters) or as
   multisets (it does not). Values compare with Python's ``==``: ``1 == 1.0``, ``None == None``,
   ``'1' != 1``, ``0.30000000000000004 != 0.3``.

   The official code prunes permutations by sampling 20 random rows (for more than three
   columns); pruning can only drop permutations that cannot match, so pruning with every row,
   as done here, gives the same verdict, deterministically.

The official evaluator also runs both queries on every database of a "test suite" of
perturbed copies; with one database per question, as in the public Spider and BIRD releases,
that is the single database given.

**BIRD** (``evaluation.py``: ``set(predicted_res) == set(ground_truth_res)``): both queries run
as written (no DISTINCT removal); the sets of rows must be equal. Column order matters, row
order and duplicates do not.

Extensions, which leave every same-engine SQLite comparison exactly as above: values that
Python cannot hash (arrays, structs, JSON from DuckDB or PostgreSQL) are compared by their JSON
text; and when the gold and predicted queries run on different engines (gold on the reference
SQLite file, prediction on a DuckDB copy), values are first made comparable with
``sqlagent.types.to_json_value`` (Decimal to number, dates to ISO text).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ..types import to_json_value

if TYPE_CHECKING:
    from ..db.base import Database

Rows = Sequence[tuple[Any, ...]]
Rules = Literal["spider", "bird"]

RULES: tuple[Rules, ...] = ("spider", "bird")
SCORING_MAX_ROWS = 200_000
"""Rows fetched when a query is run for scoring (the answer shown to a user is bounded lower)."""

__all__ = [
    "RULES",
    "GoldFailed",
    "Verdict",
    "compare_results",
    "exec_match",
    "match_expected",
    "order_matters",
    "postprocess",
    "remove_distinct",
    "replace_cur_year",
    "result_eq",
]


@dataclass(frozen=True)
class Verdict:
    """Whether a prediction matches, and a one-line reason."""

    correct: bool
    reason: str
    order_matters: bool = False


class GoldFailed(Exception):
    """The gold query itself failed: the item cannot be scored (the official code asserts)."""


# --------------------------------------------------------------------------- query text


def postprocess(sql: str) -> str:
    """Join comparison operators split by a space, as the official ``postprocess`` does.

    >>> postprocess("SELECT a FROM t WHERE b > = 1")
    'SELECT a FROM t WHERE b >= 1'
    """
    return sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")


_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)


def replace_cur_year(sql: str) -> str:
    """``YEAR(CURDATE())`` becomes ``2020``, as in the official ``replace_cur_year``."""
    return _CUR_YEAR.sub("2020", sql)


def remove_distinct(sql: str, dialect: str = "sqlite") -> str:
    """Delete every ``DISTINCT`` keyword; strings, quoted names and comments stay.

    The official code joins sqlparse's tokens without those whose text is ``distinct``; here
    sqlglot's tokenizer finds the keyword and only its characters are cut out.

    >>> remove_distinct("SELECT DISTINCT a, count(DISTINCT b) FROM t WHERE c = 'distinct'")
    "SELECT  a, count( b) FROM t WHERE c = 'distinct'"
    """
    if "distinct" not in sql.lower():
        return sql
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import SqlglotError
    from sqlglot.tokens import TokenType

    try:
        tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    except (SqlglotError, ValueError):
        return sql  # what cannot be tokenised runs (and fails) as written
    spans = [
        (t.start, t.end + 1)
        for t in tokens
        if t.text.lower() == "distinct"
        and t.token_type not in (TokenType.STRING, TokenType.IDENTIFIER)
        # a quoted name "distinct" keeps its quotes in the source: not the keyword
        and sql[t.start : t.end + 1].lower() == "distinct"
    ]
    out, last = [], 0
    for start, end in spans:
        out.append(sql[last:start])
        last = end
    out.append(sql[last:])
    return "".join(out)


def order_matters(gold_sql: str) -> bool:
    """True when the (processed) gold query has ``order by``: a substring test, as official."""
    return "order by" in gold_sql.lower()


# --------------------------------------------------------------------------- results


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, dict, set)):
        return json.dumps(to_json_value(value), sort_keys=True, default=str)
    return value


def _prepare(rows: Rows, *, portable: bool) -> list[tuple[Any, ...]]:
    if portable:
        return [tuple(_hashable(to_json_value(v)) for v in row) for row in rows]
    return [tuple(_hashable(v) for v in row) for row in rows]


def _unorder_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def _permutations(candidates: list[set[int]]) -> Iterator[tuple[int, ...]]:
    """Injective choices of one predicted column per gold column, each from its candidates."""
    n = len(candidates)
    chosen: list[int] = []
    used: set[int] = set()

    def walk(i: int) -> Iterator[tuple[int, ...]]:
        if i == n:
            yield tuple(chosen)
            return
        for col in sorted(candidates[i]):
            if col not in used:
                used.add(col)
                chosen.append(col)
                yield from walk(i + 1)
                chosen.pop()
                used.discard(col)

    return walk(0)


def compare_results(gold: Rows, pred: Rows, *, ordered: bool) -> tuple[bool, str]:
    """The official ``result_eq`` with a reason: ``(equal, why)``; see the module docstring."""
    if len(gold) == 0 and len(pred) == 0:
        return True, "both results are empty"
    if len(gold) != len(pred):
        return False, f"row count differs: gold {len(gold)}, predicted {len(pred)}"
    width = len(gold[0])
    if len(pred[0]) != width:
        return False, f"column count differs: gold {width}, predicted {len(pred[0])}"
    s1 = [_unorder_row(r) for r in gold]
    s2 = [_unorder_row(r) for r in pred]
    if (s1 != s2) if ordered else (set(s1) != set(s2)):
        return False, "values differ" + (" (or their order)" if ordered else "")
    gold_sets = [{row[i] for row in gold} for i in range(width)]
    # candidates[i]: predicted columns that may stand in gold column i.
    candidates = [set(range(width)) for _ in range(width)]
    if width > 3:
        for row in pred:
            for i in range(width):
                candidates[i] = {c for c in candidates[i] if row[c] in gold_sets[i]}
    gold_bag = None if ordered else Counter(gold)
    for perm in _permutations(candidates):
        permuted = list(pred) if width == 1 else [tuple(row[c] for c in perm) for row in pred]
        if ordered:
            if list(gold) == permuted:
                return True, "same rows in the same order"
        elif set(gold) == set(permuted) and gold_bag == Counter(permuted):
            return True, "same rows" if perm == tuple(
                range(width)
            ) else "same rows, columns permuted"
    if ordered:
        return False, "rows differ in content or order"
    return False, "rows differ (as a multiset, under every column permutation)"


def result_eq(gold: Rows, pred: Rows, order_matters: bool) -> bool:
    """The official ``result_eq``: True when ``pred`` denotes the same answer as ``gold``."""
    return compare_results(gold, pred, ordered=order_matters)[0]


def compare_sets(gold: Rows, pred: Rows) -> tuple[bool, str]:
    """BIRD's rule: the sets of rows are equal."""
    if set(gold) == set(pred):
        return True, "same set of rows"
    return False, "the sets of rows differ"


# --------------------------------------------------------------------------- executing


def _run(db: Database, sql: str, timeout: float) -> Rows:
    return db.execute(sql, max_rows=SCORING_MAX_ROWS, timeout=timeout).rows


def exec_match(
    gold_sql: str,
    pred_sql: str | None,
    *,
    gold_db: Database,
    pred_db: Database | None = None,
    rules: Rules = "spider",
    keep_distinct: bool = False,
    pred_rows: Rows | None = None,
    timeout: float = 30.0,
) -> Verdict:
    """Run gold and predicted SQL and compare them under ``rules``; see the module docstring.

    ``pred_rows``, when given, are the rows the prediction already returned (complete, not
    truncated); they are reused when the rules leave the predicted text unchanged. Raises
    ``GoldFailed`` when the gold query fails.

    >>> exec_match("SELECT a, b FROM t", "SELECT b, a FROM t", gold_db=db)  # doctest: +SKIP
    Verdict(correct=True, reason='same rows, columns permuted', order_matters=False)
    """
    from ..errors import SqlAgentError

    pred_db = pred_db or gold_db
    if rules == "bird":
        gold_text, pred_text = gold_sql, pred_sql
        ordered = False
    else:
        gold_text = replace_cur_year(postprocess(gold_sql))
        pred_text = replace_cur_year(postprocess(pred_sql)) if pred_sql else None
        if not keep_distinct:
            gold_text = remove_distinct(gold_text, gold_db.dialect)
            pred_text = remove_distinct(pred_text, pred_db.dialect) if pred_text else None
        ordered = order_matters(gold_text)
    try:
        gold_rows = _run(gold_db, gold_text, timeout)
    except SqlAgentError as exc:
        raise GoldFailed(f"the gold query failed: {exc.message}") from exc
    if pred_text is None:
        return Verdict(False, "no predicted SQL", ordered)
    if pred_rows is None or pred_text != pred_sql:
        try:
            pred_rows = _run(pred_db, pred_text, timeout)
        except SqlAgentError as exc:
            return Verdict(False, f"the predicted query failed: {exc.message}", ordered)
    portable = pred_db.dialect != gold_db.dialect
    gold_p = _prepare(gold_rows, portable=portable)
    pred_p = _prepare(pred_rows, portable=portable)
    if rules == "bird":
        ok, why = compare_sets(gold_p, pred_p)
    else:
        ok, why = compare_results(gold_p, pred_p, ordered=ordered)
    return Verdict(ok, why, ordered)


def match_expected(
    expected: Rows, pred_rows: Rows | None, *, ordered: bool = False, rules: Rules = "spider"
) -> Verdict:
    """Compare a prediction's rows with expected rows written by hand (YAML/JSON values).

    Both sides pass through ``to_json_value`` first, so ``2024-01-31`` in a YAML file equals a
    DATE from the database and ``12.50`` equals ``Decimal('12.50')``.
    """
    if pred_rows is None:
        return Verdict(False, "no predicted result", ordered)
    want = _prepare(expected, portable=True)
    got = _prepare(pred_rows, portable=True)
    if rules == "bird":
        ok, why = compare_sets(want, got)
    else:
        ok, why = compare_results(want, got, ordered=ordered)
    return Verdict(ok, why, ordered)
