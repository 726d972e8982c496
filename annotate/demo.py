"""`make demo`: the whole job end to end on the embedded seeds, against a real local Doccano.

:func:`run_demo` starts (or reuses) the local Doccano, ingests ``seeds/``, pushes the documents
with the rule baseline's pre-annotations to two demo annotators (one project each, as ``push``
always does), REPLAYS the current gold release's labels as their work through the REST API
(:mod:`annotate.replay`: a stand-in for people labelling in the web UI, so the demo needs no
human), pulls a snapshot, measures agreement, adjudicates, exports a release, verifies it and
scores the rule baseline against it.

Everything the demo writes goes to a new scratch folder per run (default ``.demo/<UTC time>/``,
git-ignored); committed releases under ``corpus/gold/`` are only read. The server keeps running
afterwards (``annotate server down`` stops it). Re-running is safe and quick: push uploads only
what is missing, the replay finds its labels in place and adds none twice, and the export goes to
the new run's folder.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Callable, Iterable, Optional

from .errors import CheckFailed

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "demo"
ANNOTATORS = ("annotator1", "annotator2")
STAGES = ("server", "ingest", "push", "replay", "pull", "agree", "adjudicate", "export", "verify", "score")

Step = Callable[[str, str], None]  # (stage, message)
Progress = Callable[[str, int, int], None]  # (stage, done, total)


def shown(path: str | Path) -> str:
    """A path as the user would type it: relative to the working folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def scratch_folder(base: str | Path | None = None) -> Path:
    """A new, empty run folder ``BASE/<UTC time>[-n]`` (BASE default: ``.demo/`` in the repository)."""
    base = Path(base) if base is not None else ROOT / ".demo"
    base.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for n in range(1, 1000):
        run = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            run.mkdir()
            return run
        except FileExistsError:
            continue
    raise FileExistsError(f"no free run folder under {base}")


