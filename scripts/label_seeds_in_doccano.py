"""Label pushed documents in Doccano through its API, as an annotator, from a gold JSONL file.

This does what an annotator does in the browser (select spans, draw relations, press the check
mark), so that hand annotation kept as anchors goes through the real pipeline::

    annotate users add annotator-1
    annotate push corpus/documents.jsonl --project seeds-gold-v0.1.0 --annotators annotator-1
    .venv/bin/python scripts/label_seeds_in_doccano.py corpus/hand/seeds.gold.jsonl \\
        --project seeds-gold-v0.1.0 --annotator annotator-1
    annotate pull --project seeds-gold-v0.1.0
    annotate adjudicate corpus/annotations/seeds-gold-v0.1.0/<time> --out candidate.jsonl

It logs in as the annotator (password from the local server's 0600 credentials file, never printed),
reads and writes labels with the functions of annotate/doccano.py (which convert offsets). Idempotent:
an example whose spans and relations already equal the gold is left alone; otherwise the
annotator's spans there are replaced. Exit 0 ok, 2 bad input, 1 when Doccano refuses something.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate import doccano  # noqa: E402
from annotate.doccano import META_KEY, SEPARATOR, Client, connect, list_projects  # noqa: E402
from annotate.errors import AnnotateError, InputError  # noqa: E402
from annotate.jsonl import read_jsonl  # noqa: E402
from annotate.server import load_credentials  # noqa: E402


def annotator_client(annotator: str) -> tuple[Client, Client]:
    """(admin client, annotator client) for the local server."""
    admin, connection = connect()
    creds = load_credentials(connection["state_dir"]) if connection.get("state_dir") else None
    user = ((creds or {}).get("users") or {}).get(annotator)
    if not user:
        raise InputError(f"no credentials for {annotator!r} in the local server's state dir",
                         hint=f"annotate users add {annotator}")
    return admin, Client(connection["url"], username=annotator, password=user["password"])


def _wanted(rec: dict) -> tuple[set, set]:
    spans = {(s["start"], s["end"], s["label"]) for s in rec["spans"]}
    by_id = {s["id"]: (s["start"], s["end"], s["label"]) for s in rec["spans"]}
    rels = {(by_id[r["from"]], by_id[r["to"]], r["label"]) for r in rec.get("relations") or []}
    return spans, rels


def label(gold: Path, project: str, annotator: str) -> dict:
    """Make the annotator's labels in ``PROJECT · ANNOTATOR`` equal the gold; confirm every example."""
    records = {r["id"]: r for r in read_jsonl(gold)}
    admin, client = annotator_client(annotator)
    name = f"{project}{SEPARATOR}{annotator}"
    proj = next((p for p in list_projects(admin) if p["name"] == name), None)
    if proj is None:
        raise InputError(f"no Doccano project {name!r}", hint=f"annotate push ... --project {project} --annotators {annotator}")
    pid = proj["id"]
    span_type, rel_type = doccano.label_type_ids(client, pid)
    type_name = {v: k for k, v in span_type.items()}
    rel_name = {v: k for k, v in rel_type.items()}
    stats = {"examples": 0, "labelled": 0, "unchanged": 0, "spans": 0, "relations": 0, "confirmed": 0}
    for ex in doccano.iter_examples(client, pid):
        doc_id = (ex.get("meta") or {}).get(META_KEY, {}).get("id")
        rec = records.get(doc_id)
        if rec is None:
            continue
        stats["examples"] += 1
        if rec["text"] != ex["text"]:
            raise InputError(f"{doc_id}: the text in Doccano differs from the gold text")
        want_spans, want_rels = _wanted(rec)
        have, have_relations = doccano.example_annotations(client, pid, ex)
        have_by_id = {s["id"]: (s["start"], s["end"], type_name.get(s["label"])) for s in have}
        have_rels = {(have_by_id.get(r["from"]), have_by_id.get(r["to"]), rel_name.get(r["type"]))
                     for r in have_relations}
        if set(have_by_id.values()) == want_spans and len(have) == len(want_spans) and have_rels == want_rels:
            stats["unchanged"] += 1
        else:
            for s in have:  # deleting a span deletes its relations
                doccano.delete_span(client, pid, ex["id"], s["id"])
            new_id = {}
            for s in sorted(rec["spans"], key=lambda s: s["start"]):
                new_id[s["id"]] = doccano.add_span(client, pid, ex["id"], rec["text"], s["start"], s["end"],
                                                   span_type[s["label"]])
                stats["spans"] += 1
            for r in rec.get("relations") or []:
                doccano.add_relation(client, pid, ex["id"], new_id[r["from"]], new_id[r["to"]], rel_type[r["label"]])
                stats["relations"] += 1
            stats["labelled"] += 1
        if doccano.confirm_example(client, pid, ex):
            stats["confirmed"] += 1
    missing = sorted(set(records) - {(ex.get("meta") or {}).get(META_KEY, {}).get("id")
                                     for ex in doccano.iter_examples(client, pid)})
    if missing:
        raise InputError(f"{len(missing)} gold document(s) are not in {name!r} (first: {missing[0]})",
                         hint="annotate push first")
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gold", type=Path)
    ap.add_argument("--project", required=True)
    ap.add_argument("--annotator", required=True)
    args = ap.parse_args(argv)
    try:
        stats = label(args.gold, args.project, args.annotator)
    except AnnotateError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    print(", ".join(f"{k} {v}" for k, v in stats.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
