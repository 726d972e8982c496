"""Score predicted spans against a gold corpus: four SemEval-2013 schemes, relations,
bootstrap confidence intervals, a paired comparison, slices and a CI gate.

``score(gold_path, pred=...)`` is the single entry point; it returns the report (a dict that
``schemas/score_report.schema.json`` describes) and writes the optional JSON, Markdown and HTML
files. ``score_records(gold, pred)`` does the same for in-memory records.

Offsets are Python ``str`` indices (code points), end exclusive: ``[0, 10)`` and ``[10, 20)``
touch but do not overlap.

Matching (one-to-one, independent of the order spans are listed in), per document:

1. gold and predicted spans with the same boundaries and the same label are paired;
2. left-over spans with the same boundaries (so a different label) are paired, in label order;
3. left-over spans that overlap are paired greedily: largest overlap first, then same label
   before different label, then by position (gold start, predicted start, ends, labels).

A span is never paired twice, so a duplicate prediction is spurious. Every pair has a kind:
``es`` exact boundaries, same label; ``ed`` exact boundaries, different label; ``os``
overlapping, same label; ``od`` overlapping, different label. The schemes read the kinds:

========  =========  ===========  ===========
scheme    correct    incorrect    partial
========  =========  ===========  ===========
strict    es         ed, os, od   -
exact     es, ed     os, od       -
partial   es, ed     -            os, od (half credit)
type      es, os     ed, od       -
========  =========  ===========  ===========

Unpaired gold spans are missed, unpaired predictions spurious. Per label, a pair whose labels
differ is charged to the gold span's label on the gold side (``correct``/``incorrect``/``partial``,
which with ``missed`` sum to ``possible``, the recall denominator) and to the predicted label on
the predicted side (``pred_correct``/``pred_incorrect``/``pred_partial``, which with ``spurious``
sum to ``actual``, the precision denominator). Every count summed over the labels equals the
overall (micro) count. P = (pred_correct + 0.5 pred_partial) / actual, R = (correct + 0.5 partial)
/ possible (the 0.5 terms only in ``partial``); a ratio with a zero denominator is 0.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .errors import InputError
from .jsonl import display_path as _display_path, iter_jsonl, sha256_file, write_json, write_text
from .schema import LabelSchema, load_labels, schema_errors, semantic_errors

REPORT_SCHEMA_VERSION = "1.0.0"
SCHEMES = ("strict", "exact", "partial", "type")
METRICS = ("precision", "recall", "f1")
COUNT_FIELDS = ("correct", "incorrect", "partial", "missed", "spurious", "possible", "actual",
                "pred_correct", "pred_incorrect", "pred_partial")
# Per-document base counts, per label: gold and predicted spans, then the pairs by kind.
# Pairs whose labels differ are counted on the gold label (_g) and on the predicted label (_p).
BASE = ("gold", "pred", "es", "ed_g", "ed_p", "os", "od_g", "od_p")
REL_BASE = ("gold", "pred", "correct")
KINDS = ("es", "ed", "os", "od")
MAX_IDS_LISTED = 20

Progress = Callable[[int], None]


# ---------------------------------------------------------------- span tables

class LabelIndex:
    """Label names <-> small integer codes; the schema's labels first, unknown ones appended."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names: list[str] = []
        self.codes: dict[str, int] = {}
        for name in names:
            self.code(name)

    def code(self, name: str) -> int:
        c = self.codes.get(name)
        if c is None:
            c = self.codes[name] = len(self.names)
            self.names.append(name)
        return c

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class SpanTable:
    """Spans of many documents as parallel columns (doc index, start, end, label code)."""

    doc: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    label: list[int] = field(default_factory=list)

    def add(self, doc: int, start: int, end: int, label: int) -> None:
        self.doc.append(doc)
        self.start.append(start)
        self.end.append(end)
        self.label.append(label)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (np.asarray(self.doc, dtype=np.int64), np.asarray(self.start, dtype=np.int64),
                np.asarray(self.end, dtype=np.int64), np.asarray(self.label, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.doc)


Relation = tuple  # (type, (start, end, label), (start, end, label))


@dataclass
class Gold:
    path: str
    ids: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    lengths: list[int] = field(default_factory=list)
    digests: list[bytes] = field(default_factory=list)
    spans: SpanTable = field(default_factory=SpanTable)
    relations: dict[int, list[Relation]] = field(default_factory=dict)
    slices: dict[str, list[str]] = field(default_factory=dict)
    texts: Callable[[], Iterator[tuple[str, str]]] | None = None
    info: dict = field(default_factory=dict)


@dataclass
class Predictions:
    source: dict
    spans: SpanTable = field(default_factory=SpanTable)
    relations: dict[int, list[Relation]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)


def _record_errors(record: Any, kind: str) -> list[str]:
    """JSON Schema errors of a gold or prediction record, fast on valid ones.

    Uses the gold module's structural pre-check (never more lenient than the JSON Schema; jsonschema
    runs only to word the errors). A prediction is a gold record whose text is optional, so one
    without text is checked with an empty text put in.
    """
    from .gold import record_errors

    probe = record
    if kind == "predictions" and isinstance(record, dict) and "text" not in record:
        probe = {**record, "text": ""}
    return [] if not record_errors(probe, "gold") else schema_errors(record, kind)


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _get_field(record: dict, dotted: str) -> str:
    value: Any = record
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return "(none)"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _span_key_map(spans: list[dict], labels: LabelIndex) -> dict[Any, tuple[int, int, int]]:
    return {s["id"]: (s["start"], s["end"], labels.code(s["label"])) for s in spans if "id" in s}


def _relations(record: dict, by_id: dict, where: str, labels: LabelIndex) -> list[Relation]:
    out = []
    for i, rel in enumerate(record.get("relations") or []):
        head, tail = by_id.get(rel.get("from")), by_id.get(rel.get("to"))
        if head is None or tail is None:
            missing = rel.get("from") if head is None else rel.get("to")
            raise InputError(f"{where}: relations/{i} refers to span id {missing!r}, which does not exist")
        out.append((rel["label"], head, tail))
    return out


# ---------------------------------------------------------------- gold

def resolve_gold(path: str | Path) -> Path:
    """A gold JSONL file, or the ``gold.jsonl`` of a release folder (``corpus/gold/vX.Y.Z/``)."""
    p = Path(path)
    if p.is_dir():
        f = p / "gold.jsonl"
        if not f.is_file():
            raise InputError.at(p, None, "is a folder without gold.jsonl (expected a release folder corpus/gold/vX.Y.Z/)")
        return f
    if not p.exists():
        raise InputError.at(p, None, "no such file or folder")
    return p


def _release_info(gold_file: Path) -> dict:
    info: dict = {"version": None}
    folder = gold_file.parent
    for name in ("manifest.json", "release.json"):
        mf = folder / name
        if mf.is_file():
            try:
                data = json.loads(mf.read_text(encoding="utf-8"))
                info["version"] = data.get("version")
            except (ValueError, OSError):
                pass
            break
    if info["version"] is None and re.fullmatch(r"v\d+\.\d+\.\d+", folder.name) and gold_file.name == "gold.jsonl":
        info["version"] = folder.name
    return info


def load_gold(records: Iterable[tuple[str, dict]], labels: LabelIndex, schema: LabelSchema,
              by: Sequence[str] = (), path: str = "gold") -> Gold:
    """Read gold records ``(where, record)`` into span tables, checking each one."""
    gold = Gold(path=path)
    for field_name in by:
        gold.slices[field_name] = []
    for where, rec in records:
        errs = _record_errors(rec, "gold") or semantic_errors(rec, schema)
        errs = [e for e in errs if "is not in the schema" not in e]  # unknown labels are scored, not rejected
        if errs:
            raise InputError(f"{where}: {errs[0]}")
        doc_id = rec["id"]
        if doc_id in gold.index:
            raise InputError(f"{where}: duplicate document id {doc_id!r} in the gold")
        i = len(gold.ids)
        gold.index[doc_id] = i
        gold.ids.append(doc_id)
        gold.lengths.append(len(rec["text"]))
        gold.digests.append(_digest(rec["text"]))
        for s in rec["spans"]:
            gold.spans.add(i, s["start"], s["end"], labels.code(s["label"]))
        if rec.get("relations"):
            gold.relations[i] = _relations(rec, _span_key_map(rec["spans"], labels), where, labels)
        for field_name in by:
            gold.slices[field_name].append(_get_field(rec, field_name))
    if not gold.ids:
        raise InputError.at(path, None, "no gold documents")
    return gold


def _iter_file(path: Path) -> Iterator[tuple[str, dict]]:
    for lineno, rec in iter_jsonl(path):
        yield f"{path}:{lineno}", rec


# ---------------------------------------------------------------- predictions

def _check_pred_record(rec: Any, where: str, gold: Gold, labels: LabelIndex, preds: Predictions,
                       label_map: dict | None = None, built: bool = False) -> None:
    """Add one prediction record (``{"id", "spans", "text"?, "relations"?}``) after checking it.

    ``built`` marks a record this module assembled itself (extractor, spaCy): no JSON Schema check.
    """
    errs = [] if built else _record_errors(rec, "predictions")
    if errs:
        raise InputError(f"{where}: {errs[0]}")
    doc_id = rec["id"]
    i = gold.index.get(doc_id)
    if i is None:
        raise InputError(f"{where}: id {doc_id!r} is not a document of the gold ({gold.path})")
    if i in preds.seen:
        raise InputError(f"{where}: a second prediction for document {doc_id!r}")
    if "text" in rec and _digest(rec["text"]) != gold.digests[i]:
        raise InputError(f"{where}: the text of {doc_id!r} differs from the gold text "
                         f"({len(rec['text'])} vs {gold.lengths[i]} characters); predictions must be made on the gold text")
    preds.seen.add(i)
    n = gold.lengths[i]
    by_id = {}
    for k, s in enumerate(rec["spans"]):
        start, end, label = s["start"], s["end"], s["label"]
        if label_map is not None and label in label_map:
            label = label_map[label]
            if not label:
                continue
        if not 0 <= start < end <= n:
            raise InputError(f"{where}: spans/{k} {start}-{end} {label} is outside the text of {doc_id!r} "
                             f"(0-{n}) or empty")
        code = labels.code(label)
        preds.spans.add(i, start, end, code)
        if "id" in s:
            by_id[s["id"]] = (start, end, code)
    if rec.get("relations"):
        preds.relations[i] = _relations(rec, by_id, where, labels)


def predictions_from_records(records: Iterable[tuple[str, Any]], gold: Gold, labels: LabelIndex,
                             source: dict, label_map: dict | None = None) -> Predictions:
    preds = Predictions(source=source)
    for where, rec in records:
        _check_pred_record(rec, where, gold, labels, preds, label_map)
    return preds


def predictions_from_extractor(spec: str, gold: Gold, labels: LabelIndex,
                               progress: Progress | None = None) -> Predictions:
    """Run ``extract(text)`` on every gold text."""
    from .extractors import load_extractor, normalize_spans

    fn = load_extractor(spec)
    preds = Predictions(source={"kind": "extractor", "spec": spec})
    for doc_id, text in gold.texts():
        i = gold.index[doc_id]
        try:
            result = fn(text)
        except Exception as err:  # the extractor's own failure, named
            raise InputError(f"extractor {spec!r} failed on document {doc_id!r}: {type(err).__name__}: {err}") from None
        rec = {"id": doc_id, "spans": normalize_spans(result, text, where=f"extractor {spec!r} on {doc_id!r}")}
        _check_pred_record(rec, f"extractor {spec!r}", gold, labels, preds, built=True)
        if progress:
            progress(1)
    return preds


def predictions_from_command(cmd: str, gold: Gold, labels: LabelIndex,
                             progress: Progress | None = None) -> Predictions:
    """Stream gold documents as JSONL ``{"id", "text"}`` into ``sh -c CMD``; read prediction JSONL back."""
    preds = Predictions(source={"kind": "command", "spec": cmd})
    try:
        proc = subprocess.Popen(cmd, shell=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1)
    except OSError as err:
        raise InputError(f"command {cmd!r} could not start: {err}") from None
    stderr_tail: deque[str] = deque(maxlen=5)
    feed_error: list[BaseException] = []

    def feed() -> None:
        try:
            for doc_id, text in gold.texts():
                proc.stdin.write(json.dumps({"id": doc_id, "text": text}, ensure_ascii=False) + "\n")
            proc.stdin.close()
        except (BrokenPipeError, OSError, ValueError) as err:  # the command stopped reading
            feed_error.append(err)

    def drain() -> None:
        for line in proc.stderr:
            stderr_tail.append(line.rstrip("\n"))

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=drain, daemon=True)]
    for t in threads:
        t.start()
    problem: InputError | None = None
    try:
        for lineno, line in enumerate(proc.stdout, 1):
            if not line.strip():
                continue
            where = f"command output line {lineno}"
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{where}: not valid JSON ({err.msg}): {line[:80]!r}") from None
            _check_pred_record(rec, where, gold, labels, preds)
            if progress:
                progress(1)
    except InputError as err:
        problem = err
        proc.kill()
    finally:
        proc.stdout.close()
        status = proc.wait()
        for t in threads:
            t.join(timeout=5)
    if problem is not None:
        raise problem
    if status != 0:
        tail = " | ".join(stderr_tail) or "no output on stderr"
        raise InputError(f"command {cmd!r} exited with status {status}: {tail}")
    return preds


