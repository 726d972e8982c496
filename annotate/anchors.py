"""Hand annotation kept as *anchors* (surface string + context), resolved to gold offsets.

A hand annotation written as offsets breaks silently the day the ingested text changes by one
character. An anchor instead names a span by what it says, so it reads well in review and either
still finds its place in a changed text or fails loudly. One JSONL line per span::

    {"doc": "000_e7a7bc66fee5992e", "id": "c1", "label": "ATTRIBUTION", "text": "said",
     "left": "rescuers", "rel": {"SOURCE": ["a1", "a2"]}}

* ``doc``    the seed file stem; matched against ``Path(meta.source_file).stem`` of the documents
* ``id``     unique within the document; relations refer to it
* ``text``   the surface string; any run of whitespace in it matches any run in the document, and
             it must start and end on a word boundary where it starts or ends with a letter or digit
* ``left`` / ``right`` (optional) the text just before / after the span (whitespace-insensitive)
* ``n``      (optional) which of the remaining matches, 1-based, in text order
* ``rel``    (optional) relations from this span: ``{"REPORTED_BY": ["c1"]}``

Without ``n`` an anchor must match exactly once. :func:`resolve` returns gold records (code-point
offsets, end exclusive) or raises :class:`AnchorError` listing every anchor that is missing,
ambiguous or inconsistent, each as ``file:line: doc id: message``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from .errors import InputError
from .jsonl import iter_jsonl
from .schema import load_labels, semantic_errors

_WS = re.compile(r"\s+")
ANCHOR_KEYS = {"doc", "id", "label", "text", "left", "right", "n", "rel"}


class AnchorError(InputError):
    """One or more anchors could not be resolved; ``problems`` lists them all."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(problems[0] + more)


def _norm(s: str) -> str:
    return _WS.sub(" ", s)


def surface_pattern(surface: str) -> re.Pattern:
    """A regex for a surface string in which whitespace runs match any whitespace run."""
    parts = [re.escape(p) for p in surface.split()]
    return re.compile(r"\s+".join(parts))


def candidates(text: str, anchor: dict) -> list[tuple[int, int]]:
    """All (start, end) where the anchor's surface occurs on word boundaries and fits its context."""
    surface = anchor["text"]
    out = []
    pat = surface_pattern(surface)
    pos = 0
    while True:
        m = pat.search(text, pos)
        if m is None:
            break
        pos = m.start() + 1
        s, e = m.span()
        if surface[0].isalnum() and s > 0 and text[s - 1].isalnum():
            continue
        if surface[-1].isalnum() and e < len(text) and text[e].isalnum():
            continue
        left, right = anchor.get("left"), anchor.get("right")
        if left and not _norm(text[max(0, s - 4 * len(left) - 8):s]).rstrip().endswith(_norm(left).strip()):
            continue
        if right and not _norm(text[e:e + 4 * len(right) + 8]).lstrip().startswith(_norm(right).strip()):
            continue
        out.append((s, e))
    return out


def _describe(anchor: dict) -> str:
    ctx = "".join(f" {k}={anchor[k]!r}" for k in ("left", "right", "n") if anchor.get(k) not in (None, ""))
    return f"{anchor['doc']} {anchor['id']} {anchor['label']} {anchor['text']!r}{ctx}"


def resolve_one(text: str, anchor: dict) -> tuple[int, int] | str:
    """The anchor's offsets, or a message saying why it does not resolve."""
    found = candidates(text, anchor)
    n = anchor.get("n")
    if not found:
        return "not found in the document text"
    if n is not None:
        if not isinstance(n, int) or not 1 <= n <= len(found):
            return f"n={n!r} but there are {len(found)} match(es)"
        return found[n - 1]
    if len(found) > 1:
        at = ", ".join(str(s) for s, _ in found[:6])
        return f"ambiguous: {len(found)} matches (at {at}); add left/right context or n"
    return found[0]