def run_demo(*, scratch: str | Path | None = None, seeds: str | Path = ROOT / "seeds",
             gold: str | Path = ROOT / "corpus" / "gold" / "latest", project: str = PROJECT,
             annotators: Iterable[str] = ANNOTATORS, state_dir: str | Path | None = None, port: int = 8000,
             bootstrap: int = 1000, step: Optional[Step] = None, progress: Optional[Progress] = None) -> dict:
    """Run the pipeline end to end; return plain data about every stage (see the module docstring).

    ``scratch``: the run folder (default: a new ``.demo/<UTC time>/``). ``gold``: the release whose
    labels are replayed (default ``corpus/gold/latest``). ``state_dir``/``port``: the local server
    (default ``.doccano/`` on 8000, or ``ANNOTATE_STATE_DIR``; ``DOCCANO_URL`` is refused: replaying
    needs the demo accounts' passwords, which only the local server's credentials file has).
    """
    from . import server
    from .adjudicate import adjudicate
    from .agree import agree
    from .doccano import push, pull
    from .export import export, resolve_release, verify
    from .ingest import ingest
    from .replay import replay
    from .score import score

    annotators = list(annotators)

    def say(stage: str, message: str) -> None:
        if step:
            step(stage, message)

    release_in = resolve_release(gold)
    gold_file = release_in / "gold.jsonl"
    if not gold_file.is_file():
        raise CheckFailed(f"{gold}: no gold.jsonl: the demo replays the labels of a gold release",
                          hint="check out the repository's corpus/gold/ (the committed releases)")
    version = json.loads((release_in / "manifest.json").read_text(encoding="utf-8"))["version"].lstrip("v")
    run = Path(scratch) if scratch is not None else scratch_folder()
    run.mkdir(parents=True, exist_ok=True)
    result: dict = {"scratch": str(run), "project": project, "annotators": annotators,
                    "gold_replayed": str(gold_file)}

    say("server", "starting the local Doccano (the first time installs its venv: about a minute)")
    info = server.up(state_dir, port, step=lambda msg: say("server", msg))
    if not info.get("local", True):
        from .errors import InputError

        raise InputError("DOCCANO_URL is set: the demo runs on the local server only",
                         hint="unset DOCCANO_URL (the demo replays labels as local demo accounts)")
    result["server"] = {"url": info["url"], "started": info["started"], "installed": info["installed"],
                        "credentials_file": info["credentials_file"], "state_dir": info["state_dir"]}

    say("ingest", f"ingesting {shown(seeds)}/")
    documents = run / "documents.jsonl"
    ing = ingest([seeds], documents)
    result["ingest"] = {k: ing[k] for k in ("documents", "files", "warnings", "problems")} | {
        "near_duplicates": len(ing["near_duplicates"]), "out": str(documents)}

    say("push", f"pushing to {', '.join(annotators)} with rule-baseline pre-annotations")
    server.add_users(annotators, state_dir)
    pushed = push(documents, project, annotators, "rules", state_dir=state_dir, progress=progress)
    result["push"] = {k: pushed[k] for k in ("created", "present", "changed", "failed", "prelabels", "failures",
                                             "changed_ids")} | {"projects": pushed["projects"]}
    if pushed["failed"] or pushed["changed"]:
        raise CheckFailed(f"push: {pushed['failed']} failed, {pushed['changed']} changed "
                          f"({'; '.join(pushed['failures'] + pushed['changed_ids'])})")

    say("replay", f"REPLAYING {shown(gold_file)} as {', '.join(annotators)} through the REST API "
                  "(stands in for people labelling in the web UI)")
    result["replay"] = replay(gold_file, project, annotators, state_dir=state_dir, progress=progress)

    say("pull", "pulling every annotator's labels")
    pulled = pull(project, run / "annotations", state_dir=state_dir, progress=progress)
    result["pull"] = pulled
    snapshot = Path(pulled["snapshot"])

    say("agree", "inter-annotator agreement")
    agreement_file = run / "agreement.json"
    agreed = agree(snapshot, documents, json_out=agreement_file)
    result["agree"] = {"documents": agreed["documents"], "annotators": agreed["annotators"],
                       "overall": agreed["overall"], "disagreements": len(agreed["disagreements"]),
                       "json": str(agreement_file)}

    say("adjudicate", "merging the annotators into a gold candidate")
    candidate = run / "gold.candidate.jsonl"
    adj = adjudicate(snapshot, documents, out=candidate, conflicts_out=run / "gold.candidate.conflicts.jsonl")
    result["adjudicate"] = {k: adj[k] for k in ("documents", "accounting", "open_conflicts", "resolved_conflicts",
                                                "out", "conflicts_out")}
    if adj["open_conflicts"]:
        raise CheckFailed(f"adjudicate: {len(adj['open_conflicts'])} open conflict(s) (first: {adj['open_conflicts'][0]})",
                          hint=f"see {adj['conflicts_out']}")

    say("export", f"exporting release v{version} into the scratch folder")
    allow = ROOT / "corpus" / "hand" / "lint-allow.txt"
    exported = export(candidate, version, run / "gold", snapshot=snapshot, agreement=agreement_file,
                      documents=documents, lint_allow=allow if allow.is_file() else None)
    release = Path(exported["release"])
    m = exported["manifest"]
    result["export"] = {"release": str(release), "version": m["version"], "counts": m["counts"],
                        "lint_unexplained": m["lint"]["unexplained"], "warnings": exported["warnings"]}

    say("verify", f"verifying {shown(release)}")
    problems = verify(release)
    result["verify"] = {"problems": problems}
    if problems:
        raise CheckFailed(f"verify {release}: {problems[0]}")

    say("score", "scoring the rule baseline against the new release")
    errors_html, score_json = run / "errors.html", run / "score.json"
    result["score"] = score(release, extractor="rules", bootstrap=bootstrap, json_path=score_json,
                            errors_path=errors_html, markdown_path=run / "score.md")
    result["outputs"] = {"release": str(release), "errors_html": str(errors_html), "score_json": str(score_json),
                         "score_markdown": str(run / "score.md")}
    return result
