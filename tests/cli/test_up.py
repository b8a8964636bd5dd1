"""``mentionflow up`` supervises its workers and stops everything on Ctrl-C."""

import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait_for(predicate, timeout_s: float):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthz(port: int):
    import httpx

    try:
        r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return None
    return r.json() if r.status_code == 200 else None


def test_up_restarts_a_killed_worker_and_ctrl_c_stops_all(tmp_path):
    env = {**os.environ, "MENTIONFLOW_VAR_DIR": str(tmp_path),
           "MENTIONFLOW_DATABASE_URL": f"sqlite:///{tmp_path / 'up.db'}"}
    env.pop("MENTIONFLOW_BOOTSTRAP_SERVERS", None)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mentionflow", "up", "--no-airflow", "--api-port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    run = tmp_path / "run" / "up"
    try:
        pidfiles = ["broker.pid", "classify-worker-0.pid", "route-worker-0.pid", "api-worker-0.pid"]
        _wait_for(lambda: all((run / p).exists() for p in pidfiles), 60)
        pids = {p: int((run / p).read_text()) for p in pidfiles}
        os.kill(pids["route-worker-0.pid"], signal.SIGKILL)
        _wait_for(lambda: (run / "route-worker-0.pid").exists()
                  and int((run / "route-worker-0.pid").read_text()) != pids["route-worker-0.pid"], 30)
        new_router = int((run / "route-worker-0.pid").read_text())
        assert _alive(new_router)
        assert _wait_for(lambda: _healthz(port), 60)["status"] == "ok"  # the inbox API is served
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "route-worker-0 exited" in out and "restarting" in out
    assert re.search(r"broker:\s+127\.0\.0\.1:\d+", out)
    for pid in [pids["broker.pid"], pids["classify-worker-0.pid"], pids["api-worker-0.pid"], new_router]:
        assert not _alive(pid), f"pid {pid} survived Ctrl-C"
