"""pytest plugin (loaded by tests/conftest.py): one real Doccano for the whole test session.

``doccano_server`` (session scope) starts Doccano 1.8.4 with the same code as ``annotate server up``
on a free 127.0.0.1 port, in a temporary state dir, reusing the shared server venv
(``.doccano/venv``; built on first use, about a minute, so a fresh clone's CI works). It yields a
:class:`DoccanoServer` and stops every process at the end of the session, also after failures.
If the server cannot start, every test that needs it FAILS (never skips), naming the log.

While the fixture is active, ``ANNOTATE_STATE_DIR`` points at its state dir and ``DOCCANO_URL``,
``DOCCANO_USERNAME``, ``DOCCANO_PASSWORD``, ``DOCCANO_TOKEN`` and ``DATABASE_URL`` are unset, so
``annotate.server.connection_settings()`` and CLI commands run in tests (CliRunner) reach this
server without options.

Helpers for fault-tolerance tests: ``kill()`` SIGKILLs the web server (the celery worker keeps
running), as a crash would; ``restart()`` starts it again on the same port and waits until healthy.

``doccano_server_pg`` (session scope, started only by the tests that ask for it) is the same server
on its own private PostgreSQL cluster (``server up --db postgres``; Debian's ``postgresql`` is
installed by the project's script when missing). It does NOT touch ``ANNOTATE_STATE_DIR``: pass
``ds.settings()`` / ``ds.state_dir`` explicitly. Its state dir lives in a fresh folder under the
system temp dir that the ``postgres`` OS user can traverse (pytest's own temp root is 0700 when
the suite runs as root, and PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
import requests

from annotate import server

REMOTE_VARS = ("DOCCANO_URL", "DOCCANO_USERNAME", "DOCCANO_PASSWORD", "DOCCANO_TOKEN", "DATABASE_URL")
START_TIMEOUT = 180.0  # a shared 2-core machine; the venv install (first run only) is not counted


@dataclass
class DoccanoServer:
    url: str
    port: int
    state_dir: Path
    username: str
    password: str

    def settings(self) -> dict:
        """``connection_settings`` of this server (url, username, password, token, local, state_dir)."""
        return server.connection_settings(self.state_dir)

    def status(self) -> dict:
        return server.status(self.state_dir)

    def pids(self) -> dict:
        """{"worker": pid, "web": pid} of the running processes (None when not running)."""
        return {name: p["pid"] if p["alive"] else None for name, p in self.status()["processes"].items()}

    def kill(self, name: str = "web") -> int | None:
        """SIGKILL the web server's (or "worker") process group at once (simulates a crash); returns its pid."""
        return server.kill(self.state_dir, name)

    def restart(self) -> dict:
        """Start whatever is not running (after kill(): that process) and wait until healthy."""
        info = server.up(self.state_dir, self.port, timeout=START_TIMEOUT)
        if not info["healthy"]:
            pytest.fail(f"Doccano did not come back healthy: {info}", pytrace=False)
        return info

    def add_users(self, *names: str) -> dict[str, str]:
        """Create local accounts (idempotent); returns {name: password} for the tests to log in."""
        server.add_users(names, self.state_dir)
        return {name: server.user_password(name, self.state_dir) for name in names}

    def token(self, username: str | None = None, password: str | None = None) -> str:
        """Log in through the REST API (POST /v1/auth/login/) and return the API token."""
        username = username or self.username
        password = password or (self.password if username == self.username
                                else server.user_password(username, self.state_dir))
        resp = requests.post(f"{self.url}/v1/auth/login/", json={"username": username, "password": password},
                             timeout=30)
        resp.raise_for_status()
        return resp.json()["key"]


def _serve(state: Path, what: str, **up_kw) -> Iterator[DoccanoServer]:
    """Start a server in ``state`` on a free port, yield it, stop it (also after failures)."""
    port = server.free_port()
    try:
        try:
            info = server.up(state, port, timeout=START_TIMEOUT, **up_kw)
        except Exception as e:  # fail loudly, never skip: the message names the log to read
            pytest.fail(f"could not start {what} for the tests: {e}", pytrace=False)
        if not info["healthy"]:
            pytest.fail(f"{what} started but is not healthy: {info}", pytrace=False)
        creds = server.connection_settings(state)
        yield DoccanoServer(url=info["url"], port=port, state_dir=state,
                            username=creds["username"], password=creds["password"])
    finally:
        server.down(state)


@pytest.fixture(scope="session")
def doccano_server(tmp_path_factory: pytest.TempPathFactory):
    env = pytest.MonkeyPatch()
    for var in REMOTE_VARS:
        env.delenv(var, raising=False)
    state = tmp_path_factory.mktemp("doccano-state")
    env.setenv("ANNOTATE_STATE_DIR", str(state))
    try:
        yield from _serve(state, "Doccano")
    finally:
        env.undo()


@pytest.fixture(scope="session")
def doccano_server_pg():
    env = pytest.MonkeyPatch()
    for var in REMOTE_VARS:
        env.delenv(var, raising=False)
    base = Path(tempfile.mkdtemp(prefix="annotate-pg-"))
    base.chmod(0o755)  # traversable by the `postgres` OS user that runs the cluster when we are root
    try:
        yield from _serve(base / "state", "Doccano on PostgreSQL", db="postgres")
    finally:
        shutil.rmtree(base, ignore_errors=True)
        env.undo()
