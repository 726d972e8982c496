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

import bisect
import difflib
import re
from pathlib import Path
from typing import Any, Iterable, Iterator

from .errors import InputError
from .jsonl import iter_jsonl, write_jsonl
from .schema import LabelSchema, load_labels, schema_errors, semantic_errors

SpanKey = tuple[int, int, str]


def span_key(span: dict) -> SpanKey:
    """The identity of a span: ``(start, end, label)``."""
    return (span["start"], span["end"], span["label"])


def _int(v: Any, minimum: int | None = None) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and (minimum is None or v >= minimum)


def _span_ok(s: Any) -> bool:
    return (isinstance(s, dict) and _int(s.get("start"), 0) and _int(s.get("end"), 1)
            and isinstance(s.get("label"), str) and s["label"] != ""
            and ("id" not in s or _int(s["id"]) or isinstance(s["id"], str))
            and ("text" not in s or isinstance(s["text"], str)))


def _relation_ok(r: Any) -> bool:
    return (isinstance(r, dict) and isinstance(r.get("label"), str) and r["label"] != ""
            and all(_int(r.get(k)) or isinstance(r.get(k), str) for k in ("from", "to")))


def _gold_ok(r: Any) -> bool:
    return (isinstance(r, dict) and isinstance(r.get("id"), str) and r["id"] != "" and isinstance(r.get("text"), str)
            and isinstance(r.get("spans"), list) and all(_span_ok(s) for s in r["spans"])
            and ("relations" not in r or (isinstance(r["relations"], list) and all(_relation_ok(x) for x in r["relations"])))
            and ("meta" not in r or isinstance(r["meta"], dict)))


def _snapshot_ok(r: Any) -> bool:
    return (isinstance(r, dict) and all(isinstance(r.get(k), str) for k in ("id", "annotator", "text_sha256"))
            and isinstance(r.get("confirmed"), bool)
            and isinstance(r.get("spans"), list)
            and all(isinstance(s, dict) and _int(s.get("id")) and _int(s.get("start"), 0) and _int(s.get("end"), 1)
                    and isinstance(s.get("label"), str) and s.get("origin") in ("prelabel", "annotator")
                    and ("user" not in s or isinstance(s["user"], str)) for s in r["spans"])
            and isinstance(r.get("relations"), list)
            and all(isinstance(x, dict) and _int(x.get("id")) and _int(x.get("from")) and _int(x.get("to"))
                    and isinstance(x.get("label"), str) for x in r["relations"])
            and isinstance(r.get("doccano"), dict) and _int(r["doccano"].get("project_id"))
            and _int(r["doccano"].get("example_id")))


_FAST = {"gold": _gold_ok, "snapshot.schema.json": _snapshot_ok}


def record_errors(record: Any, kind: str) -> list[str]:
    """:func:`annotate.schema.schema_errors`, fast on valid records: a plain-Python structural check
    (never more lenient than the JSON Schema) runs first, and jsonschema, about 100 times slower on
    a record with 80 spans, only when it finds something, to say what."""
    return [] if _FAST[kind](record) else schema_errors(record, kind)


def iter_gold(path: str | Path, labels: LabelSchema | None = None) -> Iterator[tuple[int, dict]]:
    """Yield ``(line, record)`` of a gold JSONL file, raising InputError at the first invalid record."""
    labels = labels or load_labels()
    seen: set[str] = set()
    for lineno, record in iter_jsonl(path):
        errs = record_errors(record, "gold") or semantic_errors(record, labels)
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

