"""Benchmark: `annotate.score` against nervaluate 1.2.1, spaCy's Scorer.score_spans and a plain set count.

Synthetic corpus (seeded): N documents (default 100,000) of 120 four-letter tokens, ~20 gold spans
each (a few nested in another gold span) and ~21 predicted spans listed in shuffled order: exact,
shifted by a token, relabelled, shifted and relabelled, missed, nested inside a gold span, touching
a gold span (end == start, no space between), spurious.

Each system runs in its own subprocess (so peak memory is its own) on the same data:
* ours: all four schemes + per label (`score_spans`), then again with 1,000 bootstrap resamples;
* set: a plain set-based strict count (what a user writes by hand);
* nervaluate: `Evaluator(true, pred, tags, loader="dict").evaluate()`, ends converted to inclusive;
* spacy: `Scorer.score_spans` on `doc.spans["sc"]` with `allow_overlap=True` (Docs built from words).

Prints a table and writes scripts/results/bench_score.json (seconds, peak RSS, ratios, strict numbers).

Why nervaluate's strict F1 differs from ours (``nervaluate_disagreement`` in the JSON, worker
``nervaluate_explain``, not timed): nervaluate 1.2.1's StrictEvaluation walks the predictions in the
order given and lets a prediction that merely overlaps a gold span claim it (as "incorrect") before
the exact prediction of that span comes; the exact one then finds its gold span taken and counts as
spurious. The script shows it three ways on the same data: (1) nervaluate on the same predictions
sorted exact-first (only the order changes) gives our strict, exact and partial F1; (2) the number
of such "steals" counted independently (a non-exact prediction overlapping a gold span listed
before that span's exact prediction) equals the drop in nervaluate's correct count; (3) nervaluate's
inclusive ends: fed our exclusive ends unconverted, touching spans ([a, b) and [b, c)) overlap and
strict F1 drops further (on the first documents only, to save time).

    python scripts/bench_score.py                 # 100,000 documents, all systems (~6 minutes, several GB)
    python scripts/bench_score.py --docs 10000    # quicker
    python scripts/bench_score.py --only ours,set
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "scripts" / "results" / "bench_score.json"
LABELS = ["ACTOR", "FIGURE", "LOCATION", "WEAPON", "ATTRIBUTION"]
TOKENS, WORD, SLOTS = 120, 4, 20
SYSTEMS = ("ours", "set", "nervaluate", "spacy", "nervaluate_explain")


# ---------------------------------------------------------------- data

def make_corpus(n_docs: int, seed: int):
    """Per document: the spaces after each token, gold spans and predicted spans (char offsets, end exclusive)."""
    rng = random.Random(seed)
    spaces_all, gold_all, pred_all, kinds = [], [], [], Counter()
    slot = TOKENS // SLOTS
    for _ in range(n_docs):
        spaces = [True] * TOKENS
        offsets, at = [], 0
        gold_tok, pred_tok = [], []
        for k in range(SLOTS):
            a = k * slot + rng.randrange(0, 2)
            b = a + rng.randint(1, 3)
            label = rng.choice(LABELS)
            gold_tok.append((a, b, label))
            if rng.random() < 0.02 and b - a > 1:  # a gold span nested in this one
                gold_tok.append((a + 1, b, rng.choice(LABELS)))
                kinds["gold_nested"] += 1
            r = rng.random()
            other = rng.choice([x for x in LABELS if x != label])
            if r < 0.62:
                pred_tok.append((a, b, label)); kinds["exact"] += 1
            elif r < 0.70:
                pred_tok.append((a, b + 1, label) if rng.random() < 0.5 else (a + 1, b + 1, label)); kinds["shifted"] += 1
            elif r < 0.77:
                pred_tok.append((a, b, other)); kinds["relabelled"] += 1
            elif r < 0.81:
                pred_tok.append((a, b + 1, other)); kinds["shifted_relabelled"] += 1
            elif r < 0.91:
                kinds["missed"] += 1
            elif r < 0.96:
                # a second prediction nested in the gold span (or, for one token, around it)
                pred_tok += [(a, b, label), (a, a + 1, label) if b - a > 1 else (a, b + 1, label)]
                kinds["nested"] += 1
            else:  # touching: no space between the span's last token and the next, a prediction there
                spaces[b - 1] = False
                pred_tok += [(a, b, label), (b, b + 1, label)]; kinds["touching"] += 1
        for _ in range(rng.choice((0, 1, 1, 2))):  # spurious, in the gap at the end of a slot
            k = rng.randrange(SLOTS)
            if all(t[1] <= k * slot + 5 or t[0] >= k * slot + 6 for t in pred_tok):  # no duplicates
                pred_tok.append((k * slot + 5, k * slot + 6, rng.choice(LABELS))); kinds["spurious"] += 1
        for i in range(TOKENS):
            offsets.append(at)
            at += WORD + (1 if spaces[i] else 0)
        to_chars = lambda t: {"start": offsets[t[0]], "end": offsets[t[1] - 1] + WORD, "label": t[2]}  # noqa: E731
        rng.shuffle(pred_tok)
        spaces_all.append(spaces)
        gold_all.append([to_chars(t) for t in gold_tok])
        pred_all.append([to_chars(t) for t in pred_tok])
    return spaces_all, gold_all, pred_all, kinds


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prf(tp: float, n_pred: float, n_gold: float) -> dict:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return {"precision": round(p, 6), "recall": round(r, 6), "f1": round(2 * p * r / (p + r) if p + r else 0.0, 6)}


# ---------------------------------------------------------------- workers (one per subprocess)

def run_ours(spaces, gold, pred) -> dict:
    sys.path.insert(0, str(ROOT))
    from annotate.score import score_spans

    t, c = time.perf_counter(), time.process_time()
    report = score_spans(gold, pred, bootstrap=0)
    schemes_s, schemes_cpu = time.perf_counter() - t, time.process_time() - c
    mem_schemes = peak_mb()
    t, c = time.perf_counter(), time.process_time()
    with_ci = score_spans(gold, pred, bootstrap=1000, seed=0)
    full_s, full_cpu = time.perf_counter() - t, time.process_time() - c
    strict = report["schemes"]["strict"]["micro"]
    assert with_ci["schemes"]["strict"]["micro"]["f1"] == strict["f1"]
    return {"seconds": round(schemes_s, 3), "cpu_seconds": round(schemes_cpu, 3),
            "seconds_with_bootstrap_1000": round(full_s, 3), "bootstrap_1000_seconds": round(full_s - schemes_s, 3),
            "bootstrap_1000_cpu_seconds": round(full_cpu - schemes_cpu, 3), "peak_rss_mb_schemes": round(mem_schemes),
            "strict": {k: strict[k] for k in ("precision", "recall", "f1")},
            "strict_ci": with_ci["schemes"]["strict"]["micro"]["ci"],
            "micro_f1": {s: report["schemes"][s]["micro"]["f1"] for s in report["schemes"]}}


def run_set(spaces, gold, pred) -> dict:
    t = time.perf_counter()
    g = {(i, s["start"], s["end"], s["label"]) for i, spans in enumerate(gold) for s in spans}
    p = {(i, s["start"], s["end"], s["label"]) for i, spans in enumerate(pred) for s in spans}
    n_gold = sum(len(spans) for spans in gold)
    n_pred = sum(len(spans) for spans in pred)
    tp = len(g & p)
    seconds = time.perf_counter() - t
    # the set collapses duplicates: count them so the comparison with one-to-one matching is exact
    dup = n_pred - len(p)
    return {"seconds": round(seconds, 3), "strict": prf(tp, n_pred, n_gold), "duplicate_predictions": dup,
            "gold_duplicates": n_gold - len(g)}


def run_nervaluate(spaces, gold, pred) -> dict:
    from nervaluate import Evaluator

    t = time.perf_counter()
    true = [[{"label": s["label"], "start": s["start"], "end": s["end"] - 1} for s in spans] for spans in gold]
    guess = [[{"label": s["label"], "start": s["start"], "end": s["end"] - 1} for s in spans] for spans in pred]
    convert_s = time.perf_counter() - t
    t = time.perf_counter()
    results = Evaluator(true, guess, tags=LABELS, loader="dict").evaluate()
    seconds = time.perf_counter() - t
    strict = results["overall"]["strict"]
    return {"seconds": round(seconds + convert_s, 3), "convert_seconds": round(convert_s, 3),
            "strict": {"precision": round(strict.precision, 6), "recall": round(strict.recall, 6),
                       "f1": round(strict.f1, 6)},
            "micro_f1": {s: round(results["overall"][k].f1, 6)
                         for s, k in (("strict", "strict"), ("exact", "exact"), ("partial", "partial"), ("type", "ent_type"))}}


def run_spacy(spaces, gold, pred) -> dict:
    import spacy
    from spacy.scorer import Scorer
    from spacy.tokens import Doc
    from spacy.training import Example

    vocab = spacy.blank("en").vocab
    words = ["word"] * TOKENS
    t = time.perf_counter()
    examples = []
    for sp, g, p in zip(spaces, gold, pred):
        ref = Doc(vocab, words=words, spaces=sp)
        hyp = Doc(vocab, words=words, spaces=sp)
        ref.spans["sc"] = [ref.char_span(s["start"], s["end"], label=s["label"]) for s in g]
        hyp.spans["sc"] = [hyp.char_span(s["start"], s["end"], label=s["label"]) for s in p]
        examples.append(Example(hyp, ref))
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    scores = Scorer.score_spans(examples, "sc", getter=lambda doc, key: doc.spans[key], allow_overlap=True)
    score_s = time.perf_counter() - t
    return {"seconds": round(build_s + score_s, 3), "build_docs_seconds": round(build_s, 3),
            "score_seconds": round(score_s, 3),
            "strict": {"precision": round(scores["sc_p"], 6), "recall": round(scores["sc_r"], 6),
                       "f1": round(scores["sc_f"], 6)}}


def _nervaluate_counts(gold, pred, inclusive: bool = True) -> dict:
    from nervaluate import Evaluator

    d = 1 if inclusive else 0
    true = [[{"label": s["label"], "start": s["start"], "end": s["end"] - d} for s in spans] for spans in gold]
    guess = [[{"label": s["label"], "start": s["start"], "end": s["end"] - d} for s in spans] for spans in pred]
    overall = Evaluator(true, guess, tags=LABELS, loader="dict").evaluate()["overall"]
    strict = overall["strict"]
    return {"strict": {k: getattr(strict, k) for k in ("correct", "incorrect", "missed", "spurious", "possible",
                                                        "actual")} | {"f1": round(strict.f1, 6)},
            "micro_f1": {s: round(overall[k].f1, 6) for s, k in (("strict", "strict"), ("exact", "exact"),
                                                                 ("partial", "partial"), ("type", "ent_type"))}}


def exact_first(gold_spans: list[dict], pred_spans: list[dict]) -> list[dict]:
    """The same predictions, reordered: exact matches (boundaries and label) first, then same boundaries."""
    keys = {(s["start"], s["end"], s["label"]) for s in gold_spans}
    bounds = {(s["start"], s["end"]) for s in gold_spans}
    return sorted(pred_spans, key=lambda s: 0 if (s["start"], s["end"], s["label"]) in keys
                  else 1 if (s["start"], s["end"]) in bounds else 2)


def count_steals(gold, pred) -> int:
    """Gold spans with an exact prediction that a non-exact overlapping prediction listed earlier claims first."""
    steals = 0
    for g, p in zip(gold, pred):
        exact = {(s["start"], s["end"], s["label"]) for s in g}
        first = {}
        for i, x in enumerate(p):
            first.setdefault((x["start"], x["end"], x["label"]), i)
        for s in g:
            pos = first.get((s["start"], s["end"], s["label"]))
            if pos is not None and any(x["start"] < s["end"] and s["start"] < x["end"]
                                       and (x["start"], x["end"], x["label"]) not in exact for x in p[:pos]):
                steals += 1
    return steals


def run_nervaluate_explain(spaces, gold, pred, sample: int = 10_000) -> dict:
    """Not timed: where nervaluate's strict F1 departs from ours on this data, and why."""
    sys.path.insert(0, str(ROOT))
    from annotate.score import score_spans

    ours = {s: v["micro"]["f1"] for s, v in score_spans(gold, pred, bootstrap=0)["schemes"].items()}
    given = _nervaluate_counts(gold, pred)
    sorted_pred = [exact_first(g, p) for g, p in zip(gold, pred)]
    reordered = _nervaluate_counts(gold, sorted_pred)
    steals = count_steals(gold, pred)
    n = min(sample, len(gold))
    converted = _nervaluate_counts(gold[:n], pred[:n])
    unconverted = _nervaluate_counts(gold[:n], pred[:n], inclusive=False)
    touching = sum(1 for g, p in zip(gold[:n], pred[:n]) for s in g for x in p
                   if x["start"] == s["end"] or x["end"] == s["start"])
    return {
        "ours_micro_f1": ours,
        "nervaluate_as_given": given,
        "nervaluate_exact_first": reordered,
        "order_explains_strict_gap": reordered["strict"]["f1"] == ours["strict"],
        "steals_counted": steals,
        "correct_lost_to_order": reordered["strict"]["correct"] - given["strict"]["correct"],
        "steals_equal_correct_lost": steals == reordered["strict"]["correct"] - given["strict"]["correct"],
        "inclusive_ends": {"documents": n, "touching_pairs": touching,
                           "strict_f1_ends_converted": converted["strict"]["f1"],
                           "strict_f1_exclusive_ends_passed_as_is": unconverted["strict"]["f1"]},
    }


