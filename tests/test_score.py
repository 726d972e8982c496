"""Scoring library: hand-worked examples per scheme, invariants, relations, bootstrap, gates, reports."""

from __future__ import annotations

import json
import random
from collections import Counter

import jsonschema
import numpy as np
import pytest

from annotate.errors import InputError
from annotate.schema import json_schema
from annotate.score import SCHEMES, check_gates, match, score, score_records

TEXT = "At least 544 civilians were killed in Idlib province, rescuers said on Saturday."
LABELS = ("ACTOR", "FIGURE", "LOCATION", "WEAPON", "ATTRIBUTION")
FIELDS = ("correct", "incorrect", "partial", "missed", "spurious", "possible", "actual",
          "pred_correct", "pred_incorrect", "pred_partial")


def at(phrase: str, label: str, text: str = TEXT, **extra) -> dict:
    start = text.index(phrase)
    return {"start": start, "end": start + len(phrase), "label": label, **extra}


def run(gold_spans, pred_spans, text=TEXT, **kw) -> dict:
    kw.setdefault("bootstrap", 0)
    return score_records([{"id": "d1", "text": text, "spans": gold_spans}],
                         [{"id": "d1", "spans": pred_spans}], **kw)


def micro(report, scheme):
    m = report["schemes"][scheme]["micro"]
    return {k: m[k] for k in ("correct", "incorrect", "partial", "missed", "spurious")}


def outcome(report):
    """(COR, INC, PAR, MIS, SPU) per scheme."""
    return {s: tuple(micro(report, s).values()) for s in SCHEMES}


# ---------------------------------------------------------------- hand-worked examples, one per situation

def test_exact_match_is_correct_everywhere():
    r = run([at("Idlib province", "LOCATION")], [at("Idlib province", "LOCATION")])
    assert outcome(r) == {s: (1, 0, 0, 0, 0) for s in SCHEMES}
    assert r["schemes"]["strict"]["micro"]["f1"] == 1.0


def test_relabelled_span_is_incorrect_in_strict_and_type_correct_in_exact_and_partial():
    r = run([at("Idlib", "LOCATION")], [at("Idlib", "ACTOR")])
    assert outcome(r) == {"strict": (0, 1, 0, 0, 0), "exact": (1, 0, 0, 0, 0),
                          "partial": (1, 0, 0, 0, 0), "type": (0, 1, 0, 0, 0)}
    # per label: the gold label carries it on the recall side, the predicted label on the precision side
    loc = r["schemes"]["strict"]["per_label"]["LOCATION"]
    act = r["schemes"]["strict"]["per_label"]["ACTOR"]
    assert (loc["incorrect"], loc["possible"], loc["actual"], loc["spurious"]) == (1, 1, 0, 0)
    assert (act["pred_incorrect"], act["possible"], act["actual"], act["missed"]) == (1, 0, 1, 0)
    ex = r["schemes"]["exact"]["per_label"]
    assert ex["LOCATION"]["recall"] == 1.0 and ex["ACTOR"]["precision"] == 1.0


def test_nested_prediction_inside_gold_is_partial():
    r = run([at("At least 544 civilians", "FIGURE")], [at("544 civilians", "FIGURE")])
    assert outcome(r) == {"strict": (0, 1, 0, 0, 0), "exact": (0, 1, 0, 0, 0),
                          "partial": (0, 0, 1, 0, 0), "type": (1, 0, 0, 0, 0)}
    p = r["schemes"]["partial"]["micro"]
    assert (p["precision"], p["recall"], p["f1"]) == (0.5, 0.5, 0.5)


def test_exact_boundaries_are_matched_before_a_nested_overlap_whatever_the_order():
    gold = [at("Idlib province", "LOCATION")]
    nested_first = [at("Idlib", "LOCATION"), at("Idlib province", "LOCATION")]
    r1 = run(gold, nested_first)
    r2 = run(gold, list(reversed(nested_first)))
    assert outcome(r1) == outcome(r2) == {s: (1, 0, 0, 0, 1) for s in SCHEMES}


def test_touching_spans_do_not_overlap():
    text = "IdlibHama"
    r = run([{"start": 0, "end": 5, "label": "LOCATION"}], [{"start": 5, "end": 9, "label": "LOCATION"}], text=text)
    assert outcome(r) == {s: (0, 0, 0, 1, 1) for s in SCHEMES}


