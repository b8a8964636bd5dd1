"""Kafka plumbing: topic names, client factories, dead letters and the batch loop."""

from mentionflow.kafka.clients import make_admin, make_consumer, make_producer
from mentionflow.kafka.dlq import DeadLetter, DeadLetterPublisher
from mentionflow.kafka.topics import Topics, ensure_topics
from mentionflow.kafka.worker import BatchHandler, BatchWorker

__all__ = [
    "BatchHandler",
    "BatchWorker",
    "DeadLetter",
    "DeadLetterPublisher",
    "Topics",
    "ensure_topics",
    "make_admin",
    "make_consumer",
    "make_producer",
]
