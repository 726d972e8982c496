"""The seed gold: hand anchors resolve against the ingested text, the result is valid and follows the
guidelines' testable rules, the projection onto the near-duplicate agrees with the anchors, and the
resolver fails loudly (file:line, document, anchor) on missing, ambiguous or inconsistent anchors.

These tests read the committed corpus/documents.jsonl: a change of the ingested text that moves or
breaks an annotation fails here, naming the anchor.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from annotate.anchors import AnchorError, candidates, guidelines_version, resolve
from annotate.jsonl import read_jsonl, write_jsonl
from annotate.lint import lint_records
from annotate.schema import load_labels, validate_file

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "corpus" / "documents.jsonl"
HAND = ROOT / "corpus" / "hand"
ANCHORS = HAND / "seeds.anchors.jsonl"
GUIDELINES = ROOT / "schemas" / "guidelines.md"

# R5: figures in the journalist's own voice, which no cue reports (document stem, surface).
UNATTRIBUTED = {("003_f2ce0be5ce2854a3", "hundreds of thousands of civilians"),
                ("004_c01e071baa6fa7eb", "hundreds"),
                ("004_c01e071baa6fa7eb", "more than 300,000 people")}


def _script():
    spec = importlib.util.spec_from_file_location("make_seed_gold", ROOT / "scripts" / "make_seed_gold.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def built() -> dict:
    return _script().build(DOCS, ANCHORS, HAND / "seeds.review-anchors.jsonl")


def _stem(rec: dict) -> str:
    return Path(rec["meta"]["source_file"]).stem


def _key(rec: dict) -> tuple:
    spans = [(s["start"], s["end"], s["label"], s["source"]) for s in rec["spans"]]
    by_id = {s["id"]: (s["start"], s["label"]) for s in rec["spans"]}
    rels = sorted((by_id[r["from"]], by_id[r["to"]], r["label"]) for r in rec["relations"])
    return rec["id"], sorted(spans), rels


# ------------------------------------------------------------------ the committed seed gold

def test_anchors_resolve_and_match_the_committed_gold(built):
    """Every anchor resolves in today's ingested text, to exactly what is committed."""
    assert len(built["gold"]) == 5 and len(built["hand"]) == 4 and len(built["projected"]) == 1
    committed = list(read_jsonl(HAND / "seeds.gold.jsonl"))
    assert [_key(r) for r in built["gold"]] == [_key(r) for r in committed], \
        "corpus/hand/seeds.gold.jsonl is stale: rerun scripts/make_seed_gold.py"
    docs = {d["id"]: d["text"] for d in read_jsonl(DOCS)}
    assert all(r["text"] == docs[r["id"]] for r in committed)


def test_resolved_gold_validates(built, tmp_path):
    path = tmp_path / "gold.jsonl"
    write_jsonl(path, built["gold"])
    assert validate_file(path, "gold") == []
    assert validate_file(HAND / "seeds.gold.jsonl", "gold") == []


def test_spans_are_flat_and_on_word_boundaries(built):
    """G3 (no overlap or nesting) and G4 (word boundaries, no edge whitespace or punctuation)."""
    for rec in built["gold"]:
        text = rec["text"]
        spans = sorted(rec["spans"], key=lambda s: s["start"])
        for a, b in zip(spans, spans[1:]):
            assert a["end"] <= b["start"], (rec["id"], a["text"], b["text"])
        for s in spans:
            surface = text[s["start"]:s["end"]]
            assert surface == s["text"] and surface == surface.strip()
            assert not (s["start"] > 0 and text[s["start"] - 1].isalnum() and surface[0].isalnum()), surface
            assert not (s["end"] < len(text) and text[s["end"]].isalnum() and surface[-1].isalnum()), surface
            assert surface[0] not in "\"'“‘(," and surface[-1] not in "\"'”’),.;:", surface
            assert not re.match(r"(?i)(the|a|an|its|their|his)\s", surface), f"G4 determiner in {surface!r}"


