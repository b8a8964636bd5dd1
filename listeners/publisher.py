"""Publishing mentions (and rejects) to Kafka."""

from __future__ import annotations

from kafka import KafkaProducer

from listeners.base import Rejected
from mentionflow.kafka.topics import Topics
from mentionflow.models import utcnow

__all__ = ["MentionPublisher"]


class MentionPublisher:
    """Keys are mention ids, so every version of a mention lands in one partition."""

    def __init__(self, producer: KafkaProducer, topics: Topics | None = None) -> None:
        self._producer = producer
        self._topics = topics or Topics()

    def publish(self, item) -> None:  # type: ignore[no-untyped-def]
        if isinstance(item, Rejected):
            headers = [
                ("mentionflow.error", item.reason[:2000].encode()),
                ("mentionflow.stage", b"listener"),
                ("mentionflow.failed_at", utcnow().isoformat().encode()),
            ]
            self._producer.send(self._topics.dlq, key=item.key, value=item.payload, headers=headers)
            return
        self._producer.send(
            self._topics.raw, key=item.id.encode(), value=item.model_dump_json().encode()
        )

    def flush(self) -> None:
        self._producer.flush()
