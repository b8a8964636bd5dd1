"""The dispatcher: sends due outbox rows to their sinks and records outcomes.

It runs apart from the router (``mentionflow deliver``), so a slow or dead
receiver never holds up routing, and each delivery's outcome is written as
soon as it is known: the window in which a crash can cause a resend is one
request wide. Several dispatchers may run; leases keep them off each
other's rows.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Mapping
from datetime import timedelta

from pydantic import ValidationError

from mentionflow.models import utcnow
from mentionflow.store.outbox import Delivery, Outbox
from routing.delivery.config import RetryPolicy
from routing.delivery.message import TicketMessage
from routing.delivery.sinks.base import PermanentSendError, SendError, Sink

__all__ = ["Dispatcher"]

log = logging.getLogger(__name__)


class Dispatcher:
    def __init__(
        self,
        outbox: Outbox,
        sinks: Mapping[str, Sink],
        retry: RetryPolicy,
        batch_size: int = 20,
        lease: timedelta = timedelta(minutes=2),
        rng: random.Random | None = None,
    ) -> None:
        self.outbox = outbox
        self.sinks = dict(sinks)
        self.retry = retry
        self.batch_size = batch_size
        self.lease = lease
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._rng = rng or random.Random()
        self._stop = threading.Event()

    def stop(self, *_: object) -> None:
        self._stop.set()

    def run_once(self) -> int:
        """Claim what is due and try each once; returns how many were tried."""
        batch = self.outbox.claim(self.owner, self.batch_size, self.lease)
        for delivery in batch:
            if self._stop.is_set():
                break  # unsent claims lapse with the lease and are retried
            self._deliver(delivery)
        return len(batch)

    def run(self, idle_sleep_s: float = 1.0, max_idle_s: float | None = None) -> None:
        idle = 0.0
        while not self._stop.is_set():
            if self.run_once():
                idle = 0.0
                continue
            if max_idle_s is not None and idle >= max_idle_s:
                return
            self._stop.wait(idle_sleep_s)
            idle += idle_sleep_s
        for sink in self.sinks.values():
            sink.close()

    def _deliver(self, delivery: Delivery) -> None:
        sink = self.sinks.get(delivery.sink)
        try:
            if sink is None:
                raise PermanentSendError(f"sink {delivery.sink!r} is not configured in the delivery file")
            try:
                message = TicketMessage.model_validate(delivery.payload)
            except ValidationError as exc:
                raise PermanentSendError(f"stored message does not validate: {exc.error_count()} errors") from exc
            ref = sink.send(delivery, message)
        except SendError as exc:
            self._failed(delivery, exc)
            return
        except Exception as exc:  # a bug in a sink must not stop the others
            log.exception("sink %s raised on delivery %s", delivery.sink, delivery.id)
            self._failed(delivery, SendError(f"{type(exc).__name__}: {exc}"), unexpected=True)
            return
        if not self.outbox.delivered(delivery, self.owner, ref):
            log.warning("delivery %s to %s sent but its lease had lapsed", delivery.id, delivery.sink)
        log.info("delivered ticket %s to %s (attempt %d)", delivery.ticket_id, delivery.sink, delivery.attempts + 1)

    def _failed(self, delivery: Delivery, exc: SendError, unexpected: bool = False) -> None:
        attempt = delivery.attempts + 1
        error = str(exc)
        if not (exc.retryable or unexpected):
            log.error("delivery %s to %s failed for good: %s", delivery.id, delivery.sink, error)
            self.outbox.failed(delivery, self.owner, error)
            return
        if attempt >= self.retry.max_attempts:
            log.error("delivery %s to %s: giving up after %d attempts: %s", delivery.id, delivery.sink, attempt, error)
            self.outbox.failed(delivery, self.owner, f"gave up after {attempt} attempts: {error}")
            return
        delay = self.retry.delay_s(attempt, self._rng.random())
        if exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, self.retry.max_s))
        log.warning("delivery %s to %s failed (attempt %d), retrying in %.1f s: %s",
                    delivery.id, delivery.sink, attempt, delay, error)
        self.outbox.retry_at(delivery, self.owner, error, utcnow() + timedelta(seconds=delay))
