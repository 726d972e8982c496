"""The gold commands end to end through the CLI (typer's CliRunner), every option at least once."""

import json

from typer.testing import CliRunner

from annotate.cli import app
from gold_fixtures import document, gold, line, write_jsonl, write_snapshot

T1 = "At least 544 civilians were killed in Idlib, rights groups said."
T2 = "Barrel bombs hit Hama, rescuers said."
run = CliRunner().invoke


def _snapshot(tmp_path):
    lines = [
        line("d1", T1, "a1", [(1, "At least 544 civilians", "FIGURE"), (2, "Idlib", "LOCATION"),
                              (3, "rights groups", "ACTOR"), (4, "said", "ATTRIBUTION")],
             [(1, 4, "REPORTED_BY"), (4, 3, "SOURCE")], with_text=False),
        line("d1", T1, "a2", [(1, "At least 544 civilians", "FIGURE"), (2, "Idlib", "ACTOR"),
                              (3, "rights groups", "ACTOR"), (4, "said", "ATTRIBUTION")],
             [(1, 4, "REPORTED_BY"), (4, 3, "SOURCE")], with_text=False),
        line("d1", T1, "a3", [(1, "Idlib", "LOCATION")], confirmed=False, with_text=False),
        line("d2", T2, "a1", [(1, "Barrel bombs", "WEAPON"), (2, "Hama", "LOCATION")], with_text=False),
        line("d2", T2, "a2", [(1, "Barrel bombs", "WEAPON"), (2, "Hama", "LOCATION")], with_text=False),
    ]
    docs = write_jsonl(tmp_path / "documents.jsonl", [
        document("d1", T1, outlet="example.org"), document("d2", T2, outlet="example.net")])
    return write_snapshot(tmp_path / "snap", lines), docs


def test_pipeline_agree_adjudicate_export_verify(tmp_path):
    snap, docs = _snapshot(tmp_path)
    agreement = tmp_path / "agreement.json"
    res = run(app, ["agree", str(snap), "--documents", str(docs), "--json", str(agreement), "--show", "-1"])
    assert res.exit_code == 0, res.output
    assert "a1 / a2" in res.output and "left out 1 unconfirmed line(s) with 1 span(s)" in res.output
    res = run(app, ["agree", str(snap), "-d", str(docs), "--include-unconfirmed", "--show", "0"])
    assert res.exit_code == 0 and "a1 / a3" in res.output and "disagreements" not in res.output

    cand, conflicts = tmp_path / "cand.jsonl", tmp_path / "conflicts.jsonl"
    res = run(app, ["adjudicate", str(snap), "-d", str(docs), "--out", str(cand), "--conflicts", str(conflicts)])
    assert res.exit_code == 1 and "1 open" in res.output and conflicts.is_file()
    (conflict,) = [json.loads(x) for x in conflicts.read_text().splitlines()]
    assert conflict["id"] == "d1:38-43"
    res = run(app, ["export", str(cand), "--version", "0.1.0", "--out-root", str(tmp_path / "gold")])
    assert res.exit_code == 2 and "open adjudication conflict" in res.output
    decisions = write_jsonl(tmp_path / "decisions.jsonl", [{"conflict": "d1:38-43", "action": "accept", "options": [2]}])
    res = run(app, ["adjudicate", str(snap), "-d", str(docs), "-o", str(cand), "-c", str(conflicts),
                    "--decisions", str(decisions)])
    assert res.exit_code == 0, res.output

    notes = tmp_path / "notes.md"
    notes.write_text("Texts quoted for research only.\n", encoding="utf-8")
    allow = tmp_path / "allow.txt"
    allow.write_text('"Idlib" label-conflict the city here\n', encoding="utf-8")
    res = run(app, ["export", str(cand), "--version", "0.1.0", "--out-root", str(tmp_path / "gold"),
                    "--snapshot", str(snap), "--agreement", str(agreement), "--documents", str(docs),
                    "--datacard-notes", str(notes), "--allow", str(allow)])
    assert res.exit_code == 0, res.output
    assert "2 documents, 6 spans" in res.output
    rel = tmp_path / "gold" / "v0.1.0"
    card = (rel / "DATACARD.md").read_text(encoding="utf-8")
    assert "Texts quoted for research only." in card and "example.net" in card and "Annotators: a1, a2, a3." in card
    manifest = json.loads((rel / "manifest.json").read_text())
    assert manifest["agreement"]["overall"]["pairs"] == 1 and manifest["provenance"] == {"agreed": 5, "decision": 1}
    assert run(app, ["verify", str(tmp_path / "gold" / "latest")]).exit_code == 0


