"""Gold data from annotations: shared readers, and near-duplicate label projection.

Everything here takes and returns plain data (dicts, lists) and reads/writes JSONL files
streaming and atomically (:mod:`annotate.jsonl`). Offsets are code points, end exclusive.

* :func:`load_gold` / :func:`iter_gold`: gold records, validated (JSON Schema + semantic rules).
* :func:`read_documents`: documents by id (only the ids asked for, streaming the file).
* :func:`project_labels`: carry the spans of a gold document onto its near-duplicates by character
  alignment; spans whose text does not align exactly are listed for review, never guessed.

Agreement, adjudication, lint and import live in :mod:`annotate.agree`, :mod:`annotate.adjudicate`,
:mod:`annotate.lint` and :mod:`annotate.convert`.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import InputError
from .jsonl import iter_jsonl, write_jsonl
from .schema import LabelSchema, load_labels, schema_errors, semantic_errors

SpanKey = tuple[int, int, str]


def span_key(span: dict) -> SpanKey:
    """The identity of a span: ``(start, end, label)``."""
    return (span["start"], span["end"], span["label"])


def iter_gold(path: str | Path, labels: LabelSchema | None = None) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, record)`` of a gold JSONL file, raising InputError at the first invalid record."""
    labels = labels or load_labels()
    seen: set[str] = set()
    for lineno, record in iter_jsonl(path):
        errs = schema_errors(record, "gold") or semantic_errors(record, labels)
        if errs:
            raise InputError.at(path, lineno, f"{record.get('id', '?') if isinstance(record, dict) else '?'}: {errs[0]}")
        if record["id"] in seen:
            raise InputError.at(path, lineno, f"duplicate document id {record['id']!r}")
        seen.add(record["id"])
        yield lineno, record


def load_gold(path: str | Path, labels: LabelSchema | None = None) -> list[dict]:
    """All records of a gold JSONL file, validated (see :func:`iter_gold`)."""
    return [record for _, record in iter_gold(path, labels)]


def read_documents(path: str | Path, ids: Iterable[str] | None = None) -> dict[str, dict]:
    """Documents (corpus/documents.jsonl) by id; with ``ids``, keep only those (the file is streamed)."""
    wanted = set(ids) if ids is not None else None
    docs: dict[str, dict] = {}
    for lineno, record in iter_jsonl(path):
        if not isinstance(record, dict) or not isinstance(record.get("id"), str) or not isinstance(record.get("text"), str):
            raise InputError.at(path, lineno, "not a document record (needs a string id and text)")
        if wanted is None or record["id"] in wanted:
            docs[record["id"]] = record
    return docs


def ensure_span_ids(record: dict) -> dict:
    """Give every span an id (1, 2, ... in text order) if any lacks one; relations must then be absent."""
    spans = record.get("spans") or []
    if all("id" in s for s in spans):
        return record
    if record.get("relations"):
        raise InputError(f"{record['id']}: spans without ids cannot carry relations")
    spans = sorted(spans, key=span_key)
    return {**record, "spans": [{**s, "id": i} for i, s in enumerate(spans, 1)]}


# ---------------------------------------------------------------------------------- projection

def align_span(matcher_blocks: list[tuple[int, int, int]], start: int, end: int) -> int | None:
    """Target start of source ``[start, end)`` if it lies inside one matching block, else None."""
    for a, b, size in matcher_blocks:
        if a <= start and end <= a + size:
            return b + (start - a)
        if a > start:
            break
    return None


def _map_offset(opcodes: list[tuple], pos: int, *, is_end: bool) -> int:
    """Map a source offset to the target through difflib opcodes (for review suggestions only)."""
    for tag, i1, i2, j1, j2 in opcodes:
        if i1 <= pos < i2 or (is_end and i1 < pos <= i2):
            if tag == "equal":
                return j1 + (pos - i1)
            return j2 if is_end else j1
    return opcodes[-1][4] if opcodes else 0


