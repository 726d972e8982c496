"""Benchmark the Doccano round trip: push (bulk import + reconciliation), no-op re-push, pull; with anchors.

On its own Doccano (a fresh state dir on a free port, stopped at the end), for each --docs size N:

* ``doccano_import``: Doccano's own bulk import of the same JSONL file push builds (upload + one import
  task into a fresh project): the ceiling through its API.
* ``push``: ``annotate push`` of N synthetic ~3 KB documents with ~20 pre-annotated spans each to
  --annotators projects (N x annotators examples), reconciliation included.
* ``noop_repush``: the same push again (nothing to upload).
* ``per_call``: doccano-client, one call per example and per span, on --sample documents, extrapolated.
* ``pull``: a full pull of N x annotators (after each annotator labelled and confirmed a few documents): on this
  local server, one read of its database; then ``pull_unchanged``: the same pull again (the change fingerprint
  is equal: the body is copied, and must be identical); then ``pull_export``: the anchor, the same pull through
  Doccano's export tasks (the path a remote server gets, and what pull did before), whose body must be equal.

Prints a table and writes scripts/results/bench_doccano.json. Rates are examples per second.

    .venv/bin/python scripts/bench_doccano.py                  # 2,000 and 10,000 (several minutes)
    .venv/bin/python scripts/bench_doccano.py --docs 200 --sample 20
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate import doccano, server  # noqa: E402
from annotate.jsonl import read_jsonl  # noqa: E402

ENTITIES = [("Idlib province", "LOCATION"), ("northern Hama", "LOCATION"), ("Kafr Nabl", "LOCATION"),
            ("the Syrian Network for Human Rights", "ACTOR"), ("rescuers", "ACTOR"), ("Russian jets", "ACTOR"),
            ("barrel bombs", "WEAPON"), ("cluster munitions", "WEAPON"), ("said", "ATTRIBUTION"),
            ("told Reuters", "ATTRIBUTION"), ("at least 544 civilians", "FIGURE"), ("over 2,000 people", "FIGURE")]
FILLER = ("the offensive continued through the night while residents fled toward the border and aid groups "
          "struggled to reach the displaced families who sheltered in olive groves and unfinished buildings ").split()
PATTERN = re.compile("|".join(re.escape(e) for e, _ in sorted(ENTITIES, key=lambda e: -len(e[0]))))
LABEL = dict(ENTITIES)


def synthetic_text(rng: random.Random, n_spans: int = 20, size: int = 3000) -> str:
    """About ``size`` characters of news-like filler with ``n_spans`` entity mentions (a few emoji too)."""
    parts, length, mentions = [], 0, 0
    while length < size:
        if mentions < n_spans and rng.random() < 0.25:
            word = rng.choice(ENTITIES)[0]
            mentions += 1
        else:
            word = rng.choice(FILLER)
            if rng.random() < 0.01:
                word += " 👨🏻‍🚒"
        parts.append(word)
        length += len(word) + 1
    return " ".join(parts) + "."


def extract(text: str):
    """The benchmark's extractor: every entity mention (about 20 per document)."""
    return [{"start": m.start(), "end": m.end(), "label": LABEL[m.group()]} for m in PATTERN.finditer(text)]


def write_docs(path: Path, n: int, seed: int) -> None:
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for i in range(n):
            text = synthetic_text(rng)
            sha = hashlib.sha256(text.encode()).hexdigest()
            fh.write(json.dumps({"id": f"bench{seed}-{i:06d}", "text": text, "meta": {
                "source_file": "synthetic", "raw_sha256": sha, "text_sha256": sha, "duplicate_of": None,
                "near_duplicates": []}}, ensure_ascii=False) + "\n")


def doccano_own_import(client: doccano.Client, docs: Path, name: str) -> dict:
    """The ceiling: one upload and one import task of the whole JSONL file, into a fresh project."""
    from annotate.schema import load_labels

    project, _ = doccano.ensure_project(client, name, load_labels(), "")
    body = "".join(doccano.import_line(r, extract(r["text"])) + "\n" for r in read_jsonl(docs)).encode("utf-8")
    t0 = time.perf_counter()
    upload = client.call("POST", "fp/process/", files={"filepond": ("docs.jsonl", body, "application/octet-stream")},
                         headers={"Accept": "*/*"}).text.strip()
    task = client.post(f"projects/{project['id']}/upload", {"uploadIds": [upload], "format": "JSONL",
                                                            "task": "RelationExtraction", "column_data": "text",
                                                            "column_label": "label", "encoding": "utf_8"})["task_id"]
    result = client.wait_task(task, "import")
    seconds = time.perf_counter() - t0
    n = client.count(project["id"])
    return {"seconds": round(seconds, 2), "examples": n, "rate": round(n / seconds, 1),
            "errors": (result or {}).get("error", [])}


