"""YouTube: comments on the brand's channel and videos, and new videos that mention the brand.

Why this shape
--------------
The YouTube Data API v3 reads public comments with an API key; no OAuth
consent is needed to listen. The key goes in the ``X-Goog-Api-Key`` header,
which Google APIs accept in place of the ``key=`` query parameter, so it
never appears in a logged URL. Calls (all ``GET https://www.googleapis.com``):

- ``/youtube/v3/commentThreads?part=snippet,replies&allThreadsRelatedToChannelId=<channel_id>``
  ``&order=time&maxResults=100&textFormat=plainText`` (every thread on the channel's videos) and the same with ``videoId=<id>``
  for each listed video. 1 quota unit per page.
- ``/youtube/v3/search?part=snippet&q=<query>&type=video&order=date&maxResults=50&publishedAfter=<RFC 3339>``
  for videos mentioning the brand. 100 quota units per page: keep
  ``search_query`` for sources that need it.

A thread list is ``{"kind": "youtube#commentThreadListResponse",
"nextPageToken", "items": [{"id", "snippet": {"videoId", "topLevelComment":
{"id", "snippet": {"textOriginal", "authorDisplayName", "authorChannelId":
{"value"}, "publishedAt", "updatedAt"}}, "totalReplyCount"}, "replies":
{"comments": [...]}}]}``. The top-level comment and the replies YouTube
inlines each become a Mention (``native_id`` the comment id, ``url``
``https://www.youtube.com/watch?v=<videoId>&lc=<commentId>``). YouTube
inlines only some replies of a thread and a thread does not move up when it
gets a new reply, so replies posted after their thread was read are not
collected (``comments.list?parentId=`` per thread would cost a unit each).
A search result becomes a Mention of the video (``native_id`` the video id,
text the title and description).

Cursor
------
Both lists are newest first and paged with ``pageToken``. One entry per
feed (``channel:<id>``, ``video:<id>``, ``search``)::

    {"feeds": {"channel:UC...": {"high_at": "2025-11-20T12:00:00Z", "high_id": "Ugx...",
                                  "page_token": "QURTSl...", "top_at": "...", "top_id": "..."}}}

A sweep pages from the newest item down to the high-water mark
(``high_at``/``high_id``, the newest item of the last finished sweep); while
it runs, ``page_token`` is where to carry on and ``top_*`` the newest item
it saw. A checkpoint follows every page; a finished sweep makes ``top_*``
the new mark. Search sweeps send ``publishedAfter=high_at`` (the same value
for the whole sweep, as page tokens require). Items at the mark may be read
again and are dropped by the runner's seen ids; none are skipped.
``max_pages`` bounds a run per feed; an unfinished sweep continues next run.

Errors and limits
-----------------
Google's error body is ``{"error": {"code", "message", "errors": [{"reason"}]}}``:

- 400 ``keyInvalid`` (or ``API_KEY_INVALID``) -> :class:`AuthFailed`;
  403 ``forbidden``/``accessNotConfigured`` -> :class:`AuthFailed`.
- 403 ``quotaExceeded``/``dailyLimitExceeded`` -> :class:`RateLimited` until
  the daily quota resets at midnight Pacific time;
  ``rateLimitExceeded`` -> :class:`RateLimited` for a minute; 429 and 5xx
  are retried by :class:`~listeners.http.PlatformClient`.
- 403 ``commentsDisabled`` and 404 ``videoNotFound``/``channelNotFound``
  -> that feed is skipped for this run with a logged reason (counted in
  ``skipped``); the other feeds are read.

Deleted content
---------------
YouTube drops deleted comments and videos from its lists; there is no
tombstone. An item without an id, a time or any text becomes
:class:`Rejected` with the reason.

Example (``config/sources.yaml``)::

    - name: youtube-acme
      kind: youtube
      brand: acme
      api_key: {env: YOUTUBE_API_KEY}
      channel_id: UCK8sQmJBp8GCxrOtXWBpyEA
      video_ids: [dQw4w9WgXcQ]
      search_query: '"acme parcel"'
      every: 30m
"""

from __future__ import annotations

import html
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, ValidationError, field_validator, model_validator

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import SourceBase
from listeners.credentials import Credential
from listeners.errors import AuthFailed, ContentGone, QueryRejected, RateLimited
from listeners.http import PlatformClient
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = ["YoutubeListener", "YoutubeSource", "mention_from_comment", "mention_from_search_result",
           "seconds_until_quota_reset"]

log = logging.getLogger(__name__)

