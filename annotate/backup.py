"""Backup and restore of the local Doccano's state: ``annotate server backup OUT`` / ``restore IN``.

A backup is a folder (mode 0700; it holds password hashes and API tokens, like the database)::

    manifest.json        format, time, database kind, redacted URL, Doccano version, server-lock sha256,
                         every file with its size and sha256, and ``checksum``: the sha256 of the
                         manifest's canonical JSON without that field
    db.sqlite3           SQLite: a consistent copy made with SQLite's online backup API while the server runs
    doccano.pgdump       PostgreSQL: ``pg_dump --format=custom`` (a consistent snapshot while in use)
    push-journal.tar     the push journal (what ``annotate push`` knows it uploaded; ``pull`` reads the
                         pre-annotations it recorded), so the journal matches the database after a restore

Not included: ``media/`` (Doccano keeps only transient upload chunks and export zips there for the
text projects this tool creates), the logs, and ``credentials.json`` (secrets stay in the state dir;
``up`` re-asserts the admin's password from it after a restore).

``restore`` verifies every checksum first, refuses while Doccano's web server or worker runs,
and replaces the database (SQLite: the file, atomically, stale ``-wal``/``-shm`` removed;
private PostgreSQL: the database is dropped and recreated, then ``pg_restore``; a team's
``DATABASE_URL``: ``pg_restore --clean``) and the push journal. The backup is written to a
temporary folder beside ``OUT`` and renamed into place when complete: never a half backup.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from . import pgcluster, server
from .errors import CheckFailed, InputError
from .jsonl import sha256_file as _sha256

FORMAT = "annotate-doccano-backup/1"
SQLITE_FILE = "db.sqlite3"
PG_FILE = "doccano.pgdump"
JOURNAL_FILE = "push-journal.tar"
JOURNAL_DIR = "push-journal"

Step = Callable[[str], None]


def _checksum(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def database_kind(state: Path, creds: dict) -> tuple[str, str]:
    """("sqlite" | "postgres", database URL) of a state dir (the URL the server uses)."""
    url = server._database_url(state, creds)
    return ("sqlite" if url.startswith("sqlite:") else "postgres"), url


def _sqlite_file(url: str) -> Path:
    return Path(url[len("sqlite:///"):])


def _local(state_dir: str | Path | None) -> tuple[Path, dict]:
    if server._remote():
        raise InputError("backup/restore work on the local server's state dir; DOCCANO_URL selects a remote one",
                         hint="unset DOCCANO_URL (a team server is backed up with its own database tools)")
    state = server.state_path(state_dir)
    return state, server.load_credentials(state) or {}


@contextlib.contextmanager
def _postgres_up(state: Path, creds: dict, step: Step | None) -> Iterator[None]:
    """The private cluster running for the duration (started now and stopped after, if it was down)."""
    if not creds.get("postgres") and not pgcluster.has_cluster(state):
        yield
        return
    with server._file_lock(server._run_dir(state) / ".lock"):
        started = server._start_postgres(state, creds, None, server.HEALTH_TIMEOUT, step)
    try:
        yield
    finally:
        if started:
            with server._file_lock(server._run_dir(state) / ".lock"):
                server._stop(state, server.POSTGRES, server.STOP_TIMEOUT, server._stop_signal(server.POSTGRES))


# ------------------------------------------------------------------ backup

def backup(out: str | Path, state_dir: str | Path | None = None, *, step: Step | None = None) -> dict:
    """Write a consistent backup of the local server's database and push journal to the new folder ``out``.

    Works while the server runs. Returns the manifest plus ``path``.
    """
    state, creds = _local(state_dir)
    out = Path(out).resolve()
    if out.exists():
        raise InputError(f"{out}: already exists; a backup is never written over another",
                         hint="choose a new folder name")
    if not creds:
        raise InputError(f"no local Doccano server in {state}", hint="run `annotate server up` first")
    kind, url = database_kind(state, creds)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))  # 0700
    try:
        if kind == "sqlite":
            db = _sqlite_file(url)
            if not db.is_file():
                raise InputError(f"{db}: no SQLite database yet", hint="run `annotate server up` first")
            if step:
                step(f"copying {db.name} with SQLite's online backup API")
            _sqlite_backup(db, tmp / SQLITE_FILE)
            files = [SQLITE_FILE]
        else:
            if step:
                step("pg_dump of the PostgreSQL database")
            bin_dir = pgcluster.install(server._log_path(state, "postgres-install"), step=step)
            with _postgres_up(state, creds, step):
                pgcluster.dump(url, tmp / PG_FILE, bin_dir)
            files = [PG_FILE]
        journal = state / JOURNAL_DIR
        if journal.is_dir():
            with tarfile.open(tmp / JOURNAL_FILE, "w") as tar:
                tar.add(journal, arcname=JOURNAL_DIR)
            files.append(JOURNAL_FILE)
        manifest = {
            "format": FORMAT,
            "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "database": kind,
            "database_url": server.redact_url(url),
            "private_postgres": bool(creds.get("postgres")),
            "doccano": "1.8.4",
            "server_lock_sha256": server._lock_digest(),
            "files": [],
        }
        for name in files:
            path = tmp / name
            os.chmod(path, 0o600)
            with open(path, "rb") as fh:
                os.fsync(fh.fileno())
            manifest["files"].append({"name": name, "bytes": path.stat().st_size, "sha256": _sha256(path)})
        manifest["checksum"] = _checksum(manifest)
        server._write_secret_json(tmp / "manifest.json", manifest)
        _fsync_dir(tmp)
        os.replace(tmp, out)
        _fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {**manifest, "path": str(out)}


def _sqlite_backup(src: Path, dest: Path) -> None:
    """SQLite's online backup API: a consistent copy even while the server writes."""
    source = sqlite3.connect(src, timeout=60)
    try:
        target = sqlite3.connect(dest)
        try:
            source.backup(target)
            if target.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise CheckFailed(f"{dest}: the copy fails SQLite's integrity check")
        finally:
            target.close()
    finally:
        source.close()


