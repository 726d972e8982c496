"""The local Doccano server: install, up, down, status, accounts, and connection settings.

Doccano 1.8.4 is a separate program (like a database): it runs from its own locked virtualenv,
``.doccano/venv`` at the repository root (override: ``ANNOTATE_DOCCANO_VENV``), built once by
``scripts/doccano_install.sh`` from ``scripts/doccano-server.lock`` and shared by every state dir.

Everything that belongs to one server instance lives in a *state dir* (default ``.doccano/`` at
the repository root; override: the ``state_dir`` argument, ``--state-dir``, or ``ANNOTATE_STATE_DIR``)::

    credentials.json   0600: SECRET_KEY, admin and annotator passwords (never printed in full)
    db.sqlite3         the SQLite database (or DATABASE_URL, e.g. PostgreSQL, see below)
    media/             uploads and export zips
    logs/              worker.log, web.log, admin.log
    run/               worker.json, web.json: pid + process start time (so ``down`` never
                       signals a recycled pid); server.json: port and URL

Processes: the celery worker (``doccano task --concurrency 1``) starts first; then gunicorn
bound to 127.0.0.1:PORT only. Each runs detached in its own session; secrets reach them
through the environment, never argv. ``up`` waits until ``GET /v1/health/`` is healthy.

Connection settings (the one entry point for code that talks to Doccano)::

    connection_settings(state_dir=None) -> {
        "url": "http://127.0.0.1:8000",      # no trailing slash
        "username": "admin", "password": "...", "token": None,
        "local": True,                        # False for a remote/team server
        "state_dir": "/abs/.doccano" | None,
    }

If ``DOCCANO_URL`` is set, it selects a remote (team/production) server instead, with
``DOCCANO_USERNAME`` + ``DOCCANO_PASSWORD`` or ``DOCCANO_TOKEN`` (an API token: send
``Authorization: Token ...``); ``up``/``down`` then have nothing to start or stop.
:func:`user_password` gives the password of an account created by :func:`add_users`.

PostgreSQL, two ways (the worker's queue then lives there too; the URL reaches the server processes
through their environment only, and only a redacted form is recorded):

* ``up(db="postgres")`` / ``annotate server up --db postgres``: a private cluster in the state dir
  (``postgres/``, see :mod:`annotate.pgcluster`), started before the worker and stopped after it by
  ``down``; it is a third recorded process, ``postgres``. Debian's ``postgresql`` is installed by
  ``scripts/postgres_install.sh`` when missing. The role's generated password is in the 0600
  credentials file. A state dir keeps the database it was created with: later ``up`` calls need no
  ``--db``, and asking for the other one is refused.
* ``DATABASE_URL=postgresql://user:pw@host:5432/db?sslmode=disable`` before ``annotate server up``:
  a team's existing PostgreSQL (``psycopg2-binary`` is in the server venv's lock). Recorded in the
  credentials file so later commands (``users add``, ``backup``) reach the same database.

Backup and restore of the database (and the push journal): :mod:`annotate.backup`.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Optional
from urllib.parse import urlsplit, urlunsplit

from . import pgcluster
from .errors import AnnotateError, InputError

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
DEFAULT_PORT = 8000
ADMIN_USERNAME = "admin"
WEB_WORKERS = 2
WORKER_CONCURRENCY = 1  # celery processes (each grew to 4-6 GB over a 10,000 x 3 push + pull: keep one)
HEALTH_TIMEOUT = 120.0
STOP_TIMEOUT = 15.0
PROCESSES = ("worker", "web")  # Doccano's processes, start order; stopped in reverse
POSTGRES = "postgres"  # the private PostgreSQL cluster (--db postgres): started first, stopped last
DATABASES = ("sqlite", "postgres")
INSTALL_SCRIPT = ROOT / "scripts" / "doccano_install.sh"
LOCK_FILE = ROOT / "scripts" / "doccano-server.lock"
ADMIN_SCRIPT = Path(__file__).resolve().parent / "_doccano_admin.py"
FINGERPRINT_SCRIPT = Path(__file__).resolve().parent / "_doccano_fingerprint.py"
MARKER = ".annotate-installed"

Step = Callable[[str], None]


class ServerError(AnnotateError):
    """The local server could not be installed, started or reached."""

    exit_code = 1


# ------------------------------------------------------------------ paths

def state_path(state_dir: str | Path | None = None) -> Path:
    """The state dir: the argument, else ``ANNOTATE_STATE_DIR``, else ``.doccano/`` at the repo root."""
    chosen = state_dir or os.environ.get("ANNOTATE_STATE_DIR") or ROOT / ".doccano"
    return Path(chosen).expanduser().resolve()


def venv_path() -> Path:
    """The shared server virtualenv: ``ANNOTATE_DOCCANO_VENV`` or ``.doccano/venv`` at the repo root."""
    return Path(os.environ.get("ANNOTATE_DOCCANO_VENV") or ROOT / ".doccano" / "venv").expanduser().resolve()


def credentials_path(state_dir: str | Path | None = None) -> Path:
    return state_path(state_dir) / "credentials.json"


def _run_dir(state: Path) -> Path:
    return state / "run"


def _log_path(state: Path, name: str) -> Path:
    return state / "logs" / f"{name}.log"


# ------------------------------------------------------------------ install

def _lock_digest() -> str:
    return hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()


def venv_ready(venv: Path | None = None) -> bool:
    """True if the server venv was completely installed from the current lock."""
    marker = (venv or venv_path()) / MARKER
    return marker.is_file() and marker.read_text().strip() == _lock_digest()


@contextlib.contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def install(venv: Path | None = None, *, step: Step | None = None) -> dict:
    """Build the server venv from the lock unless it is already complete; safe to call concurrently."""
    venv = venv or venv_path()
    with _file_lock(venv.parent / f".{venv.name}.install-lock"):
        if venv_ready(venv):
            return {"venv": str(venv), "installed": False}
        if step:
            step(f"installing Doccano 1.8.4 into {venv} (about a minute, once)")
        log = venv.parent / f"{venv.name}-install.log"
        with open(log, "wb") as fh:
            proc = subprocess.run(["sh", str(INSTALL_SCRIPT), str(venv)], stdout=fh, stderr=subprocess.STDOUT)
        if proc.returncode != 0 or not venv_ready(venv):
            raise ServerError(f"installing the Doccano server venv failed (exit {proc.returncode}); see {log}")
    return {"venv": str(venv), "installed": True}


# ------------------------------------------------------------------ secrets

def _write_secret_json(path: Path, data: dict) -> None:
    """Write JSON atomically as a 0600 file (mkstemp creates 0600; we never widen it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def load_credentials(state_dir: str | Path | None = None) -> dict | None:
    """The credentials file's content, or None if there is none yet. Refuses a group/world-readable file."""
    path = credentials_path(state_dir)
    if not path.is_file():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise InputError(f"{path}: credentials file is readable by others (mode {mode:o}); run: chmod 600 {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError.at(path, e.lineno, f"not valid JSON: {e.msg}") from None


def _ensure_credentials(state: Path) -> dict:
    creds = load_credentials(state)
    if creds is None:
        creds = {
            "secret_key": secrets.token_urlsafe(50),
            "admin": ADMIN_USERNAME,
            "users": {ADMIN_USERNAME: {"password": secrets.token_urlsafe(18), "staff": True}},
        }
        _write_secret_json(credentials_path(state), creds)
    return creds


def mask(secret: str) -> str:
    """A password as it may be shown: its first two characters only."""
    return secret[:2] + "…" if secret else ""


# ------------------------------------------------------------------ processes

HAVE_PROC = Path("/proc/self/stat").exists()


def _proc_start_time(pid: int) -> Optional[int | str]:
    """The process start time, or None if there is no live process ``pid``.

    Linux: clock ticks since boot from /proc; elsewhere (macOS): ``ps -o lstart``. Together with the
    pid it identifies a process: a recycled pid has another start time.
    """
    if not HAVE_PROC:
        return _ps_start_time(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] in ("Z", "X"):  # zombie or dead: not running
        _reap(pid)
        return None
    return int(fields[19])


def _ps_start_time(pid: int) -> Optional[str]:
    proc = subprocess.run(["ps", "-o", "stat=", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True)
    line = proc.stdout.strip()
    if proc.returncode != 0 or not line or line.startswith("Z"):
        _reap(pid)
        return None
    return line.split(None, 1)[1]


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _read_record(state: Path, name: str) -> dict | None:
    path = _run_dir(state) / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _alive(record: dict | None) -> bool:
    """True if the recorded process still runs: same pid AND same start time (not a recycled pid)."""
    return bool(record) and _proc_start_time(record["pid"]) == record["start_time"]


def _write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _server_env(state: Path, creds: dict, database_url: str) -> dict:
    """The environment of the server processes: minimal, with the secrets (never argv)."""
    venv = venv_path()
    keep = {k: os.environ[k] for k in ("HOME", "LANG", "LC_ALL", "TZ", "TMPDIR") if k in os.environ}
    return {
        **keep,
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/local/bin:/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        "STANDALONE": "True",
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DOCCANO_HOME": str(state),
        "DATABASE_URL": database_url,
        "MEDIA_ROOT": str(state / "media"),
        "SECRET_KEY": creds["secret_key"],
        "DOCCANO_PAGE_SIZE": "100",
        "IMPORT_BATCH_SIZE": "1000",
    }


def _backend_dir() -> Path:
    return next((venv_path() / "lib").glob("python3*/site-packages/backend"))


def _command(name: str, port: int, web_workers: int = WEB_WORKERS) -> list[str]:
    bin_dir = venv_path() / "bin"
    if name == "worker":
        return [str(bin_dir / "doccano"), "task", "--concurrency", str(WORKER_CONCURRENCY)]
    return [str(bin_dir / "gunicorn"), "--chdir", str(_backend_dir()), "--bind", f"{HOST}:{port}",
            "--workers", str(web_workers), "--timeout", "300", "--capture-output", "config.wsgi"]


def _spawn(state: Path, name: str, env: dict, port: int, web_workers: int = WEB_WORKERS) -> dict:
    return _spawn_argv(state, name, _command(name, port, web_workers), cwd=state, env=env)


def _spawn_argv(state: Path, name: str, argv: list[str], **kw) -> dict:
    """Start ``argv`` detached in its own session, its output appended to logs/NAME.log; record pid + start time."""
    log = _log_path(state, name)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, **kw)
    start = None
    for _ in range(100):  # /proc/<pid>/stat appears at once; retry defensively
        start = _proc_start_time(proc.pid)
        if start is not None:
            break
        time.sleep(0.01)
    record = {"pid": proc.pid, "start_time": start, "log": str(log), "started_at": time.time()}
    _write_json(_run_dir(state) / f"{name}.json", record)
    proc.returncode = 0  # we never wait for it; silences Popen.__del__'s ResourceWarning
    return record


def _signal(record: dict, sig: int) -> None:
    """Signal a recorded process, only if it is still that process (pid and start time).

    SIGTERM goes to the leader alone (gunicorn and celery then stop their children cleanly);
    SIGKILL goes to its whole process group (its own session), as a crash would take all of it.
    """
    if _alive(record):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if sig == signal.SIGKILL:
                os.killpg(record["pid"], sig)
            else:
                os.kill(record["pid"], sig)


def _stop(state: Path, name: str, timeout: float = STOP_TIMEOUT, sig: int = signal.SIGTERM) -> Optional[int]:
    """Stop one recorded process (and its children): ``sig``, then SIGKILL after ``timeout``. Returns its pid."""
    record = _read_record(state, name)
    pid = record["pid"] if _alive(record) else None
    if pid is not None:
        _signal(record, sig)
        deadline = time.monotonic() + timeout
        while _alive(record) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(record):
            _signal(record, signal.SIGKILL)
            while _alive(record):
                time.sleep(0.05)
        _wait_group_gone(pid, 5.0)
    with contextlib.suppress(FileNotFoundError):
        (_run_dir(state) / f"{name}.json").unlink()
    return pid


def _wait_group_gone(pgid: int, timeout: float) -> None:
    """Wait until no process of the group remains (gunicorn workers, celery pool), then SIGKILL stragglers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


# ------------------------------------------------------------------ health

def _http_status(url: str, timeout: float = 5.0) -> int | None:
    """HTTP status of GET url (JSON accepted), or None if nothing answers. The only HTTP in this module."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return None


def healthy(url: str) -> bool:
    """True if ``GET url/v1/health/`` answers 200 (it includes a round trip through the celery worker)."""
    return _http_status(f"{url}/v1/health/") == 200


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _wait_healthy(state: Path, url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in PROCESSES:
            if not _alive(_read_record(state, name)):
                raise ServerError(f"the Doccano {name} process exited during start-up; see {_log_path(state, name)}")
        if healthy(url):
            return
        time.sleep(0.5)
    raise ServerError(f"Doccano at {url} was not healthy within {timeout:.0f} s; see "
                      f"{_log_path(state, 'web')} and {_log_path(state, 'worker')}")


def _wait_worker_ready(state: Path, offset: int, timeout: float) -> None:
    """Wait for celery's "ready." line after ``offset`` in its log, so the worker creates its queue tables
    before the web server starts."""
    log, record = _log_path(state, "worker"), _read_record(state, "worker")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(record):
            raise ServerError(f"the Doccano worker exited during start-up; see {log}")
        if _log_says(log, offset, b" ready."):
            return
        time.sleep(0.25)
    raise ServerError(f"the Doccano worker was not ready within {timeout:.0f} s; see {log}")


# ------------------------------------------------------------------ database and accounts

def redact_url(url: str) -> str:
    """A database URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _database_url(state: Path, creds: dict, override: str | None = None) -> str:
    """The private cluster's URL if the state dir has one; else the argument, else ``DATABASE_URL``, else the
    one recorded (0600 file) at an earlier ``up``, else SQLite."""
    if creds.get("postgres"):
        return pgcluster.database_url(creds["postgres"])
    return (override or os.environ.get("DATABASE_URL") or creds.get("database_url")
            or f"sqlite:///{state / 'db.sqlite3'}")


def local_postgres(state_dir: str | Path | None = None) -> bool:
    """True if the state dir runs its own PostgreSQL cluster (created by ``up(db="postgres")``)."""
    return pgcluster.has_cluster(state_path(state_dir))


def _processes(state: Path) -> tuple[str, ...]:
    """The processes of this instance, in start order."""
    return (POSTGRES, *PROCESSES) if pgcluster.has_cluster(state) else PROCESSES


def _choose_database(state: Path, creds: dict, db: str | None, database_url: str | None) -> None:
    """Check ``db`` against what the state dir already holds; refuse to switch databases under it."""
    if db not in (None, *DATABASES):
        raise InputError(f"--db {db}: choose one of {', '.join(DATABASES)}")
    external = database_url or os.environ.get("DATABASE_URL")
    if creds.get("postgres") or pgcluster.has_cluster(state):
        if db == "sqlite" or external:
            raise InputError(f"{state} holds a private PostgreSQL database; it cannot switch to "
                             f"{'DATABASE_URL' if external else 'SQLite'}",
                             hint="use another --state-dir (and `annotate server backup/restore` to move data)")
        return
    if db == "postgres":
        if external:
            raise InputError("--db postgres starts a private PostgreSQL; DATABASE_URL names an existing one: "
                             "give one of them")
        if (state / "db.sqlite3").exists() or creds.get("database_url"):
            raise InputError(f"{state} already holds a {'SQLite' if (state / 'db.sqlite3').exists() else 'DATABASE_URL'}"
                             " database; it cannot switch to a private PostgreSQL",
                             hint="use another --state-dir")


def _start_postgres(state: Path, creds: dict, pg_port: int | None, timeout: float, step: Step | None) -> bool:
    """Create (once) and start the private cluster unless it runs; make sure its role and database exist.

    Returns whether it was started now. The settings (port, role, generated password) go to the 0600 file.
    """
    bin_dir = pgcluster.install(_log_path(state, "postgres-install"), step=step)
    log = _log_path(state, POSTGRES)
    pg = creds.get("postgres")
    if pg is None:
        pg = pgcluster.new_settings(pg_port or free_port())
    elif pg_port and pg_port != pg["port"]:
        pg = {**pg, "port": pg_port}
    if creds.get("postgres") != pg:
        creds["postgres"] = pg
        _write_secret_json(credentials_path(state), creds)
    record = _read_record(state, POSTGRES)
    if _alive(record):
        return False
    if not _port_free(pg["port"]):
        raise ServerError(f"PostgreSQL port {pg['port']} on {HOST} is already in use by another program",
                          hint="choose another with --pg-port")
    if pgcluster.init(state, bin_dir, log) and step:
        step(f"created a private PostgreSQL cluster in {pgcluster.data_dir(state)}")
    if step:
        step(f"starting PostgreSQL on {HOST}:{pg['port']}")
    argv = pgcluster.server_argv(state, bin_dir, pg["port"])
    deadline = time.monotonic() + timeout
    while True:
        offset = log.stat().st_size if log.exists() else 0
        record = _spawn_argv(state, POSTGRES, argv, **pgcluster.spawn_kwargs(state, bin_dir))
        try:
            pgcluster.wait_ready(state, bin_dir, pg["port"], max(1.0, deadline - time.monotonic()),
                                 lambda: _alive(record), log)
            pgcluster.ensure_database(state, bin_dir, pg)
            return True
        except pgcluster.PostgresError:
            _stop(state, POSTGRES, timeout=5.0, sig=signal.SIGINT)
            # After a crash of the postmaster its orphaned backends hold the shared memory for a moment
            # (they exit when they notice): PostgreSQL refuses to start until then. Retry, within the limit.
            if not _log_says(log, offset, b"pre-existing shared memory block") or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
        except BaseException:
            _stop(state, POSTGRES, timeout=5.0, sig=signal.SIGINT)
            raise


def _log_says(log: Path, offset: int, needle: bytes) -> bool:
    with open(log, "rb") as fh:
        fh.seek(offset)
        return needle in fh.read()


def _run_admin(state: Path, creds: dict, database_url: str, steps: list[str], users: list[dict]) -> dict:
    """Run the Django chores (``init``, ``users``) with the server's Python; passwords via the environment."""
    env = _server_env(state, creds, database_url)
    env["ANNOTATE_DOCCANO_USERS"] = json.dumps(users)
    if "ANNOTATE_SQLITE_WAL" in os.environ:  # SQLite journal mode (init): WAL unless "0"
        env["ANNOTATE_SQLITE_WAL"] = os.environ["ANNOTATE_SQLITE_WAL"]
    log = _log_path(state, "admin")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.run([str(venv_path() / "bin" / "python"), str(ADMIN_SCRIPT), *steps], cwd=state, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=fh)
    if proc.returncode != 0:
        raise ServerError(f"Doccano database step {' '.join(steps)} failed (exit {proc.returncode}); see {log}")
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def fingerprint_projects(project_ids: Iterable[int], state_dir: str | Path | None = None) -> dict:
    """The database-side change fingerprint of Doccano projects (see ``_doccano_fingerprint.py``)."""
    with read_database("fingerprint", project_ids, state_dir) as fh:
        return json.loads(fh.read().decode().strip().splitlines()[-1])


@contextlib.contextmanager
def read_database(mode: str, project_ids: Iterable[int], state_dir: str | Path | None = None):
    """Run ``_doccano_fingerprint.py MODE PROJECT_ID...`` (read-only: ``fingerprint`` or ``dump``) with the
    server's Python and environment (secrets via the environment); yield its stdout, a binary stream.
    Raises :class:`ServerError` if the process fails (its stderr goes to logs/admin.log)."""
    state = state_path(state_dir)
    creds = load_credentials(state)
    if creds is None or not venv_ready():
        raise ServerError(f"no local Doccano server in {state}")
    env = _server_env(state, creds, _database_url(state, creds))
    log = _log_path(state, "admin")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.Popen([str(venv_path() / "bin" / "python"), str(FINGERPRINT_SCRIPT), mode,
                                 *(str(int(i)) for i in project_ids)], cwd=state, env=env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=fh)
    try:
        yield proc.stdout
    except BaseException:
        proc.kill()
        raise
    finally:
        proc.stdout.close()
        code = proc.wait()
    if code != 0:
        raise ServerError(f"reading the Doccano database ({mode}) failed (exit {code}); see {log}")


# ------------------------------------------------------------------ up / down / status

def _remote() -> str | None:
    url = os.environ.get("DOCCANO_URL")
    return url.rstrip("/") if url else None


def up(state_dir: str | Path | None = None, port: int = DEFAULT_PORT, *, database_url: str | None = None,
       db: str | None = None, pg_port: int | None = None, web_workers: int | None = None,
       timeout: float = HEALTH_TIMEOUT, step: Step | None = None) -> dict:
    """Start the local Doccano (installing its venv if needed); a no-op if it already runs.

    Starts only what is not running (PostgreSQL first when the state dir has its own cluster, then
    the worker, then web), so it also restarts a crashed process. ``db="postgres"`` creates that
    private cluster at the first ``up`` (``pg_port``: its loopback port, default a free one);
    ``database_url`` (or ``DATABASE_URL``) selects an existing database instead. ``web_workers``:
    gunicorn's worker processes (default 2; each about 170 MB; a restart keeps the recorded number). Returns
    :func:`status` plus ``started`` (names of the processes started) and ``installed`` (whether
    the venv was built now).
    """
    if _remote():
        return {**status(state_dir), "started": [], "installed": False}
    state = state_path(state_dir)
    state.mkdir(parents=True, exist_ok=True)
    with _file_lock(_run_dir(state) / ".lock"):
        return _up_locked(state, port, database_url, db, pg_port, web_workers, timeout, step)


def _up_locked(state: Path, port: int, database_url: str | None, db: str | None, pg_port: int | None,
               web_workers: int | None, timeout: float, step: Step | None) -> dict:
    server = _read_record(state, "server")
    _choose_database(state, load_credentials(state) or {}, db, database_url)
    running = {name: _alive(_read_record(state, name)) for name in PROCESSES}
    if all(running.values()) and all(_alive(_read_record(state, n)) for n in _processes(state)):
        return {**status(state), "started": [], "installed": False}
    if web_workers is not None and web_workers < 1:
        raise InputError(f"--web-workers {web_workers}: at least 1")
    if server and any(running.values()):
        port = server["port"]  # complete a partly running instance where it was
        web_workers = web_workers or server.get("web_workers")
    web_workers = web_workers or WEB_WORKERS
    if not running["web"] and not _port_free(port):
        raise ServerError(f"port {port} on {HOST} is already in use by another program",
                          hint="choose another with --port")
    installed = install(step=step)["installed"]
    creds = _ensure_credentials(state)
    started = []
    if db == "postgres" or creds.get("postgres") or pgcluster.has_cluster(state):
        if _start_postgres(state, creds, pg_port, timeout, step):
            started.append(POSTGRES)
            # Doccano's processes still running hold connections to the PostgreSQL that died (Django keeps
            # them without health checks: each worker's next request would fail once): restart them too.
            for name in reversed(PROCESSES):
                if running[name]:
                    _stop(state, name, STOP_TIMEOUT)
                    running[name] = False
    db_url = _database_url(state, creds, database_url)
    if not creds.get("postgres") and db_url != f"sqlite:///{state / 'db.sqlite3'}" \
            and creds.get("database_url") != db_url:
        creds["database_url"] = db_url  # later commands (users add) must reach the same database
        _write_secret_json(credentials_path(state), creds)
    url = f"http://{HOST}:{port}"
    _write_json(_run_dir(state) / "server.json", {"port": port, "url": url, "database": redact_url(db_url),
                                                  "web_workers": web_workers})
    try:
        if not any(running.values()):  # a cold start: bring the schema and the admin account up to date
            if step:
                step("initialising the database (migrate, roles, admin account)")
            admin = creds["admin"]
            _run_admin(state, creds, db_url, ["init", "users"],
                       [{"username": admin, **creds["users"][admin]}])
        if not running["worker"]:
            if step:
                step("starting the celery worker")
            log = _log_path(state, "worker")
            offset = log.stat().st_size if log.exists() else 0
            _spawn(state, "worker", _server_env(state, creds, db_url), port)
            started.append("worker")
            _wait_worker_ready(state, offset, timeout)
        if not running["web"]:
            if step:
                step(f"starting the web server on {url}")
            _spawn(state, "web", _server_env(state, creds, db_url), port, web_workers)
            started.append("web")
        _wait_healthy(state, url, timeout)
    except BaseException:
        for name in reversed(started):
            _stop(state, name, timeout=5.0, sig=_stop_signal(name))
        raise
    return {**status(state), "started": started, "installed": installed}


def _stop_signal(name: str) -> int:
    """SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client); SIGTERM for the rest."""
    return signal.SIGINT if name == POSTGRES else signal.SIGTERM


def down(state_dir: str | Path | None = None, *, timeout: float = STOP_TIMEOUT) -> dict:
    """Stop exactly the recorded processes (web, then worker, then PostgreSQL if the state dir runs its own):
    SIGTERM (PostgreSQL: SIGINT, a fast shutdown), SIGKILL after ``timeout``."""
    if _remote():
        return {"url": _remote(), "local": False, "stopped": {}}
    state = state_path(state_dir)
    with _file_lock(_run_dir(state) / ".lock"):
        stopped = {name: _stop(state, name, timeout, _stop_signal(name)) for name in reversed(_processes(state))}
    return {"state_dir": str(state), "local": True, "stopped": {k: v for k, v in stopped.items() if v}}


def kill(state_dir: str | Path | None = None, name: str = "web") -> Optional[int]:
    """SIGKILL one server process group ("web", "worker", or "postgres") at once, as a crash would (tests).

    Returns the pid killed (None if it was not running); ``up`` then starts only what is missing.
    """
    if name not in (*PROCESSES, POSTGRES):
        raise InputError(f"{name!r}: not one of {', '.join((*PROCESSES, POSTGRES))}")
    return _stop(state_path(state_dir), name, timeout=0.0, sig=signal.SIGKILL)


def kill_web(state_dir: str | Path | None = None) -> Optional[int]:
    """SIGKILL the web server (see :func:`kill`)."""
    return kill(state_dir, "web")


def status(state_dir: str | Path | None = None) -> dict:
    """URL, health, processes (pid, alive), database, state dir, credentials file (never a password)."""
    remote = _remote()
    if remote:
        return {"url": remote, "local": False, "healthy": healthy(remote)}
    state = state_path(state_dir)
    server = _read_record(state, "server") or {}
    processes = {}
    for name in _processes(state):
        record = _read_record(state, name)
        processes[name] = {"pid": record["pid"] if record else None, "alive": _alive(record),
                           "log": str(_log_path(state, name))}
    url = server.get("url")
    running = all(p["alive"] for p in processes.values())
    return {
        "url": url,
        "local": True,
        "running": running,
        "healthy": bool(url) and any(p["alive"] for p in processes.values()) and healthy(url),
        "processes": processes,
        "database": server.get("database") or f"sqlite:///{state / 'db.sqlite3'}",
        "web_workers": server.get("web_workers", WEB_WORKERS),
        "state_dir": str(state),
        "credentials_file": str(credentials_path(state)),
        "venv": str(venv_path()),
    }


# ------------------------------------------------------------------ accounts and connection

def add_users(names: Iterable[str], state_dir: str | Path | None = None) -> dict:
    """Create annotator accounts on the local server (idempotent).

    A new name gets a generated password, stored in the 0600 credentials file; a name already
    there keeps its password (the account is re-asserted on the server with it). Returns
    ``{"created": [...], "present": [...], "credentials_file": path}``; never a password.
    """
    names = list(dict.fromkeys(names))
    for name in names:
        if not name or len(name) > 150 or not all(c.isalnum() or c in "@.+-_" for c in name):
            raise InputError(f"{name!r}: a user name is 1-150 letters, digits and @ . + - _")
    if _remote():
        raise InputError("`annotate users add` manages accounts of the local server; DOCCANO_URL selects a remote one",
                         hint="create accounts on a team server in its admin page, or unset DOCCANO_URL")
    state = state_path(state_dir)
    creds = load_credentials(state)
    if creds is None or not venv_ready():
        raise InputError(f"no local Doccano server in {state}", hint="run `annotate server up` first")
    if creds["admin"] in names:
        raise InputError(f"{creds['admin']!r} is the admin account; choose another name")
    with _file_lock(_run_dir(state) / ".users-lock"):
        creds = load_credentials(state)
        for name in names:
            creds["users"].setdefault(name, {"password": secrets.token_urlsafe(18), "staff": False})
        _write_secret_json(credentials_path(state), creds)
        result = _run_admin(state, creds, _database_url(state, creds), ["users"],
                            [{"username": n, **creds["users"][n]} for n in names])
    return {"created": result["created"], "present": result["updated"], "credentials_file": str(credentials_path(state))}


def user_password(username: str, state_dir: str | Path | None = None) -> str:
    """The password of a local account from the credentials file (for push tests and scripts, never printing)."""
    creds = load_credentials(state_dir) or {}
    try:
        return creds["users"][username]["password"]
    except KeyError:
        raise InputError(f"no local account {username!r} in {credentials_path(state_dir)}",
                         hint=f"run `annotate users add {username}`") from None


def connection_settings(state_dir: str | Path | None = None) -> dict:
    """Where and as whom to talk to Doccano: the remote server of ``DOCCANO_URL``, else the local one.

    Returns ``{"url", "username", "password", "token", "local", "state_dir"}`` (see the module doc).
    """
    remote = _remote()
    if remote:
        token = os.environ.get("DOCCANO_TOKEN") or None
        username = os.environ.get("DOCCANO_USERNAME") or None
        password = os.environ.get("DOCCANO_PASSWORD") or None
        if not token and not (username and password):
            raise InputError("DOCCANO_URL is set but neither DOCCANO_TOKEN nor DOCCANO_USERNAME and DOCCANO_PASSWORD")
        return {"url": remote, "username": username, "password": password, "token": token,
                "local": False, "state_dir": None}
    state = state_path(state_dir)
    creds, server = load_credentials(state), _read_record(state, "server")
    if creds is None or server is None:
        raise InputError(f"no local Doccano server in {state}",
                         hint="run `annotate server up`, or set DOCCANO_URL (and DOCCANO_USERNAME/DOCCANO_PASSWORD)")
    admin = creds["admin"]
    return {"url": server["url"], "username": admin, "password": creds["users"][admin]["password"], "token": None,
            "local": True, "state_dir": str(state)}


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (for tests and parallel instances)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(status(sys.argv[1] if len(sys.argv) > 1 else None), indent=2))
