"""Polling configured sources: what the ``poll_sources`` DAG runs."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from listeners.base import Mode
from listeners.publisher import MentionPublisher
from listeners.runner import run_listener
from listeners.sources import load_sources
from mentionflow.kafka import make_producer
from mentionflow.models import utcnow
from mentionflow.settings import Settings, get_settings
from mentionflow.store import make_engine, migrate
from mentionflow.store.listening import SourceState

__all__ = ["due_sources", "poll_source"]


def due_sources(settings: Settings | None = None, now: datetime | None = None) -> list[str]:
    """Enabled poll sources whose ``every`` has passed since their last good poll."""
    settings = settings or get_settings()
    now = now or utcnow()
    polled = [s for s in load_sources(settings.sources_file).enabled() if Mode.POLL in s.active_modes()]
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        status = SourceState(engine).status(s.name for s in polled)
    finally:
        engine.dispose()
    due = []
    for source in polled:
        last = status[source.name].polled_at
        # a small allowance, so a source due "every 15m" is not skipped by a DAG run a second early
        if last is None or now - last >= source.every * 0.95:
            due.append(source.name)
    return due


def poll_source(name: str, settings: Settings | None = None) -> dict[str, Any]:
    settings = settings or get_settings()
    if not settings.bootstrap_servers:
        raise RuntimeError(
            "MENTIONFLOW_BOOTSTRAP_SERVERS is not set: start the stack (`mentionflow up`) or point it at a broker"
        )
    source = load_sources(settings.sources_file).get(name)
    listener = source.listener()
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
        producer = make_producer(settings.bootstrap_servers, settings)
        try:
            stats = run_listener(
                listener, MentionPublisher(producer), SourceState(engine), seen_retention=source.seen_retention
            )
        finally:
            producer.close()
            getattr(listener, "close", lambda: None)()
    finally:
        engine.dispose()
    return {"source": name, **asdict(stats)}