def test_duplicate_predictions_are_spurious():
    span = at("rescuers", "ACTOR")
    r = run([span], [span, dict(span), dict(span)])
    assert outcome(r) == {s: (1, 0, 0, 0, 2) for s in SCHEMES}
    assert r["schemes"]["strict"]["micro"]["precision"] == pytest.approx(1 / 3, abs=1e-6)


def test_largest_overlap_wins_and_the_other_prediction_is_spurious():
    text = "0123456789abcdef"
    gold = [{"start": 0, "end": 10, "label": "ACTOR"}]
    small = {"start": 0, "end": 4, "label": "ACTOR"}
    large = {"start": 2, "end": 10, "label": "ACTOR"}
    for preds in ([small, large], [large, small]):
        m = match(*_arrays(gold, preds))
        assert m.pred.tolist() == [preds.index(large)]
        assert m.kind.tolist() == [2]


def test_equal_overlap_prefers_same_label_then_earlier_position():
    text = "0123456789"
    gold = [{"start": 0, "end": 10, "label": "LOCATION"}]
    other_label = {"start": 0, "end": 6, "label": "ACTOR"}
    same_label = {"start": 4, "end": 10, "label": "LOCATION"}
    assert match(*_arrays(gold, [other_label, same_label])).pred.tolist() == [1]
    early = {"start": 0, "end": 6, "label": "LOCATION"}
    late = {"start": 4, "end": 10, "label": "LOCATION"}
    assert match(*_arrays(gold, [late, early])).pred.tolist() == [1]
    r = run(gold, [other_label, same_label], text=text)
    assert outcome(r)["type"] == (1, 0, 0, 0, 1)


def test_greedy_takes_the_global_best_pair_first():
    # P1 overlaps G1 by 5 and G2 by 4; P2 overlaps G1 by 1 and G2 by 2 -> (G1, P1), (G2, P2)
    gold = [{"start": 0, "end": 10, "label": "ACTOR"}, {"start": 8, "end": 20, "label": "ACTOR"}]
    preds = [{"start": 9, "end": 11, "label": "ACTOR"}, {"start": 5, "end": 12, "label": "ACTOR"}]
    m = match(*_arrays(gold, preds))
    assert sorted(zip(m.gold.tolist(), m.pred.tolist())) == [(0, 1), (1, 0)]


def test_same_boundaries_two_gold_labels_pair_the_same_label_first():
    text = "Moscow says"
    gold = [{"start": 0, "end": 6, "label": "ACTOR"}, {"start": 0, "end": 6, "label": "LOCATION"}]
    pred = [{"start": 0, "end": 6, "label": "LOCATION"}]
    r = run(gold, pred, text=text)
    assert outcome(r)["strict"] == (1, 0, 0, 1, 0)
    assert r["schemes"]["strict"]["per_label"]["LOCATION"]["correct"] == 1
    assert r["schemes"]["strict"]["per_label"]["ACTOR"]["missed"] == 1


def test_empty_documents():
    r = score_records([{"id": "a", "text": TEXT, "spans": []}, {"id": "b", "text": TEXT, "spans": []}],
                      [{"id": "a", "spans": []}], bootstrap=10)
    for s in SCHEMES:
        m = r["schemes"][s]["micro"]
        assert (m["possible"], m["actual"], m["precision"], m["recall"], m["f1"]) == (0, 0, 0.0, 0.0, 0.0)
    assert r["documents"]["missing_predictions"] == 1 and r["documents"]["missing_ids"] == ["b"]
    assert r["documents"]["without_gold_spans"] == 2
    # gold spans, no prediction record at all: all missed
    r = score_records([{"id": "a", "text": TEXT, "spans": [at("rescuers", "ACTOR")]}], [], bootstrap=0)
    assert outcome(r) == {s: (0, 0, 0, 1, 0) for s in SCHEMES}
    # predictions on a document without gold spans: all spurious
    r = run([], [at("rescuers", "ACTOR")])
    assert outcome(r) == {s: (0, 0, 0, 0, 1) for s in SCHEMES}


def test_labels_outside_the_schema_are_kept_not_dropped():
    r = run([at("Idlib", "LOCATION")], [at("Idlib", "GPE")])
    assert r["schemes"]["strict"]["per_label"]["GPE"]["actual"] == 1
    assert r["documents"]["labels_not_in_schema"] == ["GPE"]
    assert outcome(r)["exact"] == (1, 0, 0, 0, 0)


