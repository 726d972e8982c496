"""Merge annotators into a gold candidate (``annotate adjudicate``); nothing is dropped silently.

Per document, over the annotators who labelled it (confirmed lines by default):

1. A span (same start, end, label) given by at least ``min_agree`` annotators ("all" = every one of
   them) is **accepted** (source ``agreed``).
2. The other spans are grouped into **conflicts** by overlapping region; a conflict's id is
   ``DOC:START-END`` (the region), stable across reruns on the same data. Its options are the
   distinct spans proposed there, numbered 1..n, with who proposed each.
3. A decisions file (JSONL) resolves conflicts, one line each::

       {"conflict": "DOC:0-22", "action": "accept", "options": [1]}          # keep option 1, reject the rest
       {"conflict": "DOC:0-22", "action": "accept", "spans": [{"start": 0, "end": 22, "label": "FIGURE"}]}
       {"conflict": "DOC:0-22", "action": "reject"}                          # reject every option
       {"conflict": "DOC:rel:0-22>59-63:REPORTED_BY", "action": "accept"}    # a relation conflict

   optional keys: ``by`` (the adjudicator), ``note``, and on a span decision ``relations``
   [{"from": SPAN, "to": SPAN, "label": ...}] (SPAN = {start, end, label}, both accepted) to draw
   relations no annotator drew, e.g. onto the adjudicator's own span. Accepted spans and relations
   get source ``decision``.
4. Relations: accepted when both endpoints are accepted and ``min_agree`` annotators gave it;
   rejected when an endpoint was rejected; a relation conflict (decided like a span conflict) when
   the endpoints are accepted but too few annotators gave it; open while an endpoint is open.

Every input span and relation (counted per annotator) ends accepted, rejected or open;
``accounting`` gives the counts and they add up. Open conflicts are listed in each gold
record's ``meta.open_conflicts``: ``annotate export`` refuses them unless told otherwise.
(The Doccano adjudication-project round trip is not implemented: decisions come from a file.)
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

from .errors import InputError
from .gold import iter_snapshot, overlap_regions, span_key
from .jsonl import atomic_open, dumps, iter_jsonl, write_jsonl
from .schema import load_labels

ACTIONS = ("accept", "reject", "open")


def read_decisions(path: str | Path) -> dict[str, dict]:
    """Decisions by conflict id (a later line for the same conflict is an error)."""
    out: dict[str, dict] = {}
    for lineno, d in iter_jsonl(path):
        if not isinstance(d, dict) or not isinstance(d.get("conflict"), str) or d.get("action") not in ACTIONS:
            raise InputError.at(path, lineno, 'expected {"conflict": ID, "action": "accept"|"reject"|"open", ...}')
        if d["conflict"] in out:
            raise InputError.at(path, lineno, f"conflict {d['conflict']} decided twice (first on line {out[d['conflict']]['_line']})")
        opts, spans = d.get("options", []), d.get("spans", [])
        if not (isinstance(opts, list) and all(isinstance(o, int) for o in opts)):
            raise InputError.at(path, lineno, "options must be a list of option numbers")
        if not (isinstance(spans, list) and all(isinstance(s, dict) and isinstance(s.get("start"), int)
                                                and isinstance(s.get("end"), int) and isinstance(s.get("label"), str)
                                                for s in spans)):
            raise InputError.at(path, lineno, "spans must be a list of {start, end, label}")
        rels = d.get("relations", [])
        if not (isinstance(rels, list) and all(
                isinstance(r, dict) and isinstance(r.get("label"), str)
                and all(isinstance(r.get(k), dict) and isinstance(r[k].get("start"), int) and isinstance(r[k].get("end"), int)
                        and isinstance(r[k].get("label"), str) for k in ("from", "to")) for r in rels)):
            raise InputError.at(path, lineno, "relations must be a list of {from: SPAN, to: SPAN, label} "
                                "with SPAN = {start, end, label}")
        if rels and (d["action"] != "accept" or ":rel:" in d["conflict"]):
            raise InputError.at(path, lineno, "relations can only be drawn by an accept decision on a span conflict")
        if d["action"] == "accept" and not opts and not spans and ":rel:" not in d["conflict"]:
            raise InputError.at(path, lineno, "accept needs options or spans (or use reject)")
        out[d["conflict"]] = {**d, "_line": lineno, "_file": str(path)}
    return out


def _rel_id(doc_id: str, key: tuple) -> str:
    (fs, fe, _), (ts, te, _), label = key
    return f"{doc_id}:rel:{fs}-{fe}>{ts}-{te}:{label}"


def _adjudicate_doc(doc: dict, need_all: bool, min_agree: int, decisions: dict[str, dict],
                    labels: tuple[str, ...], acct: Counter, used: set[str]) -> tuple[dict, list[dict]]:
    text, doc_id = doc["text"], doc["id"]
    names = sorted(doc["by"])
    need = len(names) if need_all else min_agree
    votes: dict[tuple, set[str]] = {}
    instances: Counter = Counter()
    for a in names:
        for s in doc["by"][a]["spans"]:
            votes.setdefault(span_key(s), set()).add(a)
            instances[span_key(s)] += 1
    status: dict[tuple, str] = {}            # key -> agreed | decision | rejected | open
    final: dict[tuple, dict] = {}            # accepted key -> gold span
    for k, who in votes.items():
        if len(who) >= need:
            status[k] = "agreed"
            final[k] = {"start": k[0], "end": k[1], "label": k[2], "annotators": sorted(who), "source": "agreed"}
    conflicts = []
    rest = [{"start": k[0], "end": k[1], "label": k[2]} for k in votes if k not in status]
    for region in overlap_regions(rest):
        start, end = min(s["start"] for s in region), max(s["end"] for s in region)
        cid = f"{doc_id}:{start}-{end}"
        options = [{"option": i, "start": k[0], "end": k[1], "label": k[2], "text": text[k[0]:k[1]],
                    "annotators": sorted(votes[k])} for i, k in enumerate(sorted(span_key(s) for s in region), 1)]
        nearby = [{"start": k[0], "end": k[1], "label": k[2], "text": text[k[0]:k[1]]}
                  for k in sorted(final) if k[0] < end and start < k[1]]
        conflict = {"id": cid, "kind": "span", "doc": doc_id, "start": start, "end": end, "text": text[start:end],
                    "annotators": names, "min_agree": need, "options": options,
                    "silent": [a for a in names if not any(a in o["annotators"] for o in options)],
                    "accepted_nearby": nearby, "status": "open", "decision": None}
        d = decisions.get(cid)
        for o in options:
            status[(o["start"], o["end"], o["label"])] = "open"
        if d is not None and d["action"] != "open":
            used.add(cid)
            keep = set(d.get("options") or []) if d["action"] == "accept" else set()
            bad = keep - {o["option"] for o in options}
            if bad:
                raise InputError.at(d["_file"], d["_line"], f"{cid} has options 1-{len(options)}, not {sorted(bad)}")
            for o in options:
                k = (o["start"], o["end"], o["label"])
                if o["option"] in keep:
                    status[k] = "decision"
                    final[k] = {"start": k[0], "end": k[1], "label": k[2], "annotators": o["annotators"],
                                "source": "decision", "conflict": cid}
                else:
                    status[k] = "rejected"
            for s in d.get("spans") or [] if d["action"] == "accept" else []:
                k = span_key(s)
                if not 0 <= k[0] < k[1] <= len(text) or k[2] not in labels:
                    raise InputError.at(d["_file"], d["_line"], f"{cid}: span {s} is outside the text or has an unknown label")
                if k not in final:
                    final[k] = {"start": k[0], "end": k[1], "label": k[2], "annotators": sorted(votes.get(k, ())),
                                "source": "decision", "conflict": cid}
                    if k in votes:
                        status[k] = "decision"
                    else:
                        acct["spans_added_by_decision"] += 1
            conflict.update(status="resolved", decision={k: v for k, v in d.items() if not k.startswith("_")})
        elif d is not None:
            used.add(cid)
        conflicts.append(conflict)
    for k, st in status.items():
        acct[f"spans_{st}"] += instances[k]
    acct["spans_in"] += sum(instances.values())

    # Relations, keyed by (head key, tail key, label).
    rvotes: dict[tuple, set[str]] = {}
    rinst: Counter = Counter()
    for a in names:
        by_id = {s["id"]: span_key(s) for s in doc["by"][a]["spans"]}
        for r in doc["by"][a]["relations"]:
            key = (by_id[r["from"]], by_id[r["to"]], r["label"])
            rvotes.setdefault(key, set()).add(a)
            rinst[key] += 1
    relations = []
    for key in sorted(rvotes):
        if key[0] in final and key[1] in final:
            rid = _rel_id(doc_id, key)
            if len(rvotes[key]) >= need:
                st = "agreed"
            else:
                d = decisions.get(rid)
                st = "open"
                if d is not None:
                    used.add(rid)
                    st = {"accept": "decision", "reject": "rejected", "open": "open"}[d["action"]]
                conflicts.append({"id": rid, "kind": "relation", "doc": doc_id, "label": key[2],
                                  "from": _ref(key[0], text), "to": _ref(key[1], text), "annotators": names,
                                  "min_agree": need, "proposed_by": sorted(rvotes[key]),
                                  "status": "open" if st == "open" else "resolved",
                                  "decision": {k: v for k, v in d.items() if not k.startswith("_")} if d and st != "open" else None})
            if st in ("agreed", "decision"):
                relations.append({"from": key[0], "to": key[1], "label": key[2], "annotators": sorted(rvotes[key]),
                                  "source": st})
        elif "rejected" in (status[key[0]], status[key[1]]):
            st = "rejected"
        else:
            st = "open"
            blocked = [c["id"] for c in conflicts if c["kind"] == "span" and c["status"] == "open"
                       and any(k[0] < c["end"] and c["start"] < k[1] for k in key[:2])]
            conflicts.append({"id": _rel_id(doc_id, key), "kind": "relation", "doc": doc_id, "label": key[2],
                              "from": _ref(key[0], text), "to": _ref(key[1], text), "annotators": names,
                              "min_agree": need, "proposed_by": sorted(rvotes[key]), "status": "open",
                              "blocked_by": blocked, "decision": None})
        acct[f"relations_{st}"] += rinst[key]
    acct["relations_in"] += sum(rinst.values())
    have = {(r["from"], r["to"], r["label"]) for r in relations}
    for cid in sorted(c["id"] for c in conflicts if c["kind"] == "span" and c["status"] == "resolved"):
        d = decisions[cid]
        for r in d.get("relations") or []:
            key = (span_key(r["from"]), span_key(r["to"]), r["label"])
            if key[0] not in final or key[1] not in final:
                raise InputError.at(d["_file"], d["_line"], f"{cid}: relation {r['label']} refers to a span that is "
                                    "not accepted in this document")
            if key not in have:
                have.add(key)
                relations.append({"from": key[0], "to": key[1], "label": key[2], "annotators": [],
                                  "source": "decision", "conflict": cid})
                acct["relations_added_by_decision"] += 1

    spans = sorted(final.values(), key=span_key)
    ids = {span_key(s): i for i, s in enumerate(spans, 1)}
    record = {"id": doc_id, "text": text,
              "spans": [{"id": ids[span_key(s)], **s} for s in spans],
              "relations": [{**r, "from": ids[r["from"]], "to": ids[r["to"]]} for r in relations],
              "meta": {"annotators": names, "min_agree": need,
                       "open_conflicts": [c["id"] for c in conflicts if c["status"] == "open"]}}
    return record, conflicts


def _ref(key: tuple, text: str) -> dict:
    return {"start": key[0], "end": key[1], "label": key[2], "text": text[key[0]:key[1]]}


def adjudicate(snapshot: str | Path, documents: str | Path | None = None, *, min_agree: str | int = "all",
               decisions: str | Path | None = None, out: str | Path | None = None,
               conflicts_out: str | Path | None = None, confirmed_only: bool = True) -> dict:
    """Adjudicate a pull snapshot (see the module docstring).

    Writes the gold candidate (``out``, streaming) and every conflict, open or resolved
    (``conflicts_out``), as JSONL, atomically: both or neither. Returns the conflicts, the
    accounting, unused decisions, and the records themselves only when ``out`` is not given.
    """
    if min_agree != "all":
        try:
            min_agree = int(min_agree)
        except (TypeError, ValueError):
            raise InputError(f"--min-agree must be 'all' or a number >= 1, not {min_agree!r}") from None
        if min_agree < 1:
            raise InputError(f"--min-agree must be 'all' or a number >= 1, not {min_agree}")
    labels = load_labels().labels
    decided = read_decisions(decisions) if decisions else {}
    acct: Counter = Counter()
    used: set[str] = set()
    stats: dict = {}
    records: list[dict] | None = [] if out is None else None
    conflicts: list[dict] = []
    n_docs = 0
    with contextlib.ExitStack() as stack:
        fh = stack.enter_context(atomic_open(out)) if out is not None else None
        for doc in iter_snapshot(snapshot, documents, confirmed_only=confirmed_only, stats=stats):
            rec, cs = _adjudicate_doc(doc, min_agree == "all", 0 if min_agree == "all" else min_agree,
                                      decided, labels, acct, used)
            rec["meta"]["snapshot"] = Path(snapshot).name
            n_docs += 1
            if fh is not None:
                fh.write(dumps(rec) + "\n")
            else:
                records.append(rec)
            conflicts.extend(cs)
        accounting = _accounting(acct, stats)
        if conflicts_out is not None:
            write_jsonl(conflicts_out, conflicts)
    open_ = [c["id"] for c in conflicts if c["status"] == "open"]
    return {"documents": n_docs, "min_agree": min_agree, "confirmed_only": confirmed_only,
            "accounting": accounting, "conflicts": conflicts, "open_conflicts": open_,
            "resolved_conflicts": sum(1 for c in conflicts if c["status"] == "resolved"),
            "unused_decisions": sorted(set(decided) - used), "records": records,
            "out": str(out) if out else None, "conflicts_out": str(conflicts_out) if conflicts_out else None}


def _accounting(acct: Counter, stats: dict) -> dict[str, Any]:
    spans = {k: acct[f"spans_{k}"] for k in ("in", "agreed", "decision", "rejected", "open")}
    rels = {k: acct[f"relations_{k}"] for k in ("in", "agreed", "decision", "rejected", "open")}
    for name, d in (("spans", spans), ("relations", rels)):
        total = d["agreed"] + d["decision"] + d["rejected"] + d["open"]
        if total != d["in"]:  # an internal invariant: every input instance ends somewhere
            raise AssertionError(f"{name} accounting does not add up: {d}")
    spans["added_by_decision"] = acct["spans_added_by_decision"]
    rels["added_by_decision"] = acct["relations_added_by_decision"]
    return {"spans": spans, "relations": rels,
            "excluded_unconfirmed": {"lines": stats.get("unconfirmed_lines", 0),
                                     "spans": stats.get("unconfirmed_spans", 0),
                                     "relations": stats.get("unconfirmed_relations", 0)}}
