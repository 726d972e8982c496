"""The local Doccano server: up/down/status, secrets, loopback binding, accounts, connection settings.

Most tests use the session server (tests/doccano_fixtures.py); one lifecycle test runs its own
up/down cycle on another port and state dir. The rest need no server at all.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from typer.testing import CliRunner

from annotate import server
from annotate.cli import app
from annotate.errors import InputError

runner = CliRunner()


def _group_pids(pgid: int) -> set[int]:
    """Every live process of a process group (the recorded leader and its children)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                pids.add(int(entry.name))
    return pids


def _server_pids(state_dir: Path) -> set[int]:
    info = server.status(state_dir)
    pids = set()
    for p in info["processes"].values():
        assert p["alive"], info
        pids |= _group_pids(p["pid"])
    return pids


def _secrets(state_dir: Path) -> list[str]:
    creds = json.loads((state_dir / "credentials.json").read_text())
    return [creds["secret_key"], *(u["password"] for u in creds["users"].values())]


def _listening(port: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of the sockets listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as fh:
            next(fh)
            for line in fh:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:
                    found.append(address)
    return found


def _non_loopback_ipv4() -> str | None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
            address = s.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") else address


# ------------------------------------------------------------------ the session server

def test_up_is_healthy(doccano_server):
    info = doccano_server.status()
    assert info["healthy"] and info["running"] and info["local"]
    assert info["url"] == f"http://127.0.0.1:{doccano_server.port}"
    health = requests.get(f"{doccano_server.url}/v1/health/", headers={"Accept": "application/json"}, timeout=30)
    assert health.status_code == 200
    assert requests.get(f"{doccano_server.url}/", timeout=30).status_code == 200  # the web UI


def test_second_up_is_a_no_op(doccano_server):
    before = doccano_server.pids()
    info = server.up(doccano_server.state_dir, doccano_server.port)
    assert info["started"] == [] and info["healthy"]
    assert doccano_server.pids() == before


def test_status_fields(doccano_server):
    info = server.status(doccano_server.state_dir)
    state = doccano_server.state_dir.resolve()
    assert info["database"] == f"sqlite:///{state / 'db.sqlite3'}"
    assert (state / "db.sqlite3").is_file()
    assert info["state_dir"] == str(state)
    assert info["credentials_file"] == str(state / "credentials.json")
    assert set(info["processes"]) == {"worker", "web"}
    for name, p in info["processes"].items():
        assert p["alive"] and isinstance(p["pid"], int) and p["log"] == str(state / "logs" / f"{name}.log")
    assert doccano_server.password not in json.dumps(info)


def test_status_cli(doccano_server):
    # ANNOTATE_STATE_DIR points at the session server while the fixture is active
    result = runner.invoke(app, ["server", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["url"] == doccano_server.url
    text = runner.invoke(app, ["server", "status"])
    assert text.exit_code == 0 and "healthy" in text.stdout and doccano_server.password not in text.output


def test_users_add_is_idempotent_and_the_user_can_log_in(doccano_server):
    first = server.add_users(["annotator_t1", "annotator_t2"], doccano_server.state_dir)
    assert first["created"] == ["annotator_t1", "annotator_t2"] and first["present"] == []
    password = server.user_password("annotator_t1", doccano_server.state_dir)
    again = server.add_users(["annotator_t1"], doccano_server.state_dir)
    assert again["created"] == [] and again["present"] == ["annotator_t1"]
    assert server.user_password("annotator_t1", doccano_server.state_dir) == password  # not reset

    login = requests.post(f"{doccano_server.url}/v1/auth/login/",
                          json={"username": "annotator_t1", "password": password}, timeout=30)
    assert login.status_code == 200, login.text
    me = requests.get(f"{doccano_server.url}/v1/me", headers={"Authorization": f"Token {login.json()['key']}"},
                      timeout=30).json()
    assert me["username"] == "annotator_t1" and not me["is_staff"]
    wrong = requests.post(f"{doccano_server.url}/v1/auth/login/",
                          json={"username": "annotator_t1", "password": password + "x"}, timeout=30)
    assert wrong.status_code == 400


def test_users_add_cli_never_prints_the_password(doccano_server):
    result = runner.invoke(app, ["users", "add", "annotator_cli", "annotator_t1"])
    assert result.exit_code == 0, result.output
    assert "created: annotator_cli" in result.stdout and "already present: annotator_t1" in result.stdout
    for secret in _secrets(doccano_server.state_dir):
        assert secret not in result.output


def test_users_add_rejects_bad_names_and_the_admin(doccano_server):
    bad = runner.invoke(app, ["users", "add", "no spaces"])
    assert bad.exit_code == 2 and "no spaces" in bad.output
    with pytest.raises(InputError, match="admin"):
        server.add_users([doccano_server.username], doccano_server.state_dir)


def test_credentials_file_is_0600_and_secrets_are_in_no_argv_and_no_log(doccano_server):
    doccano_server.add_users("annotator_t3")
    path = doccano_server.state_dir / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    secrets = _secrets(doccano_server.state_dir)
    assert doccano_server.password in secrets and len(secrets) >= 3
    pids = _server_pids(doccano_server.state_dir)
    assert len(pids) >= 4  # worker + its pool process, gunicorn master + 2 workers
    for pid in pids:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert argv and not any(secret in argv for secret in secrets), pid
    logs = list((doccano_server.state_dir / "logs").glob("*.log"))
    assert {p.name for p in logs} >= {"worker.log", "web.log", "admin.log"}
    for log in logs:
        text = log.read_text(errors="replace")
        assert not any(secret in text for secret in secrets), log


def test_listens_on_127_0_0_1_only(doccano_server):
    addresses = _listening(doccano_server.port)
    assert addresses == ["0100007F"], addresses  # 127.0.0.1, little-endian hex; nothing on 0.0.0.0 or ::
    with socket.create_connection(("127.0.0.1", doccano_server.port), timeout=5):
        pass
    other = _non_loopback_ipv4()
    if other:  # the machine's own non-loopback address must refuse the connection
        with pytest.raises(OSError):
            socket.create_connection((other, doccano_server.port), timeout=5).close()


def test_connection_settings_local(doccano_server):
    settings = server.connection_settings()  # ANNOTATE_STATE_DIR: the session server
    assert settings == {"url": doccano_server.url, "username": "admin", "password": doccano_server.password,
                        "token": None, "local": True, "state_dir": str(doccano_server.state_dir.resolve())}
    assert requests.post(f"{settings['url']}/v1/auth/login/", timeout=30,
                         json={"username": settings["username"], "password": settings["password"]}).status_code == 200


def test_kill_and_restart_the_web_server(doccano_server):
    before = doccano_server.pids()
    killed = doccano_server.kill()
    assert killed == before["web"]
    assert not os.path.exists(f"/proc/{killed}") or "Z" in Path(f"/proc/{killed}/stat").read_text().split()[2]
    assert not server.healthy(doccano_server.url)
    assert doccano_server.pids() == {"worker": before["worker"], "web": None}
    info = doccano_server.restart()
    assert info["started"] == ["web"] and info["healthy"]
    after = doccano_server.pids()
    assert after["worker"] == before["worker"] and after["web"] not in (None, before["web"])
    assert doccano_server.token()  # the admin still logs in: same database


def test_a_crashed_worker_is_restarted_alone(doccano_server):
    before = doccano_server.pids()
    assert doccano_server.kill("worker") == before["worker"]
    assert doccano_server.pids() == {"worker": None, "web": before["web"]}
    info = doccano_server.restart()
    assert info["started"] == ["worker"] and info["healthy"]  # the running web server was left alone
    after = doccano_server.pids()
    assert after["web"] == before["web"] and after["worker"] not in (None, before["worker"])


# ------------------------------------------------------------------ one extra instance: up, down

def test_down_stops_exactly_the_recorded_processes(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    state, port = tmp_path / "state", server.free_port()
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        # too short a time limit: a clear error naming the log, and nothing left running
        with pytest.raises(server.ServerError, match=r"within 1 s; see .*worker\.log") as e:
            server.up(state, port, timeout=1.0)
        assert str(state / "logs") in str(e.value)
        assert not server.status(state)["processes"]["worker"]["alive"]
        assert not list((state / "run").glob("w*.json"))

        result = runner.invoke(app, ["server", "up", "--state-dir", str(state), "--port", str(port)])
        assert result.exit_code == 0, result.output
        assert "started: worker, web" in result.output and f"127.0.0.1:{port}" in result.stdout
        pids = _server_pids(state)
        recorded = {p["pid"] for p in server.status(state)["processes"].values()}
        assert recorded <= pids

        down = server.down(state)
        assert set(down["stopped"].values()) == recorded
        time.sleep(0.2)
        assert not any(_group_pids(pid) for pid in recorded)  # children gone too
        for pid in pids:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
        assert bystander.poll() is None  # an unrelated process survives
        assert not list((state / "run").glob("w*.json"))  # pid records removed
        info = server.status(state)
        assert not info["running"] and not info["healthy"]
        assert runner.invoke(app, ["server", "status", "--state-dir", str(state)]).exit_code == 1
        again = runner.invoke(app, ["server", "down", "--state-dir", str(state)])
        assert again.exit_code == 0 and "nothing to stop" in again.stdout
    finally:
        server.down(state)
        bystander.kill()
        bystander.wait()


# ------------------------------------------------------------------ no server needed

def test_down_never_signals_a_recycled_pid(tmp_path):
    """A pid record whose process start time does not match is not ours any more: leave that process alone."""
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        run = tmp_path / "run"
        run.mkdir()
        (run / "web.json").write_text(json.dumps({"pid": bystander.pid, "start_time": 1}))
        assert server.down(tmp_path)["stopped"] == {}
        time.sleep(0.2)
        assert bystander.poll() is None
        assert not (run / "web.json").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_process_identity_without_proc(monkeypatch):
    """The macOS path (no /proc): ps gives the start time; a dead pid has none."""
    here = server._proc_start_time(os.getpid())
    monkeypatch.setattr(server, "HAVE_PROC", False)
    started = server._proc_start_time(os.getpid())
    assert isinstance(here, int) and isinstance(started, str) and len(started) > 10
    assert server._proc_start_time(os.getpid()) == started
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert server._proc_start_time(child.pid) is None
    assert server._alive({"pid": os.getpid(), "start_time": started})
    assert not server._alive({"pid": os.getpid(), "start_time": "Mon Jan  1 00:00:00 2001"})


def test_up_refuses_a_port_in_use(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(server.ServerError, match=f"port {port} .* in use"):
            server.up(tmp_path, port)
    assert not (tmp_path / "run" / "worker.json").exists()


def test_up_fails_with_the_log_path_when_the_database_is_unreachable(tmp_path):
    with pytest.raises(server.ServerError, match=r"see .*admin\.log"):
        server.up(tmp_path, server.free_port(), database_url="postgres://u:secretpw@127.0.0.1:1/db?sslmode=disable",
                  timeout=30)
    assert not (tmp_path / "run" / "worker.json").exists()  # nothing was started
    recorded = json.loads((tmp_path / "run" / "server.json").read_text())
    assert recorded["database"] == "postgres://u:***@127.0.0.1:1/db?sslmode=disable"
    assert stat.S_IMODE((tmp_path / "credentials.json").stat().st_mode) == 0o600


def test_connection_settings_remote(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCCANO_URL", "https://doccano.example.org/")
    monkeypatch.setenv("DOCCANO_USERNAME", "lead")
    monkeypatch.setenv("DOCCANO_PASSWORD", "pw")
    monkeypatch.delenv("DOCCANO_TOKEN", raising=False)
    assert server.connection_settings(tmp_path) == {"url": "https://doccano.example.org", "username": "lead",
                                                    "password": "pw", "token": None, "local": False,
                                                    "state_dir": None}
    monkeypatch.delenv("DOCCANO_USERNAME")
    monkeypatch.delenv("DOCCANO_PASSWORD")
    with pytest.raises(InputError, match="DOCCANO_TOKEN"):
        server.connection_settings(tmp_path)
    monkeypatch.setenv("DOCCANO_TOKEN", "t0k")
    assert server.connection_settings(tmp_path)["token"] == "t0k"
    assert server.down(tmp_path) == {"url": "https://doccano.example.org", "local": False, "stopped": {}}
    with pytest.raises(InputError, match="local server"):
        server.add_users(["someone"], tmp_path)


def test_connection_settings_without_a_server(monkeypatch, tmp_path):
    monkeypatch.delenv("DOCCANO_URL", raising=False)
    with pytest.raises(InputError, match="no local Doccano server") as e:
        server.connection_settings(tmp_path)
    assert "annotate server up" in e.value.hint and "DOCCANO_URL" in e.value.hint
    result = runner.invoke(app, ["users", "add", "someone", "--state-dir", str(tmp_path)])
    assert result.exit_code == 2 and "server up" in result.output


def test_a_readable_credentials_file_is_refused(tmp_path):
    path = tmp_path / "credentials.json"
    path.write_text("{}")
    path.chmod(0o644)
    with pytest.raises(InputError, match="chmod 600"):
        server.load_credentials(tmp_path)


def test_install_is_a_no_op_when_the_venv_is_complete(tmp_path):
    assert server.venv_ready()  # the session (or `annotate server up`) installed it
    assert server.install()["installed"] is False
    assert not server.venv_ready(tmp_path)  # no marker: incomplete
    (tmp_path / server.MARKER).write_text("stale\n")
    assert not server.venv_ready(tmp_path)  # marker of another lock: rebuilt
