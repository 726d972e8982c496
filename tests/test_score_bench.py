"""scripts/bench_score.py's explanation of the nervaluate gap, on a small slice of its data."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("nervaluate")
ROOT = Path(__file__).resolve().parent.parent


def _bench():
    spec = importlib.util.spec_from_file_location("bench_score", ROOT / "scripts" / "bench_score.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_nervaluate_gap_is_its_order_dependence_and_closes_exact_first():
    bench = _bench()
    spaces, gold, pred, _ = bench.make_corpus(400, 13)
    x = bench.run_nervaluate_explain(spaces, gold, pred, sample=400)
    assert x["nervaluate_as_given"]["strict"]["f1"] < x["ours_micro_f1"]["strict"] - 0.01   # the gap is real
    assert x["nervaluate_exact_first"]["strict"]["f1"] == x["ours_micro_f1"]["strict"]       # same spans, reordered
    assert x["order_explains_strict_gap"] and x["steals_equal_correct_lost"] and x["steals_counted"] > 0
    ends = x["inclusive_ends"]
    assert ends["touching_pairs"] > 0
    assert ends["strict_f1_exclusive_ends_passed_as_is"] < ends["strict_f1_ends_converted"]
    assert "order dependent" in bench._explanation(x)["explanation"]


def test_steal_count_on_a_hand_worked_document():
    bench = _bench()
    gold = [[{"start": 0, "end": 10, "label": "ACTOR"}, {"start": 20, "end": 25, "label": "FIGURE"}]]
    # the inner prediction is listed before the exact one: nervaluate gives the gold span to it
    pred = [[{"start": 0, "end": 4, "label": "ACTOR"}, {"start": 0, "end": 10, "label": "ACTOR"},
             {"start": 20, "end": 25, "label": "FIGURE"}]]
    assert bench.count_steals(gold, pred) == 1
    assert bench.count_steals(gold, [bench.exact_first(gold[0], pred[0])]) == 0
    given = bench._nervaluate_counts(gold, pred)["strict"]
    first = bench._nervaluate_counts(gold, [bench.exact_first(gold[0], pred[0])])["strict"]
    assert (given["correct"], given["incorrect"], given["spurious"]) == (1, 1, 1)
    assert (first["correct"], first["incorrect"], first["spurious"]) == (2, 0, 1)
