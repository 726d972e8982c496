"""`annotate score` through the CLI: the four prediction sources, exit codes of the gate, input errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.cli import app
from annotate.score import score

TEXTS = {
    "a": "At least 544 civilians were killed in Idlib province, rescuers said.",
    "b": "Syrian army helicopters dropped barrel bombs on Mhambil, witnesses said.",
    "c": "No spans here.",
}


def span(doc: str, phrase: str, label: str) -> dict:
    start = TEXTS[doc].index(phrase)
    return {"start": start, "end": start + len(phrase), "label": label}


GOLD = {
    "a": [span("a", "At least 544 civilians", "FIGURE"), span("a", "Idlib province", "LOCATION"),
          span("a", "rescuers", "ACTOR"), span("a", "said", "ATTRIBUTION")],
    "b": [span("b", "barrel bombs", "WEAPON"), span("b", "Mhambil", "LOCATION"), span("b", "witnesses", "ACTOR"),
          span("b", "said", "ATTRIBUTION")],
    "c": [],
}
# what every source below predicts: 6 of the 8 gold spans exactly, one relabelled, one partial
PRED = {
    "a": [span("a", "At least 544 civilians", "FIGURE"), span("a", "Idlib", "LOCATION"),
          span("a", "rescuers", "ACTOR"), span("a", "said", "ATTRIBUTION")],
    "b": [span("b", "barrel bombs", "WEAPON"), span("b", "Mhambil", "ACTOR"), span("b", "witnesses", "ACTOR"),
          span("b", "said", "ATTRIBUTION")],
    "c": [],
}
STRICT_F1 = 0.75  # 6 correct of 8 gold and 8 predicted

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": k, "text": TEXTS[k], "spans": GOLD[k], "meta": {"outlet": k < "b"}}) + "\n"
                            for k in TEXTS), encoding="utf-8")
    pred = tmp_path / "pred.jsonl"
    pred.write_text("".join(json.dumps({"id": k, "spans": PRED[k]}) + "\n" for k in ("b", "a", "c")), encoding="utf-8")
    # an extractor module and a command script that produce the same predictions from the text
    (tmp_path / "score_fixture_extractor.py").write_text(
        "import json\nPRED = json.loads(%r)\nTEXTS = json.loads(%r)\n"
        "BY_TEXT = {TEXTS[k]: PRED[k] for k in TEXTS}\n"
        "def extract(text):\n    return [(s['start'], s['end'], s['label']) for s in BY_TEXT[text]]\n"
        % (json.dumps(PRED), json.dumps(TEXTS)), encoding="utf-8")
    (tmp_path / "command.py").write_text(
        "import json, sys\nsys.path.insert(0, %r)\nfrom score_fixture_extractor import extract\n"
        "for line in sys.stdin:\n    d = json.loads(line)\n"
        "    spans = [{'start': s, 'end': e, 'label': l} for s, e, l in extract(d['text'])]\n"
        "    print(json.dumps({'id': d['id'], 'spans': spans}), flush=True)\n" % str(tmp_path), encoding="utf-8")
    return {"gold": gold, "pred": pred, "dir": tmp_path}


def invoke(*args: str):
    return runner.invoke(app, ["score", *args, "--bootstrap", "0"])


def strict_f1(result) -> float:
    return result["schemes"]["strict"]["micro"]["f1"]


def test_pred_file(files):
    r = invoke("--gold", str(files["gold"]), "--pred", str(files["pred"]), "--json", str(files["dir"] / "r.json"))
    assert r.exit_code == 0, r.output
    assert "strict" in r.output and "0.7500" in r.output
    report = json.loads((files["dir"] / "r.json").read_text())
    assert strict_f1(report) == STRICT_F1 and report["prediction"]["kind"] == "file"


def test_extractor(files, monkeypatch):
    monkeypatch.syspath_prepend(str(files["dir"]))
    report = score(files["gold"], extractor="score_fixture_extractor:extract", bootstrap=0)
    assert strict_f1(report) == STRICT_F1 and report["documents"]["predicted"] == 3
    r = invoke("--gold", str(files["gold"]), "--extractor", "score_fixture_extractor:extract")
    assert r.exit_code == 0, r.output


def test_extractor_that_raises_is_named(files, monkeypatch):
    (files["dir"] / "score_bad_extractor.py").write_text("def extract(text):\n    raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(files["dir"]))
    r = invoke("--gold", str(files["gold"]), "--extractor", "score_bad_extractor:extract")
    assert r.exit_code == 2 and "failed on document 'a': RuntimeError: boom" in r.output


def test_command(files):
    cmd = f"{sys.executable} {files['dir'] / 'command.py'}"
    report = score(files["gold"], command=cmd, bootstrap=0)
    assert strict_f1(report) == STRICT_F1 and report["prediction"] == {"kind": "command", "spec": cmd}
    r = invoke("--gold", str(files["gold"]), "--command", cmd, "--fail-under", "strict.f1=0.7")
    assert r.exit_code == 0, r.output


def test_failing_command_is_a_clear_error(files):
    r = invoke("--gold", str(files["gold"]), "--command",
               f"{sys.executable} -c \"import sys; sys.stdin.read(); sys.stderr.write('model not found\\n'); sys.exit(3)\"")
    assert r.exit_code == 2
    assert "exited with status 3: model not found" in r.output and "Traceback" not in r.output
    r = invoke("--gold", str(files["gold"]), "--command", "echo not-json")
    assert r.exit_code == 2 and "command output line 1: not valid JSON" in r.output


def test_spacy_pipeline_ents_and_spans_key(files, tmp_path):
    spacy = pytest.importorskip("spacy")
    patterns = []
    for k, spans in PRED.items():
        for s in spans:
            patterns.append({"label": {"LOCATION": "GPE", "ACTOR": "ORG"}.get(s["label"], s["label"]),
                             "pattern": TEXTS[k][s["start"]:s["end"]]})
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([p for p in patterns if p["pattern"] != "Mhambil"] +
                                              [{"label": "ORG", "pattern": "Mhambil"}])
    nlp.to_disk(tmp_path / "ents_pipe")
    report = score(files["gold"], spacy=str(tmp_path / "ents_pipe"), label_map="GPE=LOCATION,ORG=ACTOR", bootstrap=0)
    assert strict_f1(report) == STRICT_F1
    assert report["prediction"]["label_map"] == {"GPE": "LOCATION", "ORG": "ACTOR"}

    nlp2 = spacy.blank("en")
    nlp2.add_pipe("span_ruler", config={"spans_key": "sc"}).add_patterns(
        [{"label": p["label"], "pattern": p["pattern"]} for p in patterns if p["pattern"] != "Mhambil"]
        + [{"label": "ORG", "pattern": "Mhambil"}, {"label": "DATE", "pattern": "said"}])
    nlp2.to_disk(tmp_path / "spans_pipe")
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"GPE": "LOCATION", "ORG": "ACTOR", "DATE": None}))
    r = invoke("--gold", str(files["gold"]), "--spacy", str(tmp_path / "spans_pipe"), "--spans-key", "sc",
               "--label-map", str(mapping), "--json", str(tmp_path / "r.json"))
    assert r.exit_code == 0, r.output
    assert strict_f1(json.loads((tmp_path / "r.json").read_text())) == STRICT_F1
    r = invoke("--gold", str(files["gold"]), "--spacy", str(tmp_path / "spans_pipe"), "--spans-key", "nope")
    assert r.exit_code == 2 and "doc.spans['nope']" in r.output
    r = invoke("--gold", str(files["gold"]), "--spacy", str(tmp_path / "no_such_pipe"))
    assert r.exit_code == 2 and "cannot be loaded" in r.output


def test_gate_exit_codes(files):
    base = ["--gold", str(files["gold"]), "--pred", str(files["pred"])]
    ok = invoke(*base, "--fail-under", "strict.f1=0.70", "--fail-under", "type.ACTOR.recall=1")
    assert ok.exit_code == 0 and "gate passed (2 checks)" in ok.output
    bad = invoke(*base, "--fail-under", "strict.f1=0.80", "--fail-under", "exact.f1=0.99", "--fail-under", "partial.f1=0.5")
    assert bad.exit_code == 1
    fails = [line for line in bad.output.splitlines() if line.startswith("FAIL ")]
    assert fails == ["FAIL strict.f1 = 0.7500 is under 0.8000 (--fail-under)",
                     "FAIL exact.f1 = 0.8750 is under 0.9900 (--fail-under)"]
    assert invoke(*base, "--fail-under", "strict.f1").exit_code == 2
    assert invoke(*base, "--fail-under", "strict.BOGUS.f1=0.5").exit_code == 2


def test_baseline_max_drop(files, tmp_path):
    base = ["--gold", str(files["gold"])]
    old = tmp_path / "old.json"
    gold_as_pred = tmp_path / "perfect.jsonl"
    gold_as_pred.write_text(files["gold"].read_text())
    assert invoke(*base, "--pred", str(gold_as_pred), "--json", str(old)).exit_code == 0
    r = invoke(*base, "--pred", str(files["pred"]), "--baseline", str(old), "--max-drop", "0.02")
    assert r.exit_code == 1
    assert "FAIL strict.f1 dropped 0.2500 (1.0000 -> 0.7500), more than --max-drop 0.0200" in r.output
    assert invoke(*base, "--pred", str(files["pred"]), "--baseline", str(old), "--max-drop", "0.3").exit_code == 0
    assert invoke(*base, "--pred", str(files["pred"]), "--max-drop", "0.3").exit_code == 2
    (tmp_path / "junk.json").write_text("{}")
    assert invoke(*base, "--pred", str(files["pred"]), "--baseline", str(tmp_path / "junk.json")).exit_code == 2


def test_input_errors_exit_2(files, tmp_path):
    gold = ["--gold", str(files["gold"])]
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text(json.dumps({"id": "zzz", "spans": []}) + "\n")
    r = invoke(*gold, "--pred", str(unknown))
    assert r.exit_code == 2 and f"{unknown}:1: id 'zzz' is not a document of the gold" in r.output
    changed = tmp_path / "changed.jsonl"
    changed.write_text(json.dumps({"id": "a", "text": "other text", "spans": []}) + "\n")
    r = invoke(*gold, "--pred", str(changed))
    assert r.exit_code == 2 and "differs from the gold text" in r.output
    assert invoke(*gold).exit_code == 2  # no prediction source
    assert invoke(*gold, "--pred", str(files["pred"]), "--extractor", "rules").exit_code == 2  # two
    assert invoke("--gold", str(tmp_path / "nope"), "--pred", str(files["pred"])).exit_code == 2
    (tmp_path / "empty_release").mkdir()
    r = invoke("--gold", str(tmp_path / "empty_release"), "--pred", str(files["pred"]))
    assert r.exit_code == 2 and "folder without gold.jsonl" in r.output
    out = tmp_path / "never.json"
    invoke(*gold, "--pred", str(unknown), "--json", str(out))
    assert not out.exists()  # nothing half-written on an error


def test_missing_documents_are_reported(files, tmp_path):
    partial = tmp_path / "partial.jsonl"
    partial.write_text(json.dumps({"id": "a", "spans": PRED["a"]}) + "\n")
    r = invoke("--gold", str(files["gold"]), "--pred", str(partial))
    assert r.exit_code == 0
    assert "2 documents have no prediction and count as empty: b, c" in r.output


def test_compare_slices_and_report_files(files, tmp_path):
    md, html = tmp_path / "s.md", tmp_path / "e.html"
    r = runner.invoke(app, ["score", "--gold", str(files["gold"]), "--pred", str(files["pred"]), "--compare",
                            str(files["gold"]), "--by", "meta.outlet", "--markdown", str(md), "--errors", str(html),
                            "--bootstrap", "200", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert "Paired bootstrap" in r.output and "Slices" in r.output
    assert "| strict | 0.7500 |" in md.read_text()
    assert "Mhambil" in html.read_text() and "wrong label" in html.read_text()


def test_help_explains_schemes_and_offsets():
    r = runner.invoke(app, ["score", "--help"])
    assert r.exit_code == 0
    for words in ("end exclusive", "strict", "exact", "partial", "type", "--fail-under", "Examples"):
        assert words in r.output


def test_baseline_scored_on_another_gold_is_refused_unless_told(files, tmp_path):
    import hashlib

    from annotate.errors import InputError

    old = tmp_path / "old.json"
    other_gold = tmp_path / "other_gold.jsonl"          # one span fewer: a different gold file
    other_gold.write_text("".join(json.dumps({"id": k, "text": TEXTS[k], "spans": GOLD[k][1:]}) + "\n" for k in TEXTS))
    assert invoke("--gold", str(other_gold), "--pred", str(files["pred"]), "--json", str(old)).exit_code == 0
    ours = hashlib.sha256(files["gold"].read_bytes()).hexdigest()
    theirs = hashlib.sha256(other_gold.read_bytes()).hexdigest()
    assert json.loads(old.read_text())["gold"]["sha256"] == theirs != ours
    base = ["--gold", str(files["gold"]), "--pred", str(files["pred"]), "--baseline", str(old)]
    r = invoke(*base)
    assert r.exit_code == 2
    assert f"was scored on a different gold (gold.sha256 {theirs}" in r.output
    assert f"than this run (gold.sha256 {ours}" in r.output and "--baseline-any-gold" in r.output
    assert "Traceback" not in r.output
    r = invoke(*base, "--baseline-any-gold", "--json", str(tmp_path / "new.json"))
    assert r.exit_code == 0, r.output
    assert "warning: " in r.output and "compared anyway (--baseline-any-gold)" in r.output
    import jsonschema

    from annotate.schema import schemas_dir

    written = json.loads((tmp_path / "new.json").read_text())
    jsonschema.validate(written, json.loads((schemas_dir() / "score_report.schema.json").read_text()))
    gate = written["gate"]
    assert gate["passed"] and len(gate["warnings"]) == 1 and theirs in gate["warnings"][0]
    # the library: the same error before any scoring; the same gold passes silently
    with pytest.raises(InputError, match="different gold"):
        score(files["gold"], files["pred"], baseline=old, bootstrap=0)
    same = tmp_path / "same.json"
    score(files["gold"], files["pred"], bootstrap=0, json_path=same)
    assert "warnings" not in score(files["gold"], files["pred"], baseline=same, bootstrap=0)["gate"]