# ---------------------------------------------------------------- invariants on random data

def _arrays(gold, pred):
    codes = {}

    def table(spans):
        cols = [[0] * len(spans), [s["start"] for s in spans], [s["end"] for s in spans],
                [codes.setdefault(s["label"], len(codes)) for s in spans]]
        return tuple(np.asarray(c, dtype=np.int64) for c in cols)

    return table(gold), table(pred)


def random_docs(n_docs=60, seed=1):
    rng = random.Random(seed)
    gold, pred = [], []
    for d in range(n_docs):
        text = "x" * 400
        g = []
        for _ in range(rng.randint(0, 12)):
            s = rng.randrange(0, 380)
            g.append({"start": s, "end": s + rng.randint(1, 20), "label": rng.choice(LABELS)})
        p = []
        for span in g:
            r = rng.random()
            if r < 0.5:
                p.append(dict(span))
            elif r < 0.6:
                p.append({**span, "label": rng.choice(LABELS)})
            elif r < 0.75:
                p.append({**span, "start": max(0, span["start"] - rng.randint(0, 3)),
                          "end": span["end"] + rng.randint(1, 3)})
            elif r < 0.8:
                p += [dict(span), dict(span)]
        for _ in range(rng.randint(0, 4)):
            s = rng.randrange(0, 390)
            p.append({"start": s, "end": s + rng.randint(1, 10), "label": rng.choice(LABELS)})
        gold.append({"id": f"d{d}", "text": text, "spans": g})
        pred.append({"id": f"d{d}", "spans": p})
    return gold, pred


def reference_counts(gold, pred):
    """An independent, slow, sequential implementation of the matching rules: kind counts."""
    used_g, used_p = set(), set()
    kinds = Counter()
    for i, g in enumerate(gold):  # exact, same label
        for j, p in enumerate(pred):
            if j not in used_p and i not in used_g and (g["start"], g["end"], g["label"]) == (p["start"], p["end"], p["label"]):
                used_g.add(i), used_p.add(j)
                kinds["es"] += 1
    gi = sorted((i for i in range(len(gold)) if i not in used_g), key=lambda i: (gold[i]["start"], gold[i]["end"], gold[i]["label"]))
    for i in gi:  # exact, different label
        cands = sorted((p["label"], j) for j, p in enumerate(pred) if j not in used_p
                       and (p["start"], p["end"]) == (gold[i]["start"], gold[i]["end"]))
        if cands:
            used_g.add(i), used_p.add(cands[0][1])
            kinds["ed"] += 1
    cands = []
    for i, g in enumerate(gold):
        for j, p in enumerate(pred):
            ov = min(g["end"], p["end"]) - max(g["start"], p["start"])
            if i not in used_g and j not in used_p and ov > 0:
                cands.append(((-ov, g["label"] != p["label"], g["start"], p["start"], g["end"], p["end"],
                               g["label"], p["label"]), i, j))
    for _, i, j in sorted(cands):
        if i not in used_g and j not in used_p:
            used_g.add(i), used_p.add(j)
            kinds["os" if gold[i]["label"] == pred[j]["label"] else "od"] += 1
    kinds["missed"] = len(gold) - len(used_g)
    kinds["spurious"] = len(pred) - len(used_p)
    return kinds


def test_matches_an_independent_sequential_implementation():
    gold, pred = random_docs(80, seed=7)
    totals = Counter()
    for g, p in zip(gold, pred):
        totals.update(reference_counts(g["spans"], p["spans"]))
    r = score_records(gold, pred, bootstrap=0)
    assert micro(r, "strict") == {"correct": totals["es"], "incorrect": totals["ed"] + totals["os"] + totals["od"],
                                  "partial": 0, "missed": totals["missed"], "spurious": totals["spurious"]}
    assert micro(r, "partial") == {"correct": totals["es"] + totals["ed"], "incorrect": 0,
                                   "partial": totals["os"] + totals["od"], "missed": totals["missed"],
                                   "spurious": totals["spurious"]}
    assert micro(r, "type")["correct"] == totals["es"] + totals["os"]
    assert totals["ed"] and totals["os"] and totals["od"]  # the data exercises every kind


