"""Topic names and their creation.

Topic names are fixed by the data contract; a deployment that shares a
cluster can set a prefix instead of renaming them one by one.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from mentionflow.models import Team

__all__ = ["Topics", "ensure_topics"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topics:
    prefix: str = ""

    @property
    def raw(self) -> str:
        return f"{self.prefix}mentions.raw"

    @property
    def classified(self) -> str:
        return f"{self.prefix}mentions.classified"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}mentions.dlq"

    def tickets(self, team: Team | str) -> str:
        return f"{self.prefix}tickets.{Team(team).value}"

    def all(self) -> list[str]:
        return [self.raw, self.classified, self.dlq, *(self.tickets(t) for t in Team)]


def ensure_topics(bootstrap_servers: str, partitions: int, topics: Topics | None = None) -> None:
    """Create the pipeline's topics if they are missing (idempotent)."""
    from mentionflow.kafka.clients import make_admin

    names = (topics or Topics()).all()
    admin = make_admin(bootstrap_servers)
    try:
        existing = set(admin.list_topics())
        missing = [n for n in names if n not in existing]
        if missing:
            try:
                admin.create_topics(
                    [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in missing]
                )
            except TopicAlreadyExistsError:
                pass  # another process won the race; that is the goal anyway
            log.info("created topics %s", missing)
        _wait_for_metadata(admin, names)
    finally:
        admin.close()


def _wait_for_metadata(admin, names: list[str], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if set(names) <= set(admin.list_topics()):
                return
        except KafkaError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"topics not visible after {timeout_s}s: {names}")
        time.sleep(0.1)
