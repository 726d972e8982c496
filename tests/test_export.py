"""annotate export / verify: immutable releases, every format read back, semver, tamper detection."""

import hashlib
import json
import os
import shutil

import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training.converters import conll_ner_to_docs
from typer.testing import CliRunner

from annotate.agree import agree
from annotate.cli import app
from annotate.convert import convert
from annotate.errors import InputError
from annotate.export import export, verify, verify_release
from annotate.schema import schemas_dir, validate_file
from gold_fixtures import document, gold, line, write_jsonl, write_snapshot

T1 = "At least 544 civilians were killed in Idlib, rights groups said."
T2 = "🔥 Russian jets hit U.S.-based aid in Hama."      # astral char (UTF-16 shift) and "U.S." inside a token
T3 = "Moscow says 3 died."


def _gold(tmp_path, name="gold.jsonl", extra=()):
    recs = [
        gold("d1", T1, [("At least 544 civilians", "FIGURE"), ("544 civilians", "FIGURE"), ("Idlib", "LOCATION"),
                        ("rights groups", "ACTOR"), ("said", "ATTRIBUTION")],
             [(1, 5, "REPORTED_BY"), (5, 4, "SOURCE")]),
        gold("d2", T2, [("Russian jets", "ACTOR"), ("U.S.", "LOCATION"), ("Hama", "LOCATION")]),
        *extra,
    ]
    return write_jsonl(tmp_path / name, recs)


def _release(tmp_path, **kw):
    docs = write_jsonl(tmp_path / "documents.jsonl", [
        document("d1", T1, outlet="example.org", title="A title", url="https://example.org/a", licence="CC BY 4.0"),
        document("d2", T2), document("d3", T3)])
    notes = tmp_path / "notes.md"
    notes.write_text("Seed texts are quoted for research.\n", encoding="utf-8")
    return export(_gold(tmp_path), "0.1.0", tmp_path / "gold", documents=docs, datacard_notes=notes,
                  created="2026-11-22T00:00:00Z", **kw)


def test_release_layout_and_manifest(tmp_path):
    res = _release(tmp_path)
    rel = tmp_path / "gold" / "v0.1.0"
    assert res["release"] == str(rel) and res["previous"] is None
    assert sorted(p.name for p in rel.iterdir()) == ["CHANGELOG.md", "DATACARD.md", "doccano.jsonl", "gold.conll",
                                                     "gold.jsonl", "gold.spacy", "labels.json", "manifest.json",
                                                     "manifest.sha256"]
    assert os.readlink(tmp_path / "gold" / "latest") == "v0.1.0"           # relative symlink
    assert not [p for p in (tmp_path / "gold").iterdir() if p.name.startswith(".")]   # no temp folder left
    m = json.loads((rel / "manifest.json").read_text())
    assert m["counts"] == {"documents": 2, "spans": {"total": 8, "by_label": {"ACTOR": 2, "ATTRIBUTION": 1,
                                                                              "FIGURE": 2, "LOCATION": 3}},
                           "relations": {"total": 2, "by_label": {"REPORTED_BY": 1, "SOURCE": 1}}}
    assert set(m["files"]) == {"gold.jsonl", "gold.spacy", "gold.conll", "doccano.jsonl", "labels.json", "DATACARD.md",
                               "CHANGELOG.md"}
    assert (rel / "labels.json").read_bytes() == (schemas_dir() / "labels.json").read_bytes()
    assert all(len(v["sha256"]) == 64 and v["size"] == (rel / k).stat().st_size for k, v in m["files"].items())
    assert m["labels"]["span_labels"] == ["ACTOR", "ATTRIBUTION", "FIGURE", "LOCATION", "WEAPON"]
    assert m["labels"]["path"] == "schemas/labels.json" and len(m["labels"]["sha256"]) == 64
    assert m["offsets"].startswith("Python str indices") and m["tool"]["name"] == "annotate"
    assert [x["text"] for x in m["token_alignment"]["misaligned"]] == ["U.S."]
    assert [x["text"] for x in m["token_alignment"]["not_in_ents"]] == ["544 civilians"]
    if (schemas_dir() / "guidelines.md").is_file():
        assert len(m["guidelines"]["sha256"]) == 64
    assert validate_file(rel / "gold.jsonl", "gold") == []
    assert verify(rel) == [] and verify(tmp_path / "gold" / "latest") == []


