"""The ``annotate`` command line: a thin typer layer.

Each command parses its options, calls one library function that takes and returns plain
data, and prints. Nothing below this module prints. Errors meant for the user
(:class:`annotate.errors.AnnotateError`) become one line on stderr and the exit status
0 ok, 1 a check failed, 2 bad input or usage; no traceback reaches the user
(set ``ANNOTATE_DEBUG=1`` to see one).
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Callable, List, Optional

import typer
from rich.console import Console

from . import __version__
from .errors import AnnotateError

app = typer.Typer(
    name="annotate",
    help="Build a gold corpus of conflict-news text with Doccano and hold extractors to it.\n\n"
         "Pipeline: ingest -> push -> (annotators label in Doccano) -> pull -> agree/adjudicate -> export -> score.\n\n"
         "Exit status: 0 ok, 1 a check failed, 2 bad input or usage.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=True,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

# Help panels, one per pipeline stage.
CORPUS = "1. Corpus"
DOCCANO = "2. Doccano"
GOLD = "3. Gold data"
SCORE = "4. Scoring"


def fail(message: str, code: int = 2, hint: str | None = None) -> typer.Exit:
    """Print one error line (and an optional hint) to stderr; return the Exit to raise."""
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    if hint:
        err.print(f"[dim]hint: {hint}[/]")
    return typer.Exit(code)


QUIET_OPTION = typer.Option(False, "--quiet", "-q", help="Print only warnings and errors.")
JSON_OPTION = typer.Option(False, "--json", help="Print the result as one JSON object on stdout (for scripts).")


def print_json(data) -> None:
    """The result dict of a command as JSON on stdout: nothing else goes to stdout with --json."""
    import json

    out.print(json.dumps(data, indent=2, ensure_ascii=False, default=str), markup=False, highlight=False,
              emoji=False, soft_wrap=True)


def command(panel: str | None = None, *, on: typer.Typer | None = None, **kw) -> Callable:
    """Register a command on ``on`` (default: the top-level app; e.g. ``server_app`` for
    ``annotate server ...``) in a help panel, turning AnnotateError into one line and its exit
    status, an OSError (a file or folder that can't be read or written) into one line and exit 2,
    and anything unexpected into one line too (ANNOTATE_DEBUG=1 shows the traceback)."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except AnnotateError as e:
                raise fail(str(e), e.exit_code, e.hint) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
                raise
            except OSError as e:
                if os.environ.get("ANNOTATE_DEBUG"):
                    raise
                raise fail(f"{type(e).__name__}: {e}", 2, "check the path and its permissions") from None
            except Exception as e:  # an unexpected failure: still one line, unless debugging
                if os.environ.get("ANNOTATE_DEBUG"):
                    raise
                raise fail(f"internal error: {type(e).__name__}: {e}", 2,
                           "rerun with ANNOTATE_DEBUG=1 for a traceback, and report it") from None

        return (on or app).command(rich_help_panel=panel, **kw)(wrapper)

    return decorate


def _version(value: bool) -> None:
    if value:
        out.print(f"annotate {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                      help="Show the version and exit.")) -> None:
    pass


# ---------------------------------------------------------------- 1. Corpus: validate
@command(CORPUS)
def validate(
    files: List[Path] = typer.Argument(..., help="JSONL files to check."),
    kind: Optional[str] = typer.Option(None, "--kind", "-k",
                                       help="documents, gold or predictions (default: guessed from the file name)."),
    documents: Optional[Path] = typer.Option(None, "--documents",
                                             help="documents.jsonl, to check predictions that carry no text."),
) -> None:
    """Check every line of JSONL files against their JSON Schema and the semantic rules.

    Prints each problem as file:line: message; exit 1 if there is any.

    Examples:\n
      annotate validate corpus/documents.jsonl\n
      annotate validate --kind gold corpus/gold/v0.1.0/gold.jsonl\n
      annotate validate --kind predictions --documents corpus/documents.jsonl preds.jsonl
    """
    from .jsonl import read_jsonl
    from .schema import guess_kind, iter_problems

    texts = {d["id"]: d["text"] for d in read_jsonl(documents)} if documents else None
    bad = 0
    for f in files:
        k = kind or guess_kind(f)
        n_before = bad
        for problem in iter_problems(f, k, texts=texts):
            out.print(problem, markup=False)
            bad += 1
        if bad == n_before:
            err.print(f"{f}: ok ({k})", markup=False)
    if bad:
        raise typer.Exit(1)


# ---------------------------------------------------------------- 1. Corpus: ingest
@command(CORPUS, name="ingest")
def ingest_cmd(
    paths: List[Path] = typer.Argument(..., help="Files or folders: .txt, .md, .html, .jsonl (with a \"text\" field)."),
    out_file: Path = typer.Option(Path("corpus/documents.jsonl"), "--out", "-o", help="The documents JSONL to write."),
    skip_invalid: bool = typer.Option(False, "--skip-invalid",
                                      help="Write the good documents and report the bad inputs (exit 0)."),
    near_threshold: float = typer.Option(0.5, "--near-threshold", min=0.01, max=1.0,
                                         help="Word 5-shingle Jaccard similarity from which two documents "
                                              "are near duplicates."),
    jobs: int = typer.Option(0, "--jobs", "-j", min=0,
                             help="Processes reading the files (0: 2 for 500+ files, else 1). Same output."),
    quiet: bool = QUIET_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Clean raw articles into one document record per line, with exact and near duplicates marked.

    Handles plain text, Markdown-ish text, PDF-extracted hard-wrapped text, HTML pages and JSONL.
    Bad inputs are listed one per line; nothing is written unless --skip-invalid (exit 2 without it).

    --quiet prints only warnings and errors; --json the summary (counts, duplicates, warnings, problems).

    Examples:\n
      annotate ingest seeds/ --out corpus/documents.jsonl\n
      annotate ingest crawl/ extra.jsonl --skip-invalid --near-threshold 0.6\n
      annotate ingest crawl/ --json | jq '.near_duplicates | length'
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from .ingest import ingest as run_ingest

    bar: dict = {}

    def on_progress(done: int, total: int, where: str) -> None:
        if total < 200 or quiet or as_json:  # small jobs finish before a bar would help
            return
        if not bar:
            bar["p"] = Progress(TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                console=err, transient=True)
            bar["p"].start()
            bar["task"] = bar["p"].add_task("ingest", total=total)
        bar["p"].update(bar["task"], completed=done)

    try:
        result = run_ingest(paths, out_file, skip_invalid=skip_invalid, near_threshold=near_threshold,
                            on_progress=on_progress, jobs=jobs)
    finally:
        if bar:
            bar["p"].stop()
    for line in result["warnings"]:
        err.print(f"[yellow]warning:[/] {line}", markup=True, highlight=False, soft_wrap=True)
    for line in result["problems"]:
        err.print(f"[bold red]error:[/] {line}" if not skip_invalid else f"[yellow]skipped:[/] {line}",
                  markup=True, highlight=False)
    if not result["written"]:
        if result["problems"] and not skip_invalid:
            raise fail(f"nothing written: {len(result['problems'])} bad input(s)", 2,
                       "fix them, or pass --skip-invalid to write the good documents")
        raise fail("nothing written: no valid documents", 2)
    if as_json:
        return print_json(result)
    if quiet:
        return
    shown = 20  # the rest are in the records' meta.duplicate_of / meta.near_duplicates
    for dup in result["exact_duplicates"][:shown]:
        out.print(f"exact duplicate: {dup['id']} ({dup['source_file']}) = {dup['duplicate_of']}", markup=False)
    for pair in result["near_duplicates"][:shown]:
        out.print(f"near duplicates: {pair['a']} ({pair['a_file']}) ~ {pair['b']} ({pair['b_file']}) "
                  f"similarity {pair['similarity']:.3f}", markup=False)
    hidden = max(0, len(result["exact_duplicates"]) - shown) + max(0, len(result["near_duplicates"]) - shown)
    if hidden:
        out.print(f"… and {hidden} more duplicate lines: see meta.duplicate_of and meta.near_duplicates", markup=False)
    skipped = f", {len(result['problems'])} bad input(s) skipped" if result["problems"] else ""
    def n(count: int, noun: str) -> str:
        return f"{count} {noun}{'' if count == 1 else 's'}"

    out.print(f"wrote {n(result['documents'], 'document')} from {n(result['files'], 'file')} to {result['out']} "
              f"({n(len(result['exact_duplicates']), 'exact duplicate')}, "
              f"{n(len(result['near_duplicates']), 'near-duplicate pair')} at >= {near_threshold}{skipped})",
              markup=False)

# ---------------------------------------------------------------- 2. Doccano: server, users, push, pull
server_app = typer.Typer(help="The local Doccano server: up, down, status (DOCCANO_URL selects a remote one).",
                         no_args_is_help=True)
users_app = typer.Typer(help="Annotator accounts on the local Doccano server.", no_args_is_help=True)
app.add_typer(server_app, name="server", rich_help_panel=DOCCANO)
app.add_typer(users_app, name="users", rich_help_panel=DOCCANO)

STATE_DIR_OPTION = typer.Option(None, "--state-dir", envvar="ANNOTATE_STATE_DIR",
                                help="Server state folder (database, logs, 0600 credentials). Default: .doccano/")


def _short(path: str) -> str:
    """A path relative to the current folder when it lies below it."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def _print_server(info: dict, as_json: bool) -> None:
    import json

    if as_json:
        out.print(json.dumps(info, indent=2), markup=False)
        return
    if not info.get("local", True):
        out.print(f"remote Doccano {info['url']}: {'healthy' if info['healthy'] else 'NOT healthy'}", markup=False)
        return
    state = "healthy" if info["healthy"] else ("running, NOT healthy" if info["running"] else "stopped")
    out.print(f"Doccano {info['url'] or '(never started)'}: {state}", markup=False)
    for name, p in info["processes"].items():
        out.print(f"  {name:<8} pid {p['pid'] or '-':<8} {'alive' if p['alive'] else 'not running':<12}"
                  f"log {_short(p['log'])}", markup=False)
    database = info["database"]
    if database.startswith("sqlite:///"):
        database = f"SQLite {_short(database[len('sqlite:///'):])}"
    out.print(f"  database    {database}\n  state dir   {_short(info['state_dir'])}\n"
              f"  credentials {_short(info['credentials_file'])} (0600; admin password there)", markup=False)


@command(on=server_app, name="up")
def server_up(
    port: int = typer.Option(8000, "--port", "-p", min=1, max=65535, help="Port on 127.0.0.1."),
    state_dir: Optional[Path] = STATE_DIR_OPTION,
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds to wait for /v1/health/."),
    db: Optional[str] = typer.Option(None, "--db", help="sqlite (default) or postgres: a private PostgreSQL "
                                     "cluster in the state folder (installed from Debian if missing). "
                                     "DATABASE_URL selects an existing PostgreSQL instead."),
    pg_port: Optional[int] = typer.Option(None, "--pg-port", min=1, max=65535,
                                          help="Loopback port of the private PostgreSQL (default: a free one)."),
    web_workers: Optional[int] = typer.Option(None, "--web-workers", min=1, max=64,
                                              help="gunicorn worker processes (default 2, about 170 MB each); "
                                                   "requests served at once."),
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """Start the local Doccano 1.8.4 on 127.0.0.1 (installs its venv the first time); no-op if running.

    Example:\n
      annotate server up --port 8000\n
      annotate server up --db postgres --state-dir .doccano-team
    """
    from .server import up

    with err.status("Doccano…") as spinner:  # a spinner on a terminal; the steps stay as lines

        def step(msg: str) -> None:
            err.print(f"[dim]{msg}…[/]")
            spinner.update(f"{msg}…")

        info = up(state_dir, port, timeout=timeout, db=db, pg_port=pg_port, web_workers=web_workers, step=step)
    if not as_json and info.get("local", True):
        err.print("started: " + (", ".join(info["started"]) or "nothing (already running)"), markup=False)
    _print_server(info, as_json)


@command(on=server_app, name="down")
def server_down(state_dir: Optional[Path] = STATE_DIR_OPTION) -> None:
    """Stop exactly the processes `server up` started (SIGTERM, then SIGKILL after 15 s).

    Example:\n
      annotate server down\n
      annotate server down --state-dir .doccano-team
    """
    from .server import down

    info = down(state_dir)
    stopped = ", ".join(f"{k} (pid {v})" for k, v in info["stopped"].items())
    out.print(f"stopped: {stopped}" if stopped else "nothing to stop", markup=False)


@command(on=server_app, name="status")
def server_status(
    state_dir: Optional[Path] = STATE_DIR_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the status as JSON."),
) -> None:
    """URL, health, PIDs, database, credentials file. Exit 1 if the server is not healthy.

    Example:\n
      annotate server status\n
      annotate server status --json\n
      DOCCANO_URL=https://doccano.example.org annotate server status
    """
    from .server import status

    info = status(state_dir)
    _print_server(info, as_json)
    if not info["healthy"]:
        raise typer.Exit(1)


def _steps(fn: Callable, *args, **kwargs):
    """Run a server chore with its steps printed and a spinner on a terminal."""
    with err.status("…") as spinner:

        def step(msg: str) -> None:
            err.print(f"[dim]{msg}…[/]")
            spinner.update(f"{msg}…")

        return fn(*args, step=step, **kwargs)


@command(on=server_app, name="backup")
def server_backup(
    folder: Path = typer.Argument(..., metavar="OUT", help="New folder for the backup (refused if it exists)."),
    state_dir: Optional[Path] = STATE_DIR_OPTION,
) -> None:
    """A consistent backup of the database and push journal while the server runs, with a checksummed manifest.

    SQLite: its online backup API; PostgreSQL: pg_dump. Not included: media/ (transient uploads), logs,
    credentials.\n
    Example:\n
      annotate server backup backups/2026-11-22
    """
    from .backup import backup

    info = _steps(backup, folder, state_dir)
    sizes = ", ".join(f"{f['name']} {f['bytes']:,} B" for f in info["files"])
    out.print(f"backup {_short(info['path'])}: {info['database']} ({sizes}); checksum {info['checksum'][:12]}…",
              markup=False)


@command(on=server_app, name="restore")
def server_restore(
    src: Path = typer.Argument(..., help="A folder written by `annotate server backup`."),
    state_dir: Optional[Path] = STATE_DIR_OPTION,
) -> None:
    """Bring a STOPPED server back to exactly the backup's state (checksums verified first).

    Example:\n
      annotate server down && annotate server restore backups/2026-11-22 && annotate server up
    """
    from .backup import restore

    info = _steps(restore, src, state_dir)
    out.print(f"restored {info['database']} database from {_short(info['restored'])} (taken {info['created_at']})"
              f"{' and the push journal' if info['journal'] else ''}; start it with `annotate server up`",
              markup=False)


@command(on=users_app, name="add")
def users_add(
    names: List[str] = typer.Argument(..., help="User names (letters, digits, @ . + - _)."),
    state_dir: Optional[Path] = STATE_DIR_OPTION,
) -> None:
    """Create annotator accounts on the local server; passwords go to the 0600 credentials file. Idempotent.

    Example:\n
      annotate users add annotator1 annotator2
    """
    from .server import add_users

    info = add_users(names, state_dir)
    out.print(f"created: {', '.join(info['created']) or '-'}; already present: {', '.join(info['present']) or '-'}",
              markup=False)
    err.print(f"passwords in {_short(info['credentials_file'])} (0600)", markup=False)

def _progress_bar(label: str, disable: bool = False):
    """A rich progress bar and the (stage, done, total) callback that drives it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err,
                   transient=True, disable=disable)
    task = bar.add_task(label, total=None)

    def update(stage: str, done: int, total: int) -> None:
        bar.update(task, completed=done, total=total or None)

    return bar, update


@command(DOCCANO)
def push(
    documents: Path = typer.Argument(..., help="documents.jsonl (from `annotate ingest`)."),
    project: str = typer.Option(..., "--project", "-p", help="Project name; with annotators: one project 'NAME · annotator' each."),
    annotators: Optional[str] = typer.Option(None, "--annotators", "-a",
                                             help="Comma-separated annotator accounts (created on the local server if missing)."),
    prelabel: Optional[str] = typer.Option(None, "--prelabel",
                                           help="Pre-annotate with an extractor: 'rules' or module:function."),
    chunk_size: int = typer.Option(1000, "--chunk-size", min=1, help="Documents per bulk import."),
    state_dir: Optional[Path] = STATE_DIR_OPTION,
    quiet: bool = QUIET_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Create or update the Doccano project(s) and upload the documents not there yet (idempotent).

    Each annotator gets their own project with the pre-annotations as editable spans, so labels stay
    independent. A rerun uploads only what is missing; a document whose text changed is reported,
    never overwritten.

    --quiet prints only changed documents and failures; --json the summary (per project: created,
    present, changed, failed). Exit 1 if a document failed.

    Examples:\n
      annotate push --project idlib --annotators annotator1,annotator2 --prelabel rules corpus/documents.jsonl\n
      annotate push -p idlib -a annotator1,annotator2 --prelabel mypackage.ner:extract corpus/documents.jsonl\n
      annotate push -p idlib corpus/documents.jsonl --json | jq .created
    """
    from rich.table import Table

    from .doccano import push as do_push

    names = [a for a in (annotators or "").split(",") if a.strip()]
    bar, update = _progress_bar("push", disable=quiet or as_json)
    with bar:
        res = do_push(documents, project, names, prelabel, chunk_size=chunk_size, state_dir=state_dir,
                      progress=update)
    if as_json:
        print_json(res)
    for change in res["setup_changes"] if not (quiet or as_json) else ():
        err.print(f"[dim]{change}[/]", highlight=False)
    if res["users_created"] and not (quiet or as_json):
        err.print(f"created accounts {', '.join(res['users_created'])} (passwords in the 0600 credentials file)",
                  markup=False)
    table = Table("Doccano project", "created", "skipped (present)", "changed", "failed", title=f"push → {res['server']}")
    for name, s in res["projects"].items():
        table.add_row(name, str(s["created"]), str(s["present"]), str(s["changed"]), str(s["failed"]))
    table.add_row("[bold]total[/]", str(res["created"]), str(res["present"]), str(res["changed"]), str(res["failed"]))
    if not (quiet or as_json):
        out.print(table)
    if prelabel and res["created"] and not (quiet or as_json):
        out.print(f"pre-annotated spans in the documents uploaded now: {res['prelabels']}"
                  + (f" ({res['prelabels_dropped_overlap']} overlapping ones dropped)"
                     if res["prelabels_dropped_overlap"] else ""), markup=False)
    for doc_id in res["changed_ids"]:
        err.print(f"changed: {doc_id}: its text differs from the one in Doccano (not overwritten)", markup=False)
    for failure in res["failures"]:
        err.print(f"failed: {failure}", markup=False)
    if res["failed"]:
        raise typer.Exit(1)


@command(DOCCANO)
def pull(
    project: str = typer.Option(..., "--project", "-p", help="Project name as given to push."),
    out_dir: Path = typer.Option(Path("corpus/annotations"), "--out", "-o", help="Snapshots go to OUT/PROJECT/<UTC time>/."),
    state_dir: Optional[Path] = STATE_DIR_OPTION,
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the snapshot folder (and problems on stderr)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Snapshot every annotator's labels (append-only): spans in code points, relations, confirmed, origin.

    Examples:\n
      annotate pull --project idlib\n
      annotate pull --project idlib --out /data/annotations --json\n
      SNAPSHOT=$(annotate pull -p idlib -q) && annotate agree "$SNAPSHOT"
    """
    from rich.table import Table

    from .doccano import pull as do_pull

    bar, update = _progress_bar("pull", disable=quiet or as_json)
    with bar:
        res = do_pull(project, out_dir, state_dir=state_dir, progress=update)
    for problem in res["problems"] if (quiet or as_json) else ():
        err.print(f"problem: {problem}", markup=False)
    if as_json:
        return print_json(res)
    if quiet:
        return out.print(res["snapshot"], markup=False)
    table = Table("documents", "records", "spans", "kept pre-annotations", "added", "relations", "confirmed",
                  title=f"pull ← {res['server']}: {', '.join(res['annotators'])}")
    table.add_row(*(str(res[k]) for k in ("documents", "records", "spans", "prelabels_kept", "spans_added",
                                          "relations", "confirmed")))
    out.print(table)
    for problem in res["problems"]:
        err.print(f"problem: {problem}", markup=False)
    if res.get("pull_path") == "unchanged":
        out.print(f"unchanged since {res['body_from']}: body copied", markup=False)
    out.print(f"snapshot {res['snapshot']}", markup=False)

# ---------------------------------------------------------------- 3. Gold data
# (agree, adjudicate, project-labels, lint, export, verify, import go here)
def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


@command(GOLD)
def agree(
    snapshot: Path = typer.Argument(..., help="A pull snapshot folder (or its annotations.jsonl)."),
    documents: Path = typer.Option(Path("corpus/documents.jsonl"), "--documents", "-d",
                                   help="documents.jsonl, for texts when the snapshot lines carry none."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write every figure and the disagreements here."),
    include_unconfirmed: bool = typer.Option(False, "--include-unconfirmed",
                                             help="Count documents an annotator has not marked done."),
    show: int = typer.Option(20, "--show", help="Disagreements to print (0: none, -1: all)."),
) -> None:
    """Pairwise inter-annotator agreement: strict and overlap span F1 and token kappa, per label.

    INCEpTION-style: every pair of annotators over the documents both labelled (confirmed ones
    unless --include-unconfirmed); tokens from spaCy's blank English tokenizer.

    Example:\n
      annotate agree corpus/annotations/gold/20261122T000000Z --json agreement.json
    """
    from rich.table import Table
    from rich.text import Text

    from .agree import agree as run_agree

    with err.status("measuring agreement…"):  # a spinner on a terminal, nothing in a log
        res = run_agree(snapshot, documents, confirmed_only=not include_unconfirmed, json_out=json_out)
    ov = res["overall"]
    out.print(f"{res['documents']} document(s), annotators: {', '.join(res['annotators']) or '-'}; "
              f"{ov['pairs']} pair(s)", markup=False, emoji=False)
    table = Table("label", "strict F1", "overlap F1", "kappa", "alpha",
                  title="F1 and kappa: mean over pairs; alpha: all annotators")
    for lab, v in ov["per_label"].items():
        table.add_row(lab, _f(v["strict_f1"]), _f(v["overlap_f1"]), _f(v["kappa"]), _f(v["alpha"]))
    table.add_row("[b]all[/]", _f(ov["strict_f1"]), _f(ov["overlap_f1"]), _f(ov["kappa"]), _f(ov["alpha"]))
    out.print(table)
    if res["pairs"]:
        pt = Table("pair", "docs", "tokens", "strict F1", "overlap F1", "kappa", "relations F1", title="pairs")
        for p in res["pairs"]:
            pt.add_row(f"{p['a']} / {p['b']}", str(p["documents"]), str(p["tokens"]), _f(p["strict_f1"]),
                       _f(p["overlap_f1"]), _f(p["kappa"]), _f(p["relations_f1"]))
        out.print(pt)
    dis = res["disagreements"]
    if dis and show:
        dt = Table("document", "offsets", "kind", "text", "who said what", title=f"disagreements ({len(dis)})")
        for d in dis if show < 0 else dis[:show]:
            said = "; ".join(f"{a}: " + (", ".join(f"{s['label']} {s['text']!r}" for s in spans) or "nothing")
                             for a, spans in d["by"].items())
            dt.add_row(Text(d["doc"]), f"{d['start']}-{d['end']}", d["kind"], Text(d["text"]), Text(said))
        out.print(dt)
    ex = res["excluded_unconfirmed"]
    if ex["unconfirmed_lines"]:
        err.print(f"left out {ex['unconfirmed_lines']} unconfirmed line(s) with {ex['unconfirmed_spans']} span(s); "
                  "--include-unconfirmed counts them", markup=False, emoji=False)
    if not res["pairs"]:
        err.print("no document was labelled by two annotators: agreement is undefined (shown as -)",
                  markup=False, emoji=False)


@command(GOLD)
def adjudicate(
    snapshot: Path = typer.Argument(..., help="A pull snapshot folder (or its annotations.jsonl)."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Gold candidate JSONL to write."),
    conflicts: Optional[Path] = typer.Option(None, "--conflicts", "-c",
                                             help="Conflicts JSONL to write (default: OUT with .conflicts.jsonl)."),
    decisions: Optional[Path] = typer.Option(None, "--decisions",
                                             help='Decisions JSONL: {"conflict": ID, "action": "accept"|"reject", ...}.'),
    min_agree: str = typer.Option("all", "--min-agree", help="'all' or N: how many annotators must give a span."),
    documents: Path = typer.Option(Path("corpus/documents.jsonl"), "--documents", "-d",
                                   help="documents.jsonl, for texts when the snapshot lines carry none."),
    include_unconfirmed: bool = typer.Option(False, "--include-unconfirmed",
                                             help="Use documents an annotator has not marked done."),
) -> None:
    """Merge annotators into a gold candidate; the rest become conflicts a decisions file resolves.

    Every input span ends accepted, rejected or open (the accounting is printed and adds up).
    Exit 1 while conflicts are open (the candidate is still written; export refuses it).

    Example:\n
      annotate adjudicate SNAPSHOT --out gold.candidate.jsonl --decisions decisions.jsonl
    """
    from .adjudicate import adjudicate as run_adjudicate

    conflicts = conflicts or out_path.with_name(out_path.name.removesuffix(".jsonl") + ".conflicts.jsonl")
    with err.status("adjudicating…"):
        res = run_adjudicate(snapshot, documents, min_agree=min_agree, decisions=decisions, out=out_path,
                             conflicts_out=conflicts, confirmed_only=not include_unconfirmed)
    a = res["accounting"]
    for kind in ("spans", "relations"):
        c = a[kind]
        out.print(f"{kind}: {c['in']} in = {c['agreed']} agreed + {c['decision']} by decision + "
                  f"{c['rejected']} rejected + {c['open']} open"
                  + (f" (and {c['added_by_decision']} added by the adjudicator)" if c.get("added_by_decision") else ""),
                  markup=False, emoji=False)
    ex = a["excluded_unconfirmed"]
    if ex["lines"]:
        out.print(f"left out: {ex['lines']} unconfirmed line(s) with {ex['spans']} span(s) and {ex['relations']} "
                  "relation(s) (--include-unconfirmed uses them)", markup=False, emoji=False)
    for cid in res["unused_decisions"]:
        err.print(f"warning: decision for {cid}: no such conflict in this snapshot (stale?)", markup=False, emoji=False)
    out.print(f"{res['documents']} document(s) -> {out_path}; {len(res['conflicts'])} conflict(s) -> {conflicts} "
              f"({res['resolved_conflicts']} resolved, {len(res['open_conflicts'])} open)", markup=False, emoji=False)
    if res["open_conflicts"]:
        raise typer.Exit(1)


@command(GOLD, name="import")
def import_cmd(
    source: Path = typer.Argument(..., help="Prodigy-style or Doccano JSONL export."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Gold JSONL to write."),
    fmt: str = typer.Option("auto", "--format", "-f", help="auto, prodigy or doccano."),
    id_key: Optional[str] = typer.Option(None, "--id-key", help="Dotted key holding the document id (meta.doc_id)."),
    documents: Optional[Path] = typer.Option(None, "--documents", "-d",
                                             help="documents.jsonl: take ids of texts found there."),
) -> None:
    """Convert Prodigy (spans, token relations) or Doccano (entities/relations or label; UTF-16 offsets)
    JSONL into gold records.

    Example:\n
      annotate import prodigy_export.jsonl --out imported.jsonl --documents corpus/documents.jsonl
    """
    from .convert import convert

    res = convert(source, fmt, out=out_path, id_key=id_key, documents=documents)
    for u in res["unmapped"]:
        err.print(f"not imported: {source}:{u['line']} ({u['doc']}): relation {u['relation']}: {u['reason']}",
                  markup=False, emoji=False)
    for s in res["skipped"]:
        err.print(f"skipped {source}:{s['line']}: {s['reason']}", markup=False, emoji=False)
    out.print(f"{res['documents']} record(s) ({', '.join(res['format']) or '-'}) -> {out_path}; "
              f"{len(res['skipped'])} skipped, {len(res['unmapped'])} relation(s) not mappable", markup=False, emoji=False)


@command(GOLD, name="project-labels")
def project_labels_cmd(
    gold: Path = typer.Argument(..., help="Gold JSONL whose spans to carry over."),
    documents: Path = typer.Option(Path("corpus/documents.jsonl"), "--documents", "-d",
                                   help="documents.jsonl with meta.near_duplicates (from ingest)."),
    out_path: Path = typer.Option(..., "--out", "-o", help="Write the projected gold records here (JSONL)."),
    review: Optional[Path] = typer.Option(None, "--review", "-r",
                                          help="Write the review list here (default: OUT with .review.jsonl)."),
    min_similarity: float = typer.Option(0.0, "--min-similarity", help="Skip near-duplicates less similar than this."),
) -> None:
    """Carry gold spans onto near-duplicate documents by character alignment.

    A span is projected only if its exact text aligns (difflib, autojunk off); the others go to the
    review list with a suggested location that is NOT applied. Relations follow their endpoints.

    Example:\n
      annotate project-labels gold.jsonl --documents corpus/documents.jsonl --out projected.jsonl
    """
    from .gold import project_labels

    review = review or out_path.with_name(out_path.name.removesuffix(".jsonl") + ".review.jsonl")
    res = project_labels(documents, gold, out=out_path, review_out=review, min_similarity=min_similarity)
    from rich.table import Table

    table = Table("from", "to", "similarity", "spans", "projected", "review", "relations", "rel. projected")
    for p in res["pairs"]:
        table.add_row(p["from_doc"], p["doc"], f"{p['similarity']:.3f}", str(p["spans"]), str(p["projected"]),
                      str(p["review"]), str(p["relations"]), str(p["relations_projected"]))
    out.print(table)
    for s in res["skipped"]:
        err.print(f"skipped {s['from_doc']} -> {s['doc']}: {s['reason']}", markup=False, emoji=False)
    for item in res["review"]:
        what = (f"{item['span']['label']} {item['text']!r}" if item["kind"] == "span"
                else f"{item['relation']['label']} relation")
        sug = item.get("suggestion")
        err.print(f"review {item['doc']}: {what} from {item['from_doc']}: {item['reason']}"
                  + (f"; alignment suggests {sug['start']}-{sug['end']} {sug['text']!r}" if sug else ""), markup=False, emoji=False)
    err.print(f"{res['projected_spans']} span(s) projected -> {out_path}; {len(res['review'])} item(s) to review -> {review}",
              markup=False, emoji=False)


@command(GOLD)
def lint(
    gold: List[Path] = typer.Argument(..., help="Gold JSONL file(s), checked together."),
    allow: Optional[Path] = typer.Option(None, "--allow", help='Allow file: "DOC:OFFSET CODE reason" lines.'),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the findings as JSON here."),
) -> None:
    """Consistency checks across a gold corpus; exit 1 on any unexplained finding.

    Prints file:doc:offset: message [code]. Codes: label-conflict, unlabelled, whitespace, mid-word,
    relation-type, relation-endpoint, duplicate-span. Explained findings (--allow) print with their reason.

    Example:\n
      annotate lint corpus/gold/latest/gold.jsonl --allow corpus/gold/lint-allow.txt
    """
    from .jsonl import write_json
    from .lint import format_finding, lint as run_lint

    with err.status("linting…"):
        res = run_lint(gold, allow=allow)
    for f in res["findings"]:
        if f.get("reason"):
            out.print(f"{format_finding(f)} (allowed: {f['reason']})", markup=False, emoji=False, style="dim")
        else:
            out.print(format_finding(f), markup=False, emoji=False)
    if json_out:
        write_json(json_out, res)
    err.print(f"{res['documents']} document(s): {res['unexplained']} finding(s), {res['explained']} explained",
              markup=False, emoji=False)
    if res["unexplained"]:
        raise typer.Exit(1)


@command(GOLD)
def export(
    gold: Path = typer.Argument(..., help="Gold candidate JSONL (from adjudicate, project-labels or import)."),
    version: str = typer.Option(..., "--version", "-v", help="Release version X.Y.Z (semver rules enforced)."),
    out_root: Path = typer.Option(Path("corpus/gold"), "--out-root", help="Folder holding the vX.Y.Z releases."),
    snapshot: Optional[Path] = typer.Option(None, "--snapshot", help="The pull snapshot folder it came from."),
    agreement: Optional[Path] = typer.Option(None, "--agreement", help="JSON from `annotate agree --json`."),
    documents: Path = typer.Option(Path("corpus/documents.jsonl"), "--documents", "-d",
                                   help="documents.jsonl, for per-document source/outlet in the data card "
                                        "(skipped with a warning when absent)."),
    datacard_notes: Optional[Path] = typer.Option(None, "--datacard-notes", help="Markdown added to DATACARD.md."),
    allow: Optional[Path] = typer.Option(None, "--allow", help="Lint allow file: explanations for the data card."),
    allow_open: bool = typer.Option(False, "--allow-open", help="Export even with open adjudication conflicts."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the release folder (warnings on stderr)."),
    as_json: bool = typer.Option(False, "--json", help="Print the release folder, manifest and diff as JSON."),
) -> None:
    """Write an immutable release corpus/gold/vX.Y.Z/ and point corpus/gold/latest at it.

    Files: gold.jsonl, gold.spacy, gold.conll, doccano.jsonl, manifest.json, DATACARD.md, CHANGELOG.md.
    Refuses to overwrite a release, and a version whose bump does not match the change
    (label set change: major; documents added: minor; fixes: patch).

    Examples:\n
      annotate export gold.candidate.jsonl --version 0.1.0 --documents corpus/documents.jsonl\n
      annotate export gold.candidate.jsonl -v 0.2.0 --snapshot SNAPSHOT --agreement agreement.json\n
      RELEASE=$(annotate export gold.candidate.jsonl -v 0.1.1 -q) && annotate verify "$RELEASE"
    """
    from .export import export as run_export

    if not documents.is_file():
        err.print(f"warning: {documents} not found: the data card will not name the sources of the texts",
                  markup=False, emoji=False)
    with err.status("exporting the release…"):
        res = run_export(gold, version, out_root, snapshot=snapshot, agreement=agreement,
                         documents=documents if documents.is_file() else None,
                         datacard_notes=datacard_notes, lint_allow=allow, allow_open=allow_open)
    m = res["manifest"]
    for w in res["warnings"]:
        err.print(f"warning: {w}", markup=False, emoji=False)
    if as_json:
        return print_json(res)
    if quiet:
        return out.print(res["release"], markup=False, emoji=False)
    ta = m["token_alignment"]
    out.print(f"{res['release']}: {m['counts']['documents']} documents, {m['counts']['spans']['total']} spans "
              f"({', '.join(f'{k} {v}' for k, v in m['counts']['spans']['by_label'].items())}), "
              f"{m['counts']['relations']['total']} relations", markup=False, emoji=False)
    out.print(f"  {'first release' if not res['previous'] else res['bump'] + ' release after ' + res['previous']}; "
              f"{len(ta['misaligned'])} span(s) off token boundaries and {len(ta['not_in_ents'])} nested span(s) "
              f"kept out of gold.conll/doc.ents (listed in manifest.json); lint: {m['lint']['unexplained']} "
              f"unexplained finding(s)", markup=False, emoji=False)


@command(GOLD)
def verify(
    release: Path = typer.Argument(..., help="A release folder, e.g. corpus/gold/v0.1.0 or corpus/gold/latest."),
) -> None:
    """Recompute every checksum and re-read every file of a release; exit 1 naming any changed file.

    Example:\n
      annotate verify corpus/gold/latest
    """
    from .export import verify_release as run_verify

    with err.status("verifying every file…"):
        res = run_verify(release)
    problems = res["problems"]
    for note in res["notes"]:
        err.print(f"note: {note}", markup=False, emoji=False)
    for p in problems:
        out.print(p, markup=False, emoji=False)
    if problems:
        raise typer.Exit(1)
    err.print(f"{release}: ok (checksums match, every file valid)", markup=False, emoji=False)


# ---------------------------------------------------------------- 4. Scoring
@command(SCORE)
def score(
    gold: Path = typer.Option(..., "--gold", "-g", help="Gold JSONL, or a release folder corpus/gold/vX.Y.Z/."),
    pred: Optional[Path] = typer.Option(None, "--pred", "-p", help="Prediction JSONL: {id, spans, text?, relations?}."),
    extractor: Optional[str] = typer.Option(None, "--extractor", "-x",
                                            help="module:function taking a text, returning spans ('rules' = the rule baseline)."),
    command_: Optional[str] = typer.Option(None, "--command", "-c",
                                           help="Shell command: gold {id,text} JSONL on stdin, prediction JSONL on stdout."),
    spacy_: Optional[str] = typer.Option(None, "--spacy", help="spaCy pipeline name or path (reads doc.ents)."),
    spans_key: Optional[str] = typer.Option(None, "--spans-key", help="With --spacy: read doc.spans[KEY] instead of doc.ents."),
    label_map: Optional[str] = typer.Option(None, "--label-map",
                                            help="With --spacy: GPE=LOCATION,ORG=ACTOR,DATE= (empty drops; unnamed labels "
                                                 "are kept), JSON or a JSON file."),
    compare: Optional[Path] = typer.Option(None, "--compare", help="A second prediction JSONL: paired bootstrap against it."),
    compare_extractor: Optional[str] = typer.Option(None, "--compare-extractor", help="A second system as module:function."),
    bootstrap: int = typer.Option(1000, "--bootstrap", "-b", help="Bootstrap resamples over documents for the 95% CIs; 0 skips."),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap."),
    by: List[str] = typer.Option([], "--by", help="Per-slice scores by a field of the gold records, e.g. meta.outlet (repeatable)."),
    fail_under: List[str] = typer.Option([], "--fail-under",
                                         help="Gate: SCHEME[.LABEL].METRIC=MIN, e.g. strict.f1=0.60, strict.FIGURE.recall=0.5, "
                                              "type.macro_f1=0.5, relations.f1=0.3 (repeatable)."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Gate: an earlier --json report to compare with "
                                                                      "(scored on the same gold file, else exit 2)."),
    baseline_any_gold: bool = typer.Option(False, "--baseline-any-gold",
                                           help="Accept a --baseline scored on another gold file (a warning line)."),
    max_drop: Optional[float] = typer.Option(None, "--max-drop",
                                             help="With --baseline: largest allowed drop of any scheme's micro or macro F1 "
                                                  "(and relations F1); default 0."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the report as JSON (schemas/score_report.schema.json)."),
    markdown_out: Optional[Path] = typer.Option(None, "--markdown", help="Write the report as Markdown (CI summary, PR comment)."),
    errors_out: Optional[Path] = typer.Option(None, "--errors", help="Write an HTML page of every error in its sentence."),
    per_label: bool = typer.Option(True, "--per-label/--no-per-label", help="Print the per-label table."),
) -> None:
    """Score predictions against gold spans: P/R/F1 under four matching schemes, CIs, a CI gate.

    Offsets are Python str indices (code points), end exclusive: [0,10) and [10,20) touch, they do
    not overlap. Spans are matched one to one, whatever order they are listed in: same boundaries
    and label first, then same boundaries, then largest overlap (same label first, then position);
    a duplicate prediction is spurious. The schemes (SemEval-2013), what counts as correct:\n
      strict   same boundaries and same label\n
      exact    same boundaries, any label\n
      partial  overlap, any label; half credit: P = (COR + 0.5 PAR) / ACT, R = (COR + 0.5 PAR) / POS\n
      type     overlap, same label\n
    A wrong label on the right boundaries is INC in the overall row; per label it is charged to the
    gold label's recall (COR/INC/PAR/MIS sum to POS) and to the predicted label's precision
    (pred_correct/pred_incorrect/pred_partial/SPU sum to ACT), so per-label counts add up to overall.
    Documents without a prediction count as empty (reported); unknown ids or a different text are errors.

    Exit status: 0 ok, 1 a --fail-under/--max-drop threshold failed (one line each), 2 bad input.

    Examples:\n
      annotate score --gold corpus/gold/v0.1.0 --extractor rules\n
      annotate score --gold corpus/gold/v0.1.0 --pred preds.jsonl --json score.json --errors errors.html\n
      annotate score -g corpus/gold/v0.1.0 -c "python my_model.py" --fail-under strict.f1=0.60\n
      annotate score -g gold.jsonl --spacy ./my_pipeline --label-map GPE=LOCATION,ORG=ACTOR\n
      annotate score -g gold.jsonl -p new.jsonl --compare old.jsonl --by meta.outlet\n
      annotate score -g gold.jsonl -p new.jsonl --baseline main.json --max-drop 0.02 --markdown summary.md
    """
    from rich import box
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from . import report as render
    from .score import score as run_score

    with Progress(SpinnerColumn(), TextColumn("scoring"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("documents", total=None)
        result = run_score(
            gold, pred, extractor=extractor, command=command_, spacy=spacy_, spans_key=spans_key, label_map=label_map,
            compare=compare, compare_extractor=compare_extractor, bootstrap=bootstrap, seed=seed, by=by,
            fail_under=fail_under, baseline=baseline, max_drop=max_drop, json_path=json_out,
            markdown_path=markdown_out, errors_path=errors_out, baseline_any_gold=baseline_any_gold,
            progress=lambda n: progress.advance(task, n))

    docs = result["documents"]
    out.print(f"gold {result['gold']['path']} · {render.source_name(result['prediction'])} · {docs['gold']} documents, "
              f"{docs['gold_spans']} gold / {docs['predicted_spans']} predicted spans", markup=False)
    if docs["missing_predictions"]:
        err.print(f"warning: {docs['missing_predictions']} documents have no prediction and count as empty: "
                  f"{', '.join(docs['missing_ids'])}{' …' if docs['missing_predictions'] > len(docs['missing_ids']) else ''}",
                  markup=False)
    if docs.get("labels_not_in_schema"):
        err.print(f"warning: labels not in schemas/labels.json: {', '.join(docs['labels_not_in_schema'])}", markup=False)

    def table(title: str, header, rows) -> Table:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        for i, h in enumerate(header):
            t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            t.add_row(*row)
        # a pipe or CI log is not a terminal: print the whole table rather than squeeze it into 80 columns
        (out if out.is_terminal else Console(highlight=False, width=160)).print(t)

    ci_note = f" (95% CI: {docs['bootstrap']['resamples']} resamples)" if docs["bootstrap"]["resamples"] else ""
    table(f"Micro{ci_note}", render.MICRO_HEADER, render.micro_rows(result))
    if per_label:
        table("Per label", render.label_header(), render.label_rows(result))
    if result.get("compare"):
        table(f"Paired bootstrap vs {render.source_name(result['compare']['prediction'])}",
              render.COMPARE_HEADER, render.compare_rows(result))
    if result.get("slices"):
        table("Slices", render.SLICE_HEADER, render.slice_rows(result))
    for path, what in ((json_out, "report"), (markdown_out, "markdown"), (errors_out, "error page")):
        if path:
            err.print(f"wrote {what} {path}", markup=False)
    gate = result.get("gate")
    if gate:
        for line in gate.get("warnings", []):
            err.print(f"warning: {line}", markup=False)
        for line in gate["failures"]:
            out.print(f"FAIL {line}", markup=False)
        if not gate["passed"]:
            raise typer.Exit(1)
        out.print(f"gate passed ({len(gate['checks'])} checks)", markup=False)


if __name__ == "__main__":  # pragma: no cover
    app()
