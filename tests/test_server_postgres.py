"""Team deployment: Doccano on a private PostgreSQL (``server up --db postgres``), and backup/restore.

* The Doccano round trip of tests/test_doccano_roundtrip.py, run unchanged on PostgreSQL: the test
  function is imported from there (so it stays the same test) and called with ``doccano_server_pg``.
* PostgreSQL specifics: three recorded processes, loopback only, the role's password only in the
  0600 file (never in argv or logs), the data folder private, ``down`` stops PostgreSQL too.
* Backup and restore on both databases: label, back up, label more, restore, start, pull: the
  snapshot equals the one taken at backup time. Checksums are verified before anything is replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import sqlite3
import stat
import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotate import backup, doccano, pgcluster, server
from annotate.cli import app
from annotate.errors import CheckFailed, InputError
from annotate.jsonl import read_jsonl

# The round trip itself (and its documents fixture) from the SQLite test module: one test, two databases.
from test_doccano_roundtrip import Annotator, document, documents  # noqa: F401  (fixture)
from test_doccano_roundtrip import test_round_trip_two_annotators as round_trip_two_annotators
from test_server import _listening

runner = CliRunner()


# ------------------------------------------------------------------ the round trip on PostgreSQL

def test_round_trip_on_postgres(doccano_server_pg, documents, tmp_path):  # noqa: F811
    assert doccano_server_pg.status()["database"].startswith("postgresql://doccano:***@127.0.0.1:")
    round_trip_two_annotators(doccano_server_pg, documents, tmp_path)


# ------------------------------------------------------------------ the private cluster

def test_postgres_server_is_private_and_loopback_only(doccano_server_pg):
    ds = doccano_server_pg
    info = ds.status()
    assert info["healthy"] and info["running"] and list(info["processes"]) == ["postgres", "worker", "web"]
    creds = json.loads((ds.state_dir / "credentials.json").read_text())
    pg = creds["postgres"]
    assert stat.S_IMODE((ds.state_dir / "credentials.json").stat().st_mode) == 0o600
    assert info["database"] == f"postgresql://doccano:***@127.0.0.1:{pg['port']}/doccano?sslmode=disable"
    assert pg["password"] not in json.dumps(info) and len(pg["password"]) >= 24
    assert _listening(pg["port"]) == ["0100007F"]  # 127.0.0.1 only
    data = pgcluster.data_dir(ds.state_dir)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    if os.geteuid() == 0:  # PostgreSQL refuses root: the cluster belongs to the postgres OS user
        assert data.stat().st_uid == pwd.getpwnam("postgres").pw_uid
    assert (pgcluster.socket_dir(ds.state_dir) / f".s.PGSQL.{pg['port']}").is_socket()
    # the role's password is in no process's argv and no log
    pids = [p.name for p in Path("/proc").iterdir() if p.name.isdigit()]
    for pid in pids:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert pg["password"] not in argv, pid
    for log in (ds.state_dir / "logs").glob("*.log"):
        assert pg["password"] not in log.read_text(errors="replace"), log
    # password authentication is enforced over TCP: a wrong password is refused
    bin_dir = pgcluster.bindir()
    wrong = {**pg, "password": "wrong"}
    with pytest.raises(pgcluster.PostgresError, match="password authentication failed"):
        pgcluster.dump(pgcluster.database_url(wrong), Path(os.devnull), bin_dir)


def test_second_up_is_a_no_op_and_the_database_cannot_be_switched(doccano_server_pg):
    ds = doccano_server_pg
    before = ds.pids()
    info = server.up(ds.state_dir, ds.port)  # no --db: the state dir remembers PostgreSQL
    assert info["started"] == [] and ds.pids() == before
    with pytest.raises(InputError, match="cannot switch to SQLite"):
        server.up(ds.state_dir, ds.port, db="sqlite")


def test_db_choice_is_checked_without_a_server(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    (tmp_path / "db.sqlite3").write_bytes(b"")
    with pytest.raises(InputError, match="cannot switch to a private PostgreSQL"):
        server.up(tmp_path, server.free_port(), db="postgres")
    with pytest.raises(InputError, match="choose one of sqlite, postgres"):
        server.up(tmp_path / "other", server.free_port(), db="mysql")
    with pytest.raises(InputError, match="at least 1"):
        server.up(tmp_path / "other", server.free_port(), web_workers=0)
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@127.0.0.1:1/db?sslmode=disable")
    result = runner.invoke(app, ["server", "up", "--db", "postgres", "--state-dir", str(tmp_path / "new")])
    assert result.exit_code == 2 and "DATABASE_URL" in result.output and "p@" not in result.output


def test_a_crashed_postgres_is_restarted(doccano_server_pg):
    ds = doccano_server_pg
    before = ds.pids()
    assert ds.kill("postgres") == before["postgres"]
    deadline = time.monotonic() + 30
    while _listening(json.loads((ds.state_dir / "credentials.json").read_text())["postgres"]["port"]):
        assert time.monotonic() < deadline  # orphaned backends notice the postmaster's death and exit
        time.sleep(0.2)
    info = ds.restart()
    # the worker and web server held connections to the dead PostgreSQL: restarted with it
    assert info["started"] == ["postgres", "worker", "web"] and info["healthy"]
    after = ds.pids()
    assert after["web"] != before["web"] and after["worker"] != before["worker"]
    assert ds.token()  # the first request already works


# ------------------------------------------------------------------ backup and restore, both databases

def _label(ds, pid: int, eid: int, text: str, token: str, words: list[str], label: str) -> None:
    a = Annotator(ds.url, token)
    span_types = a.types(pid, "span-types")
    for w in words:
        start = text.index(w)
        a.api("POST", f"projects/{pid}/examples/{eid}/spans",
              json={"start_offset": start, "end_offset": start + len(w), "label": span_types[label]})


@pytest.mark.parametrize("server_fixture", ["doccano_server", "doccano_server_pg"])
def test_backup_label_more_restore_pull_equals_the_backup(server_fixture, request, tmp_path):
    """Label, back up while running, label and push more, restore into the stopped server, start, pull:
    the snapshot body is byte-identical to the one pulled at backup time."""
    ds = request.getfixturevalue(server_fixture)
    docs = tmp_path / "docs.jsonl"
    texts = {"bk-1": "Rescuers said 7 civilians were killed in Idlib.", "bk-2": "Activists told Reuters 3 died in Hama."}
    docs.write_text("".join(json.dumps(document(k, v)) + "\n" for k, v in texts.items()), encoding="utf-8")
    doccano.push(docs, "bk", ["bk_ann"], connection=ds.settings())
    token = ds.token("bk_ann")
    a = Annotator(ds.url, token)
    pid = a.project("bk · bk_ann")
    ex = a.examples(pid)
    _label(ds, pid, ex["bk-1"]["id"], texts["bk-1"], token, ["Rescuers", "Idlib"], "ACTOR")
    a.api("POST", f"projects/{pid}/examples/{ex['bk-1']['id']}/states", json={})
    before = doccano.pull("bk", tmp_path / "snap", connection=ds.settings())

    out = tmp_path / "backup"
    made = backup.backup(out, ds.state_dir)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    names = {f["name"] for f in made["files"]}
    assert names == {"db.sqlite3" if server_fixture == "doccano_server" else "doccano.pgdump", "push-journal.tar"}
    with pytest.raises(InputError, match="already exists"):
        backup.backup(out, ds.state_dir)

    # label more, and push one more document (the push journal changes too)
    _label(ds, pid, ex["bk-2"]["id"], texts["bk-2"], token, ["Activists", "Hama"], "LOCATION")
    a.api("POST", f"projects/{pid}/examples/{ex['bk-2']['id']}/states", json={})
    docs.write_text(docs.read_text() + json.dumps(document("bk-3", "Idlib again.")) + "\n", encoding="utf-8")
    assert doccano.push(docs, "bk", ["bk_ann"], connection=ds.settings())["created"] == 1
    after = doccano.pull("bk", tmp_path / "snap", connection=ds.settings())
    body = lambda snap: (Path(snap["snapshot"]) / "annotations.jsonl").read_bytes()  # noqa: E731
    assert body(after) != body(before)

    with pytest.raises(InputError, match="restore needs it stopped"):
        backup.restore(out, ds.state_dir)
    pids = ds.pids()
    stopped = server.down(ds.state_dir)
    assert set(stopped["stopped"].values()) == {p for p in pids.values() if p}  # PostgreSQL too
    assert not any(p["alive"] for p in server.status(ds.state_dir)["processes"].values())
    result = runner.invoke(app, ["server", "restore", str(out), "--state-dir", str(ds.state_dir)])
    assert result.exit_code == 0, result.output
    assert "restored" in result.stdout and "push journal" in result.stdout
    if server_fixture == "doccano_server_pg":  # restore started PostgreSQL for itself and stopped it again
        assert not server.status(ds.state_dir)["processes"]["postgres"]["alive"]
    ds.restart()
    restored = doccano.pull("bk", tmp_path / "snap", connection=ds.settings())
    assert restored["problems"] == []
    assert body(restored) == body(before)
    assert [r["id"] for r in read_jsonl(Path(restored["snapshot"]) / "annotations.jsonl")] == ["bk-1", "bk-2"]
    # the restored push journal matches the restored database: a rerun pushes bk-3 again, once
    again = doccano.push(docs, "bk", ["bk_ann"], connection=ds.settings())
    assert again["created"] == 1 and again["present"] == 2 and again["failed"] == 0


def test_an_existing_postgres_through_database_url(doccano_server_pg, tmp_path, monkeypatch):
    """A team's PostgreSQL reached by DATABASE_URL alone (here: another database of the private cluster):
    up, push, pull, then backup (pg_dump by URL) and restore (pg_restore --clean) round trip."""
    pg = json.loads((doccano_server_pg.state_dir / "credentials.json").read_text())["postgres"]
    bin_dir = pgcluster.bindir()
    pgcluster.psql(doccano_server_pg.state_dir, bin_dir, pg["port"], "CREATE DATABASE team2 OWNER doccano;")
    url = pgcluster.database_url({**pg, "database": "team2"})
    monkeypatch.setenv("DATABASE_URL", url)
    base = Path(tempfile.mkdtemp(prefix="annotate-url-"))
    state, port = base / "state", server.free_port()
    try:
        info = server.up(state, port)
        assert info["healthy"] and list(info["processes"]) == ["worker", "web"]  # no PostgreSQL of its own
        assert info["database"] == server.redact_url(url) and pg["password"] not in json.dumps(info)
        assert server.load_credentials(state)["database_url"] == url  # 0600 file: later commands reach it
        docs = tmp_path / "docs.jsonl"
        docs.write_text(json.dumps(document("url-1", "Activists said 4 died in Idlib.")) + "\n", encoding="utf-8")
        settings = server.connection_settings(state)
        assert doccano.push(docs, "url", ["url_ann"], connection=settings)["created"] == 1
        before = doccano.pull("url", tmp_path / "snap", connection=settings)
        made = backup.backup(tmp_path / "b", state)
        assert made["database"] == "postgres" and not made["private_postgres"]
        docs.write_text(docs.read_text() + json.dumps(document("url-2", "More news.")) + "\n", encoding="utf-8")
        assert doccano.push(docs, "url", ["url_ann"], connection=settings)["created"] == 1
        server.down(state)
        backup.restore(tmp_path / "b", state)
        server.up(state, port)
        after = doccano.pull("url", tmp_path / "snap", connection=server.connection_settings(state))
        assert (Path(after["snapshot"]) / "annotations.jsonl").read_bytes() == \
            (Path(before["snapshot"]) / "annotations.jsonl").read_bytes()
    finally:
        server.down(state)
        shutil.rmtree(base, ignore_errors=True)


def test_a_postgres_backup_restores_into_a_new_state_dir(doccano_server_pg, tmp_path):
    """Moving a team server: a PostgreSQL backup restored into an empty state dir gets its own private
    cluster (started for the restore, stopped after) holding the same rows."""
    ds = doccano_server_pg
    bin_dir = pgcluster.bindir()
    pg = json.loads((ds.state_dir / "credentials.json").read_text())["postgres"]
    count = "SELECT (SELECT count(*) FROM examples_example) || ' ' || (SELECT count(*) FROM auth_user);"
    want = pgcluster.psql(ds.state_dir, bin_dir, pg["port"], count, database="doccano").strip()
    backup.backup(tmp_path / "b", ds.state_dir)
    base = Path(tempfile.mkdtemp(prefix="annotate-move-"))
    base.chmod(0o755)
    state = base / "state"
    try:
        info = backup.restore(tmp_path / "b", state)
        assert info["database"] == "postgres" and pgcluster.has_cluster(state)
        new = server.load_credentials(state)["postgres"]
        assert new["port"] != pg["port"] and new["password"] != pg["password"]
        assert not server.status(state)["processes"]["postgres"]["alive"]  # stopped again
        with backup._postgres_up(state, server.load_credentials(state), None):
            assert pgcluster.psql(state, bin_dir, new["port"], count, database="doccano").strip() == want
    finally:
        server.down(state)
        shutil.rmtree(base, ignore_errors=True)


def test_sqlite_runs_in_wal_mode(doccano_server):
    """`up` sets WAL on the SQLite file at a cold start (stored in the file): readers never block the writer."""
    conn = sqlite3.connect(doccano_server.state_dir / "db.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


# ------------------------------------------------------------------ no server needed

def _offline_state(tmp_path: Path) -> Path:
    """A state dir with credentials and a small SQLite database, as a stopped server leaves it."""
    state = tmp_path / "state"
    state.mkdir()
    server._ensure_credentials(state)
    conn = sqlite3.connect(state / "db.sqlite3")
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES ('before')")
    conn.commit()
    conn.close()
    (state / "push-journal" / "abc").mkdir(parents=True)
    (state / "push-journal" / "abc" / "project-1.json").write_text('{"docs": {}}')
    return state


def _rows(db: Path) -> list:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT x FROM t").fetchall()
    finally:
        conn.close()


def test_restore_sqlite_replaces_the_file_and_drops_a_stale_wal(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DOCCANO_URL", raising=False)
    state = _offline_state(tmp_path)
    result = runner.invoke(app, ["server", "backup", str(tmp_path / "b"), "--state-dir", str(state)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["database"] == "sqlite" and manifest["checksum"] == backup._checksum(manifest)
    for f in manifest["files"]:
        assert hashlib.sha256((tmp_path / "b" / f["name"]).read_bytes()).hexdigest() == f["sha256"]
    assert not list(tmp_path.glob(".b.partial-*"))

    conn = sqlite3.connect(state / "db.sqlite3")
    conn.execute("INSERT INTO t VALUES ('after')")
    conn.commit()
    conn.close()
    (state / "db.sqlite3-wal").write_bytes(b"stale")  # left by a crashed server: must not be replayed
    shutil.rmtree(state / "push-journal")
    (state / "push-journal").mkdir()
    (state / "push-journal" / "new.json").write_text("{}")
    info = backup.restore(tmp_path / "b", state)
    assert info["database"] == "sqlite" and info["journal"]
    assert _rows(state / "db.sqlite3") == [("before",)]
    assert not (state / "db.sqlite3-wal").exists()
    assert sorted(p.name for p in (state / "push-journal").rglob("*")) == ["abc", "project-1.json"]


def test_a_damaged_backup_is_refused_before_anything_changes(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("DOCCANO_URL", raising=False)
    state = _offline_state(tmp_path)
    backup.backup(tmp_path / "b", state)
    db = tmp_path / "b" / "db.sqlite3"
    data = bytearray(db.read_bytes())
    data[-1] ^= 0xFF
    db.write_bytes(bytes(data))
    result = runner.invoke(app, ["server", "restore", str(tmp_path / "b"), "--state-dir", str(state)])
    assert result.exit_code == 1 and "sha256 differs" in result.output
    assert _rows(state / "db.sqlite3") == [("before",)]

    backup.backup(tmp_path / "c", state)
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    manifest["database"] = "postgres"  # an edited manifest
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckFailed, match="checksum mismatch"):
        backup.restore(tmp_path / "c", state)
    with pytest.raises(InputError, match="not a backup"):
        backup.restore(tmp_path, state)
    exists = runner.invoke(app, ["server", "backup", str(tmp_path / "c"), "--state-dir", str(state)])
    assert exists.exit_code == 2 and "already exists" in exists.output


def test_the_postgres_install_script_is_a_no_op_when_installed(doccano_server_pg):
    """On a machine where the suite already ran PostgreSQL, the script changes nothing (no apt-get at all)."""
    import subprocess

    script = Path(__file__).resolve().parent.parent / "scripts" / "postgres_install.sh"
    assert (pgcluster.bindir() / "postgres").exists()  # the fixture installed it if it was missing
    proc = subprocess.run(["sh", str(script)], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert proc.returncode == 0 and proc.stdout.startswith("PostgreSQL is installed: "), proc
