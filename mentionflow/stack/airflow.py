"""``airflow standalone`` for the local stack, with the project's DAGs.

AIRFLOW_HOME is project-local (``var/airflow``) so the local stack never
touches a user's own Airflow; the UI binds to loopback only.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx

from mentionflow.settings import PROJECT_ROOT
from mentionflow.stack.broker import free_port
from mentionflow.stack.processes import ManagedProcess

__all__ = ["AirflowStandalone"]

ADMIN_USER = "admin"


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class AirflowStandalone:
    def __init__(self, home: Path, env: dict[str, str], run_dir: Path, port: int | None = None) -> None:
        self.home = home
        self.port = port or (8080 if _port_free(8080) else free_port())
        airflow_bin = str(Path(sys.executable).with_name("airflow"))
        bin_dir = str(Path(sys.executable).parent)
        self.env = {
            **env,
            # standalone starts its components as `airflow ...` subprocesses
            "PATH": bin_dir + os.pathsep + env.get("PATH", os.defpath),
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{self.port}",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        }
        self.process = ManagedProcess(
            "airflow", [airflow_bin, "standalone"], env=self.env,
            log_file=run_dir / "airflow.log", pid_file=run_dir / "airflow.pid",
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AirflowStandalone:
        self.home.mkdir(parents=True, exist_ok=True)
        self.process.start()
        return self

    def wait_healthy(self, timeout_s: float = 240.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.process.alive():
                raise RuntimeError(f"airflow standalone exited; see {self.process.log_file}")
            try:
                r = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=2)
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(1)
        raise TimeoutError(f"Airflow did not answer on {self.url} within {timeout_s:.0f}s")

    def admin_password(self) -> str | None:
        path = self.home / "simple_auth_manager_passwords.json.generated"
        try:
            return json.loads(path.read_text()).get(ADMIN_USER)
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        self.process.stop(timeout_s=30)
