"""Replay gold labels in Doccano as an annotator's work, through the REST API (the demo and the tests).

This is NOT how labels are meant to arrive: annotators label in Doccano's web UI. A replay does
through the API what an annotator does in the browser, so a demo or a test can run the whole
pipeline (push -> label -> pull -> agree -> adjudicate -> export) without a human: inside the
annotator's project ``NAME · ANNOTATOR`` (see :mod:`annotate.doccano`), logged in as that
annotator, for every document of the gold file:

* pre-annotations (or earlier spans) that equal a gold span (same start, end, label) are
  KEPT, as an annotator keeps a right pre-annotation; the others are deleted;
* the gold spans still missing are added, then the relations, drawn between the spans;
* the document is confirmed (the check mark), only if it is not yet: Doccano's state endpoint
  toggles.

Idempotent: a second replay finds every span and relation in place and changes nothing (no
duplicate labels). This module compares in code points only; reading and writing labels (and the
UTF-16 conversion) are functions of :mod:`annotate.doccano`. Passwords of local accounts come from the 0600
credentials file (:func:`annotate.server.user_password`), never from the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Optional

from . import doccano
from .doccano import META_KEY, SEPARATOR, Client, DoccanoError, connect, list_projects
from .errors import InputError
from .jsonl import iter_jsonl

Progress = Callable[[str, int, int], None]  # (stage, done, total)
Span = tuple[int, int, str]  # start, end (code points), label


def annotator_client(annotator: str, connection: dict) -> Client:
    """A :class:`Client` logged in as a local annotator account (password from the 0600 credentials file)."""
    if not connection.get("local"):
        raise InputError(f"replaying as {annotator!r} needs that account's password: only local accounts "
                         "(annotate users add) have one in the credentials file",
                         hint="replay against the local server (unset DOCCANO_URL)")
    from .server import user_password

    return Client(connection["url"], username=annotator, password=user_password(annotator, connection["state_dir"]))


def _gold_records(gold: str | Path) -> dict[str, dict]:
    records: dict[str, dict] = {}
    for lineno, rec in iter_jsonl(gold):
        if not isinstance(rec, dict) or not isinstance(rec.get("id"), str) or not isinstance(rec.get("text"), str):
            raise InputError.at(gold, lineno, "not a gold record with an id and a text")
        records[rec["id"]] = rec
    if not records:
        raise InputError.at(gold, None, "no gold records to replay")
    return records


def wanted(record: dict) -> tuple[dict, set]:
    """The gold record as keys: {gold span id: (start, end, label)} in code points, {(span, span, type)}."""
    spans = {s.get("id", i): (s["start"], s["end"], s["label"]) for i, s in enumerate(record.get("spans") or [])}
    rels = set()
    for r in record.get("relations") or []:
        if r.get("from") not in spans or r.get("to") not in spans:
            raise InputError(f"{record['id']}: relation {r.get('label')!r} points at a span id that is not there "
                             f"({r.get('from')!r} -> {r.get('to')!r})")
        rels.add((spans[r["from"]], spans[r["to"]], r["label"]))
    return spans, rels


def replay_example(client: Client, pid: int, example: dict, record: dict, span_types: dict[str, int],
                   rel_types: dict[str, int]) -> dict:
    """Make one example's labels equal the gold record; return what changed."""
    eid, text = example["id"], example["text"]
    type_name = {v: k for k, v in span_types.items()}
    rel_name = {v: k for k, v in rel_types.items()}
    want_spans, want_rels = wanted(record)
    want_set = set(want_spans.values())
    done = {"kept": 0, "deleted": 0, "added": 0, "relations_added": 0, "relations_deleted": 0, "confirmed": 0}

    have_spans, have_relations = doccano.example_annotations(client, pid, example)
    have: dict[Span, int] = {}  # one Doccano span per wanted key; extra copies are deleted
    deleted: set[int] = set()
    for s in have_spans:
        key = (s["start"], s["end"], type_name.get(s["label"]))
        if key in want_set and key not in have:
            have[key] = s["id"]
            done["kept"] += 1
        else:  # deleting a span deletes its relations
            doccano.delete_span(client, pid, eid, s["id"])
            deleted.add(s["id"])
            done["deleted"] += 1
    for key in sorted(want_set - set(have)):
        start, end, label = key
        if label not in span_types:
            raise InputError(f"{record['id']}: label {label!r} is not a span type of Doccano project {pid}")
        have[key] = doccano.add_span(client, pid, eid, text, start, end, span_types[label])
        done["added"] += 1

    key_of = {v: k for k, v in have.items()}
    have_rels: set = set()
    for r in have_relations:
        if r["from"] in deleted or r["to"] in deleted:
            continue  # gone with its span
        key = (key_of.get(r["from"]), key_of.get(r["to"]), rel_name.get(r["type"]))
        if key in want_rels and key not in have_rels:
            have_rels.add(key)
        else:
            doccano.delete_relation(client, pid, eid, r["id"])
            done["relations_deleted"] += 1
    for a, b, label in sorted(want_rels - have_rels):
        if label not in rel_types:
            raise InputError(f"{record['id']}: relation {label!r} is not a relation type of Doccano project {pid}")
        doccano.add_relation(client, pid, eid, have[a], have[b], rel_types[label])
        done["relations_added"] += 1

    if doccano.confirm_example(client, pid, example):
        done["confirmed"] = 1
    return done


