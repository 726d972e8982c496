"""`make demo` end to end against the suite's real Doccano, and the replay it relies on.

Uses the session fixture ``doccano_server`` (tests/doccano_fixtures.py) with project names of its
own, so it shares the server with the other Doccano tests. Nothing here touches corpus/gold/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from annotate import doccano
from annotate.demo import run_demo
from annotate.errors import InputError
from annotate.export import list_releases
from annotate.jsonl import read_jsonl, write_jsonl
from annotate.replay import replay
from annotate.score import score

ROOT = Path(__file__).resolve().parent.parent
GOLD = ROOT / "corpus" / "gold" / "latest"


def _releases() -> list:
    return [(v, p.name, sorted(f.name for f in p.iterdir())) for v, p in list_releases(ROOT / "corpus" / "gold")]


@pytest.fixture(scope="module")
def first_run(doccano_server, tmp_path_factory):
    before = _releases()
    scratch = tmp_path_factory.mktemp("demo-run-1")
    res = run_demo(scratch=scratch, project="demo-test", state_dir=doccano_server.state_dir,
                   port=doccano_server.port, bootstrap=200)
    return res, before


def test_demo_end_to_end(first_run, doccano_server):
    res, before = first_run
    gold = list(read_jsonl(GOLD / "gold.jsonl"))
    n_spans = sum(len(r["spans"]) for r in gold)
    n_rels = sum(len(r.get("relations") or []) for r in gold)
    assert res["server"]["url"] == doccano_server.url
    assert res["ingest"]["documents"] == len(gold) == 5
    assert res["push"]["created"] == 2 * len(gold) and res["push"]["failed"] == 0
    assert res["push"]["prelabels"] > 0  # rule baseline pre-annotations went up
    # the replay kept right pre-annotations rather than re-creating them
    for name in ("annotator1", "annotator2"):
        r = res["replay"]["annotators"][name]
        assert r["documents"] == 5 and r["kept"] > 0.9 * n_spans and r["kept"] + r["added"] == n_spans
        assert r["relations_added"] == n_rels and r["confirmed"] == 5
    pull = res["pull"]
    assert pull["records"] == 10 and pull["spans"] == 2 * n_spans and pull["relations"] == 2 * n_rels
    assert pull["confirmed"] == 10 and pull["prelabels_kept"] > pull["spans_added"]
    assert res["agree"]["overall"]["strict_f1"] == 1.0 and res["agree"]["disagreements"] == 0
    acc = res["adjudicate"]["accounting"]["spans"]
    assert acc["in"] == 2 * n_spans and acc["agreed"] == 2 * n_spans and acc["open"] == 0

    # the scratch release holds exactly the committed gold's labels
    release = Path(res["outputs"]["release"])
    assert release.parent.parent == Path(res["scratch"]) and release.name == GOLD.resolve().name
    assert res["verify"]["problems"] == []
    got = {r["id"]: {(s["start"], s["end"], s["label"]) for s in r["spans"]} for r in read_jsonl(release / "gold.jsonl")}
    want = {r["id"]: {(s["start"], s["end"], s["label"]) for s in r["spans"]} for r in gold}
    assert got == want
    manifest = json.loads((release / "manifest.json").read_text())
    assert manifest["annotators"] == ["annotator1", "annotator2"]
    assert manifest["counts"]["relations"]["total"] == n_rels

    # the score equals the rule baseline's score on the committed release; reports written
    committed = score(GOLD, extractor="rules", bootstrap=0)
    assert res["score"]["schemes"]["strict"]["micro"]["f1"] == committed["schemes"]["strict"]["micro"]["f1"]
    html = Path(res["outputs"]["errors_html"]).read_text()
    assert "<html" in html.lower() and json.loads(Path(res["outputs"]["score_json"]).read_text())["schema_version"]
    assert _releases() == before  # committed releases untouched


def test_demo_rerun_is_quick_and_adds_nothing(first_run, doccano_server, tmp_path):
    """The script again, as `make demo` runs it: no upload, no new label, a new scratch export, the summary printed."""
    res, _ = first_run
    scratch = tmp_path / "run-2"
    env = {**os.environ, "ANNOTATE_STATE_DIR": str(doccano_server.state_dir)}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--project", "demo-test",
                           "--port", str(doccano_server.port), "--scratch", str(scratch), "--bootstrap", "0"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    out = proc.stdout
    assert "0 uploaded, 10 already there" in out
    assert out.count("deleted 0, added 0 spans and 0 relations; 5 of 5 documents already as in the gold") == 2
    assert doccano_server.url in out and str(doccano_server.state_dir / "credentials.json") in out
    strict_f1 = score(GOLD, extractor="rules", bootstrap=0)["schemes"]["strict"]["micro"]["f1"]
    assert re.search(rf"^\s*strict\s+\S+\s+\S+\s+{strict_f1:.4f}\s", out, re.M)  # the score table's row
    assert "REPLAYED" in out and "annotate server down" in out
    release = scratch / "gold" / Path(res["outputs"]["release"]).name  # the committed latest version, re-exported
    assert str(release) in out and str(scratch / "errors.html") in out
    for name in ("admin", "annotator1", "annotator2"):  # never a password
        assert doccano_server.settings()["password"] not in out
        assert json.loads((doccano_server.state_dir / "credentials.json").read_text())["users"][name]["password"] not in out
    snap = sorted((scratch / "annotations" / "demo-test").iterdir())[-1]
    assert (snap / "annotations.jsonl").read_bytes() == (Path(res["pull"]["snapshot"]) / "annotations.jsonl").read_bytes()
    def labels(path: Path) -> list:  # the records but meta.snapshot (the pull's time)
        return [(r["id"], r["spans"], r.get("relations")) for r in read_jsonl(path / "gold.jsonl")]

    assert labels(release) == labels(Path(res["outputs"]["release"]))


def test_replay_fixes_what_an_annotator_changed_and_converts_offsets(doccano_server, tmp_path):
    """Astral characters before the spans (UTF-16 != code points); a stray span and a wrong label are put right."""
    text = "👨🏻‍🚒 Rescuers said 7 civilians were killed in Idlib, the Syrian Network for Human Rights said."
    doc = {"id": "replay-u1", "text": text, "meta": {"text_sha256": hashlib.sha256(text.encode()).hexdigest()}}
    docs = tmp_path / "docs.jsonl"
    write_jsonl(docs, [doc])

    def at(s: str, label: str, i: int) -> dict:
        start = text.index(s)
        return {"id": i, "start": start, "end": start + len(s), "label": label}

    spans = [at("Rescuers", "ACTOR", 1), at("said", "ATTRIBUTION", 2), at("7 civilians", "FIGURE", 3),
             at("Idlib", "LOCATION", 4), at("Syrian Network for Human Rights", "ACTOR", 5)]
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [{"id": "replay-u1", "text": text, "spans": spans,
                        "relations": [{"from": 3, "to": 2, "label": "REPORTED_BY"}, {"from": 2, "to": 1, "label": "SOURCE"}]}])
    doccano_server.add_users("annotator1")
    doccano.push(docs, "replay-test", ["annotator1"], lambda t: [at("Idlib", "ACTOR", 0)])  # a wrong pre-annotation
    first = replay(gold, "replay-test", ["annotator1"])["annotators"]["annotator1"]
    assert (first["deleted"], first["added"], first["relations_added"], first["confirmed"]) == (1, 5, 2, 1)

    # the annotator adds a stray span: the next replay deletes it and keeps the rest
    client = doccano.Client(doccano_server.url, username="annotator1",
                            password=doccano_server.add_users("annotator1")["annotator1"])
    pid = first["project_id"]
    ex = next(client.pages(f"projects/{pid}/examples"))
    types = {t["text"]: t["id"] for t in client.get(f"projects/{pid}/span-types")}
    client.post(f"projects/{pid}/examples/{ex['id']}/spans", {"label": types["WEAPON"], "start_offset": 0, "end_offset": 7})
    second = replay(gold, "replay-test", ["annotator1"])["annotators"]["annotator1"]
    assert (second["deleted"], second["added"], second["kept"], second["confirmed"]) == (1, 0, 5, 0)
    third = replay(gold, "replay-test", ["annotator1"])["annotators"]["annotator1"]
    assert third["unchanged"] == 1 and third["kept"] == 5

    snap = doccano.pull("replay-test", tmp_path / "ann")
    (rec,) = list(read_jsonl(Path(snap["snapshot"]) / "annotations.jsonl"))
    assert rec["confirmed"] is True
    assert {(s["start"], s["end"], s["label"]) for s in rec["spans"]} == {(s["start"], s["end"], s["label"]) for s in spans}
    by_id = {s["id"]: text[s["start"]:s["end"]] for s in rec["spans"]}
    assert {(by_id[r["from"]], by_id[r["to"]], r["label"]) for r in rec["relations"]} == {
        ("7 civilians", "said", "REPORTED_BY"), ("said", "Rescuers", "SOURCE")}


def test_replay_refuses_a_missing_project_or_document(doccano_server, tmp_path):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(gold, [{"id": "nowhere", "text": "Idlib", "spans": []}])
    with pytest.raises(InputError, match="no Doccano project 'no-such-project · annotator1'"):
        replay(gold, "no-such-project", ["annotator1"])
    docs = tmp_path / "docs.jsonl"
    write_jsonl(docs, [{"id": "replay-m1", "text": "Idlib", "meta": {"text_sha256": hashlib.sha256(b"Idlib").hexdigest()}}])
    doccano_server.add_users("annotator1")
    doccano.push(docs, "replay-missing", ["annotator1"])
    with pytest.raises(InputError, match=r"1 gold document\(s\) are not in Doccano project 'replay-missing · annotator1'"):
        replay(gold, "replay-missing", ["annotator1"])


def test_wanted_is_in_code_points_and_refuses_a_dangling_relation():
    from annotate.replay import wanted

    text = "🇸🇾 Idlib, rescuers said"
    rec = {"id": "d", "text": text, "spans": [{"id": 1, "start": 3, "end": 8, "label": "LOCATION"},
                                              {"id": 2, "start": 10, "end": 18, "label": "ACTOR"},
                                              {"id": 3, "start": 19, "end": 23, "label": "ATTRIBUTION"}],
           "relations": [{"from": 3, "to": 2, "label": "SOURCE"}]}
    spans, rels = wanted(rec)
    assert spans == {1: (3, 8, "LOCATION"), 2: (10, 18, "ACTOR"), 3: (19, 23, "ATTRIBUTION")}  # UTF-16 only in doccano.py
    assert rels == {((19, 23, "ATTRIBUTION"), (10, 18, "ACTOR"), "SOURCE")}
    rec["relations"].append({"from": 3, "to": 9, "label": "SOURCE"})
    with pytest.raises(InputError, match="d: relation 'SOURCE' points at a span id that is not there"):
        wanted(rec)
