"""Load test: N simulated annotators labelling at once through Doccano's REST API, on SQLite and PostgreSQL.

    .venv/bin/python scripts/load_annotators.py      # 10 annotators, 60 s each: SQLite (rollback journal, WAL), PostgreSQL
    .venv/bin/python scripts/load_annotators.py --annotators 20 --duration 120 --db postgres

For each database it starts its own local Doccano (``annotate.server.up`` on a free 127.0.0.1 port, in
a temporary state dir; ``--db postgres`` = the private PostgreSQL cluster), pushes synthetic documents
to one project per annotator (``annotate.doccano.push``, the project's design), and runs N threads.
Each logs in with its own account and token and works as the browser UI does:

    list a page of unconfirmed examples -> open the next example -> load its spans ->
    create 5-20 spans (one request each) -> create a relation -> confirm -> next

for ``--duration`` seconds, against 127.0.0.1 only. It reports requests/s, p50/p95/p99 latency (overall
and per request kind) and errors by kind; then it pulls (``annotate.doccano.pull``) and checks that
every span and relation the server acknowledged (201) is in the snapshot with the same offsets and
label, and every confirmed example is confirmed there: lost writes must be 0.

Prints a table and writes ``scripts/results/load_annotators.json`` (``--out``). The machine is shared
(2 cores for the whole team, the server and these clients included): figures are a floor.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate import doccano, server  # noqa: E402
from annotate.jsonl import read_jsonl, write_jsonl  # noqa: E402

PROJECT = "load"
WORDS = ("the rescuers said at least civilians were killed in the province of Idlib after shelling by "
         "government forces according to the Syrian Network for Human Rights activists told Reuters that "
         "people were injured near Kafr Nabl and Hama while the observatory reported dead").split()
SPAN_LABELS = ("ACTOR", "FIGURE", "LOCATION", "WEAPON", "ATTRIBUTION")


# ------------------------------------------------------------------ synthetic documents

def make_documents(path: Path, n: int, seed: int = 7) -> None:
    """``n`` synthetic ASCII documents of about 1.5 KB (ASCII: UTF-16 offsets equal code points)."""
    import hashlib

    rng = random.Random(seed)

    def record(i: int) -> dict:
        text = " ".join(rng.choice(WORDS) for _ in range(260))
        sha = hashlib.sha256(text.encode()).hexdigest()
        return {"id": f"load-{i:05d}", "text": text,
                "meta": {"source_file": f"load-{i:05d}.txt", "raw_sha256": sha, "text_sha256": sha,
                         "duplicate_of": None, "near_duplicates": []}}

    write_jsonl(path, (record(i) for i in range(n)))


def word_spans(text: str, k: int, rng: random.Random) -> list[tuple[int, int]]:
    """``k`` non-overlapping spans of 1-3 words, sorted."""
    starts = [0] + [i + 1 for i, c in enumerate(text) if c == " "]
    ends = [i for i, c in enumerate(text) if c == " "] + [len(text)]
    picks = sorted(rng.sample(range(0, len(starts) - 3, 4), k))  # every 4th word: room for 3-word spans
    return [(starts[w], ends[w + rng.randint(0, 2)]) for w in picks]


# ------------------------------------------------------------------ one simulated annotator

@dataclass
class Stats:
    latencies: dict = field(default_factory=lambda: defaultdict(list))  # kind -> [seconds]
    errors: Counter = field(default_factory=Counter)  # "kind: reason" -> n
    spans: list = field(default_factory=list)  # (annotator, example id, span id, start, end, label)
    relations: list = field(default_factory=list)  # (annotator, example id, relation id, from, to, type)
    confirmed: list = field(default_factory=list)  # (annotator, example id)
    documents: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _reason(resp: requests.Response | None, exc: Exception | None) -> str:
    if exc is not None:
        return "timeout" if isinstance(exc, requests.Timeout) else "connection error"
    body = resp.text.lower()
    if "database is locked" in body:
        return f"HTTP {resp.status_code} database is locked"
    return f"HTTP {resp.status_code}"


class Annotator(threading.Thread):
    def __init__(self, url: str, username: str, password: str, deadline: float, stats: Stats, seed: int) -> None:
        super().__init__(name=username, daemon=True)
        self.url, self.username, self.password = url, username, password
        self.deadline, self.stats, self.rng = deadline, stats, random.Random(seed)
        self.s = requests.Session()
        # Token auth only: a session cookie from the login would switch DRF to session auth (CSRF on writes).
        self.s.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self.s.headers["Accept"] = "application/json"

    def call(self, kind: str, method: str, path: str, **kw):
        """One timed request; returns the JSON body, or None after an error (counted by kind)."""
        t0 = time.perf_counter()
        resp, exc = None, None
        try:
            resp = self.s.request(method, f"{self.url}/v1/{path}", timeout=60, **kw)
        except requests.RequestException as e:
            exc = e
        elapsed = time.perf_counter() - t0
        with self.stats.lock:
            self.stats.latencies[kind].append(elapsed)
            if exc is not None or resp.status_code >= 300:
                self.stats.errors[f"{kind}: {_reason(resp, exc)}"] += 1
                return None
        return resp.json() if resp.content else {}

    def run(self) -> None:
        login = self.call("login", "POST", "auth/login/", json={"username": self.username, "password": self.password})
        if login is None:
            return
        self.s.headers["Authorization"] = f"Token {login['key']}"
        self.call("me", "GET", "me")
        projects = self.call("projects", "GET", "projects", params={"limit": 10})
        if not projects or not projects["results"]:
            return
        pid = projects["results"][0]["id"]
        span_types = self.call("span-types", "GET", f"projects/{pid}/span-types")
        rel_types = self.call("relation-types", "GET", f"projects/{pid}/relation-types")
        if span_types is None or rel_types is None:
            return
        label_id = {t["text"]: t["id"] for t in span_types}
        reported_by = next(t["id"] for t in rel_types if t["text"] == "REPORTED_BY")
        while time.monotonic() < self.deadline:
            page = self.call("list examples", "GET", f"projects/{pid}/examples",
                             params={"limit": 10, "offset": 0, "confirmed": "false"})
            if page is None:
                continue
            if not page["results"]:
                return  # nothing left to label
            eid = page["results"][0]["id"]
            example = self.call("open example", "GET", f"projects/{pid}/examples/{eid}")
            if example is None or self.call("load spans", "GET", f"projects/{pid}/examples/{eid}/spans") is None:
                continue
            self.label(pid, eid, example["text"], label_id, reported_by)

    def label(self, pid: int, eid: int, text: str, label_id: dict, reported_by: int) -> None:
        k = self.rng.randint(5, 20)
        made = []
        for i, (start, end) in enumerate(word_spans(text, k, self.rng)):
            label = "FIGURE" if i == 0 else "ATTRIBUTION" if i == 1 else self.rng.choice(SPAN_LABELS)
            span = self.call("create span", "POST", f"projects/{pid}/examples/{eid}/spans",
                             json={"start_offset": start, "end_offset": end, "label": label_id[label]})
            if span is not None:
                made.append((span["id"], label))
                with self.stats.lock:
                    self.stats.spans.append((self.username, eid, span["id"], start, end, label))
        first = [sid for sid, label in made if label == "FIGURE"][:1]
        second = [sid for sid, label in made if label == "ATTRIBUTION"][:1]
        if first and second:
            rel = self.call("create relation", "POST", f"projects/{pid}/examples/{eid}/relations",
                            json={"from_id": first[0], "to_id": second[0], "type": reported_by})
            if rel is not None:
                with self.stats.lock:
                    self.stats.relations.append((self.username, eid, rel["id"], first[0], second[0], "REPORTED_BY"))
        state = self.call("confirm", "POST", f"projects/{pid}/examples/{eid}/states", json={})
        if state is not None:
            with self.stats.lock:
                self.stats.confirmed.append((self.username, eid))
                self.stats.documents += 1


# ------------------------------------------------------------------ one database

def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def _ms(values: list[float]) -> dict:
    return {"n": len(values), "p50_ms": round(_pct(values, 50) * 1000, 1), "p95_ms": round(_pct(values, 95) * 1000, 1),
            "p99_ms": round(_pct(values, 99) * 1000, 1),
            "mean_ms": round(statistics.fmean(values) * 1000, 1) if values else 0.0}


def check_snapshot(snapshot: Path, stats: Stats) -> dict:
    """Compare what the clients were told was created with what the pull wrote."""
    spans, relations, confirmed = {}, {}, set()
    for rec in read_jsonl(snapshot / "annotations.jsonl"):
        eid = rec["doccano"]["example_id"]
        for s in rec["spans"]:
            spans[s["id"]] = (rec["annotator"], eid, s["start"], s["end"], s["label"])
        for r in rec["relations"]:
            relations[r["id"]] = (rec["annotator"], eid, r["from"], r["to"], r["label"])
        if rec["confirmed"]:
            confirmed.add((rec["annotator"], eid))
    lost_spans = [s for s in stats.spans if spans.get(s[2]) != (s[0], s[1], s[3], s[4], s[5])]
    lost_rel = [r for r in stats.relations if relations.get(r[2]) != (r[0], r[1], r[3], r[4], r[5])]
    lost_conf = [c for c in stats.confirmed if c not in confirmed]
    told = {s[2] for s in stats.spans}
    return {"spans_acknowledged": len(stats.spans), "spans_in_snapshot": len(spans),
            "spans_lost": len(lost_spans), "spans_unacknowledged_but_stored": len(set(spans) - told),
            "relations_acknowledged": len(stats.relations), "relations_lost": len(lost_rel),
            "confirmations_acknowledged": len(stats.confirmed), "confirmations_lost": len(lost_conf),
            "lost_examples": [list(x) for x in (lost_spans + lost_rel)[:5]]}


def run_one(db: str, n: int, duration: float, docs_per_annotator: int, work: Path, *, sqlite_wal: bool,
            web_workers: int) -> dict:
    label = db + ("-wal" if sqlite_wal else "-rollback" if db == "sqlite" else "")
    state = work / f"{label}-{n}x{web_workers}"
    port = server.free_port()
    print(f"[{label}] starting Doccano on 127.0.0.1:{port} with {web_workers} web workers …", flush=True)
    t0 = time.perf_counter()
    env_wal = os.environ.pop("ANNOTATE_SQLITE_WAL", None)
    os.environ["ANNOTATE_SQLITE_WAL"] = "1" if sqlite_wal else "0"  # the journal mode a new SQLite file gets
    try:
        info = server.up(state, port, db=db, web_workers=web_workers, timeout=300)
        startup = time.perf_counter() - t0
        settings = server.connection_settings(state)
        annotators = [f"load{i:02d}" for i in range(1, n + 1)]
        docs = work / f"{state.name}-documents.jsonl"
        make_documents(docs, docs_per_annotator)
        print(f"[{label}] pushing {docs_per_annotator} documents to {n} projects …", flush=True)
        t0 = time.perf_counter()
        pushed = doccano.push(docs, PROJECT, annotators, connection=settings, state_dir=state)
        push_s = time.perf_counter() - t0
        assert pushed["failed"] == 0, pushed
        passwords = {a: server.user_password(a, state) for a in annotators}

        print(f"[{label}] {n} annotators labelling for {duration:.0f} s …", flush=True)
        stats = Stats()
        deadline = time.monotonic() + duration
        threads = [Annotator(info["url"], a, passwords[a], deadline, stats, seed=i) for i, a in enumerate(annotators)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0

        print(f"[{label}] pulling and checking …", flush=True)
        t0 = time.perf_counter()
        snap = doccano.pull(PROJECT, work / f"{state.name}-annotations", connection=settings, state_dir=state)
        pull_s = time.perf_counter() - t0
        check = check_snapshot(Path(snap["snapshot"]), stats)
    finally:
        server.down(state)
        os.environ.pop("ANNOTATE_SQLITE_WAL", None)
        if env_wal is not None:
            os.environ["ANNOTATE_SQLITE_WAL"] = env_wal
    every = [x for values in stats.latencies.values() for x in values]
    errors = sum(stats.errors.values())
    return {
        "database": label,
        "annotators": n,
        "web_workers": web_workers,
        "duration_s": round(wall, 1),
        "requests": len(every),
        "requests_per_s": round(len(every) / wall, 1),
        "latency": _ms(every),
        "latency_by_kind": {k: _ms(v) for k, v in sorted(stats.latencies.items())},
        "errors": errors,
        "error_rate": round(errors / len(every), 4) if every else 0.0,
        "errors_by_kind": dict(stats.errors.most_common()),
        "documents_confirmed": stats.documents,
        "documents_confirmed_per_min": round(stats.documents / wall * 60, 1),
        **check,
        "pull_problems": len(snap["problems"]),
        "startup_s": round(startup, 1),
        "push_s": round(push_s, 1),
        "pull_s": round(pull_s, 1),
    }


def print_table(results: list[dict]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("database", "annotators", "web workers", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors", "docs done",
                  "spans ok", "spans lost", "relations lost", title="load_annotators (shared 2-core machine)")
    for r in results:
        table.add_row(r["database"], str(r["annotators"]), str(r["web_workers"]), f"{r['requests_per_s']:.1f}", f"{r['latency']['p50_ms']:.0f}",
                      f"{r['latency']['p95_ms']:.0f}", f"{r['latency']['p99_ms']:.0f}",
                      f"{r['errors']} ({r['error_rate']:.1%})", str(r["documents_confirmed"]),
                      str(r["spans_acknowledged"] - r["spans_lost"]), str(r["spans_lost"]), str(r["relations_lost"]))
    Console(width=150).print(table)
    for r in results:
        if r["errors_by_kind"]:
            print(f"{r['database']} {r['annotators']}x{r['web_workers']} errors: " + "; ".join(f"{k} x{v}" for k, v in r["errors_by_kind"].items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--annotators", type=int, default=10)
    ap.add_argument("--web-workers", type=int, default=2, help="gunicorn workers of each server (server up's default: 2)")
    ap.add_argument("--also", default="",
                    help="extra scenarios, comma-separated ANNOTATORSxWEB_WORKERS, e.g. 30x6 (same databases)")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of labelling per database")
    ap.add_argument("--db", default="sqlite,sqlite-wal,postgres",
                    help="comma-separated: sqlite (SQLite's default rollback journal), sqlite-wal (WAL mode, "
                    "what `annotate server up` sets), postgres")
    ap.add_argument("--docs", type=int, default=100, help="documents per annotator project")
    ap.add_argument("--out", type=Path, default=ROOT / "scripts" / "results" / "load_annotators.json")
    args = ap.parse_args(argv)
    for var in ("DOCCANO_URL", "DOCCANO_USERNAME", "DOCCANO_PASSWORD", "DOCCANO_TOKEN", "DATABASE_URL"):
        os.environ.pop(var, None)  # our own local servers only
    work = Path(tempfile.mkdtemp(prefix="annotate-load-"))
    work.chmod(0o755)  # the `postgres` OS user runs the private cluster below it when we are root
    scenarios = [(args.annotators, args.web_workers)]
    scenarios += [tuple(int(x) for x in sc.split("x")) for sc in args.also.split(",") if sc.strip()]
    results = []
    try:
        for n, workers in scenarios:
            for db in args.db.split(","):
                wal = db == "sqlite-wal"
                results.append(run_one("sqlite" if wal else db, n, args.duration, args.docs, work,
                                       sqlite_wal=wal, web_workers=workers))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    payload = {"benchmark": "load_annotators", "machine": f"{os.cpu_count()} cores, shared with the team "
               "(server, PostgreSQL and the client threads on the same machine)",
               "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "duration_s": args.duration,
               "docs_per_annotator": args.docs, "results": results}
    ratios = {}
    for n, workers in scenarios:
        by = {r["database"]: r for r in results if (r["annotators"], r["web_workers"]) == (n, workers)}
        for base in ("sqlite-rollback", "sqlite-wal"):
            if base in by and "postgres" in by and by[base]["requests_per_s"]:
                ratios[f"{n}x{workers}: postgres/{base}"] = round(by["postgres"]["requests_per_s"]
                                                                  / by[base]["requests_per_s"], 2)
    payload["requests_per_s_ratio"] = ratios
    args.out.parent.mkdir(parents=True, exist_ok=True)
    from annotate.jsonl import write_json

    write_json(args.out, payload)
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return 0 if all(r["spans_lost"] == 0 and r["relations_lost"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
