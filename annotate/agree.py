"""Inter-annotator agreement on a pull snapshot (``annotate agree``), INCEpTION-style: pairwise, per label.

For every pair of annotators, over the documents both annotated (confirmed ones by default):

* **strict F1**: spans match when start, end and label are identical. F1 = 2·|A∩B| / (|A|+|B|),
  symmetric, so it does not matter which annotator plays "gold".
* **overlap F1**: a span of A is matched when B has a span of the same label overlapping it by at
  least one character (and vice versa); P = matched B / |B|, R = matched A / |A|, F1 = 2PR/(P+R).
* **Cohen's kappa on tokens**: texts are tokenized with spaCy's blank English tokenizer;
  whitespace tokens are left out (they would inflate agreement on O). A token's label is the label
  of the span overlapping it, or ``O``. Where an annotator's spans overlap (nested or crossing),
  the token takes the label of the outermost span: the one starting first, then the longest
  (then alphabetical label); such tokens are counted in ``tokens_in_overlaps``. kappa =
  (p_o − p_e) / (1 − p_e) with p_e from each annotator's own label distribution; per label it is
  the binary kappa "this label vs anything else". Undefined (p_e = 1) is reported as null.
* **relations**: strict F1 on (head span, tail span, label), spans compared by (start, end, label).
* **Krippendorff's alpha** (nominal) on the same token labels, over all annotators at once (INCEpTION
  offers it beside Cohen's kappa): any number of annotators, each document coded by those who
  labelled it; overall and per label (binary). In ``overall["alpha"]``.

``overall`` averages each figure over the pairs (macro); per-label averages skip pairs where the
figure is undefined. The disagreement list gives each overlapping region where the annotators'
spans differ: document, text, and who said what.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from itertools import combinations
from pathlib import Path
from typing import Any

from .gold import iter_snapshot, overlap_regions, span_key
from .jsonl import write_json
from .schema import load_labels

O = "O"


def _f1(tp: int, n_a: int, n_b: int) -> float | None:
    return None if n_a + n_b == 0 else 2 * tp / (n_a + n_b)


def _overlap_f1(a: list[tuple], b: list[tuple]) -> tuple[float | None, int, int]:
    """Overlap F1 between two lists of (start, end) of one label; also matched counts."""
    if not a and not b:
        return None, 0, 0
    matched_a = sum(1 for s in a if any(x < s[1] and s[0] < y for x, y in b))
    matched_b = sum(1 for s in b if any(x < s[1] and s[0] < y for x, y in a))
    p = matched_b / len(b) if b else 0.0
    r = matched_a / len(a) if a else 0.0
    return (0.0 if p + r == 0 else 2 * p * r / (p + r)), matched_a, matched_b


def kappa_from_confusion(confusion: Counter) -> float | None:
    """Cohen's kappa from counts of (label by A, label by B) pairs (None when undefined: p_e = 1)."""
    n = sum(confusion.values())
    if n == 0:
        return None
    po = sum(c for (x, y), c in confusion.items() if x == y) / n
    rows: Counter = Counter()
    cols: Counter = Counter()
    for (x, y), c in confusion.items():
        rows[x] += c
        cols[y] += c
    pe = sum(rows[k] * cols.get(k, 0) for k in rows) / (n * n)
    if pe >= 1.0:
        return None
    return (po - pe) / (1 - pe)


def kappa(x: list, y: list) -> float | None:
    """Cohen's kappa of two equally long label sequences (None when undefined: p_e = 1)."""
    return kappa_from_confusion(Counter(zip(x, y)))


def _coincide(o: Counter, per_label: dict[str, Counter], sequences: list[list[str]], labels: tuple[str, ...]) -> None:
    """Add one document's tokens to Krippendorff's coincidence matrices (every annotator of the
    document codes every token): each pair of values from different annotators adds 1/(m-1)."""
    m = len(sequences)
    if m < 2:
        return
    w = 1 / (m - 1)
    uniform: Counter = Counter()                  # tokens all annotators coded alike: the bulk, added at once
    for values in zip(*sequences):
        if values.count(values[0]) == m:
            uniform[values[0]] += m
            continue
        counts = Counter(values)
        for c, nc in counts.items():
            for k, nk in counts.items():
                o[(c, k)] += w * nc * (nk - (c == k))
        for lab in labels:
            n1 = counts.get(lab, 0)
            if n1 == 0:
                per_label[lab][(False, False)] += w * m * (m - 1)
                continue
            n0 = m - n1
            per_label[lab][(True, True)] += w * n1 * (n1 - 1)
            per_label[lab][(False, False)] += w * n0 * (n0 - 1)
            per_label[lab][(True, False)] += w * n1 * n0
            per_label[lab][(False, True)] += w * n1 * n0
    for v, weight in uniform.items():             # m(m-1) ordered pairs of equal values, each weighing 1/(m-1)
        o[(v, v)] += weight
        for lab in labels:
            per_label[lab][(v == lab, v == lab)] += weight


