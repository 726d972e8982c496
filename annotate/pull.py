"""Pull snapshots, the offline half: turn exported Doccano lines into snapshot records and write them.

A snapshot is ``<out>/<project>/<YYYYMMDDTHHMMSSZ>/`` with ``annotations.jsonl`` (one record per
document and annotator, sorted by document id then annotator; see ``schemas/snapshot.schema.json``)
and ``manifest.json``. It is written into a hidden temporary folder beside its final place and renamed
when complete, so it appears whole or not at all; an existing snapshot is never touched. An
unchanged project's new snapshot is a byte copy of the latest body (:func:`copy_snapshot`, checked
against its ``body_sha256`` while copying); the manifest says which (``pull_path``, ``body_from``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

from .jsonl import atomic_open, dumps, write_json
from .schema import load_labels

META_KEY = "annotate"


def build_record(line: dict, *, annotator: str, project_id: int, confirmed: bool,
                 owner: Callable[[int, int], str], importer: str, project_name: str,
                 problems: list[str], pushed: Optional[set] = None) -> Optional[dict]:
    """One exported Doccano line (UTF-16 offsets) -> one snapshot record (code points), validated.

    Spans that fall outside the text, split a surrogate pair, are empty or carry a label not in the
    schema are left out and reported in ``problems``, as are relations whose ends are missing.
    ``pushed`` (the pre-annotations as pushed, ``(start, end, label)`` in UTF-16) marks a kept
    pre-annotation whose label or offsets the annotator changed with ``"edited": true``.
    """
    from .doccano import doccano_spans

    labels = load_labels()
    meta = line.get(META_KEY) or {}
    doc_id = meta.get("id") if isinstance(meta, dict) else None
    where = f"{project_name}: example {line.get('id')}"
    if not isinstance(doc_id, str):
        problems.append(f"{where}: no {META_KEY}.id in its meta (not pushed by annotate); skipped")
        return None
    where = f"{project_name}: {doc_id} (example {line['id']})"
    text = line.get("text") or ""
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    if meta.get("text_sha256") != sha:
        problems.append(f"{where}: the text in Doccano no longer matches the pushed text_sha256")
    span_labels, rel_types = set(labels.labels), {r["name"]: r for r in labels.relation_types}
    spans, by_id = [], {}
    for e, start, end in doccano_spans(text, line.get("entities") or []):
        raw = f"span {e['id']} {e['start_offset']}-{e['end_offset']} (UTF-16) {e['label']}"
        if start is None or end is None:
            problems.append(f"{where}: {raw} is outside the text or splits a character; left out")
            continue
        if start >= end:
            problems.append(f"{where}: {raw} is empty; left out")
            continue
        if e["label"] not in span_labels:
            problems.append(f"{where}: {raw}: label not in the schema; left out")
            continue
        user = owner(e["id"], line["id"])
        span = {"id": e["id"], "start": start, "end": end, "label": e["label"],
                "origin": "prelabel" if user == importer else "annotator", "user": user}
        if user == importer and pushed is not None and (e["start_offset"], e["end_offset"], e["label"]) not in pushed:
            span["edited"] = True
        spans.append(span)
        by_id[e["id"]] = span
    relations = []
    for r in line.get("relations") or []:
        raw = f"relation {r['id']} {r['type']} {r['from_id']}->{r['to_id']}"
        head, tail = by_id.get(r["from_id"]), by_id.get(r["to_id"])
        if head is None or tail is None:
            problems.append(f"{where}: {raw} links a span that was left out or does not exist; left out")
            continue
        rtype = rel_types.get(r["type"])
        if rtype is None:
            problems.append(f"{where}: {raw}: type not in the schema; left out")
            continue
        if head["label"] not in rtype["from"] or tail["label"] not in rtype["to"]:
            problems.append(f"{where}: {raw} goes {head['label']} -> {tail['label']}, which {r['type']} does not allow "
                            "(kept)")
        relations.append({"id": r["id"], "from": r["from_id"], "to": r["to_id"], "label": r["type"]})
    spans.sort(key=lambda s: (s["start"], s["end"], s["label"], s["id"]))
    relations.sort(key=lambda r: (r["from"], r["to"], r["label"], r["id"]))
    return {"id": doc_id, "annotator": annotator, "text_sha256": sha, "confirmed": bool(confirmed),
            "spans": spans, "relations": relations, "doccano": {"project_id": project_id, "example_id": line["id"]}}


def snapshot_name(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


def safe_name(project: str) -> str:
    """A project name as one folder name (no separators, no leading dot)."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in project).lstrip(".")
    return cleaned or "_"