def test_every_figure_is_reported_and_every_cue_has_a_source(built):
    """R1/R5 and R3 as the seeds need them: only the three journalist-voice figures are unattributed."""
    unattributed = set()
    for rec in built["gold"]:
        by_id = {s["id"]: s for s in rec["spans"]}
        reported = {r["from"] for r in rec["relations"] if r["label"] == "REPORTED_BY"}
        sourced = {r["from"] for r in rec["relations"] if r["label"] == "SOURCE"}
        for s in rec["spans"]:
            if s["label"] == "FIGURE" and s["id"] not in reported:
                unattributed.add((_stem(rec), s["text"]))
            if s["label"] == "ATTRIBUTION":
                assert s["id"] in sourced, (_stem(rec), s["text"])
        for r in rec["relations"]:
            if r["label"] == "REPORTED_BY":
                assert by_id[r["to"]]["label"] in ("ATTRIBUTION", "ACTOR")
    assert unattributed == UNATTRIBUTED


def test_decisions_of_the_guidelines_hold_in_the_seeds(built):
    """Spot checks of the settled hard cases, by surface."""
    labelled = {}
    for rec in built["gold"]:
        for s in rec["spans"]:
            labelled.setdefault((_stem(rec)[:3], s["text"]), set()).add(s["label"])
    assert labelled[("000", "At least 544 civilians")] == {"FIGURE"}           # F2 qualifier inside
    assert labelled[("000", "130 children")] == {"FIGURE"}                     # F5 subgroup
    assert labelled[("000", "hundreds of thousands")] == {"FIGURE"}            # F6 vague
    assert labelled[("004", "at least 188 barrel bombs")] == {"FIGURE"}        # W4 counted weapon
    assert labelled[("000", "Russian jets")] == {"ACTOR"}                      # A5 platform as force
    assert labelled[("000", "helicopters")] == {"WEAPON"}                      # W2 platform delivering
    assert labelled[("000", "Moscow")] == {"ACTOR"}                            # A6 metonymy
    assert labelled[("000", "Turkey")] == {"ACTOR", "LOCATION"}                # A6 both readings
    assert labelled[("000", "told Reuters")] == {"ATTRIBUTION"}                # C2
    assert labelled[("000", "SNHR")] == {"ACTOR"}                              # G3 acronym split
    assert ("000", "airstrikes") not in labelled and ("004", "airstrikes") not in labelled   # W3
    assert ("003", "U.S.") not in labelled and ("000", "Idlib-based") not in labelled        # G7


def test_projection_onto_the_near_duplicate_agrees_with_the_anchors(built, tmp_path):
    """002 gets 000's labels by annotate project-labels; resolving 000's anchors in 002's text
    independently gives the same spans and relations, and provenance says which is which."""
    proj = built["projected"][0]
    assert _stem(proj) == "002_3d6bfe040518f6db" and built["review"] == []
    assert {s["source"] for s in proj["spans"]} == {"projected"}
    assert {s["source"] for r in built["hand"] for s in r["spans"]} == {"hand"}
    lines = [json.loads(line) for line in ANCHORS.read_text(encoding="utf-8").splitlines()]
    as_002 = [{**a, "doc": "002_3d6bfe040518f6db"} for a in lines if a["doc"] == "000_e7a7bc66fee5992e"]
    path = tmp_path / "anchors_002.jsonl"
    write_jsonl(path, as_002)
    direct = resolve(path, read_jsonl(DOCS), annotator="t")[0]
    strip = lambda rec: (rec["id"], sorted((s["start"], s["end"], s["label"]) for s in rec["spans"]))  # noqa: E731
    assert strip(direct) == strip(proj)
    assert len(direct["relations"]) == len(proj["relations"]) == 39