def test_shuffled_order_gives_identical_reports():
    gold, pred = random_docs(60, seed=3)
    base = score_records(gold, pred, bootstrap=50, seed=5)
    rng = random.Random(11)
    for _ in range(3):
        g2 = [{**d, "spans": rng.sample(d["spans"], len(d["spans"]))} for d in gold]
        p2 = [{**d, "spans": rng.sample(d["spans"], len(d["spans"]))} for d in pred]
        assert score_records(g2, p2, bootstrap=50, seed=5)["schemes"] == base["schemes"]


def test_per_label_counts_add_up_to_the_overall_counts():
    gold, pred = random_docs(60, seed=5)
    r = score_records(gold, pred, bootstrap=0)
    for s in SCHEMES:
        sec = r["schemes"][s]
        for f in FIELDS:
            assert sum(row[f] for row in sec["per_label"].values()) == sec["micro"][f], (s, f)
        m = sec["micro"]
        assert m["possible"] == m["correct"] + m["incorrect"] + m["partial"] + m["missed"]
        assert m["actual"] == m["pred_correct"] + m["pred_incorrect"] + m["pred_partial"] + m["spurious"]
        for row in sec["per_label"].values():
            assert row["possible"] == row["correct"] + row["incorrect"] + row["partial"] + row["missed"]
            assert row["actual"] == row["pred_correct"] + row["pred_incorrect"] + row["pred_partial"] + row["spurious"]
    assert r["schemes"]["strict"]["micro"]["incorrect"] > 0


def test_strict_equals_a_set_based_count():
    gold, pred = random_docs(60, seed=9)
    tp = sum(sum((Counter((s["start"], s["end"], s["label"]) for s in g["spans"])
                  & Counter((s["start"], s["end"], s["label"]) for s in p["spans"])).values())
             for g, p in zip(gold, pred))
    n_gold = sum(len(g["spans"]) for g in gold)
    n_pred = sum(len(p["spans"]) for p in pred)
    m = score_records(gold, pred, bootstrap=0)["schemes"]["strict"]["micro"]
    assert m["correct"] == tp
    assert m["precision"] == pytest.approx(tp / n_pred, abs=1e-6)
    assert m["recall"] == pytest.approx(tp / n_gold, abs=1e-6)


def test_macro_f1_is_the_mean_over_labels_present():
    r = run([at("Idlib", "LOCATION"), at("rescuers", "ACTOR")], [at("Idlib", "LOCATION")])
    s = r["schemes"]["strict"]
    assert s["per_label"]["LOCATION"]["f1"] == 1.0 and s["per_label"]["ACTOR"]["f1"] == 0.0
    assert s["macro_f1"] == 0.5  # FIGURE, WEAPON, ATTRIBUTION occur nowhere: not averaged in


# ---------------------------------------------------------------- relations

def _rel_doc():
    text = "At least 544 civilians were killed, the Syrian Network for Human Rights said."
    spans = [at("At least 544 civilians", "FIGURE", text, id=1), at("said", "ATTRIBUTION", text, id=2),
             at("the Syrian Network for Human Rights", "ACTOR", text, id=3)]
    rels = [{"from": 1, "to": 2, "label": "REPORTED_BY"}, {"from": 2, "to": 3, "label": "SOURCE"}]
    return text, spans, rels


def test_relations_correct_when_type_and_both_endpoints_match():
    text, spans, rels = _rel_doc()
    gold = [{"id": "r", "text": text, "spans": spans, "relations": rels}]
    pred_spans = [dict(s, id=f"p{s['id']}") for s in spans]
    pred_rels = [{"from": "p1", "to": "p2", "label": "REPORTED_BY"},  # correct
                 {"from": "p3", "to": "p2", "label": "SOURCE"}]  # reversed: wrong
    r = score_records(gold, [{"id": "r", "spans": pred_spans, "relations": pred_rels}], bootstrap=0)
    rel = r["relations"]
    assert (rel["micro"]["correct"], rel["micro"]["missed"], rel["micro"]["spurious"]) == (1, 1, 1)
    assert rel["per_type"]["REPORTED_BY"]["f1"] == 1.0
    assert rel["per_type"]["SOURCE"]["f1"] == 0.0


