"""Render a score report (the dict ``annotate.score.score`` returns) without a terminal.

``micro_rows`` / ``label_rows`` / ``compare_rows`` / ``slice_rows`` are the tables as plain rows
(the CLI turns them into rich tables, :func:`markdown` into GitHub Markdown), and
:func:`errors_html` is the reviewer's page: every missed, spurious, incorrect and partial span in
its sentence, coloured by label, grouped by document (modelled on spaCy's displaCy).
"""

from __future__ import annotations

import html
import re
from typing import Iterable, Iterator, Sequence

SCHEMES = ("strict", "exact", "partial", "type")
MICRO_HEADER = ("scheme", "P", "R", "F1", "95% CI", "COR", "INC", "PAR", "MIS", "SPU", "POS", "ACT")
COMPARE_HEADER = ("metric", "first", "second", "diff", "95% CI of diff", "first wins")


def _f(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _ci(ci: Sequence[float] | None) -> str:
    return "-" if not ci else f"{ci[0]:.3f}-{ci[1]:.3f}"


def micro_rows(report: dict) -> list[tuple[str, ...]]:
    """One row per scheme (and relations): P, R, F1, CI and the counts."""
    rows = []
    for scheme in SCHEMES:
        m = report["schemes"][scheme]["micro"]
        rows.append((scheme, _f(m["precision"]), _f(m["recall"]), _f(m["f1"]), _ci(m["ci"]),
                     *(str(m[k]) for k in ("correct", "incorrect", "partial", "missed", "spurious", "possible", "actual"))))
    rel = report.get("relations")
    if rel:
        m = rel["micro"]
        rows.append(("relations", _f(m["precision"]), _f(m["recall"]), _f(m["f1"]), _ci(m["ci"]),
                     str(m["correct"]), "-", "-", str(m["missed"]), str(m["spurious"]), str(m["possible"]),
                     str(m["actual"])))
    return rows


def label_header() -> tuple[str, ...]:
    return ("label", "POS", "ACT", "strict P", "strict R", "strict F1", "95% CI", "exact F1", "partial F1", "type F1")


def label_rows(report: dict) -> list[tuple[str, ...]]:
    """One row per label (strict P/R/F1 with its CI, F1 of the other schemes), then macro-F1."""
    schemes = report["schemes"]
    rows = []
    for label, s in schemes["strict"]["per_label"].items():
        rows.append((label, str(s["possible"]), str(s["actual"]), _f(s["precision"]), _f(s["recall"]), _f(s["f1"]),
                     _ci(s["ci"]), *(_f(schemes[x]["per_label"][label]["f1"]) for x in ("exact", "partial", "type"))))
    rows.append(("macro", "", "", "", "", _f(schemes["strict"]["macro_f1"]), _ci(schemes["strict"].get("macro_f1_ci")),
                 *(_f(schemes[x]["macro_f1"]) for x in ("exact", "partial", "type"))))
    rel = report.get("relations")
    for rtype, r in (rel or {}).get("per_type", {}).items():
        rows.append((rtype, str(r["possible"]), str(r["actual"]), _f(r["precision"]), _f(r["recall"]), _f(r["f1"]),
                     _ci(r["ci"]), "", "", ""))
    return rows


def compare_rows(report: dict) -> list[tuple[str, ...]]:
    cmp = report.get("compare")
    if not cmp:
        return []
    return [(name, _f(m["first"]), _f(m["second"]), f"{m['diff']:+.4f}", _ci(m["ci"]),
             "-" if m["first_wins"] is None else f"{m['first_wins']:.1%}") for name, m in cmp["metrics"].items()]


def slice_rows(report: dict) -> list[tuple[str, ...]]:
    rows = []
    for field_name, groups in (report.get("slices") or {}).items():
        for value, s in groups.items():
            rows.append((field_name, value, str(s["documents"]), _f(s["strict"]["precision"]),
                         _f(s["strict"]["recall"]), _f(s["strict"]["f1"]), _f(s["partial"]["f1"]), _f(s["type"]["f1"])))
    return rows


SLICE_HEADER = ("field", "value", "docs", "strict P", "strict R", "strict F1", "partial F1", "type F1")


def source_name(source: dict) -> str:
    return f"{source.get('kind')} {source.get('spec')}"


def _md_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    esc = lambda c: str(c).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """The report as GitHub Markdown (a CI step summary or a PR comment)."""
    gold = report["gold"]
    docs = report["documents"]
    gate = report.get("gate")
    status = "" if gate is None else (" — gate passed ✅" if gate["passed"] else " — gate FAILED ❌")
    parts = [f"### annotate score{status}",
             f"Gold `{gold.get('path')}`{' ' + gold['version'] if gold.get('version') else ''} · prediction "
             f"`{source_name(report['prediction'])}` · {docs['gold']} documents, {docs['gold_spans']} gold / "
             f"{docs['predicted_spans']} predicted spans"
             + (f" · {docs['missing_predictions']} documents without predictions" if docs["missing_predictions"] else "")
             + (f" · 95% CI from {docs['bootstrap']['resamples']} bootstrap resamples" if docs["bootstrap"]["resamples"] else ""),
             _md_table(MICRO_HEADER, micro_rows(report)),
             "#### Per label", _md_table(label_header(), label_rows(report))]
    if report.get("compare"):
        parts += [f"#### Compared with `{source_name(report['compare']['prediction'])}` (paired bootstrap)",
                  _md_table(COMPARE_HEADER, compare_rows(report))]
    if report.get("slices"):
        parts += ["#### Slices", _md_table(SLICE_HEADER, slice_rows(report))]
    if gate:
        parts.append("#### Gate")
        parts += [f"- ❌ {line}" for line in gate["failures"]] or ["All thresholds met."]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------- the error page

_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+|\n\s*\n")
CONTEXT = 300
KIND_TITLE = {"missed": "missed", "spurious": "spurious", "incorrect": "wrong label", "partial": "partial boundaries"}


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence (at most ``CONTEXT`` characters either side) around ``text[start:end]``."""
    lo = max(0, start - CONTEXT)
    s = lo
    for m in _SENTENCE_END.finditer(text, lo, start):
        s = m.end()
    hi = min(len(text), end + CONTEXT)
    m = _SENTENCE_END.search(text, end, hi)
    e = m.start() + 1 if m else hi
    return s, max(e, end)


def _marked(text: str, lo: int, hi: int, span: tuple[int, int, str] | None, colours: dict) -> str:
    if span is None:
        return html.escape(text[lo:hi])
    s, e, label = span
    colour = colours.get(label) or "#777777"
    return (html.escape(text[lo:s])
            + f'<mark style="background:{colour}26;border:2px solid {colour}">{html.escape(text[s:e])}'
              f'<span class="tag" style="background:{colour}">{html.escape(label)}</span></mark>'
            + html.escape(text[e:hi]))


_CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;max-width:60rem;margin:2rem auto;color:#222;padding:0 1rem}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
.item{margin:.6rem 0;padding:.4rem .6rem;border-left:4px solid #ccc;background:#fafafa}
.item.missed{border-color:#d62728}.item.spurious{border-color:#ff7f0e}.item.incorrect{border-color:#9467bd}.item.partial{border-color:#1f77b4}
.kind{font-weight:600;font-size:.8rem;text-transform:uppercase;letter-spacing:.05em;color:#555}
.line{line-height:2.4;margin:.1rem 0}.who{display:inline-block;width:3.2rem;color:#888;font-size:.8rem}
mark{padding:.15em .3em;border-radius:.35em;color:inherit}
.tag{color:#fff;font-size:.65rem;font-weight:700;margin-left:.4rem;padding:.1em .3em;border-radius:.25em;vertical-align:middle}
.legend span{display:inline-block;margin-right:.8rem}
"""


def errors_html(report: dict, errors: dict[int, list[tuple]], ids: Sequence[str],
                texts: Iterator[tuple[str, str]], label_names: Sequence[str], colours: dict) -> str:
    """The reviewer's page. ``errors`` maps a document index to (kind, gold, pred) items with
    spans as (start, end, label code); ``texts`` yields (id, text) for the gold documents."""
    strict = report["schemes"]["strict"]["micro"]
    counts = {k: sum(1 for items in errors.values() for it in items if it[0] == k) for k in KIND_TITLE}
    legend = "".join(f'<span><mark style="background:{colours.get(n) or "#777777"}26;border:2px solid '
                     f'{colours.get(n) or "#777777"}">{html.escape(n)}</mark></span>' for n in label_names)
    out = ["<!doctype html><html lang='en'><meta charset='utf-8'>",
           f"<title>annotate score: errors</title><style>{_CSS}</style><body>",
           f"<h1>Errors of {html.escape(source_name(report['prediction']))} against {html.escape(str(report['gold'].get('path')))}</h1>",
           f"<p>strict P {strict['precision']:.4f} · R {strict['recall']:.4f} · F1 {strict['f1']:.4f} — "
           + " · ".join(f"{n} {KIND_TITLE[k]}" for k, n in counts.items())
           + f" in {len(errors)} of {len(ids)} documents.</p>",
           f"<p class='legend'>{legend}</p>"]
    index = {doc_id: i for i, doc_id in enumerate(ids)}
    for doc_id, text in texts:
        items = errors.get(index.get(doc_id, -1))
        if not items:
            continue
        out.append(f"<h2 id='{html.escape(doc_id)}'>{html.escape(doc_id)} <small>({len(items)})</small></h2>")
        for kind, g, p in items:
            g = g and (g[0], g[1], label_names[g[2]])
            p = p and (p[0], p[1], label_names[p[2]])
            lo, hi = sentence_bounds(text, min(x[0] for x in (g, p) if x), max(x[1] for x in (g, p) if x))
            out.append(f"<div class='item {kind}'><div class='kind'>{KIND_TITLE[kind]}</div>")
            if g:
                out.append(f"<div class='line'><span class='who'>gold</span>{_marked(text, lo, hi, g, colours)}</div>")
            if p:
                out.append(f"<div class='line'><span class='who'>pred</span>{_marked(text, lo, hi, p, colours)}</div>")
            out.append("</div>")
    out.append("</body></html>\n")
    return "\n".join(out)
