"""Immutable, versioned gold releases: export and verify.

``export()`` writes ``<out_root>/vX.Y.Z/`` through a temporary folder renamed at the very end
(so a release is either complete or absent) and refuses to overwrite one:

* ``gold.jsonl``    canonical gold (records sorted by id, spans by offset and renumbered 1..n)
* ``gold.spacy``    spaCy DocBin: every token-aligned span in ``doc.spans["sc"]``, ``doc.ents`` the
                    longest non-overlapping ones (``spacy.util.filter_spans``)
* ``gold.conll``    CoNLL-2003 style IOB2 (``word -X- _ TAG``), one ``-DOCSTART-`` block per document
* ``doccano.jsonl`` Doccano RelationExtraction import (text, entities, relations; UTF-16 offsets)
* ``labels.json``   the label schema the release was made with (copied; ``verify`` checks against it)
* ``manifest.json`` sha256 + size of every file, counts, schema/guideline hashes, provenance
* ``manifest.sha256`` sha256 of manifest.json (a ``sha256sum -c`` line)
* ``DATACARD.md`` and ``CHANGELOG.md`` (the entry generated from the diff with the previous release)

Spans that do not sit on spaCy token boundaries cannot be in the DocBin or CoNLL: they are
listed in ``manifest.json`` (``token_alignment.misaligned``) and the data card, never dropped silently.
Semantic versioning is enforced against the previous release (see :func:`required_bump`).
``corpus/gold/latest`` is a relative symlink to the newest release folder.

``verify()`` recomputes every checksum, re-reads every file, recomputes the manifest fields the
files determine and checks manifest.json against manifest.sha256 (see :func:`verify_release`).

Doccano's UTF-16 offsets in ``doccano.jsonl`` come from :func:`annotate.doccano.record_to_doccano`
(the one module that converts offsets).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from . import __version__
from .errors import InputError
from .gold import ensure_span_ids, iter_gold, overlap_regions, read_documents, record_errors, span_key
from .doccano import record_to_doccano, u16_length
from .jsonl import display_path as _display_path, dumps, iter_jsonl, sha256_file
from .schema import LabelSchema, load_labels, schemas_dir, semantic_errors

RELEASE_FILES = ("gold.jsonl", "gold.spacy", "gold.conll", "doccano.jsonl", "labels.json", "DATACARD.md", "CHANGELOG.md")
OFFSETS = "Python str indices (Unicode code points), end exclusive; doccano.jsonl uses UTF-16 code units (Doccano's)"
_VERSION_RE = re.compile(r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$")
BUMPS = ("patch", "minor", "major")
_WS = re.compile(r"\s")


# ------------------------------------------------------------------------------------- versions

def parse_version(version: str) -> tuple[int, int, int]:
    m = _VERSION_RE.match(version.strip())
    if not m:
        raise InputError(f"version {version!r} is not X.Y.Z (semantic versioning, e.g. 0.1.0)")
    return tuple(int(x) for x in m.groups())  # type: ignore[return-value]


def vname(version: tuple[int, int, int]) -> str:
    return "v" + ".".join(map(str, version))


def list_releases(out_root: str | Path) -> list[tuple[tuple[int, int, int], Path]]:
    """Release folders ``vX.Y.Z`` under ``out_root``, oldest first."""
    root = Path(out_root)
    found = []
    if root.is_dir():
        for p in root.iterdir():
            m = _VERSION_RE.match(p.name)
            if m and p.name.startswith("v") and p.is_dir() and not p.is_symlink():
                found.append((tuple(int(x) for x in m.groups()), p))
    return sorted(found)


def next_versions(prev: tuple[int, int, int]) -> dict[str, tuple[int, int, int]]:
    x, y, z = prev
    return {"patch": (x, y, z + 1), "minor": (x, y + 1, 0), "major": (x + 1, 0, 0)}


# ---------------------------------------------------------------------------------- canonical form

def canonical_record(record: dict) -> dict:
    """Spans sorted by (start, end, label), renumbered 1..n with their text; relations remapped and sorted."""
    record = ensure_span_ids(record)
    text = record["text"]
    spans = sorted(record.get("spans") or [], key=lambda s: (*span_key(s), str(s.get("id"))))
    new_id = {}
    out_spans = []
    for i, s in enumerate(spans, 1):
        new_id[s["id"]] = i
        extra = {k: v for k, v in s.items() if k not in ("id", "start", "end", "label", "text")}
        out_spans.append({"id": i, "start": s["start"], "end": s["end"], "label": s["label"],
                          "text": text[s["start"]:s["end"]], **extra})
    rels = [{**r, "from": new_id[r["from"]], "to": new_id[r["to"]]} for r in record.get("relations") or []]
    rels.sort(key=lambda r: (r["from"], r["to"], r["label"]))
    out = {"id": record["id"], "text": text, "spans": out_spans, "relations": rels}
    if record.get("meta"):
        out["meta"] = record["meta"]
    return out


DOCUMENT_META = ("title", "url", "outlet", "date", "source_file")


def with_document_meta(record: dict, document: dict | None) -> dict:
    """The record with its document's title, url, outlet, date and source_file in ``meta`` (from
    documents.jsonl), so scores can be sliced by them (``score --by meta.outlet``). What the gold
    record's own meta says is kept; empty values are not copied."""
    doc_meta = (document or {}).get("meta") or {}
    add = {k: doc_meta[k] for k in DOCUMENT_META if doc_meta.get(k) not in (None, "")}
    if not add:
        return record
    meta = {**add, **(record.get("meta") or {})}
    return {**record, "meta": meta}