def test_docbin_reads_back_through_spacy(tmp_path):
    _release(tmp_path)
    nlp = spacy.blank("en")
    docs = list(DocBin().from_disk(tmp_path / "gold" / "v0.1.0" / "gold.spacy").get_docs(nlp.vocab))
    assert [d.user_data["id"] for d in docs] == ["d1", "d2"]
    d1, d2 = docs
    assert [(e.text, e.label_) for e in d1.ents] == [("At least 544 civilians", "FIGURE"), ("Idlib", "LOCATION"),
                                                     ("rights groups", "ACTOR"), ("said", "ATTRIBUTION")]
    assert [(s.text, s.label_) for s in d1.spans["sc"]] == [
        ("At least 544 civilians", "FIGURE"), ("544 civilians", "FIGURE"), ("Idlib", "LOCATION"),
        ("rights groups", "ACTOR"), ("said", "ATTRIBUTION")]
    rel = d1.user_data["relations"][0]                                   # msgpack gives tuples back
    assert (tuple(rel["from"]), tuple(rel["to"]), rel["label"]) == ((0, 22, "FIGURE"), (59, 63, "ATTRIBUTION"),
                                                                    "REPORTED_BY")
    assert [(e.text, e.label_) for e in d2.ents] == [("Russian jets", "ACTOR"), ("Hama", "LOCATION")]


def test_conll_line_count_and_spacy_converter(tmp_path):
    _release(tmp_path)
    text = (tmp_path / "gold" / "v0.1.0" / "gold.conll").read_text(encoding="utf-8")
    nlp = spacy.blank("en")
    n_tokens = sum(1 for t in (T1, T2) for tok in nlp.make_doc(t) if not tok.is_space)
    # per document: "-DOCSTART-" line, a blank line, the tokens, a blank line
    assert len(text.splitlines()) == n_tokens + 3 * 2
    assert "At -X- _ B-FIGURE\nleast -X- _ I-FIGURE\n544 -X- _ I-FIGURE\ncivilians -X- _ I-FIGURE\n" in text
    assert "U.S.-based -X- _ O" in text
    docs = list(conll_ner_to_docs(text, no_print=True))
    ents = [(e.text, e.label_) for d in docs for e in d.ents]
    assert ("rights groups", "ACTOR") in ents and ("Hama", "LOCATION") in ents and len(ents) == 6


def test_doccano_jsonl_shape_and_reimport(tmp_path):
    _release(tmp_path)
    path = tmp_path / "gold" / "v0.1.0" / "doccano.jsonl"
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert {frozenset(x) for x in lines} == {frozenset({"text", "entities", "relations", "annotate"})}
    d2 = lines[1]
    hama = next(e for e in d2["entities"] if e["label"] == "LOCATION" and e["end_offset"] - e["start_offset"] == 4
                and d2["text"].encode("utf-16-le")[2 * e["start_offset"]:2 * e["end_offset"]].decode("utf-16-le") == "Hama")
    assert hama["start_offset"] == T2.index("Hama") + 1                 # UTF-16: the emoji counts twice
    assert set(lines[0]["entities"][0]) == {"id", "start_offset", "end_offset", "label"}
    assert set(lines[0]["relations"][0]) == {"id", "from_id", "to_id", "type"}
    back = convert(path, "doccano")["records"]
    original = {r["id"]: r for r in (json.loads(x) for x in (tmp_path / "gold" / "v0.1.0" / "gold.jsonl").read_text().splitlines())}
    for rec in back:
        assert [(s["start"], s["end"], s["label"]) for s in rec["spans"]] == \
               [(s["start"], s["end"], s["label"]) for s in original[rec["id"]]["spans"]]
        assert rec["relations"] == [{k: r[k] for k in ("from", "to", "label")} for r in original[rec["id"]]["relations"]]


