"""Extractors: anything that maps a text to spans.

An extractor is a callable ``extract(text: str) -> Iterable[span]`` where a span is a dict
with ``start``, ``end``, ``label`` (code-point offsets, end exclusive) or a tuple
``(start, end, label)``. ``load_extractor("module:function")`` imports one by name;
``"rules"`` is short for the rule baseline ``annotate.extractors.rules:extract``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import InputError

Extractor = Callable[[str], Iterable[Any]]
ALIASES = {"rules": "annotate.extractors.rules:extract", "baseline": "annotate.extractors.rules:extract"}


def load_extractor(spec: str) -> Extractor:
    """Import ``module:function`` (the current folder is importable, like ``python -m``)."""
    spec = ALIASES.get(spec, spec)
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"extractor {spec!r}: expected module:function, e.g. annotate.extractors.rules:extract")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise InputError(f"extractor {spec!r}: cannot import {module_name!r} ({err})") from None
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            raise InputError(f"extractor {spec!r}: {module_name!r} has no attribute {attr!r}")
    if not callable(fn):
        raise InputError(f"extractor {spec!r}: {attr!r} is not callable")
    return fn


def normalize_spans(result: Iterable[Any], text: str, *, where: str = "extractor") -> list[dict]:
    """Turn an extractor's output into sorted ``{"start", "end", "label"}`` dicts, checking offsets."""
    spans = []
    for item in result or ():
        if isinstance(item, dict):
            start, end, label = item.get("start"), item.get("end"), item.get("label")
        else:
            try:
                start, end, label = item
            except (TypeError, ValueError):
                raise InputError(f"{where}: span {item!r} is neither a dict nor a (start, end, label) tuple") from None
        if not (isinstance(start, int) and isinstance(end, int) and isinstance(label, str)):
            raise InputError(f"{where}: span {item!r} needs integer start/end and a string label")
        if not 0 <= start < end <= len(text):
            raise InputError(f"{where}: span {start}-{end} {label} is outside the text (0-{len(text)}) or empty")
        spans.append({"start": start, "end": end, "label": label})
    spans.sort(key=lambda s: (s["start"], s["end"], s["label"]))
    return spans
