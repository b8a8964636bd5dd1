"""The contract every sink keeps, and how failures are told apart.

A sink either returns (delivered; optionally the receiver's own reference)
or raises: ``RetryableSendError`` when trying again later can succeed
(timeouts, 5xx, 429, a receiver that is down), ``PermanentSendError`` when
it cannot until a person fixes something (bad token, unknown channel, a
request the receiver rejects as invalid). The dispatcher owns the retry
schedule; sinks never sleep or loop.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Protocol

from mentionflow.store.outbox import Delivery
from routing.delivery.message import TicketMessage

__all__ = ["PermanentSendError", "RetryableSendError", "SendError", "Sink", "error_for_status", "retry_after_s"]


class SendError(Exception):
    retryable = False

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class RetryableSendError(SendError):
    retryable = True


class PermanentSendError(SendError):
    pass


class Sink(Protocol):
    name: str

    def send(self, delivery: Delivery, message: TicketMessage) -> str | None:
        """Deliver once; return the receiver's reference for the ticket, if any."""

    def close(self) -> None: ...


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` as seconds (RFC 9110: delay-seconds or an HTTP date)."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_for_status(status: int, headers: Mapping[str, str], what: str, detail: str = "") -> SendError:
    """HTTP status to error kind: 408/425/429 and 5xx are worth retrying."""
    message = f"{what} answered HTTP {status}" + (f": {detail[:300]}" if detail else "")
    if status in (408, 425, 429) or status >= 500:
        return RetryableSendError(message, retry_after_s(headers))
    return PermanentSendError(message)