def predictions_from_spacy(pipeline: str, gold: Gold, labels: LabelIndex, spans_key: str | None = None,
                           label_map: dict | None = None, progress: Progress | None = None) -> Predictions:
    """Run a spaCy pipeline (package name or path) and read ``doc.ents`` or ``doc.spans[spans_key]``."""
    import spacy

    try:
        nlp = spacy.load(pipeline)
    except (OSError, ImportError, ValueError) as err:
        raise InputError(f"spaCy pipeline {pipeline!r} cannot be loaded: {str(err).splitlines()[0]}") from None
    preds = Predictions(source={"kind": "spacy", "spec": pipeline, "spans_key": spans_key, "label_map": label_map})
    stream = gold.texts()
    ids: deque[str] = deque()

    def texts() -> Iterator[str]:
        for doc_id, text in stream:
            ids.append(doc_id)
            yield text

    for doc in nlp.pipe(texts(), batch_size=64):
        doc_id = ids.popleft()
        if spans_key is not None:
            if spans_key not in doc.spans:
                raise InputError(f"spaCy pipeline {pipeline!r} set no doc.spans[{spans_key!r}] "
                                 f"(keys: {', '.join(doc.spans) or 'none'})")
            found = doc.spans[spans_key]
        else:
            found = doc.ents
        rec = {"id": doc_id, "spans": [{"start": s.start_char, "end": s.end_char, "label": s.label_}
                                       for s in found if s.end_char > s.start_char]}
        _check_pred_record(rec, f"spaCy pipeline {pipeline!r}", gold, labels, preds, label_map, built=True)
        if progress:
            progress(1)
    return preds


