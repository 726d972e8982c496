import json

import pytest

from typer.testing import CliRunner

from annotate.cli import app
from annotate.jsonl import atomic_open, write_jsonl
from annotate.schema import load_labels, validate_file

TEXT = "At least 544 civilians were killed in Idlib, rights groups said."


def _write(tmp_path, name, records):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_label_schema_has_the_five_labels_and_a_figure_relation():
    labels = load_labels()
    assert labels.labels == ("ACTOR", "FIGURE", "LOCATION", "WEAPON", "ATTRIBUTION")
    assert all(label["color"].startswith("#") and len(label["key"]) == 1 for label in labels.span_labels)
    assert len({label["key"] for label in labels.span_labels}) == 5
    assert any("FIGURE" in rel["from"] for rel in labels.relation_types)


def test_valid_gold_has_no_problems(tmp_path):
    rec = {"id": "d1", "text": TEXT,
           "spans": [{"id": 1, "start": 0, "end": 22, "label": "FIGURE"},
                     {"id": 2, "start": 45, "end": 58, "label": "ACTOR"},
                     {"id": 3, "start": 59, "end": 63, "label": "ATTRIBUTION"}],
           "relations": [{"from": 1, "to": 3, "label": "REPORTED_BY"}, {"from": 3, "to": 2, "label": "SOURCE"}]}
    assert TEXT[0:22] == "At least 544 civilians" and TEXT[59:63] == "said"
    assert validate_file(_write(tmp_path, "gold.jsonl", [rec]), "gold") == []


def test_every_semantic_rule_is_reported_with_file_and_line(tmp_path):
    good = {"id": "d1", "text": TEXT, "spans": []}
    bad = {"id": "d2", "text": TEXT,
           "spans": [{"id": 1, "start": 5, "end": 3, "label": "FIGURE"},          # start >= end
                     {"id": 2, "start": 0, "end": 999, "label": "FIGURE"},        # past the end
                     {"id": 3, "start": 0, "end": 3, "label": "PERSON"},          # unknown label
                     {"id": 4, "start": 8, "end": 13, "label": "FIGURE"}],        # " 544 " whitespace
           "relations": [{"from": 4, "to": 9, "label": "REPORTED_BY"},           # missing endpoint
                         {"from": 4, "to": 4, "label": "SOURCE"}]}               # wrong endpoint labels
    path = _write(tmp_path, "gold.jsonl", [good, bad, good])
    problems = validate_file(path, "gold")
    joined = "\n".join(problems)
    assert all(p.startswith(f"{path}:") for p in problems)
    assert f"{path}:2: spans/0: start 5 must be < end 3" in joined
    assert "spans/1: end 999 is past the end" in joined
    assert "label 'PERSON' is not in the schema" in joined
    assert "starts or ends with whitespace" in joined
    assert "refers to span id 9, which does not exist" in joined
    assert "SOURCE from must be one of ATTRIBUTION" in joined
    assert f"{path}:3: duplicate id 'd1' (first on line 1)" in joined


def test_schema_violation_and_bad_json_line(tmp_path):
    path = tmp_path / "gold.jsonl"
    path.write_text('{"id": "a", "text": "x"}\nnot json\n', encoding="utf-8")
    problems = validate_file(path, "gold")
    assert problems[0] == f"{path}:1: 'spans' is a required property"
    assert problems[1].startswith(f"{path}:2: not valid JSON")


def test_cli_validate_exit_codes(tmp_path):
    runner = CliRunner()
    ok = _write(tmp_path, "gold.jsonl", [{"id": "d1", "text": TEXT, "spans": [{"start": 0, "end": 8, "label": "FIGURE"}]}])
    bad = _write(tmp_path, "gold_bad.jsonl", [{"id": "d1", "text": TEXT, "spans": [{"start": 0, "end": 9, "label": "FIGURE"}]}])
    assert runner.invoke(app, ["validate", str(ok)]).exit_code == 0
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:1: spans/0: span text 'At least ' starts or ends with whitespace" in result.output
    assert runner.invoke(app, ["validate", str(ok), "--kind", "nonsense"]).exit_code == 2
    missing = runner.invoke(app, ["validate", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.jsonl"
    write_jsonl(target, [{"a": 1}])

    def records():
        yield {"a": 2}
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_jsonl(target, records())
    assert target.read_text() == '{"a":1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]
    with atomic_open(tmp_path / "b.txt") as fh:
        fh.write("x")
    assert (tmp_path / "b.txt").read_text() == "x"
