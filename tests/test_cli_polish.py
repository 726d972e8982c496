"""The everyday contract of the command line: help grouped by stage with examples, shell completion,
one-line errors with exit statuses, and --quiet/--json for scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate.cli import app

ROOT = Path(__file__).resolve().parent.parent
ANNOTATE = str(Path(sys.executable).with_name("annotate"))
runner = CliRunner()


def _commands(typer_app, prefix=()):
    for c in typer_app.registered_commands:
        yield (*prefix, c.name or c.callback.__name__.replace("_", "-"))
    for g in typer_app.registered_groups:
        yield from _commands(g.typer_instance, (*prefix, g.name))


ALL = sorted(_commands(app))


def test_every_stage_has_a_panel_and_the_exit_statuses_are_documented():
    res = runner.invoke(app, ["--help"], env={"COLUMNS": "120"})
    assert res.exit_code == 0
    for panel in ("1. Corpus", "2. Doccano", "3. Gold data", "4. Scoring"):
        assert panel in res.output
    assert "0 ok, 1 a check failed, 2 bad input or usage" in res.output
    for top in {c[0] for c in ALL}:
        assert top in res.output


@pytest.mark.parametrize("cmd", ALL, ids=" ".join)
def test_every_command_has_examples_in_its_help(cmd):
    res = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "Example" in res.output
    assert f"annotate {' '.join(cmd)}" in res.output  # the example is of this command


def test_shell_completion_script():
    proc = subprocess.run([ANNOTATE, "--show-completion", "bash"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "_annotate_completion" in proc.stdout and "complete " in proc.stdout
    # the script calls back into the program, which completes `annotate veri` to verify
    env = {**os.environ, "_ANNOTATE_COMPLETE": "complete_bash", "COMP_WORDS": "annotate veri", "COMP_CWORD": "1"}
    done = subprocess.run([ANNOTATE], capture_output=True, text=True, timeout=60, env=env)
    assert done.stdout.split() == ["verify"]


def test_errors_are_one_line_with_a_hint_and_the_right_exit_status(tmp_path):
    # bad input -> 2, one error line and a hint, no traceback
    res = subprocess.run([ANNOTATE, "users", "add", "someone", "--state-dir", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.splitlines() == [f"error: no local Doccano server in {tmp_path / 'none'}",
                                       "hint: run `annotate server up` first"]
    # a path that cannot be written -> 2, one line (OSError through the same decorator)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = subprocess.run([ANNOTATE, "ingest", str(ROOT / "seeds"), "--out", str(blocker / "docs.jsonl")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith("error: ") and len(res.stderr.strip().splitlines()) == 2
    # a check that fails -> 1 (the server is not running)
    res = subprocess.run([ANNOTATE, "server", "status", "--state-dir", str(tmp_path / "none")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 1 and "stopped" in res.stdout


def test_ingest_json_and_quiet(tmp_path):
    res = runner.invoke(app, ["ingest", str(ROOT / "seeds"), "--out", str(tmp_path / "d.jsonl"), "--json"])
    assert res.exit_code == 0
    data = json.loads(res.stdout)
    assert data["documents"] == 5 and data["written"] and len(data["near_duplicates"]) == 1
    res = runner.invoke(app, ["ingest", str(ROOT / "seeds"), "--out", str(tmp_path / "e.jsonl"), "--quiet"])
    assert res.exit_code == 0 and res.stdout == ""
    assert (tmp_path / "e.jsonl").read_bytes() == (tmp_path / "d.jsonl").read_bytes()


def test_export_json_and_quiet(tmp_path):
    gold = ROOT / "corpus" / "gold" / "v0.1.0" / "gold.jsonl"
    res = runner.invoke(app, ["export", str(gold), "--version", "0.1.0", "--out-root", str(tmp_path / "a"),
                              "--documents", str(tmp_path / "none.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["release"] == str(tmp_path / "a" / "v0.1.0") and data["manifest"]["counts"]["documents"] == 5
    res = runner.invoke(app, ["export", str(gold), "--version", "0.1.0", "--out-root", str(tmp_path / "b"),
                              "--documents", str(tmp_path / "none.jsonl"), "-q"])
    assert res.exit_code == 0 and res.stdout == f"{tmp_path / 'b' / 'v0.1.0'}\n"


def test_push_and_pull_json_and_quiet(doccano_server, tmp_path):
    docs = ROOT / "corpus" / "documents.jsonl"
    res = runner.invoke(app, ["push", "--project", "cli-json", str(docs), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["created"] == 5 and data["projects"]["cli-json"]["created"] == 5
    res = runner.invoke(app, ["push", "--project", "cli-json", str(docs), "--quiet"])
    assert res.exit_code == 0 and res.stdout == ""
    res = runner.invoke(app, ["pull", "--project", "cli-json", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["documents"] == 5 and Path(data["snapshot"]).parent == tmp_path / "cli-json"
    res = runner.invoke(app, ["pull", "--project", "cli-json", "--out", str(tmp_path), "-q"])
    assert res.exit_code == 0
    (line,) = res.stdout.splitlines()
    assert Path(line).is_dir() and Path(line) != Path(data["snapshot"])
    res = runner.invoke(app, ["pull", "--project", "cli-json", "--out", str(tmp_path)])  # the human output
    assert res.exit_code == 0, res.output
    assert f"unchanged since {Path(line).name}: body copied" in res.stdout
