"""`make demo`: the whole job end to end on the embedded seeds (see annotate/demo.py).

Starts the local Doccano (installing it the first time), ingests seeds/, pushes the documents with
rule-baseline pre-annotations to two demo annotators, REPLAYS the current gold release's labels as
their work through the REST API (a stand-in for people labelling in the web UI), pulls, measures
agreement, adjudicates, exports a release into a scratch folder (.demo/<UTC time>/), verifies it and
scores the rule baseline against it. The server keeps running: `annotate server down` stops it.

    .venv/bin/python scripts/demo.py [--port 8000] [--state-dir .doccano] [--scratch DIR] [--bootstrap 1000]

Exit 0 ok, 1 a stage failed its check, 2 bad input or usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich import box  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn  # noqa: E402
from rich.table import Table  # noqa: E402

from annotate import report as render  # noqa: E402
from annotate.demo import ANNOTATORS, PROJECT, STAGES, run_demo, shown as short  # noqa: E402
from annotate.errors import AnnotateError  # noqa: E402

console = Console(highlight=False)
if not console.is_terminal:  # a pipe or CI log: print whole tables rather than squeeze them into 80 columns
    console = Console(highlight=False, width=160)


def table(title: str, header, rows) -> Table:
    t = Table(*header, title=title, title_justify="left", box=box.SIMPLE_HEAD)
    for row in rows:
        t.add_row(*row)
    return t


def summary(res: dict) -> None:
    """The end of the demo: what ran, then where to look."""
    p, r, pl = res["push"], res["replay"], res["pull"]
    console.print(f"  ingest      {res['ingest']['documents']} documents from {res['ingest']['files']} files "
                  f"-> {short(res['ingest']['out'])}")
    console.print(f"  push        {p['created']} uploaded, {p['present']} already there, "
                  f"{p['prelabels']} pre-annotated spans in the new uploads")
    for name, s in r["annotators"].items():
        console.print(f"  replay      {name}: kept {s['kept']} spans already right, deleted {s['deleted']}, added "
                      f"{s['added']} spans and {s['relations_added']} relations; {s['unchanged']} of "
                      f"{s['documents']} documents already as in the gold")
    console.print(f"  pull        {pl['records']} records, {pl['spans']} spans ({pl['prelabels_kept']} kept "
                  f"pre-annotations, {pl['spans_added']} added), {pl['relations']} relations -> "
                  f"{short(pl['snapshot'])}")
    ov = res["agree"]["overall"]
    f = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    console.print(f"  agree       strict F1 {f(ov['strict_f1'])}, kappa {f(ov['kappa'])}, alpha {f(ov['alpha'])}; "
                  f"{res['agree']['disagreements']} disagreements (replayed labels agree by construction)")
    a = res["adjudicate"]["accounting"]["spans"]
    console.print(f"  adjudicate  spans: {a['in']} in = {a['agreed']} agreed + {a['decision']} by decision + "
                  f"{a['rejected']} rejected + {a['open']} open")
    c = res["export"]["counts"]
    console.print(f"  export      {res['export']['version']}: {c['documents']} documents, {c['spans']['total']} spans, "
                  f"{c['relations']['total']} relations; verify ok")

    score = res["score"]
    docs = score["documents"]
    console.print()
    console.print(f"Rule baseline vs the demo release ({docs['gold']} documents, {docs['gold_spans']} gold / "
                  f"{docs['predicted_spans']} predicted spans)")
    console.print(table(f"Micro (95% CI: {docs['bootstrap']['resamples']} resamples)" if docs["bootstrap"]["resamples"]
                        else "Micro", render.MICRO_HEADER, render.micro_rows(score)))
    console.print(table("Per label", render.label_header(), render.label_rows(score)))

    out, srv = res["outputs"], res["server"]
    console.print("[bold]Where to look[/]")
    console.print(f"  Doccano UI     {srv['url']}  (projects '{PROJECT} · annotator1', '{PROJECT} · annotator2')")
    console.print(f"  logins         admin, {', '.join(res['annotators'])}: passwords in {short(srv['credentials_file'])} "
                  "(0600; never printed)")
    console.print(f"  release        {short(out['release'])}  (a scratch copy; corpus/gold/ is untouched)")
    console.print(f"  error report   {short(out['errors_html'])}  (open it in a browser)")
    console.print(f"  score report   {short(out['score_json'])}, {short(out['score_markdown'])}")
    console.print("  the server keeps running: `annotate server down` stops it")
    console.print("[dim]The labels were REPLAYED from the committed gold through the REST API; real annotation "
                  "is people working in the Doccano UI.[/]")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=8000, help="port of the local Doccano on 127.0.0.1 (default 8000)")
    ap.add_argument("--state-dir", type=Path, default=os.environ.get("ANNOTATE_STATE_DIR") or None,
                    help="server state folder (default .doccano/)")
    ap.add_argument("--scratch", type=Path, default=None, help="run folder (default: a new .demo/<UTC time>/)")
    ap.add_argument("--project", default=PROJECT, help=f"Doccano project name (default {PROJECT})")
    ap.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the score CIs (0 skips)")
    args = ap.parse_args(argv)

    console.rule("[bold]annotate demo[/]: seeds -> Doccano -> gold release -> score")
    bar = Progress(SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=console, transient=True)
    tasks: dict[str, int] = {}
    current = {"stage": None}

    def step(stage: str, message: str) -> None:
        if stage != current["stage"]:
            current["stage"] = stage
            console.print(f"[bold cyan]{STAGES.index(stage) + 1:>2}. {stage}[/] {message}")
        else:
            console.print(f"    [dim]{message}[/]")
        if "spin" not in tasks:
            tasks["spin"] = bar.add_task(stage, total=None)
        bar.update(tasks["spin"], description=stage, total=None, completed=0)

    def progress(stage: str, done: int, total: int) -> None:
        bar.update(tasks.setdefault("spin", bar.add_task(stage, total=None)), description=stage,
                   completed=done, total=total or None)

    try:
        with bar:
            res = run_demo(scratch=args.scratch, project=args.project, state_dir=args.state_dir, port=args.port,
                           bootstrap=args.bootstrap, annotators=ANNOTATORS, step=step, progress=progress)
    except AnnotateError as e:
        console.print(f"[bold red]error:[/] {e}")
        if e.hint:
            console.print(f"[dim]hint: {e.hint}[/]")
        return e.exit_code
    except KeyboardInterrupt:
        console.print("[bold red]interrupted[/]: rerun `make demo` (it resumes; the server keeps running)")
        return 130
    console.rule("[bold]done[/]")
    summary(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
