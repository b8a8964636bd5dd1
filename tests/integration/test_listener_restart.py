"""A poll SIGKILLed mid-way and restarted publishes every mention exactly once.

Real broker, real PostgreSQL, the real ``mentionflow sources poll`` process:
the third of three feeds hangs, the process is killed while it waits, and a
second run (as the DAG's next run would) finishes the job. Every mention is
counted on ``mentions.raw``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from mentionflow.kafka import Topics, ensure_topics
from mentionflow.store import make_engine
from mentionflow.store.listening import SourceState
from tests.fakes.http import Request, Response
from tests.fakes.platforms.feeds import FeedSite, rss
from tests.waiting import drain, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

T = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


class HangingSite(FeedSite):
    """Holds requests for ``hang_path`` until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.hang_path: str | None = None
        self.release = threading.Event()
        self.hanging = threading.Event()

    def handle(self, request: Request) -> Response:
        if request.path == self.hang_path:
            self.hanging.set()
            self.release.wait(60)
        return super().handle(request)


def feed(prefix: str) -> bytes:
    return rss(prefix, [{"guid": f"{prefix}-{n}", "title": f"NordBank review {prefix}{n}", "description": "text",
                         "link": f"https://blog.example/{prefix}/{n}", "published": T + timedelta(minutes=n)}
                        for n in range(5)])


def test_a_killed_poll_resumes_without_losing_or_repeating(broker, pg_database, tmp_path):
    ensure_topics(broker.bootstrap_servers, partitions=1)
    site = HangingSite().start()
    try:
        for name in "abc":
            site.feeds[f"/{name}"] = feed(name)
        site.hang_path = "/c"
        sources = tmp_path / "sources.yaml"
        sources.write_text("version: 1\nsources:\n  - {name: blogs, kind: rss, brand: nordbank, feeds: ["
                           + ", ".join(f"'{site.url}/{n}'" for n in "abc") + "]}\n", encoding="utf-8")
        env = {**os.environ, "MENTIONFLOW_SOURCES_FILE": str(sources), "MENTIONFLOW_DATABASE_URL": pg_database,
               "MENTIONFLOW_BOOTSTRAP_SERVERS": broker.bootstrap_servers}
        command = [sys.executable, "-m", "mentionflow", "sources", "poll", "blogs"]

        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_until(site.hanging.is_set, 120, "the poll to reach the third feed")
        first.kill()
        first.wait(30)
        site.hang_path = None
        site.release.set()

        engine = make_engine(pg_database)
        cursor = SourceState(engine).get_cursor("blogs")
        engine.dispose()
        assert sorted(cursor["feeds"]) == [f"{site.url}/a", f"{site.url}/b"], "two feeds were checkpointed"

        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr[-3000:]
        assert "published=5" in second.stdout

        keys = Counter(r.key for r in drain(broker.bootstrap_servers, [Topics().raw]))
        assert len(keys) == 15 and set(keys.values()) == {1}, keys
    finally:
        site.release.set()
        site.stop()