def test_majority_and_allow_open(tmp_path):
    snap, docs = _snapshot(tmp_path)
    cand = tmp_path / "cand.jsonl"
    res = run(app, ["adjudicate", str(snap), "-d", str(docs), "-o", str(cand), "--min-agree", "2",
                    "--include-unconfirmed"])
    # a3's unconfirmed line counts now: Idlib LOCATION has a1 + a3 = 2 votes -> agreed; a2's Idlib ACTOR stays open
    assert res.exit_code == 1, res.output
    assert "spans: 13 in = 12 agreed + 0 by decision + 0 rejected + 1 open" in res.output
    res = run(app, ["export", str(cand), "--version", "0.1.0", "--out-root", str(tmp_path / "gold"), "--allow-open"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "gold" / "v0.1.0" / "manifest.json").read_text())["open_conflicts"] == ["d1:38-43"]
    assert run(app, ["adjudicate", str(snap), "-o", str(cand), "--min-agree", "0"]).exit_code == 2


def test_project_labels_and_lint_and_import_options(tmp_path):
    docs = write_jsonl(tmp_path / "documents.jsonl", [
        document("a", T1, [("b", 0.8)]), document("b", "Wire: " + T1, [("a", 0.8)])])
    g = write_jsonl(tmp_path / "g.jsonl", [gold("a", T1, [("Idlib", "LOCATION")])])
    out, review = tmp_path / "p.jsonl", tmp_path / "review.jsonl"
    res = run(app, ["project-labels", str(g), "-d", str(docs), "-o", str(out), "--review", str(review)])
    assert res.exit_code == 0 and review.is_file()
    assert json.loads(out.read_text())["spans"][0]["start"] == len("Wire: ") + T1.index("Idlib")
    res = run(app, ["project-labels", str(g), "-d", str(docs), "-o", str(out), "--min-similarity", "0.9"])
    assert res.exit_code == 0 and "skipped a -> b: similarity 0.8 < 0.9" in res.output and out.read_text() == ""

    findings = tmp_path / "findings.json"
    res = run(app, ["lint", str(g), str(out), "--json", str(findings)])
    assert res.exit_code == 0 and json.loads(findings.read_text())["documents"] == 1

    export = tmp_path / "doccano.jsonl"
    write_jsonl(export, [{"id": 9, "text": T1, "label": [[38, 43, "LOCATION"]], "ref": {"doc": "x9"}}])
    res = run(app, ["import", str(export), "-o", str(tmp_path / "i.jsonl"), "--format", "doccano", "--id-key", "ref.doc"])
    assert res.exit_code == 0 and json.loads((tmp_path / "i.jsonl").read_text())["id"] == "x9"
    res = run(app, ["import", str(export), "-o", str(tmp_path / "i.jsonl"), "-d", str(docs)])
    assert res.exit_code == 0 and json.loads((tmp_path / "i.jsonl").read_text())["id"] == "a"
    res = run(app, ["import", str(export), "-o", str(tmp_path / "i.jsonl"), "--format", "prodigy"])
    assert res.exit_code == 2 and "doccano.jsonl:1: cannot convert" in res.output