PLATFORM = "youtube"
WATCH = "https://www.youtube.com/watch?v="
PACIFIC = ZoneInfo("America/Los_Angeles")
_AUTH_REASONS = {"keyInvalid", "API_KEY_INVALID", "keyExpired", "API_KEY_EXPIRED", "forbidden",
                 "accessNotConfigured", "ipRefererBlocked", "API_KEY_SERVICE_BLOCKED", "SERVICE_DISABLED"}
_QUOTA_REASONS = {"quotaExceeded", "dailyLimitExceeded", "RATE_LIMIT_EXCEEDED"}
_SHORT_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
_GONE_REASONS = {"commentsDisabled", "videoNotFound", "channelNotFound", "commentThreadNotFound"}

FeedKind = Literal["channel", "video", "search"]


def seconds_until_quota_reset(now: float) -> float:
    """Seconds from ``now`` (epoch) to the next midnight in Pacific time, when YouTube quotas reset."""
    local = datetime.fromtimestamp(now, PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), PACIFIC)
    return midnight.timestamp() - now


class YoutubeSource(SourceBase):
    modes = (Mode.POLL,)
    summary = "YouTube comments on a channel and videos, and videos found by search (Data API v3, API key)"

    kind: Literal["youtube"]
    brand: str = Field(min_length=1, max_length=128)
    api_key: Credential
    #: comment threads on all of this channel's videos
    channel_id: str | None = Field(default=None, pattern=r"^UC[A-Za-z0-9_-]{22}$")
    #: comment threads of these videos (e.g. another channel's review of the brand)
    video_ids: list[str] = Field(default_factory=list)
    #: search for new videos mentioning the brand (100 quota units a page)
    search_query: str | None = Field(default=None, min_length=1, max_length=500)
    base_url: str = "https://www.googleapis.com"
    #: items per request; None takes the most the API allows (100 threads, 50 search results)
    page_size: int | None = Field(default=None, ge=1, le=100)
    #: pages per feed per run; an unfinished sweep continues next run
    max_pages: int = Field(default=10, ge=1)

    @field_validator("video_ids")
    @classmethod
    def _video_ids(cls, value: list[str]) -> list[str]:
        for v in value:
            if len(v) != 11 or not v.replace("-", "").replace("_", "").isalnum():
                raise ValueError(f"{v!r} is not a YouTube video id (11 characters)")
        return value

    @model_validator(mode="after")
    def _something(self) -> YoutubeSource:
        if not (self.channel_id or self.video_ids or self.search_query):
            raise ValueError("give a channel_id, video_ids or a search_query")
        return self

    def feeds(self) -> list[tuple[str, FeedKind, str]]:
        feeds: list[tuple[str, FeedKind, str]] = []
        if self.channel_id:
            feeds.append((f"channel:{self.channel_id}", "channel", self.channel_id))
        feeds += [(f"video:{v}", "video", v) for v in self.video_ids]
        if self.search_query:
            feeds.append(("search", "search", self.search_query))
        return feeds

    def listener(
        self, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time
    ) -> YoutubeListener:
        key = self.api_key.resolve().value
        client = _YoutubeClient(self.name, self.base_url, headers={"X-Goog-Api-Key": key},
                                max_wait_s=self.max_wait_s, sleep=sleep, clock=clock)
        return YoutubeListener(self, client)

    def probe(self) -> str:
        listener = self.listener()
        try:
            key, kind, target = self.feeds()[0]
            page = listener.client.get_json(*listener.request(kind, target, None, None, size=1))
            items = page.get("items") if isinstance(page, dict) else None
            if not items:
                return f"API key accepted; {key} has nothing yet"
            item = items[0]
            if kind == "search":
                snippet = item.get("snippet") or {}
                return (f"API key accepted; newest video for {target!r}: {item.get('id', {}).get('videoId')} "
                        f"by {snippet.get('channelTitle')} at {snippet.get('publishedAt')}")
            top = ((item.get("snippet") or {}).get("topLevelComment") or {}).get("snippet") or {}
            return (f"API key accepted; newest comment thread on {key}: {item.get('id')} "
                    f"by {top.get('authorDisplayName')} at {top.get('publishedAt')}")
        finally:
            listener.close()


class _YoutubeClient(PlatformClient):
    """Reads Google's error reasons: quota, disabled comments and bad keys each mean something else."""

    def raise_for_error(self, response: httpx.Response, url: str) -> None:
        status = response.status_code
        reason, message = _google_error(response)
        path = httpx.URL(url).path or url
        where = f"{self.source}: {path}"
        if reason in _QUOTA_REASONS:
            wait = seconds_until_quota_reset(self._clock())
            raise RateLimited(f"{where}: the daily quota is spent ({reason}); it resets at midnight Pacific "
                              f"time, in {wait / 3600:.1f}h", wait)
        if reason in _SHORT_LIMIT_REASONS:
            raise RateLimited(f"{where}: rate limited ({reason}): {message}", 60.0)
        if reason in _GONE_REASONS or status == 404:
            raise ContentGone(f"{where}: {reason or 'not found'} (HTTP {status}): {message}")
        if reason in _AUTH_REASONS or status in (401, 403) or "API key" in message:
            raise AuthFailed(
                f"{where}: the API key was refused (HTTP {status}, {reason or 'no reason'}): {message}")
        if status == 400:
            raise QueryRejected(f"{where}: rejected the request (HTTP 400, {reason or 'no reason'}): {message}")
        super().raise_for_error(response, url)


