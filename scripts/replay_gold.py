"""Replay gold labels in Doccano as annotators' work, through the REST API (a stand-in for people).

Real annotation is people labelling in Doccano's web UI. To try the pipeline without them (the
demo, the README tour, tests), this does through the API what an annotator does in the browser, in
each annotator's project ``PROJECT · ANNOTATOR`` made by ``annotate push``: keeps the
pre-annotations that equal a gold span, deletes the others, adds the missing spans and relations,
and confirms each document. Idempotent: a second run changes nothing (see annotate/replay.py).

    .venv/bin/python scripts/replay_gold.py corpus/gold/v0.1.0/gold.jsonl --project idlib \\
        --annotators annotator1,annotator2

Local server only (the annotators' passwords come from its 0600 credentials file; never printed).
Exit 0 ok, 1 Doccano refused or failed a request, 2 bad input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotate.errors import AnnotateError  # noqa: E402
from annotate.replay import replay  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("gold", type=Path, help="gold JSONL (e.g. corpus/gold/v0.1.0/gold.jsonl)")
    ap.add_argument("--project", required=True, help="the project name given to `annotate push`")
    ap.add_argument("--annotators", required=True, help="comma-separated annotator accounts")
    ap.add_argument("--state-dir", type=Path, default=None, help="local server state folder (default .doccano/)")
    args = ap.parse_args(argv)
    try:
        res = replay(args.gold, args.project, args.annotators.split(","), state_dir=args.state_dir)
    except AnnotateError as e:
        print(f"error: {e}", file=sys.stderr)
        if e.hint:
            print(f"hint: {e.hint}", file=sys.stderr)
        return e.exit_code
    print(f"REPLAYED {args.gold} as {', '.join(res['annotators'])} (a stand-in for labelling in the UI):")
    for name, s in res["annotators"].items():
        print(f"  {name}: {s['documents']} documents; kept {s['kept']} spans already right, deleted {s['deleted']}, "
              f"added {s['added']} spans and {s['relations_added']} relations, confirmed {s['confirmed']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