WORKERS = {"ours": run_ours, "set": run_set, "nervaluate": run_nervaluate, "spacy": run_spacy,
           "nervaluate_explain": run_nervaluate_explain}


def worker(name: str, docs: int, seed: int) -> None:
    spaces, gold, pred, _ = make_corpus(docs, seed)
    gc.collect()
    before = peak_mb()
    cpu = time.process_time()
    result = WORKERS[name](spaces, gold, pred)
    result.setdefault("cpu_seconds", round(time.process_time() - cpu, 3))
    result["peak_rss_mb"] = round(peak_mb())
    result["peak_rss_mb_data_only"] = round(before)
    print(json.dumps(result))


# ---------------------------------------------------------------- the run

def _explanation(x: dict) -> dict:
    given, first = x["nervaluate_as_given"]["strict"], x["nervaluate_exact_first"]["strict"]
    ends = x["inclusive_ends"]
    text = (f"nervaluate 1.2.1 is order dependent: StrictEvaluation walks the predictions as listed and a "
            f"prediction that only overlaps a gold span claims it (incorrect) before that span's exact "
            f"prediction is reached, which then counts as spurious. Here {x['steals_counted']} gold spans were "
            f"claimed that way ({given['correct']} correct as listed, {first['correct']} with the same "
            f"predictions sorted exact-first); sorted exact-first, nervaluate's strict F1 is "
            f"{first['f1']:.6f}, ours {x['ours_micro_f1']['strict']:.6f}"
            + (" (equal: order explains the whole gap)." if x["order_explains_strict_gap"] else ".")
            + f" Its ends are inclusive: this benchmark passes end - 1; passing our exclusive ends as they are "
              f"makes touching spans overlap and strict F1 falls from {ends['strict_f1_ends_converted']:.4f} to "
              f"{ends['strict_f1_exclusive_ends_passed_as_is']:.4f} on the first {ends['documents']:,} documents "
              f"(not part of the reported gap, which uses converted ends). Our matcher pairs same boundaries and "
              f"label first whatever the order, so its strict score equals the set count and spaCy's.")
    return {**x, "explanation": text}