def _google_error(response: httpx.Response) -> tuple[str | None, str]:
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:300].strip()
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, str(body)[:300]
    message = str(error.get("message") or "")[:300]
    for entry in error.get("errors") or []:
        if isinstance(entry, dict) and entry.get("reason"):
            return str(entry["reason"]), message
    for detail in error.get("details") or []:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"]), message
    return None, message


class YoutubeListener:
    def __init__(self, source: YoutubeSource, client: PlatformClient) -> None:
        self.name = source.name
        self.source = source
        self.client = client
        #: feeds skipped this run (comments disabled, video gone), by reason
        self.skipped: Counter[str] = Counter()

    def close(self) -> None:
        self.client.close()

    def request(self, kind: FeedKind, target: str, page_token: str | None, after: str | None,
                size: int | None = None) -> tuple[str, dict[str, Any]]:
        """The path and query of one page of a feed."""
        if kind == "search":
            params: dict[str, Any] = {"part": "snippet", "q": target, "type": "video", "order": "date",
                                      "maxResults": min(size or self.source.page_size or 50, 50)}
            if after:
                params["publishedAfter"] = after
            path = "/youtube/v3/search"
        else:
            params = {"part": "snippet,replies", "order": "time", "textFormat": "plainText",
                      "maxResults": min(size or self.source.page_size or 100, 100),
                      ("allThreadsRelatedToChannelId" if kind == "channel" else "videoId"): target}
            path = "/youtube/v3/commentThreads"
        if page_token:
            params["pageToken"] = page_token
        return path, params

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        feeds = self.source.feeds()
        previous = (cursor or {}).get("feeds") or {}
        state = {key: dict(previous.get(key) or {}) for key, _, _ in feeds}
        for key, kind, target in feeds:
            try:
                yield from self._sweep(key, kind, target, state)
            except ContentGone as exc:
                log.warning("%s: skipping %s this run: %s", self.name, key, exc)
                self.skipped[f"{key} unreadable"] += 1

    def _sweep(
        self, key: str, kind: FeedKind, target: str, state: dict[str, dict[str, Any]]
    ) -> Iterator[ListenerOutput]:
        feed = state[key]
        high_at = _parse_time(feed.get("high_at"))
        high_id = feed.get("high_id")
        for _ in range(self.source.max_pages):
            token = feed.get("page_token")
            path, params = self.request(kind, target, token, feed.get("high_at") if kind == "search" else None)
            page = self.client.get_json(path, params)
            items = page.get("items") if isinstance(page, dict) else None
            if not isinstance(items, list):
                yield Rejected(json.dumps(page).encode(), f"{self.name}: {path} answered without an 'items' list")
                return
            reached = False
            for n, item in enumerate(items):
                item_id, at = _identity(item, kind)
                if item_id is not None and at is not None:
                    if not token and "top_at" not in feed:  # the newest item of a new sweep
                        feed["top_at"], feed["top_id"] = at.isoformat().replace("+00:00", "Z"), item_id
                    if high_at and (item_id == high_id or at < high_at):
                        reached = True
                        break
                yield from self._mentions(item, kind, f"{path} item {n}")
            next_token = page.get("nextPageToken")
            if reached or not items or not isinstance(next_token, str) or not next_token:
                if "top_at" in feed:
                    feed["high_at"], feed["high_id"] = feed.pop("top_at"), feed.pop("top_id")
                feed.pop("page_token", None)
                yield Checkpoint({"feeds": {k: dict(v) for k, v in state.items()}})
                return
            feed["page_token"] = next_token
            yield Checkpoint({"feeds": {k: dict(v) for k, v in state.items()}})

    def _mentions(self, item: Any, kind: FeedKind, where: str) -> Iterator[Mention | Rejected]:
        brand = self.source.brand
        if kind == "search":
            yield self._guard(item, where, lambda: mention_from_search_result(item, brand))
            return
        if not isinstance(item, dict) or not isinstance(item.get("snippet"), dict):
            yield Rejected(json.dumps(item).encode(), f"{self.name}: {where}: not a commentThread resource")
            return
        snippet = item["snippet"]
        top = snippet.get("topLevelComment")
        yield self._guard(item, where, lambda: mention_from_comment(top, brand, raw=item,
                                                                    video_id=snippet.get("videoId")))
        replies = (item.get("replies") or {}).get("comments") or []
        for m, reply in enumerate(replies if isinstance(replies, list) else []):
            yield self._guard(reply, f"{where} reply {m}",
                              lambda r=reply: mention_from_comment(r, brand, video_id=snippet.get("videoId")))

    def _guard(self, raw: Any, where: str, build: Callable[[], Mention]) -> Mention | Rejected:
        try:
            return build()
        except (ValueError, ValidationError, TypeError, AttributeError) as exc:
            return Rejected(json.dumps(raw, ensure_ascii=False).encode(), f"{self.name}: {where}: {exc}")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _identity(item: Any, kind: FeedKind) -> tuple[str | None, datetime | None]:
    """The id and time that order a list item, or Nones if it has none."""
    if not isinstance(item, dict) or not isinstance(item.get("snippet"), dict):
        return None, None
    snippet = item["snippet"]
    if kind == "search":
        ident = item.get("id") if isinstance(item.get("id"), dict) else {}
        return ident.get("videoId"), _parse_time(snippet.get("publishedAt"))
    top = snippet.get("topLevelComment")
    top_snippet = top.get("snippet") if isinstance(top, dict) else None
    at = _parse_time(top_snippet.get("publishedAt")) if isinstance(top_snippet, dict) else None
    return (item.get("id") if isinstance(item.get("id"), str) else None), at