def write_snapshot(out_root: Path, project: str, records: list[dict], *, problems: list[str], server: str,
                   annotators: dict[str, int], extra: dict | None = None) -> dict:
    """Write ``annotations.jsonl`` + ``manifest.json`` as a new snapshot folder, atomically. Returns the summary.

    ``extra``: more manifest keys (the change fingerprint and how the pull went, see :func:`annotate.doccano.pull`).
    """
    records.sort(key=lambda r: (r["id"], r["annotator"]))
    seen = set()
    for r in records:
        key = (r["id"], r["annotator"])
        if key in seen:
            problems.append(f"{r['annotator']}: document {r['id']} is in Doccano more than once "
                            f"(example {r['doccano']['example_id']} kept as well)")
        seen.add(key)
    base = out_root / safe_name(project)
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".pull-", dir=base))
    try:
        digest = hashlib.sha256()
        with atomic_open(tmp / "annotations.jsonl") as fh:
            for r in records:
                line = dumps(r) + "\n"
                digest.update(line.encode("utf-8"))
                fh.write(line)
        summary = {
            "project": project,
            "server": server,
            "annotators": sorted(annotators),
            "doccano_projects": dict(sorted(annotators.items())),
            "documents": len({r["id"] for r in records}),
            "records": len(records),
            "spans": sum(len(r["spans"]) for r in records),
            "prelabels_kept": sum(1 for r in records for s in r["spans"] if s["origin"] == "prelabel"),
            "spans_added": sum(1 for r in records for s in r["spans"] if s["origin"] == "annotator"),
            "relations": sum(len(r["relations"]) for r in records),
            "confirmed": sum(1 for r in records if r["confirmed"]),
            "labels_sha256": load_labels().sha256,
            "body_sha256": digest.hexdigest(),
            "problems": problems,
            **(extra or {}),
        }
        return _publish(base, tmp, summary)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(base: Path, tmp: Path, summary: dict) -> dict:
    """Write the manifest into the complete temporary folder and rename it to a new timestamped name."""
    while True:
        now = dt.datetime.now(dt.timezone.utc)
        final = base / snapshot_name(now)
        if not final.exists():
            break
        time.sleep(1.0 - now.microsecond / 1e6 + 0.01)  # one snapshot per second at most
    summary["pulled_at"] = now.isoformat(timespec="seconds").replace("+00:00", "Z")
    write_json(tmp / "manifest.json", summary)
    os.chmod(tmp, 0o755)
    os.rename(tmp, final)  # atomic; fails rather than overwrite if a concurrent pull took the name
    return {**summary, "snapshot": str(final)}


_SNAPSHOT_NAME = re.compile(r"\d{8}T\d{6}Z")


def latest_snapshot(out_root: Path, project: str) -> Optional[tuple[Path, dict]]:
    """The newest complete snapshot of ``project`` under ``out_root`` and its manifest (None: there is none)."""
    base = out_root / safe_name(project)
    if not base.is_dir():
        return None
    for folder in sorted((p for p in base.iterdir() if _SNAPSHOT_NAME.fullmatch(p.name)), reverse=True):
        try:
            return folder, json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue  # not a snapshot we wrote (complete snapshots always have their manifest)
    return None


def copy_snapshot(out_root: Path, project: str, previous: Path, manifest: dict, changes: dict) -> Optional[dict]:
    """A new snapshot folder whose body is a byte copy of ``previous``'s (an unchanged project), its manifest
    ``manifest`` updated with ``changes``. The copy is checked against the manifest's ``body_sha256`` as it is
    made; on a mismatch nothing is left behind and None is returned (the caller pulls in full)."""
    base = out_root / safe_name(project)
    tmp = Path(tempfile.mkdtemp(prefix=".pull-", dir=base))
    try:
        digest = hashlib.sha256()
        with open(previous / "annotations.jsonl", "rb") as src, atomic_open(tmp / "annotations.jsonl", "wb") as dst:
            for block in iter(lambda: src.read(1 << 20), b""):
                digest.update(block)
                dst.write(block)
            if digest.hexdigest() != manifest.get("body_sha256"):
                raise _Mismatch
        summary = {k: v for k, v in manifest.items() if k not in ("pulled_at", "snapshot")}
        return _publish(base, tmp, {**summary, **changes})
    except (_Mismatch, OSError):
        shutil.rmtree(tmp, ignore_errors=True)
        return None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class _Mismatch(Exception):
    """The earlier body does not match its checksum."""