class Aligner:
    """Character alignment of two near-duplicate texts, words first.

    ``difflib.SequenceMatcher(autojunk=False)`` runs on the whitespace-separated words (a 3 KB
    text has about 500 words against 3,000 characters: far fewer comparisons), then on the
    characters of each replaced stretch only, so a word that changed by a comma still aligns
    character by character. :meth:`char` maps one source character to its target character or None.
    Whitespace is not aligned: a span never starts or ends in it, and :meth:`span` checks that the
    target text between the mapped ends is exactly the source surface.
    """

    _WORD = re.compile(r"\S+")

    def __init__(self, src: str, tgt: str) -> None:
        self.src, self.tgt = src, tgt
        self.wa = [(m.start(), m.end()) for m in self._WORD.finditer(src)]
        self.wb = [(m.start(), m.end()) for m in self._WORD.finditer(tgt)]
        self.starts = [w[0] for w in self.wa]
        matcher = difflib.SequenceMatcher(None, [src[s:e] for s, e in self.wa], [tgt[s:e] for s, e in self.wb],
                                          autojunk=False)
        self.ops = matcher.get_opcodes()
        self.op_of_word = [0] * len(self.wa)
        for k, (_, i1, i2, _, _) in enumerate(self.ops):
            for i in range(i1, i2):
                self.op_of_word[i] = k
        self._blocks: dict[int, list[tuple[int, int, int]]] = {}

    def _word(self, pos: int) -> int | None:
        i = bisect.bisect_right(self.starts, pos) - 1
        return i if i >= 0 and self.wa[i][0] <= pos < self.wa[i][1] else None

    def char(self, pos: int) -> int | None:
        i = self._word(pos)
        if i is None:
            return None
        k = self.op_of_word[i]
        tag, i1, i2, j1, j2 = self.ops[k]
        if tag == "equal":
            return self.wb[j1 + i - i1][0] + pos - self.wa[i][0]
        if tag != "replace":
            return None
        a0, b0 = self.wa[i1][0], self.wb[j1][0]
        if k not in self._blocks:
            a_text, b_text = self.src[a0:self.wa[i2 - 1][1]], self.tgt[b0:self.wb[j2 - 1][1]]
            self._blocks[k] = [tuple(m) for m in difflib.SequenceMatcher(None, a_text, b_text, autojunk=False)
                               .get_matching_blocks() if m.size]
        rel = pos - a0
        for a, b, size in self._blocks[k]:
            if a <= rel < a + size:
                return b0 + b + rel - a
        return None

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """Target offsets of source ``[start, end)`` if its text aligns exactly, else None."""
        ts, te = self.char(start), self.char(end - 1)
        if ts is None or te is None or te < ts or self.tgt[ts:te + 1] != self.src[start:end]:
            return None
        return ts, te + 1

    def suggest(self, start: int, end: int) -> tuple[int, int] | None:
        """Where the alignment puts a span that does not align exactly (for a reviewer; never applied)."""
        def near(pos: int, is_end: bool) -> int | None:
            hit = self.char(pos)
            if hit is not None:
                return hit + (1 if is_end else 0)
            i = self._word(pos)
            if i is None:
                return None
            _, i1, i2, j1, j2 = self.ops[self.op_of_word[i]]
            if j1 == j2:
                return None
            return self.wb[j2 - 1][1] if is_end else self.wb[j1][0]

        ts, te = near(start, False), near(end - 1, True)
        return (ts, te) if ts is not None and te is not None and ts < te else None


def project_record(source: dict, target_id: str, target_text: str, similarity: float | None = None
                   ) -> tuple[dict, list[dict]]:
    """Project one gold record's spans and relations onto a near-duplicate text.

    Returns ``(projected_record, review_items)``. A span is projected only when the
    :class:`Aligner` maps both of its ends and the target text between them is exactly the
    source surface; every other span becomes a review item carrying a suggestion (where the
    alignment puts it and what text is there) that is NOT applied.
    """
    src_text = source["text"]
    source = ensure_span_ids(source)
    aligner = Aligner(src_text, target_text)
    spans: list[dict] = []
    review: list[dict] = []
    new_id: dict[Any, Any] = {}
    for span in sorted(source.get("spans") or [], key=span_key):
        start, end, label = span_key(span)
        surface = src_text[start:end]
        hit = aligner.span(start, end)
        if hit is not None:
            projected = {k: v for k, v in span.items() if k not in ("start", "end", "id", "text", "projected_from")}
            projected.update(id=len(spans) + 1, start=hit[0], end=hit[1], label=label,
                             projected_from={"id": source["id"], "start": start, "end": end})
            spans.append(projected)
            new_id[span["id"]] = projected["id"]
            continue
        sug = aligner.suggest(start, end)
        review.append({"doc": target_id, "from_doc": source["id"], "kind": "span",
                       "span": {"start": start, "end": end, "label": label}, "text": surface,
                       "reason": "span text does not align exactly with the near-duplicate",
                       "suggestion": {"start": sug[0], "end": sug[1], "text": target_text[sug[0]:sug[1]]}
                       if sug else None})
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
                   review_out: str | Path | None = None, min_similarity: float = 0.0) -> dict:
    """Carry gold spans onto the near-duplicates listed in the documents' ``meta.near_duplicates``.

    For every gold document, each near-duplicate (similarity >= ``min_similarity``) that has no
    gold record of its own gets a projected record (from the most similar gold source when
    several qualify). Writes the projected records to ``out`` and the review list to
    ``review_out`` (JSONL, atomically) when given. Returns counts, the records and the review list.
    """
    gold_records = {r["id"]: r for r in load_gold(gold)}
    docs = read_documents(documents, gold_records)          # two streaming passes: the gold documents,
    wanted = {n["id"] for d in docs.values() for n in (d.get("meta") or {}).get("near_duplicates") or []}
    docs.update(read_documents(documents, wanted - set(docs)))  # then their near-duplicates
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
            elif tgt in gold_records:
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
    errs = record_errors(line, "snapshot.schema.json")
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