def label_a_little(ds_url: str, state_dir: Path, project: str, annotators: list[str], k: int = 10) -> int:
    """Each annotator deletes one pre-annotation, adds nothing else, and confirms ``k`` documents (REST, as the UI)."""
    import requests

    done = 0
    for ann in annotators:
        token = requests.post(f"{ds_url}/v1/auth/login/", json={"username": ann, "password": server.user_password(
            ann, state_dir)}, timeout=60).json()["key"]
        h = {"Authorization": f"Token {token}"}
        pid = next(p["id"] for p in requests.get(f"{ds_url}/v1/projects", headers=h, params={"limit": 100},
                                                 timeout=60).json()["results"] if p["name"] == f"{project} · {ann}")
        exs = requests.get(f"{ds_url}/v1/projects/{pid}/examples", headers=h, params={"limit": k}, timeout=60).json()
        for ex in exs["results"]:
            spans = requests.get(f"{ds_url}/v1/projects/{pid}/examples/{ex['id']}/spans", headers=h, timeout=60).json()
            if spans:
                requests.delete(f"{ds_url}/v1/projects/{pid}/examples/{ex['id']}/spans/{spans[0]['id']}", headers=h,
                                timeout=60).raise_for_status()
            requests.post(f"{ds_url}/v1/projects/{pid}/examples/{ex['id']}/states", headers=h, json={},
                          timeout=60).raise_for_status()
            done += 1
    return done


def run_size(n: int, args, settings: dict, client: doccano.Client, work: Path, state_dir: Path) -> dict:
    docs = work / f"docs-{n}.jsonl"
    write_docs(docs, n, seed=n)
    annotators = [f"bench{i + 1}" for i in range(args.annotators)]
    project = f"bench{n}"
    res: dict = {"documents": n, "annotators": len(annotators),
                 "bytes_per_doc": round(docs.stat().st_size / n),
                 "spans_per_doc": round(sum(len(extract(r["text"])) for r in read_jsonl(docs)) / n, 1)}
    print(f"[{n}] Doccano's own import of the same JSONL ...", flush=True)
    res["doccano_import"] = doccano_own_import(client, docs, f"bench-ceiling-{n}")

    print(f"[{n}] push to {len(annotators)} annotator projects ...", flush=True)
    t0 = time.perf_counter()
    pushed = doccano.push(docs, project, annotators, prelabel=extract, connection=settings)
    seconds = time.perf_counter() - t0
    res["push"] = {"seconds": round(seconds, 2), "examples": pushed["created"], "failed": pushed["failed"],
                   "rate": round(pushed["created"] / seconds, 1)}

    t0 = time.perf_counter()
    again = doccano.push(docs, project, annotators, prelabel=extract, connection=settings)
    res["noop_repush"] = {"seconds": round(time.perf_counter() - t0, 2), "created": again["created"],
                          "present": again["present"]}

    res["labelled_and_confirmed_per_annotator"] = label_a_little(settings["url"], state_dir, project, annotators) // len(annotators)
    out = work / "annotations"
    print(f"[{n}] pull {n} x {len(annotators)} ...", flush=True)
    t0 = time.perf_counter()
    first = doccano.pull(project, out, connection=settings)
    res["pull"] = {"seconds": round(time.perf_counter() - t0, 2), "path": first["pull_path"],
                   "records": first["records"], "spans": first["spans"], "confirmed": first["confirmed"],
                   "problems": len(first["problems"])}
    t0 = time.perf_counter()
    second = doccano.pull(project, out, connection=settings)
    res["pull_unchanged"] = {"seconds": round(time.perf_counter() - t0, 2), "path": second["pull_path"],
                             "identical_body": first["body_sha256"] == second["body_sha256"]}
    print(f"[{n}] pull {n} x {len(annotators)} through Doccano's export (the remote path) ...", flush=True)
    t0 = time.perf_counter()
    exported = doccano.pull(project, work / "annotations-export", connection={**settings, "local": False})
    res["pull_export"] = {"seconds": round(time.perf_counter() - t0, 2), "path": exported["pull_path"],
                          "same_body": exported["body_sha256"] == first["body_sha256"]}
    res["pull_vs_export"] = round(res["pull_export"]["seconds"] / res["pull"]["seconds"], 1)

    ceiling = res["doccano_import"]["rate"]
    res["push_vs_doccano_import"] = round(res["push"]["rate"] / ceiling, 3)
    return res