def test_datacard_and_changelog(tmp_path):
    snap = write_snapshot(tmp_path / "snap", [line("d1", T1, a, [(1, "Idlib", "LOCATION")]) for a in ("a1", "a2")])
    agreement = agree(snap)
    _release(tmp_path, snapshot=snap, agreement=agreement)
    rel = tmp_path / "gold" / "v0.1.0"
    card = (rel / "DATACARD.md").read_text(encoding="utf-8")
    assert "| d1 | A title | example.org | - | https://example.org/a | seeds/d1.txt | CC BY 4.0 |" in card
    assert "Seed texts are quoted for research." in card
    assert "d2:19: LOCATION 'U.S.'" in card and "Annotators: a1, a2." in card
    assert "2 span(s) overlap another span: import doccano.jsonl into a Doccano project with overlapping" in card
    assert "| LOCATION | 1.000 | 1.000 | 1.000 | 1.000 |" in card
    m = json.loads((rel / "manifest.json").read_text())
    assert m["snapshot"]["path"].endswith("snap") and m["snapshot"]["annotators"] == ["a1", "a2"]
    assert m["agreement"]["overall"]["strict_f1"] == 1.0
    log = (rel / "CHANGELOG.md").read_text(encoding="utf-8")
    assert log.startswith("# Changelog\n\n## v0.1.0 (2026-11-22)") and "| LOCATION | 0 | 3 | 3 | 0 | 0 |" in log


def test_immutability(tmp_path):
    _release(tmp_path)
    rel = tmp_path / "gold" / "v0.1.0"
    before = {p.name: p.read_bytes() for p in rel.iterdir()}
    with pytest.raises(InputError, match="already exists: releases are immutable"):
        export(_gold(tmp_path), "0.1.0", tmp_path / "gold")
    assert {p.name: p.read_bytes() for p in rel.iterdir()} == before
    assert all(p.stat().st_mode & 0o222 == 0 for p in rel.iterdir())
    res = CliRunner().invoke(app, ["export", str(_gold(tmp_path)), "--version", "0.1.0",
                                   "--out-root", str(tmp_path / "gold")])
    assert res.exit_code == 2 and "immutable" in res.output


def test_semver_rules(tmp_path, monkeypatch):
    root = tmp_path / "gold"
    export(_gold(tmp_path), "0.1.0", root)
    with pytest.raises(InputError, match="nothing changed since v0.1.0"):
        export(_gold(tmp_path), "0.1.1", root)
    more = _gold(tmp_path, "more.jsonl", extra=[gold("d3", T3, [("Moscow", "ACTOR")])])
    with pytest.raises(InputError, match=r"v0.1.1 is a patch bump but the change needs minor \(1 document\(s\) added\)"):
        export(more, "0.1.1", root)
    with pytest.raises(InputError, match="does not follow v0.1.0"):
        export(more, "0.3.0", root)
    with pytest.raises(InputError, match="not newer"):
        export(more, "0.0.9", root)
    assert export(more, "0.2.0", root)["bump"] == "minor"
    # a fix: one span's boundary changes -> patch
    fixed = _gold(tmp_path, "fixed.jsonl", extra=[gold("d3", T3, [("Moscow says", "ACTOR")])])
    res = export(fixed, "0.2.1", root)
    assert res["bump"] == "patch" and res["diff"]["spans"] == {"ACTOR": {"added": 0, "removed": 0, "changed": 1}}
    # removing a document needs major
    with pytest.raises(InputError, match="needs major"):
        export(_gold(tmp_path), "0.3.0", root)
    # a new label in the schema needs major
    schemas = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), schemas)
    labels = json.loads((schemas / "labels.json").read_text())
    labels["span_labels"].append({"name": "DATE", "color": "#000000", "key": "d", "definition": "A date."})
    (schemas / "labels.json").write_text(json.dumps(labels))
    monkeypatch.setenv("ANNOTATE_SCHEMAS", str(schemas))
    relabelled = _gold(tmp_path, "relabelled.jsonl", extra=[gold("d3", T3, [("Moscow says", "ACTOR")]),
                                                             gold("d4", "On Monday.", [("Monday", "DATE")])])
    with pytest.raises(InputError, match="needs major .*label set changed"):
        export(relabelled, "0.3.0", root)
    assert export(relabelled, "1.0.0", root)["bump"] == "major"
    assert os.readlink(root / "latest") == "v1.0.0"
    log = (root / "v1.0.0" / "CHANGELOG.md").read_text(encoding="utf-8")
    assert [x.split(" ")[1] for x in log.splitlines() if x.startswith("## ")] == ["v1.0.0", "v0.2.1", "v0.2.0", "v0.1.0"]
    assert "| DATE | 0 | 1 | 1 | 0 | 0 |" in log


