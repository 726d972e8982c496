"""Helpers for the gold tests: write pull snapshots, documents and gold files the way the real tools do."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DOCCANO = {"project_id": 1, "example_id": 1}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def find(text: str, surface: str, nth: int = 0) -> tuple[int, int]:
    """Offsets of the nth occurrence of surface in text (so tests never hard-code offsets by hand)."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(surface, start + 1)
    return start, start + len(surface)


def line(doc_id: str, text: str, annotator: str, spans: list[tuple], relations: list[tuple] = (),
         confirmed: bool = True, with_text: bool = True) -> dict:
    """A snapshot line. spans: (span_id, surface, label) or (span_id, surface, label, nth);
    relations: (from_span_id, to_span_id, label)."""
    out_spans = []
    for s in spans:
        sid, surface, label = s[:3]
        start, end = find(text, surface, s[3] if len(s) > 3 else 0)
        out_spans.append({"id": sid, "start": start, "end": end, "label": label, "origin": "annotator",
                          "user": annotator})
    rec = {"id": doc_id, "annotator": annotator, "text_sha256": sha(text), "confirmed": confirmed,
           "spans": out_spans,
           "relations": [{"id": 1000 + i, "from": f, "to": t, "label": lab} for i, (f, t, lab) in enumerate(relations)],
           "doccano": DOCCANO}
    if with_text:
        rec["text"] = text
    return rec


def write_snapshot(folder: Path, lines: list[dict], annotators: list[str] | None = None) -> Path:
    """A snapshot folder: annotations.jsonl sorted by document id then annotator, and manifest.json."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = sorted(lines, key=lambda r: (r["id"], r["annotator"]))
    body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines)
    (folder / "annotations.jsonl").write_text(body, encoding="utf-8")
    manifest = {"project": "test", "server": "http://127.0.0.1:0", "pulled_at": "2026-11-22T00:00:00Z",
                "annotators": annotators or sorted({r["annotator"] for r in lines}),
                "sha256": sha(body), "problems": []}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


def document(doc_id: str, text: str, near: list[tuple[str, float]] = (), **meta) -> dict:
    return {"id": doc_id, "text": text,
            "meta": {"source_file": f"seeds/{doc_id}.txt", "raw_sha256": sha(text), "text_sha256": sha(text),
                     "duplicate_of": None, "near_duplicates": [{"id": i, "similarity": s} for i, s in near], **meta}}


def gold(doc_id: str, text: str, spans: list[tuple], relations: list[tuple] = (), **extra) -> dict:
    """A gold record. spans: (surface, label) or (surface, label, nth), ids 1..n in the order given."""
    out = []
    for i, s in enumerate(spans, 1):
        start, end = find(text, s[0], s[2] if len(s) > 2 else 0)
        out.append({"id": i, "start": start, "end": end, "label": s[1]})
    rec = {"id": doc_id, "text": text, "spans": out,
           "relations": [{"from": f, "to": t, "label": lab} for f, t, lab in relations]}
    rec.update(extra)
    return rec
