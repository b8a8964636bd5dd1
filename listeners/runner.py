"""Running one listener once: poll, publish, then save the cursor.

The cursor is saved only after the producer has flushed (acks=all), so a
crash re-publishes at most the last unflushed stretch, never skips it;
duplicates are harmless downstream because mention ids are stable.
"""

from __future__ import annotations

from dataclasses import dataclass

from listeners.base import Listener, Rejected
from listeners.publisher import MentionPublisher
from mentionflow.store import TicketStore

__all__ = ["RunStats", "run_listener"]


@dataclass
class RunStats:
    published: int = 0
    rejected: int = 0


def run_listener(
    listener: Listener,
    publisher: MentionPublisher,
    store: TicketStore | None,
    *,
    use_cursor: bool = True,
    flush_every: int = 500,
) -> RunStats:
    stats = RunStats()
    cursor = store.get_cursor(listener.name) if (store and use_cursor) else None
    pending = None
    for n, item in enumerate(listener.poll(cursor), 1):
        publisher.publish(item.item)
        if isinstance(item.item, Rejected):
            stats.rejected += 1
        else:
            stats.published += 1
        pending = item.cursor
        if n % flush_every == 0:
            publisher.flush()
            if store:
                store.set_cursor(listener.name, pending)
    publisher.flush()
    if store and pending is not None:
        store.set_cursor(listener.name, pending)
    return stats