def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--only", default=",".join(SYSTEMS), help="comma-separated subset of " + ",".join(SYSTEMS))
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker, args.docs, args.seed)

    _, gold, pred, kinds = make_corpus(min(args.docs, 2000), args.seed)  # describe the data cheaply
    results: dict = {}
    for name in [s for s in args.only.split(",") if s]:
        print(f"running {name} on {args.docs:,} documents …", file=sys.stderr, flush=True)
        proc = subprocess.run([sys.executable, __file__, "--worker", name, "--docs", str(args.docs),
                               "--seed", str(args.seed)], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{name} failed:\n{proc.stderr}")
        results[name] = json.loads(proc.stdout.strip().splitlines()[-1])
    explain = results.pop("nervaluate_explain", None)

    ours = results.get("ours", {})
    summary = {
        "benchmark": "annotate score vs nervaluate 1.2.1, spaCy Scorer.score_spans, a set-based count",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                    "load_average_1min_at_end": round(os.getloadavg()[0], 2),
                    "note": "the load average tells whether other work shared the cores"},
        "data": {"documents": args.docs, "seed": args.seed, "tokens_per_doc": TOKENS,
                 "gold_spans_per_doc": round(sum(map(len, gold)) / len(gold), 2),
                 "pred_spans_per_doc": round(sum(map(len, pred)) / len(pred), 2),
                 "outcome_shares_sample": {k: round(v / sum(kinds.values()), 3) for k, v in sorted(kinds.items())}},
        "results": results,
    }
    if ours:
        ratios = {}
        for other in ("nervaluate", "spacy", "set"):
            if other in results and ours["seconds"]:
                ratios[f"{other}_seconds_over_ours"] = round(results[other]["seconds"] / ours["seconds"], 1)
                ratios[f"{other}_cpu_seconds_over_ours"] = round(results[other]["cpu_seconds"] / ours["cpu_seconds"], 1)
                ratios[f"{other}_peak_mb_over_ours"] = round(results[other]["peak_rss_mb"] / ours["peak_rss_mb"], 2)
        summary["ratios"] = ratios
        summary["goals"] = {"four_schemes_seconds<=5": ours["seconds"] <= 5,
                            "bootstrap_1000_extra_seconds<=5": ours["bootstrap_1000_seconds"] <= 5,
                            "nervaluate_over_ours>=20": ratios.get("nervaluate_seconds_over_ours", 0) >= 20
                            if "nervaluate" in results else None}
        agree = {}
        for other in ("set", "spacy", "nervaluate"):
            if other in results:
                agree[other] = all(abs(results[other]["strict"][k] - ours["strict"][k]) < 5e-6
                                   for k in ("precision", "recall", "f1"))
        summary["strict_agrees_with_ours"] = agree
    if explain:
        summary["nervaluate_disagreement"] = _explanation(explain)
        if ours:
            summary.setdefault("strict_agrees_with_ours", {})["nervaluate_exact_first"] = (
                abs(explain["nervaluate_exact_first"]["strict"]["f1"] - ours["strict"]["f1"]) < 5e-6)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, args.out)

    print(f"{args.docs:,} documents, {summary['data']['gold_spans_per_doc']} gold / "
          f"{summary['data']['pred_spans_per_doc']} predicted spans per document")
    print(f"{'system':<12}{'seconds':>10}{'cpu s':>10}{'peak MB':>10}  strict P / R / F1")
    for name, r in results.items():
        s = r["strict"]
        print(f"{name:<12}{r['seconds']:>10.2f}{r['cpu_seconds']:>10.2f}{r['peak_rss_mb']:>10}  "
              f"{s['precision']:.4f} / {s['recall']:.4f} / {s['f1']:.4f}")
    if ours:
        print(f"ours + 1,000 bootstrap resamples: {ours['seconds_with_bootstrap_1000']:.2f} s "
              f"(+{ours['bootstrap_1000_seconds']:.2f} s wall, +{ours['bootstrap_1000_cpu_seconds']:.2f} s cpu); "
              f"strict F1 95% CI {ours['strict_ci']}")
        print("ratios:", json.dumps(summary["ratios"]))
        print("goals:", json.dumps(summary["goals"]))
        print("strict agrees with ours:", json.dumps(summary["strict_agrees_with_ours"]))
    if explain:
        x = summary["nervaluate_disagreement"]
        print(f"nervaluate strict F1: {x['nervaluate_as_given']['strict']['f1']:.4f} on the predictions as listed, "
              f"{x['nervaluate_exact_first']['strict']['f1']:.4f} on the same predictions exact-first "
              f"(ours {x['ours_micro_f1']['strict']:.4f}); {x['steals_counted']} steals counted, "
              f"{x['correct_lost_to_order']} correct lost to order; exclusive ends passed as is: "
              f"{x['inclusive_ends']['strict_f1_exclusive_ends_passed_as_is']:.4f} vs "
              f"{x['inclusive_ends']['strict_f1_ends_converted']:.4f} converted "
              f"(first {x['inclusive_ends']['documents']:,} documents)")
        print("why:", x["explanation"])
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")


if __name__ == "__main__":
    main()
