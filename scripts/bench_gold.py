"""Benchmark the gold stage: agree, adjudicate, project-labels, lint, export + verify.

Corpus: the seed gold (corpus/hand/seeds.gold.jsonl, about 80 spans per 3 KB document) copied to
--docs documents with distinct ids and texts. Each figure is compared, as a ratio, with what a
user would otherwise run in the same process:

* ``project``: ours (``SequenceMatcher(autojunk=False)`` on words, then on the characters of changed
  stretches, exact surface checked) against the same on the whole character sequences (with
  ``autojunk`` off, and difflib's default on) and against a plain ``str.find`` of each span's text
  (the nearest occurrence), on hard-wrapped near-duplicates whose true offsets are known: time, and
  how many spans each puts in the right place, in a wrong place, or nowhere.
* ``lint``: ours (one alternation regex over all labelled surfaces) against a loop of one regex
  per surface per document, the obvious way to write the "unlabelled occurrence" check.
* ``agree`` / ``adjudicate``: two annotators (the second drops or shifts 10% of the spans) over a
  pull snapshot; compared with spaCy's tokenizer alone over the same texts (the floor: agree must tokenize).
* ``export`` (+ ``verify``): the whole release against building only the DocBin by hand
  (``make_doc`` + ``char_span`` + ``DocBin``), the smallest converter a spaCy user would write.

Prints a table and writes scripts/results/bench_gold.json. The machine may be shared: rerun alone
for figures to quote.

    .venv/bin/python scripts/bench_gold.py                 # 2,000 documents
    .venv/bin/python scripts/bench_gold.py --docs 200
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import os
import platform
import random
import re
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import spacy  # noqa: E402
from spacy.tokens import DocBin  # noqa: E402

from annotate.adjudicate import adjudicate  # noqa: E402
from annotate.agree import agree  # noqa: E402
from annotate.export import export, verify  # noqa: E402
from annotate.gold import project_record  # noqa: E402
from annotate.jsonl import read_jsonl, write_json, write_jsonl  # noqa: E402
from annotate.lint import lint_records  # noqa: E402

SEED_GOLD = ROOT / "corpus/hand/seeds.gold.jsonl"


def corpus(n: int) -> list[dict]:
    """n gold records cycled from the seed gold, each text made unique by a numbered first line."""
    seeds = list(read_jsonl(SEED_GOLD))
    out = []
    for i in range(n):
        src = seeds[i % len(seeds)]
        prefix = f"Report {i}.\n\n"
        k = len(prefix)
        spans = [{"id": s["id"], "start": s["start"] + k, "end": s["end"] + k, "label": s["label"]} for s in src["spans"]]
        out.append({"id": f"b{i:06d}", "text": prefix + src["text"], "spans": spans,
                    "relations": [{"from": r["from"], "to": r["to"], "label": r["label"]} for r in src.get("relations", [])]})
    return out


def wrapped(text: str, width: int = 90) -> str:
    """Hard-wrap like a PDF extraction: the space closest after every ``width`` characters becomes a newline
    (same length, so true offsets are unchanged)."""
    chars, col = list(text), 0
    for i, c in enumerate(chars):
        col = 0 if c == "\n" else col + 1
        if c == " " and col >= width:
            chars[i], col = "\n", 0
    return "".join(chars)


def timed(fn, *a, **kw):
    t = time.perf_counter()
    res = fn(*a, **kw)
    return res, time.perf_counter() - t


def bench_project(records: list[dict], pairs: int) -> dict:
    sample = records[:pairs]
    targets = [("Wire copy.\n" + wrapped(r["text"])) for r in sample]
    shift = len("Wire copy.\n")

    def score(rec, tgt, placed):
        right = wrong = 0
        truth = {(s["start"] + shift, s["end"] + shift) for s in rec["spans"]
                 if tgt[s["start"] + shift:s["end"] + shift] == rec["text"][s["start"]:s["end"]]}
        for s in placed:
            if (s[0], s[1]) in truth:
                right += 1
            else:
                wrong += 1
        return right, wrong, len(truth)

    def ours():
        out = []
        for rec, tgt in zip(sample, targets):
            projected, _ = project_record(rec, "t", tgt)
            out.append([(s["start"], s["end"]) for s in projected["spans"]])
        return out

    def chars(autojunk: bool):
        out = []
        for rec, tgt in zip(sample, targets):
            blocks = [b for b in difflib.SequenceMatcher(None, rec["text"], tgt, autojunk=autojunk).get_matching_blocks()
                      if b.size]
            placed = []
            for s in rec["spans"]:
                for a, b, size in blocks:
                    if a <= s["start"] and s["end"] <= a + size:
                        placed.append((b + s["start"] - a, b + s["end"] - a))
                        break
            out.append(placed)
        return out

    def naive_find():
        out = []
        for rec, tgt in zip(sample, targets):
            placed = []
            for s in rec["spans"]:
                surface = rec["text"][s["start"]:s["end"]]
                i = tgt.find(surface)
                if i >= 0:
                    placed.append((i, i + len(surface)))
            out.append(placed)
        return out

    result = {"pairs": len(sample), "spans": sum(len(r["spans"]) for r in sample)}
    for name, fn in (("ours_words_then_chars", ours), ("difflib_chars_autojunk_off", lambda: chars(False)),
                     ("difflib_chars_default_autojunk", lambda: chars(True)), ("str_find", naive_find)):
        placed, secs = timed(fn)
        right = wrong = alignable = 0
        for rec, tgt, p in zip(sample, targets, placed):
            r, w, t = score(rec, tgt, p)
            right, wrong, alignable = right + r, wrong + w, alignable + t
        result[name] = {"seconds": round(secs, 3), "pairs_per_s": round(len(sample) / secs, 1),
                        "right": right, "wrong": wrong, "not_placed": result["spans"] - right - wrong,
                        "alignable": alignable}
    ours_s = result["ours_words_then_chars"]["seconds"]
    result["speedup_vs_chars_autojunk_off"] = round(result["difflib_chars_autojunk_off"]["seconds"] / ours_s, 1)
    result["speedup_vs_chars_default_autojunk"] = round(result["difflib_chars_default_autojunk"]["seconds"] / ours_s, 1)
    result["ratio_time_vs_str_find"] = round(ours_s / result["str_find"]["seconds"], 1)
    return result


def bench_lint(records: list[dict]) -> dict:
    findings, secs = timed(lint_records, records)
    surfaces = sorted({r["text"][s["start"]:s["end"]] for r in records for s in r["spans"]}, key=lambda s: (-len(s), s))

    def per_surface():
        n = 0
        for rec in records:
            spans = [(s["start"], s["end"]) for s in rec["spans"]]
            for surface in surfaces:
                for m in re.finditer(r"(?<!\w)" + re.escape(surface) + r"(?!\w)", rec["text"]):
                    if not any(a < m.end() and m.start() < b for a, b in spans):
                        n += 1
        return n

    sample = max(1, len(records) // 10)
    full = records
    records = records[:sample]
    _, loop_secs = timed(per_surface)
    records = full
    loop_est = loop_secs * len(full) / sample
    return {"documents": len(full), "surfaces": len(surfaces), "findings": len(findings), "seconds": round(secs, 3),
            "docs_per_s": round(len(full) / secs, 1),
            "per_surface_loop_seconds_estimated": round(loop_est, 2), "per_surface_loop_sample_docs": sample,
            "speedup_vs_per_surface_loop": round(loop_est / secs, 1)}


def make_snapshot(records: list[dict], folder: Path, seed: int = 7) -> Path:
    rng = random.Random(seed)
    lines = []
    for rec in records:
        sha = hashlib.sha256(rec["text"].encode("utf-8")).hexdigest()
        num = {s["id"]: i for i, s in enumerate(rec["spans"], 1)}  # Doccano span ids are integers
        for who in ("a1", "a2"):
            spans = []
            for s in rec["spans"]:
                start, end = s["start"], s["end"]
                if who == "a2":
                    roll = rng.random()
                    if roll < 0.05:
                        continue
                    if roll < 0.10 and " " in rec["text"][start:end]:
                        start = rec["text"].index(" ", start, end) + 1
                spans.append({"id": num[s["id"]], "start": start, "end": end, "label": s["label"], "origin": "annotator"})
            ids = {s["id"] for s in spans}
            rels = [{"id": 100000 + i, "from": num[r["from"]], "to": num[r["to"]], "label": r["label"]}
                    for i, r in enumerate(rec["relations"]) if num[r["from"]] in ids and num[r["to"]] in ids]
            lines.append({"id": rec["id"], "annotator": who, "text_sha256": sha, "confirmed": True, "text": rec["text"],
                          "spans": spans, "relations": rels, "doccano": {"project_id": 1, "example_id": 1}})
    folder.mkdir(parents=True)
    write_jsonl(folder / "annotations.jsonl", lines)
    return folder


def bench_agree(records: list[dict], tmp: Path) -> dict:
    snap = make_snapshot(records, tmp / "snap")
    res, secs = timed(agree, snap)
    nlp = spacy.blank("en")
    _, tok_secs = timed(lambda: [nlp.make_doc(r["text"]) for r in records for _ in (0, 1)])
    adj, adj_secs = timed(adjudicate, snap, out=tmp / "cand.jsonl", conflicts_out=tmp / "conf.jsonl")
    return {"documents": len(records), "annotators": 2, "seconds": round(secs, 3),
            "docs_per_s": round(len(records) / secs, 1), "kappa": round(res["overall"]["kappa"], 4),
            "strict_f1": round(res["overall"]["strict_f1"], 4),
            "tokenize_only_seconds": round(tok_secs, 3), "ratio_vs_tokenize_only": round(secs / tok_secs, 2),
            "adjudicate_seconds": round(adj_secs, 3), "adjudicate_docs_per_s": round(len(records) / adj_secs, 1),
            "adjudicate_spans": adj["accounting"]["spans"]}


def bench_export(records: list[dict], tmp: Path) -> dict:
    gold = tmp / "gold.jsonl"
    write_jsonl(gold, records)
    res, secs = timed(export, gold, "0.1.0", tmp / "releases", update_latest=False)
    problems, vsecs = timed(verify, tmp / "releases" / "v0.1.0")

    def docbin_only():
        nlp = spacy.blank("en")
        db = DocBin(store_user_data=True)
        for r in records:
            doc = nlp.make_doc(r["text"])
            spans = [doc.char_span(s["start"], s["end"], label=s["label"]) for s in r["spans"]]
            doc.spans["sc"] = [s for s in spans if s is not None]
            db.add(doc)
        return db.to_bytes()

    _, base_secs = timed(docbin_only)
    sizes = {k: v["size"] for k, v in res["manifest"]["files"].items()}
    return {"documents": len(records), "spans": res["manifest"]["counts"]["spans"]["total"],
            "export_seconds": round(secs, 3), "export_docs_per_s": round(len(records) / secs, 1),
            "verify_seconds": round(vsecs, 3), "verify_ok": problems == [],
            "docbin_only_seconds": round(base_secs, 3), "ratio_export_vs_docbin_only": round(secs / base_secs, 2),
            "file_bytes": sizes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=2000)
    ap.add_argument("--pairs", type=int, default=200, help="near-duplicate pairs for the projection benchmark")
    ap.add_argument("--out", type=Path, default=ROOT / "scripts/results/bench_gold.json")
    args = ap.parse_args()
    records = corpus(args.docs)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        results = {
            "benchmark": "gold", "docs": args.docs,
            "spans": sum(len(r["spans"]) for r in records),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                        "note": "shared machine (other engineers' jobs running): ratios are more reliable than rates"},
            "project": bench_project(records, args.pairs),
            "lint": bench_lint(records),
            "agree": bench_agree(records, tmp),
            "export": bench_export(records, tmp),
        }
    p, l, a, e = results["project"], results["lint"], results["agree"], results["export"]
    print(f"{args.docs} documents, {results['spans']} spans")
    line = ", ".join(f"{k} {v['seconds']}s (right {v['right']}, wrong {v['wrong']}, unplaced {v['not_placed']})"
                     for k, v in p.items() if isinstance(v, dict))
    print(f"project  {p['pairs']} pairs: {line}")
    print(f"lint     {l['seconds']}s ({l['docs_per_s']} docs/s); one regex per surface ~{l['per_surface_loop_seconds_estimated']}s: "
          f"x{l['speedup_vs_per_surface_loop']}")
    print(f"agree    {a['seconds']}s ({a['docs_per_s']} docs/s), tokenizing alone {a['tokenize_only_seconds']}s: "
          f"x{a['ratio_vs_tokenize_only']}; adjudicate {a['adjudicate_seconds']}s ({a['adjudicate_docs_per_s']} docs/s)")
    print(f"export   {e['export_seconds']}s ({e['export_docs_per_s']} docs/s), DocBin alone {e['docbin_only_seconds']}s: "
          f"x{e['ratio_export_vs_docbin_only']}; verify {e['verify_seconds']}s ok={e['verify_ok']}")
    write_json(args.out, results)
    print(f"-> {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
