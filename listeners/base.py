"""What every listener provides, whatever the channel.

A listener turns one configured source into a stream of items: mentions,
rejects (input it could not read, dead-lettered with the reason) and
checkpoints. A checkpoint says "everything before me is covered by this
cursor": the runner publishes and flushes what came before it, then saves
the cursor, so a listener decides where a restart may safely resume (a page
boundary, a line, a stream heartbeat) and never has to know about Kafka.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from mentionflow.models import Mention

__all__ = ["Checkpoint", "Listener", "ListenerOutput", "Mode", "Rejected"]


class Mode(StrEnum):
    """How a connector gets its data; ``sources list`` shows it."""

    POLL = "poll"  #: asked on a schedule (the poll_sources DAG)
    STREAM = "stream"  #: a long-lived connection (``mentionflow listen``)
    PUSH = "push"  #: the platform calls us (``mentionflow intake``)


@dataclass(frozen=True)
class Rejected:
    """Input a listener could not turn into a Mention; it is dead-lettered, not dropped."""

    payload: bytes
    reason: str
    key: bytes | None = None


@dataclass(frozen=True)
class Checkpoint:
    """Resume here: every item yielded before this one is covered by ``cursor``."""

    cursor: dict[str, Any]


ListenerOutput = Mention | Rejected | Checkpoint


class Listener(Protocol):
    #: Unique name of the configured source; cursors are stored under it.
    name: str

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        """Yield everything new since ``cursor`` (None: from the beginning).

        A polling listener returns when it has caught up; a streaming one
        yields for as long as its connection lives and reconnects itself.
        """
        ...