def alpha_from_coincidence(o: Counter) -> float | None:
    """Krippendorff's alpha (nominal) from a coincidence matrix: 1 - (n-1)·Σ_{c≠k} o_ck / Σ_{c≠k} n_c·n_k
    (None when undefined: a single value throughout)."""
    n_c: Counter = Counter()
    for (c, _), v in o.items():
        n_c[c] += v
    n = sum(n_c.values())
    expected = n * n - sum(v * v for v in n_c.values())
    if n <= 1 or expected <= 0:
        return None
    observed = sum(v for (c, k), v in o.items() if c != k)
    return 1 - (n - 1) * observed / expected


def _binary(confusion: Counter, label: str) -> Counter:
    out: Counter = Counter()
    for (x, y), c in confusion.items():
        out[(x == label, y == label)] += c
    return out


def token_labels(tokens: list[tuple[int, int]], spans: list[dict]) -> tuple[list[str], int]:
    """The label of each token (outermost overlapping span, else O) and how many tokens had a choice."""
    labels = [O] * len(tokens)
    chosen: list[tuple | None] = [None] * len(tokens)
    conflicted = set()
    starts = [t[0] for t in tokens]
    ends = [t[1] for t in tokens]
    for s in spans:
        rank = (s["start"], -s["end"], s["label"])
        lo = bisect_right(ends, s["start"])          # first token ending after the span start
        hi = bisect_left(starts, s["end"])           # tokens starting before the span end
        for i in range(lo, hi):
            if chosen[i] is None or rank < chosen[i]:
                if chosen[i] is not None and chosen[i][2] != s["label"]:
                    conflicted.add(i)
                chosen[i] = rank
                labels[i] = s["label"]
            elif chosen[i][2] != s["label"]:
                conflicted.add(i)
    return labels, len(conflicted)


def _rel_keys(line: dict) -> set:
    by_id = {s["id"]: span_key(s) for s in line["spans"]}
    return {(by_id[r["from"]], by_id[r["to"]], r["label"]) for r in line["relations"]}


def _describe(spans: list[dict], text: str) -> list[dict]:
    return [{"start": s["start"], "end": s["end"], "label": s["label"], "text": text[s["start"]:s["end"]]}
            for s in sorted(spans, key=span_key)]


def disagreements(doc: dict) -> list[dict]:
    """Regions of one document where the annotators' span sets differ (who said what)."""
    annotators = sorted(doc["by"])
    text = doc["text"]
    tagged = [{**s, "_who": a} for a in annotators for s in doc["by"][a]["spans"]]
    out = []
    for region in overlap_regions(tagged):
        by = {a: sorted({span_key(s) for s in region if s["_who"] == a}) for a in annotators}
        if len({tuple(v) for v in by.values()}) == 1:
            continue
        start, end = min(s["start"] for s in region), max(s["end"] for s in region)
        if any(not v for v in by.values()):
            kind = "missing"
        elif len({tuple((k[0], k[1]) for k in v) for v in by.values()}) == 1:
            kind = "label"
        else:
            kind = "boundary"
        out.append({"doc": doc["id"], "start": start, "end": end, "text": text[start:end], "kind": kind,
                    "by": {a: _describe([s for s in region if s["_who"] == a], text) for a in annotators}})
    return out


