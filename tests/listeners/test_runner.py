"""The runner publishes each mention once, checkpoints only after a flush, and resumes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from listeners import Checkpoint, Rejected, run_listener
from mentionflow.store.listening import SourceState
from tests.factories import make_mention


class ScriptedListener:
    """Yields pages of mention ids with a checkpoint after each; can fail before a page."""

    name = "scripted"

    def __init__(self, pages: list[list[str]], fail_before_page: int | None = None) -> None:
        self.pages = pages
        self.fail_before_page = fail_before_page
        self.cursors: list[dict | None] = []

    def poll(self, cursor):  # type: ignore[no-untyped-def]
        self.cursors.append(cursor)
        start = (cursor or {}).get("page", 0)
        for n in range(start, len(self.pages)):
            if n == self.fail_before_page:
                raise ConnectionError("platform went away")
            for native_id in self.pages[n]:
                yield make_mention(native_id) if native_id != "bad" else Rejected(b"{", "not JSON")
            yield Checkpoint({"page": n + 1})


def test_a_crash_mid_way_loses_nothing_and_repeats_nothing(listener_engine, publisher):
    state = SourceState(listener_engine)
    pages = [["1", "2"], ["3", "4"], ["5"], ["6", "7"]]
    with pytest.raises(ConnectionError):
        run_listener(ScriptedListener(pages, fail_before_page=2), publisher, state)
    assert publisher.ids == ["x:1", "x:2", "x:3", "x:4"]
    assert state.get_cursor("scripted") == {"page": 2}

    resumed = ScriptedListener(pages)
    stats = run_listener(resumed, publisher, state)
    assert resumed.cursors == [{"page": 2}]
    assert publisher.ids == [f"x:{n}" for n in range(1, 8)]
    assert stats.published == 3 and stats.duplicates == 0


def test_a_re_read_page_publishes_nothing_twice(listener_engine, publisher):
    state = SourceState(listener_engine)
    run_listener(ScriptedListener([["1", "2"]]), publisher, state)
    state.checkpoint("scripted", {"page": 0}, [])  # e.g. an expired page token: the sweep starts over
    stats = run_listener(ScriptedListener([["1", "2"], ["3", "3"]]), publisher, state)
    assert publisher.ids == ["x:1", "x:2", "x:3"]
    assert stats.duplicates == 3  # two re-read, one repeated within a page


def test_rejects_are_published_every_time_and_counted(sqlite_engine, publisher):
    stats = run_listener(ScriptedListener([["1", "bad"]]), publisher, SourceState(sqlite_engine))
    assert stats.rejected == 1 and [r.reason for r in publisher.rejected] == ["not JSON"]


def test_the_cursor_is_saved_only_after_a_flush(sqlite_engine):
    state = SourceState(sqlite_engine)
    events: list[str] = []

    class Publisher:
        def publish(self, item):  # type: ignore[no-untyped-def]
            events.append("publish")

        def flush(self) -> None:
            events.append("flush")
            assert state.get_cursor("scripted") is None or events.count("flush") > 1

    run_listener(ScriptedListener([["1"]]), Publisher(), state)  # type: ignore[arg-type]
    assert events[:2] == ["publish", "flush"]
    assert state.get_cursor("scripted") == {"page": 1}


def test_seen_ids_are_forgotten_after_the_retention(sqlite_engine, publisher):
    state = SourceState(sqlite_engine)
    run_listener(ScriptedListener([["1"]]), publisher, state)
    assert state.unseen("scripted", ["x:1", "x:2"]) == {"x:2"}
    state.finished_poll("scripted", retention=timedelta(seconds=-1))
    assert state.unseen("scripted", ["x:1"]) == {"x:1"}


def test_status_reports_the_last_successful_poll(sqlite_engine, publisher):
    state = SourceState(sqlite_engine)
    assert state.status(["scripted"])["scripted"].polled_at is None
    run_listener(ScriptedListener([["1"]]), publisher, state)
    status = state.status(["scripted"])["scripted"]
    assert status.polled_at is not None and status.cursor == {"page": 1}
    state.reset("scripted")
    assert state.get_cursor("scripted") is None and state.unseen("scripted", ["x:1"]) == {"x:1"}
