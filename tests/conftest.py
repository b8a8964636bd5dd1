"""Shared fixtures: a real broker per test, real databases, the trained classifier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from mentionflow.settings import Settings  # noqa: E402
from mentionflow.stack.broker import TansuBroker  # noqa: E402
from tests.postgres import postgres_server, throwaway_database  # noqa: E402


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TansuBroker]:
    """A fresh in-memory Kafka-protocol broker (starts in milliseconds)."""
    with TansuBroker(tmp_path / "broker") as b:
        yield b


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(postgres_server_url: str | None) -> Iterator[str]:
    if postgres_server_url is None:
        pytest.skip("NO POSTGRESQL AVAILABLE: set MENTIONFLOW_TEST_DATABASE_URL or install PostgreSQL")
    with throwaway_database(postgres_server_url) as url:
        yield url


@pytest.fixture
def pg_database(postgres_server_url: str | None) -> Iterator[str]:
    """A database of its own for one test (crash tests must not share state)."""
    if postgres_server_url is None:
        pytest.skip("NO POSTGRESQL AVAILABLE: set MENTIONFLOW_TEST_DATABASE_URL or install PostgreSQL")
    with throwaway_database(postgres_server_url) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings()


@pytest.fixture(scope="session")
def classifier(settings: Settings):  # type: ignore[no-untyped-def]
    from classifiers.model import MentionClassifier

    return MentionClassifier.load(settings.classifier_dir, settings.cache_dir)
