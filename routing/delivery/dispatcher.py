"""The dispatcher: sends due outbox rows to their sinks and records outcomes.

It runs apart from the router (``mentionflow deliver``), so a slow or dead
receiver never holds up routing, and each delivery's outcome is written as
soon as it is known: the window in which a crash can cause a resend is one
request wide. Several dispatchers may run; leases keep them off each
other's rows.

Each sink's share of a batch is sent in a thread of its own, so a receiver
that hangs until its timeout does not delay the others; and once a sink
fails with a retryable error, the rest of its share waits for the next
round untried (one probe per round, not a timeout per ticket while a
receiver is down).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

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
        self._rng_lock = threading.Lock()
        self._stop = threading.Event()

    def stop(self, *_: object) -> None:
        self._stop.set()

    def run_once(self) -> int:
        """Claim what is due and try it; returns how many were claimed."""
        batch = self.outbox.claim(self.owner, self.batch_size, self.lease)
        per_sink: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in batch:
            per_sink[delivery.sink].append(delivery)
        if len(per_sink) <= 1:
            for share in per_sink.values():
                self._deliver_share(share)
        else:
            with ThreadPoolExecutor(max_workers=min(len(per_sink), 8), thread_name_prefix="deliver") as pool:
                for future in [pool.submit(self._deliver_share, share) for share in per_sink.values()]:
                    future.result()
        return len(batch)

    def _deliver_share(self, share: Sequence[Delivery]) -> None:
        for i, delivery in enumerate(share):
            if self._stop.is_set():
                return  # unsent claims lapse with the lease and are retried
            retry_at = self._deliver(delivery)
            if retry_at is not None:
                for later in share[i + 1 :]:
                    self.outbox.retry_at(later, self.owner, f"not tried: {later.sink} failed just before", retry_at)
                return

    def run(self, idle_sleep_s: float = 1.0, max_idle_s: float | None = None) -> None:
        idle = 0.0
        try:
            while not self._stop.is_set():
                if self.run_once():
                    idle = 0.0
                    continue
                if max_idle_s is not None and idle >= max_idle_s:
                    return
                self._stop.wait(idle_sleep_s)
                idle += idle_sleep_s
        finally:
            for sink in self.sinks.values():
                sink.close()

    def _deliver(self, delivery: Delivery) -> datetime | None:
        """Send one delivery and record the outcome; returns when it is due
        again if it failed but may succeed later."""
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
            return self._failed(delivery, exc)
        except Exception as exc:  # a bug in a sink must not stop the others
            log.exception("sink %s raised on delivery %s", delivery.sink, delivery.id)
            return self._failed(delivery, SendError(f"{type(exc).__name__}: {exc}"), unexpected=True)
        if not self.outbox.delivered(delivery, self.owner, ref):
            log.warning("delivery %s to %s sent but its lease had lapsed", delivery.id, delivery.sink)
        log.info("delivered ticket %s to %s (attempt %d)", delivery.ticket_id, delivery.sink, delivery.attempts + 1)
        return None

    def _failed(self, delivery: Delivery, exc: SendError, unexpected: bool = False) -> datetime | None:
        attempt = delivery.attempts + 1
        error = str(exc)
        if not (exc.retryable or unexpected):
            log.error("delivery %s to %s failed for good: %s", delivery.id, delivery.sink, error)
            self.outbox.failed(delivery, self.owner, error)
            return None
        if attempt >= self.retry.max_attempts:
            log.error("delivery %s to %s: giving up after %d attempts: %s", delivery.id, delivery.sink, attempt, error)
            self.outbox.failed(delivery, self.owner, f"gave up after {attempt} attempts: {error}")
            return None
        with self._rng_lock:
            delay = self.retry.delay_s(attempt, self._rng.random())
        if exc.retry_after_s is not None:
            delay = max(delay, min(exc.retry_after_s, self.retry.max_s))
        log.warning("delivery %s to %s failed (attempt %d), retrying in %.1f s: %s",
                    delivery.id, delivery.sink, attempt, delay, error)
        when = utcnow() + timedelta(seconds=delay)
        self.outbox.retry_at(delivery, self.owner, error, when)
        return when