def test_open_conflicts_refused_unless_allowed(tmp_path):
    rec = gold("d1", T1, [("Idlib", "LOCATION")], meta={"open_conflicts": ["d1:0-22"]})
    g = write_jsonl(tmp_path / "g.jsonl", [rec])
    with pytest.raises(InputError, match="1 open adjudication conflict"):
        export(g, "0.1.0", tmp_path / "gold")
    assert not (tmp_path / "gold" / "v0.1.0").exists()
    m = export(g, "0.1.0", tmp_path / "gold", allow_open=True)["manifest"]
    assert m["open_conflicts"] == ["d1:0-22"]


def test_invalid_gold_writes_nothing(tmp_path):
    g = write_jsonl(tmp_path / "g.jsonl", [{"id": "d1", "text": T1, "spans": [{"start": 0, "end": 99, "label": "FIGURE"}]}])
    with pytest.raises(InputError, match=r"g.jsonl:1: d1: spans/0: end 99 is past the end"):
        export(g, "0.1.0", tmp_path / "gold")
    assert not (tmp_path / "gold").exists() or not any((tmp_path / "gold").iterdir())


@pytest.mark.parametrize("name", ["gold.jsonl", "gold.spacy", "gold.conll", "doccano.jsonl", "labels.json",
                                  "DATACARD.md", "CHANGELOG.md"])
def test_verify_catches_a_one_byte_change(tmp_path, name):
    _release(tmp_path)
    rel = tmp_path / "gold" / "v0.1.0"
    path = rel / name
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    problems = verify(rel)
    assert problems and problems[0].startswith(f"{path}: checksum mismatch")
    res = CliRunner().invoke(app, ["verify", str(rel)])
    assert res.exit_code == 1 and name in res.output


def test_verify_catches_added_missing_and_manifest_edits(tmp_path):
    _release(tmp_path)
    rel = tmp_path / "gold" / "v0.1.0"
    (rel / "extra.txt").write_text("x")
    assert any("extra.txt: not listed in the manifest" in p for p in verify(rel))
    (rel / "extra.txt").unlink()
    m = json.loads((rel / "manifest.json").read_text())
    m["counts"]["spans"]["total"] += 1
    os.chmod(rel / "manifest.json", 0o644)
    (rel / "manifest.json").write_text(json.dumps(m))
    assert f"{rel / 'manifest.json'}: counts.spans.total says 9, the files say 8" in verify(rel)
    os.chmod(rel / "gold.conll", 0o644)
    (rel / "gold.conll").unlink()
    assert any(p == f"{rel / 'gold.conll'}: missing" for p in verify(rel))
    assert CliRunner().invoke(app, ["verify", str(rel)]).exit_code == 1
    assert CliRunner().invoke(app, ["verify", str(tmp_path)]).exit_code == 1


