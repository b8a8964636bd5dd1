"""Classifier worker: ``mentions.raw`` -> ``mentions.classified``.

Records that are not a valid Mention (bad JSON, missing or mistyped fields,
empty text) are dead-lettered with the validation error; valid ones are
classified in one batched forward pass. A classification failure (a bug, an
out-of-memory) raises, and the batch is retried rather than dead-lettered:
the input is fine, the worker is not.
"""

from __future__ import annotations

import logging

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from classifiers.model import MentionClassifier
from mentionflow.kafka.dlq import DeadLetter, DeadLetterPublisher, describe_validation_error
from mentionflow.kafka.topics import Topics
from mentionflow.models import ClassifiedMention, Mention, utcnow

__all__ = ["ClassifyHandler", "decode_mention"]

log = logging.getLogger(__name__)


def decode_mention(value: bytes | None) -> Mention:
    if not value:
        raise ValueError("empty message")
    try:
        return Mention.model_validate_json(value)
    except ValidationError as exc:
        raise ValueError(describe_validation_error("Mention", exc)) from exc


class ClassifyHandler:
    def __init__(
        self,
        classifier: MentionClassifier,
        producer: KafkaProducer,
        topics: Topics | None = None,
        batch_size: int = 32,
    ) -> None:
        self._classifier = classifier
        self._producer = producer
        self._topics = topics or Topics()
        self._dlq = DeadLetterPublisher(producer, self._topics.dlq)
        self._batch_size = batch_size

    def __call__(self, records: list[ConsumerRecord]) -> None:
        valid: list[Mention] = []
        for rec in records:
            try:
                valid.append(decode_mention(rec.value))
            except ValueError as exc:
                self._dlq.publish(DeadLetter(rec, str(exc), stage="classify"))
        if not valid:
            return
        predictions = self._classifier.process(
            [m.text for m in valid], [m.language for m in valid], batch_size=self._batch_size
        )
        now = utcnow()
        for mention, pred in zip(valid, predictions, strict=True):
            classified = ClassifiedMention(
                mention=mention,
                category=pred.category,
                confidence=pred.confidence,
                scores=pred.scores,
                language=pred.language,
                needs_review=pred.needs_review,
                model_version=self._classifier.model_version,
                classified_at=now,
            )
            self._producer.send(
                self._topics.classified,
                key=mention.id.encode(),
                value=classified.model_dump_json().encode(),
            )
