"""Moving accepted pushes from the intake queue to Kafka.

Rows leave the queue only after the broker acknowledged them, and a pushed
mention id this source already published (platforms retry deliveries) is
dropped, using the same seen ids as polling connectors.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict

from listeners.base import Rejected
from listeners.publisher import MentionPublisher
from mentionflow.models import Mention
from mentionflow.store.listening import IntakeQueue, QueuedItem, SourceState

__all__ = ["IntakePublisher"]

log = logging.getLogger(__name__)


class IntakePublisher:
    def __init__(self, queue: IntakeQueue, state: SourceState, publisher: MentionPublisher) -> None:
        self.queue, self.state, self.publisher = queue, state, publisher

    def drain_once(self, limit: int = 500) -> int:
        """Publish up to ``limit`` queued items; returns how many rows were handled."""
        rows = self.queue.peek(limit)
        if not rows:
            return 0
        by_source: dict[str, list[QueuedItem]] = defaultdict(list)
        for row in rows:
            by_source[row.source].append(row)
        published: dict[str, list[str]] = {}
        for source, items in by_source.items():
            fresh = self.state.unseen(source, [i.mention_id for i in items if i.mention_id])
            published[source] = []
            for item in items:
                if item.reason is not None or item.mention_id is None:
                    self.publisher.publish(Rejected(item.payload, item.reason or "rejected at intake"))
                elif item.mention_id in fresh:
                    fresh.discard(item.mention_id)
                    self.publisher.publish(Mention.model_validate_json(item.payload))
                    published[source].append(item.mention_id)
        self.publisher.flush()
        for source, ids in published.items():
            self.state.checkpoint(source, None, ids)
        self.queue.remove(r.id for r in rows)
        return len(rows)

    def run(self, stop: threading.Event, idle_s: float = 0.2) -> None:
        """Drain until ``stop`` is set; errors are logged and retried, rows stay queued."""
        while not stop.is_set():
            try:
                handled = self.drain_once()
            except Exception:
                log.exception("intake publisher failed; queued pushes are kept and retried")
                stop.wait(5.0)
                continue
            if not handled:
                stop.wait(idle_s)