def per_call(args, settings: dict, client: doccano.Client, work: Path) -> dict:
    from annotate.schema import load_labels

    docs = work / "docs-percall.jsonl"
    write_docs(docs, args.sample, seed=7)
    project, _ = doccano.ensure_project(client, "bench-per-call", load_labels(), "")
    records = [(r, extract(r["text"])) for r in read_jsonl(docs)]
    t0 = time.perf_counter()
    spans = doccano.push_per_call(settings, project["id"], records)
    seconds = time.perf_counter() - t0
    return {"documents": args.sample, "spans": spans, "seconds": round(seconds, 2),
            "rate": round(args.sample / seconds, 2), "seconds_per_doc": round(seconds / args.sample, 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", default="2000,10000", help="comma-separated document counts (default 2000,10000)")
    ap.add_argument("--annotators", type=int, default=3)
    ap.add_argument("--sample", type=int, default=100, help="documents for the per-call anchor")
    ap.add_argument("--out", type=Path, default=ROOT / "scripts" / "results" / "bench_doccano.json")
    args = ap.parse_args()
    sizes = [int(x) for x in args.docs.split(",") if x.strip()]

    work = Path(tempfile.mkdtemp(prefix="bench-doccano-"))
    state_dir = work / "state"
    port = server.free_port()
    print(f"starting Doccano on 127.0.0.1:{port} (state {state_dir}) ...", flush=True)
    server.up(state_dir, port)
    try:
        settings = server.connection_settings(state_dir)
        client, _ = doccano.connect(settings)
        anchor = per_call(args, settings, client, work)
        runs = [run_size(n, args, settings, client, work, state_dir) for n in sizes]
    finally:
        server.down(state_dir)
        shutil.rmtree(work, ignore_errors=True)
    for r in runs:
        r["push_vs_per_call"] = round(r["push"]["rate"] / anchor["rate"], 1)
    biggest = max(runs, key=lambda r: r["documents"])
    goals = {
        "push >= 0.9 x Doccano's own import rate": all(r["push_vs_doccano_import"] >= 0.9 for r in runs),
        "push >= 25 x the per-call path": all(r["push_vs_per_call"] >= 25 for r in runs),
        f"no-op re-push of {biggest['documents']} <= 5 s": biggest["noop_repush"]["seconds"] <= 5,
        f"full pull of {biggest['documents']} x {biggest['annotators']} <= 60 s": biggest["pull"]["seconds"] <= 60,
        "unchanged pull <= 5 s": biggest["pull_unchanged"]["seconds"] <= 5,
        "unchanged pull gives an identical body": all(r["pull_unchanged"]["identical_body"] for r in runs),
        "database read and Doccano's export give the same body": all(r["pull_export"]["same_body"] for r in runs),
    }
    result = {"benchmark": "doccano round trip", "machine": {"cpus": __import__("os").cpu_count(),
                                                             "python": platform.python_version(),
                                                             "note": "shared machine: other work ran at the same time"},
              "doccano": f"1.8.4 (SQLite, gunicorn 2 workers, celery concurrency {server.WORKER_CONCURRENCY})",
              "per_call_anchor": anchor, "runs": runs, "goals": goals}
    print()
    print(f"{'docs':>6} {'ceiling/s':>10} {'push/s':>8} {'vs ceil':>8} {'vs call':>8} {'noop s':>7} {'pull s':>7} "
          f"{'again s':>8} {'export s':>9}")
    for r in runs:
        print(f"{r['documents']:>6} {r['doccano_import']['rate']:>10} {r['push']['rate']:>8} "
              f"{r['push_vs_doccano_import']:>8} {r['push_vs_per_call']:>8} {r['noop_repush']['seconds']:>7} "
              f"{r['pull']['seconds']:>7} {r['pull_unchanged']['seconds']:>8} {r['pull_export']['seconds']:>9}")
    print(f"per-call anchor: {anchor['rate']} docs/s ({anchor['documents']} docs, {anchor['spans']} spans)")
    for goal, ok in goals.items():
        print(f"  {'ok  ' if ok else 'MISS'} {goal}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
