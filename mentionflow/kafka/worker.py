"""The consume -> process -> produce -> commit loop every pipeline stage runs.

Delivery is at-least-once: offsets are committed only after the handler has
durably written everything the batch produced (producer flushed with
acks=all, database transaction committed). A crash anywhere before the commit
replays the batch, so handlers must be idempotent; the stages are (ticket ids
derive from mention ids, inserts ignore conflicts). Kafka transactions are not
used on purpose: not every Kafka-protocol broker honours aborts.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from typing import Protocol

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.structs import OffsetAndMetadata

__all__ = ["BatchHandler", "BatchWorker"]

log = logging.getLogger(__name__)


class BatchHandler(Protocol):
    """Processes one polled batch. Must be idempotent: a batch may be replayed.

    It may send to the producer it was built with; the worker flushes that
    producer before committing. Records it cannot process it dead-letters
    itself; raising means "could not process now" and the batch is retried.
    """

    def __call__(self, records: list[ConsumerRecord]) -> None: ...


class BatchWorker:
    def __init__(
        self,
        consumer: KafkaConsumer,
        producer: KafkaProducer,
        handler: BatchHandler,
        *,
        name: str,
        poll_timeout_ms: int = 500,
        max_retries: int = 8,
        on_committed: Callable[[int], None] | None = None,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._handler = handler
        self._name = name
        self._poll_timeout_ms = poll_timeout_ms
        self._max_retries = max_retries
        self._on_committed = on_committed
        # A plain flag, not threading.Event: stop() runs in signal handlers, and
        # Event.set() there deadlocks if the signal lands inside Event.wait().
        self._stopping = False
        self.processed = 0

    def stop(self, *_: object) -> None:
        self._stopping = True

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT finish the batch in hand, commit, and exit cleanly."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def run(self, max_idle_s: float | None = None) -> int:
        """Run until stopped (or idle for ``max_idle_s``); returns records processed."""
        idle_since = time.monotonic()
        failures = 0
        log.info("%s: started", self._name)
        try:
            while not self._stopping:
                polled = self._consumer.poll(timeout_ms=self._poll_timeout_ms)
                records = [r for batch in polled.values() for r in batch]
                if not records:
                    if not self._consumer.assignment():
                        idle_since = time.monotonic()  # still joining the group: not idle yet
                    elif max_idle_s is not None and time.monotonic() - idle_since > max_idle_s:
                        break
                    continue
                idle_since = time.monotonic()
                try:
                    self._handler(records)
                    self._producer.flush()
                except Exception:
                    failures += 1
                    if failures > self._max_retries:
                        log.exception("%s: giving up after %d failed attempts", self._name, failures)
                        raise
                    delay = min(30.0, 0.5 * 2 ** (failures - 1))
                    log.exception("%s: batch failed, retrying in %.1fs", self._name, delay)
                    self._rewind(records)
                    self._sleep(delay)
                    continue
                failures = 0
                self._commit(records)
                self.processed += len(records)
                if self._on_committed:
                    self._on_committed(len(records))
        finally:
            log.info("%s: stopping after %d records", self._name, self.processed)
            self._consumer.close(autocommit=False)
            self._producer.flush()
            self._producer.close()
        return self.processed

    def _commit(self, records: list[ConsumerRecord]) -> None:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            nxt = r.offset + 1
            if tp not in offsets or offsets[tp].offset < nxt:
                offsets[tp] = OffsetAndMetadata(nxt, "", -1)
        self._consumer.commit(offsets=offsets)

    def _rewind(self, records: list[ConsumerRecord]) -> None:
        first: dict[TopicPartition, int] = {}
        for r in records:
            tp = TopicPartition(r.topic, r.partition)
            first[tp] = min(first.get(tp, r.offset), r.offset)
        for tp, offset in first.items():
            self._consumer.seek(tp, offset)
