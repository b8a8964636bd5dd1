"""Running a listener: publish, flush, then checkpoint.

At every checkpoint the runner drops mentions this source has already
published (by mention id), publishes the rest, waits for the broker to
acknowledge them (acks=all), and only then saves the cursor together with
the published ids. A crash therefore re-reads at most the stretch since the
last checkpoint, and the seen ids keep that re-read from publishing twice;
a crash between the flush and the save is the only window for a repeat,
and downstream writes are idempotent on the mention id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from listeners.base import Checkpoint, Listener, Rejected
from listeners.publisher import MentionPublisher
from mentionflow.models import Mention
from mentionflow.store.listening import SourceState

__all__ = ["RunStats", "run_listener"]


@dataclass
class RunStats:
    published: int = 0
    rejected: int = 0
    #: mentions dropped because this source had already published them
    duplicates: int = 0
    checkpoints: int = 0


class _Batch:
    def __init__(self, publisher: MentionPublisher, state: SourceState | None, source: str, stats: RunStats) -> None:
        self.publisher, self.state, self.source, self.stats = publisher, state, source, stats
        self.items: list[Mention | Rejected] = []

    def commit(self, cursor: dict | None) -> None:
        if not self.items and cursor is None:
            return
        mentions = [i for i in self.items if isinstance(i, Mention)]
        fresh = self.state.unseen(self.source, [m.id for m in mentions]) if self.state else {m.id for m in mentions}
        published: list[str] = []
        for item in self.items:
            if isinstance(item, Rejected):
                self.publisher.publish(item)
                self.stats.rejected += 1
            elif item.id in fresh:
                fresh.discard(item.id)  # a second copy within the batch is a repeat too
                self.publisher.publish(item)
                published.append(item.id)
            else:
                self.stats.duplicates += 1
        self.publisher.flush()
        self.stats.published += len(published)
        if self.state:
            self.state.checkpoint(self.source, cursor, published)
        self.items = []


def run_listener(
    listener: Listener,
    publisher: MentionPublisher,
    state: SourceState | None,
    *,
    use_cursor: bool = True,
    max_batch: int = 500,
    seen_retention: timedelta | None = timedelta(days=14),
) -> RunStats:
    """Poll ``listener`` to the end; ``state`` None publishes without memory (demos, tests)."""
    stats = RunStats()
    cursor = state.get_cursor(listener.name) if (state and use_cursor) else None
    batch = _Batch(publisher, state, listener.name, stats)
    for item in listener.poll(cursor or None):
        if isinstance(item, Checkpoint):
            batch.commit(item.cursor)
            stats.checkpoints += 1
            continue
        batch.items.append(item)
        if len(batch.items) >= max_batch:
            batch.commit(None)  # bounds memory; ids are remembered even without a cursor
    batch.commit(None)
    if state and seen_retention is not None:
        state.finished_poll(listener.name, seen_retention)
    return stats
