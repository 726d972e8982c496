"""The rule baseline: ``spacy.blank("en")`` + sentencizer + span_ruler, no pretrained model, offline.

``extract(text)`` returns flat ``(start, end, label)`` spans (code points, end exclusive) for the
five labels of ``schemes/labels.json``. The patterns are spaCy span_ruler patterns in
``annotate/data/rules_patterns.jsonl`` (one ``{"label", "pattern", "id"?}`` per line), and a few
decisions the patterns can't make are taken here, following ``schemas/guidelines.md``:

* ``id: "trim:A:B"`` drops A tokens at the start and B at the end of a match (context words that
  a pattern needs but the span excludes: "spokesman [Ahmad al Sheikho]", "[71] were killed");
* ``PLATFORM`` (jets, helicopters, drones …) becomes a WEAPON when a weapon follows it in the same
  sentence ("helicopters dropped barrel bombs", W2), else an ACTOR with its owner ("Russian jets", A5);
* ``COUNTRY`` (Russia, Moscow …) is a LOCATION after a locative preposition or before a possessive
  place ("in Syria", "Syria's Idlib"), else an ACTOR (metonymy, A6);
* no span starts or ends inside a hyphenated word ("Idlib-based", G7);
* overlaps are resolved to flat spans, longest first (G3).

Hard-wrapped text is matched on a copy with line breaks replaced by spaces (same length, same
offsets), so "air-\\ndropped explosive weapons" is found across the break.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

PATTERNS_PATH = Path(__file__).resolve().parent.parent / "data" / "rules_patterns.jsonl"
SPANS_KEY = "rules"
LABELS = ("ACTOR", "FIGURE", "LOCATION", "WEAPON", "ATTRIBUTION")
LOCATIVE = {"in", "inside", "into", "across", "throughout", "near", "outside", "from", "to", "with", "within",
            "at", "over", "towards", "toward", "of", "around", "through"}
# A generic ACTOR head directly followed by one of these nouns is a modifier, not an actor
# ("joint military operation", "opposition areas", "civil defense centers"): no POS tagger to tell.
NOT_BEFORE = {"operation", "operations", "activities", "activity", "escalation", "targets", "target", "offensive",
              "campaign", "campaigns", "action", "actions", "intervention", "areas", "area", "centers", "centres",
              "plans", "plan", "deaths", "casualties", "positions", "sources", "facilities", "vehicles", "convoy",
              "bases", "base", "observation", "court", "law", "laws", "assault", "strikes", "attacks", "control",
              "territory"}
PLATFORM_REACH = 12  # tokens after a platform in which a weapon makes it a WEAPON
_FLAT = str.maketrans({"\n": " ", "\r": " ", "\t": " ", "\u2028": " ", "\u2029": " ", "\x0b": " ", "\x0c": " "})


def load_patterns(path: str | Path = PATTERNS_PATH) -> list[dict]:
    """The span_ruler patterns (JSONL)."""
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


@functools.lru_cache(maxsize=1)
def nlp() -> Any:
    """The pipeline, built once per process."""
    import spacy

    pipeline = spacy.blank("en")
    pipeline.add_pipe("sentencizer")
    ruler = pipeline.add_pipe("span_ruler", config={"spans_key": SPANS_KEY, "phrase_matcher_attr": "LOWER"})
    ruler.add_patterns(load_patterns())
    return pipeline


def _trimmed(span):
    spec = span.id_
    if not spec.startswith("trim:"):
        return span
    _, a, b = spec.split(":")
    start, end = span.start + int(a), span.end - int(b)
    return span.doc[start:end] if end > start else None


def _platform_label(span, weapons_after: list[int]) -> tuple[int, int, str]:
    """WEAPON when a weapon starts within reach in the same sentence, else ACTOR (with its owner word)."""
    sent_end = span.sent.end
    for w in weapons_after:
        if span.end <= w < min(sent_end, span.end + PLATFORM_REACH):
            start = span.start + 1 if span.id_ == "owner" else span.start
            return start, span.end, "WEAPON"
    return span.start, span.end, "ACTOR"


def _country_label(span) -> str:
    doc = span.doc
    prev = doc[span.start - 1].lower_ if span.start > 0 else ""
    if prev in LOCATIVE:
        return "LOCATION"
    nxt = doc[span.end].text if span.end < len(doc) else ""
    if nxt in ("'s", "’s") and span.end + 1 < len(doc) and doc[span.end + 1].is_title:
        return "LOCATION"
    return "ACTOR"


def _inside_hyphenated(text: str, start: int, end: int) -> bool:
    """Does the span start or end inside a hyphenated word ("Idlib-based", also wrapped as "Idlib-\\nbased")?"""
    before = start >= 2 and text[start - 1] in "-‐" and text[start - 2].isalnum()
    rest = text[end + 1:end + 3].lstrip("\r\n")
    after = end < len(text) and text[end] in "-‐" and rest[:1].isalnum()
    return before or after


def extract(text: str) -> list[tuple[int, int, str]]:
    """Spans of the five labels in ``text``, flat and sorted."""
    from spacy.util import filter_spans

    doc = nlp()(text.translate(_FLAT))
    found = list(doc.spans[SPANS_KEY])
    weapons = sorted(s.start for s in found if s.label_ == "WEAPON")
    candidates = []
    for raw in found:
        span = _trimmed(raw)
        if span is None:
            continue
        if raw.label_ == "PLATFORM":
            start, end, label = _platform_label(raw, weapons)
        elif raw.label_ == "COUNTRY":
            start, end, label = span.start, span.end, _country_label(span)
        else:
            start, end, label = span.start, span.end, raw.label_
        if label not in LABELS:
            continue
        if label == "ACTOR" and end < len(doc) and doc[end - 1].is_lower and doc[end].lower_ in NOT_BEFORE:
            continue
        candidate = doc[start:end]
        if not candidate.text.strip() or _inside_hyphenated(text, candidate.start_char, candidate.end_char):
            continue
        candidates.append(doc.char_span(candidate.start_char, candidate.end_char, label=label))
    return sorted((s.start_char, s.end_char, s.label_) for s in filter_spans(candidates))