def test_removing_a_label_needs_major_and_reads_the_old_release(tmp_path, monkeypatch):
    root = tmp_path / "gold"
    with_weapon = write_jsonl(tmp_path / "w.jsonl", [gold("d1", "Barrel bombs fell on Hama.",
                                                          [("Barrel bombs", "WEAPON"), ("Hama", "LOCATION")])])
    export(with_weapon, "0.1.0", root)
    schemas = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), schemas)
    labels = json.loads((schemas / "labels.json").read_text())
    labels["span_labels"] = [x for x in labels["span_labels"] if x["name"] != "WEAPON"]
    (schemas / "labels.json").write_text(json.dumps(labels))
    monkeypatch.setenv("ANNOTATE_SCHEMAS", str(schemas))
    without = write_jsonl(tmp_path / "n.jsonl", [gold("d1", "Barrel bombs fell on Hama.", [("Hama", "LOCATION")])])
    with pytest.raises(InputError, match="needs major"):
        export(without, "0.1.1", root)
    res = export(without, "1.0.0", root)
    assert res["diff"]["spans"] == {"WEAPON": {"added": 0, "removed": 1, "changed": 0}}
    assert verify(root / "v0.1.0") == [] and verify(root / "v1.0.0") == []


def test_verify_a_release_made_before_labels_json_was_copied_in(tmp_path, monkeypatch):
    _release(tmp_path)
    rel = tmp_path / "gold" / "v0.1.0"
    for p in rel.iterdir():
        os.chmod(p, 0o644)
    (rel / "labels.json").unlink()
    (rel / "manifest.sha256").unlink()            # such a release predates the manifest's checksum too
    m = json.loads((rel / "manifest.json").read_text())
    del m["files"]["labels.json"], m["manifest_checksum"]
    (rel / "manifest.json").write_text(json.dumps(m))
    assert verify(rel) == []                     # checked against schemas/labels.json, the same sha256
    schemas = tmp_path / "schemas"
    shutil.copytree(schemas_dir(), schemas)
    (schemas / "labels.json").write_text((schemas / "labels.json").read_text() + "\n")
    monkeypatch.setenv("ANNOTATE_SCHEMAS", str(schemas))
    assert any("schemas/labels.json has changed since" in p for p in verify(rel))


def test_export_refuses_to_build_on_a_tampered_previous_release(tmp_path):
    _release(tmp_path)
    conll = tmp_path / "gold" / "v0.1.0" / "gold.conll"
    os.chmod(conll, 0o644)
    conll.write_text(conll.read_text().replace("B-FIGURE", "B-ACTOR", 1))
    more = _gold(tmp_path, "more.jsonl", extra=[gold("d3", T3, [("Moscow", "ACTOR")])])
    with pytest.raises(InputError, match=r"previous release v0.1.0 fails verify .*gold.conll: checksum mismatch"):
        export(more, "0.2.0", tmp_path / "gold")
    assert not (tmp_path / "gold" / "v0.2.0").exists()


def _edit_manifest(rel, change, *, reseal=False):
    """Edit manifest.json in place; ``reseal`` rewrites manifest.sha256 too (a tamperer who knows the format)."""
    for p in rel.iterdir():
        os.chmod(p, 0o644)
    m = json.loads((rel / "manifest.json").read_text())
    change(m)
    (rel / "manifest.json").write_text(json.dumps(m, ensure_ascii=False, indent=2) + "\n")
    if reseal:
        digest = hashlib.sha256((rel / "manifest.json").read_bytes()).hexdigest()
        (rel / "manifest.sha256").write_text(f"{digest}  manifest.json\n")


