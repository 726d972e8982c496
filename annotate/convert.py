"""Bring an existing corpus in (``annotate import``): Prodigy-style and Doccano JSONL to gold records.

* **Prodigy** (``ner_manual``/``spans.manual``/``rel.manual`` output): ``text``, ``spans``
  [{start, end, label, token_start?, token_end?}], ``relations`` [{head, child, label,
  head_span?, child_span?}] where head/child are token indices. A relation is mapped onto our
  spans by ``head_span``/``child_span`` (start, end, label) when present, else by the span whose
  tokens contain the head/child token. Only ``answer: "accept"`` (or no answer key) is imported;
  rejected/ignored examples are counted, not imported.
* **Doccano** exports: ``text`` with ``entities`` [{id, start_offset, end_offset, label}] and
  ``relations`` [{id, from_id, to_id, type}], or ``label`` [[start, end, label], ...]. Offsets
  are UTF-16 code units (Doccano's) and converted to code points.

Document ids, in order: ``--id-key`` (a dotted path such as ``meta.doc_id``); our own export's
``annotate.doc_id``; the document in ``--documents`` whose text hashes the same; ``meta.id``/``id``
(Prodigy) ; else ``sha256(text)[:16]`` (ingest's rule for a new text). Anything that cannot be
mapped (a relation on tokens outside every span) is listed in the result, never dropped silently.
Every record written is validated against the gold schema.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from .errors import InputError
from .doccano import doccano_spans
from .jsonl import iter_jsonl, write_jsonl
from .gold import record_errors
from .schema import load_labels, semantic_errors

FORMATS = ("auto", "prodigy", "doccano")


def detect_format(record: dict) -> str:
    if "entities" in record or ("label" in record and isinstance(record["label"], list)):
        return "doccano"
    if "spans" in record or "tokens" in record or "answer" in record:
        return "prodigy"
    raise ValueError("neither Prodigy (spans) nor Doccano (entities or label) fields")


def _dig(record: dict, dotted: str) -> Any:
    cur: Any = record
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _doc_id(record: dict, fmt: str, id_key: str | None, by_sha: dict[str, str]) -> str:
    if id_key:
        value = _dig(record, id_key)
        if value is None:
            raise ValueError(f"no {id_key!r} key")
        return str(value)
    ours = _dig(record, "annotate.doc_id")
    if ours is not None:
        return str(ours)
    digest = hashlib.sha256(record["text"].encode("utf-8")).hexdigest()
    if digest in by_sha:
        return by_sha[digest]
    if fmt == "prodigy":
        for key in ("meta.id", "id"):
            value = _dig(record, key)
            if value is not None:
                return str(value)
    return digest[:16]


def _from_prodigy(record: dict) -> tuple[list[dict], list[dict], list[dict]]:
    if "spans" not in record and ("entities" in record or "label" in record):
        raise ValueError("no 'spans' but Doccano fields (entities/label): use --format doccano")
    spans, relations, unmapped = [], [], []
    for i, s in enumerate(record.get("spans") or [], 1):
        spans.append({"id": i, "start": int(s["start"]), "end": int(s["end"]), "label": s["label"],
                      "_tokens": (s.get("token_start"), s.get("token_end"))})
    by_key = {(s["start"], s["end"], s["label"]): s["id"] for s in spans}

    def find(rel: dict, end: str) -> int | None:
        sp = rel.get(f"{end}_span")
        if isinstance(sp, dict) and (sp.get("start"), sp.get("end"), sp.get("label")) in by_key:
            return by_key[(sp["start"], sp["end"], sp["label"])]
        tok = rel.get(end)
        for s in spans:
            ts, te = s["_tokens"]
            if isinstance(tok, int) and ts is not None and te is not None and ts <= tok <= te:
                return s["id"]
        return None

    for rel in record.get("relations") or []:
        head, child = find(rel, "head"), find(rel, "child")
        if head is None or child is None:
            unmapped.append({"relation": {k: rel.get(k) for k in ("head", "child", "label")},
                             "reason": "an endpoint is not inside any span"})
        else:
            relations.append({"from": head, "to": child, "label": rel["label"]})
    for s in spans:
        del s["_tokens"]
    return spans, relations, unmapped


def _from_doccano(record: dict) -> tuple[list[dict], list[dict], list[dict]]:
    if "entities" in record:
        entities = [{"id": e.get("id"), "start_offset": int(e["start_offset"]), "end_offset": int(e["end_offset"]),
                     "label": e["label"]} for e in record["entities"]]
    else:
        entities = [{"id": None, "start_offset": int(s), "end_offset": int(e), "label": lab}
                    for s, e, lab in record["label"]]
    spans, relations = [], []
    ids: dict[Any, int] = {}
    for i, (ent, start, end) in enumerate(doccano_spans(record["text"], entities), 1):
        for u16, cp in ((ent["start_offset"], start), (ent["end_offset"], end)):
            if cp is None:
                raise ValueError(f"UTF-16 offset {u16} is outside the text or inside a surrogate pair")
        spans.append({"id": i, "start": start, "end": end, "label": ent["label"]})
        if ent["id"] is not None:
            ids[ent["id"]] = i
    for rel in record.get("relations") or []:
        if rel["from_id"] not in ids or rel["to_id"] not in ids:
            raise ValueError(f"relation {rel.get('id')} refers to an entity id that is not in this line")
        relations.append({"from": ids[rel["from_id"]], "to": ids[rel["to_id"]], "label": rel["type"]})
    return spans, relations, []


def convert(path: str | Path, fmt: str = "auto", *, out: str | Path | None = None, id_key: str | None = None,
            documents: str | Path | None = None) -> dict:
    """Convert a Prodigy or Doccano JSONL file into gold records (written to ``out`` when given).

    Returns ``{"records" (None when written to ``out``, which streams), "documents", "format",
    "skipped", "unmapped", "written"}``. A line that cannot be
    converted or does not validate is bad input (file:line: message).
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    labels = load_labels()
    by_sha: dict[str, str] = {}
    if documents:
        for lineno, doc in iter_jsonl(documents):
            sha = (doc.get("meta") or {}).get("text_sha256") if isinstance(doc, dict) else None
            if sha and sha not in by_sha:
                by_sha[sha] = doc["id"]
    skipped, unmapped, formats = [], [], set()
    seen: dict[str, int] = {}

    def generate():
        for lineno, rec in iter_jsonl(path):
            gold = _convert_line(path, lineno, rec, fmt, id_key, by_sha, labels, skipped, unmapped, formats)
            if gold is None:
                continue
            if gold["id"] in seen:
                raise InputError.at(path, lineno, f"document id {gold['id']!r} again (first on line "
                                    f"{seen[gold['id']]}); use --id-key to name the id field")
            seen[gold["id"]] = lineno
            yield gold

    records = None
    if out is not None:
        write_jsonl(out, generate())  # streaming; atomic: nothing is written if a line is bad
    else:
        records = list(generate())
    return {"format": sorted(formats), "records": records, "documents": len(seen), "skipped": skipped,
            "unmapped": unmapped, "written": str(out) if out is not None else None}