# ---------------------------------------------------------------- matching

@dataclass
class Matches:
    """Pairs (indices into the gold and predicted tables) and their kind (0 es, 1 ed, 2 os, 3 od)."""

    gold: np.ndarray
    pred: np.ndarray
    kind: np.ndarray


def _boundary_keys(doc: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """One integer per (doc, start, end), comparable between the gold and predicted tables."""
    if len(doc) == 0:
        return np.zeros(0, dtype=np.int64)
    m = int(end.max()) + 1
    d = int(doc.max()) + 1
    if d * m * m < 2 ** 62:
        return (doc * m + start) * m + end
    _, inverse = np.unique(np.stack([doc, start, end], axis=1), axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64)


def _runs(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct values of a sorted array, where each run starts, and its length."""
    first = np.flatnonzero(np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1])))
    return sorted_keys[first], first, np.diff(np.append(first, len(sorted_keys)))


def _pair_equal(kg: np.ndarray, kp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one pairs (i, j) with kg[i] == kp[j]; within a key, in the arrays' order."""
    if len(kg) == 0 or len(kp) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    og = np.argsort(kg, kind="stable")
    op = np.argsort(kp, kind="stable")
    ug, first_g, count_g = _runs(kg[og])
    up, first_p, count_p = _runs(kp[op])
    pos = np.minimum(np.searchsorted(up, ug), len(up) - 1)
    ig = np.flatnonzero(up[pos] == ug)
    ip = pos[ig]
    m = np.minimum(count_g[ig], count_p[ip])
    total = int(m.sum())
    offsets = np.arange(total) - np.repeat(np.cumsum(m) - m, m)
    return og[np.repeat(first_g[ig], m) + offsets], op[np.repeat(first_p[ip], m) + offsets]


def _overlap_candidates(gd, gs, ge, pd, ps, pe, chunk: int = 5_000_000):
    """All (gold, pred) index pairs in the same document whose spans overlap (share a character)."""
    if len(gd) == 0 or len(pd) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    m = int(max(ge.max(), pe.max())) + 1
    order = np.lexsort((ps, pd))
    pkey = pd[order] * m + ps[order]
    longest = int((pe - ps).max())
    lo = np.searchsorted(pkey, gd * m + np.maximum(gs - longest, 0), side="left")
    hi = np.searchsorted(pkey, gd * m + ge, side="left")  # predicted start < gold end
    width = hi - lo
    out_g, out_p = [], []
    g_all = np.arange(len(gd))
    start = 0
    while start < len(gd):  # bound the memory of the expansion
        stop = start + 1
        cum = np.cumsum(width[start:])
        stop = start + max(1, int(np.searchsorted(cum, chunk, side="right")))
        w = width[start:stop]
        gi = np.repeat(g_all[start:stop], w)
        pos = np.arange(int(w.sum())) - np.repeat(np.cumsum(w) - w, w) + np.repeat(lo[start:stop], w)
        pi = order[pos]
        keep = (np.minimum(ge[gi], pe[pi]) - np.maximum(gs[gi], ps[pi])) > 0
        out_g.append(gi[keep])
        out_p.append(pi[keep])
        start = stop
    return np.concatenate(out_g), np.concatenate(out_p)


def _greedy(cg: np.ndarray, cp: np.ndarray, n_gold: int, n_pred: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching over candidate pairs listed best first.

    Each round takes every pair that is the best remaining one for both its gold and its predicted
    span; this picks exactly the pairs a sequential greedy pass would, in a few vector operations.
    """
    used_g = np.zeros(n_gold, dtype=bool)
    used_p = np.zeros(n_pred, dtype=bool)
    got_g, got_p = [], []
    while len(cg):
        first_g = np.zeros(len(cg), dtype=bool)
        first_g[np.unique(cg, return_index=True)[1]] = True
        first_p = np.zeros(len(cp), dtype=bool)
        first_p[np.unique(cp, return_index=True)[1]] = True
        pick = first_g & first_p
        got_g.append(cg[pick])
        got_p.append(cp[pick])
        used_g[cg[pick]] = True
        used_p[cp[pick]] = True
        keep = ~(used_g[cg] | used_p[cp])
        cg, cp = cg[keep], cp[keep]
    if not got_g:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(got_g), np.concatenate(got_p)


def match(gold: tuple[np.ndarray, ...], pred: tuple[np.ndarray, ...]) -> Matches:
    """Match gold and predicted spans one to one (see the module docstring for the rules).

    ``gold`` and ``pred`` are (doc, start, end, label) integer arrays.
    """
    gd, gs, ge, gl = gold
    pd, ps, pe, pl = pred
    n_labels = int(max(gl.max(initial=-1), pl.max(initial=-1))) + 1
    keys = _boundary_keys(np.concatenate([gd, pd]), np.concatenate([gs, ps]), np.concatenate([ge, pe]))
    kg, kp = keys[:len(gd)], keys[len(gd):]
    # 1. same boundaries, same label
    if not len(keys) or int(keys.max()) < 2 ** 62 // max(n_labels, 1):
        lg, lp = kg * n_labels + gl, kp * n_labels + pl
    else:  # pragma: no cover - astronomically long texts
        _, inv = np.unique(np.stack([keys, np.concatenate([gl, pl])], axis=1), axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        lg, lp = inv[:len(gd)], inv[len(gd):]
    es_g, es_p = _pair_equal(lg, lp)
    free_g = np.ones(len(gd), dtype=bool)
    free_p = np.ones(len(pd), dtype=bool)
    free_g[es_g] = False
    free_p[es_p] = False
    # 2. same boundaries, different label: left-overs paired in label order
    rg = np.flatnonzero(free_g)
    rp = np.flatnonzero(free_p)
    rg = rg[np.lexsort((gl[rg], kg[rg]))]
    rp = rp[np.lexsort((pl[rp], kp[rp]))]
    a, b = _pair_equal(kg[rg], kp[rp])
    ed_g, ed_p = rg[a], rp[b]
    free_g[ed_g] = False
    free_p[ed_p] = False
    # 3. overlapping: largest overlap, same label first, then position
    rg = np.flatnonzero(free_g)
    rp = np.flatnonzero(free_p)
    ci, cj = _overlap_candidates(gd[rg], gs[rg], ge[rg], pd[rp], ps[rp], pe[rp])
    cg, cp = rg[ci], rp[cj]
    overlap = np.minimum(ge[cg], pe[cp]) - np.maximum(gs[cg], ps[cp])
    order = np.lexsort((cp, cg, pl[cp], gl[cg], pe[cp], ge[cg], ps[cp], gs[cg],
                        (gl[cg] != pl[cp]).astype(np.int8), -overlap))
    ov_g, ov_p = _greedy(cg[order], cp[order], len(gd), len(pd))
    ov_kind = np.where(gl[ov_g] == pl[ov_p], 2, 3)
    return Matches(
        gold=np.concatenate([es_g, ed_g, ov_g]).astype(np.int64),
        pred=np.concatenate([es_p, ed_p, ov_p]).astype(np.int64),
        kind=np.concatenate([np.zeros(len(es_g), np.int64), np.ones(len(ed_g), np.int64), ov_kind]).astype(np.int64),
    )


# ---------------------------------------------------------------- counts

def base_counts(n_docs: int, n_labels: int, gold: tuple[np.ndarray, ...], pred: tuple[np.ndarray, ...],
                m: Matches) -> np.ndarray:
    """Per-document base counts: an (n_docs, len(BASE) * n_labels) integer matrix."""
    gd, _, _, gl = gold
    pd, _, _, pl = pred
    width = len(BASE) * n_labels
    col = {name: i * n_labels for i, name in enumerate(BASE)}
    parts_doc = [gd, pd]
    parts_col = [col["gold"] + gl, col["pred"] + pl]
    mg, mp, k = m.gold, m.pred, m.kind
    for kind_code, (g_col, p_col) in ((0, ("es", None)), (1, ("ed_g", "ed_p")), (2, ("os", None)), (3, ("od_g", "od_p"))):
        sel = k == kind_code
        parts_doc.append(gd[mg[sel]])
        parts_col.append(col[g_col] + gl[mg[sel]])
        if p_col:
            parts_doc.append(pd[mp[sel]])
            parts_col.append(col[p_col] + pl[mp[sel]])
    flat = np.concatenate(parts_doc) * width + np.concatenate(parts_col)
    return np.bincount(flat, minlength=n_docs * width).reshape(n_docs, width).astype(np.int32)


def relation_counts(n_docs: int, types: Sequence[str], gold_rel: dict[int, list], pred_rel: dict[int, list]
                    ) -> np.ndarray:
    """Per-document relation counts: (n_docs, 3 * len(types)) — gold, predicted, correct per type.

    A predicted relation is correct when a gold relation has the same type and both endpoint spans
    equal (boundaries and label); each gold relation is matched at most once.
    """
    t_index = {t: i for i, t in enumerate(types)}
    out = np.zeros((n_docs, len(REL_BASE) * len(types)), dtype=np.int32)
    nt = len(types)
    for i in set(gold_rel) | set(pred_rel):
        g = Counter(gold_rel.get(i, ()))
        p = Counter(pred_rel.get(i, ()))
        for rel, c in g.items():
            out[i, 0 * nt + t_index[rel[0]]] += c
        for rel, c in p.items():
            out[i, 1 * nt + t_index[rel[0]]] += c
            out[i, 2 * nt + t_index[rel[0]]] += min(c, g.get(rel, 0))
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    return np.divide(num, den, out=np.zeros(np.broadcast(num, den).shape), where=den > 0)


def _prf(cor_g, par_g, possible, cor_p, par_p, actual):
    precision = _ratio(cor_p + 0.5 * par_p, actual)
    recall = _ratio(cor_g + 0.5 * par_g, possible)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return precision, recall, f1


def scheme_counts(base: np.ndarray, n_labels: int) -> dict[str, dict[str, np.ndarray]]:
    """The four schemes' counts per label from summed base counts (``base[..., len(BASE) * n_labels]``).

    Works on any leading shape (one total, or one row per bootstrap resample).
    """
    b = {name: base[..., i * n_labels:(i + 1) * n_labels].astype(np.float64) for i, name in enumerate(BASE)}
    zero = np.zeros_like(b["gold"])
    missed = b["gold"] - b["es"] - b["ed_g"] - b["os"] - b["od_g"]
    spurious = b["pred"] - b["es"] - b["ed_p"] - b["os"] - b["od_p"]
    rules = {  # scheme: (correct, incorrect, partial) on the gold side, then the predicted side
        "strict": ((b["es"], b["ed_g"] + b["os"] + b["od_g"], zero), (b["es"], b["ed_p"] + b["os"] + b["od_p"], zero)),
        "exact": ((b["es"] + b["ed_g"], b["os"] + b["od_g"], zero), (b["es"] + b["ed_p"], b["os"] + b["od_p"], zero)),
        "partial": ((b["es"] + b["ed_g"], zero, b["os"] + b["od_g"]), (b["es"] + b["ed_p"], zero, b["os"] + b["od_p"])),
        "type": ((b["es"] + b["os"], b["ed_g"] + b["od_g"], zero), (b["es"] + b["os"], b["ed_p"] + b["od_p"], zero)),
    }
    out = {}
    for scheme, ((cg, ig, pg), (cp, ip, pp)) in rules.items():
        out[scheme] = {"correct": cg, "incorrect": ig, "partial": pg, "missed": missed, "spurious": spurious,
                       "possible": b["gold"], "actual": b["pred"],
                       "pred_correct": cp, "pred_incorrect": ip, "pred_partial": pp}
    return out


def _metrics(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return _prf(c["correct"], c["partial"], c["possible"], c["pred_correct"], c["pred_partial"], c["actual"])


def f1_table(base: np.ndarray, n_labels: int, present: np.ndarray, rel: np.ndarray | None = None,
             n_types: int = 0) -> dict[str, np.ndarray]:
    """F1 of every scheme (micro, macro, per label) and of relations, vectorised over leading axes."""
    out = {}
    for scheme, c in scheme_counts(base, n_labels).items():
        micro = {k: v.sum(axis=-1) for k, v in c.items()}
        out[f"{scheme}.micro"] = _metrics(micro)[2]
        per_label = _metrics(c)[2]
        out[f"{scheme}.per_label"] = per_label
        out[f"{scheme}.macro"] = per_label[..., present].mean(axis=-1) if present.any() else np.zeros(per_label.shape[:-1])
    if rel is not None and n_types:
        g, p, k = (rel[..., i * n_types:(i + 1) * n_types].astype(np.float64) for i in range(3))
        out["relations.per_type"] = _prf(k, 0, g, k, 0, p)[2]
        out["relations.micro"] = _prf(k.sum(-1), 0, g.sum(-1), k.sum(-1), 0, p.sum(-1))[2]
    return out


# ---------------------------------------------------------------- bootstrap

def resample_sums(matrices: Sequence[np.ndarray], resamples: int, seed: int | None,
                  block: int = 64) -> list[np.ndarray]:
    """Column sums of each per-document matrix over ``resamples`` bootstrap resamples of the documents.

    All matrices share the same resampled documents (so two systems are compared pairwise).
    Each resample draws n documents with replacement; its weights (how often each document was
    drawn) come from one ``bincount`` (a row fits in cache), and a block of weight rows times the
    count matrix gives the sums. Returns one (resamples, columns) array per matrix.
    """
    n = matrices[0].shape[0]
    joined = np.hstack([m.astype(np.float64) for m in matrices])
    # float32 holds integer sums exactly below 2**24: use it (twice as fast) when the totals allow
    exact32 = float(joined.sum(axis=0).max(initial=0)) * 4 < 2 ** 24
    dtype = np.float32 if exact32 else np.float64
    counts = joined.astype(dtype)
    rng = np.random.default_rng(seed)
    sums = np.empty((resamples, joined.shape[1]))
    weights = np.empty((min(block, resamples), n), dtype=dtype)
    for b0 in range(0, resamples, block):
        c = min(block, resamples - b0)
        for r in range(c):
            weights[r] = np.bincount(rng.integers(0, n, size=n), minlength=n)
        sums[b0:b0 + c] = weights[:c] @ counts
    out, at = [], 0
    for m in matrices:
        out.append(sums[:, at:at + m.shape[1]])
        at += m.shape[1]
    return out


def _interval(values: np.ndarray, level: float = 0.95) -> np.ndarray:
    alpha = (1 - level) / 2 * 100
    return np.percentile(values, [alpha, 100 - alpha], axis=0)


# ---------------------------------------------------------------- the report

def _round(x: float) -> float:
    return round(float(x), 6)


def _row(counts: dict[str, Any], idx=None) -> dict:
    pick = (lambda v: v[idx]) if idx is not None else (lambda v: v)
    row = {k: int(round(float(pick(counts[k])))) for k in COUNT_FIELDS}
    p, r, f = _metrics({k: np.asarray(float(pick(v))) for k, v in counts.items()})
    row.update(precision=_round(p), recall=_round(r), f1=_round(f), ci=None)
    return row


def _ci(bounds: np.ndarray | None, *idx) -> list[float] | None:
    if bounds is None:
        return None
    lo, hi = bounds[(0, *idx)], bounds[(1, *idx)]
    return [_round(lo), _round(hi)]


@dataclass
class Scored:
    """Everything computed for one system: the matching and the per-document matrices."""

    preds: Predictions
    pred_arrays: tuple
    matches: Matches
    base: np.ndarray
    rel: np.ndarray | None


def _score_system(gold: Gold, gold_arrays: tuple, preds: Predictions, n_labels: int,
                  rel_types: Sequence[str]) -> Scored:
    pa = preds.spans.arrays()
    m = match(gold_arrays, pa)
    base = base_counts(len(gold.ids), n_labels, gold_arrays, pa, m)
    rel = relation_counts(len(gold.ids), rel_types, gold.relations, preds.relations) if rel_types else None
    return Scored(preds, pa, m, base, rel)


def _schemes_report(base_total: np.ndarray, labels: LabelIndex, present: np.ndarray,
                    boot: dict[str, np.ndarray] | None) -> dict:
    n = len(labels)
    out = {}
    for scheme, c in scheme_counts(base_total, n).items():
        micro_counts = {k: v.sum() for k, v in c.items()}
        micro = _row(micro_counts)
        micro["ci"] = _ci(boot and boot[f"{scheme}.micro"])
        per_label = {}
        for i, name in enumerate(labels.names):
            row = _row(c, i)
            row["ci"] = _ci(boot and boot[f"{scheme}.per_label"], i)
            per_label[name] = row
        f1s = [per_label[name]["f1"] for i, name in enumerate(labels.names) if present[i]]
        out[scheme] = {"micro": micro, "per_label": per_label,
                       "macro_f1": _round(np.mean(f1s)) if f1s else 0.0,
                       "macro_f1_ci": _ci(boot and boot[f"{scheme}.macro"])}
    return out


def _relations_report(rel_total: np.ndarray, types: Sequence[str], boot: dict | None) -> dict:
    nt = len(types)
    g, p, k = (rel_total[i * nt:(i + 1) * nt].astype(float) for i in range(3))

    def row(gv, pv, kv, ci):
        pr, rc, f = _prf(kv, 0, gv, kv, 0, pv)
        return {"correct": int(kv), "missed": int(gv - kv), "spurious": int(pv - kv), "possible": int(gv),
                "actual": int(pv), "precision": _round(pr), "recall": _round(rc), "f1": _round(f), "ci": ci}

    return {"micro": row(g.sum(), p.sum(), k.sum(), _ci(boot and boot["relations.micro"])),
            "per_type": {t: row(g[i], p[i], k[i], _ci(boot and boot["relations.per_type"], i))
                         for i, t in enumerate(types)}}


def _slices_report(gold: Gold, base: np.ndarray, labels: LabelIndex) -> dict:
    out = {}
    for field_name, values in gold.slices.items():
        groups: dict[str, list[int]] = {}
        for i, v in enumerate(values):
            groups.setdefault(v, []).append(i)
        rows = {}
        for value in sorted(groups):
            docs = np.asarray(groups[value])
            counts = scheme_counts(base[docs].sum(axis=0), len(labels))
            rows[value] = {"documents": len(docs),
                           **{scheme: _row({k: v.sum() for k, v in c.items()}) for scheme, c in counts.items()}}
            for scheme in SCHEMES:
                del rows[value][scheme]["ci"]
        out[field_name] = rows
    return out


def _compare_report(a: Scored, b: Scored, labels: LabelIndex, present: np.ndarray, types: Sequence[str],
                    resamples: int, seed: int | None) -> dict:
    n = len(labels)
    nt = len(types)
    full_a = f1_table(a.base.sum(0), n, present, None if a.rel is None else a.rel.sum(0), nt)
    full_b = f1_table(b.base.sum(0), n, present, None if b.rel is None else b.rel.sum(0), nt)
    keys = [f"{s}.micro" for s in SCHEMES] + [f"{s}.macro" for s in SCHEMES]
    mats = [a.base, b.base] + ([a.rel, b.rel] if nt else [])
    boot_a = boot_b = None
    if resamples:
        sums = resample_sums(mats, resamples, seed)
        boot_a = f1_table(sums[0], n, present, sums[2] if nt else None, nt)
        boot_b = f1_table(sums[1], n, present, sums[3] if nt else None, nt)
    if nt:
        keys.append("relations.micro")
    out = {"prediction": b.preds.source, "metrics": {}}
    for key in keys:
        name = key.replace(".micro", ".f1").replace(".macro", ".macro_f1")
        row = {"first": _round(full_a[key]), "second": _round(full_b[key]),
               "diff": _round(full_a[key] - full_b[key]), "ci": None, "first_wins": None, "ties": None}
        if boot_a is not None:
            d = boot_a[key] - boot_b[key]
            row["ci"] = [_round(x) for x in _interval(d)]
            row["first_wins"] = _round((d > 1e-12).mean())
            row["ties"] = _round((np.abs(d) <= 1e-12).mean())
        out["metrics"][name] = row
    return out


def _present(base_total: np.ndarray, n_labels: int) -> np.ndarray:
    """Labels that occur in the gold or the predictions (the ones macro-F1 averages over)."""
    return (base_total[:n_labels] + base_total[n_labels:2 * n_labels]) > 0


def _bootstrap(base: np.ndarray, rel: np.ndarray | None, n_labels: int, present: np.ndarray, n_types: int,
               resamples: int, seed: int | None) -> dict[str, np.ndarray] | None:
    """95% intervals of every F1 in :func:`f1_table`, or None when ``resamples`` is 0."""
    if not resamples:
        return None
    mats = [base] + ([rel] if n_types else [])
    sums = resample_sums(mats, resamples, seed)
    table = f1_table(sums[0], n_labels, present, sums[1] if n_types else None, n_types)
    return {k: _interval(v) for k, v in table.items()}


def _error_items(gold_arrays, s: Scored) -> dict[int, list[tuple]]:
    """Per document: (kind, gold span or None, predicted span or None) for every error, in text order."""
    gd, gs, ge, gl = gold_arrays
    pd, ps, pe, pl = s.pred_arrays
    m = s.matches
    items: dict[int, list[tuple]] = {}
    matched_g = np.zeros(len(gd), dtype=bool)
    matched_p = np.zeros(len(pd), dtype=bool)
    matched_g[m.gold] = True
    matched_p[m.pred] = True
    names = {1: "incorrect", 2: "partial", 3: "partial"}
    for gi, pi, k in zip(m.gold.tolist(), m.pred.tolist(), m.kind.tolist()):
        if k:
            items.setdefault(int(gd[gi]), []).append(
                (names[k], (int(gs[gi]), int(ge[gi]), int(gl[gi])), (int(ps[pi]), int(pe[pi]), int(pl[pi]))))
    for gi in np.flatnonzero(~matched_g).tolist():
        items.setdefault(int(gd[gi]), []).append(("missed", (int(gs[gi]), int(ge[gi]), int(gl[gi])), None))
    for pi in np.flatnonzero(~matched_p).tolist():
        items.setdefault(int(pd[pi]), []).append(("spurious", None, (int(ps[pi]), int(pe[pi]), int(pl[pi]))))
    for v in items.values():
        v.sort(key=lambda it: min(x[0] for x in it[1:] if x is not None))
    return items


def evaluate(gold: Gold, preds: Predictions, labels: LabelIndex, schema: LabelSchema, *,
             compare: Predictions | None = None, resamples: int = 1000, seed: int | None = 0,
             collect_errors: bool = False) -> tuple[dict, dict | None]:
    """Score predictions against the gold; return the report and (optionally) the error items."""
    n_docs = len(gold.ids)
    gold_arrays = gold.spans.arrays()
    rel_types = list(schema.relations) if gold.relations else []
    for rels in list(gold.relations.values()) + list(preds.relations.values()) + (
            list(compare.relations.values()) if compare else []):
        for r in rels:
            if r[0] not in rel_types and gold.relations:
                rel_types.append(r[0])
    n_labels = len(labels)
    a = _score_system(gold, gold_arrays, preds, n_labels, rel_types)
    b = _score_system(gold, gold_arrays, compare, n_labels, rel_types) if compare is not None else None
    base_total = a.base.sum(axis=0)
    present = _present(base_total, n_labels)
    nt = len(rel_types)
    boot = _bootstrap(a.base, a.rel if nt else None, n_labels, present, nt, resamples, seed)
    missing = [gold.ids[i] for i in range(n_docs) if i not in preds.seen]
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "gold": {**gold.info, "labels_version": schema.version, "labels_sha256": schema.sha256,
                 "labels": list(labels.names)},
        "prediction": preds.source,
        "documents": {
            "gold": n_docs,
            "predicted": len(preds.seen),
            "missing_predictions": len(missing),
            "missing_ids": missing[:MAX_IDS_LISTED],
            "without_gold_spans": int(n_docs - len(np.unique(gold_arrays[0]))),
            "gold_spans": int(len(gold.spans)),
            "predicted_spans": int(len(preds.spans)),
            "bootstrap": {"resamples": int(resamples), "seed": seed, "level": 0.95},
        },
        "schemes": _schemes_report(base_total, labels, present, boot),
        "relations": _relations_report(a.rel.sum(axis=0), rel_types, boot) if nt else None,
    }
    unknown = [name for name in labels.names if name not in schema.labels]
    if unknown:
        report["documents"]["labels_not_in_schema"] = unknown
    if gold.slices:
        report["slices"] = _slices_report(gold, a.base, labels)
    if b is not None:
        report["compare"] = _compare_report(a, b, labels, present, rel_types, resamples, seed)
    errors = _error_items(gold_arrays, a) if collect_errors else None
    return report, errors


# ---------------------------------------------------------------- the CI gate

def _lookup(report: dict, key: str) -> float:
    """The value a gate key names: SCHEME.METRIC, SCHEME.LABEL.METRIC, SCHEME.macro_f1,
    relations.METRIC or relations.TYPE.METRIC."""
    parts = key.split(".")
    head = parts[0]
    if head == "relations":
        section, per, what = report.get("relations"), "per_type", "relation type"
        if section is None:
            raise InputError(f"gate {key!r}: the gold has no relations")
    elif head in SCHEMES:
        section, per, what = report["schemes"][head], "per_label", "label"
        if len(parts) == 2 and parts[1] in ("macro_f1", "macro"):
            return section["macro_f1"]
    else:
        raise InputError(f"gate {key!r}: starts with {head!r}; expected one of {', '.join(SCHEMES)}, relations")
    if len(parts) == 2:
        row = section["micro"]
    elif len(parts) == 3:
        row = section[per].get(parts[1])
        if row is None:
            raise InputError(f"gate {key!r}: no {what} {parts[1]!r} ({', '.join(section[per])})")
    else:
        raise InputError(f"gate {key!r}: expected {head}.METRIC or {head}.{what.split()[-1].upper()}.METRIC, e.g. strict.f1")
    metric = parts[-1]
    if metric not in METRICS:
        raise InputError(f"gate {key!r}: metric {metric!r}; expected one of {', '.join(METRICS)} (or macro_f1)")
    return row[metric]


def parse_threshold(text: str) -> tuple[str, float]:
    """``strict.f1=0.60`` -> ("strict.f1", 0.6)."""
    key, sep, value = text.partition("=")
    try:
        threshold = float(value)
    except ValueError:
        threshold = None
    if not sep or not key.strip() or threshold is None or not 0 <= threshold <= 1:
        raise InputError(f"--fail-under {text!r}: expected KEY=NUMBER in [0, 1], e.g. strict.f1=0.60")
    return key.strip(), threshold


def baseline_keys(report: dict) -> list[str]:
    """The metrics a baseline comparison checks: micro and macro F1 of every scheme, relations F1."""
    keys = [f"{s}.f1" for s in SCHEMES] + [f"{s}.macro_f1" for s in SCHEMES]
    if report.get("relations"):
        keys.append("relations.f1")
    return keys


def check_gates(report: dict, fail_under: Sequence[str] = (), baseline: dict | None = None,
                max_drop: float = 0.0, baseline_name: str = "baseline") -> dict:
    """Evaluate the thresholds; return ``{"passed", "checks": [...], "failures": [one line each]}``."""
    checks, failures = [], []
    for text in fail_under:
        key, threshold = parse_threshold(text)
        value = _lookup(report, key)
        ok = value + 1e-12 >= threshold
        checks.append({"check": f"{key}>={threshold}", "value": value, "passed": ok})
        if not ok:
            failures.append(f"{key} = {value:.4f} is under {threshold:.4f} (--fail-under)")
    if baseline is not None:
        major = str(baseline.get("schema_version", "")).split(".")[0]
        if major != REPORT_SCHEMA_VERSION.split(".")[0] or "schemes" not in baseline:
            raise InputError(f"{baseline_name}: not a score report of schema version {REPORT_SCHEMA_VERSION.split('.')[0]}.x")
        for key in baseline_keys(report):
            try:
                old = _lookup(baseline, key)
            except (InputError, KeyError, TypeError):
                continue  # the baseline did not have it (e.g. no relations then)
            new = _lookup(report, key)
            ok = old - new <= max_drop + 1e-12
            checks.append({"check": f"{key} drop<={max_drop}", "value": _round(new - old), "passed": ok})
            if not ok:
                failures.append(f"{key} dropped {old - new:.4f} ({old:.4f} -> {new:.4f}), more than "
                                f"--max-drop {max_drop:.4f} against {baseline_name}")
    return {"passed": not failures, "checks": checks, "failures": failures}


# ---------------------------------------------------------------- entry points

def _labels_and_schema(schema: LabelSchema | None) -> tuple[LabelSchema, LabelIndex]:
    schema = schema or load_labels()
    return schema, LabelIndex(schema.labels)


def _read_label_map(label_map: str | Path | dict | None) -> dict | None:
    """``{"GPE": "LOCATION", "DATE": null}``: a JSON file, inline JSON, or ``GPE=LOCATION,DATE=`` pairs."""
    if label_map is None or isinstance(label_map, dict):
        return label_map
    text = str(label_map)
    if Path(text).is_file():
        try:
            data = json.loads(Path(text).read_text(encoding="utf-8"))
        except ValueError as err:
            raise InputError.at(text, None, f"label map is not valid JSON ({err})") from None
    elif text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as err:
            raise InputError(f"--label-map: not valid JSON ({err})") from None
    else:
        data = {}
        for pair in text.split(","):
            k, sep, v = pair.partition("=")
            if not sep or not k.strip():
                raise InputError(f"--label-map {text!r}: expected FROM=TO[,FROM=TO...], a JSON object or a JSON file")
            data[k.strip()] = v.strip() or None
    if not isinstance(data, dict) or not all(isinstance(v, (str, type(None))) for v in data.values()):
        raise InputError("--label-map: expected an object of label -> label (or null to drop it)")
    return data


def _predictions(source: dict, gold: Gold, labels: LabelIndex, progress: Progress | None) -> Predictions:
    kind, spec = source["kind"], source["spec"]
    if kind == "file":
        path = Path(spec)
        if not path.is_file():
            raise InputError.at(path, None, "no such prediction file")
        info = {"kind": "file", "spec": _display_path(path), "sha256": sha256_file(path)}
        return predictions_from_records(_iter_file(path), gold, labels, info)
    if kind == "records":
        return predictions_from_records(((f"prediction {i}", r) for i, r in enumerate(spec, 1)),
                                        gold, labels, {"kind": "records", "spec": "in-memory records"})
    if kind == "extractor":
        return predictions_from_extractor(spec, gold, labels, progress)
    if kind == "command":
        return predictions_from_command(spec, gold, labels, progress)
    if kind == "spacy":
        return predictions_from_spacy(spec, gold, labels, source.get("spans_key"),
                                      _read_label_map(source.get("label_map")), progress)
    raise InputError(f"unknown prediction source {kind!r}")


def prediction_source(pred: str | Path | None = None, extractor: str | None = None, command: str | None = None,
                      spacy: str | None = None, spans_key: str | None = None, label_map: Any = None,
                      what: str = "--pred, --extractor, --command or --spacy") -> dict:
    """Check that exactly one prediction source is given; return it as ``{"kind", "spec", ...}``."""
    given = [(k, v) for k, v in (("file", pred), ("extractor", extractor), ("command", command), ("spacy", spacy))
             if v is not None]
    if len(given) != 1:
        raise InputError(f"give exactly one of {what} ({len(given)} given)")
    kind, spec = given[0]
    src = {"kind": kind, "spec": str(spec) if kind == "file" else spec}
    if kind == "spacy":
        src.update(spans_key=spans_key, label_map=label_map)
    elif spans_key is not None or label_map is not None:
        raise InputError("--spans-key and --label-map apply to --spacy only")
    return src


def _write_outputs(report: dict, errors: dict | None, gold: Gold, labels: LabelIndex, schema: LabelSchema,
                   json_path, markdown_path, errors_path) -> None:
    from . import report as render

    if json_path:
        write_json(json_path, report)
    if markdown_path:
        write_text(markdown_path, render.markdown(report))
    if errors_path:
        colours = {label["name"]: label.get("color") for label in schema.span_labels}
        write_text(errors_path, render.errors_html(report, errors or {}, gold.ids, gold.texts(), labels.names, colours))


def _gold_name(info: dict) -> str:
    where = info.get("file") or info.get("path")
    return f"gold.sha256 {info.get('sha256')}" + (f" ({where}{', ' + info['version'] if info.get('version') else ''})"
                                                    if where else "")


def _baseline_gold_check(gold_info: dict, baseline: dict | None, baseline_name: str, any_gold: bool) -> str | None:
    """A baseline scored on another gold file is not comparable (other documents, other spans): an
    error naming both gold hashes, or with ``any_gold`` the warning line to report."""
    if not isinstance(baseline, dict) or not isinstance(baseline.get("gold"), dict):
        return None
    ours, theirs = gold_info.get("sha256"), baseline["gold"].get("sha256")
    if not ours or not theirs or ours == theirs:
        return None
    what = (f"{baseline_name} was scored on a different gold ({_gold_name(baseline['gold'])}) than this run "
            f"({_gold_name(gold_info)})")
    if not any_gold:
        raise InputError(f"{what}: its F1 is not comparable; rescore the baseline on this gold, or pass "
                         "--baseline-any-gold to compare anyway")
    return f"{what}; compared anyway (--baseline-any-gold)"


def _run(gold: Gold, labels: LabelIndex, schema: LabelSchema, source: dict, *, compare_source: dict | None,
         bootstrap: int, seed: int | None, fail_under: Sequence[str], baseline: str | Path | dict | None,
         max_drop: float | None, json_path, markdown_path, errors_path, progress: Progress | None,
         baseline_any_gold: bool = False) -> dict:
    if bootstrap < 0:
        raise InputError("--bootstrap must be 0 (skip) or a positive number of resamples")
    if max_drop is not None and baseline is None:
        raise InputError("--max-drop needs --baseline OLD.json")
    for text in fail_under:  # fail on a malformed gate before the (possibly slow) scoring
        parse_threshold(text)
    baseline_data, baseline_name = None, "baseline"
    if baseline is not None and not isinstance(baseline, dict):
        baseline_name = _display_path(baseline)
        try:
            baseline_data = json.loads(Path(baseline).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError.at(baseline, None, "no such baseline report") from None
        except ValueError as err:
            raise InputError.at(baseline, None, f"baseline report is not valid JSON ({err})") from None
    elif isinstance(baseline, dict):
        baseline_data = baseline
    gold_warning = _baseline_gold_check(gold.info, baseline_data, baseline_name, baseline_any_gold)
    preds = _predictions(source, gold, labels, progress)
    other = _predictions(compare_source, gold, labels, progress) if compare_source else None
    report, errors = evaluate(gold, preds, labels, schema, compare=other, resamples=bootstrap, seed=seed,
                              collect_errors=bool(errors_path))
    if fail_under or baseline_data is not None:
        report["gate"] = check_gates(report, fail_under, baseline_data, max_drop or 0.0, baseline_name)
        if gold_warning:
            report["gate"]["warnings"] = [gold_warning]
    _write_outputs(report, errors, gold, labels, schema, json_path, markdown_path, errors_path)
    return report


def score(gold_path: str | Path, pred: str | Path | None = None, *, extractor: str | None = None,
          command: str | None = None, spacy: str | None = None, spans_key: str | None = None,
          label_map: str | dict | None = None, compare: str | Path | None = None,
          compare_extractor: str | None = None, bootstrap: int = 1000, seed: int | None = 0,
          by: Sequence[str] = (), fail_under: Sequence[str] = (), baseline: str | Path | dict | None = None,
          max_drop: float | None = None, json_path: str | Path | None = None,
          markdown_path: str | Path | None = None, errors_path: str | Path | None = None,
          schema: LabelSchema | None = None, progress: Progress | None = None,
          baseline_any_gold: bool = False) -> dict:
    """Score one prediction source against a gold file or release folder; return the report.

    Exactly one of ``pred`` (prediction JSONL), ``extractor`` (``module:function``), ``command``
    (a shell command: gold ``{"id","text"}`` JSONL on stdin, prediction JSONL on stdout) or
    ``spacy`` (a pipeline name or path) gives the predictions. ``compare`` / ``compare_extractor``
    add a paired bootstrap against a second system. With ``fail_under`` or ``baseline`` the report
    has a ``gate`` section; the caller decides the exit status from ``report["gate"]["passed"]``.
    A ``baseline`` report scored on another gold file (another ``gold.sha256``) is refused unless
    ``baseline_any_gold`` (then ``gate.warnings`` says so).
    The JSON, Markdown and HTML files are written atomically.
    """
    schema, labels = _labels_and_schema(schema)
    source = prediction_source(pred, extractor, command, spacy, spans_key, label_map)
    compare_source = None
    if compare is not None or compare_extractor is not None:
        compare_source = prediction_source(compare, compare_extractor, what="--compare or --compare-extractor")
    gold_file = resolve_gold(gold_path)
    gold = load_gold(_iter_file(gold_file), labels, schema, by, path=str(gold_file))
    gold.texts = lambda: ((rec["id"], rec["text"]) for _, rec in iter_jsonl(gold_file))
    gold.info = {"path": _display_path(gold_path), "file": _display_path(gold_file),
                 "sha256": sha256_file(gold_file), **_release_info(gold_file)}
    return _run(gold, labels, schema, source, compare_source=compare_source, bootstrap=bootstrap, seed=seed,
                fail_under=fail_under, baseline=baseline, max_drop=max_drop, json_path=json_path,
                markdown_path=markdown_path, errors_path=errors_path, progress=progress,
                baseline_any_gold=baseline_any_gold)


def score_records(gold: Sequence[dict], pred: Sequence[dict] | None = None, *, extractor: str | None = None,
                  command: str | None = None, compare: Sequence[dict] | None = None, bootstrap: int = 1000,
                  seed: int | None = 0, by: Sequence[str] = (), fail_under: Sequence[str] = (),
                  baseline: dict | None = None, max_drop: float | None = None, json_path=None,
                  markdown_path=None, errors_path=None, schema: LabelSchema | None = None) -> dict:
    """:func:`score` for in-memory gold and prediction records (lists of dicts)."""
    schema, labels = _labels_and_schema(schema)
    given = [x for x in (pred, extractor, command) if x is not None]
    if len(given) != 1:
        raise InputError("give exactly one of pred, extractor or command")
    source = ({"kind": "records", "spec": pred} if pred is not None else
              {"kind": "extractor", "spec": extractor} if extractor is not None else {"kind": "command", "spec": command})
    compare_source = {"kind": "records", "spec": compare} if compare is not None else None
    gold_model = load_gold(((f"gold {i}", r) for i, r in enumerate(gold, 1)), labels, schema, by, path="gold records")
    gold_model.texts = lambda: ((r["id"], r["text"]) for r in gold)
    gold_model.info = {"path": "gold records", "file": None, "sha256": None, "version": None}
    return _run(gold_model, labels, schema, source, compare_source=compare_source, bootstrap=bootstrap, seed=seed,
                fail_under=fail_under, baseline=baseline, max_drop=max_drop, json_path=json_path,
                markdown_path=markdown_path, errors_path=errors_path, progress=None)


class _Codes(dict):
    """Label -> code, adding unknown labels to the LabelIndex as they appear."""

    def __init__(self, labels: LabelIndex) -> None:
        super().__init__(labels.codes)
        self.labels = labels

    def __missing__(self, name: str) -> int:
        code = self[name] = self.labels.code(name)
        return code


def _table_from_docs(docs: Sequence[Sequence[dict]], codes: _Codes, side: str) -> tuple[np.ndarray, ...]:
    sizes = np.fromiter(map(len, docs), dtype=np.int64, count=len(docs))
    flat = list(chain.from_iterable(docs))
    try:
        start = np.fromiter(map(itemgetter("start"), flat), dtype=np.int64, count=len(flat))
        end = np.fromiter(map(itemgetter("end"), flat), dtype=np.int64, count=len(flat))
        label = np.fromiter(map(codes.__getitem__, map(itemgetter("label"), flat)), dtype=np.int64, count=len(flat))
    except (KeyError, TypeError, ValueError) as err:
        raise InputError(f"{side} spans: every span needs integer start, end and a label ({err})") from None
    if len(start) and not ((start >= 0) & (start < end)).all():
        bad = int(np.flatnonzero(~((start >= 0) & (start < end)))[0])
        raise InputError(f"{side} spans: span {bad} has start {int(start[bad])} and end {int(end[bad])} "
                         "(expected 0 <= start < end)")
    doc = np.repeat(np.arange(len(docs), dtype=np.int64), sizes)
    return doc, start, end, label


def score_spans(gold: Sequence[Sequence[dict]], pred: Sequence[Sequence[dict]], *, bootstrap: int = 0,
                seed: int | None = 0, schema: LabelSchema | None = None) -> dict:
    """The four schemes for span lists alone, one list of ``{"start", "end", "label"}`` per document
    (nervaluate's ``loader="dict"`` input, but with exclusive ends): no texts, ids or relations.

    Returns ``{"documents", "labels", "schemes"}`` with the same ``schemes`` section as :func:`score`.
    """
    if len(gold) != len(pred):
        raise InputError(f"{len(gold)} gold documents but {len(pred)} predicted ones")
    schema, labels = _labels_and_schema(schema)
    codes = _Codes(labels)
    ga = _table_from_docs(gold, codes, "gold")
    pa = _table_from_docs(pred, codes, "predicted")
    n_labels = len(labels)
    base = base_counts(len(gold), n_labels, ga, pa, match(ga, pa))
    total = base.sum(axis=0)
    present = _present(total, n_labels)
    boot = _bootstrap(base, None, n_labels, present, 0, bootstrap, seed)
    return {"documents": len(gold), "labels": list(labels.names),
            "schemes": _schemes_report(total, labels, present, boot)}