def agree(snapshot: str | Path, documents: str | Path | None = None, *, confirmed_only: bool = True,
          json_out: str | Path | None = None) -> dict:
    """Pairwise agreement of a snapshot's annotators (see the module docstring); optionally written as JSON."""
    import spacy

    labels = load_labels().labels
    nlp = spacy.blank("en")
    stats: dict = {}
    # pair -> accumulated counts
    acc: dict[tuple[str, str], dict] = {}
    coincidence: Counter = Counter()                       # Krippendorff's coincidence matrix, all annotators
    per_label_coincidence: dict[str, Counter] = {lab: Counter() for lab in labels}
    disagree: list[dict] = []
    annotators: set[str] = set()
    n_docs = 0
    for doc in iter_snapshot(snapshot, documents, confirmed_only=confirmed_only, stats=stats):
        n_docs += 1
        names = sorted(doc["by"])
        annotators.update(names)
        disagree.extend(disagreements(doc))
        if len(names) < 2:
            continue
        tokens = [(t.idx, t.idx + len(t.text)) for t in nlp.make_doc(doc["text"]) if not t.is_space]
        tok_labels = {a: token_labels(tokens, doc["by"][a]["spans"]) for a in names}
        _coincide(coincidence, per_label_coincidence, [tok_labels[a][0] for a in names], labels)
        for a, b in combinations(names, 2):
            c = acc.setdefault((a, b), {"documents": 0, "confusion": Counter(), "in_overlaps": 0,
                                        "labels": {lab: Counter() for lab in labels}, "relations": Counter()})
            _count_pair(c, doc["by"][a], doc["by"][b], tok_labels[a], tok_labels[b], labels)
    pairs = [_pair_figures(a, b, c, labels) for (a, b), c in sorted(acc.items())]
    result = {
        "snapshot": str(snapshot), "confirmed_only": confirmed_only, "documents": n_docs,
        "annotators": sorted(annotators),
        "excluded_unconfirmed": {k: stats.get(k, 0) for k in ("unconfirmed_lines", "unconfirmed_spans")},
        "tokenization": "spacy.blank('en'), whitespace tokens left out; overlapping spans: outermost wins",
        "overall": _overall(pairs, labels), "pairs": pairs, "disagreements": disagree,
    }
    result["overall"]["alpha"] = alpha_from_coincidence(coincidence)
    for lab in labels:
        result["overall"]["per_label"][lab]["alpha"] = alpha_from_coincidence(per_label_coincidence[lab])
    if json_out is not None:
        write_json(json_out, result)
    return result


def _count_pair(c: dict, line_a: dict, line_b: dict, tok_a: tuple, tok_b: tuple, labels: tuple[str, ...]) -> None:
    """Add one document's counts to a pair's running totals (memory stays flat over the snapshot)."""
    c["documents"] += 1
    c["confusion"].update(zip(tok_a[0], tok_b[0]))
    c["in_overlaps"] += tok_a[1] + tok_b[1]
    for lab in labels:
        sa = {(s["start"], s["end"]) for s in line_a["spans"] if s["label"] == lab}
        sb = {(s["start"], s["end"]) for s in line_b["spans"] if s["label"] == lab}
        if not sa and not sb:
            continue
        _, ma, mb = _overlap_f1(sorted(sa), sorted(sb))
        c["labels"][lab].update(tp=len(sa & sb), n_a=len(sa), n_b=len(sb), ma=ma, mb=mb)
    ra, rb = _rel_keys(line_a), _rel_keys(line_b)
    c["relations"].update(tp=len(ra & rb), n_a=len(ra), n_b=len(rb))


def _overlap_from(t: Counter) -> float | None:
    if t["n_a"] + t["n_b"] == 0:
        return None
    p = t["mb"] / t["n_b"] if t["n_b"] else 0.0
    r = t["ma"] / t["n_a"] if t["n_a"] else 0.0
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _pair_figures(a: str, b: str, c: dict, labels: tuple[str, ...]) -> dict:
    per_label: dict[str, dict] = {}
    tot: Counter = Counter()
    for lab in labels:
        t = c["labels"][lab]
        per_label[lab] = {"a": t["n_a"], "b": t["n_b"], "both": t["tp"], "strict_f1": _f1(t["tp"], t["n_a"], t["n_b"]),
                          "overlap_f1": _overlap_from(t), "kappa": kappa_from_confusion(_binary(c["confusion"], lab))}
        tot.update(t)
    r = c["relations"]
    return {"a": a, "b": b, "documents": c["documents"], "tokens": sum(c["confusion"].values()),
            "tokens_in_overlaps": c["in_overlaps"],
            "strict_f1": _f1(tot["tp"], tot["n_a"], tot["n_b"]), "overlap_f1": _overlap_from(tot),
            "kappa": kappa_from_confusion(c["confusion"]), "relations_f1": _f1(r["tp"], r["n_a"], r["n_b"]),
            "per_label": per_label}


def _mean(values: list[Any]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def _overall(pairs: list[dict], labels: tuple[str, ...]) -> dict:
    out: dict[str, Any] = {"pairs": len(pairs)}
    for key in ("strict_f1", "overlap_f1", "kappa", "relations_f1"):
        out[key] = _mean([p[key] for p in pairs])
    out["per_label"] = {lab: {key: _mean([p["per_label"][lab][key] for p in pairs])
                              for key in ("strict_f1", "overlap_f1", "kappa")} for lab in labels}
    return out
