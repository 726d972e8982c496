"""Regenerate the README's five-minute tour from a real run, so it cannot drift.

Runs the tour's commands one by one in a scratch working folder (a copy of seeds/ and of the
committed gold release the annotators' labels are replayed from; scripts/ linked), against a
fresh local Doccano in a scratch state folder, and rewrites the README between
``<!-- tour:start -->`` and ``<!-- tour:end -->`` with each command and what it printed
(stdout and stderr, as a terminal shows them, 100 columns wide).

What is rewritten, and only this: the scratch state folder is shown as ``.doccano``, and the
server's port as 8000 (the tour runs on a free port so it never disturbs a running server; the
command shown is what a user types). Process ids, snapshot times and durations are the run's own.

    .venv/bin/python scripts/readme_tour.py            # run it and rewrite README.md
    .venv/bin/python scripts/readme_tour.py --check    # run it; exit 1 if README.md differs (volatile parts masked)

tests/test_readme_tour.py runs the same steps (but the server's) against the suite's Doccano and
compares them with the README, masking the volatile parts (:func:`normalize`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from annotate.jsonl import write_text

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
START, END = "<!-- tour:start -->", "<!-- tour:end -->"
PROJECT = "idlib"
ANNOTATORS = "annotator1,annotator2"
RELEASE = "corpus/gold/v0.1.0"
SNAP = "{snapshot}"  # filled in with the snapshot folder `pull` printed


@dataclass(frozen=True)
class Step:
    prose: str
    command: str  # as shown (and run; `annotate`/`python` resolve to this venv)
    server: bool = False  # starts or stops the server: run only when the tour has its own server
    exit: int = 0


STEPS = [
    Step("**Ingest** the raw articles into one document record per line ([`annotate ingest`](#annotate-ingest)):",
         "annotate ingest seeds/ --out corpus/documents.jsonl"),
    Step("**Start Doccano** on 127.0.0.1 ([`annotate server`](#annotate-server)); the first time it builds "
         "its own virtualenv (about a minute, once):",
         "annotate server up", server=True),
    Step("**Push** the documents, pre-annotated by the rule baseline, to two annotators: one Doccano project "
         "each, so they label independently and each can edit the pre-annotations "
         "([`annotate push`](#annotate-push)):",
         f"annotate push --project {PROJECT} --annotators {ANNOTATORS} --prelabel rules corpus/documents.jsonl"),
    Step("**Annotators label** in the web UI (log in at http://127.0.0.1:8000; passwords in "
         "`.doccano/credentials.json`). For this tour their work is a **replay**: the labels of the "
         "committed gold release, put in through the REST API as each annotator, keeping the pre-annotations "
         "that were right:",
         f"python scripts/replay_gold.py {RELEASE}/gold.jsonl --project {PROJECT} --annotators {ANNOTATORS}"),
    Step("**Pull** every annotator's labels into an append-only snapshot ([`annotate pull`](#annotate-pull)):",
         f"annotate pull --project {PROJECT}"),
    Step("**Agreement** between the annotators ([`annotate agree`](#annotate-agree); replayed labels agree "
         "perfectly by construction: the agree section shows real disagreements):",
         f"annotate agree {SNAP} --json agreement.json --show 0"),
    Step("**Adjudicate** into a gold candidate; every span ends agreed, decided, rejected or open "
         "([`annotate adjudicate`](#annotate-adjudicate)):",
         f"annotate adjudicate {SNAP} --out gold.candidate.jsonl"),
    Step("**Export** an immutable, checksummed release (here into `scratch/`, beside the committed "
         "`corpus/gold/`; [`annotate export`](#annotate-export)):",
         f"annotate export gold.candidate.jsonl --version 0.1.0 --out-root scratch/gold --snapshot {SNAP} "
         "--agreement agreement.json"),
    Step("**Verify** it: every checksum and every file ([`annotate verify`](#annotate-verify)):",
         "annotate verify scratch/gold/v0.1.0"),
    Step("**Score** an extractor against it: here the rule baseline, with the HTML page of its errors "
         "([`annotate score`](#annotate-score)):",
         "annotate score --gold scratch/gold/v0.1.0 --extractor rules --errors errors.html"),
    Step("**Stop** the server when done:", "annotate server down", server=True),
]


def prepare(work: Path) -> None:
    """The tour's working folder: seeds/, the committed release to replay, scripts/."""
    shutil.copytree(ROOT / "seeds", work / "seeds")
    shutil.copytree(ROOT / RELEASE, work / RELEASE)
    (work / "scripts").symlink_to(ROOT / "scripts")