def _convert_line(path, lineno: int, rec: Any, fmt: str, id_key: str | None, by_sha: dict, labels,
                  skipped: list, unmapped: list, formats: set) -> dict | None:
    if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
        raise InputError.at(path, lineno, "not an annotation record (needs a text string)")
    try:
        kind = fmt if fmt != "auto" else detect_format(rec)
        formats.add(kind)
        if kind == "prodigy" and rec.get("answer", "accept") != "accept":
            skipped.append({"line": lineno, "reason": f"answer {rec.get('answer')!r}"})
            return None
        doc_id = _doc_id(rec, kind, id_key, by_sha)
        spans, relations, lost = (_from_prodigy if kind == "prodigy" else _from_doccano)(rec)
    except (KeyError, TypeError, ValueError) as e:
        raise InputError.at(path, lineno, f"cannot convert: {type(e).__name__}: {e}") from None
    gold = {"id": doc_id, "text": rec["text"], "spans": spans, "relations": relations,
            "meta": {"imported_from": Path(path).name, "format": kind, "line": lineno}}
    errs = record_errors(gold, "gold") or semantic_errors(gold, labels)
    if errs:
        raise InputError.at(path, lineno, f"{doc_id}: {errs[0]}")
    unmapped.extend({"doc": doc_id, "line": lineno, **u} for u in lost)
    return gold