def read_canonical(path: str | Path, labels: LabelSchema) -> list[dict]:
    """A gold file validated and in canonical form, sorted by document id."""
    return sorted((canonical_record(r) for _, r in iter_gold(path, labels)), key=lambda r: r["id"])


def read_previous(path: Path) -> list[dict]:
    """A previous release's gold.jsonl, checked against the JSON Schema only: its labels may be ones
    the current label schema no longer has (that is what a major release changes)."""
    records = []
    for lineno, rec in iter_jsonl(path):
        errs = record_errors(rec, "gold")
        if errs:
            raise InputError.at(path, lineno, f"previous release unreadable: {errs[0]}")
        records.append(canonical_record(rec))
    return sorted(records, key=lambda r: r["id"])


# ------------------------------------------------------------------------------- token formats

def _blank_nlp():
    import spacy

    return spacy.blank("en")


MISALIGNED = "does not start and end on spaCy token boundaries"
NOT_IN_ENTS = "overlaps a longer span: in doc.spans['sc'] and gold.jsonl only"


def build_docs(records: list[dict], nlp=None) -> tuple[list, dict]:
    """spaCy Docs for the records, and the alignment report (misaligned spans, spans kept out of ents)."""
    from spacy.util import filter_spans

    nlp = nlp or _blank_nlp()
    docs, misaligned, not_in_ents = [], [], []
    for rec in records:
        doc = nlp.make_doc(rec["text"])
        aligned = []
        for s in rec["spans"]:
            span = doc.char_span(s["start"], s["end"], label=s["label"], alignment_mode="strict")
            if span is None:
                misaligned.append({"doc": rec["id"], "start": s["start"], "end": s["end"], "label": s["label"],
                                   "text": s["text"], "reason": MISALIGNED})
            else:
                aligned.append(span)
        ents = filter_spans(aligned)
        kept = {(e.start_char, e.end_char, e.label_) for e in ents}
        for span in aligned:
            if (span.start_char, span.end_char, span.label_) not in kept:
                not_in_ents.append({"doc": rec["id"], "start": span.start_char, "end": span.end_char,
                                    "label": span.label_, "text": span.text,
                                    "reason": NOT_IN_ENTS})
        doc.spans["sc"] = aligned
        doc.ents = ents
        by_id = {s["id"]: s for s in rec["spans"]}
        doc.user_data["id"] = rec["id"]
        doc.user_data["relations"] = [
            {"from": [by_id[r["from"]]["start"], by_id[r["from"]]["end"], by_id[r["from"]]["label"]],
             "to": [by_id[r["to"]]["start"], by_id[r["to"]]["end"], by_id[r["to"]]["label"]],
             "label": r["label"]} for r in rec["relations"]]
        docs.append(doc)
    return docs, {"misaligned": misaligned, "not_in_ents": not_in_ents}


def docbin_bytes(docs: list) -> bytes:
    from spacy.tokens import DocBin

    db = DocBin(attrs=["ORTH", "ENT_IOB", "ENT_TYPE", "SPACY"], store_user_data=True)
    for doc in docs:
        db.add(doc)
    return db.to_bytes()


def conll_text(docs: list) -> str:
    """CoNLL-2003 style IOB2: ``-DOCSTART- -X- -X- O``, a blank line, one ``word -X- _ TAG`` line per
    non-space token, a blank line. Whitespace inside a token (rare: no-break space) becomes ``_``."""
    lines = []
    for doc in docs:
        lines += ["-DOCSTART- -X- -X- O", ""]
        for tok in doc:
            if tok.is_space:
                continue
            tag = "O" if tok.ent_iob_ in ("O", "") else f"{tok.ent_iob_}-{tok.ent_type_}"
            lines.append(f"{_WS.sub('_', tok.text)} -X- _ {tag}")
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")


def doccano_lines(records: list[dict], release: str) -> Iterable[dict]:
    """Doccano RelationExtraction import lines: one key set on every line, our fields under ``annotate``."""
    next_id = 1
    for rec in records:
        line, next_id = record_to_doccano(rec, next_id)
        yield {**line, "annotate": {"doc_id": rec["id"], "release": release}}


# --------------------------------------------------------------------------------------- diff

def _counts(records: list[dict]) -> dict:
    spans = Counter(s["label"] for r in records for s in r["spans"])
    rels = Counter(x["label"] for r in records for x in r["relations"])
    return {"documents": len(records), "spans": {"total": sum(spans.values()), "by_label": dict(sorted(spans.items()))},
            "relations": {"total": sum(rels.values()), "by_label": dict(sorted(rels.items()))}}


def _rel_keys(rec: dict) -> set:
    by_id = {s["id"]: span_key(s) for s in rec["spans"]}
    return {(by_id[r["from"]], by_id[r["to"]], r["label"]) for r in rec["relations"]}