# ------------------------------------------------------------------ verify and restore

def verify(backup_dir: str | Path) -> dict:
    """Check a backup's manifest checksum and every file's size and sha256. Returns the manifest."""
    folder = Path(backup_dir)
    path = folder / "manifest.json"
    if not path.is_file():
        raise InputError(f"{folder}: not a backup (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError.at(path, e.lineno, f"not valid JSON: {e.msg}") from None
    if manifest.get("format") != FORMAT:
        raise InputError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("checksum") != _checksum(manifest):
        raise CheckFailed(f"{path}: checksum mismatch: the manifest was changed")
    for entry in manifest["files"]:
        file = folder / entry["name"]
        if not file.is_file():
            raise CheckFailed(f"{file}: missing from the backup")
        if file.stat().st_size != entry["bytes"] or _sha256(file) != entry["sha256"]:
            raise CheckFailed(f"{file}: sha256 differs from the manifest: the backup is damaged")
    return manifest


def restore(backup_dir: str | Path, state_dir: str | Path | None = None, *, step: Step | None = None) -> dict:
    """Bring a STOPPED local server back to exactly the state of the backup (database and push journal).

    Verifies the checksums first; refuses while Doccano's web server or worker runs. A state dir
    without a server yet receives the backup's database (a private PostgreSQL cluster is created
    for a PostgreSQL backup). Returns ``{"restored", "database", "created_at", "journal", "state_dir"}``.
    """
    folder = Path(backup_dir).resolve()
    manifest = verify(folder)
    state, creds = _local(state_dir)
    running = [name for name in server.PROCESSES if server._alive(server._read_record(state, name))]
    if running:
        raise InputError(f"the Doccano server in {state} is running ({', '.join(running)}); restore needs it stopped",
                         hint="run `annotate server down` first, then `annotate server up` after the restore")
    state.mkdir(parents=True, exist_ok=True)
    with server._file_lock(server._run_dir(state) / ".restore-lock"):
        if manifest["database"] == "sqlite":
            kind, url = database_kind(state, creds) if creds else ("sqlite", f"sqlite:///{state / 'db.sqlite3'}")
            if kind != "sqlite":
                raise InputError(f"{folder} is a SQLite backup; {state} uses PostgreSQL",
                                 hint="restore into another --state-dir")
            _restore_sqlite(folder / SQLITE_FILE, _sqlite_file(url), step)
        else:
            if not creds or (not creds.get("postgres") and not creds.get("database_url")
                             and not os.environ.get("DATABASE_URL")):
                if (state / "db.sqlite3").exists():
                    raise InputError(f"{folder} is a PostgreSQL backup; {state} uses SQLite",
                                     hint="restore into another --state-dir")
                creds = server._ensure_credentials(state)  # a fresh state dir: a private cluster for it
                creds["postgres"] = pgcluster.new_settings(server.free_port())
                server._write_secret_json(server.credentials_path(state), creds)
            kind, url = database_kind(state, creds)
            if kind != "postgres":
                raise InputError(f"{folder} is a PostgreSQL backup; {state} uses SQLite",
                                 hint="restore into another --state-dir")
            bin_dir = pgcluster.install(server._log_path(state, "postgres-install"), step=step)
            with _postgres_up(state, creds, step):
                if step:
                    step("pg_restore into an emptied database")
                if creds.get("postgres"):
                    pgcluster.recreate_database(state, bin_dir, creds["postgres"])
                    pgcluster.restore(url, folder / PG_FILE, bin_dir, clean=False)
                else:
                    pgcluster.restore(url, folder / PG_FILE, bin_dir, clean=True)
        journal = _restore_journal(folder, state, manifest)
    return {"restored": str(folder), "database": manifest["database"], "created_at": manifest["created_at"],
            "journal": journal, "state_dir": str(state)}


def _restore_sqlite(src: Path, db: Path, step: Step | None) -> None:
    if step:
        step(f"replacing {db.name}")
    db.parent.mkdir(parents=True, exist_ok=True)
    tmp = db.with_name(f".{db.name}.restore-tmp")
    shutil.copyfile(src, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    conn = sqlite3.connect(tmp)
    try:
        ok = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    if not ok:
        tmp.unlink()
        raise CheckFailed(f"{src}: fails SQLite's integrity check")
    for suffix in ("-wal", "-shm", "-journal"):  # a stale log would be replayed onto the restored file
        with contextlib.suppress(FileNotFoundError):
            db.with_name(db.name + suffix).unlink()
    os.replace(tmp, db)
    _fsync_dir(db.parent)


def _restore_journal(folder: Path, state: Path, manifest: dict) -> bool:
    """Replace the state dir's push journal with the backup's (or remove it if the backup had none)."""
    current = state / JOURNAL_DIR
    aside = state / f".{JOURNAL_DIR}.replaced"
    shutil.rmtree(aside, ignore_errors=True)
    has = any(f["name"] == JOURNAL_FILE for f in manifest["files"])
    staged = state / f".{JOURNAL_DIR}.restoring"
    shutil.rmtree(staged, ignore_errors=True)
    if has:
        staged.mkdir()
        with tarfile.open(folder / JOURNAL_FILE) as tar:
            tar.extractall(staged, filter="data")
    if current.exists():
        os.replace(current, aside)
    if has:
        os.replace(staged / JOURNAL_DIR, current)
        shutil.rmtree(staged, ignore_errors=True)
    shutil.rmtree(aside, ignore_errors=True)
    return has