def test_new_release_has_a_manifest_checksum_sidecar(tmp_path):
    _release(tmp_path)
    rel = tmp_path / "gold" / "v0.1.0"
    digest = hashlib.sha256((rel / "manifest.json").read_bytes()).hexdigest()
    assert (rel / "manifest.sha256").read_text() == f"{digest}  manifest.json\n"    # sha256sum -c format
    assert json.loads((rel / "manifest.json").read_text())["manifest_checksum"] == "manifest.sha256"
    assert verify_release(rel) == {"release": str(rel), "problems": [], "notes": []}


def _set(path, value):
    def change(m):
        node = m
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


@pytest.mark.parametrize("path, value, expected", [
    (("counts", "spans", "by_label", "ACTOR"), 3, "counts.spans.by_label.ACTOR says 3, the files say 2"),
    (("counts", "relations", "by_label", "SOURCE"), 0, "counts.relations.by_label.SOURCE says 0, the files say 1"),
    (("counts", "documents"), 3, "counts.documents says 3, the files say 2"),
    (("documents",), ["d1", "d3"], 'documents says ["d1", "d3"], the files say ["d1", "d2"]'),
    (("annotators",), ["a1", "ghost"], 'annotators says ["a1", "ghost"], the files say ["a1"]'),
    (("provenance",), {"hand": 8}, 'provenance.projected says nothing, the files say 1'),
    (("overlapping_spans",), 0, "overlapping_spans says 0, the files say 2"),
    (("open_conflicts",), ["d1:0-5"], 'open_conflicts says ["d1:0-5"], the files say []'),
    (("labels", "span_labels"), ["ACTOR"], 'labels.span_labels says ["ACTOR"], the files say ["ACTOR", "ATTRIBUTION"'),
    (("labels", "sha256"), "0" * 64, 'labels.sha256 says "0000'),
    (("token_alignment", "misaligned"), [], 'token_alignment.misaligned says [], the files say [{"doc": "d2"'),
    (("files", "gold.conll", "size"), 1, "gold.conll: checksum mismatch"),
])
def test_verify_catches_edits_to_the_manifest_itself(tmp_path, path, value, expected):
    recs = [gold("d1", T1, [("At least 544 civilians", "FIGURE"), ("544 civilians", "FIGURE"), ("Idlib", "LOCATION"),
                            ("rights groups", "ACTOR"), ("said", "ATTRIBUTION")],
                 [(1, 5, "REPORTED_BY"), (5, 4, "SOURCE")]),
            gold("d2", T2, [("Russian jets", "ACTOR"), ("U.S.", "LOCATION"), ("Hama", "LOCATION")])]
    for r in recs:
        for s in r["spans"]:
            s["annotators"], s["source"] = ["a1"], "hand"
    recs[1]["spans"][0]["source"] = "projected"
    export(write_jsonl(tmp_path / "g.jsonl", recs), "0.1.0", tmp_path / "gold")
    rel = tmp_path / "gold" / "v0.1.0"
    assert verify(rel) == []
    # even with the sidecar rewritten to match, the fields the files determine are recomputed
    _edit_manifest(rel, _set(path, value), reseal=True)
    problems = verify(rel)
    assert any(expected in p for p in problems), problems
    if not path[0] == "files":
        assert any(p.startswith(f"{rel / 'manifest.json'}: {'.'.join(path[:3])}") for p in problems)
    res = CliRunner().invoke(app, ["verify", str(rel)])
    assert res.exit_code == 1 and ("gold.conll" if path[0] == "files" else "manifest.json: ") in res.output


