"""annotate adjudicate: every input span and relation ends accepted, rejected or open, and the counts add up."""

import json

import pytest
from typer.testing import CliRunner

from annotate.adjudicate import adjudicate
from annotate.cli import app
from annotate.errors import InputError
from annotate.schema import validate_file
from gold_fixtures import line, write_jsonl, write_snapshot

T = "At least 544 civilians were killed in Idlib, rights groups said."


def _snapshot(tmp_path):
    """Three annotators: agree on ACTOR, ATTRIBUTION and SOURCE; split on FIGURE and on Idlib."""
    base = [(3, "rights groups", "ACTOR"), (4, "said", "ATTRIBUTION")]
    lines = [
        line("d1", T, "a1", [(1, "At least 544 civilians", "FIGURE"), (2, "Idlib", "LOCATION"), *base],
             [(1, 4, "REPORTED_BY"), (4, 3, "SOURCE")]),
        line("d1", T, "a2", [(1, "At least 544 civilians", "FIGURE"), (2, "Idlib", "ACTOR"), *base],
             [(1, 4, "REPORTED_BY"), (4, 3, "SOURCE")]),
        line("d1", T, "a3", [(1, "544 civilians", "FIGURE"), *base], [(1, 4, "REPORTED_BY"), (4, 3, "SOURCE")]),
        line("d2", "Rebels left.", "a1", [(1, "Rebels", "ACTOR")], confirmed=False),
    ]
    return write_snapshot(tmp_path / "snap", lines)


def _check_sums(acc):
    for kind in ("spans", "relations"):
        c = acc[kind]
        assert c["in"] == c["agreed"] + c["decision"] + c["rejected"] + c["open"], (kind, c)


def test_unanimity_accounts_for_every_span(tmp_path):
    res = adjudicate(_snapshot(tmp_path), out=tmp_path / "gold.jsonl", conflicts_out=tmp_path / "c.jsonl")
    acc = res["accounting"]
    _check_sums(acc)
    # 11 span instances in confirmed lines (4 + 4 + 3): 6 agreed (ACTOR + ATTRIBUTION x3), 5 in conflicts.
    assert acc["spans"] == {"in": 11, "agreed": 6, "decision": 0, "rejected": 0, "open": 5, "added_by_decision": 0}
    # relations: SOURCE x3 agreed; REPORTED_BY x3 open (their FIGURE endpoints are open).
    assert acc["relations"] == {"in": 6, "agreed": 3, "decision": 0, "rejected": 0, "open": 3, "added_by_decision": 0}
    assert acc["excluded_unconfirmed"] == {"lines": 1, "spans": 1, "relations": 0}
    assert res["open_conflicts"] == ["d1:0-22", "d1:38-43", "d1:rel:0-22>59-63:REPORTED_BY",
                                     "d1:rel:9-22>59-63:REPORTED_BY"]
    (rec,) = [json.loads(x) for x in (tmp_path / "gold.jsonl").read_text().splitlines()]
    assert [(s["label"], s["annotators"], s["source"]) for s in rec["spans"]] == [
        ("ACTOR", ["a1", "a2", "a3"], "agreed"), ("ATTRIBUTION", ["a1", "a2", "a3"], "agreed")]
    assert rec["relations"] == [{"from": 2, "to": 1, "label": "SOURCE", "annotators": ["a1", "a2", "a3"],
                                 "source": "agreed"}]
    assert rec["meta"]["open_conflicts"] == res["open_conflicts"]
    assert validate_file(tmp_path / "gold.jsonl", "gold") == []
    conflicts = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    fig = conflicts[0]
    assert fig["id"] == "d1:0-22" and fig["text"] == "At least 544 civilians"
    assert [(o["option"], o["text"], o["annotators"]) for o in fig["options"]] == [
        (1, "At least 544 civilians", ["a1", "a2"]), (2, "544 civilians", ["a3"])]
    idlib = conflicts[1]
    assert idlib["silent"] == ["a3"]


def test_majority_accepts_two_of_three(tmp_path):
    res = adjudicate(_snapshot(tmp_path), min_agree=2)
    acc = res["accounting"]
    _check_sums(acc)
    # FIGURE "At least 544 civilians" (a1, a2) now agreed; "544 civilians" (a3) open; Idlib split 1/1 open.
    assert acc["spans"]["agreed"] == 8 and acc["spans"]["open"] == 3
    # REPORTED_BY from the agreed FIGURE: a1 + a2 = 2 agreed; a3's is open (its FIGURE is open).
    assert acc["relations"] == {"in": 6, "agreed": 5, "decision": 0, "rejected": 0, "open": 1, "added_by_decision": 0}
    assert res["open_conflicts"] == ["d1:9-22", "d1:38-43", "d1:rel:9-22>59-63:REPORTED_BY"]


def test_decisions_resolve_and_reject(tmp_path):
    decisions = write_jsonl(tmp_path / "decisions.jsonl", [
        {"conflict": "d1:0-22", "action": "accept", "options": [1], "by": "lead"},
        {"conflict": "d1:38-43", "action": "accept", "spans": [{"start": 38, "end": 43, "label": "LOCATION"}]},
        {"conflict": "d1:rel:0-22>59-63:REPORTED_BY", "action": "accept"},
        {"conflict": "d9:0-1", "action": "reject"},
    ])
    res = adjudicate(_snapshot(tmp_path), decisions=decisions)
    acc = res["accounting"]
    _check_sums(acc)
    # FIGURE option 1 (2 instances) accepted, option 2 (1) rejected; Idlib LOCATION (a1) accepted, ACTOR (a2) rejected.
    assert acc["spans"] == {"in": 11, "agreed": 6, "decision": 3, "rejected": 2, "open": 0, "added_by_decision": 0}
    # REPORTED_BY on the accepted FIGURE (2 instances) by decision; a3's on the rejected FIGURE rejected.
    assert acc["relations"] == {"in": 6, "agreed": 3, "decision": 2, "rejected": 1, "open": 0, "added_by_decision": 0}
    assert res["open_conflicts"] == [] and res["unused_decisions"] == ["d9:0-1"]
    rec = res["records"][0]
    assert [(s["text"] if "text" in s else T[s["start"]:s["end"]], s["source"]) for s in rec["spans"]] == [
        ("At least 544 civilians", "decision"), ("Idlib", "decision"), ("rights groups", "agreed"), ("said", "agreed")]
    assert rec["spans"][0]["conflict"] == "d1:0-22"
    assert {r["label"]: r["source"] for r in rec["relations"]} == {"REPORTED_BY": "decision", "SOURCE": "agreed"}


