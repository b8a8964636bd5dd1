"""Listener test fixtures: a real store for cursors and seen ids, a recording publisher."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mentionflow.store import make_engine, migrate
from mentionflow.store.listening import IntakeQueue, SourceState
from tests.fakes.publisher import RecordingPublisher


@pytest.fixture
def listener_engine(database_url: str) -> Iterator:
    """SQLite and PostgreSQL, like the rest of the store tests."""
    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator:  # type: ignore[no-untyped-def]
    """SQLite only, for connector tests where the database is not the subject."""
    engine = make_engine(f"sqlite:///{tmp_path / 'listeners.db'}")
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def state(sqlite_engine) -> SourceState:  # type: ignore[no-untyped-def]
    return SourceState(sqlite_engine)


@pytest.fixture
def intake_queue(sqlite_engine) -> IntakeQueue:  # type: ignore[no-untyped-def]
    return IntakeQueue(sqlite_engine)


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()