def test_lint_findings_are_all_explained(built):
    findings = lint_records(built["gold"], "seeds.gold.jsonl", allow=HAND / "lint-allow.txt")
    assert findings, "the seeds have expected findings (metonymy, G7): the allow file must explain them"
    assert [f for f in findings if not f.get("reason")] == []


def test_guidelines_are_versioned_and_cover_every_label():
    text = GUIDELINES.read_text(encoding="utf-8")
    assert guidelines_version(GUIDELINES) == "1.1.0"
    assert re.search(r"^\*\*Version \d+\.\d+\.\d+\*\* of the guidelines", text, re.M)
    assert "## Changelog" in text and text.index("## Changelog") > len(text) // 2
    for name in ("ACLED", "ACE 2005", "PARC"):
        assert name in text
    labels = load_labels()
    for label in (*labels.labels, *labels.relations):
        assert re.search(rf"^## .*{label}|^\*\*R\d {label}", text, re.M), f"no section for {label}"


# ------------------------------------------------------------------ the resolver fails loudly

TEXT = "Syrian forces said 15 people died in Syria.\nRebels said\nthe toll was 20 people, rescuers said."


def _docs(text: str = TEXT) -> list[dict]:
    return [{"id": "doc1", "text": text, "meta": {"source_file": "seeds/100_test.txt"}}]


def _anchors(tmp_path: Path, *rows: dict) -> Path:
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [{"doc": "100_test", **r} for r in rows])
    return path


def test_word_boundaries_whitespace_and_context():
    assert candidates(TEXT, {"text": "Syria"}) == [(TEXT.index("Syria."), TEXT.index("Syria.") + 5)]
    start = TEXT.index("said\nthe")
    assert candidates(TEXT, {"text": "said the toll"}) == [(start, start + len("said\nthe toll"))]
    assert len(candidates(TEXT, {"text": "said"})) == 3
    assert candidates(TEXT, {"text": "said", "left": "Rebels"}) == [(start, start + 4)]
    assert candidates(TEXT, {"text": "said", "right": "."}) == [(len(TEXT) - 5, len(TEXT) - 1)]


def test_resolve_builds_offsets_and_relations(tmp_path):
    path = _anchors(tmp_path,
                    {"id": "f1", "label": "FIGURE", "text": "20 people", "rel": {"REPORTED_BY": ["c1"]}},
                    {"id": "c1", "label": "ATTRIBUTION", "text": "said", "n": 3, "rel": {"SOURCE": ["a1"]}},
                    {"id": "a1", "label": "ACTOR", "text": "rescuers"})
    (rec,) = resolve(path, _docs(), annotator="t")
    spans = {s["id"]: (s["start"], s["end"]) for s in rec["spans"]}
    assert TEXT[slice(*spans["f1"])] == "20 people" and spans["c1"] == (len(TEXT) - 5, len(TEXT) - 1)
    assert rec["relations"] == [{"from": "f1", "to": "c1", "label": "REPORTED_BY"},
                                {"from": "c1", "to": "a1", "label": "SOURCE"}]
    assert all(s["source"] == "hand" and s["annotators"] == ["t"] for s in rec["spans"])


