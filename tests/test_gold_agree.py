"""annotate agree: hand-worked agreement figures (expected values computed by hand below)."""

import json

import pytest
from typer.testing import CliRunner

from annotate.agree import agree, kappa, token_labels
from annotate.cli import app
from annotate.errors import InputError
from gold_fixtures import document, line, sha, write_jsonl, write_snapshot

T1 = "Rebels hit Idlib and Hama."          # tokens: Rebels hit Idlib and Hama .  (6)
T2 = "At least 5 died."                     # tokens: At least 5 died .           (5)


def _two_annotators(tmp_path, **kw):
    lines = [
        line("d1", T1, "a1", [(1, "Rebels", "ACTOR"), (2, "Idlib", "LOCATION"), (3, "Hama", "LOCATION")], **kw),
        line("d1", T1, "a2", [(1, "Rebels", "ACTOR"), (2, "Idlib", "LOCATION")], **kw),
        line("d2", T2, "a1", [(1, "At least 5", "FIGURE")], **kw),
        line("d2", T2, "a2", [(1, "5", "FIGURE")], **kw),
    ]
    return write_snapshot(tmp_path / "snap", lines)


def test_hand_worked_pair(tmp_path):
    res = agree(_two_annotators(tmp_path))
    assert res["annotators"] == ["a1", "a2"] and res["documents"] == 2
    (pair,) = res["pairs"]
    # Strict: a1 has 4 spans, a2 3, identical 2 (Rebels, Idlib): F1 = 2*2/(4+3) = 4/7.
    assert pair["strict_f1"] == pytest.approx(4 / 7)
    # Overlap: a1's Rebels, Idlib, "At least 5" are overlapped by a2 (3 of 4): R = 3/4;
    # all 3 of a2's are overlapped: P = 1; F1 = 2*(3/4)/(1 + 3/4) = 6/7.
    assert pair["overlap_f1"] == pytest.approx(6 / 7)
    # Tokens (11, no whitespace tokens): a1 = ACTOR O LOC O LOC O | FIG FIG FIG O O
    #                                    a2 = ACTOR O LOC O O   O | O   O   FIG O O
    # agree on 8 of 11: p_o = 8/11. a1: ACTOR 1, LOC 2, FIG 3, O 5; a2: ACTOR 1, LOC 1, FIG 1, O 8.
    # p_e = (1*1 + 2*1 + 3*1 + 5*8) / 121 = 46/121; kappa = (88/121 - 46/121) / (75/121) = 42/75.
    assert pair["tokens"] == 11
    assert pair["kappa"] == pytest.approx(42 / 75)
    loc = pair["per_label"]["LOCATION"]
    assert (loc["a"], loc["b"], loc["both"]) == (2, 1, 1)
    assert loc["strict_f1"] == pytest.approx(2 / 3)
    # LOCATION vs not: a1 T on 2 tokens, a2 on 1, agree on 10 of 11.
    # p_e = (2*1 + 9*10)/121 = 92/121; kappa = (110/121 - 92/121)/(29/121) = 18/29.
    assert loc["kappa"] == pytest.approx(18 / 29)
    fig = pair["per_label"]["FIGURE"]
    assert fig["strict_f1"] == 0.0 and fig["overlap_f1"] == 1.0
    assert pair["per_label"]["WEAPON"]["strict_f1"] is None      # neither used it: undefined, not 0 or 1
    assert res["overall"]["kappa"] == pytest.approx(42 / 75)      # one pair: the mean is that pair


def test_disagreement_list_says_who_said_what(tmp_path):
    res = agree(_two_annotators(tmp_path))
    dis = {(d["doc"], d["text"]): d for d in res["disagreements"]}
    assert set(dis) == {("d1", "Hama"), ("d2", "At least 5")}
    assert dis[("d1", "Hama")]["kind"] == "missing"
    assert dis[("d1", "Hama")]["by"] == {"a1": [{"start": 21, "end": 25, "label": "LOCATION", "text": "Hama"}],
                                         "a2": []}
    assert dis[("d2", "At least 5")]["kind"] == "boundary"


def test_kappa_function_and_undefined_case():
    assert kappa(["A", "O"], ["A", "O"]) == 1.0
    assert kappa(["O", "O"], ["O", "O"]) is None       # p_e = 1: undefined
    # 2x2 by hand: x = A A O O, y = A O O O: p_o = 3/4, p_e = (2*1 + 2*3)/16 = 1/2 -> kappa 1/2
    assert kappa(list("AAOO"), list("AOOO")) == pytest.approx(0.5)


def test_overlapping_spans_outermost_label_wins():
    tokens = [(0, 2), (3, 8), (9, 10), (11, 20)]        # At least 5 civilians
    spans = [{"start": 11, "end": 20, "label": "ACTOR"}, {"start": 0, "end": 20, "label": "FIGURE"}]
    labels, conflicted = token_labels(tokens, spans)
    assert labels == ["FIGURE"] * 4 and conflicted == 1