def project_record(source: dict, target_id: str, target_text: str, similarity: float | None = None
                   ) -> tuple[dict, list[dict]]:
    """Project one gold record's spans and relations onto a near-duplicate text.

    Returns ``(projected_record, review_items)``. A span is projected only when its whole
    surface lies inside one block of ``difflib.SequenceMatcher(autojunk=False)`` matches, so
    its text in the target is identical; every other span becomes a review item carrying a
    suggestion (where the alignment puts it and what text is there) that is NOT applied.
    """
    src_text = source["text"]
    source = ensure_span_ids(source)
    matcher = difflib.SequenceMatcher(None, src_text, target_text, autojunk=False)
    blocks = [tuple(b) for b in matcher.get_matching_blocks() if b.size]
    opcodes = None
    spans: list[dict] = []
    review: list[dict] = []
    new_id: dict[Any, Any] = {}
    for span in sorted(source.get("spans") or [], key=span_key):
        start, end, label = span_key(span)
        surface = src_text[start:end]
        t_start = align_span(blocks, start, end)
        if t_start is not None and target_text[t_start:t_start + (end - start)] == surface:
            projected = {k: v for k, v in span.items() if k not in ("start", "end", "id", "text", "projected_from")}
            projected.update(id=len(spans) + 1, start=t_start, end=t_start + (end - start), label=label,
                             projected_from={"id": source["id"], "start": start, "end": end})
            spans.append(projected)
            new_id[span["id"]] = projected["id"]
            continue
        if opcodes is None:
            opcodes = matcher.get_opcodes()
        s_start, s_end = _map_offset(opcodes, start, is_end=False), _map_offset(opcodes, end, is_end=True)
        review.append({"doc": target_id, "from_doc": source["id"], "kind": "span",
                       "span": {"start": start, "end": end, "label": label}, "text": surface,
                       "reason": "span text does not align exactly with the near-duplicate",
                       "suggestion": {"start": s_start, "end": s_end, "text": target_text[s_start:s_end]}
                       if s_start < s_end else None})
    relations = []
    for rel in source.get("relations") or []:
        if rel["from"] in new_id and rel["to"] in new_id:
            relations.append({**rel, "from": new_id[rel["from"]], "to": new_id[rel["to"]]})
        else:
            missing = [end for end in ("from", "to") if rel[end] not in new_id]
            by_id = {s["id"]: s for s in source.get("spans") or []}
            review.append({"doc": target_id, "from_doc": source["id"], "kind": "relation",
                           "relation": {"label": rel["label"],
                                        "from": _span_ref(by_id.get(rel["from"]), src_text),
                                        "to": _span_ref(by_id.get(rel["to"]), src_text)},
                           "reason": f"relation endpoint {' and '.join(missing)} was not projected"})
    meta = {"projected_from": source["id"]}
    if similarity is not None:
        meta["similarity"] = similarity
    record = {"id": target_id, "text": target_text, "spans": spans, "relations": relations, "meta": meta}
    return record, review


def _span_ref(span: dict | None, text: str) -> dict | None:
    if span is None:
        return None
    return {"start": span["start"], "end": span["end"], "label": span["label"], "text": text[span["start"]:span["end"]]}


