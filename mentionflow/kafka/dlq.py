"""Dead letters: what a stage cannot process is kept, byte for byte, with why.

The original bytes go out unchanged as the value so an operator can fix the
producer and replay them; the reason and provenance travel as headers (the
convention Kafka Connect uses for its dead-letter queues).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from mentionflow.models import utcnow

__all__ = ["DeadLetter", "DeadLetterPublisher", "describe_validation_error"]

log = logging.getLogger(__name__)

#: Reasons longer than this are cut: a pydantic error for a huge payload can
#: otherwise echo the payload back into the header.
MAX_REASON_CHARS = 2000


def describe_validation_error(model: str, exc: ValidationError) -> str:
    """One line per problem, without echoing a possibly huge input."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '(message)'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return f"invalid {model}: " + "; ".join(parts)


@dataclass(frozen=True)
class DeadLetter:
    record: ConsumerRecord
    reason: str
    stage: str


class DeadLetterPublisher:
    def __init__(self, producer: KafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    def publish(self, letter: DeadLetter) -> None:
        rec = letter.record
        reason = letter.reason[:MAX_REASON_CHARS]
        headers = [
            ("mentionflow.error", reason.encode()),
            ("mentionflow.stage", letter.stage.encode()),
            ("mentionflow.source.topic", rec.topic.encode()),
            ("mentionflow.source.partition", str(rec.partition).encode()),
            ("mentionflow.source.offset", str(rec.offset).encode()),
            ("mentionflow.failed_at", utcnow().isoformat().encode()),
        ]
        log.warning(
            "dead-lettering %s[%d]@%d: %s", rec.topic, rec.partition, rec.offset, reason[:200]
        )
        self._producer.send(self._topic, key=rec.key, value=rec.value or b"", headers=headers)
