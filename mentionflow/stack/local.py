"""The local stack: broker (unless one is configured), store, worker processes.

Workers run as separate processes, exactly as in production, so that the
demo exercises the real consume/commit path and a test can SIGKILL one.
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from mentionflow.kafka.topics import ensure_topics
from mentionflow.settings import Settings
from mentionflow.stack.broker import TansuBroker
from mentionflow.stack.processes import ManagedProcess
from mentionflow.store import TicketStore, make_engine, migrate

__all__ = ["LocalStack"]

log = logging.getLogger(__name__)

WORKER_KINDS = ("classify", "route", "deliver", "api")


@dataclass
class LocalStack:
    settings: Settings
    run_dir: Path
    broker: TansuBroker | None = None
    workers: list[ManagedProcess] = field(default_factory=list)
    _store: TicketStore | None = None

    @property
    def bootstrap_servers(self) -> str:
        if self.settings.bootstrap_servers:
            return self.settings.bootstrap_servers
        if self.broker is None:
            raise RuntimeError("stack not started")
        return self.broker.bootstrap_servers

    @property
    def store(self) -> TicketStore:
        if self._store is None:
            self._store = TicketStore(make_engine(self.settings.database_url))
        return self._store

    def child_env(self) -> dict[str, str]:
        return {
            **os.environ,
            "MENTIONFLOW_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "MENTIONFLOW_DATABASE_URL": self.settings.database_url,
            "PYTHONUNBUFFERED": "1",
        }

    def start_infrastructure(self) -> None:
        """Broker (if none configured), topics and the store's schema."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.settings.bootstrap_servers:
            self.broker = TansuBroker(self.run_dir).start()
            log.info("broker listening on %s", self.broker.bootstrap_servers)
        ensure_topics(self.bootstrap_servers, self.settings.topic_partitions)
        migrate(self.store.engine)

    def start_worker(self, kind: str, index: int = 0, api_port: int = 8000) -> ManagedProcess:
        """A supervised child: a pipeline worker, or the inbox API server."""
        if kind not in WORKER_KINDS:
            raise ValueError(f"unknown worker kind {kind!r}")
        name = f"{kind}-worker-{index}"
        argv = {"api": ["api", "--port", str(api_port)], "deliver": ["deliver"]}.get(kind, ["worker", kind])
        proc = ManagedProcess(
            name,
            [sys.executable, "-m", "mentionflow", *argv],
            env=self.child_env(),
            log_file=self.run_dir / f"{name}.log",
            pid_file=self.run_dir / f"{name}.pid",
        ).start()
        self.workers.append(proc)
        return proc

    def start(self, classifiers: int = 1, routers: int = 1, dispatchers: int = 1) -> LocalStack:
        self.start_infrastructure()
        for i in range(classifiers):
            self.start_worker("classify", i)
        for i in range(routers):
            self.start_worker("route", i)
        for i in range(dispatchers):
            self.start_worker("deliver", i)
        return self

    def dead_workers(self) -> list[ManagedProcess]:
        return [w for w in self.workers if not w.alive()]

    def stop(self) -> None:
        for w in reversed(self.workers):
            w.stop()
        self.workers.clear()
        if self.broker:
            self.broker.stop()
            self.broker = None
        if self._store is not None:
            self._store.engine.dispose()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