def mention_from_comment(comment: Any, brand: str, *, raw: dict[str, Any] | None = None,
                         video_id: str | None = None) -> Mention:
    """A ``youtube#comment`` resource as a Mention; ``raw`` defaults to the comment itself."""
    if not isinstance(comment, dict) or not isinstance(comment.get("snippet"), dict):
        raise ValueError("not a comment resource (no 'snippet')")
    cid, snippet = comment.get("id"), comment["snippet"]
    if not isinstance(cid, str) or not cid:
        raise ValueError("comment has no 'id'")
    text = snippet.get("textOriginal") or snippet.get("textDisplay")
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"comment {cid} has no text")
    created = _parse_time(snippet.get("publishedAt"))
    if created is None:
        raise ValueError(f"comment {cid} has no valid 'publishedAt': {snippet.get('publishedAt')!r}")
    channel = snippet.get("authorChannelId")
    channel_id = channel.get("value") if isinstance(channel, dict) else None
    handle = snippet.get("authorDisplayName") or channel_id
    if not handle:
        raise ValueError(f"comment {cid} has no author")
    video = snippet.get("videoId") or video_id
    return Mention(
        id=mention_id(PLATFORM, cid),
        platform=PLATFORM,
        native_id=cid,
        brand=brand,
        text=text,
        author=Author(handle=handle, display_name=snippet.get("authorDisplayName")),
        url=f"{WATCH}{video}&lc={cid}" if video else None,
        created_at=created,
        received_at=utcnow(),
        raw=raw if raw is not None else comment,
    )


def mention_from_search_result(result: Any, brand: str) -> Mention:
    """A ``youtube#searchResult`` for a video as a Mention of the video (title and description)."""
    if not isinstance(result, dict) or not isinstance(result.get("snippet"), dict):
        raise ValueError("not a search result (no 'snippet')")
    ident = result.get("id") if isinstance(result.get("id"), dict) else {}
    video = ident.get("videoId")
    if ident.get("kind") != "youtube#video" or not isinstance(video, str) or not video:
        raise ValueError(f"not a video result: id {ident!r}")
    snippet = result["snippet"]
    # search snippets arrive HTML-escaped ("&#39;"); descriptions are truncated by YouTube
    title = html.unescape(str(snippet.get("title") or ""))
    description = html.unescape(str(snippet.get("description") or ""))
    text = f"{title}\n\n{description}" if description.strip() else title
    if not text.strip():
        raise ValueError(f"video {video} has no title or description")
    created = _parse_time(snippet.get("publishedAt"))
    if created is None:
        raise ValueError(f"video {video} has no valid 'publishedAt': {snippet.get('publishedAt')!r}")
    handle = snippet.get("channelTitle") or snippet.get("channelId")
    if not handle:
        raise ValueError(f"video {video} has no channel")
    return Mention(
        id=mention_id(PLATFORM, video),
        platform=PLATFORM,
        native_id=video,
        brand=brand,
        text=text,
        author=Author(handle=handle, display_name=snippet.get("channelTitle")),
        url=f"{WATCH}{video}",
        created_at=created,
        received_at=utcnow(),
        raw=result,
    )
