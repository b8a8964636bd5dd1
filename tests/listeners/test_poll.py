"""Which sources the poll DAG runs: those whose ``every`` has passed since their last good poll."""

from __future__ import annotations

import json
from datetime import timedelta

from listeners import run_listener
from listeners.poll import due_sources
from listeners.sources import load_sources
from mentionflow.models import utcnow
from mentionflow.settings import Settings
from mentionflow.store.listening import SourceState
from tests.factories import raw_record


def test_a_source_is_due_again_only_after_its_interval(tmp_path, database_url, listener_engine, publisher):
    replay = tmp_path / "m.jsonl"
    replay.write_text("".join(json.dumps(raw_record(str(n))) + "\n" for n in range(3)), encoding="utf-8")
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        "version: 1\nsources:\n"
        f"  - {{name: hourly, kind: replay, path: '{replay}', every: 1h}}\n"
        f"  - {{name: often, kind: replay, path: '{replay}', every: 5m}}\n"
        f"  - {{name: paused, kind: replay, path: '{replay}', enabled: false}}\n",
        encoding="utf-8",
    )
    settings = Settings(sources_file=sources, database_url=database_url)
    assert due_sources(settings) == ["hourly", "often"]

    state = SourceState(listener_engine)
    for name in ("hourly", "often"):
        run_listener(load_sources(sources).get(name).listener(), publisher, state)
    polled = state.status(["hourly"])["hourly"].polled_at
    assert polled is not None and polled.tzinfo is not None  # SQLite hands back naive times
    assert due_sources(settings) == []
    assert due_sources(settings, now=utcnow() + timedelta(minutes=10)) == ["often"]
    assert due_sources(settings, now=utcnow() + timedelta(hours=1)) == ["hourly", "often"]
