"""Polling a configured source once: what the ``poll_sources`` DAG runs per source."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from listeners.publisher import MentionPublisher
from listeners.runner import run_listener
from listeners.sources import build_listener, load_sources
from mentionflow.kafka import make_producer
from mentionflow.settings import Settings, get_settings
from mentionflow.store import TicketStore, make_engine, migrate

__all__ = ["poll_source"]


def poll_source(name: str, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    if not settings.bootstrap_servers:
        raise RuntimeError(
            "MENTIONFLOW_BOOTSTRAP_SERVERS is not set: start the stack (`mentionflow up`) or point it at a broker"
        )
    listener = build_listener(load_sources(settings.sources_file).get(name))
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        producer = make_producer(settings.bootstrap_servers, settings)
        try:
            stats = run_listener(listener, MentionPublisher(producer), TicketStore(engine))
        finally:
            producer.close()
    finally:
        engine.dispose()
    return {"source": name, **asdict(stats)}
