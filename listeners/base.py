"""What every listener provides, whatever the channel."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from mentionflow.models import Mention

__all__ = ["Listener", "ListenerItem", "Rejected"]


@dataclass(frozen=True)
class Rejected:
    """Input a listener could not turn into a Mention; it is dead-lettered, not dropped."""

    payload: bytes
    reason: str
    key: bytes | None = None


@dataclass(frozen=True)
class ListenerItem:
    """One result of a poll, with the cursor to save once it is published."""

    item: Mention | Rejected
    cursor: dict[str, Any]


class Listener(Protocol):
    #: Unique name of the configured source; cursors are stored under it.
    name: str

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerItem]:
        """Yield everything new since ``cursor`` (None: from the beginning)."""
        ...
