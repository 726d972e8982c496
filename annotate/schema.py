"""The label schema and the file formats, defined once in ``schemas/``.

``load_labels()`` reads ``schemas/labels.json`` (span labels with colour, shortcut key and
definition; relation types with their allowed endpoint labels). ``validate_file()`` checks
every line of a documents, gold or predictions file against its JSON Schema and the semantic
rules, streaming, and returns the problems as ``file:line: message`` strings.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import jsonschema

from .errors import InputError
from .jsonl import iter_jsonl

KINDS = ("documents", "gold", "predictions")
_SCHEMA_FILES = {"documents": "document.schema.json", "gold": "gold.schema.json",
                 "predictions": "prediction.schema.json"}


def schemas_dir() -> Path:
    """The ``schemas/`` folder: ``$ANNOTATE_SCHEMAS`` or the one beside the package."""
    env = os.environ.get("ANNOTATE_SCHEMAS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "schemas"


@dataclass(frozen=True)
class LabelSchema:
    version: str
    span_labels: tuple[dict, ...]
    relation_types: tuple[dict, ...]
    sha256: str = field(compare=False)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label["name"] for label in self.span_labels)

    @property
    def relations(self) -> tuple[str, ...]:
        return tuple(rel["name"] for rel in self.relation_types)

    def relation(self, name: str) -> dict | None:
        return next((r for r in self.relation_types if r["name"] == name), None)


@functools.lru_cache(maxsize=None)
def _load_labels(path: str) -> LabelSchema:
    raw = Path(path).read_bytes()
    data = json.loads(raw)
    return LabelSchema(version=data["schema_version"], span_labels=tuple(data["span_labels"]),
                       relation_types=tuple(data["relation_types"]),
                       sha256=hashlib.sha256(raw).hexdigest())


def load_labels(path: str | Path | None = None) -> LabelSchema:
    """The label schema (``schemas/labels.json`` unless a path is given)."""
    return _load_labels(str(path or schemas_dir() / "labels.json"))


@functools.lru_cache(maxsize=None)
def json_schema(name: str) -> dict:
    """A JSON Schema from ``schemas/`` by file name (``gold.schema.json``) or kind (``gold``)."""
    fname = _SCHEMA_FILES.get(name, name)
    return json.loads((schemas_dir() / fname).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=None)
def validator(name: str) -> jsonschema.protocols.Validator:
    schema = json_schema(name)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def schema_errors(record: Any, kind: str) -> list[str]:
    """JSON Schema violations of one record, as short messages (path: message)."""
    out = []
    for err in sorted(validator(kind).iter_errors(record), key=lambda e: list(e.path)):
        where = "/".join(str(p) for p in err.absolute_path)
        out.append(f"{where}: {err.message}" if where else err.message)
    return out


def semantic_errors(record: dict, labels: LabelSchema, text: str | None = None) -> list[str]:
    """Rules JSON Schema can't say: offsets inside the text, labels in the schema, span text
    not starting or ending with whitespace, relation endpoints that exist and have the right labels.

    ``text`` is the document text when the record doesn't carry it (predictions).
    """
    out: list[str] = []
    text = record.get("text", text)
    spans = record.get("spans") or []
    by_id: dict[Any, dict] = {}
    known = set(labels.labels)
    for i, span in enumerate(spans):
        start, end, label = span.get("start"), span.get("end"), span.get("label")
        where = f"spans/{i}"
        if label not in known:
            out.append(f"{where}: label {label!r} is not in the schema ({', '.join(labels.labels)})")
        if not (isinstance(start, int) and isinstance(end, int)):
            continue
        if start >= end:
            out.append(f"{where}: start {start} must be < end {end}")
        elif text is not None:
            if end > len(text):
                out.append(f"{where}: end {end} is past the end of the text ({len(text)} characters)")
            else:
                surface = text[start:end]
                if surface != surface.strip():
                    out.append(f"{where}: span text {surface!r} starts or ends with whitespace")
                if "text" in span and span["text"] != surface:
                    out.append(f"{where}: span says text {span['text']!r} but the text at {start}-{end} is {surface!r}")
        if "id" in span:
            if span["id"] in by_id:
                out.append(f"{where}: duplicate span id {span['id']!r}")
            by_id[span["id"]] = span
    for i, rel in enumerate(record.get("relations") or []):
        where = f"relations/{i}"
        rtype = labels.relation(rel.get("label"))
        if rtype is None:
            out.append(f"{where}: relation label {rel.get('label')!r} is not in the schema ({', '.join(labels.relations)})")
        for end_name, allowed_key in (("from", "from"), ("to", "to")):
            sid = rel.get(end_name)
            span = by_id.get(sid)
            if span is None:
                out.append(f"{where}: {end_name} refers to span id {sid!r}, which does not exist")
            elif rtype is not None and span.get("label") not in rtype[allowed_key]:
                out.append(f"{where}: {end_name} span {sid!r} is {span.get('label')}, "
                           f"but {rtype['name']} {end_name} must be one of {', '.join(rtype[allowed_key])}")
    return out


def iter_problems(path: str | Path, kind: str, labels: LabelSchema | None = None,
                  texts: dict[str, str] | None = None) -> Iterator[str]:
    """Yield ``file:line: message`` for every problem in a JSONL file of the given kind.

    ``texts`` (id -> text) lets predictions without text be checked against the documents.
    """
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    labels = labels or load_labels()
    seen: dict[str, int] = {}
    problems: list[InputError] = []
    n = 0
    for lineno, record in iter_jsonl(path, skip_invalid=True, problems=problems):
        while problems:
            yield str(problems.pop(0))
        n += 1
        errs = schema_errors(record, kind)
        if not errs and kind != "documents":
            errs = semantic_errors(record, labels, (texts or {}).get(record["id"]))
        elif not errs:
            errs = _document_errors(record)
        for msg in errs:
            yield f"{path}:{lineno}: {msg}"
        rid = record.get("id") if isinstance(record, dict) else None
        if isinstance(rid, str):
            if rid in seen:
                yield f"{path}:{lineno}: duplicate id {rid!r} (first on line {seen[rid]})"
            else:
                seen[rid] = lineno
    while problems:
        yield str(problems.pop(0))
    if n == 0:
        yield f"{path}: no records"


def _document_errors(record: dict) -> list[str]:
    digest = hashlib.sha256(record["text"].encode("utf-8")).hexdigest()
    if record["meta"]["text_sha256"] != digest:
        return [f"meta/text_sha256 does not match the text (text hashes to {digest[:12]}…)"]
    return []


def validate_file(path: str | Path, kind: str = "gold", texts: dict[str, str] | None = None) -> list[str]:
    """All problems of a file (see :func:`iter_problems`); an empty list means valid."""
    return list(iter_problems(path, kind, texts=texts))


def guess_kind(path: str | Path) -> str:
    """Guess a file's kind from its name: documents*, pred*/predictions*, else gold."""
    name = Path(path).name.lower()
    if name.startswith("document"):
        return "documents"
    if name.startswith("pred"):
        return "predictions"
    return "gold"


def validate_records(records: Iterable[dict], kind: str) -> None:
    """Raise InputError on the first invalid record of an in-memory stream (for library callers)."""
    labels = load_labels()
    for i, record in enumerate(records, 1):
        errs = schema_errors(record, kind) or (semantic_errors(record, labels) if kind != "documents" else [])
        if errs:
            raise InputError(f"record {i} ({record.get('id', '?') if isinstance(record, dict) else '?'}): {errs[0]}")