def diff_records(old: list[dict], new: list[dict]) -> dict:
    """What changed between two canonical gold sets: documents, and spans/relations per label.

    A removed and an added span of the same document that overlap are paired as one *changed*
    span (boundaries and/or label), counted under its new label.
    """
    old_by, new_by = {r["id"]: r for r in old}, {r["id"]: r for r in new}
    added_docs = sorted(set(new_by) - set(old_by))
    removed_docs = sorted(set(old_by) - set(new_by))
    text_changed = sorted(i for i in set(old_by) & set(new_by) if old_by[i]["text"] != new_by[i]["text"])
    per = {}

    def bump(label: str, what: str, n: int = 1) -> None:
        per.setdefault(label, {"added": 0, "removed": 0, "changed": 0})[what] += n

    relabelled = Counter()
    rel = {}
    for doc_id in sorted(set(old_by) | set(new_by)):
        o, n = old_by.get(doc_id), new_by.get(doc_id)
        o_keys = {span_key(s) for s in o["spans"]} if o else set()
        n_keys = {span_key(s) for s in n["spans"]} if n else set()
        removed, added = sorted(o_keys - n_keys), sorted(n_keys - o_keys)
        if o and n and doc_id not in text_changed:
            for r in list(removed):
                match = max((a for a in added if a[0] < r[1] and r[0] < a[1]),
                            key=lambda a: min(a[1], r[1]) - max(a[0], r[0]), default=None)
                if match is not None:
                    removed.remove(r)
                    added.remove(match)
                    bump(match[2], "changed")
                    if match[2] != r[2]:
                        relabelled[f"{r[2]} -> {match[2]}"] += 1
        for k in removed:
            bump(k[2], "removed")
        for k in added:
            bump(k[2], "added")
        o_rel, n_rel = (_rel_keys(o) if o else set()), (_rel_keys(n) if n else set())
        for k in o_rel - n_rel:
            rel.setdefault(k[2], {"added": 0, "removed": 0})["removed"] += 1
        for k in n_rel - o_rel:
            rel.setdefault(k[2], {"added": 0, "removed": 0})["added"] += 1
    return {"documents_added": added_docs, "documents_removed": removed_docs, "documents_text_changed": text_changed,
            "spans": dict(sorted(per.items())), "relabelled": dict(sorted(relabelled.items())),
            "relations": dict(sorted(rel.items())), "before": _counts(old), "after": _counts(new)}


def label_set(labels: LabelSchema) -> dict:
    return {"span_labels": sorted(labels.labels), "relation_types": sorted(labels.relations)}


def required_bump(diff: dict, old_labels: dict | None, new_labels: dict, metadata_changed: bool) -> tuple[str | None, list[str]]:
    """The smallest semver bump the change needs, and why: a label set change or removed documents
    need major; added documents or changed document texts minor; span/relation fixes (or a new
    guideline/schema revision) patch; nothing at all: None."""
    reasons = {"major": [], "minor": [], "patch": []}
    if old_labels is not None and old_labels != new_labels:
        reasons["major"].append(f"label set changed ({old_labels} -> {new_labels})")
    if diff["documents_removed"]:
        reasons["major"].append(f"{len(diff['documents_removed'])} document(s) removed")
    if diff["documents_added"]:
        reasons["minor"].append(f"{len(diff['documents_added'])} document(s) added")
    if diff["documents_text_changed"]:
        reasons["minor"].append(f"{len(diff['documents_text_changed'])} document text(s) changed")
    n_span = sum(v["added"] + v["removed"] + v["changed"] for v in diff["spans"].values())
    n_rel = sum(v["added"] + v["removed"] for v in diff["relations"].values())
    if n_span or n_rel:
        reasons["patch"].append(f"{n_span} span and {n_rel} relation change(s)")
    if metadata_changed:
        reasons["patch"].append("guidelines or label schema file revised")
    for level in ("major", "minor", "patch"):
        if reasons[level]:
            return level, reasons[level]
    return None, []


# --------------------------------------------------------------------------------- text outputs

def changelog_entry(version: str, previous: str | None, diff: dict, bump: str | None, reasons: list[str],
                    date: str) -> str:
    after, before = diff["after"], diff["before"]
    lines = [f"## {version} ({date})", ""]
    if previous is None:
        lines.append(f"First release: {after['documents']} documents, {after['spans']['total']} spans, "
                     f"{after['relations']['total']} relations.")
    else:
        lines.append(f"Since {previous}: {bump} release ({'; '.join(reasons)}).")
    lines += ["", f"- Documents: {before['documents']} -> {after['documents']} "
                  f"(added {len(diff['documents_added'])}, removed {len(diff['documents_removed'])}, "
                  f"text changed {len(diff['documents_text_changed'])})"]
    for key, title in (("documents_added", "added"), ("documents_removed", "removed"),
                       ("documents_text_changed", "text changed")):
        if diff[key]:
            lines.append(f"  - {title}: {', '.join(diff[key])}")
    lines += [f"- Spans: {before['spans']['total']} -> {after['spans']['total']}",
              f"- Relations: {before['relations']['total']} -> {after['relations']['total']}", "",
              "| label | before | after | added | removed | changed |", "|---|---:|---:|---:|---:|---:|"]
    labels = sorted(set(before["spans"]["by_label"]) | set(after["spans"]["by_label"]) | set(diff["spans"]))
    for lab in labels:
        d = diff["spans"].get(lab, {"added": 0, "removed": 0, "changed": 0})
        lines.append(f"| {lab} | {before['spans']['by_label'].get(lab, 0)} | {after['spans']['by_label'].get(lab, 0)} "
                     f"| {d['added']} | {d['removed']} | {d['changed']} |")
    rlabels = sorted(set(before["relations"]["by_label"]) | set(after["relations"]["by_label"]) | set(diff["relations"]))
    for lab in rlabels:
        d = diff["relations"].get(lab, {"added": 0, "removed": 0})
        lines.append(f"| {lab} (relation) | {before['relations']['by_label'].get(lab, 0)} "
                     f"| {after['relations']['by_label'].get(lab, 0)} | {d['added']} | {d['removed']} | - |")
    if diff["relabelled"]:
        lines += ["", "Relabelled: " + ", ".join(f"{k} ({v})" for k, v in diff["relabelled"].items())]
    return "\n".join(lines) + "\n"


def _md(value: Any) -> str:
    return str(value if value not in (None, "") else "-").replace("|", "\\|").replace("\n", " ")


