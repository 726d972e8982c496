"""A private PostgreSQL cluster for the local Doccano (``annotate server up --db postgres``).

Debian's ``postgresql`` package provides the programs (``scripts/postgres_install.sh`` installs it
when missing); the cluster itself is ours, inside the server's state dir, and is not Debian's
system cluster::

    postgres/data/     the cluster (initdb; owner: the OS user that runs the server, mode 0700)
    postgres/socket/   its unix socket (nothing listens on a public socket path)
    logs/postgres.log  the server log

It listens on 127.0.0.1 only, on a port chosen once (free, or ``--pg-port``) and recorded. One
database and one login role, both ``doccano``, with a generated password kept in the 0600
credentials file (``credentials["postgres"]``); the superuser is reached only through the unix
socket with peer authentication, TCP logins need a password (SCRAM).

PostgreSQL refuses to run as root. When the server is started as root (CI, containers), the
cluster runs as the ``postgres`` OS user that the Debian package creates: the data and socket
folders are handed to that user, and the state dir's parent folders must be traversable by it
(a state dir under a 0700 folder such as ``/root`` or pytest's own temp root is refused with a
clear message). Otherwise it runs as the current user.

Standard library only; every program runs with a minimal environment and no secret in argv
(SQL with the password goes through psql's standard input; ``pg_dump`` gets it via ``PGPASSWORD``).
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote, urlsplit

from .errors import AnnotateError, InputError

ROOT = Path(__file__).resolve().parent.parent
INSTALL_SCRIPT = ROOT / "scripts" / "postgres_install.sh"
HOST = "127.0.0.1"
DATABASE = "doccano"
ROLE = "doccano"
SOCKET_PATH_MAX = 107  # sun_path: 108 bytes with the terminating NUL

Step = Callable[[str], None]


class PostgresError(AnnotateError):
    """The private PostgreSQL cluster could not be installed, created or reached."""

    exit_code = 1


# ------------------------------------------------------------------ where things are

def cluster_dir(state: Path) -> Path:
    return state / "postgres"


def data_dir(state: Path) -> Path:
    return cluster_dir(state) / "data"


def socket_dir(state: Path) -> Path:
    return cluster_dir(state) / "socket"


def has_cluster(state: Path) -> bool:
    """True if ``state`` holds an initialised private cluster."""
    return (data_dir(state) / "PG_VERSION").is_file()


def bindir() -> Optional[Path]:
    """The folder of initdb/postgres/pg_dump: ``ANNOTATE_PG_BINDIR``, Debian's newest
    ``/usr/lib/postgresql/N/bin``, or the one on PATH (Homebrew and others)."""
    chosen = os.environ.get("ANNOTATE_PG_BINDIR")
    if chosen:
        return Path(chosen)
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).resolve().parent if found else None


def install(log: Path, *, step: Step | None = None) -> Path:
    """The PostgreSQL programs' folder, installing Debian's ``postgresql`` first if they are missing."""
    found = bindir()
    if found and (found / "postgres").exists():
        return found
    if step:
        step("installing PostgreSQL (Debian package postgresql; once)")
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.run(["sh", str(INSTALL_SCRIPT)], stdin=subprocess.DEVNULL, stdout=fh,
                              stderr=subprocess.STDOUT)
    found = bindir()
    if proc.returncode != 0 or not found or not (found / "postgres").exists():
        raise PostgresError(f"installing PostgreSQL failed (exit {proc.returncode}); see {log}",
                            hint="install it yourself (Debian: apt-get install postgresql), or set DATABASE_URL "
                                 "to a PostgreSQL server you already run")
    return found


# ------------------------------------------------------------------ the OS user that runs the cluster

def os_user() -> str:
    """The OS user that owns and runs the cluster: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresError("running as root, and there is no `postgres` OS user to run PostgreSQL as "
                            "(PostgreSQL refuses to run as root)",
                            hint="install Debian's postgresql package (it creates that user)") from None
    return "postgres"


