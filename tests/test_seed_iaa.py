"""The two-annotator round on the seeds (Doccano project seeds-iaa): the second annotator's anchors
resolve to the committed gold file, and agreement and adjudication recomputed from the committed
pull snapshot give the committed figures and candidate. Offline: reads committed files only."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from annotate.adjudicate import adjudicate
from annotate.agree import agree
from annotate.anchors import documents_by_stem, resolve
from annotate.gold import project_record
from annotate.jsonl import read_jsonl
from annotate.schema import validate_file

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "corpus" / "documents.jsonl"
HAND = ROOT / "corpus" / "hand"
SNAPSHOTS = sorted((ROOT / "corpus" / "annotations" / "seeds-iaa").glob("*/annotations.jsonl"))


def _sig(rec: dict) -> tuple:
    by_id = {s["id"]: (s["start"], s["end"], s["label"]) for s in rec["spans"]}
    return (rec["id"], sorted(by_id.values()),
            sorted((by_id[r["from"]], by_id[r["to"]], r["label"]) for r in rec.get("relations") or []))


@pytest.fixture(scope="module")
def snapshot() -> Path:
    if not SNAPSHOTS:
        pytest.skip("no seeds-iaa snapshot committed")
    return SNAPSHOTS[0].parent


def test_annotator2_anchors_resolve_to_the_committed_gold():
    docs = list(read_jsonl(DOCS))
    hand = resolve(HAND / "seeds.annotator2.anchors.jsonl", docs, annotator="annotator2")
    committed = {r["id"]: r for r in read_jsonl(HAND / "seeds.annotator2.gold.jsonl")}
    assert len(hand) == 4 and len(committed) == 5
    for rec in hand:
        assert _sig(rec) == _sig(committed[rec["id"]])
    src = next(r for r in hand if r["meta"]["source_file"].endswith("000_e7a7bc66fee5992e.txt"))
    dup = documents_by_stem(docs)["002_3d6bfe040518f6db"]
    projected, review = project_record(src, dup["id"], dup["text"])
    assert review == [] and _sig(projected) == _sig(committed[dup["id"]])
    assert validate_file(HAND / "seeds.annotator2.gold.jsonl", "gold") == []


def test_agreement_recomputed_from_the_snapshot_equals_the_committed_json(snapshot):
    got = agree(snapshot, DOCS)
    saved = json.loads((HAND / "seeds-iaa.agreement.json").read_text(encoding="utf-8"))
    assert got["annotators"] == saved["annotators"] == ["annotator1", "annotator2"]
    assert got["overall"] == saved["overall"]
    assert len(got["disagreements"]) == len(saved["disagreements"])


def test_adjudication_accounts_for_every_span_and_the_candidate_carries_provenance(snapshot):
    res = adjudicate(snapshot, DOCS)
    spans, rels = res["accounting"]["spans"], res["accounting"]["relations"]
    assert spans["in"] == spans["agreed"] + spans["decision"] + spans["rejected"] + spans["open"]
    assert rels["in"] == rels["agreed"] + rels["decision"] + rels["rejected"] + rels["open"]
    assert res["open_conflicts"] == []
    spec = importlib.util.spec_from_file_location("mk", ROOT / "scripts" / "make_seeds_iaa_candidate.py")
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    index = mk.provenance_index([ROOT / p for p in mk.ANNOTATOR_FILES])
    built = mk.with_provenance(res["records"], index)
    committed = list(read_jsonl(HAND / "seeds-iaa.gold-candidate.jsonl"))
    assert [_sig(r) for r in built] == [_sig(r) for r in committed]
    assert {s["source"] for r in committed for s in r["spans"]} <= {"hand", "projected", "decision"}