def test_relation_endpoint_with_wrong_boundaries_is_not_correct():
    text, spans, rels = _rel_doc()
    gold = [{"id": "r", "text": text, "spans": spans, "relations": rels[:1]}]
    shifted = dict(spans[0], start=spans[0]["start"] + 9, id="p1")  # "544 civilians"
    pred = [{"id": "r", "spans": [shifted, dict(spans[1], id="p2")],
             "relations": [{"from": "p1", "to": "p2", "label": "REPORTED_BY"}]}]
    r = score_records(gold, pred, bootstrap=0)
    assert r["relations"]["micro"]["correct"] == 0 and r["relations"]["micro"]["spurious"] == 1


def test_no_relations_in_gold_means_relations_null():
    assert run([at("Idlib", "LOCATION")], [at("Idlib", "LOCATION")])["relations"] is None


def test_prediction_relation_to_an_unknown_span_id_is_an_error():
    text, spans, rels = _rel_doc()
    with pytest.raises(InputError, match="span id 'nope'"):
        score_records([{"id": "r", "text": text, "spans": spans, "relations": rels}],
                      [{"id": "r", "spans": [], "relations": [{"from": "nope", "to": "x", "label": "SOURCE"}]}])


# ---------------------------------------------------------------- bootstrap and comparison

def test_bootstrap_is_reproducible_with_a_seed_and_brackets_the_estimate():
    gold, pred = random_docs(80, seed=2)
    a = score_records(gold, pred, bootstrap=300, seed=42)
    b = score_records(gold, pred, bootstrap=300, seed=42)
    c = score_records(gold, pred, bootstrap=300, seed=43)
    assert a["schemes"] == b["schemes"]
    assert a["schemes"]["strict"]["micro"]["ci"] != c["schemes"]["strict"]["micro"]["ci"]
    for s in SCHEMES:
        m = a["schemes"][s]["micro"]
        lo, hi = m["ci"]
        assert lo < m["f1"] < hi and hi - lo < 0.3
        for row in a["schemes"][s]["per_label"].values():
            assert row["ci"][0] <= row["f1"] <= row["ci"][1]
    assert score_records(gold, pred, bootstrap=0)["schemes"]["strict"]["micro"]["ci"] is None


def test_paired_comparison():
    gold, pred = random_docs(80, seed=4)
    worse = [{**p, "spans": p["spans"][::2]} for p in pred]
    r = score_records(gold, pred, compare=worse, bootstrap=200, seed=1)
    m = r["compare"]["metrics"]["strict.f1"]
    assert m["diff"] == pytest.approx(m["first"] - m["second"], abs=1e-6)
    assert m["diff"] > 0 and m["first_wins"] > 0.95 and m["ci"][0] > 0
    same = score_records(gold, pred, compare=pred, bootstrap=50, seed=1)["compare"]["metrics"]["strict.f1"]
    assert (same["diff"], same["ci"], same["first_wins"], same["ties"]) == (0.0, [0.0, 0.0], 0.0, 1.0)


# ---------------------------------------------------------------- slices, gates, reports

def test_slices_by_a_meta_field():
    gold, pred = random_docs(20, seed=6)
    for i, g in enumerate(gold):
        g["meta"] = {"outlet": "reuters" if i % 2 else "rferl"}
    r = score_records(gold, pred, by=["meta.outlet", "meta.nothing"], bootstrap=0)
    sl = r["slices"]["meta.outlet"]
    assert set(sl) == {"reuters", "rferl"} and sl["reuters"]["documents"] == 10
    assert sum(sl[v]["strict"]["correct"] for v in sl) == r["schemes"]["strict"]["micro"]["correct"]
    assert list(r["slices"]["meta.nothing"]) == ["(none)"]


def test_gates():
    r = run([at("Idlib", "LOCATION"), at("rescuers", "ACTOR")], [at("Idlib", "LOCATION")])
    ok = check_gates(r, ["strict.f1=0.6", "strict.LOCATION.f1=1.0", "partial.precision=1"])
    assert ok["passed"] and ok["failures"] == []
    bad = check_gates(r, ["strict.f1=0.9", "strict.recall=0.9", "strict.macro_f1=0.4"])
    assert not bad["passed"] and len(bad["failures"]) == 2
    assert bad["failures"][0].startswith("strict.f1 = 0.6667 is under 0.9000")
    baseline = json.loads(json.dumps(r))
    baseline["schemes"]["type"]["micro"]["f1"] = 0.9
    drop = check_gates(r, baseline=baseline, max_drop=0.02)
    assert drop["failures"] == ["type.f1 dropped 0.2333 (0.9000 -> 0.6667), more than --max-drop 0.0200 against baseline"]
    assert check_gates(r, baseline=baseline, max_drop=0.3)["passed"]
    for key in ("strict.f2=0.5", "strict.NOPE.f1=0.5", "nope.f1=0.5", "strict.f1", "strict.f1=2", "relations.f1=0.1"):
        with pytest.raises(InputError):
            check_gates(r, [key])


