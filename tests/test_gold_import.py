"""annotate import: Prodigy-style and Doccano JSONL into gold records."""

import json

import pytest
from typer.testing import CliRunner

from annotate.cli import app
from annotate.convert import convert
from annotate.errors import InputError
from annotate.schema import validate_file
from gold_fixtures import document, sha, write_jsonl

T = "At least 544 civilians died, rights groups said."
# tokens: At(0) least(1) 544(2) civilians(3) died(4) ,(5) rights(6) groups(7) said(8) .(9)


def _prodigy():
    return [
        {"text": T, "meta": {"id": "p1"}, "answer": "accept",
         "tokens": [], "spans": [
             {"start": 0, "end": 22, "label": "FIGURE", "token_start": 0, "token_end": 3},
             {"start": 29, "end": 42, "label": "ACTOR", "token_start": 6, "token_end": 7},
             {"start": 43, "end": 47, "label": "ATTRIBUTION", "token_start": 8, "token_end": 8}],
         "relations": [
             {"head": 3, "child": 8, "label": "REPORTED_BY",
              "head_span": {"start": 0, "end": 22, "label": "FIGURE"}},                    # head by span, child by token
             {"head": 8, "child": 7, "label": "SOURCE"},                                   # both by token
             {"head": 4, "child": 8, "label": "REPORTED_BY"}]},                            # "died" is in no span
        {"text": "Rejected.", "answer": "reject", "spans": []},
    ]


def test_prodigy_spans_and_token_relations(tmp_path):
    src = write_jsonl(tmp_path / "prodigy.jsonl", _prodigy())
    res = convert(src)
    assert res["format"] == ["prodigy"] and res["skipped"] == [{"line": 2, "reason": "answer 'reject'"}]
    (rec,) = res["records"]
    assert rec["id"] == "p1"
    assert [(T[s["start"]:s["end"]], s["label"]) for s in rec["spans"]] == [
        ("At least 544 civilians", "FIGURE"), ("rights groups", "ACTOR"), ("said", "ATTRIBUTION")]
    assert rec["relations"] == [{"from": 1, "to": 3, "label": "REPORTED_BY"}, {"from": 3, "to": 2, "label": "SOURCE"}]
    (lost,) = res["unmapped"]
    assert lost["relation"] == {"head": 4, "child": 8, "label": "REPORTED_BY"} and lost["line"] == 1


def test_doccano_entities_with_utf16_offsets_and_label_lists(tmp_path):
    emoji = "🔥 Idlib burns, 3 dead."            # the emoji is 2 UTF-16 units: Doccano's offsets are +1
    lines = [
        {"id": 7, "text": emoji, "entities": [{"id": 11, "start_offset": 3, "end_offset": 8, "label": "LOCATION"},
                                              {"id": 12, "start_offset": 16, "end_offset": 22, "label": "FIGURE"}],
         "relations": [], "Comments": []},
        {"id": 8, "text": T, "label": [[0, 22, "FIGURE"], [29, 42, "ACTOR"]]},
    ]
    res = convert(write_jsonl(tmp_path / "doccano.jsonl", lines), out=tmp_path / "gold.jsonl")
    assert res["records"] is None and res["documents"] == 2
    recs = [json.loads(x) for x in (tmp_path / "gold.jsonl").read_text().splitlines()]
    assert [(emoji[s["start"]:s["end"]]) for s in recs[0]["spans"]] == ["Idlib", "3 dead"]
    assert recs[0]["id"] == sha(emoji)[:16]                  # ingest's id rule for a text we do not know
    assert [T[s["start"]:s["end"]] for s in recs[1]["spans"]] == ["At least 544 civilians", "rights groups"]
    assert validate_file(tmp_path / "gold.jsonl", "gold") == []


def test_ids_from_documents_or_id_key(tmp_path):
    docs = write_jsonl(tmp_path / "documents.jsonl", [document("ours", T)])
    src = write_jsonl(tmp_path / "d.jsonl", [{"text": T, "label": [], "meta": {"doc_id": "x1"}}])
    assert convert(src, documents=docs)["records"][0]["id"] == "ours"
    assert convert(src, id_key="meta.doc_id")["records"][0]["id"] == "x1"


def test_bad_lines_are_bad_input(tmp_path):
    bad_label = write_jsonl(tmp_path / "a.jsonl", [{"text": T, "label": [[0, 3, "PERSON"]]}])
    with pytest.raises(InputError, match=r"a.jsonl:1: .*label 'PERSON' is not in the schema"):
        convert(bad_label)
    split_pair = write_jsonl(tmp_path / "b.jsonl", [{"text": "🔥 x", "label": [[1, 4, "ACTOR"]]}])
    with pytest.raises(InputError, match="surrogate pair"):
        convert(split_pair)
    dup = write_jsonl(tmp_path / "c.jsonl", [{"text": T, "label": []}, {"text": T, "label": []}])
    with pytest.raises(InputError, match="again"):
        convert(dup, out=tmp_path / "never.jsonl")
    assert not (tmp_path / "never.jsonl").exists()


def test_cli_import(tmp_path):
    src = write_jsonl(tmp_path / "prodigy.jsonl", _prodigy())
    out = tmp_path / "gold.jsonl"
    res = CliRunner().invoke(app, ["import", str(src), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "1 record(s) (prodigy)" in res.output and "1 skipped, 1 relation(s) not mappable" in res.output
    assert "not imported:" in res.output
    assert CliRunner().invoke(app, ["import", str(src), "--out", str(out), "--format", "conll"]).exit_code == 2
