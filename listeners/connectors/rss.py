"""RSS and Atom feeds: blogs, review sites, news alerts (Google Alerts, Talkwalker...).

Feeds are fetched with conditional GET (``ETag`` / ``Last-Modified``), so
an unchanged feed costs a 304, and parsed by ``feedparser``, which copes
with the many broken feeds in the wild. A feed is a sliding window of
recent entries, so the cursor keeps, per feed, the validators and the
newest entry time seen: entries older than that are not re-read, and
entries without dates are held back from repeating by the seen ids.

    - name: nordbank-news
      kind: rss
      brand: nordbank
      feeds: [https://www.google.com/alerts/feeds/0123/4567]
      match: [nordbank, "nord bank"]   # optional: keep only entries naming the brand
      every: 30m
"""

from __future__ import annotations

import calendar
import hashlib
import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import SourceBase
from listeners.errors import SourceError
from listeners.http import PlatformClient
from listeners.text import html_to_text
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = ["RssListener", "RssSource", "entry_to_mention"]

log = logging.getLogger(__name__)

#: the longest entry text kept; feeds sometimes carry whole articles
MAX_ENTRY_CHARS = 20_000


class RssSource(SourceBase):
    modes = (Mode.POLL,)
    summary = "RSS / Atom feeds: blogs, review sites, news alerts"

    kind: Literal["rss"]
    brand: str = Field(min_length=1, max_length=128)
    feeds: list[str] = Field(min_length=1)
    #: keep only entries whose title or text contains one of these (case-insensitive); empty keeps all
    match: list[str] = Field(default_factory=list)
    user_agent: str = "Mentionflow feed reader (+https://github.com/mentionflow)"

    def listener(self) -> RssListener:
        return RssListener(self)

    def probe(self) -> str:
        import feedparser

        found = []
        with self._client() as client:
            for url in self.feeds:
                response = client.request("GET", url)
                feed = feedparser.parse(response.content)
                if feed.bozo and not feed.entries:
                    raise SourceError(f"{self.name}: {url} is not a readable RSS/Atom feed: {feed.bozo_exception}")
                found.append(f"{feed.feed.get('title') or url}: {len(feed.entries)} entries")
        return "; ".join(found)

    def _client(self) -> PlatformClient:
        return PlatformClient(self.name, "", headers={"User-Agent": self.user_agent},
                              max_wait_s=self.max_wait_s, max_retries=self.max_retries)


def _when(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), timezone.utc) if parsed else None


def entry_to_mention(source: RssSource, feed_url: str, feed: Any, entry: Any) -> Mention:
    """Map one feedparser entry; raises ValueError when there is nothing to read."""
    key = entry.get("id") or entry.get("link") or (entry.get("title", "") + str(entry.get("published", "")))
    if not key:
        raise ValueError("entry has no id, link or title")
    title = html_to_text(entry.get("title", "") or "")
    body = ""
    if entry.get("content"):
        body = html_to_text(entry.content[0].get("value", ""))
    elif entry.get("summary"):
        body = html_to_text(entry.summary)
    text = "\n".join(p for p in (title, body) if p)[:MAX_ENTRY_CHARS]
    if not text.strip():
        raise ValueError("entry has no title or text")
    native = hashlib.sha256(key.encode()).hexdigest()[:40]
    host = urlsplit(feed_url).hostname or "feed"
    created = _when(entry) or utcnow()
    return Mention(
        id=mention_id("rss", native), platform="rss", native_id=native, brand=source.brand, text=text,
        language=(entry.get("language") or feed.feed.get("language") or None),
        author=Author(handle=(entry.get("author") or feed.feed.get("title") or host)[:256]),
        url=entry.get("link"), created_at=created, received_at=utcnow(),
        raw={"feed": feed_url, "entry": _plain(entry)},
    )


def _plain(value: Any) -> Any:
    """feedparser's dict subclasses and time tuples, as JSON-safe values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if not k.endswith("_parsed")}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


class RssListener:
    def __init__(self, source: RssSource) -> None:
        self.source = source
        self.name = source.name

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        import feedparser

        states: dict[str, dict[str, Any]] = dict((cursor or {}).get("feeds", {}))
        problems: list[str] = []
        terms = [t.casefold() for t in self.source.match]
        with self.source._client() as client:
            for url in self.source.feeds:
                state = dict(states.get(url, {}))
                headers = {}
                if state.get("etag"):
                    headers["If-None-Match"] = state["etag"]
                if state.get("modified"):
                    headers["If-Modified-Since"] = state["modified"]
                try:
                    response = client.request("GET", url, headers=headers)
                except SourceError as exc:
                    problems.append(str(exc))  # one broken feed must not stop the others
                    continue
                if response.status_code == 304:
                    continue
                feed = feedparser.parse(response.content)
                if feed.bozo and not feed.entries:
                    yield Rejected(response.content[:65536], f"{self.name}: {url} is not a readable RSS/Atom feed: "
                                   f"{feed.bozo_exception}")
                    continue
                newest = state.get("newest")
                for entry in feed.entries:
                    when = _when(entry)
                    if when and newest and when.isoformat() <= newest:
                        continue  # older than what a previous poll already read
                    try:
                        mention = entry_to_mention(self.source, url, feed, entry)
                    except ValueError as exc:
                        yield Rejected(str(_plain(entry)).encode(), f"{self.name}: {url}: {exc}")
                        continue
                    if terms and not any(t in mention.text.casefold() for t in terms):
                        continue
                    yield mention
                    if when and when.isoformat() > state.get("newest", ""):
                        state["newest"] = when.isoformat()
                state["etag"] = response.headers.get("etag")
                state["modified"] = response.headers.get("last-modified")
                states[url] = state
                yield Checkpoint({"feeds": dict(states)})
        if problems:
            raise SourceError("; ".join(problems))
