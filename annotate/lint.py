"""Consistency checks across a gold corpus (``annotate lint``).

Findings (each a dict with file, doc, offset, code, message; printed ``file:doc:offset: message``):

* ``label-conflict``  the same surface string carries different labels in different places
  (reported at every occurrence whose label is not the surface's most frequent one; all of them on a tie)
* ``unlabelled``      a labelled surface occurs elsewhere (word-bounded, case-sensitive) overlapping no span
* ``whitespace``      a span starts or ends with whitespace
* ``mid-word``        a span starts or ends inside a word (a letter or digit on both sides of the boundary)
* ``relation-type``   a relation endpoint whose label the schema does not allow (``schemas/labels.json``)
* ``relation-endpoint`` a relation refers to a span id that does not exist
* ``duplicate-span``  the same (start, end, label) twice in one document

Known findings are explained in an allow file, one per line (``#`` starts a comment)::

    DOC:OFFSET CODE reason...        e.g.  3d6bfe04:2379 unlabelled generic mention, see guidelines 4.2
    *:* CODE reason...               DOC and/or OFFSET may be *
    "surface" CODE reason...         every finding about that surface string

An explained finding keeps its reason and does not make ``lint`` fail; the export copies all
findings with their reasons into the data card.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import InputError
from .gold import record_errors, span_key
from .jsonl import iter_jsonl
from .schema import LabelSchema, load_labels

CODES = ("label-conflict", "unlabelled", "whitespace", "mid-word", "relation-type", "relation-endpoint",
         "duplicate-span")
_ALLOW_RE = re.compile(r'^(?:"(?P<surface>(?:[^"\\]|\\.)*)"|(?P<doc>\S+?):(?P<offset>\d+|\*))\s+(?P<code>[a-z-]+)\s*(?P<reason>.*)$')


def format_finding(f: dict) -> str:
    return f"{f['file']}:{f['doc']}:{f['offset']}: {f['message']} [{f['code']}]"


def read_allow(path: str | Path) -> list[dict]:
    """Parse an allow file into rules ``{doc, offset, surface, code, reason, line}``."""
    rules = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError.at(path, None, "no such file") from None
    for lineno, raw in enumerate(lines, 1):
        line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        if not line:
            continue
        m = _ALLOW_RE.match(line)
        if not m or m["code"] not in CODES:
            raise InputError.at(path, lineno, 'expected DOC:OFFSET CODE REASON or "surface" CODE REASON, '
                                f"CODE one of {', '.join(CODES)}")
        if not m["reason"].strip():
            raise InputError.at(path, lineno, "give a reason: an allowed finding must be explained")
        surface = m["surface"]
        rules.append({"doc": m["doc"], "offset": m["offset"], "code": m["code"], "line": lineno,
                      "surface": re.sub(r"\\(.)", r"\1", surface) if surface is not None else None,
                      "reason": m["reason"].strip()})
    return rules


def _explain(finding: dict, rules: list[dict]) -> str | None:
    for r in rules:
        if r["code"] != finding["code"]:
            continue
        if r["surface"] is not None:
            if r["surface"] == finding.get("surface"):
                return r["reason"]
        elif r["doc"] in ("*", finding["doc"]) and r["offset"] in ("*", str(finding["offset"])):
            return r["reason"]
    return None


def _is_word(c: str) -> bool:
    return c.isalnum()


def _record_checks(rec: dict, file: str, labels: LabelSchema) -> Iterable[dict]:
    text = rec["text"]
    doc = rec["id"]
    seen = set()
    by_id = {}
    for s in rec.get("spans") or []:
        start, end, label = span_key(s)
        surface = text[start:end]
        by_id[s.get("id")] = s
        base = {"file": file, "doc": doc, "offset": start, "surface": surface}
        if span_key(s) in seen:
            yield {**base, "code": "duplicate-span", "message": f"{label} {surface!r} appears twice"}
        seen.add(span_key(s))
        if surface != surface.strip():
            yield {**base, "code": "whitespace", "message": f"{label} span {surface!r} starts or ends with whitespace"}
        if (start > 0 and _is_word(text[start - 1]) and _is_word(text[start])) or \
                (end < len(text) and _is_word(text[end - 1]) and _is_word(text[end])):
            ctx = text[max(0, start - 10):min(len(text), end + 10)].replace("\n", " ")
            yield {**base, "code": "mid-word", "message": f"{label} span {surface!r} starts or ends inside a word (…{ctx}…)"}
    for rel in rec.get("relations") or []:
        rtype = labels.relation(rel.get("label"))
        for end_name in ("from", "to"):
            span = by_id.get(rel.get(end_name))
            if span is None:
                yield {"file": file, "doc": doc, "offset": 0, "code": "relation-endpoint",
                       "message": f"{rel.get('label')} {end_name} refers to span id {rel.get(end_name)!r}, which does not exist"}
            elif rtype is None:
                yield {"file": file, "doc": doc, "offset": span["start"], "code": "relation-type",
                       "message": f"relation label {rel.get('label')!r} is not in the schema"}
            elif span["label"] not in rtype[end_name]:
                yield {"file": file, "doc": doc, "offset": span["start"], "code": "relation-type",
                       "surface": text[span["start"]:span["end"]],
                       "message": f"{rtype['name']} {end_name} is {span['label']} "
                                  f"{text[span['start']:span['end']]!r}, must be one of {', '.join(rtype[end_name])}"}


def lint_records(records: Iterable[tuple[str, dict]] | list[dict], file: str = "gold.jsonl", *,
                 labels: LabelSchema | None = None, allow: str | Path | list[dict] | None = None) -> list[dict]:
    """All findings for in-memory gold records (records, or ``(file, record)`` pairs for several files).

    Findings explained by the allow rules carry ``reason``. Sorted by file, document, offset, code.
    """
    items = [(file, r) if isinstance(r, dict) else r for r in records]
    return _lint(lambda: iter(items), labels or load_labels(), allow)[0]


def _lint(source: Callable[[], Iterator[tuple[str, dict]]], labels: LabelSchema,
          allow: str | Path | list[dict] | None) -> tuple[list[dict], int]:
    """Two passes over ``source()``: per-record checks and the corpus's surface labels, then the
    cross-corpus checks (records are streamed; only surfaces and findings are kept).
    Returns the findings and the number of records."""
    rules = read_allow(allow) if isinstance(allow, (str, Path)) else (allow or [])
    findings: list[dict] = []
    surface_labels: dict[str, Counter] = defaultdict(Counter)
    n = 0
    for f, rec in source():
        n += 1
        findings.extend(_record_checks(rec, f, labels))
        for s in rec.get("spans") or []:
            surface_labels[rec["text"][s["start"]:s["end"]]][s["label"]] += 1
    surfaces = sorted((s for s in surface_labels if s.strip() and s == s.strip()), key=lambda s: (-len(s), s))
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, surfaces)) + r")(?!\w)") if surfaces else None
    for f, rec in source():
        # Same surface, different labels.
        for s in rec.get("spans") or []:
            surface = rec["text"][s["start"]:s["end"]]
            counts = surface_labels[surface]
            if len(counts) > 1:
                top = max(counts.values())
                if counts[s["label"]] < top or list(counts.values()).count(top) > 1:
                    others = ", ".join(f"{lab} x{n}" for lab, n in sorted(counts.items()))
                    findings.append({"file": f, "doc": rec["id"], "offset": s["start"], "surface": surface,
                                     "code": "label-conflict",
                                     "message": f"{surface!r} is {s['label']} here; across the corpus: {others}"})
        # Labelled surfaces occurring unlabelled (word-bounded, overlapping no span).
        if pattern is None:
            continue
        spans = sorted((s["start"], s["end"]) for s in rec.get("spans") or [])
        for m in pattern.finditer(rec["text"]):
            if any(a < m.end() and m.start() < b for a, b in spans):
                continue
            counts = surface_labels[m.group()]
            findings.append({"file": f, "doc": rec["id"], "offset": m.start(), "surface": m.group(),
                             "code": "unlabelled",
                             "message": f"{m.group()!r} is not labelled here but is "
                                        + ", ".join(f"{lab} x{n}" for lab, n in sorted(counts.items()))
                                        + " elsewhere"})
    for fd in findings:
        reason = _explain(fd, rules)
        if reason:
            fd["reason"] = reason
    findings.sort(key=lambda x: (x["file"], x["doc"], x["offset"], x["code"], x["message"]))
    return findings, n


def _read(paths: list[str | Path]) -> Iterator[tuple[str, dict]]:
    for path in paths:
        for lineno, rec in iter_jsonl(path):
            errs = record_errors(rec, "gold")
            if not errs and not all(0 <= s["start"] < s["end"] <= len(rec["text"]) for s in rec["spans"]):
                errs = ["a span lies outside the text or is empty"]
            if errs:
                raise InputError.at(path, lineno, f"not a valid gold record: {errs[0]}", hint="annotate validate FILE")
            yield str(path), rec


def lint(paths: Iterable[str | Path], *, allow: str | Path | None = None) -> dict:
    """Lint gold JSONL files together (surface consistency is checked across all of them), streaming.

    Records are checked against the gold JSON Schema first (a record that fails is bad input).
    Returns ``{"findings": [...], "unexplained": n, "explained": n, "documents": n}``.
    """
    paths = list(paths)
    findings, n_docs = _lint(lambda: _read(paths), load_labels(), allow)
    explained = sum(1 for f in findings if f.get("reason"))
    return {"findings": findings, "explained": explained, "unexplained": len(findings) - explained,
            "documents": n_docs}
