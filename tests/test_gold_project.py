"""annotate project-labels: spans carried onto near-duplicates only where the text aligns exactly."""

import json

from typer.testing import CliRunner

from annotate.cli import app
from annotate.gold import project_labels
from annotate.schema import validate_file
from gold_fixtures import document, gold, write_jsonl

SRC = ("At least 544 civilians have been killed since a Russian-led assault began, rights groups said. "
       "Barrel bombs hit Idlib province.")
# Same story, hard-wrapped like the PDF seed: "Russian-led\nassault" no longer matches the surface.
TGT = ("Reuters - At least 544 civilians have been killed since a Russian-led\nassault began, rights groups "
       "said.\nBarrel bombs hit Idlib province.")


def _files(tmp_path, extra_gold=()):
    docs = write_jsonl(tmp_path / "documents.jsonl", [
        document("src", SRC, [("tgt", 0.91)]), document("tgt", TGT, [("src", 0.91)]),
        document("other", "Nothing to see.")])
    g = gold("src", SRC, [("At least 544 civilians", "FIGURE"), ("Russian-led assault", "ACTOR"),
                          ("rights groups", "ACTOR"), ("said", "ATTRIBUTION"), ("Barrel bombs", "WEAPON"),
                          ("Idlib province", "LOCATION")],
             [(1, 4, "REPORTED_BY"), (4, 3, "SOURCE"), (1, 2, "REPORTED_BY")])
    return docs, write_jsonl(tmp_path / "gold.jsonl", [g, *extra_gold])


def test_projection_carries_aligned_spans_and_lists_the_rest(tmp_path):
    docs, g = _files(tmp_path)
    res = project_labels(docs, g, out=tmp_path / "p.jsonl", review_out=tmp_path / "r.jsonl")
    (rec,) = res["records"]
    assert rec["id"] == "tgt" and rec["meta"] == {"projected_from": "src", "similarity": 0.91}
    got = [(TGT[s["start"]:s["end"]], s["label"]) for s in rec["spans"]]
    assert got == [("At least 544 civilians", "FIGURE"), ("rights groups", "ACTOR"), ("said", "ATTRIBUTION"),
                   ("Barrel bombs", "WEAPON"), ("Idlib province", "LOCATION")]
    assert rec["spans"][0]["projected_from"] == {"id": "src", "start": 0, "end": 22}
    # the span that does not align exactly is listed with a suggestion, and not in the record
    (span_item,) = [i for i in res["review"] if i["kind"] == "span"]
    assert span_item["text"] == "Russian-led assault" and span_item["span"]["label"] == "ACTOR"
    assert span_item["suggestion"]["text"] == "Russian-led\nassault"
    # relations: the two whose endpoints were projected come along; the one on the ACTOR goes to review
    assert sorted(r["label"] for r in rec["relations"]) == ["REPORTED_BY", "SOURCE"]
    (rel_item,) = [i for i in res["review"] if i["kind"] == "relation"]
    assert rel_item["relation"]["to"]["text"] == "Russian-led assault"
    assert res["pairs"] == [{"from_doc": "src", "doc": "tgt", "similarity": 0.91, "spans": 6, "projected": 5,
                             "review": 1, "relations": 3, "relations_projected": 2, "relations_review": 1}]
    assert validate_file(tmp_path / "p.jsonl", "gold") == []
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 2


def test_targets_with_gold_are_skipped_and_similarity_threshold(tmp_path):
    docs, g = _files(tmp_path, extra_gold=[gold("tgt", TGT, [])])
    res = project_labels(docs, g)
    assert res["records"] == []
    assert {(s["from_doc"], s["doc"], s["reason"]) for s in res["skipped"]} == {
        ("src", "tgt", "already has a gold record"), ("tgt", "src", "already has a gold record")}
    docs, g = _files(tmp_path)
    assert project_labels(docs, g, min_similarity=0.95)["records"] == []


def test_cli_prints_review_and_writes_files(tmp_path):
    docs, g = _files(tmp_path)
    out = tmp_path / "projected.jsonl"
    res = CliRunner().invoke(app, ["project-labels", str(g), "--documents", str(docs), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "review tgt: ACTOR 'Russian-led assault' from src" in res.output
    assert "5 span(s) projected" in res.output
    review = [json.loads(x) for x in (tmp_path / "projected.review.jsonl").read_text().splitlines()]
    assert {i["kind"] for i in review} == {"span", "relation"}
    bad = CliRunner().invoke(app, ["project-labels", str(docs), "--documents", str(docs), "--out", str(out)])
    assert bad.exit_code == 2 and "documents.jsonl:1" in bad.output


def test_aligner_words_then_characters():
    from annotate.gold import Aligner

    src = "Strikes hit Idlib, Hama and U.S.-based groups; 5 died."
    tgt = "Overnight, strikes hit Idlib. Hama and U.S.-based\ngroups; five died."
    al = Aligner(src, tgt)
    idlib = src.index("Idlib")
    assert al.span(idlib, idlib + 5) == (tgt.index("Idlib"), tgt.index("Idlib") + 5)   # "Idlib," vs "Idlib."
    us = src.index("U.S.")
    assert al.span(us, us + 4) == (tgt.index("U.S."), tgt.index("U.S.") + 4)          # inside one word
    groups = src.index("U.S.-based groups")
    assert al.span(groups, groups + len("U.S.-based groups")) is None                  # a newline now inside
    assert al.suggest(groups, groups + len("U.S.-based groups")) == (tgt.index("U.S."), tgt.index("groups") + 6)
    five = src.index("5")
    assert al.span(five, five + 1) is None                                              # "5" became "five"
    strikes = src.index("Strikes")
    assert al.span(strikes, strikes + 7) is None                                        # case changed


def test_projection_never_places_a_span_on_different_text():
    import difflib
    import random

    from annotate.gold import Aligner

    rng = random.Random(3)
    base = SRC * 3
    placed = reference = 0
    words = [(m.start(), m.end()) for m in __import__("re").finditer(r"\S+", base)]
    for _ in range(30):
        chars = list(base)
        for _ in range(rng.randint(1, 15)):                  # random edits: replace, insert, delete
            i = rng.randrange(len(chars))
            op = rng.choice("rid")
            if op == "r":
                chars[i] = rng.choice("ab ,\n")
            elif op == "i":
                chars.insert(i, rng.choice("xy \n"))
            else:
                del chars[i]
        tgt = "".join(chars)
        al = Aligner(base, tgt)
        for s, e in rng.sample(words, 20):
            hit = al.span(s, e)
            if hit is not None:
                assert tgt[hit[0]:hit[1]] == base[s:e]
                placed += 1
            # the character-level reference (one matching block over the whole texts) places no more
            blocks = difflib.SequenceMatcher(None, base, tgt, autojunk=False).get_matching_blocks()
            reference += any(a <= s and e <= a + n for a, b, n in blocks)
    assert placed >= reference * 0.95 and placed > 400