def _argv(command: str, port: int | None) -> list[str]:
    argv = command.split()
    if argv[0] == "annotate":
        argv[0] = str(Path(sys.executable).with_name("annotate"))
    elif argv[0] == "python":
        argv[0] = sys.executable
    if argv[1:3] == ["server", "up"] and port is not None:
        argv += ["--port", str(port)]
    return argv


def run_steps(work: Path, state_dir: Path, *, own_server: bool, port: int | None = None) -> list[dict]:
    """Run the tour in ``work`` against the server of ``state_dir``; one dict per step run:
    {"prose", "command" (as shown), "output" (as printed, raw), "exit"}."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCCANO_") and k != "DATABASE_URL"}
    env.update(ANNOTATE_STATE_DIR=str(state_dir), COLUMNS="100", TERM="dumb", NO_COLOR="1")
    snapshot = None
    done = []
    for step in STEPS:
        if step.server and not own_server:
            continue
        command = step.command.replace(SNAP, snapshot or SNAP)
        proc = subprocess.run(_argv(command, port), cwd=work, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=900)
        found = re.search(r"^snapshot (\S+)$", proc.stdout, re.M)
        if found:
            snapshot = found.group(1)
        done.append({"prose": step.prose, "command": command, "output": proc.stdout.rstrip("\n"),
                     "exit": proc.returncode, "expected_exit": step.exit})
    return done


def displayed(text: str, state_dir: Path, port: int | None) -> str:
    """The two rewrites of the README (see the module docstring)."""
    text = text.replace(str(state_dir), ".doccano")
    if port is not None:
        text = text.replace(f"127.0.0.1:{port}", "127.0.0.1:8000")
    return text


def normalize(text: str) -> str:
    """Mask what differs between runs: snapshot times, pids, the port, and whether the annotator
    accounts were new on that server (push's "created accounts" line)."""
    text = re.sub(r"\d{8}T\d{6}Z", "<time>", text)
    text = re.sub(r"\bpid \d+", "pid <n>", text)
    text = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:<port>", text)
    return "\n".join(ln.rstrip() for ln in text.splitlines() if not ln.startswith("created accounts "))


def render(steps: list[dict]) -> str:
    parts = [START, "<!-- generated by scripts/readme_tour.py: edit the script, not this section -->", ""]
    for s in steps:
        parts += [s["prose"], "", "```console", f"$ {s['command']}"]
        if s["output"]:
            parts.append(s["output"])
        if s["exit"]:
            parts.append(f"# exit status {s['exit']}")
        parts += ["```", ""]
    parts.append(END)
    return "\n".join(parts)


def readme_steps(readme: str) -> list[dict]:
    """The commands and outputs of the README's tour section, parsed back."""
    section = readme[readme.index(START):readme.index(END)]
    steps = []
    for block in re.findall(r"```console\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        exit_status = re.search(r"^# exit status (\d+)$", rest, re.M)
        rest = re.sub(r"^# exit status \d+\n?", "", rest, flags=re.M)
        steps.append({"command": first.removeprefix("$ "), "output": rest.rstrip("\n"),
                      "exit": int(exit_status.group(1)) if exit_status else 0})
    return steps


def generate() -> str:
    from annotate import server

    with tempfile.TemporaryDirectory(prefix="annotate-tour-") as tmp:
        work, state = Path(tmp) / "work", Path(tmp) / "state"
        work.mkdir()
        prepare(work)
        port = server.free_port()
        try:
            steps = run_steps(work, state, own_server=True, port=port)
        finally:
            server.down(state)
        bad = [s for s in steps if s["exit"] != s["expected_exit"]]
        if bad:
            raise SystemExit(f"tour step failed: $ {bad[0]['command']} (exit {bad[0]['exit']})\n{bad[0]['output']}")
        for s in steps:
            s["output"] = displayed(s["output"], state, port)
            s["command"] = displayed(s["command"], state, port)
    return render(steps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if README.md's tour differs (volatile parts masked)")
    args = ap.parse_args(argv)
    section = generate()
    readme = README.read_text(encoding="utf-8")
    if START not in readme or END not in readme:
        print(f"error: README.md has no {START} ... {END} section", file=sys.stderr)
        return 2
    old = readme[readme.index(START):readme.index(END) + len(END)]
    if args.check:
        same = [normalize(s["output"]) for s in readme_steps(old)] == [normalize(s["output"]) for s in readme_steps(section)]
        print("README tour: up to date" if same else "README tour: differs (run scripts/readme_tour.py)")
        return 0 if same else 1
    write_text(README, readme.replace(old, section))
    print(f"README.md: tour rewritten ({len(readme_steps(section))} commands)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
