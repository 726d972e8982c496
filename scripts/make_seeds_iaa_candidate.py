"""Gold candidate of the two-annotator round on the seeds (Doccano project ``seeds-iaa``), with provenance.

    .venv/bin/python scripts/make_seeds_iaa_candidate.py

Inputs (all committed): the adjudicated candidate ``corpus/hand/seeds-iaa.candidate.jsonl`` (from
``annotate adjudicate`` on the pull snapshot ``corpus/annotations/seeds-iaa/...``, decisions applied)
and the two annotators' resolved gold files: ``corpus/gold/v0.1.0/gold.jsonl`` (annotator1, replayed)
and ``corpus/hand/seeds.annotator2.gold.jsonl`` (annotator2, from ``seeds.annotator2.anchors.jsonl``).
Each span of the candidate gets ``source`` (how the annotators made it: ``hand`` or ``projected``, from
whichever annotator's file holds it; a span only the adjudicator wrote: ``decision``) and keeps what
adjudicate said as ``adjudication`` (``agreed`` / ``decision``); it is written to
``corpus/hand/seeds-iaa.gold-candidate.jsonl``, the input of ``annotate export``.

Exit 0 ok, 2 when an input is missing or the candidate has a document the annotators do not.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate.errors import InputError  # noqa: E402
from annotate.jsonl import read_jsonl, write_jsonl  # noqa: E402

HAND = Path("corpus/hand")
ANNOTATOR_FILES = (Path("corpus/gold/v0.1.0/gold.jsonl"), HAND / "seeds.annotator2.gold.jsonl")


def provenance_index(paths: list[Path]) -> dict[str, dict[tuple, str]]:
    """{document id: {(start, end, label): source}} over the annotators' gold files."""
    out: dict[str, dict[tuple, str]] = {}
    for path in paths:
        for rec in read_jsonl(path):
            spans = out.setdefault(rec["id"], {})
            for s in rec["spans"]:
                spans.setdefault((s["start"], s["end"], s["label"]), s.get("source") or "hand")
    return out


def with_provenance(candidate: list[dict], index: dict[str, dict[tuple, str]]) -> list[dict]:
    missing = sorted({r["id"] for r in candidate} - set(index))
    if missing:
        raise InputError(f"{missing[0]}: in the candidate but in no annotator's gold file")
    out = []
    for rec in candidate:
        known = index[rec["id"]]
        spans = [{**s, "source": known.get((s["start"], s["end"], s["label"]), "decision"),
                  "adjudication": s.get("source")} for s in rec["spans"]]
        out.append({**rec, "spans": spans})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--candidate", type=Path, default=HAND / "seeds-iaa.candidate.jsonl")
    ap.add_argument("--out", type=Path, default=HAND / "seeds-iaa.gold-candidate.jsonl")
    args = ap.parse_args(argv)
    try:
        records = with_provenance(list(read_jsonl(args.candidate)), provenance_index(list(ANNOTATOR_FILES)))
    except (InputError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_jsonl(args.out, records)
    counts = Counter((s["source"], s["adjudication"]) for r in records for s in r["spans"])
    print(f"wrote {args.out}: {len(records)} documents; spans by (source, adjudication): "
          + ", ".join(f"{k[0]}/{k[1]} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