def as_user(user: str) -> dict:
    """subprocess keyword arguments that run a program as ``user`` (nothing when that is us)."""
    if pwd.getpwuid(os.geteuid()).pw_name == user:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def _give(path: Path, user: str) -> None:
    """Create ``path`` (mode 0700) owned by ``user``."""
    path.mkdir(parents=True, exist_ok=True)
    entry = pwd.getpwnam(user)
    if path.stat().st_uid != entry.pw_uid:
        os.chown(path, entry.pw_uid, entry.pw_gid)
    os.chmod(path, 0o700)


def _env(bin_dir: Path) -> dict:
    return {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}


def _check_reachable(path: Path, user: str, bin_dir: Path) -> None:
    """Fail clearly if ``user`` cannot write ``path`` (a parent folder that user cannot traverse)."""
    proc = subprocess.run(["/bin/sh", "-c", 'test -w "$1" && test -x "$1"', "sh", str(path)],
                          env=_env(bin_dir), stdin=subprocess.DEVNULL, **as_user(user))
    if proc.returncode != 0:
        blocked = next((str(p) for p in reversed(path.parents) if p.is_dir() and not (p.stat().st_mode & 0o001)),
                       str(path.parent))
        raise PostgresError(f"the `{user}` OS user that runs PostgreSQL cannot reach {path} "
                            f"({blocked} is not traversable by others)",
                            hint=f"choose a --state-dir outside it, or: chmod o+x {blocked}")


# ------------------------------------------------------------------ cluster lifecycle

def init(state: Path, bin_dir: Path, log: Path) -> bool:
    """Create the cluster (initdb) unless it exists; returns whether it was created now."""
    if has_cluster(state):
        return False
    user = os_user()
    cluster_dir(state).mkdir(parents=True, exist_ok=True)
    os.chmod(cluster_dir(state), 0o755)  # traversable: the socket dir lives below it
    if as_user(user):  # another OS user runs the cluster: it must traverse the state dir (never read it)
        os.chmod(state, state.stat().st_mode | 0o001)
    fresh = cluster_dir(state) / "data.init"
    if fresh.exists():
        shutil.rmtree(fresh)  # an interrupted initdb
    _give(fresh, user)
    _give(socket_dir(state), user)
    _check_reachable(fresh, user, bin_dir)
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as fh:
        proc = subprocess.run([str(bin_dir / "initdb"), "-D", str(fresh), "-U", user, "-E", "UTF8", "--no-locale",
                               "--auth-local=peer", "--auth-host=scram-sha-256"],
                              cwd=fresh, env=_env(bin_dir), stdin=subprocess.DEVNULL, stdout=fh,
                              stderr=subprocess.STDOUT, **as_user(user))
    if proc.returncode != 0:
        raise PostgresError(f"initdb failed (exit {proc.returncode}); see {log}")
    os.replace(fresh, data_dir(state))
    return True


def server_argv(state: Path, bin_dir: Path, port: int) -> list[str]:
    """The postmaster's command line: loopback only, the socket inside the state dir. No secret in it."""
    sock = socket_dir(state)
    if len(str(sock / f".s.PGSQL.{port}")) > SOCKET_PATH_MAX:
        raise InputError(f"state dir {state} is too deep for PostgreSQL's unix socket path "
                         f"(at most {SOCKET_PATH_MAX} bytes)", hint="choose a shorter --state-dir")
    return [str(bin_dir / "postgres"), "-D", str(data_dir(state)), "-c", f"listen_addresses={HOST}",
            "-c", f"port={port}", "-c", f"unix_socket_directories={sock}", "-c", "logging_collector=off"]


def spawn_kwargs(state: Path, bin_dir: Path) -> dict:
    """How to start the postmaster: as which OS user, in which folder, with which environment."""
    return {"cwd": data_dir(state), "env": _env(bin_dir), **as_user(os_user())}


