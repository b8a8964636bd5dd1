"""A publisher that records instead of producing to Kafka.

Listener tests are about what a connector reads and when it checkpoints;
the broker path is covered by the integration tests. The recorder keeps
the runner's contract: ``flush`` marks everything published so far as
acknowledged, so a test can check what a crash before a flush would lose.
"""

from __future__ import annotations

from listeners.base import Rejected
from mentionflow.models import Mention

__all__ = ["RecordingPublisher"]


class RecordingPublisher:
    def __init__(self) -> None:
        self.mentions: list[Mention] = []
        self.rejected: list[Rejected] = []
        self.flushed = 0

    def publish(self, item: Mention | Rejected) -> None:
        (self.rejected if isinstance(item, Rejected) else self.mentions).append(item)

    def flush(self) -> None:
        self.flushed = len(self.mentions) + len(self.rejected)

    @property
    def ids(self) -> list[str]:
        return [m.id for m in self.mentions]
