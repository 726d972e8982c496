"""annotate lint: every check finds what it should, allow files explain findings, exit codes."""

from typer.testing import CliRunner

from annotate.cli import app
from annotate.lint import format_finding, lint, lint_records
from gold_fixtures import find, gold, write_jsonl

A = "Moscow says rebels hit Idlib. Rebels deny it."
B = "In Moscow, officials met. Idlib was quiet."


def _codes(findings):
    return sorted((f["doc"], f["offset"], f["code"]) for f in findings)


def test_each_check():
    recs = [
        gold("a", A, [("Moscow", "ACTOR"), ("says", "ATTRIBUTION"), ("Idlib", "LOCATION")], [(1, 2, "SOURCE")]),
        gold("b", B, [("Moscow", "LOCATION"), ("Moscow", "LOCATION")]),   # duplicate span; Idlib unlabelled
    ]
    findings = lint_records(recs, "g.jsonl")
    got = _codes(findings)
    moscow_b = find(B, "Moscow")[0]
    assert ("b", find(B, "Idlib")[0], "unlabelled") in got
    assert ("b", moscow_b, "duplicate-span") in got
    # Moscow: LOCATION x2 vs ACTOR x1: the minority occurrence is reported
    assert ("a", 0, "label-conflict") in got and ("b", moscow_b, "label-conflict") not in got
    # SOURCE must go ATTRIBUTION -> ACTOR; here ACTOR -> ATTRIBUTION: both ends wrong
    assert got.count(("a", 0, "relation-type")) == 1 and ("a", find(A, "says")[0], "relation-type") in got
    f = next(f for f in findings if f["code"] == "label-conflict")
    assert format_finding(f) == ("g.jsonl:a:0: 'Moscow' is ACTOR here; across the corpus: ACTOR x1, LOCATION x2 "
                                 "[label-conflict]")


def test_whitespace_mid_word_and_missing_endpoint():
    text = "Rebels shelled Hama and Idlibprovince."
    rec = {"id": "c", "text": text,
           "spans": [{"id": 1, "start": 0, "end": 7, "label": "ACTOR"},              # "Rebels " ends in space
                     {"id": 2, "start": 24, "end": 29, "label": "LOCATION"},         # "Idlib" inside Idlibprovince
                     {"id": 3, "start": 16, "end": 18, "label": "LOCATION"}],        # "Ha" mid-word
           "relations": [{"from": 9, "to": 1, "label": "SOURCE"}]}
    got = _codes(lint_records([rec]))
    assert ("c", 0, "whitespace") in got
    assert ("c", 24, "mid-word") in got and ("c", 16, "mid-word") in got
    assert ("c", 0, "relation-endpoint") in got


def test_clean_corpus_has_no_findings():
    recs = [gold("a", A, [("Moscow", "ACTOR"), ("says", "ATTRIBUTION"), ("rebels", "ACTOR"), ("Idlib", "LOCATION"),
                          ("Rebels", "ACTOR")], [(2, 1, "SOURCE")])]
    assert lint_records(recs) == []


def test_allow_file_explains_findings_and_cli_exit_codes(tmp_path):
    g = write_jsonl(tmp_path / "gold.jsonl", [gold("a", A, [("Moscow", "ACTOR")]), gold("b", B, [("Moscow", "LOCATION")])])
    runner = CliRunner()
    res = runner.invoke(app, ["lint", str(g)])
    assert res.exit_code == 1
    assert f"{g}:a:0: 'Moscow' is ACTOR here" in res.output and f"{g}:b:3:" in res.output
    allow = tmp_path / "allow.txt"
    allow.write_text('# known\n"Moscow" label-conflict metonymy: the government in a, the city in b\n', encoding="utf-8")
    res = runner.invoke(app, ["lint", str(g), "--allow", str(allow)])
    assert res.exit_code == 0, res.output
    assert "allowed: metonymy" in res.output and "0 finding(s), 2 explained" in res.output
    allow.write_text("a:0 label-conflict the government\n", encoding="utf-8")
    res = lint([g], allow=allow)
    assert res["explained"] == 1 and res["unexplained"] == 1
    allow.write_text("a:0 label-conflict\n", encoding="utf-8")
    res = runner.invoke(app, ["lint", str(g), "--allow", str(allow)])
    assert res.exit_code == 2 and "give a reason" in res.output


def test_invalid_record_is_bad_input(tmp_path):
    g = write_jsonl(tmp_path / "gold.jsonl", [{"id": "a", "text": "x", "spans": [{"start": 0, "end": 9, "label": "ACTOR"}]}])
    res = CliRunner().invoke(app, ["lint", str(g)])
    assert res.exit_code == 2 and "gold.jsonl:1: not a valid gold record" in res.output