def replay(gold: str | Path, project: str, annotators: Iterable[str], *, connection: dict | None = None,
           state_dir: str | Path | None = None, progress: Optional[Progress] = None) -> dict:
    """Replay the gold file as each annotator's work in ``PROJECT · ANNOTATOR`` (pushed before).

    Returns ``{"project", "documents", "annotators": {name: {"project_id", "documents", "unchanged",
    "kept", "deleted", "added", "relations_added", "relations_deleted", "confirmed"}}}``.
    Raises :class:`InputError` when a project or a gold document is missing in Doccano, or a text differs.
    """
    records = _gold_records(gold)
    annotators = [a.strip() for a in annotators if a and a.strip()]
    if not annotators:
        raise InputError("no annotator to replay as")
    admin, connection = connect(connection, state_dir)
    projects = {p["name"]: p for p in list_projects(admin)}
    total = len(records) * len(annotators)
    done = 0
    if progress:
        progress("replay", 0, total)
    result: dict = {"project": project, "documents": len(records), "annotators": {}}
    for annotator in annotators:
        name = f"{project}{SEPARATOR}{annotator}"
        if name not in projects:
            raise InputError(f"no Doccano project {name!r} on {admin.url}",
                             hint=f"annotate push --project {project} --annotators {annotator} DOCUMENTS")
        pid = projects[name]["id"]
        client = annotator_client(annotator, connection)
        span_types, rel_types = doccano.label_type_ids(client, pid)
        stats = {"project_id": pid, "documents": 0, "unchanged": 0, "kept": 0, "deleted": 0, "added": 0,
                 "relations_added": 0, "relations_deleted": 0, "confirmed": 0}
        seen: set[str] = set()
        for example in doccano.iter_examples(client, pid):
            doc_id = ((example.get("meta") or {}).get(META_KEY) or {}).get("id")
            record = records.get(doc_id)
            if record is None or doc_id in seen:
                continue
            seen.add(doc_id)
            if record["text"] != example["text"]:
                raise InputError(f"{doc_id}: the text in Doccano project {name!r} differs from the gold text",
                                 hint="push the documents the gold was made on")
            try:
                changes = replay_example(client, pid, example, record, span_types, rel_types)
            except DoccanoError as e:
                raise DoccanoError(f"replay of {doc_id} as {annotator}: {e}", hint=e.hint) from None
            stats["documents"] += 1
            for k, v in changes.items():
                stats[k] += v
            if not any(v for k, v in changes.items() if k != "kept"):
                stats["unchanged"] += 1
            done += 1
            if progress:
                progress("replay", done, total)
        missing = sorted(set(records) - seen)
        if missing:
            raise InputError(f"{len(missing)} gold document(s) are not in Doccano project {name!r} "
                             f"(first: {missing[0]})", hint="push the documents the gold was made on first")
        result["annotators"][annotator] = stats
    return result
