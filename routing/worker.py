"""Router worker: ``mentions.classified`` -> ticket store + ``tickets.<team>``.

Order of effects per batch: (1) mentions, tickets and their outbox rows
(deliveries to the teams' other sinks, sent by the dispatcher) are written
in one transaction (idempotent on mention id), (2) every ticket of the batch not yet
published is sent to its team topic and the producer flushed, (3) the tickets
are marked published, (4) the worker commits the offsets. A crash after (1)
replays the batch: (1) writes nothing new and (2) publishes what was missed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from kafka import KafkaProducer
from kafka.consumer.fetcher import ConsumerRecord
from pydantic import ValidationError

from mentionflow.kafka.dlq import DeadLetter, DeadLetterPublisher, describe_validation_error
from mentionflow.kafka.topics import Topics
from mentionflow.models import ClassifiedMention
from mentionflow.store import RoutedMention, TicketStore
from mentionflow.store.repository import OutboxPlan
from routing.engine import RoutingEngine
from routing.facts import MentionFacts

__all__ = ["RouteHandler"]

log = logging.getLogger(__name__)


class RouteHandler:
    def __init__(
        self,
        engine: RoutingEngine | Callable[[], RoutingEngine],
        store: TicketStore,
        producer: KafkaProducer,
        topics: Topics | None = None,
        outbox: OutboxPlan | None = None,
    ) -> None:
        # A callable lets the worker pick up reloaded rules between batches.
        self._engine: Callable[[], RoutingEngine] = (lambda: engine) if isinstance(engine, RoutingEngine) else engine
        self._store = store
        self._producer = producer
        self._topics = topics or Topics()
        self._outbox = outbox
        self._dlq = DeadLetterPublisher(producer, self._topics.dlq)

    def __call__(self, records: list[ConsumerRecord]) -> None:
        parsed: list[ClassifiedMention] = []
        for rec in records:
            try:
                parsed.append(ClassifiedMention.model_validate_json(rec.value or b""))
            except ValidationError as exc:
                reason = describe_validation_error("ClassifiedMention", exc)
                self._dlq.publish(DeadLetter(rec, reason, stage="route"))
        engine = self._engine()
        spiking = self._store.brands_in_spike({c.mention.brand for c in parsed}) if parsed else set()
        batch: dict[str, RoutedMention] = {}
        for classified in parsed:
            facts = MentionFacts.of(classified, spike=classified.mention.brand in spiking)
            decision = engine.decide(facts)
            ticket = engine.ticket_for(classified, decision)
            batch[classified.id] = RoutedMention(
                classified, decision.rule_id, ticket, spam_reasons=facts.spam_reasons, tags=tuple(decision.tags)
            )
        unpublished = self._store.save(list(batch.values()), outbox=self._outbox)
        for ticket in unpublished:
            value = ticket.model_dump_json().encode()
            for team in (ticket.team, *ticket.cc):
                self._producer.send(
                    self._topics.tickets(team),
                    key=ticket.mention_id.encode(),
                    value=value,
                    headers=[
                        ("mentionflow.ticket_id", ticket.id.encode()),
                        ("mentionflow.role", b"owner" if team == ticket.team else b"cc"),
                    ],
                )
        self._producer.flush()
        self._store.mark_published(t.id for t in unpublished)