def read_anchors(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, anchor) for every line, with the shape checked."""
    out = []
    for lineno, a in iter_jsonl(path):
        if not isinstance(a, dict):
            raise InputError.at(path, lineno, "expected a JSON object")
        missing = [k for k in ("doc", "id", "label", "text") if not isinstance(a.get(k), str) or not a.get(k)]
        if missing:
            raise InputError.at(path, lineno, f"missing or empty {', '.join(missing)}")
        unknown = sorted(set(a) - ANCHOR_KEYS)
        if unknown:
            raise InputError.at(path, lineno, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(ANCHOR_KEYS))}")
        if a["text"] != a["text"].strip():
            raise InputError.at(path, lineno, f"{_describe(a)}: surface starts or ends with whitespace")
        out.append((lineno, a))
    return out


def _display(path: str | Path) -> str:
    """A path relative to the repository root when it lies inside it (no machine paths in records)."""
    root = Path(__file__).resolve().parent.parent
    try:
        return Path(path).resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)


def documents_by_stem(documents: Iterable[dict]) -> dict[str, dict]:
    """Documents keyed by the stem of their ``meta.source_file`` (``000_e7a7bc66fee5992e``)."""
    out: dict[str, dict] = {}
    for d in documents:
        src = (d.get("meta") or {}).get("source_file")
        if src:
            out[Path(src).stem] = d
    return out


def resolve(anchors_path: str | Path, documents: Iterable[dict], *, annotator: str,
            source: str = "hand", guidelines_version: str | None = None,
            only: Iterable[str] | None = None, external: dict[str, set[str]] | None = None) -> list[dict]:
    """Resolve every anchor of ``anchors_path`` against ``documents`` into gold records.

    ``only`` restricts to some document keys. Each span carries ``source`` (provenance),
    ``annotators`` and ``anchor`` (its anchor id, which survives projection). ``external`` maps a
    document key to ids that relation targets may name although they are not anchors of this file
    (spans projected into that document); such relations are kept for the caller to remap.
    Raises :class:`AnchorError` with every problem found, not just the first.
    """
    labels = load_labels()
    known = set(labels.labels)
    rel_names = set(labels.relations)
    by_stem = documents_by_stem(documents)
    wanted = set(only) if only is not None else None
    problems: list[str] = []
    grouped: dict[str, list[tuple[int, dict]]] = {}
    for lineno, a in read_anchors(anchors_path):
        if wanted is None or a["doc"] in wanted:
            grouped.setdefault(a["doc"], []).append((lineno, a))
    records = []
    for key, items in grouped.items():
        where = lambda ln: f"{anchors_path}:{ln}"  # noqa: E731
        doc = by_stem.get(key)
        if doc is None:
            problems.append(f"{where(items[0][0])}: {key}: no document with source file stem {key!r}")
            continue
        text = doc["text"]
        spans: list[dict] = []
        rels: list[dict] = []
        ids: dict[str, int] = {}
        for lineno, a in items:
            if a["label"] not in known:
                problems.append(f"{where(lineno)}: {_describe(a)}: label not in the schema ({', '.join(sorted(known))})")
                continue
            if a["id"] in ids:
                problems.append(f"{where(lineno)}: {_describe(a)}: duplicate id (first on line {ids[a['id']]})")
                continue
            ids[a["id"]] = lineno
            got = resolve_one(text, a)
            if isinstance(got, str):
                problems.append(f"{where(lineno)}: {_describe(a)}: {got}")
                continue
            start, end = got
            spans.append({"id": a["id"], "start": start, "end": end, "label": a["label"],
                          "text": text[start:end], "source": source, "annotators": [annotator], "anchor": a["id"]})
            for rname, targets in (a.get("rel") or {}).items():
                if rname not in rel_names:
                    problems.append(f"{where(lineno)}: {_describe(a)}: relation {rname!r} not in the schema")
                    continue
                for t in targets:
                    rels.append({"from": a["id"], "to": t, "label": rname, "_line": lineno})
        outside = set((external or {}).get(key, ()))
        by_id = {s["id"]: s for s in spans}
        for r in rels:
            head = f"{where(r['_line'])}: {key} {r['from']} {by_id[r['from']]['label']} {by_id[r['from']]['text']!r}"
            rtype = labels.relation(r["label"])
            if r["to"] not in by_id and r["to"] not in outside:
                problems.append(f"{head}: {r['label']} target {r['to']!r} is not a resolved span of this document")
            elif by_id[r["from"]]["label"] not in rtype["from"]:
                problems.append(f"{head}: {r['label']} must start at {' or '.join(rtype['from'])}")
            elif r["to"] in by_id and by_id[r["to"]]["label"] not in rtype["to"]:
                problems.append(f"{head}: {r['label']} target {r['to']} is {by_id[r['to']]['label']}, "
                                f"must be {' or '.join(rtype['to'])}")
        span_ids = set(by_id) | outside
        rels = [{k: v for k, v in r.items() if k != "_line"} for r in rels if r["to"] in span_ids]
        spans.sort(key=lambda s: (s["start"], s["end"]))
        for prev, cur in zip(spans, spans[1:]):
            if cur["start"] < prev["end"]:
                problems.append(f"{where(ids[cur['id']])}: {key} {cur['id']} {cur['text']!r} at {cur['start']} overlaps "
                                f"{prev['id']} {prev['text']!r} at {prev['start']} (guidelines G3: spans are flat)")
        meta: dict[str, Any] = {"source_file": doc["meta"]["source_file"], "anchors": _display(anchors_path)}
        if guidelines_version:
            meta["guidelines_version"] = guidelines_version
        record = {"id": doc["id"], "text": text, "spans": spans, "relations": rels, "meta": meta}
        for msg in semantic_errors({**record, "relations": []}, labels):  # relations were checked above
            problems.append(f"{anchors_path}: {key}: {msg}")
        records.append(record)
    if problems:
        raise AnchorError(problems)
    return records


def guidelines_version(path: str | Path) -> str | None:
    """The version of a guidelines file: its first line saying ``Version X.Y.Z`` (markup allowed)."""
    m = re.search(r"(?im)^[\s>*_#-]*(?:guidelines\s+)?version[\s*_:=]*v?(\d+\.\d+\.\d+)",
                  Path(path).read_text(encoding="utf-8"))
    return m.group(1) if m else None