def datacard(manifest: dict, records: list[dict], docs_meta: dict[str, dict], notes: str | None) -> str:
    m = manifest
    counts = m["counts"]
    lines = [f"# Gold corpus {m['version']}", "",
             "## What", "",
             f"{counts['documents']} conflict-news documents with {counts['spans']['total']} labelled spans and "
             f"{counts['relations']['total']} relations (label schema {m['labels']['schema_version']}: "
             f"{', '.join(m['labels']['span_labels'])}; relations {', '.join(m['labels']['relation_types'])}).",
             f"Offsets: {m['offsets']}.", "",
             "| label | spans |", "|---|---:|"]
    lines += [f"| {k} | {v} |" for k, v in counts["spans"]["by_label"].items()]
    lines += [f"| {k} (relation) | {v} |" for k, v in counts["relations"]["by_label"].items()]
    lines += ["", "Files: `gold.jsonl` (canonical), `gold.spacy` (spaCy DocBin), `gold.conll` (IOB2), "
                  "`doccano.jsonl` (Doccano import), `manifest.json` (checksums, provenance). "
                  "Check the release with `annotate verify`.", "",
              "## How it was annotated", ""]
    g = m.get("guidelines") or {}
    lines.append(f"- Guidelines: `{g.get('path', 'schemas/guidelines.md')}` version {_md(g.get('version'))}, "
                 f"sha256 `{_md(g.get('sha256'))}`." if g else "- Guidelines: none recorded.")
    lines.append(f"- Annotators: {', '.join(m['annotators']) or 'not recorded'}.")
    prov = m.get("provenance") or {}
    if prov:
        lines.append("- Where the spans came from: " + ", ".join(f"{k} {v}" for k, v in prov.items()) + ".")
    snap = m.get("snapshot")
    lines.append(f"- Source snapshot: `{snap.get('path')}` (annotations sha256 `{_md(snap.get('annotations_sha256'))}`)."
                 if snap else "- Source snapshot: none recorded.")
    lines += ["", "## Agreement", ""]
    agr = m.get("agreement")
    if agr:
        overall = agr.get("overall") or {}
        lines.append(f"Pairwise over {len(agr.get('pairs') or [])} annotator pair(s): "
                     + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in overall.items() if not isinstance(v, dict)) + ".")
        per = (overall.get("per_label") or {})
        if per:
            lines += ["", "| label | strict F1 | overlap F1 | kappa | alpha |", "|---|---:|---:|---:|---:|"]
            for lab, v in per.items():
                lines.append(f"| {lab} | {_fmt(v.get('strict_f1'))} | {_fmt(v.get('overlap_f1'))} | {_fmt(v.get('kappa'))} "
                             f"| {_fmt(v.get('alpha'))} |")
    else:
        lines.append("No inter-annotator agreement recorded for this release (single annotator or not supplied).")
    lines += ["", "## Known limits", ""]
    ta = m["token_alignment"]
    lines.append(f"- {len(ta['misaligned'])} span(s) do not sit on spaCy token boundaries: in gold.jsonl and "
                 "doccano.jsonl, absent from gold.spacy and gold.conll.")
    for x in ta["misaligned"]:
        lines.append(f"  - {x['doc']}:{x['start']}: {x['label']} {x['text']!r}")
    lines.append(f"- {len(ta['not_in_ents'])} span(s) overlap a longer span: in `doc.spans[\"sc\"]`, not in `doc.ents` "
                 "nor gold.conll.")
    if m.get("overlapping_spans"):
        lines.append(f"- {m['overlapping_spans']} span(s) overlap another span: import doccano.jsonl into a Doccano "
                     "project with overlapping spans allowed (`allow_overlapping`), or Doccano rejects them.")
    oc = m.get("open_conflicts") or []
    lines.append(f"- Open adjudication conflicts exported anyway: {len(oc)}" + (f" ({', '.join(oc)})" if oc else "") + ".")
    lint = m.get("lint")
    if lint is not None:
        lines.append(f"- Lint: {lint['findings']} finding(s), {lint['explained']} explained, {lint['unexplained']} unexplained.")
        for f in lint["list"]:
            reason = f" — explained: {f['reason']}" if f.get("reason") else " — NOT explained"
            lines.append(f"  - `{f['doc']}:{f['offset']}` {f['code']}: {f['message']}{reason}")
    lines += ["", "## Texts and licence", "",
              "The texts are news articles; copyright stays with their outlets unless a licence is given below. "
              "This release records where each text came from:", "",
              "| document | title | outlet | date | url | source file | licence |", "|---|---|---|---|---|---|---|"]
    for rec in records:
        meta = (docs_meta.get(rec["id"]) or {}).get("meta") or {}
        lines.append(f"| {rec['id']} | {_md(meta.get('title'))} | {_md(meta.get('outlet'))} | {_md(meta.get('date'))} "
                     f"| {_md(meta.get('url'))} | {_md(meta.get('source_file'))} "
                     f"| {_md(meta.get('licence') or meta.get('license') or 'not stated')} |")
    if notes:
        lines += ["", "## Notes", "", notes.strip()]
    return "\n".join(lines) + "\n"


def _provenance(records: list[dict]) -> dict[str, int]:
    """Where the spans came from: their ``source``, else projected (``projected_from``) or unrecorded."""
    return dict(sorted(Counter(s.get("source") or ("projected" if "projected_from" in s else "unrecorded")
                               for r in records for s in r["spans"]).items()))


def _open_conflicts(records: list[dict]) -> list[str]:
    return sorted({c for r in records for c in ((r.get("meta") or {}).get("open_conflicts") or [])})


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


# ------------------------------------------------------------------------------------ helpers