def test_three_annotators_three_pairs_and_unconfirmed_left_out(tmp_path):
    lines = [line("d1", T1, a, [(1, "Rebels", "ACTOR")]) for a in ("a1", "a2", "a3")]
    lines.append(line("d1", T1, "a4", [(1, "Hama", "LOCATION")], confirmed=False))
    res = agree(write_snapshot(tmp_path / "s", lines))
    assert [(p["a"], p["b"]) for p in res["pairs"]] == [("a1", "a2"), ("a1", "a3"), ("a2", "a3")]
    assert all(p["strict_f1"] == 1.0 and p["kappa"] == 1.0 for p in res["pairs"])
    assert res["excluded_unconfirmed"] == {"unconfirmed_lines": 1, "unconfirmed_spans": 1}
    res_all = agree(tmp_path / "s", confirmed_only=False)
    assert len(res_all["pairs"]) == 6


def test_text_from_documents_and_hash_mismatch(tmp_path):
    snap = write_snapshot(tmp_path / "s", [line("d1", T1, a, [(1, "Rebels", "ACTOR")], with_text=False)
                                           for a in ("a1", "a2")])
    with pytest.raises(InputError, match="carry no text"):
        agree(snap, tmp_path / "missing.jsonl")
    docs = write_jsonl(tmp_path / "documents.jsonl", [document("d1", T1)])
    assert agree(snap, docs)["pairs"][0]["strict_f1"] == 1.0
    write_jsonl(docs, [document("d1", T1 + " More.")])
    with pytest.raises(InputError, match="text_sha256 does not match"):
        agree(snap, docs)


def test_bad_snapshot_line_is_one_clear_error(tmp_path):
    bad = line("d1", T1, "a1", [(1, "Rebels", "PERSON")])
    with pytest.raises(InputError, match=r"annotations.jsonl:1: d1: span 1 has label 'PERSON'"):
        agree(write_snapshot(tmp_path / "s", [bad]))
    unsorted = [line("d1", T1, "a1", []), line("d2", T2, "a1", []), line("d1", T1, "a2", [])]
    (tmp_path / "u").mkdir()
    write_jsonl(tmp_path / "u" / "annotations.jsonl", unsorted)
    with pytest.raises(InputError, match="appears again after other documents"):
        agree(tmp_path / "u")


def test_cli_table_and_json(tmp_path):
    snap = _two_annotators(tmp_path)
    out = tmp_path / "agreement.json"
    res = CliRunner().invoke(app, ["agree", str(snap), "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "LOCATION" in res.output and "0.560" in res.output and "a1 / a2" in res.output
    data = json.loads(out.read_text())
    assert data["overall"]["strict_f1"] == pytest.approx(4 / 7) and len(data["disagreements"]) == 2
    missing = CliRunner().invoke(app, ["agree", str(tmp_path / "nope")])
    assert missing.exit_code == 2 and "not a snapshot" in missing.output
    assert sha(T1) in (snap / "annotations.jsonl").read_text()


def test_krippendorff_alpha_two_and_three_annotators(tmp_path):
    res = agree(_two_annotators(tmp_path))
    # Coincidences (m = 2: each token adds both ordered pairs): ACTOR-ACTOR 2, O-O 10, LOC-LOC 2, FIG-FIG 2,
    # LOC-O 1+1, FIG-O 2+2. n_A = 2, n_O = 13, n_L = 3, n_F = 4, n = 22.
    # alpha = 1 - (n-1) * 6 / (22^2 - (4 + 169 + 9 + 16)) = 1 - 21*6/286 = 80/143
    assert res["overall"]["alpha"] == pytest.approx(80 / 143)
    T = "Rebels hit Idlib."                                   # tokens: Rebels hit Idlib .
    lines = [line("d1", T, "a1", [(1, "Rebels", "ACTOR"), (2, "Idlib", "LOCATION")]),
             line("d1", T, "a2", [(1, "Rebels", "ACTOR"), (2, "Idlib", "LOCATION")]),
             line("d1", T, "a3", [(1, "Rebels", "ACTOR")])]
    res = agree(write_snapshot(tmp_path / "three", lines))
    # m = 3, each pair weighs 1/2. Rebels AAA: o_AA 3; hit OOO: o_OO 3; Idlib LLO: o_LL 1, o_LO = o_OL = 1; . OOO: o_OO 3.
    # n_A 3, n_O 7, n_L 2, n 12: alpha = 1 - 11*2 / (144 - (9 + 49 + 4)) = 1 - 22/82 = 30/41
    assert res["overall"]["alpha"] == pytest.approx(30 / 41)
    # LOCATION vs not: n_T 2, n_F 10; disagreement 2: alpha = 1 - 11*2 / (144 - 4 - 100) = 18/40
    assert res["overall"]["per_label"]["LOCATION"]["alpha"] == pytest.approx(18 / 40)
    assert res["overall"]["per_label"]["WEAPON"]["alpha"] is None      # one value throughout: undefined
