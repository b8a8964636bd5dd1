"""Mastodon, any instance: a hashtag timeline or a status search (poll), a hashtag stream (stream).

Example ``config/sources.yaml`` entries::

    - name: mastodon-nordbank
      kind: mastodon
      brand: nordbank
      instance_url: https://mastodon.social
      hashtag: nordbank                          # public: no token needed on most instances
      access_token: {env: MASTODON_TOKEN}        # optional here

    - name: mastodon-nordbank-search
      kind: mastodon
      brand: nordbank
      instance_url: https://mastodon.social
      query: nordbank
      access_token: {env: MASTODON_TOKEN}        # required: search needs a user token

Hashtag (``GET /api/v1/timelines/tag/:hashtag``): pages forward in time
with ``min_id`` ("results immediately newer than this id"): each page is
the ``limit`` statuses right after the cursor, and the ``Link`` header's
``rel="prev"`` carries the ``min_id`` of the next page. The cursor is
``{"min_id": newest id read}``, saved after every page, so it only ever moves
forward and a restart resumes at the next page; ``since_id`` is not used
because it returns the newest page first and would need a sweep state. The
first run has no cursor and reads only the newest page (history is not
backfilled).

Query (``GET /api/v2/search?q=...&type=statuses&resolve=false``, token
required): results are newest first and page by ``offset`` (Mastodon turns
``min_id``/``max_id`` into coarse date filters here, so they cannot page).
The cursor records the sweep, ``{"since_id", "offset", "newest_id"}``, and
moves ``since_id`` to ``newest_id`` when a page reaches posts at or below
``since_id`` or comes back empty. The first run reads one page.

Ids are per instance, so ``native_id`` is ``<instance host>:<status id>``.
Mastodon ids are snowflakes (milliseconds << 16), and a remote post gets the
id of its publication time, so a post that federates late lands *behind*
the cursor. Every poll therefore starts ``overlap`` (10 minutes) before the
cursor; re-read posts are dropped by the runner's seen ids. Ids that are
not snowflakes (other server software) are used as they are.

Stream (``GET /api/v1/streaming/hashtag?tag=...``, Server-Sent Events on the
host ``GET /api/v2/instance`` names in ``configuration.urls.streaming``):
``event: update`` / ``status.update`` with a status as ``data``, ``event:
delete`` with an id, ``:thump`` heartbeats every 15 s (a checkpoint each).
Every (re)connect first catches up through the hashtag timeline from the
cursor, so a dropped connection loses nothing; reconnects back off
exponentially (1 s doubling to 60 s; HTTP errors from 5 s; 429 waits for the
reset). Only hashtag sources stream: there is no search stream.

Rate limits: ``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` (an ISO 8601
time) and 429, handled by :class:`~listeners.http.PlatformClient`.

Content is HTML: it becomes plain text (tags stripped, ``<br>`` and
paragraphs kept as line breaks, entities unescaped); an empty content falls
back to the content warning and then to media descriptions. A reblog
(``reblog`` not null) stands for the reblogged status: its id, author and
text; a second copy is dropped by seen ids. Deleted statuses disappear from
timelines and searches (nothing to do); stream ``delete`` events are
counted (``deleted_events``) and skipped: a published mention is not
retracted. A status without an id, account, creation time or any text is
Rejected with the reason.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
from pydantic import Field, ValidationError, field_validator, model_validator

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import SourceBase, parse_interval
from listeners.credentials import Credential
from listeners.errors import (
    AuthFailed,
    ContentGone,
    MissingCredential,
    QueryRejected,
    RateLimited,
    SourceError,
    SourceUnavailable,
)
from listeners.http import PlatformClient, error_detail, wait_from_headers
from listeners.streaming import Retry, StoppableStream, Stopped
from listeners.text import html_to_text
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = [
    "MastodonSearchListener",
    "MastodonSource",
    "MastodonStreamListener",
    "MastodonTimelineListener",
    "ReconnectBackoff",
    "mention_from_status",
]

log = logging.getLogger(__name__)

#: a Mastodon snowflake id is at least this (2017, when ids became snowflakes) once shifted back
_SNOWFLAKE_EPOCH_MS = 1_483_228_800_000


class MastodonSource(SourceBase):
    """Public posts on one Mastodon instance: a hashtag, or a search."""

    modes = (Mode.POLL, Mode.STREAM)
    summary = "Mastodon, any instance: hashtag timeline or search (poll), hashtag stream (SSE)"

    kind: Literal["mastodon"]
    brand: str = Field(min_length=1, max_length=128)
    #: e.g. https://mastodon.social (the instance whose API is asked; ids are this instance's)
    instance_url: str = Field(pattern=r"^https?://[^/?#\s]+/?$")
    #: without the ``#``
    hashtag: str | None = Field(default=None, max_length=256)
    query: str | None = Field(default=None, min_length=1, max_length=512)
    #: a user token (scope ``read:search`` / ``read:statuses``); optional for public hashtag timelines
    access_token: Credential | None = None
    #: the streaming host; by default the one ``/api/v2/instance`` names
    streaming_url: str | None = Field(default=None, pattern=r"^(https?|wss?)://[^/?#\s]+/?$")
    #: statuses per page (Mastodon allows at most 40)
    page_size: int = Field(default=40, ge=1, le=40)
    #: how far before the cursor each poll starts, for posts that federate late
    overlap: timedelta = timedelta(minutes=10)
    #: reconnect when the stream sends nothing, not even a heartbeat, for this long
    stall_timeout_s: float = Field(default=45.0, gt=0)

    _overlap = field_validator("overlap", mode="before")(parse_interval)

    @field_validator("hashtag")
    @classmethod
    def _tag(cls, value: str | None) -> str | None:
        if value is None:
            return None
        tag = value.removeprefix("#")
        if not re.fullmatch(r"\w+", tag):
            raise ValueError("a hashtag is letters, digits and underscores, e.g. 'nordbank'")
        return tag

    @model_validator(mode="after")
    def _one_kind_of_listening(self) -> MastodonSource:
        if (self.hashtag is None) == (self.query is None):
            raise ValueError("give exactly one of 'hashtag' or 'query'")
        if self.query is not None and self.access_token is None:
            raise ValueError("searching ('query') needs an 'access_token': Mastodon searches only for signed-in users")
        return self

    @property
    def host(self) -> str:
        return (urlsplit(self.instance_url).hostname or "").lower()

    @property
    def timeline_path(self) -> str:
        return f"/api/v1/timelines/tag/{quote(self.hashtag or '', safe='')}"

    def listener(
        self, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time
    ) -> MastodonTimelineListener | MastodonSearchListener:
        api = self._api(sleep, clock)
        return MastodonTimelineListener(self, api) if self.hashtag else MastodonSearchListener(self, api)

    def stream_listener(self, *, backoff: ReconnectBackoff | None = None) -> MastodonStreamListener:
        if self.hashtag is None:
            raise SourceError(f"{self.name}: Mastodon streams hashtags, not searches; poll this source "
                              "or give it a 'hashtag'")
        return MastodonStreamListener(self, backoff=backoff)

    def probe(self) -> str:
        api = self._api(time.sleep, time.time)
        try:
            if self.hashtag:
                statuses, _ = api.page(self.timeline_path, {"limit": 1})
            else:
                statuses = api.search(self.query or "", limit=1, offset=0)
        finally:
            api.close()
        what = f"the #{self.hashtag} timeline" if self.hashtag else f"a search for {self.query!r}"
        how = f"with the token from {self.access_token.describe()}" if self.access_token else "without a token"
        newest = statuses[0] if statuses and isinstance(statuses[0], dict) else None
        if newest is None:
            return f"{self.host} answered {what} {how}: no posts yet"
        return f"{self.host} answered {what} {how}; newest post {newest.get('id')} at {newest.get('created_at')}"

    def _api(self, sleep: Callable[[float], None], clock: Callable[[], float]) -> _MastodonApi:
        headers = {"User-Agent": "mentionflow", "Accept": "application/json"}
        if self.access_token is not None:
            try:
                headers["Authorization"] = f"Bearer {self.access_token.resolve().value}"
            except MissingCredential as exc:
                raise MissingCredential(f"{self.name}: access_token: {exc}") from None
        client = _MastodonClient(self.name, self.instance_url.rstrip("/"), headers=headers,
                                 max_wait_s=self.max_wait_s, sleep=sleep, clock=clock, host=self.host,
                                 token_from=self.access_token.describe() if self.access_token else None)
        return _MastodonApi(self.name, client)


# --- HTML and mapping ---------------------------------------------------------------------------

def mention_from_status(status: Mapping[str, Any], host: str, brand: str) -> Mention:
    """A Mention from one Mastodon Status entity (a reblog stands for its original; raises ValueError)."""
    original = status.get("reblog") or status
    if not isinstance(original, dict):
        raise ValueError("'reblog' is not a status object")
    sid = original.get("id")
    if not isinstance(sid, str) or not sid:
        raise ValueError("status has no string 'id'")
    account = original.get("account")
    if not isinstance(account, dict) or not isinstance(account.get("acct"), str) or not account["acct"]:
        raise ValueError("status has no 'account' with an 'acct'")
    created = original.get("created_at")
    if not isinstance(created, str):
        raise ValueError("status has no 'created_at'")
    created_at = datetime.fromisoformat(created)
    if created_at.tzinfo is None:
        raise ValueError(f"created_at {created!r} has no time zone")
    content = original.get("content")
    text = html_to_text(content) if isinstance(content, str) else ""
    if not text:
        media = original.get("media_attachments") if isinstance(original.get("media_attachments"), list) else []
        fallback = [original.get("spoiler_text")] + [m.get("description") for m in media if isinstance(m, dict)]
        text = "\n".join(t.strip() for t in fallback if isinstance(t, str) and t.strip())
    if not text:
        raise ValueError("status has no text (no content, content warning or media description)")
    native = f"{host}:{sid}"
    language = original.get("language")
    return Mention(
        id=mention_id("mastodon", native), platform="mastodon", native_id=native, brand=brand, text=text,
        language=language if isinstance(language, str) and language else None,
        author=Author(handle=account["acct"], display_name=account.get("display_name") or None,
                      followers=account.get("followers_count", 0), verified=False),
        url=original.get("url") or original.get("uri"), created_at=created_at, received_at=utcnow(),
        raw=dict(status),
    )


# --- the REST API -------------------------------------------------------------------------------

class _MastodonClient(PlatformClient):
    """Says which token was refused, or that one is needed."""

    def __init__(self, *args: Any, host: str, token_from: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host = host
        self.token_from = token_from

    def raise_for_error(self, response: httpx.Response, url: str) -> None:
        status, detail, path = response.status_code, error_detail(response), httpx.URL(url).path
        needs_user = status == 422 and "authenticated" in detail.lower()
        if status in (401, 403) or needs_user:
            if self.token_from:
                raise AuthFailed(f"{self.source}: {self.host} refused the access token from {self.token_from} "
                                 f"(HTTP {status} on {path}: {detail}); it may be revoked or lack the read scope")
            raise AuthFailed(f"{self.source}: {self.host} wants an access token for {path} "
                             f"(HTTP {status}: {detail}); set 'access_token'")
        super().raise_for_error(response, url)


class _MastodonApi:
    def __init__(self, source: str, client: _MastodonClient) -> None:
        self.source = source
        self.client = client

    def page(self, path: str, params: Mapping[str, Any]) -> tuple[list[Any], dict[str, dict[str, str]]]:
        """One page of a timeline and its parsed ``Link`` header."""
        response = self.client.request("GET", path, params=params)
        body = self._json(response, path)
        if not isinstance(body, list):
            raise SourceUnavailable(f"{self.source}: {path} answered a {type(body).__name__}, not a list of statuses")
        return body, dict(response.links)

    def search(self, query: str, *, limit: int, offset: int) -> list[Any]:
        params = {"q": query, "type": "statuses", "resolve": "false", "limit": limit, "offset": offset}
        body = self._json(self.client.request("GET", "/api/v2/search", params=params), "/api/v2/search")
        statuses = body.get("statuses") if isinstance(body, dict) else None
        if not isinstance(statuses, list):
            raise SourceUnavailable(f"{self.source}: /api/v2/search answered without a 'statuses' list")
        return statuses

    def streaming_base(self, configured: str | None) -> str:
        """The streaming server: configured, or as ``/api/v2/instance`` names it, or the instance itself."""
        url = configured
        if url is None:
            try:
                info = self._json(self.client.request("GET", "/api/v2/instance"), "/api/v2/instance")
                url = info["configuration"]["urls"]["streaming"]
            except (KeyError, TypeError, QueryRejected, ContentGone, SourceUnavailable):
                url = None  # older or other server software: the instance serves /api/v1/streaming itself
        if not isinstance(url, str) or not url:
            return str(self.client.http.base_url).rstrip("/")
        return re.sub(r"^ws(s?)://", r"http\1://", url).rstrip("/")

    def stream(self, url: str, params: Mapping[str, Any], read_timeout_s: float) -> Any:
        timeout = httpx.Timeout(10.0, read=read_timeout_s)
        headers = {"Accept": "text/event-stream"}
        return self.client.http.stream("GET", url, params=params, headers=headers, timeout=timeout)

    def _json(self, response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise SourceUnavailable(
                f"{self.source}: {path} answered HTTP {response.status_code} with non-JSON") from None

    def close(self) -> None:
        self.client.close()


def _order(status_id: str) -> tuple[int, str]:
    """Mastodon ids are decimal strings of varying length; other servers use sortable fixed-length ids."""
    return len(status_id), status_id


def _newest(ids: list[str], current: str | None = None) -> str | None:
    candidates = ids + ([current] if current else [])
    return max(candidates, key=_order) if candidates else None


def _rewind(status_id: str, overlap: timedelta) -> str:
    """An id ``overlap`` earlier than ``status_id`` when it is a snowflake (ms << 16); else itself."""
    if not status_id.isdigit() or overlap <= timedelta(0):
        return status_id
    ms = int(status_id) >> 16
    if ms < _SNOWFLAKE_EPOCH_MS:
        return status_id
    return str((ms - int(overlap.total_seconds() * 1000)) << 16)


def _ids(statuses: list[Any]) -> list[str]:
    return [s["id"] for s in statuses if isinstance(s, dict) and isinstance(s.get("id"), str) and s["id"]]


class _StatusItems:
    def __init__(self, source: MastodonSource) -> None:
        self.name = source.name
        self.source = source

    def item(self, status: Any) -> Mention | Rejected:
        if not isinstance(status, dict):
            return Rejected(json.dumps(status).encode(), f"{self.name}: status is not a JSON object")
        try:
            return mention_from_status(status, self.source.host, self.source.brand)
        except (ValidationError, ValueError, TypeError) as exc:
            original = status["reblog"] if isinstance(status.get("reblog"), dict) else status
            sid = original.get("id")
            key = f"mastodon:{self.source.host}:{sid}".encode() if isinstance(sid, str) and sid else None
            return Rejected(json.dumps(status).encode(), f"{self.name}: status {sid}: {exc}", key=key)


class MastodonTimelineListener(_StatusItems):
    """The hashtag timeline, paged forward with ``min_id``."""

    def __init__(self, source: MastodonSource, api: _MastodonApi) -> None:
        super().__init__(source)
        self.api = api

    def close(self) -> None:
        self.api.close()

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        path, limit = self.source.timeline_path, self.source.page_size
        cursor_id: str | None = (cursor or {}).get("min_id")
        if cursor_id is None:  # first run: the newest page only
            statuses, links = self.api.page(path, {"limit": limit})
            yield from (self.item(s) for s in reversed(statuses))
            newest = _link_param(links, "prev", "min_id") or _newest(_ids(statuses))
            yield Checkpoint({"min_id": newest} if newest else {})
            return
        min_id = _rewind(cursor_id, self.source.overlap)
        while True:
            statuses, links = self.api.page(path, {"limit": limit, "min_id": min_id})
            if not statuses:
                yield Checkpoint({"min_id": cursor_id})
                return
            yield from (self.item(s) for s in reversed(statuses))  # oldest first
            following = _link_param(links, "prev", "min_id") or _newest(_ids(statuses))
            if following is None or _order(following) <= _order(min_id):
                log.warning("%s: %s did not page forward past %s; stopping here", self.name, path, min_id)
                yield Checkpoint({"min_id": cursor_id})
                return
            min_id = following
            cursor_id = _newest([min_id], cursor_id) or cursor_id
            yield Checkpoint({"min_id": cursor_id})


def _link_param(links: Mapping[str, Mapping[str, str]], rel: str, name: str) -> str | None:
    url = (links.get(rel) or {}).get("url")
    if not url:
        return None
    value = httpx.URL(url).params.get(name)
    return value or None


class MastodonSearchListener(_StatusItems):
    """Status search, swept newest first by ``offset`` down to the high-water mark."""

    def __init__(self, source: MastodonSource, api: _MastodonApi) -> None:
        super().__init__(source)
        self.api = api

    def close(self) -> None:
        self.api.close()

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        cursor = cursor or {}
        since: str | None = cursor.get("since_id")
        offset = int(cursor.get("offset") or 0)
        newest: str | None = cursor.get("newest_id")
        floor = _rewind(since, self.source.overlap) if since else None
        previous: list[str] = []
        while True:
            statuses = self.api.search(self.source.query or "", limit=self.source.page_size, offset=offset)
            if statuses and _ids(statuses) == previous:  # a server that ignores offset: stop, do not loop
                statuses = []
            previous = _ids(statuses)
            newest = newest or _newest(_ids(statuses))
            reached = False
            for status in statuses:
                sid = status.get("id") if isinstance(status, dict) else None
                if floor is not None and isinstance(sid, str) and _order(sid) <= _order(floor):
                    reached = True
                    continue
                yield self.item(status)
            offset += len(statuses)
            if since is None or reached or not statuses:
                high = _newest([newest] if newest else [], since)
                yield Checkpoint({"since_id": high} if high else {})
                return
            yield Checkpoint({"since_id": since, "offset": offset, **({"newest_id": newest} if newest else {})})


# --- streaming ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReconnectBackoff:
    """Waits between stream reconnects (seconds): exponential, reset by a good connection."""

    network_first_s: float = 1.0
    http_first_s: float = 5.0
    max_s: float = 60.0
    http_max_s: float = 320.0
    #: when a 429 names no reset time
    rate_limited_s: float = 60.0


class MastodonStreamListener(_StatusItems, StoppableStream):
    """The hashtag stream, reconnecting and catching up by the timeline until :meth:`stop`.

    The cursor is the timeline's (``min_id``), advanced by every streamed post.
    """

    def __init__(self, source: MastodonSource, *, backoff: ReconnectBackoff | None = None) -> None:
        super().__init__(source)
        self.backoff = backoff or ReconnectBackoff()
        self._init_stop_control()
        self.api = source._api(self._sleep, time.time)
        self.timeline = MastodonTimelineListener(source, self.api)
        self.connections = 0
        #: ``delete`` events seen (published mentions are not retracted)
        self.deleted_events = 0

    def close(self) -> None:
        self.api.close()

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        state = dict(cursor or {})
        try:
            url = self.api.streaming_base(self.source.streaming_url) + "/api/v1/streaming/hashtag"
        except Stopped:
            return
        failures = {"network": 0, "http": 0}
        while not self._stop.is_set():
            try:
                yield from self._session(url, state, failures)
                delay = self._next("network", failures)
                log.info("%s: the stream ended; reconnecting in %.1fs", self.name, delay)
            except Stopped:
                return
            except Retry as exc:
                delay = exc.delay
                log.warning("%s: %s; reconnecting in %.1fs", self.name, exc, delay)
            except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
                if self._stop.is_set():
                    return
                delay = self._next("network", failures)
                log.warning("%s: stream connection lost (%s: %s); reconnecting in %.1fs",
                            self.name, type(exc).__name__, exc, delay)
            except RateLimited as exc:  # during the catch-up
                delay = max(exc.retry_after_s, self.backoff.rate_limited_s)
                log.warning("%s: %s; reconnecting in %.1fs", self.name, exc, delay)
            except SourceUnavailable as exc:
                delay = self._next("http", failures)
                log.warning("%s: %s; reconnecting in %.1fs", self.name, exc, delay)
            if self._stop.wait(delay):
                return

    def _next(self, kind: str, failures: dict[str, int]) -> float:
        failures[kind] += 1
        if kind == "http":
            return min(self.backoff.http_first_s * 2 ** (failures[kind] - 1), self.backoff.http_max_s)
        return min(self.backoff.network_first_s * 2 ** (failures[kind] - 1), self.backoff.max_s)

    def _session(self, url: str, state: dict[str, Any], failures: dict[str, int]) -> Iterator[ListenerOutput]:
        with self.api.stream(url, {"tag": self.source.hashtag}, self.source.stall_timeout_s) as response:
            if response.status_code != 200:
                response.read()
                raise self._refused(response, failures)
            with self._lock:
                self._response = response
            try:
                if self._stop.is_set():
                    return
                self.connections += 1
                failures.update(network=0, http=0)
                for item in self.timeline.poll(dict(state)):  # catch up: the stream covers what follows
                    if self._stop.is_set():
                        return
                    if isinstance(item, Checkpoint):
                        state.clear()
                        state.update(item.cursor)
                    yield item
                yield from self._events(response, state)
            finally:
                with self._lock:
                    self._response = None

    def _refused(self, response: httpx.Response, failures: dict[str, int]) -> Exception:
        status, detail = response.status_code, error_detail(response)
        if status in (401, 403) or (status == 422 and "authenticated" in detail.lower()):
            how = (f"refused the access token from {self.source.access_token.describe()}"
                   if self.source.access_token else "wants an access token (set 'access_token')")
            return AuthFailed(f"{self.name}: the {self.source.host} stream {how} (HTTP {status}: {detail})")
        if status == 429:
            wait = wait_from_headers(response.headers)
            return Retry(wait if wait is not None else self.backoff.rate_limited_s, f"stream rate limited: {detail}")
        if status >= 500:
            return Retry(self._next("http", failures), f"stream answered HTTP {status}: {detail}")
        return QueryRejected(
            f"{self.name}: the {self.source.host} stream rejected the request (HTTP {status}): {detail}")

    def _events(self, response: httpx.Response, state: dict[str, Any]) -> Iterator[ListenerOutput]:
        event, data = "message", []
        for line in response.iter_lines():
            if self._stop.is_set():
                return
            if line.startswith(":"):  # heartbeat comment (":thump", ":)")
                yield Checkpoint(dict(state))
            elif line == "":
                if data:
                    yield from self._event(event, "\n".join(data), state)
                event, data = "message", []
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    event = value
                elif field == "data":
                    data.append(value)

    def _event(self, event: str, data: str, state: dict[str, Any]) -> Iterator[ListenerOutput]:
        if event == "delete":
            self.deleted_events += 1
            log.info("%s: status %s was deleted on %s", self.name, data, self.source.host)
        elif event in ("update", "status.update"):
            try:
                status = json.loads(data)
            except json.JSONDecodeError as exc:
                yield Rejected(data.encode(), f"{self.name}: '{event}' event data is not JSON: {exc}")
            else:
                item = self.item(status)
                yield item
                sid = status.get("id") if isinstance(status, dict) else None
                if isinstance(item, Mention) and isinstance(sid, str) and _newest([sid], state.get("min_id")) == sid:
                    state["min_id"] = sid
        yield Checkpoint(dict(state))