def test_rejecting_a_span_rejects_its_relations_and_adjudicator_spans_are_counted(tmp_path):
    decisions = write_jsonl(tmp_path / "d.jsonl", [
        {"conflict": "d1:0-22", "action": "reject"},
        {"conflict": "d1:38-43", "action": "accept", "spans": [{"start": 38, "end": 43, "label": "WEAPON"}]},
    ])
    res = adjudicate(_snapshot(tmp_path), decisions=decisions)
    acc = res["accounting"]
    _check_sums(acc)
    assert acc["spans"]["rejected"] == 5 and acc["spans"]["added_by_decision"] == 1
    assert acc["relations"]["rejected"] == 3 and acc["relations"]["open"] == 0


def test_bad_decisions_are_bad_input(tmp_path):
    snap = _snapshot(tmp_path)
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"conflict": "d1:0-22", "action": "accept", "options": [7]}])
    with pytest.raises(InputError, match=r"bad.jsonl:1: d1:0-22 has options 1-2, not \[7\]"):
        adjudicate(snap, decisions=bad)
    twice = write_jsonl(tmp_path / "twice.jsonl", [{"conflict": "x", "action": "reject"}] * 2)
    with pytest.raises(InputError, match="decided twice"):
        adjudicate(snap, decisions=twice)
    with pytest.raises(InputError, match="min-agree"):
        adjudicate(snap, min_agree="most")


def test_single_annotator_all_is_that_annotator(tmp_path):
    snap = write_snapshot(tmp_path / "s", [line("d1", T, "solo", [(1, "Idlib", "LOCATION")])])
    res = adjudicate(snap)
    assert res["accounting"]["spans"] == {"in": 1, "agreed": 1, "decision": 0, "rejected": 0, "open": 0,
                                          "added_by_decision": 0}
    assert res["records"][0]["spans"][0]["annotators"] == ["solo"]


def test_cli_exit_1_while_open_then_0(tmp_path):
    snap = _snapshot(tmp_path)
    out = tmp_path / "cand.jsonl"
    res = CliRunner().invoke(app, ["adjudicate", str(snap), "--out", str(out)])
    assert res.exit_code == 1, res.output
    assert "spans: 11 in = 6 agreed + 0 by decision + 0 rejected + 5 open" in res.output
    assert (tmp_path / "cand.conflicts.jsonl").is_file() and out.is_file()
    decisions = write_jsonl(tmp_path / "d.jsonl", [
        {"conflict": "d1:0-22", "action": "reject"}, {"conflict": "d1:38-43", "action": "reject"}])
    res = CliRunner().invoke(app, ["adjudicate", str(snap), "--out", str(out), "--decisions", str(decisions)])
    assert res.exit_code == 0, res.output
    assert "0 open" in res.output


def test_decision_can_draw_relations_onto_the_adjudicators_span(tmp_path):
    figure = {"start": 3, "end": 22, "label": "FIGURE"}                   # "least 544 civilians": nobody's span
    said = {"start": 59, "end": 63, "label": "ATTRIBUTION"}
    decisions = write_jsonl(tmp_path / "d.jsonl", [
        {"conflict": "d1:0-22", "action": "accept", "spans": [figure],
         "relations": [{"from": figure, "to": said, "label": "REPORTED_BY"}]},
        {"conflict": "d1:38-43", "action": "reject"}])
    res = adjudicate(_snapshot(tmp_path), decisions=decisions)
    acc = res["accounting"]
    _check_sums(acc)
    # the annotators' three REPORTED_BY relations hung on rejected FIGUREs; the adjudicator draws a new one
    assert acc["relations"] == {"in": 6, "agreed": 3, "decision": 0, "rejected": 3, "open": 0, "added_by_decision": 1}
    assert acc["spans"]["added_by_decision"] == 1
    rec = res["records"][0]
    by_id = {s["id"]: (s["start"], s["end"]) for s in rec["spans"]}
    drawn = [r for r in rec["relations"] if r["source"] == "decision"]
    assert [(by_id[r["from"]], by_id[r["to"]], r["label"]) for r in drawn] == [((3, 22), (59, 63), "REPORTED_BY")]
    bad = write_jsonl(tmp_path / "bad.jsonl", [
        {"conflict": "d1:0-22", "action": "reject",
         "relations": [{"from": figure, "to": said, "label": "REPORTED_BY"}]}])
    with pytest.raises(InputError, match="only be drawn by an accept decision"):
        adjudicate(_snapshot(tmp_path / "x"), decisions=bad)
    worse = write_jsonl(tmp_path / "worse.jsonl", [
        {"conflict": "d1:0-22", "action": "accept", "options": [2],
         "relations": [{"from": figure, "to": said, "label": "REPORTED_BY"}]}])
    with pytest.raises(InputError, match="refers to a span that is not accepted"):
        adjudicate(_snapshot(tmp_path / "y"), decisions=worse)