def test_verify_catches_an_edit_to_a_field_the_files_cannot_give(tmp_path):
    snap = write_snapshot(tmp_path / "snap", [line("d1", T1, a, [(1, "Idlib", "LOCATION")]) for a in ("a1", "a2")])
    _release(tmp_path, snapshot=snap, agreement=agree(snap))
    rel = tmp_path / "gold" / "v0.1.0"
    _edit_manifest(rel, lambda m: m["agreement"]["overall"].update(strict_f1=0.99))
    problems = verify(rel)
    assert len(problems) == 1 and problems[0].startswith(f"{rel / 'manifest.json'}: checksum mismatch (sha256 ")
    assert "manifest.sha256 says" in problems[0] and problems[0].endswith("the manifest was changed")
    (rel / "manifest.sha256").unlink()               # removing the sidecar does not hide it: the manifest names it
    assert verify(rel) == [f"{rel / 'manifest.sha256'}: missing (the manifest says it was written): the manifest's "
                           "own checksum cannot be checked"]


def test_release_without_a_manifest_checksum_verifies_with_a_note(tmp_path):
    _release(tmp_path)
    rel = tmp_path / "gold" / "v0.1.0"
    _edit_manifest(rel, lambda m: m.pop("manifest_checksum"))
    (rel / "manifest.sha256").unlink()
    res = verify_release(rel)
    assert res["problems"] == []
    assert res["notes"] == [f"{rel / 'manifest.json'}: its own checksum is not recorded (no manifest.sha256: a release "
                            "made before export wrote one); its fields that the files determine were checked, the "
                            "others (agreement, snapshot, guidelines, tool, dates, lint) cannot be"]
    cli = CliRunner().invoke(app, ["verify", str(rel)])
    assert cli.exit_code == 0 and "note:" in cli.output and "its own checksum is not recorded" in cli.output
    _edit_manifest(rel, _set(("counts", "spans", "by_label", "FIGURE"), 1))   # still caught without the sidecar
    assert verify(rel) == [f"{rel / 'manifest.json'}: counts.spans.by_label.FIGURE says 1, the files say 2"]


def test_committed_release_v010_still_verifies(root):
    res = verify_release(root / "corpus" / "gold" / "v0.1.0")
    assert res["problems"] == [] and len(res["notes"]) == 1 and "not recorded" in res["notes"][0]


def test_export_copies_document_meta_into_gold_records_for_slicing(tmp_path):
    from annotate.score import score

    own = gold("d2", T2, [("Russian jets", "ACTOR"), ("U.S.", "LOCATION"), ("Hama", "LOCATION")],
               meta={"outlet": "kept.example", "note": "adjudicated"})
    g = _gold(tmp_path, "g.jsonl")
    recs = [json.loads(x) for x in g.read_text().splitlines()]
    write_jsonl(g, [recs[0], own])
    docs = write_jsonl(tmp_path / "documents.jsonl", [
        document("d1", T1, outlet="example.org", title="A title", url="https://example.org/a", date="2019-06-29",
                 licence="CC BY 4.0"),
        document("d2", T2, outlet="other.example", title="Jets", url=None)])
    export(g, "0.1.0", tmp_path / "gold", documents=docs)
    rel = tmp_path / "gold" / "v0.1.0"
    out = {r["id"]: r for r in (json.loads(x) for x in (rel / "gold.jsonl").read_text().splitlines())}
    assert out["d1"]["meta"] == {"title": "A title", "url": "https://example.org/a", "outlet": "example.org",
                                 "date": "2019-06-29", "source_file": "seeds/d1.txt"}     # not licence, hashes, ...
    # the gold record's own meta wins; empty document fields (url None) are not copied
    assert out["d2"]["meta"] == {"title": "Jets", "outlet": "kept.example", "source_file": "seeds/d2.txt",
                                 "note": "adjudicated"}
    assert verify(rel) == []
    report = score(rel, rel / "gold.jsonl", by=["meta.outlet"], bootstrap=0)
    assert sorted(report["slices"]["meta.outlet"]) == ["example.org", "kept.example"]
    # without --documents nothing is added
    export(_gold(tmp_path, "plain.jsonl"), "0.1.0", tmp_path / "plain")
    assert all("meta" not in json.loads(x) for x in (tmp_path / "plain" / "v0.1.0" / "gold.jsonl").read_text().splitlines())