@pytest.mark.parametrize("row, message", [
    ({"id": "x1", "label": "ACTOR", "text": "witnesses"}, "x1 ACTOR 'witnesses': not found"),
    ({"id": "x2", "label": "ATTRIBUTION", "text": "said"}, "x2 ATTRIBUTION 'said': ambiguous: 3 matches"),
    ({"id": "x3", "label": "ATTRIBUTION", "text": "said", "n": 4}, "n=4 but there are 3 match(es)"),
    ({"id": "x4", "label": "PERSON", "text": "Rebels"}, "x4 PERSON 'Rebels': label not in the schema"),
    ({"id": "x5", "label": "ATTRIBUTION", "text": "said", "n": 1, "rel": {"SOURCE": ["zz"]}},
     "SOURCE target 'zz' is not a resolved span"),
    ({"id": "x7", "label": "ATTRIBUTION", "text": "said", "n": 1, "rel": {"SOURCE": ["x7"]}},
     "SOURCE target x7 is ATTRIBUTION, must be ACTOR"),
    ({"id": "x6", "label": "FIGURE", "text": "Rebels", "rel": {"SOURCE": ["x6"]}}, "SOURCE must start at ATTRIBUTION"),
])
def test_resolve_names_the_file_line_document_and_anchor(tmp_path, row, message):
    path = _anchors(tmp_path, {"id": "ok", "label": "ACTOR", "text": "rescuers"}, row)
    with pytest.raises(AnchorError) as e:
        resolve(path, _docs(), annotator="t")
    problem = next((p for p in e.value.problems if message in p), e.value.problems)
    assert message in problem, problem
    assert problem.startswith(f"{path}:2: 100_test {row['id']} "), problem


def test_resolve_rejects_overlaps_unknown_documents_and_duplicate_ids(tmp_path):
    path = _anchors(tmp_path, {"id": "a", "label": "FIGURE", "text": "15 people"},
                    {"id": "b", "label": "ACTOR", "text": "people", "left": "15"},
                    {"id": "a", "label": "LOCATION", "text": "Syria"})
    with pytest.raises(AnchorError) as e:
        resolve(path, _docs(), annotator="t")
    text = "\n".join(e.value.problems)
    assert "overlaps a '15 people'" in text and "G3" in text
    assert f"{path}:3: 100_test a LOCATION 'Syria': duplicate id (first on line 1)" in text
    other = tmp_path / "b.jsonl"
    write_jsonl(other, [{"doc": "999_missing", "id": "a", "label": "ACTOR", "text": "Rebels"}])
    with pytest.raises(AnchorError, match=r"b.jsonl:1: 999_missing: no document with source file stem"):
        resolve(other, _docs(), annotator="t")


def test_script_exits_2_and_writes_nothing_on_a_broken_anchor(tmp_path, capsys):
    lines = ANCHORS.read_text(encoding="utf-8").splitlines()
    broken = [json.loads(line) for line in lines]
    broken[5] = {**broken[5], "text": "no such words"}
    path = tmp_path / "anchors.jsonl"
    write_jsonl(path, broken)
    out_dir = tmp_path / "out"
    code = _script().main(["--documents", str(DOCS), "--anchors", str(path), "--out-dir", str(out_dir)])
    err = capsys.readouterr().err
    assert code == 2 and f"{path}:6: {broken[5]['doc']} {broken[5]['id']}" in err and "not found" in err
    assert not out_dir.exists()


def test_doccano_round_trip_candidate_matches_and_carries_provenance(built):
    """The committed candidate (pushed, labelled through the API, pulled, adjudicated) holds exactly
    the resolved gold, each span with its provenance; a lost span is named, not ignored."""
    script = _script()
    candidate = list(read_jsonl(HAND / "seeds.candidate.jsonl"))
    assert [_key(r) for r in sorted(candidate, key=_stem)] == [_key(r) for r in built["gold"]]
    assert {(s["source"], s["adjudication"]) for r in candidate for s in r["spans"]} == \
        {("hand", "agreed"), ("projected", "agreed")}
    adjudicated = list(read_jsonl(HAND / "seeds.adjudicated.jsonl"))
    assert script.with_provenance(adjudicated, built["gold"]) == candidate
    damaged = [dict(r) for r in adjudicated]
    lost = damaged[0]["spans"][3]
    damaged[0] = {**damaged[0], "spans": [s for s in damaged[0]["spans"] if s is not lost],
                  "relations": [r for r in damaged[0]["relations"] if lost["id"] not in (r["from"], r["to"])]}
    with pytest.raises(AnchorError) as e:
        script.with_provenance(damaged, built["gold"])
    assert any(damaged[0]["id"] in p and "only in the anchors" in p for p in e.value.problems)
