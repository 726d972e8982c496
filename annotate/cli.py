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


def command(panel: str, **kw) -> Callable:
    """Register a command in a help panel, turning AnnotateError into one line and its exit status."""

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except AnnotateError as e:
                raise fail(str(e), e.exit_code, e.hint) from None
            except (typer.Exit, typer.Abort, KeyboardInterrupt, SystemExit):
                raise
            except Exception as e:  # an unexpected failure: still one line, unless debugging
                if os.environ.get("ANNOTATE_DEBUG"):
                    raise
                raise fail(f"internal error: {type(e).__name__}: {e}", 2,
                           "rerun with ANNOTATE_DEBUG=1 for a traceback, and report it") from None

        return app.command(rich_help_panel=panel, **kw)(wrapper)

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
# (ingest command goes here)

# ---------------------------------------------------------------- 2. Doccano: server, users, push, pull
# (server/users/push/pull commands go here)

# ---------------------------------------------------------------- 3. Gold data
# (agree, adjudicate, project-labels, lint, export, verify, import go here)

# ---------------------------------------------------------------- 4. Scoring
# (score goes here)


if __name__ == "__main__":  # pragma: no cover
    app()