def test_input_errors():
    gold = [{"id": "a", "text": TEXT, "spans": []}]
    with pytest.raises(InputError, match="not a document of the gold"):
        score_records(gold, [{"id": "zzz", "spans": []}])
    with pytest.raises(InputError, match="differs from the gold text"):
        score_records(gold, [{"id": "a", "text": TEXT + "!", "spans": []}])
    with pytest.raises(InputError, match="outside the text"):
        score_records(gold, [{"id": "a", "spans": [{"start": 0, "end": 999, "label": "ACTOR"}]}])
    with pytest.raises(InputError, match="second prediction"):
        score_records(gold, [{"id": "a", "spans": []}, {"id": "a", "spans": []}])
    with pytest.raises(InputError, match="duplicate document id"):
        score_records(gold + gold, [])
    for bad_span in ({"start": 0, "end": 3}, {"start": "0", "end": 3, "label": "ACTOR"}, {"start": -1, "end": 3, "label": "A"}):
        with pytest.raises(InputError, match="prediction 1: "):
            score_records(gold, [{"id": "a", "spans": [bad_span]}])
    with pytest.raises(InputError, match="'spans' is a required property"):
        score_records(gold, [{"id": "a"}])
    with pytest.raises(InputError, match="gold 1: "):
        score_records([{"id": "a", "spans": []}], [])  # gold without text
    score_records(gold, [{"id": "a", "text": TEXT, "spans": []}], bootstrap=0)  # the same text is fine


def test_report_files_validate_and_render(tmp_path):
    text, spans, rels = _rel_doc()
    gold_recs = [{"id": "r", "text": text, "spans": spans, "relations": rels, "meta": {"outlet": "x"}},
                 {"id": "s", "text": TEXT, "spans": [at("Idlib province", "LOCATION"), at("rescuers", "ACTOR")]}]
    release = tmp_path / "corpus" / "gold" / "v0.1.0"
    release.mkdir(parents=True)
    (release / "gold.jsonl").write_text("".join(json.dumps(r) + "\n" for r in gold_recs), encoding="utf-8")
    pred = tmp_path / "pred.jsonl"
    pred.write_text(json.dumps({"id": "s", "spans": [at("Idlib", "LOCATION"), at("rescuers", "WEAPON"),
                                                     at("said", "ATTRIBUTION")]}) + "\n", encoding="utf-8")
    out = {k: tmp_path / f"report.{k}" for k in ("json", "md", "html")}
    r = score(release, pred, compare=pred, by=["meta.outlet"], fail_under=["strict.f1=0.1"], bootstrap=100,
              json_path=out["json"], markdown_path=out["md"], errors_path=out["html"])
    assert r["gold"]["version"] == "v0.1.0" and len(r["gold"]["sha256"]) == 64
    assert set(r) == {"schema_version", "gold", "prediction", "documents", "schemes", "relations",
                      "slices", "compare", "gate"}
    written = json.loads(out["json"].read_text(encoding="utf-8"))
    jsonschema.validate(written, json_schema("score_report.schema.json"))
    assert written == json.loads(json.dumps(r))
    plain = score(release / "gold.jsonl", pred, bootstrap=0)
    assert set(plain) == {"schema_version", "gold", "prediction", "documents", "schemes", "relations"}
    jsonschema.validate(plain, json_schema("score_report.schema.json"))
    md = out["md"].read_text(encoding="utf-8")
    assert "| strict |" in md and "gate FAILED" in md and "#### Per label" in md
    page = out["html"].read_text(encoding="utf-8")
    for kind in ("missed", "spurious", "wrong label", "partial boundaries"):
        assert kind in page
    assert "#2ca02c" in page  # LOCATION's colour from schemas/labels.json
    assert page.index("<h2 id='r'>") < page.index("<h2 id='s'>")  # grouped by document, gold order
