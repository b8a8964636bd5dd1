"""Router worker: ``mentions.classified`` -> ticket store + ``tickets.<team>``.

Order of effects per batch: (1) mentions and tickets are written in one
transaction (idempotent on mention id), (2) every ticket of the batch not yet
published is sent to its team topic and the producer flushed, (3) the tickets
are marked published, (4) the worker commits the offsets. A crash after (1)
replays the batch: (1) writes nothing new and (2) publishes what was missed.
"""

from __future__ import annotations

import logging

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from mentionflow.kafka.dlq import DeadLetter, DeadLetterPublisher, describe_validation_error
from mentionflow.kafka.topics import Topics
from mentionflow.models import ClassifiedMention
from mentionflow.store import RoutedMention, TicketStore
from routing.engine import MentionFacts, RoutingEngine

__all__ = ["RouteHandler"]

log = logging.getLogger(__name__)


class RouteHandler:
    def __init__(
        self,
        engine: RoutingEngine,
        store: TicketStore,
        producer: KafkaProducer,
        topics: Topics | None = None,
    ) -> None:
        self._engine = engine
        self._store = store
        self._producer = producer
        self._topics = topics or Topics()
        self._dlq = DeadLetterPublisher(producer, self._topics.dlq)

    def __call__(self, records: list[ConsumerRecord]) -> None:
        batch: dict[str, RoutedMention] = {}
        for rec in records:
            try:
                classified = ClassifiedMention.model_validate_json(rec.value or b"")
            except ValidationError as exc:
                reason = describe_validation_error("ClassifiedMention", exc)
                self._dlq.publish(DeadLetter(rec, reason, stage="route"))
                continue
            decision = self._engine.decide(MentionFacts.of(classified))
            ticket = self._engine.ticket_for(classified, decision)
            batch[classified.id] = RoutedMention(classified, decision.rule_id, ticket)
        unpublished = self._store.save(list(batch.values()))
        for ticket in unpublished:
            self._producer.send(
                self._topics.tickets(ticket.team),
                key=ticket.mention_id.encode(),
                value=ticket.model_dump_json().encode(),
                headers=[("mentionflow.ticket_id", ticket.id.encode())],
            )
        self._producer.flush()
        self._store.mark_published(t.id for t in unpublished)
