"""The RSS/Atom connector against a local site serving real-shaped feeds."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from listeners import Checkpoint, Rejected, run_listener
from listeners.connectors.rss import RssSource
from listeners.errors import SourceError
from tests.fakes.http import json_response
from tests.fakes.platforms.feeds import FeedSite, atom, rss

T = datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc)


def item(n: int, **over) -> dict:  # type: ignore[no-untyped-def]
    return {"guid": f"post-{n}", "title": f"Review {n} of NordBank", "link": f"https://blog.example/{n}",
            "description": f"<p>The <b>NordBank</b> app, part {n} &amp; more</p>", "published": T + timedelta(hours=n),
            **over}


@pytest.fixture
def site():  # type: ignore[no-untyped-def]
    s = FeedSite().start()
    yield s
    s.stop()


def source(site: FeedSite, *paths: str, **over) -> RssSource:  # type: ignore[no-untyped-def]
    return RssSource(name="blogs", kind="rss", brand="nordbank", feeds=[site.url + p for p in paths], **over)


def mentions(outputs) -> list:  # type: ignore[no-untyped-def]
    return [o for o in outputs if not isinstance(o, Checkpoint | Rejected)]


def test_rss_and_atom_entries_become_mentions_with_their_raw_entry(site):
    site.feeds["/rss"] = rss("Bank blog", [item(1, author="ana@blog.example (Ana)")])
    site.feeds["/atom"] = atom("Finanzblog", [{"id": "urn:1", "title": "NordBank Test", "link": "https://fin.example/1",
                                              "updated": T, "author": "Jörg", "content": "<p>Die App ist gut</p>"}])
    rss_m, atom_m = mentions(source(site, "/rss", "/atom").listener().poll(None))
    assert rss_m.platform == "rss" and rss_m.id == f"rss:{rss_m.native_id}"
    assert rss_m.text == "Review 1 of NordBank\nThe NordBank app, part 1 & more"
    assert rss_m.url == "https://blog.example/1" and rss_m.created_at == T + timedelta(hours=1)
    assert rss_m.language == "en" and rss_m.raw["entry"]["id"] == "post-1"
    assert atom_m.text == "NordBank Test\nDie App ist gut" and atom_m.author.handle == "Jörg"
    assert atom_m.language == "de" and atom_m.created_at == T


def test_an_unchanged_feed_costs_a_304_and_yields_nothing(site, publisher, state):
    site.feeds["/rss"] = rss("Bank blog", [item(1), item(2)])
    src = source(site, "/rss")
    assert run_listener(src.listener(), publisher, state).published == 2
    assert run_listener(src.listener(), publisher, state).published == 0
    assert site.requests[-1].headers["if-none-match"].startswith('"')


def test_only_entries_newer_than_the_last_poll_are_read(site, publisher, state):
    site.feeds["/rss"] = rss("Bank blog", [item(2), item(1)])
    src = source(site, "/rss")
    run_listener(src.listener(), publisher, state)
    site.feeds["/rss"] = rss("Bank blog", [item(4), item(3), item(2)])  # the window slid on
    stats = run_listener(src.listener(), publisher, state)
    assert stats.published == 2 and stats.duplicates == 0
    assert [m.raw["entry"]["id"] for m in publisher.mentions] == ["post-2", "post-1", "post-4", "post-3"]


def test_a_restart_after_a_failing_feed_loses_and_repeats_nothing(site, publisher, state):
    site.feeds["/a"] = rss("A", [item(1), item(2)])
    site.feeds["/b"] = rss("B", [item(3), item(4)])
    site.fail["/b"] = [json_response(503, {"message": "maintenance"})] * 3
    src = source(site, "/a", "/b", max_retries=2)
    with pytest.raises(SourceError, match="maintenance"):
        run_listener(src.listener(), publisher, state)
    assert len(publisher.mentions) == 2
    run_listener(src.listener(), publisher, state)
    assert sorted(m.raw["entry"]["id"] for m in publisher.mentions) == ["post-1", "post-2", "post-3", "post-4"]


def test_broken_feeds_and_empty_entries_are_dead_lettered(site):
    site.feeds["/broken"] = b"<html><body>Moved to our new blog!</body></html"
    site.feeds["/rss"] = rss("Bank blog", [item(1, title="", description="")])
    rejected = [o for o in source(site, "/broken", "/rss").listener().poll(None) if isinstance(o, Rejected)]
    assert "/broken is not a readable RSS/Atom feed" in rejected[0].reason
    assert "entry has no title or text" in rejected[1].reason


def test_a_feed_that_is_gone_is_reported_after_the_others_are_read(site, publisher, state):
    site.feeds["/rss"] = rss("Bank blog", [item(1)])
    with pytest.raises(SourceError, match=r"/gone is gone \(HTTP 404\)"):
        run_listener(source(site, "/gone", "/rss").listener(), publisher, state)
    assert len(publisher.mentions) == 1


def test_match_keeps_only_entries_naming_the_brand(site):
    site.feeds["/rss"] = rss("News", [item(1), item(2, title="Weather", description="rain all week")])
    kept = mentions(source(site, "/rss", match=["nordbank"]).listener().poll(None))
    assert [m.raw["entry"]["id"] for m in kept] == ["post-1"]


def test_probe_names_each_feed_and_its_size(site):
    site.feeds["/rss"] = rss("Bank blog", [item(1), item(2)])
    assert source(site, "/rss").probe() == "Bank blog: 2 entries"
    site.feeds["/rss"] = b"not a feed"
    with pytest.raises(SourceError, match="not a readable RSS/Atom feed"):
        source(site, "/rss").probe()


def test_a_rate_limited_feed_is_retried_after_the_wait_or_ends_the_run(site, publisher, state):
    site.feeds["/rss"] = rss("Bank blog", [item(1)])
    site.fail["/rss"] = [json_response(429, {}, {"Retry-After": "1"})]
    assert run_listener(source(site, "/rss").listener(), publisher, state).published == 1
    site.feeds["/rss"] = rss("Bank blog", [item(2), item(1)])
    site.fail["/rss"] = [json_response(429, {}, {"Retry-After": "3600"})]
    with pytest.raises(SourceError, match="rate limited for 3600s"):
        run_listener(source(site, "/rss", max_wait_s=5).listener(), publisher, state)
    assert len(publisher.mentions) == 1
