"""Build the seed gold candidate from the hand anchors (corpus/hand/) and the ingested documents.

    .venv/bin/python scripts/make_seed_gold.py [--documents corpus/documents.jsonl]

1. resolve ``corpus/hand/seeds.anchors.jsonl`` (surface + context, see annotate/anchors.py)
   against the document texts -> ``corpus/hand/seeds.hand.jsonl`` (spans ``source: hand``);
2. carry those labels onto the near-duplicates that have no hand annotation of their own
   (``annotate project-labels``, annotate/gold.py) -> ``corpus/hand/seeds.projected.jsonl`` and
   its review list ``corpus/hand/seeds.projected.review.jsonl`` (spans ``source: projected``);
   every review item must be answered by a hand anchor in ``corpus/hand/seeds.review-anchors.jsonl``
   (resolved like the others, ``source: hand``), or this fails;
3. merge both -> ``corpus/hand/seeds.gold.jsonl`` (the resolved gold);
4. with ``--adjudicated FILE`` (the output of ``annotate adjudicate`` on the pull snapshot after the
   same labels went through Doccano, see scripts/label_seeds_in_doccano.py): check that it holds
   exactly the resolved spans and relations, and write ``corpus/hand/seeds.candidate.jsonl``, the
   adjudicated records with each span's provenance (``source``: hand or projected; ``adjudication``:
   what adjudicate said), which ``annotate export`` takes.

Exit 0 ok; 2 with one line per problem when an anchor is missing or ambiguous, or a review item
is left unresolved. Nothing is written unless everything resolves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate.anchors import AnchorError, documents_by_stem, resolve  # noqa: E402
from annotate.errors import InputError  # noqa: E402
from annotate.gold import project_record  # noqa: E402
from annotate.jsonl import read_jsonl, write_jsonl  # noqa: E402

ANNOTATOR = "annotator-1"
# The guidelines version seeds.anchors.jsonl was written under (recorded in each record's meta). Not
# read from schemas/guidelines.md: a later clarification of the guidelines does not re-annotate.
ANNOTATED_UNDER = "1.0.0"
HAND = Path("corpus/hand")


def _covered(item: dict, spans: list[dict]) -> bool:
    """Does a hand span answer this projection review item (same label, overlapping its suggestion)?"""
    if item["kind"] != "span":
        return False
    sug = item.get("suggestion")
    for s in spans:
        if s["label"] != item["span"]["label"]:
            continue
        if sug is None or (s["start"] < sug["end"] and sug["start"] < s["end"]):
            return True
    return False


def build(documents: Path, anchors: Path, review_anchors: Path | None = None, *,
          annotator: str = ANNOTATOR) -> dict:
    """Resolve, project and merge; return {"hand", "projected", "review", "gold"} lists (nothing written).

    ``review_anchors`` holds hand anchors for the projected documents: one per span the projection
    listed for review (relations may name the source document's anchor ids, i.e. projected spans).
    """
    docs = list(read_jsonl(documents))
    by_id = {d["id"]: d for d in docs}
    stem_of = {d["id"]: stem for stem, d in documents_by_stem(docs).items()}
    version = ANNOTATED_UNDER
    hand = resolve(anchors, docs, annotator=annotator, guidelines_version=version)
    hand_ids = {r["id"] for r in hand}
    projected, review = [], []
    for rec in hand:  # near-duplicates of hand-annotated documents that have no hand record
        for near in by_id[rec["id"]]["meta"].get("near_duplicates") or []:
            tgt = near["id"]
            if tgt in hand_ids or tgt not in by_id or any(p["id"] == tgt for p in projected):
                continue
            out, items = project_record(rec, tgt, by_id[tgt]["text"], near["similarity"])
            for sp in out["spans"]:
                sp["source"] = "projected"
                sp["text"] = out["text"][sp["start"]:sp["end"]]
            out["meta"].update(source_file=by_id[tgt]["meta"]["source_file"], guidelines_version=version)
            projected.append(out)
            review.extend(items)
    fixes = {}
    if review_anchors is not None and review_anchors.exists():
        external = {stem_of[p["id"]]: {sp["anchor"] for sp in p["spans"]} for p in projected}
        fixes = {r["id"]: r for r in resolve(review_anchors, docs, annotator=annotator, guidelines_version=version,
                                             only=external, external=external)}
    problems = []
    for p in projected:
        fix = fixes.pop(p["id"], None)
        if fix is None:
            continue
        by_anchor = {sp["anchor"]: sp["id"] for sp in p["spans"]}
        p["spans"].extend(fix["spans"])
        for rel in fix["relations"]:
            p["relations"].append({**rel, "to": by_anchor.get(rel["to"], rel["to"])})
    for item in review:
        target = next(p for p in projected if p["id"] == item["doc"])
        if not _covered(item, [sp for sp in target["spans"] if sp["source"] == "hand"]):
            what = item.get("text") if item["kind"] == "span" else item.get("relation")
            problems.append(f"{item['doc']} ({stem_of.get(item['doc'])}): projection review item {what!r} "
                            f"({item['reason']}) is not answered by a hand anchor in {review_anchors}")
    if problems:
        raise AnchorError(problems)
    gold = sorted(hand + projected, key=lambda r: r["meta"]["source_file"])
    return {"hand": hand, "projected": projected, "review": review, "gold": gold}


def _signature(rec: dict) -> tuple[list, list]:
    by_id = {s["id"]: (s["start"], s["end"], s["label"]) for s in rec["spans"]}
    return sorted(by_id.values()), sorted((by_id[r["from"]], by_id[r["to"]], r["label"]) for r in rec.get("relations") or [])


def with_provenance(adjudicated: list[dict], gold: list[dict]) -> list[dict]:
    """The adjudicated records with each span's ``source`` taken from the resolved gold.

    Raises AnchorError naming every document and span where the two differ: the Doccano round
    trip must give back exactly what was annotated.
    """
    by_id = {r["id"]: r for r in gold}
    problems = [f"{doc}: in the adjudicated file but not in the resolved gold" for doc in
                sorted({r["id"] for r in adjudicated} - set(by_id))]
    problems += [f"{doc}: in the resolved gold but not in the adjudicated file" for doc in
                 sorted(set(by_id) - {r["id"] for r in adjudicated})]
    out = []
    for rec in adjudicated:
        ref = by_id.get(rec["id"])
        if ref is None:
            continue
        (a_spans, a_rels), (g_spans, g_rels) = _signature(rec), _signature(ref)
        for extra in sorted(set(a_spans) ^ set(g_spans)):
            side = "only in Doccano" if extra in a_spans else "only in the anchors"
            problems.append(f"{rec['id']}: span {extra} {rec['text'][extra[0]:extra[1]]!r} {side}")
        if a_rels != g_rels:
            problems.append(f"{rec['id']}: relations differ ({len(a_rels)} adjudicated, {len(g_rels)} resolved)")
        source = {(s["start"], s["end"], s["label"]): s["source"] for s in ref["spans"]}
        spans = [{**s, "source": source.get((s["start"], s["end"], s["label"])), "adjudication": s.get("source")}
                 for s in rec["spans"]]
        out.append({**rec, "spans": spans, "meta": {**ref["meta"], **(rec.get("meta") or {})}})
    if problems:
        raise AnchorError(problems)
    return out


def counts(records: list[dict]) -> dict:
    by_label: dict[str, int] = {}
    by_rel: dict[str, int] = {}
    for r in records:
        for s in r["spans"]:
            by_label[s["label"]] = by_label.get(s["label"], 0) + 1
        for rel in r.get("relations") or []:
            by_rel[rel["label"]] = by_rel.get(rel["label"], 0) + 1
    return {"documents": len(records), "spans": dict(sorted(by_label.items())), "relations": dict(sorted(by_rel.items()))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--documents", type=Path, default=Path("corpus/documents.jsonl"))
    ap.add_argument("--anchors", type=Path, default=HAND / "seeds.anchors.jsonl")
    ap.add_argument("--review-anchors", type=Path, default=HAND / "seeds.review-anchors.jsonl",
                    help="hand anchors answering the projection's review list (optional file)")
    ap.add_argument("--adjudicated", type=Path, default=None,
                    help="annotate adjudicate output of the Doccano round trip: check it and write seeds.candidate.jsonl")
    ap.add_argument("--out-dir", type=Path, default=HAND)
    args = ap.parse_args(argv)
    try:
        result = build(args.documents, args.anchors, args.review_anchors)
        candidate = with_provenance(list(read_jsonl(args.adjudicated)), result["gold"]) if args.adjudicated else None
    except AnchorError as e:
        for p in e.problems:
            print(f"error: {p}", file=sys.stderr)
        return 2
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = args.out_dir
    write_jsonl(out / "seeds.hand.jsonl", result["hand"])
    write_jsonl(out / "seeds.projected.jsonl", result["projected"])
    write_jsonl(out / "seeds.projected.review.jsonl", result["review"])
    write_jsonl(out / "seeds.gold.jsonl", result["gold"])
    if candidate is not None:
        write_jsonl(out / "seeds.candidate.jsonl", candidate)
        print(f"{args.adjudicated}: identical to the resolved gold; wrote {out / 'seeds.candidate.jsonl'}")
    c = counts(result["gold"])
    print(f"{c['documents']} documents ({len(result['hand'])} by hand, {len(result['projected'])} projected, "
          f"{len(result['review'])} review items)")
    print("spans: " + ", ".join(f"{k} {v}" for k, v in c["spans"].items()) + f" (total {sum(c['spans'].values())})")
    print("relations: " + ", ".join(f"{k} {v}" for k, v in c["relations"].items()))
    print(f"wrote {out / 'seeds.gold.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