def wait_ready(state: Path, bin_dir: Path, port: int, timeout: float, alive: Callable[[], bool], log: Path) -> None:
    """Wait until the cluster accepts connections on its socket (pg_isready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            raise PostgresError(f"PostgreSQL exited during start-up; see {log}")
        proc = subprocess.run([str(bin_dir / "pg_isready"), "-q", "-h", str(socket_dir(state)), "-p", str(port)],
                              env=_env(bin_dir), stdin=subprocess.DEVNULL)
        if proc.returncode == 0:
            return
        time.sleep(0.2)
    raise PostgresError(f"PostgreSQL was not ready within {timeout:.0f} s; see {log}")


def psql(state: Path, bin_dir: Path, port: int, sql: str, *, database: str = "postgres") -> str:
    """Run SQL (from standard input, so no secret in argv) as the cluster's superuser over the unix socket."""
    user = os_user()
    proc = subprocess.run([str(bin_dir / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                           "-h", str(socket_dir(state)), "-p", str(port), "-U", user, "-d", database],
                          input=sql, text=True, capture_output=True, env=_env(bin_dir), cwd="/",
                          **as_user(user))
    if proc.returncode != 0:
        raise PostgresError(f"psql failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return proc.stdout


def new_settings(port: int) -> dict:
    """The cluster's recorded settings (kept in the 0600 credentials file)."""
    return {"port": port, "role": ROLE, "database": DATABASE, "password": secrets.token_urlsafe(24)}


def ensure_database(state: Path, bin_dir: Path, pg: dict) -> None:
    """Create (or re-assert) the login role with its password and the database it owns. Idempotent."""
    role, database = pg["role"], pg["database"]
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", role) or not re.fullmatch(r"[a-z_][a-z0-9_]*", database):
        raise InputError(f"PostgreSQL role/database names must be lower-case identifiers: {role!r}, {database!r}")
    password = pg["password"].replace("'", "''")
    psql(state, bin_dir, pg["port"], f"""
DO $$BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN CREATE ROLE {role} LOGIN; END IF;
END$$;
ALTER ROLE {role} LOGIN PASSWORD '{password}';
SELECT 'CREATE DATABASE {database} OWNER {role}' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{database}')
\\gexec
""")


def database_url(pg: dict) -> str:
    """The URL Doccano uses (through its environment only): TCP on loopback, password auth, no SSL."""
    return f"postgresql://{pg['role']}:{pg['password']}@{HOST}:{pg['port']}/{pg['database']}?sslmode=disable"


def recreate_database(state: Path, bin_dir: Path, pg: dict) -> None:
    """Drop and create the database empty (restore); every connection to it is ended first."""
    database, role = pg["database"], pg["role"]
    psql(state, bin_dir, pg["port"], f"DROP DATABASE IF EXISTS {database} WITH (FORCE);\n"
                                     f"CREATE DATABASE {database} OWNER {role};\n")


# ------------------------------------------------------------------ dump and restore (any PostgreSQL URL)

def _libpq(url: str, bin_dir: Path) -> tuple[list[str], dict]:
    """Connection arguments for pg_dump/pg_restore from a database URL; the password goes to PGPASSWORD."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
        raise InputError(f"not a PostgreSQL URL: {parts.scheme}://…")
    args = ["-h", parts.hostname or HOST, "-p", str(parts.port or 5432), "-d", unquote(parts.path.lstrip("/"))]
    if parts.username:
        args += ["-U", unquote(parts.username)]
    env = _env(bin_dir)
    if parts.password:
        env["PGPASSWORD"] = unquote(parts.password)
    if "sslmode=disable" in parts.query:
        env["PGSSLMODE"] = "disable"
    return args, env


def dump(url: str, out: Path, bin_dir: Path) -> None:
    """``pg_dump --format=custom`` of the database at ``url`` (a consistent snapshot while it is in use)."""
    args, env = _libpq(url, bin_dir)
    proc = subprocess.run([str(bin_dir / "pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                           "-f", str(out), *args], env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PostgresError(f"pg_dump failed: {proc.stderr.strip()[-300:]}")


def restore(url: str, dump_file: Path, bin_dir: Path, *, clean: bool) -> None:
    """``pg_restore`` a custom-format dump into the database at ``url`` (``clean``: drop its objects first)."""
    args, env = _libpq(url, bin_dir)
    extra = ["--clean", "--if-exists"] if clean else []
    proc = subprocess.run([str(bin_dir / "pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                           "--single-transaction", *extra, *args, str(dump_file)],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PostgresError(f"pg_restore failed: {proc.stderr.strip()[-300:]}")