def _guidelines_info(path: Path) -> dict | None:
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    m = re.search(r"(?im)^[\s>*_#-]*version[\s*_]*[:=]?[\s*_]*v?(\d+\.\d+(?:\.\d+)?)", text)
    return {"path": "schemas/" + path.name if path.parent.resolve() == schemas_dir().resolve() else _display_path(path),
            "version": m.group(1) if m else None, "sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()}


def _snapshot_info(snapshot: str | Path) -> dict:
    snap = Path(snapshot)
    body = snap / "annotations.jsonl" if snap.is_dir() else snap
    if not body.is_file():
        raise InputError.at(snapshot, None, "no annotations.jsonl in this snapshot folder")
    info = {"path": _display_path(snap), "annotations_sha256": sha256_file(body)}
    man = body.parent / "manifest.json"
    if man.is_file():
        try:
            data = json.loads(man.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError.at(man, e.lineno, f"not valid JSON ({e.msg})") from None
        for k in ("project", "pulled_at", "annotators", "server"):
            if k in data:
                info[k] = data[k]
        info["manifest_sha256"] = sha256_file(man)
    return info


def _agreement_summary(agreement: str | Path | dict | None) -> dict | None:
    if agreement is None:
        return None
    if not isinstance(agreement, dict):
        try:
            agreement = json.loads(Path(agreement).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError.at(agreement, None, "no such file") from None
        except json.JSONDecodeError as e:
            raise InputError.at(agreement, e.lineno, f"not valid JSON ({e.msg})") from None
    if "overall" not in agreement:
        raise InputError("agreement: expected the JSON written by `annotate agree --json` (no 'overall' key)")
    return {k: agreement[k] for k in ("annotators", "documents", "tokenization", "overall", "pairs") if k in agreement}


def _git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return res.stdout.strip() or None if res.returncode == 0 else None


def _latest_link(out_root: Path, name: str) -> None:
    """Point ``out_root/latest`` at ``name`` (relative symlink, replaced atomically)."""
    link = out_root / "latest"
    if link.exists() and not link.is_symlink():
        raise InputError.at(link, None, "exists and is not a symlink; remove it to let export maintain it")
    tmp = out_root / f".latest.{os.getpid()}.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(name, tmp)
    os.replace(tmp, link)


def resolve_release(path: str | Path) -> Path:
    """A release folder, following ``latest`` (a symlink, or a text file holding the folder name)."""
    p = Path(path)
    if p.is_file() and p.name == "latest":
        return p.parent / p.read_text(encoding="utf-8").strip()
    return p


# ------------------------------------------------------------------------------------- export

def export(gold_candidate: str | Path, version: str, out_root: str | Path = "corpus/gold", *,
           snapshot: str | Path | None = None, agreement: str | Path | dict | None = None,
           documents: str | Path | None = None, datacard_notes: str | Path | None = None,
           guidelines: str | Path | None = None, lint_allow: str | Path | None = None,
           allow_open: bool = False, created: str | None = None, update_latest: bool = True) -> dict:
    """Write the release ``<out_root>/vX.Y.Z/`` (see the module docstring); return its manifest and paths.

    Refuses: an existing release, a version that does not follow the latest release by the bump
    the change needs, a gold candidate with open adjudication conflicts (unless ``allow_open``),
    an empty or invalid gold candidate.
    """
    labels = load_labels()
    ver = parse_version(version)
    name = vname(ver)
    out_root = Path(out_root)
    final = out_root / name
    if final.exists() or final.is_symlink():
        raise InputError(f"{final} already exists: releases are immutable; choose a new version")
    records = read_canonical(gold_candidate, labels)
    if not records:
        raise InputError.at(gold_candidate, None, "no records: nothing to release")
    open_conflicts = _open_conflicts(records)
    if open_conflicts and not allow_open:
        raise InputError.at(gold_candidate, None, f"{len(open_conflicts)} open adjudication conflict(s) "
                            f"(first: {open_conflicts[0]}): resolve them or pass --allow-open",
                            hint="annotate adjudicate SNAPSHOT --decisions FILE")

    # Semver against the newest existing release.
    releases = list_releases(out_root)
    prev_manifest, prev_records, prev_name = None, [], None
    new_labels = label_set(labels)
    guide = _guidelines_info(Path(guidelines) if guidelines else schemas_dir() / "guidelines.md")
    if releases:
        prev_ver, prev_dir = releases[-1]
        prev_name = vname(prev_ver)
        if ver <= prev_ver:
            raise InputError(f"version {name} is not newer than the latest release {prev_name}")
        try:
            prev_manifest = json.loads((prev_dir / "manifest.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError) as e:
            raise InputError.at(prev_dir / "manifest.json", None, f"previous release unreadable ({e})") from None
        damaged = verify(prev_dir)
        if damaged:
            raise InputError(f"the previous release {prev_name} fails verify ({damaged[0]}): the changelog and "
                             "semver check would build on it; restore it first (git checkout of that folder)")
        prev_records = read_previous(prev_dir / "gold.jsonl")
    diff = diff_records(prev_records, records)
    bump, reasons = None, []
    if prev_manifest is not None:
        pl = prev_manifest.get("labels") or {}
        old_labels = {"span_labels": pl.get("span_labels"), "relation_types": pl.get("relation_types")}
        meta_changed = (pl.get("sha256") != labels.sha256 or
                        ((prev_manifest.get("guidelines") or {}).get("sha256") != (guide or {}).get("sha256")))
        need, reasons = required_bump(diff, old_labels, new_labels, meta_changed)
        if need is None:
            raise InputError(f"nothing changed since {prev_name}: no new release")
        allowed = next_versions(prev_ver)
        bump = next((lvl for lvl, v in allowed.items() if v == ver), None)
        if bump is None:
            raise InputError(f"{name} does not follow {prev_name}: the next version is "
                             + ", ".join(f"{vname(v)} ({lvl})" for lvl, v in allowed.items()))
        if BUMPS.index(bump) < BUMPS.index(need):
            raise InputError(f"{name} is a {bump} bump but the change needs {need} ({'; '.join(reasons)}): "
                             f"release {vname(allowed[need])}")

    # Lint (findings go into the manifest and the data card; they do not block the export).
    from .lint import lint_records

    lint_findings = lint_records(records, "gold.jsonl", labels=labels, allow=lint_allow)
    docs_meta = read_documents(documents, [r["id"] for r in records]) if documents else {}
    records = [with_document_meta(r, docs_meta.get(r["id"])) for r in records]
    notes = Path(datacard_notes).read_text(encoding="utf-8") if datacard_notes else None
    created = created or _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    annotators = sorted({a for r in records for s in r["spans"] for a in (s.get("annotators") or [])})
    snap_info = _snapshot_info(snapshot) if snapshot else None
    if snap_info and isinstance(snap_info.get("annotators"), list):
        annotators = sorted(set(annotators) | {str(a) for a in snap_info["annotators"]})
    provenance = _provenance(records)

    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=out_root))
    try:
        with open(tmp / "gold.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            for rec in records:
                fh.write(dumps(rec) + "\n")
        docs, alignment = build_docs(records)
        (tmp / "gold.spacy").write_bytes(docbin_bytes(docs))
        shutil.copyfile(schemas_dir() / "labels.json", tmp / "labels.json")
        if sha256_file(tmp / "labels.json") != labels.sha256:
            raise InputError(f"{schemas_dir() / 'labels.json'} changed during the export; run it again")
        (tmp / "gold.conll").write_text(conll_text(docs), encoding="utf-8", newline="\n")
        with open(tmp / "doccano.jsonl", "w", encoding="utf-8", newline="\n") as fh:
            for line in doccano_lines(records, name):
                fh.write(dumps(line) + "\n")
        prev_changelog = ""
        if prev_name:
            old = releases[-1][1] / "CHANGELOG.md"
            prev_changelog = old.read_text(encoding="utf-8").split("\n", 2)[2] if old.is_file() else ""
        entry = changelog_entry(name, prev_name, diff, bump, reasons, created[:10])
        (tmp / "CHANGELOG.md").write_text("# Changelog\n\n" + entry + ("\n" + prev_changelog.lstrip("\n") if prev_changelog else ""),
                                          encoding="utf-8", newline="\n")
        manifest = {
            "name": "annotate gold corpus", "version": name, "created": created,
            "tool": {"name": "annotate", "version": __version__, "git": _git_commit()},
            "offsets": OFFSETS, "previous": prev_name, "bump": bump, "bump_reasons": reasons,
            "counts": _counts(records), "documents": [r["id"] for r in records],
            "labels": {"schema_version": labels.version, "sha256": labels.sha256, "path": "schemas/labels.json",
                       **new_labels},
            "guidelines": guide, "annotators": annotators, "provenance": provenance,
            "agreement": _agreement_summary(agreement), "snapshot": snap_info,
            "token_alignment": {"tokenizer": "spacy.blank('en')", **alignment},
            "overlapping_spans": sum(len(g) for r in records for g in overlap_regions(r["spans"]) if len(g) > 1),
            "open_conflicts": open_conflicts,
            "lint": {"findings": len(lint_findings), "explained": sum(1 for f in lint_findings if f.get("reason")),
                     "unexplained": sum(1 for f in lint_findings if not f.get("reason")), "list": lint_findings},
        }
        (tmp / "DATACARD.md").write_text(datacard(manifest, records, docs_meta, notes), encoding="utf-8", newline="\n")
        manifest["files"] = {f: {"sha256": sha256_file(tmp / f), "size": (tmp / f).stat().st_size} for f in RELEASE_FILES}
        manifest["manifest_checksum"] = MANIFEST_SUM
        (tmp / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (tmp / MANIFEST_SUM).write_text(_manifest_sum_line(tmp / "manifest.json"), encoding="utf-8", newline="\n")
        for f in tmp.iterdir():
            os.chmod(f, 0o444)
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o755)
        if final.exists() or final.is_symlink():
            raise InputError(f"{final} appeared while exporting: releases are immutable; nothing written")
        try:
            os.rename(tmp, final)  # atomic; fails if another export created a non-empty ``final`` meanwhile
        except OSError:
            if final.exists():
                raise InputError(f"{final} appeared while exporting: releases are immutable; nothing written") from None
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if update_latest:
        _latest_link(out_root, name)
    return {"release": str(final), "version": name, "previous": prev_name, "bump": bump, "manifest": manifest,
            "diff": diff, "warnings": ([] if guide else ["no guidelines file found: none recorded in the manifest"])}


# ------------------------------------------------------------------------------------- verify

def verify(release_dir: str | Path) -> list[str]:
    """Every problem of a release folder as ``path: message``; an empty list means intact and valid."""
    return verify_release(release_dir)["problems"]


def verify_release(release_dir: str | Path) -> dict:
    """Verify a release folder: ``{"problems": [...], "notes": [...]}``; no problems means intact and valid.

    Every file listed in the manifest is re-hashed and re-read. The manifest itself is checked two
    ways: every field that can be derived from the release's files (document ids and counts, span
    and relation counts per label, annotators, provenance, open conflicts, overlapping spans, the
    token-alignment report, the label schema, the file list) is recomputed and compared, and the
    whole file against ``manifest.sha256`` (written by export since that file was added; an older
    release without it gets a note, not a failure).
    """
    rel = resolve_release(release_dir)
    problems: list[str] = []
    notes: list[str] = []
    result = {"release": str(rel), "problems": problems, "notes": notes}
    man_path = rel / "manifest.json"
    if not rel.is_dir():
        raise InputError(f"{rel}: no such release folder" if not rel.exists() else f"{rel}: not a release folder")
    try:
        manifest = json.loads(man_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{man_path}: missing")
        return result
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        problems.append(f"{man_path}: not valid JSON ({e})")
        return result
    _verify_manifest_checksum(rel, manifest, problems, notes)
    missing = [key for key in ("version", "files", "counts", "documents", "labels", "offsets", "tool",
                               "token_alignment") if key not in manifest]
    if missing:
        problems += [f"{man_path}: incomplete: no {key!r}" for key in missing]
        return result
    if Path(rel).resolve().name != manifest["version"]:
        problems.append(f"{man_path}: version {manifest['version']} does not match the folder name {Path(rel).resolve().name}")
    files = manifest["files"]
    for f in RELEASE_FILES:
        if f not in files and f != "labels.json":   # labels.json: in releases since it was added (see below)
            problems.append(f"{man_path}: incomplete: no checksum for {f}")
    for f in sorted(p.name for p in rel.iterdir()):
        if f not in ("manifest.json", MANIFEST_SUM) and f not in files:
            problems.append(f"{rel / f}: not listed in the manifest")
    intact = set()
    for f, info in sorted(files.items()):
        path = rel / f
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        size, digest = path.stat().st_size, sha256_file(path)
        if size != info.get("size") or digest != info.get("sha256"):
            problems.append(f"{path}: checksum mismatch (sha256 {digest[:12]}…, {size} bytes; manifest says "
                            f"{str(info.get('sha256'))[:12]}…, {info.get('size')} bytes): the file was changed")
        else:
            intact.add(f)
    labels = load_labels(rel / "labels.json") if "labels.json" in intact else None
    if labels is not None:
        found = {"schema_version": labels.version, "sha256": labels.sha256, **label_set(labels)}
        said = manifest.get("labels") or {}
        _compare(man_path, "labels", {k: said.get(k, _ABSENT) for k in found}, found, problems)
    if "labels.json" not in files:
        # A release made before labels.json was copied in: check against the current schema, which
        # must be the one the manifest records (same sha256), else the label set cannot be checked.
        labels = load_labels()
        if labels.sha256 != (manifest["labels"] or {}).get("sha256"):
            problems.append(f"{man_path}: no labels.json in this release and schemas/labels.json has changed since "
                            "(sha256 differs): cannot check its labels")
            intact.discard("gold.jsonl")
    records = _verify_gold(rel / "gold.jsonl", manifest, labels, problems) if "gold.jsonl" in intact else None
    if records is not None:
        checks = (("gold.spacy", _verify_docbin), ("gold.conll", _verify_conll), ("doccano.jsonl", _verify_doccano))
        for name, check in checks:
            if name in intact:
                check(rel / name, records, manifest, problems)
    return result


MANIFEST_SUM = "manifest.sha256"


def _manifest_sum_line(manifest_path: Path) -> str:
    """``manifest.sha256``: the ``sha256sum`` line of manifest.json (``sha256sum -c`` checks it too)."""
    return f"{sha256_file(manifest_path)}  manifest.json\n"


def _verify_manifest_checksum(rel: Path, manifest: dict, problems: list[str], notes: list[str]) -> None:
    man_path, sum_path = rel / "manifest.json", rel / MANIFEST_SUM
    if not sum_path.is_file():
        if manifest.get("manifest_checksum") == MANIFEST_SUM:
            problems.append(f"{sum_path}: missing (the manifest says it was written): the manifest's own "
                            "checksum cannot be checked")
        else:
            notes.append(f"{man_path}: its own checksum is not recorded (no {MANIFEST_SUM}: a release made before "
                         "export wrote one); its fields that the files determine were checked, the others "
                         "(agreement, snapshot, guidelines, tool, dates, lint) cannot be")
        return
    recorded = sum_path.read_text(encoding="utf-8", errors="replace").split()
    actual = sha256_file(man_path)
    if not recorded or recorded[0] != actual:
        problems.append(f"{man_path}: checksum mismatch (sha256 {actual[:12]}…; {MANIFEST_SUM} says "
                        f"{(recorded or ['nothing'])[0][:12]}…): the manifest was changed")


_ABSENT = object()


def _compare(man_path: Path, field: str, said: Any, found: Any, problems: list[str]) -> None:
    """``manifest.json: <field> says X, the files say Y`` for every leaf where the two differ."""
    if isinstance(said, dict) and isinstance(found, dict):
        for key in sorted(set(found) | set(said), key=str):
            _compare(man_path, f"{field}.{key}", said.get(key, _ABSENT), found.get(key, _ABSENT), problems)
        return
    if said != found:
        problems.append(f"{man_path}: {field} says {_short(said)}, the files say {_short(found)}")


def _short(value: Any, limit: int = 160) -> str:
    if value is _ABSENT:
        return "nothing"
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _derived_fields(records: list[dict], manifest: dict) -> dict:
    """The manifest fields that gold.jsonl determines, recomputed as export computes them."""
    annotators = {a for r in records for s in r["spans"] for a in (s.get("annotators") or [])}
    snap = manifest.get("snapshot")
    if isinstance(snap, dict) and isinstance(snap.get("annotators"), list):
        annotators |= {str(a) for a in snap["annotators"]}
    derived = {
        "documents": [r["id"] for r in records],
        "counts": _counts(records),
        "annotators": sorted(annotators),
        "provenance": _provenance(records),
        "overlapping_spans": sum(len(g) for r in records for g in overlap_regions(r["spans"]) if len(g) > 1),
        "open_conflicts": _open_conflicts(records),
    }
    # Fields added to the manifest over time: compare only those this release has.
    return {k: v for k, v in derived.items() if k in manifest or k in ("documents", "counts")}


def _verify_gold(path: Path, manifest: dict, labels: LabelSchema | None, problems: list[str]) -> list[dict] | None:
    labels = labels or load_labels()
    records, found = [], []
    for lineno, rec in iter_jsonl(path, skip_invalid=True, problems=found):
        errs = record_errors(rec, "gold") or semantic_errors(rec, labels)
        found.extend(f"{path}:{lineno}: {e}" for e in errs)
        records.append(rec)
    if found or not records:
        problems.extend(str(f) for f in found or [f"{path}: no records"])
        return None
    man_path = path.parent / "manifest.json"
    for field, found in _derived_fields(records, manifest).items():
        _compare(man_path, field, manifest.get(field, _ABSENT), found, problems)
    if [canonical_record(r) for r in records] != records or [r["id"] for r in records] != sorted(r["id"] for r in records):
        problems.append(f"{path}: not in canonical form (sorted ids, spans sorted and numbered)")
    return records


def _verify_docbin(path: Path, records: list[dict], manifest: dict, problems: list[str]) -> None:
    from spacy.tokens import DocBin

    nlp = _blank_nlp()
    try:
        docs = list(DocBin().from_bytes(path.read_bytes()).get_docs(nlp.vocab))
    except Exception as e:  # spaCy raises several types on corrupt bytes
        problems.append(f"{path}: does not load as a spaCy DocBin ({type(e).__name__}: {e})")
        return
    if len(docs) != len(records):
        problems.append(f"{path}: {len(docs)} docs, gold.jsonl has {len(records)}")
        return
    misaligned = len(manifest["token_alignment"].get("misaligned") or [])
    n_sc = sum(len(d.spans.get("sc", [])) for d in docs)
    if n_sc != manifest["counts"]["spans"]["total"] - misaligned:
        problems.append(f"{path}: {n_sc} spans in doc.spans['sc'], expected "
                        f"{manifest['counts']['spans']['total'] - misaligned}")
    for doc, rec in zip(docs, records):
        if doc.text != rec["text"] or doc.user_data.get("id") != rec["id"]:
            problems.append(f"{path}: doc {rec['id']}: text or id differs from gold.jsonl")
            return
    # The token-alignment report, as the release's own files give it: gold spans absent from
    # doc.spans["sc"] are the misaligned ones, spans in "sc" but not in doc.ents the nested ones.
    found = {"misaligned": [], "not_in_ents": []}
    for doc, rec in zip(docs, records):
        sc = {(s.start_char, s.end_char, s.label_) for s in doc.spans.get("sc", [])}
        ents = {(e.start_char, e.end_char, e.label_) for e in doc.ents}
        found["misaligned"] += [{"doc": rec["id"], "start": s["start"], "end": s["end"], "label": s["label"],
                                 "text": s["text"], "reason": MISALIGNED} for s in rec["spans"]
                                if (s["start"], s["end"], s["label"]) not in sc]
        found["not_in_ents"] += [{"doc": rec["id"], "start": s.start_char, "end": s.end_char, "label": s.label_,
                                  "text": s.text, "reason": NOT_IN_ENTS} for s in doc.spans.get("sc", [])
                                 if (s.start_char, s.end_char, s.label_) not in ents]
    said = manifest["token_alignment"]
    _compare(path.parent / "manifest.json", "token_alignment", {k: said.get(k, _ABSENT) for k in found}, found,
             problems)


def _verify_conll(path: Path, records: list[dict], manifest: dict, problems: list[str]) -> None:
    allowed = set(manifest["labels"]["span_labels"])
    n_docs, prev = 0, "O"
    for lineno, line in enumerate(path.read_text(encoding="utf-8").split("\n"), 1):
        if not line:
            prev = "O"
            continue
        parts = line.split(" ")
        if len(parts) != 4:
            problems.append(f"{path}:{lineno}: expected 4 space-separated columns, found {len(parts)}")
            return
        if parts[0] == "-DOCSTART-":
            n_docs += 1
            continue
        tag = parts[3]
        if tag != "O":
            iob, _, lab = tag.partition("-")
            if iob not in ("B", "I") or lab not in allowed:
                problems.append(f"{path}:{lineno}: bad tag {tag!r}")
                return
            if iob == "I" and prev[2:] != lab:
                problems.append(f"{path}:{lineno}: {tag} does not continue a {lab} span")
                return
        prev = tag
    if n_docs != len(records):
        problems.append(f"{path}: {n_docs} documents, gold.jsonl has {len(records)}")


def _verify_doccano(path: Path, records: list[dict], manifest: dict, problems: list[str]) -> None:
    keys = None
    n = 0
    for lineno, line in iter_jsonl(path):
        n += 1
        if keys is None:
            keys = set(line)
        if set(line) != keys or not {"text", "entities", "relations"} <= keys:
            problems.append(f"{path}:{lineno}: key set {sorted(line)} differs (Doccano needs one key set on every line)")
            return
        if n > len(records) or line["text"] != records[n - 1]["text"]:
            problems.append(f"{path}:{lineno}: text differs from gold.jsonl")
            return
        limit = u16_length(line["text"])
        ids = {e["id"] for e in line["entities"]}
        if any(not 0 <= e["start_offset"] < e["end_offset"] <= limit for e in line["entities"]) or \
                any(r["from_id"] not in ids or r["to_id"] not in ids for r in line["relations"]):
            problems.append(f"{path}:{lineno}: entity offsets or relation endpoints out of range")
            return
    if n != len(records):
        problems.append(f"{path}: {n} lines, gold.jsonl has {len(records)}")