def project_labels(documents: str | Path, gold: str | Path, *, out: str | Path | None = None,
                   review_out: str | Path | None = None, min_similarity: float = 0.0,
                   include_gold_targets: bool = False) -> dict:
    """Carry gold spans onto the near-duplicates listed in the documents' ``meta.near_duplicates``.

    For every gold document, each near-duplicate (similarity >= ``min_similarity``) that has no
    gold record of its own gets a projected record (from the most similar gold source when
    several qualify). Writes the projected records to ``out`` and the review list to
    ``review_out`` (JSONL, atomically) when given. Returns counts, the records and the review list.
    """
    gold_records = {r["id"]: r for r in load_gold(gold)}
    docs = read_documents(documents)
    missing = sorted(set(gold_records) - set(docs))
    if missing:
        raise InputError.at(gold, None, f"gold document {missing[0]!r} is not in {documents}"
                            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    # target id -> (similarity, source id); the most similar gold source wins.
    plan: dict[str, tuple[float, str]] = {}
    skipped: list[dict] = []
    for src_id in sorted(gold_records):
        if gold_records[src_id]["text"] != docs[src_id]["text"]:
            raise InputError.at(gold, None, f"{src_id}: gold text differs from the document text in {documents}")
        for near in (docs[src_id].get("meta") or {}).get("near_duplicates") or []:
            tgt, sim = near["id"], float(near["similarity"])
            if tgt not in docs:
                skipped.append({"doc": tgt, "from_doc": src_id, "reason": "not in the documents file"})
            elif tgt in gold_records and not include_gold_targets:
                skipped.append({"doc": tgt, "from_doc": src_id, "reason": "already has a gold record"})
            elif sim < min_similarity:
                skipped.append({"doc": tgt, "from_doc": src_id, "reason": f"similarity {sim} < {min_similarity}"})
            elif tgt not in plan or (sim, src_id) > plan[tgt]:
                if tgt in plan:
                    skipped.append({"doc": tgt, "from_doc": plan[tgt][1], "reason": f"{src_id} is more similar"})
                plan[tgt] = (sim, src_id)
            else:
                skipped.append({"doc": tgt, "from_doc": src_id, "reason": f"{plan[tgt][1]} is more similar"})
    records, review, pairs = [], [], []
    for tgt in sorted(plan):
        sim, src_id = plan[tgt]
        record, items = project_record(gold_records[src_id], tgt, docs[tgt]["text"], sim)
        n_src = len(gold_records[src_id].get("spans") or [])
        n_rel = len(gold_records[src_id].get("relations") or [])
        pairs.append({"from_doc": src_id, "doc": tgt, "similarity": sim,
                      "spans": n_src, "projected": len(record["spans"]),
                      "review": sum(1 for i in items if i["kind"] == "span"),
                      "relations": n_rel, "relations_projected": len(record["relations"]),
                      "relations_review": sum(1 for i in items if i["kind"] == "relation")})
        records.append(record)
        review.extend(items)
    if out is not None:
        write_jsonl(out, records)
    if review_out is not None:
        write_jsonl(review_out, review)
    return {"pairs": pairs, "records": records, "review": review, "skipped": skipped,
            "projected_spans": sum(p["projected"] for p in pairs),
            "review_spans": sum(p["review"] for p in pairs),
            "out": str(out) if out is not None else None,
            "review_out": str(review_out) if review_out is not None else None}


# ---------------------------------------------------------------------------------- snapshots

def snapshot_body(snapshot: str | Path) -> Path:
    """The annotations.jsonl of a pull snapshot (the folder, or the file itself)."""
    p = Path(snapshot)
    body = p / "annotations.jsonl" if p.is_dir() else p
    if not body.is_file():
        raise InputError.at(snapshot, None, "not a snapshot: no annotations.jsonl")
    return body


def _check_snapshot_line(line: Any, text: str, labels: LabelSchema) -> str | None:
    errs = schema_errors(line, "snapshot.schema.json")
    if errs:
        return errs[0]
    known = set(labels.labels)
    ids = set()
    for s in line["spans"]:
        if not 0 <= s["start"] < s["end"] <= len(text):
            return f"span {s['id']} ({s['start']}-{s['end']}) lies outside the text ({len(text)} characters) or is empty"
        if s["label"] not in known:
            return f"span {s['id']} has label {s['label']!r}, not in the schema ({', '.join(labels.labels)})"
        if s["id"] in ids:
            return f"duplicate span id {s['id']}"
        ids.add(s["id"])
    for r in line["relations"]:
        if r["from"] not in ids or r["to"] not in ids:
            return f"relation {r['id']} refers to a span id that is not in this line"
        if labels.relation(r["label"]) is None:
            return f"relation {r['id']} has label {r['label']!r}, not in the schema ({', '.join(labels.relations)})"
    return None


def iter_snapshot(snapshot: str | Path, documents: str | Path | None = None, *, confirmed_only: bool = True,
                  labels: LabelSchema | None = None, stats: dict | None = None) -> Iterator[dict]:
    """Yield one ``{"id", "text", "by": {annotator: line}}`` per document of a pull snapshot, streaming.

    The snapshot body is sorted by document id then annotator (snapshot.schema.json), so lines are
    grouped as they come. The text comes from the line (``text``) or from ``documents``, and must
    hash to the line's ``text_sha256``. With ``confirmed_only`` (INCEpTION's default: only finished
    documents count) unconfirmed lines are left out and counted in ``stats``.
    """
    import hashlib

    labels = labels or load_labels()
    body = snapshot_body(snapshot)
    texts: dict[str, dict] = {}
    need = set()
    for _, line in iter_jsonl(body):
        if isinstance(line, dict) and "text" not in line and isinstance(line.get("id"), str):
            need.add(line["id"])
    if need:
        if documents is None or not Path(documents).is_file():
            raise InputError.at(body, None, "snapshot lines carry no text: give the documents file (--documents)")
        texts = read_documents(documents, need)
    stats = stats if stats is not None else {}
    stats.update(lines=0, unconfirmed_lines=0, unconfirmed_spans=0, unconfirmed_relations=0, documents=0)
    current: dict | None = None
    done: set[str] = set()
    for lineno, line in iter_jsonl(body):
        doc_id = line.get("id") if isinstance(line, dict) else None
        if not isinstance(doc_id, str):
            raise InputError.at(body, lineno, "not a snapshot line (no string id)")
        text = line.get("text")
        if text is None:
            if doc_id not in texts:
                raise InputError.at(body, lineno, f"document {doc_id!r} is not in {documents}")
            text = texts[doc_id]["text"]
        problem = _check_snapshot_line(line, text, labels)
        if problem:
            raise InputError.at(body, lineno, f"{doc_id}: {problem}")
        if hashlib.sha256(text.encode("utf-8")).hexdigest() != line["text_sha256"]:
            raise InputError.at(body, lineno, f"{doc_id}: text_sha256 does not match the document text "
                                "(the text in Doccano differs from ours: offsets would be wrong)")
        stats["lines"] += 1
        if current is None or current["id"] != doc_id:
            if doc_id in done:
                raise InputError.at(body, lineno, f"document {doc_id!r} appears again after other documents "
                                    "(a snapshot is sorted by document id, then annotator)")
            if current is not None:
                done.add(current["id"])
                if current["by"]:
                    yield current
            current = {"id": doc_id, "text": text, "by": {}}
            seen: set[str] = set()
        if line["annotator"] in seen:
            raise InputError.at(body, lineno, f"{doc_id}: annotator {line['annotator']!r} appears twice")
        seen.add(line["annotator"])
        if confirmed_only and not line["confirmed"]:
            stats["unconfirmed_lines"] += 1
            stats["unconfirmed_spans"] += len(line["spans"])
            stats["unconfirmed_relations"] += len(line["relations"])
            continue
        current["by"][line["annotator"]] = line
    if current is not None and current["by"]:
        yield current


def overlap_regions(spans: Iterable[dict]) -> list[list[dict]]:
    """Group spans into connected regions of overlapping character ranges (sorted by start)."""
    regions: list[list[dict]] = []
    end = -1
    for s in sorted(spans, key=lambda s: (s["start"], s["end"])):
        if regions and s["start"] < end:
            regions[-1].append(s)
            end = max(end, s["end"])
        else:
            regions.append([s])
            end = s["end"]
    return regions
