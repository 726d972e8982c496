"""annotate ingest: the five seeds, and the inputs a user will throw at it (made here)."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.cli import app
from annotate.ingest import (DEFAULT_NEAR_THRESHOLD, clean_text, ingest, jaccard, normalize_text, parse_date,
                             shingles)
from annotate.schema import schema_errors, validate_file

SEED_000, SEED_001, SEED_002, SEED_003, SEED_004 = (
    "seeds/000_e7a7bc66fee5992e.txt", "seeds/001_0a65fe787c1ce76c.txt", "seeds/002_3d6bfe040518f6db.txt",
    "seeds/003_f2ce0be5ce2854a3.txt", "seeds/004_c01e071baa6fa7eb.txt")

ARTICLE = [
    "At least 15 people were killed in the village of Mhambil on Friday after Syrian army helicopters dropped "
    "barrel bombs on a civilian quarter, the Civil Defense group and witnesses said.",
    "\u201cWhole villages and towns have been emptied,\u201d said Idlib-based Civil Defense spokesman Ahmad al "
    "Sheikho, saying it was the most destructive campaign against Idlib province since 2015.",
    "The heads of 11 major global humanitarian organizations warned that Idlib stood at the brink of disaster, "
    "with 3 million civilian lives at risk, including 1 million children, caf\u00e9 owners said.",
]


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def by_source(records: list[dict]) -> dict[str, dict]:
    return {r["meta"]["source_file"]: r for r in records}


@pytest.fixture
def in_root(root, monkeypatch):
    """Run from the repository root, so source_file reads seeds/... as in the committed corpus."""
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def seeds(in_root, tmp_path) -> dict[str, dict]:
    result = ingest(["seeds/"], tmp_path / "documents.jsonl")
    assert result["written"] and result["problems"] == [] and result["documents"] == 5
    return by_source(read(tmp_path / "documents.jsonl"))


def paragraphs(text: str) -> list[str]:
    return text.split("\n\n")


# ---------------------------------------------------------------- the seeds

def test_seed_records_have_every_field_and_pass_the_schema(seeds, in_root, tmp_path):
    assert sorted(seeds) == [SEED_000, SEED_001, SEED_002, SEED_003, SEED_004]
    for source, rec in seeds.items():
        assert list(rec) == ["id", "text", "meta"]
        meta = rec["meta"]
        assert schema_errors(rec, "documents") == []
        assert meta["raw_sha256"] == hashlib.sha256((in_root / source).read_bytes()).hexdigest()
        assert meta["text_sha256"] == hashlib.sha256(rec["text"].encode("utf-8")).hexdigest()
        assert rec["id"] == meta["text_sha256"][:16]
        assert meta["duplicate_of"] is None
        for key in ("title", "url", "outlet", "date"):
            assert key in meta
        assert rec["text"] == rec["text"].strip() and "\n\n\n" not in rec["text"] and "\r" not in rec["text"]
    assert validate_file(tmp_path / "documents.jsonl", "documents") == []


def test_committed_corpus_is_what_ingest_gives(seeds, in_root, tmp_path):
    """corpus/documents.jsonl (gold is anchored to its text) is reproducible byte for byte."""
    assert (in_root / "corpus/documents.jsonl").read_bytes() == (tmp_path / "documents.jsonl").read_bytes()


def test_seed_000_markdown_is_gone_and_its_front_matter_is_meta(seeds):
    rec = seeds[SEED_000]
    text, meta = rec["text"], rec["meta"]
    for syntax in ("**", "](", "[", "# ", "<http", "Original url", "Related article", "By Reuters", "July 07, 2019"):
        assert syntax not in text, syntax
    assert not set("*#[]<>`") & set(text)
    assert text.startswith("At least 544 civilians have been killed")
    assert text.endswith("which provides aid in the northwest, said in a statement.")
    assert meta["title"] == "Over 500 Civilians Dead After Russian-Led Assault in Syria"
    assert meta["url"] == ("https://www.themoscowtimes.com/2019/07/07/"
                           "over-500-civilians-dead-after-russian-led-assault-in-syria-a66309")
    assert meta["date"] == "2019-07-07"
    assert meta["outlet"] == "themoscowtimes.com"
    assert meta["byline"] == "Reuters"
    assert meta["credit"] == "Anas Alkharboutli / dpa"
    assert meta["related"] == ["Russia Carries Out Air Strikes Against Militants in Syria's Idlib \u2013 Reports",
                               "UN Chief Urges Russia and Turkey to Stabilize Syria's Idlib 'Without Delay'"]
    assert len(paragraphs(text)) == 14


def test_seed_002_is_clean_paragraphs_with_compounds_intact(seeds):
    text = seeds[SEED_002]["text"]
    paras = paragraphs(text)
    assert len(paras) == 14
    for p in paras:
        assert "\n" not in p, p  # no line break inside a paragraph
        assert p[-1] in '.!?"\u201d', p  # every paragraph ends a sentence
    assert "air-dropped" in text and "rebel-held" in text
    assert "air- dropped" not in text and "airdropped" not in text and "rebelheld" not in text
    assert "Related article" not in text
    assert seeds[SEED_002]["meta"]["related"] == seeds[SEED_000]["meta"]["related"]


def test_seeds_000_and_002_come_out_character_aligned(seeds):
    """Same story, same text: labels of one project onto the other. Only three quote marks differ
    (002 has typographic quotes where 000 has straight ones; ingest keeps the source's quotes)."""
    a, b = seeds[SEED_000]["text"], seeds[SEED_002]["text"]
    assert len(a) == len(b)
    diffs = [(a[i], b[i]) for i in range(len(a)) if a[i] != b[i]]
    assert diffs == [('"', "\u201d"), ('"', "\u201c"), ('"', "\u201d")]


def test_seeds_000_and_002_are_near_duplicates_and_001_is_not(seeds):
    id0, id1, id2 = (seeds[s]["id"] for s in (SEED_000, SEED_001, SEED_002))
    near = {s: [n["id"] for n in seeds[s]["meta"]["near_duplicates"]] for s in seeds}
    assert near[SEED_000] == [id2] and near[SEED_002] == [id0]
    assert near[SEED_001] == near[SEED_003] == near[SEED_004] == []
    assert seeds[SEED_000]["meta"]["near_duplicates"][0]["similarity"] >= 0.95
    sim_01 = jaccard(shingles(seeds[SEED_000]["text"]), shingles(seeds[SEED_001]["text"]))
    assert 0.1 < sim_01 < DEFAULT_NEAR_THRESHOLD  # 001 quotes the story in part


def test_all_seed_pairs_are_far_apart_except_000_002(seeds):
    sims = {}
    for a, b in itertools.combinations(sorted(seeds), 2):
        sims[(a[6:9], b[6:9])] = jaccard(shingles(seeds[a]["text"]), shingles(seeds[b]["text"]))
    assert sims.pop(("000", "002")) >= 0.95
    assert max(sims.values()) < DEFAULT_NEAR_THRESHOLD / 2


def test_other_seeds_boilerplate_and_paragraphs(seeds):
    s1, s3, s4 = seeds[SEED_001], seeds[SEED_003], seeds[SEED_004]
    assert "Posts Related" not in s1["text"] and "(Source:" not in s1["text"]
    assert s1["meta"]["title"] == "Monitor: 500 Civilians Killed in Russian-led Onslaught on NW Syria"
    assert s1["meta"]["outlet"] == s4["meta"]["outlet"] == "Syrian Coalition\u2019s Media Department"
    assert s3["meta"]["outlet"] == "Radio Free Europe/Radio Liberty"
    assert not s3["text"].startswith("This article was originally published")
    # 003 and 004 have one paragraph per line: kept as paragraphs, not glued together
    assert len(paragraphs(s3["text"])) == 14 and len(paragraphs(s4["text"])) == 8
    assert "\u2018Cluster Munitions, Incendiary Weapons\u2019" in paragraphs(s3["text"])


# ---------------------------------------------------------------- text cleaning rules

def test_line_break_hyphenation_rule():
    wrapped = ("The army said the rebel-\nheld town was shelled with cluster muni-\ntions and that the air-\n"
               "dropped bombs hit a hospital in the north of the province on Friday\nafter a week of fighting "
               "and the com-\nmanders agreed, three commanders said on Saturday in a long\nstatement sent to "
               "reporters in the town of Maarat al-Numan and to\nothers.")
    text = clean_text(wrapped).text
    assert "rebel-held" in text and "air-dropped" in text  # both halves words: the compound's hyphen stays
    assert "munitions" in text  # "-tions" is a bare suffix: a broken word
    assert "commanders agreed" in text  # the joined word occurs elsewhere in the document
    assert "\n" not in text


def test_dashes_at_line_ends():
    text = clean_text("The shelling \u2014\nwhich began in April \u2014 went on and the town\u2014\nonce a "
                      "market hub\u2014was emptied, and 2,000-\nstrong forces and Russian-\nSyrian units moved in "
                      "on Friday after the talks\nfailed again.").text
    assert text == ("The shelling \u2014 which began in April \u2014 went on and the town\u2014once a market "
                    "hub\u2014was emptied, and 2,000-strong forces and Russian-Syrian units moved in on Friday "
                    "after the talks failed again.")


def test_one_paragraph_per_line_text_keeps_its_paragraphs():
    art = clean_text("\n".join(ARTICLE))
    assert paragraphs(art.text) == ARTICLE


def test_wrapped_text_splits_paragraphs_at_short_sentence_ends():
    import textwrap

    wrapped = "\n".join(textwrap.fill(p, 80) for p in ARTICLE)  # no blank lines between paragraphs
    assert paragraphs(clean_text(wrapped).text) == ARTICLE


def test_boilerplate_moves_to_meta():
    raw = "\n\n".join([ARTICLE[0], "Read more: Another story about Idlib", ARTICLE[1], "Share this article",
                       "Original url: https://example.org/2020/03/01/idlib-story", "\u00a9 2020 Example News"])
    art = clean_text(raw)
    assert paragraphs(art.text) == ARTICLE[:2]
    assert art.url == "https://example.org/2020/03/01/idlib-story"
    assert art.date == "2020-03-01" and art.outlet == "example.org"
    assert art.extra["related"] == ["Another story about Idlib"]


@pytest.mark.parametrize("line,iso", [("July 07, 2019", "2019-07-07"), ("7 July 2019", "2019-07-07"),
                                      ("Published: Sunday, July 7, 2019", "2019-07-07"), ("2019-07-07", "2019-07-07"),
                                      ("Syria July 2019 report", None)])
def test_parse_date(line, iso):
    assert parse_date(line) == iso


# ---------------------------------------------------------------- inputs the tests make

def test_html_page_keeps_the_article_and_drops_the_rest(tmp_path):
    body = "".join(f"<p>{p}</p>\n" for p in ARTICLE)
    (tmp_path / "page.html").write_text(
        "<!DOCTYPE html><html><head><title>Barrel bombs hit Mhambil | Example News</title>"
        '<meta property="og:url" content="https://news.example.org/2019/07/06/mhambil">'
        '<meta property="og:site_name" content="Example News">'
        "<script>var tracking = 'SCRIPTCODE';</script><style>.x{color:red}</style></head><body>"
        "<nav><a href='/'>Home</a> <a href='/world'>NAVLINK World</a></nav>"
        f"<article><h1>Barrel bombs hit Mhambil</h1>\n{body}</article>"
        "<footer>FOOTERTEXT Copyright Example News</footer></body></html>", encoding="utf-8")
    result = ingest([tmp_path / "page.html"], tmp_path / "out.jsonl")
    assert result["written"] and result["problems"] == []
    [rec] = read(tmp_path / "out.jsonl")
    assert paragraphs(rec["text"]) == ARTICLE
    for junk in ("SCRIPTCODE", "color:red", "NAVLINK", "FOOTERTEXT", "Barrel bombs hit Mhambil"):
        assert junk not in rec["text"]
    meta = rec["meta"]
    assert meta["format"] == "html" and meta["title"] == "Barrel bombs hit Mhambil"
    assert meta["url"] == "https://news.example.org/2019/07/06/mhambil"
    assert meta["outlet"] == "Example News"
    assert schema_errors(rec, "documents") == []


def test_crlf_and_bom(tmp_path):
    raw = "\ufeff" + "\r\n\r\n".join(ARTICLE) + "\r\n"
    (tmp_path / "crlf.txt").write_bytes(raw.encode("utf-8"))
    (tmp_path / "cr.txt").write_bytes(("\r\r".join(ARTICLE) + " extra").encode("utf-8"))
    result = ingest([tmp_path], tmp_path / "out" / "documents.jsonl")
    assert result["warnings"] == [] and result["problems"] == []
    recs = by_source(read(tmp_path / "out" / "documents.jsonl"))
    crlf = next(r for s, r in recs.items() if s.endswith("crlf.txt"))
    assert paragraphs(crlf["text"]) == ARTICLE
    assert "\r" not in crlf["text"] and "\ufeff" not in crlf["text"] and crlf["meta"]["encoding"] == "utf-8"
    cr = next(r for s, r in recs.items() if s.endswith("cr.txt"))
    assert "\r" not in cr["text"] and len(paragraphs(cr["text"])) == 3


def test_cp1252_is_decoded_with_a_warning_naming_the_file(tmp_path):
    path = tmp_path / "legacy.txt"
    path.write_bytes("\r\n\r\n".join(ARTICLE).encode("cp1252"))
    result = ingest([path], tmp_path / "out.jsonl")
    [warning] = result["warnings"]
    assert "legacy.txt" in warning and "cp1252" in warning
    [rec] = read(tmp_path / "out.jsonl")
    assert paragraphs(rec["text"]) == ARTICLE  # caf\u00e9 and curly quotes, no mojibake
    assert rec["meta"]["encoding"] == "cp1252"


def test_non_western_legacy_encoding_is_refused_not_garbled(tmp_path):
    path = tmp_path / "cyrillic.txt"
    path.write_bytes(("\u0410\u0432\u0438\u0430\u0443\u0434\u0430\u0440 \u043f\u043e \u0418\u0434\u043b\u0438\u0431\u0443 "
                      "\u0443\u0431\u0438\u043b \u043c\u0438\u0440\u043d\u044b\u0445 \u0436\u0438\u0442\u0435\u043b"
                      "\u0435\u0439. " * 20).encode("cp1251"))
    result = ingest([path], tmp_path / "out.jsonl")
    assert not result["written"]
    [problem] = result["problems"]
    assert problem.startswith(f"{path.as_posix()}: not UTF-8") and "cp1251" in problem


@pytest.mark.parametrize("name,content,message", [
    ("empty.txt", b"", "empty file"),
    ("blank.txt", b"  \n\n \r\n", "empty file"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary file"),
    ("bad.txt", b"Troops entered the town \x81\x8d\x90 on Friday.", "undecodable bytes"),
    ("empty.jsonl", b"", "empty file"),
])
def test_bad_files_are_refused_and_nothing_is_written(tmp_path, name, content, message):
    (tmp_path / "good.txt").write_text("\n\n".join(ARTICLE), encoding="utf-8")
    (tmp_path / name).write_bytes(content)
    out = tmp_path / "out" / "documents.jsonl"
    out.parent.mkdir()
    out.write_text("previous content\n", encoding="utf-8")
    result = ingest([tmp_path], out)
    assert not result["written"]
    assert len(result["problems"]) == 1
    assert result["problems"][0].startswith(f"{(tmp_path / name).as_posix()}: {message}")
    assert out.read_text(encoding="utf-8") == "previous content\n"  # untouched
    assert sorted(p.name for p in out.parent.iterdir()) == ["documents.jsonl"]  # no temporary left behind


def test_bad_jsonl_lines_each_named(tmp_path):
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join([
        json.dumps({"text": ARTICLE[0], "id": "a1", "meta": {"url": "https://example.org/a1", "lang": "en"}}).encode(),
        b"{not json",
        json.dumps({"title": "no text here"}).encode(),
        json.dumps({"text": "   "}).encode(),
        b'{"text": "caf\xe9"}',
        b"[1, 2]",
        json.dumps({"text": ARTICLE[1]}).encode(),
    ]) + b"\n")
    out = tmp_path / "out.jsonl"
    result = ingest([path], out)
    shown = path.as_posix()
    assert result["problems"] == [
        f"{shown}:2: not valid JSON (Expecting property name enclosed in double quotes, column 2)",
        f'{shown}:3: not a record with a "text" string',
        f'{shown}:4: "text" is empty',
        f"{shown}:5: not UTF-8 (byte 0xe9 at column 14)",
        f'{shown}:6: not a record with a "text" string',
    ]
    assert not result["written"] and not out.exists()

    result = ingest([path], out, skip_invalid=True)
    assert result["written"] and result["documents"] == 2 and len(result["problems"]) == 5
    first, second = read(out)
    assert first["text"] == ARTICLE[0] and second["text"] == ARTICLE[1]
    assert first["meta"]["url"] == "https://example.org/a1" and first["meta"]["lang"] == "en"
    assert first["meta"]["source_id"] == "a1" and first["meta"]["source_line"] == 1
    assert second["meta"]["source_line"] == 7
    assert validate_file(out, "documents") == []


def test_skip_invalid_writes_the_good_documents(tmp_path):
    (tmp_path / "good.txt").write_text("\n\n".join(ARTICLE), encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 4)
    result = ingest([tmp_path], tmp_path / "out.jsonl", skip_invalid=True)
    assert result["written"] and result["documents"] == 1 and len(result["problems"]) == 2
    [rec] = read(tmp_path / "out.jsonl")
    assert rec["meta"]["source_file"].endswith("good.txt")


def test_exact_duplicate_points_at_the_first(tmp_path):
    text = "\n\n".join(ARTICLE)
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    (tmp_path / "b.md").write_text("\r\n\r\n".join(ARTICLE) + "\r\n", encoding="utf-8")  # same text once cleaned
    (tmp_path / "c.txt").write_text(text, encoding="utf-8")
    result = ingest([tmp_path], tmp_path / "out.jsonl")
    a, b, c = read(tmp_path / "out.jsonl")
    assert a["meta"]["duplicate_of"] is None
    assert b["id"] == a["id"] + "-2" and b["meta"]["duplicate_of"] == a["id"]
    assert c["id"] == a["id"] + "-3" and c["meta"]["duplicate_of"] == a["id"]
    assert a["meta"]["raw_sha256"] != b["meta"]["raw_sha256"] and a["meta"]["text_sha256"] == b["meta"]["text_sha256"]
    assert [d["id"] for d in result["exact_duplicates"]] == [b["id"], c["id"]]
    assert result["near_duplicates"] == []  # copies are not reported again as near duplicates
    assert validate_file(tmp_path / "out.jsonl", "documents") == []


def test_near_threshold_is_configurable(in_root, tmp_path):
    loose = ingest([SEED_000, SEED_001], tmp_path / "loose.jsonl", near_threshold=0.15)
    strict = ingest([SEED_000, SEED_001], tmp_path / "strict.jsonl")
    assert [(p["a_file"], p["b_file"]) for p in loose["near_duplicates"]] == [(SEED_000, SEED_001)]
    assert strict["near_duplicates"] == []
    with pytest.raises(Exception, match="near-threshold"):
        ingest([SEED_000], tmp_path / "x.jsonl", near_threshold=0)


def test_near_duplicate_detection_finds_edited_copies(tmp_path):
    words = " ".join(ARTICLE).split()
    edited = list(words)
    for i in range(0, len(edited), 40):  # change one word in forty
        edited[i] = "changed"
    (tmp_path / "a.txt").write_text(" ".join(words), encoding="utf-8")
    (tmp_path / "b.txt").write_text(" ".join(edited), encoding="utf-8")
    (tmp_path / "c.txt").write_text(" ".join(reversed(words)), encoding="utf-8")
    result = ingest([tmp_path], tmp_path / "out.jsonl")
    [pair] = result["near_duplicates"]
    assert pair["a_file"].endswith("a.txt") and pair["b_file"].endswith("b.txt")
    expected = jaccard(shingles(" ".join(words)), shingles(" ".join(edited)))
    assert pair["similarity"] == round(expected, 4) and 0.5 < expected < 1


def test_deterministic_whatever_the_argument_order(tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    for i, p in enumerate(ARTICLE):
        (src / f"doc{i}.txt").write_text(p + "\n\n" + ARTICLE[(i + 1) % 3], encoding="utf-8")
    files = sorted(src.glob("*.txt"))
    ingest(files, out / "one.jsonl")
    ingest(list(reversed(files)), out / "two.jsonl")
    ingest([src], out / "three.jsonl")
    one = (out / "one.jsonl").read_bytes()
    assert one == (out / "two.jsonl").read_bytes() == (out / "three.jsonl").read_bytes()
    assert len(one.splitlines()) == 3


def test_folders_skip_unknown_files_and_the_output_itself(tmp_path):
    (tmp_path / "a.txt").write_text(ARTICLE[0], encoding="utf-8")
    (tmp_path / "notes.pdf").write_bytes(b"%PDF-1.4 binary")
    (tmp_path / ".hidden.txt").write_text(ARTICLE[1], encoding="utf-8")
    out = tmp_path / "documents.jsonl"
    ingest([tmp_path], out)
    result = ingest([tmp_path], out)  # the previous output sits in the input folder: not re-ingested
    assert result["documents"] == 1 and result["files"] == 1
    assert any("notes.pdf" in w and "skipped" in w for w in result["warnings"])


def test_missing_path_is_a_problem(tmp_path):
    result = ingest([tmp_path / "nope"], tmp_path / "new" / "out.jsonl")
    assert result["problems"] == [f"{(tmp_path / 'nope').as_posix()}: no such file or folder"]
    assert not (tmp_path / "new").exists()  # not even the output's folder is created


def test_skip_invalid_with_nothing_valid_writes_nothing(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    result = ingest([tmp_path], tmp_path / "out.jsonl", skip_invalid=True)
    assert not result["written"] and result["documents"] == 0 and not (tmp_path / "out.jsonl").exists()
    res = CliRunner().invoke(app, ["ingest", str(tmp_path), "--out", str(tmp_path / "out.jsonl"), "--skip-invalid"])
    assert res.exit_code == 2 and "nothing written: no valid documents" in res.output


# ---------------------------------------------------------------- the command line

def test_cli_ingests_the_seeds(in_root, tmp_path):
    out = tmp_path / "documents.jsonl"
    res = CliRunner().invoke(app, ["ingest", "seeds/", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote 5 documents from 5 files" in res.output
    assert re.search(r"near duplicates: \w+ \(seeds/000_\w+\.txt\) ~ \w+ \(seeds/002_\w+\.txt\) similarity 1\.000",
                     res.output)
    assert out.read_bytes() == (in_root / "corpus/documents.jsonl").read_bytes()


def test_cli_bad_input_exits_2_with_one_line_per_problem(tmp_path):
    (tmp_path / "good.txt").write_text(ARTICLE[0], encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "bad.jsonl").write_text('{"text": "ok text"}\nnot json\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    res = CliRunner().invoke(app, ["ingest", str(tmp_path), "--out", str(out)])
    assert res.exit_code == 2
    assert "Traceback" not in res.output and not out.exists()
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {(tmp_path / 'bad.jsonl').as_posix()}:2: not valid JSON (Expecting value, column 1)",
                      f"error: {(tmp_path / 'empty.txt').as_posix()}: empty file",
                      "error: nothing written: 2 bad input(s)"]

    res = CliRunner().invoke(app, ["ingest", str(tmp_path), "--out", str(out), "--skip-invalid"])
    assert res.exit_code == 0, res.output
    assert "wrote 2 documents from 3 files" in res.output and "2 bad input(s) skipped" in res.output
    assert len(read(out)) == 2


def test_cli_rejects_a_bad_threshold(tmp_path):
    res = CliRunner().invoke(app, ["ingest", str(tmp_path), "--near-threshold", "1.5"])
    assert res.exit_code == 2


def test_worker_processes_give_the_same_output(in_root, tmp_path):
    ingest(["seeds/"], tmp_path / "one.jsonl", jobs=1)
    ingest(["seeds/"], tmp_path / "two.jsonl", jobs=2)
    assert (tmp_path / "one.jsonl").read_bytes() == (tmp_path / "two.jsonl").read_bytes()


def test_jsonl_with_bom_and_crlf_and_blank_only_file(tmp_path):
    (tmp_path / "bom.jsonl").write_bytes(b"\xef\xbb\xbf" + json.dumps({"text": ARTICLE[0], "title": 7}).encode()
                                         + b"\r\n\r\n")
    (tmp_path / "blank.jsonl").write_bytes(b"\n  \n")
    result = ingest([tmp_path], tmp_path / "out" / "documents.jsonl", skip_invalid=True)
    assert result["problems"] == [f"{(tmp_path / 'blank.jsonl').as_posix()}: empty file"]
    [rec] = read(tmp_path / "out" / "documents.jsonl")
    assert rec["text"] == ARTICLE[0] and rec["meta"]["title"] == "7"  # the schema wants a string
    assert schema_errors(rec, "documents") == []


def test_republication_notice_is_meta_but_a_news_sentence_is_not():
    notice = "This story was first published by Example Wire and is reprinted with permission."
    news = "This report was published by Human Rights Watch on Monday."
    art = clean_text("\n\n".join([notice, ARTICLE[0], news]))
    assert art.outlet == "Example Wire"
    assert paragraphs(art.text) == [ARTICLE[0], news]


def test_markdown_file_structure_is_reduced_to_text(tmp_path):
    (tmp_path / "story.md").write_text(
        "# Strikes on Idlib\n\nBy Example Wire\n\n2019-07-05\n\n"
        "Rescuers said *at least* 15 people were killed\nin [Mhambil](https://example.org/m) on Friday.\n\n"
        "## What was used\n\n- barrel bombs dropped by `helicopters`\n- __cluster munitions__\n\n"
        "> \"Whole villages have been emptied,\" a spokesman said.\n\n---\n", encoding="utf-8")
    result = ingest([tmp_path / "story.md"], tmp_path / "out.jsonl")
    [rec] = read(tmp_path / "out.jsonl")
    assert paragraphs(rec["text"]) == [
        "Rescuers said at least 15 people were killed in Mhambil on Friday.",
        "What was used", "barrel bombs dropped by helicopters", "cluster munitions",
        '"Whole villages have been emptied," a spokesman said.']
    meta = rec["meta"]
    assert (meta["title"], meta["byline"], meta["date"], meta["format"]) == (
        "Strikes on Idlib", "Example Wire", "2019-07-05", "markdown")
    assert result["warnings"] == []


def test_html_in_its_declared_legacy_charset(tmp_path):
    cyrillic = ("\u0410\u0432\u0438\u0430\u0443\u0434\u0430\u0440 \u043f\u043e \u0418\u0434\u043b\u0438\u0431\u0443 "
                "\u0443\u0431\u0438\u043b \u043c\u0438\u0440\u043d\u044b\u0445 \u0436\u0438\u0442\u0435\u043b\u0435\u0439.")
    page = ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
            f"<title>Idlib</title></head><body><article>{''.join(f'<p>{cyrillic} {i}</p>' for i in range(8))}"
            "</article></body></html>")
    (tmp_path / "page.html").write_bytes(page.encode("cp1251"))
    result = ingest([tmp_path / "page.html"], tmp_path / "out.jsonl")
    assert result["problems"] == []
    [warning] = result["warnings"]
    assert "page.html" in warning and "cp1251" in warning
    [rec] = read(tmp_path / "out.jsonl")
    assert paragraphs(rec["text"])[0] == f"{cyrillic} 0" and rec["meta"]["encoding"] == "cp1251"


WRAPPED_LEAD = ("Syrian army helicopters dropped barrel bombs on the town\nof Kafr Nabl on Monday, killing at least 12 "
                "people, rescuers said.\n\nThe Syrian Observatory said the raids hit a market.\n")
LEAD = ("Syrian army helicopters dropped barrel bombs on the town of Kafr Nabl on Monday, killing at least 12 people, "
        "rescuers said.")


@pytest.mark.parametrize("encode", [lambda t: t.encode("utf-8"),
                                    lambda t: b"\xef\xbb\xbf" + t.replace("\n", "\r\n").encode("utf-8")],
                         ids=["lf", "bom-crlf"])
def test_a_first_line_wrapped_mid_sentence_is_not_a_title(tmp_path, encode):
    (tmp_path / "h3.txt").write_bytes(encode(WRAPPED_LEAD))
    ingest([tmp_path / "h3.txt"], tmp_path / "h3.jsonl")
    rec = json.loads((tmp_path / "h3.jsonl").read_text(encoding="utf-8"))
    assert rec["text"] == LEAD + "\n\nThe Syrian Observatory said the raids hit a market."
    assert rec["meta"]["title"] is None


@pytest.mark.parametrize("raw, title, first", [
    # the next line starts in lowercase: the sentence goes on
    (WRAPPED_LEAD, None, LEAD),
    # the line ends in a function word and has no final punctuation: the sentence goes on
    ("Barrel bombs fell on the\nSyrian town of Kafr Nabl on Monday, rescuers said.\n\nThe Observatory said so.",
     None, "Barrel bombs fell on the Syrian town of Kafr Nabl on Monday, rescuers said."),
    # a real headline, with or without a blank line after it, is still the title
    ("Russian jets pound Idlib\nAt least 12 people were killed on Monday, rescuers said.\n\nThe Observatory said so.",
     "Russian jets pound Idlib", "At least 12 people were killed on Monday, rescuers said."),
    ("Russian jets pound Idlib\n\nAt least 12 people were killed on Monday, rescuers said.\n\nMore said so.",
     "Russian jets pound Idlib", "At least 12 people were killed on Monday, rescuers said."),
    # a headline wrapped over two lines is one title
    ("Russian jets pound the\nlast rebel bastion\n\nAt least 12 people were killed, rescuers said.\n\nMore said so.",
     "Russian jets pound the last rebel bastion", "At least 12 people were killed, rescuers said."),
])
def test_continued_lines_join_and_titles_stay(raw, title, first):
    art = clean_text(raw)
    assert art.title == title
    assert art.text.split("\n\n")[0] == first


@pytest.mark.parametrize("text", [
    "The na\u00efve plan failed, officials said.\n\nA caf\u00e9 was hit.\n",      # charset-normalizer: cp1250 or cp775
    "Le caf\u00e9 na\u00efve \u2013 \u00abbombard\u00e9\u00bb hier, a dit l\u2019ONU. " * 3,
])
def test_cp1252_text_guessed_as_another_latin_code_page_is_read_as_cp1252(tmp_path, text):
    path = tmp_path / "naive.txt"
    path.write_bytes(text.encode("cp1252"))
    import charset_normalizer

    assert charset_normalizer.from_bytes(path.read_bytes()).best().encoding != "cp1252"   # the trap is real
    result = ingest([path], tmp_path / "out.jsonl")
    assert result["problems"] == []
    [warning] = result["warnings"]
    assert warning.startswith(f"{path.as_posix()}: not UTF-8") and "decoded as cp1252" in warning
    assert "another Latin code page" in warning
    [rec] = read(tmp_path / "out.jsonl")
    assert rec["text"] == normalize_text(text).strip() and "na\u00efve" in rec["text"]   # not "na\u010fve"
    assert rec["meta"]["encoding"] == "cp1252"


@pytest.mark.parametrize("name, text, encoding, message", [
    ("koi8.txt", "\u0410\u0432\u0438\u0430\u0443\u0434\u0430\u0440 \u043f\u043e \u0418\u0434\u043b\u0438\u0431\u0443 "
                 "\u0443\u0431\u0438\u043b \u0436\u0438\u0442\u0435\u043b\u0435\u0439. " * 5, "koi8_r",
     "not UTF-8; the bytes look like koi8_r, which cp1252 would garble; convert it to UTF-8 (iconv -f koi8_r -t utf-8)"),
    # katakana whose Shift-JIS bytes all decode in cp1252 (no 0x81, 0x8d, 0x8f, 0x90, 0x9d): the guess decides
    ("sjis.txt", "\u30b7\u30ea\u30a2 \u30a4\u30c9\u30ea\u30d6 \u30b8\u30a7\u30c3\u30c8 \u30a2\u30bf\u30c3\u30af "
                 "\u30cb\u30e5\u30b9 \u30ab\u30e9 " * 6, "shift_jis",
     "not UTF-8; the bytes look like cp932, which cp1252 would garble; convert it to UTF-8 (iconv -f cp932 -t utf-8)"),
    # most Shift-JIS text has bytes cp1252 does not define at all
    ("sjis2.txt", "\u30a4\u30c9\u30ea\u30d6\u3078\u306e\u7a7a\u7206\u3067\u6c11\u9593\u4eba\u304c\u6b7b\u4ea1"
                  "\u3057\u305f\u3002" * 5, "shift_jis",
     "undecodable bytes: not UTF-8 (byte 0x83 at offset 0) and not cp1252 (byte 0x90 at offset 22)"),
])
def test_multi_byte_or_non_latin_legacy_encodings_are_refused(tmp_path, name, text, encoding, message):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    result = ingest([path], tmp_path / "out.jsonl")
    assert not result["written"] and not (tmp_path / "out.jsonl").exists()
    [problem] = result["problems"]
    assert problem.startswith(f"{path.as_posix()}: {message}")
