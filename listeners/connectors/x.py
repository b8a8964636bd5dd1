"""X (Twitter) API v2: recent search (poll) and the filtered stream (stream).

Example ``config/sources.yaml`` entry::

    - name: x-nordbank
      kind: x
      brand: nordbank
      query: "nordbank -is:retweet"
      bearer_token: {env: X_BEARER_TOKEN}
      every: 15m
      backfill: 1d          # how far back the very first poll looks (at most 7 days)

Poll: ``GET /2/tweets/search/recent`` with ``query``, ``max_results``,
``tweet.fields=created_at,lang,author_id,public_metrics,conversation_id,note_tweet``
(``note_tweet`` carries the full text of posts longer than 280 characters),
``expansions=author_id`` and ``user.fields=username,name,verified,public_metrics``;
authors come back once per page in ``includes.users``. Results are newest
first and page by ``meta.next_token`` (request parameter ``next_token``), so
the cursor records the sweep in progress, ``{"since_id", "next_token",
"newest_id"}``, after every page, and moves ``since_id`` to the sweep's
``newest_id`` only when the last page is read: an interrupted sweep resumes
at its next page, a completed one raises the high-water mark, and nothing in
between is skipped. The first run has no ``since_id`` and asks from
``start_time = now - backfill`` instead (the endpoint covers 7 days). A
``next_token`` the API no longer accepts restarts the sweep from ``since_id``
(repeats are dropped by the runner's seen ids).

Stream: the source owns one rule on ``/2/tweets/search/stream/rules``, tagged
with the source name: it is added if missing, and rules with that tag but an
old query are deleted; other rules are never touched (an app has one rule set
and, on most access levels, one stream connection, so stream one X source per
app and poll the rest). ``GET /2/tweets/search/stream`` answers newline-
delimited JSON (``{"data", "includes", "matching_rules"}``) with ``\\r\\n``
keep-alives about every 20 s; lines for rules of other sources are skipped.
Reconnects follow X's documented back-off: linear (+250 ms, up to 16 s) for
network errors, exponential (5 s doubling, up to 320 s) for HTTP errors, and
exponential from 60 s for 429. After every (re)connect the gap is filled by a
recent search from the cursor's ``since_id`` (or, before the first post, from
the ``start_time`` of the first connection), so a dropped connection loses
nothing recent search can find; overlaps are dropped by seen ids.

Rate limits: ``x-rate-limit-limit`` / ``-remaining`` / ``-reset`` (epoch
seconds) and 429, handled by :class:`~listeners.http.PlatformClient`.

Deleted posts: X documents them as tombstones in the response's ``errors``
array (``resource_type: tweet``, ``title: Not Found Error``), not as data; they
are skipped and counted (``deleted_skipped``), not rejected. A post whose
``data`` lacks an id, text or ``created_at`` is Rejected with the reason. A
post whose author is missing from ``includes`` (suspended or protected
account) keeps the ``author_id`` as handle and links ``/i/web/status/<id>``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import httpx
from pydantic import Field, ValidationError, field_validator

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import SourceBase, parse_interval
from listeners.credentials import Credential
from listeners.errors import (
    AuthFailed,
    MissingCredential,
    QueryRejected,
    RateLimited,
    SourceUnavailable,
)
from listeners.http import PlatformClient, error_detail, wait_from_headers
from listeners.streaming import Retry, StoppableStream, Stopped
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = ["StreamBackoff", "XSearchListener", "XSource", "XStreamListener", "mention_from_tweet"]

log = logging.getLogger(__name__)

SEARCH_PATH = "/2/tweets/search/recent"
STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"
TWEET_FIELDS = "created_at,lang,author_id,public_metrics,conversation_id,note_tweet"
USER_FIELDS = "username,name,verified,public_metrics"
#: what recent search reaches back to
SEARCH_WINDOW = timedelta(days=7)
#: X's "lang" values that name no language (undetermined, no text, media/hashtag/cashtag-only ...)
_NO_LANGUAGE = frozenset({"und", "zxx", "art", "qam", "qct", "qht", "qme", "qst"})


class XSource(SourceBase):
    """Posts on X matching a search query."""

    modes = (Mode.POLL, Mode.STREAM)
    summary = "X API v2: recent search (poll) or filtered stream, bearer token"

    kind: Literal["x"]
    brand: str = Field(min_length=1, max_length=128)
    #: X search/rule syntax, e.g. ``nordbank -is:retweet`` (512 characters on most access levels)
    query: str = Field(min_length=1, max_length=4096)
    bearer_token: Credential
    base_url: str = "https://api.x.com"
    #: ``max_results`` per search page (10-100)
    page_size: int = Field(default=100, ge=10, le=100)
    #: how far back the first poll of a new source reaches (recent search covers 7 days)
    backfill: timedelta = timedelta(days=1)
    #: reconnect when the stream sends nothing, not even a keep-alive, for this long
    stall_timeout_s: float = Field(default=30.0, gt=0)

    _backfill = field_validator("backfill", mode="before")(parse_interval)

    def listener(
        self, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time
    ) -> XSearchListener:
        return XSearchListener(self, self._api(sleep, clock))

    def stream_listener(self, *, backoff: StreamBackoff | None = None) -> XStreamListener:
        return XStreamListener(self, backoff=backoff)

    def probe(self) -> str:
        api = self._api(time.sleep, time.time)
        try:
            body = api.get(SEARCH_PATH, {"query": self.query, "max_results": 10, "tweet.fields": "created_at"})
        finally:
            api.close()
        tweets = body.get("data") if isinstance(body.get("data"), list) else []
        if not tweets:
            return f"recent search for {self.query!r} works; no posts in the last 7 days"
        newest = tweets[0] if isinstance(tweets[0], dict) else {}
        return (f"recent search for {self.query!r} works; {len(tweets)} posts on the first page, "
                f"newest {newest.get('id')} at {newest.get('created_at')}")

    def _api(self, sleep: Callable[[float], None], clock: Callable[[], float]) -> _XApi:
        try:
            token = self.bearer_token.resolve().value
        except MissingCredential as exc:
            raise MissingCredential(f"{self.name}: bearer_token: {exc}") from None
        client = _XClient(
            self.name, self.base_url, headers={"Authorization": f"Bearer {token}", "User-Agent": "mentionflow"},
            max_wait_s=self.max_wait_s, sleep=sleep, clock=clock, token_from=self.bearer_token.describe(),
        )
        return _XApi(self.name, client)


def mention_from_tweet(tweet: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]], brand: str) -> Mention:
    """A Mention from one v2 post object and the page's ``includes.users`` by id (raises ValueError)."""
    tweet_id = tweet.get("id")
    if not isinstance(tweet_id, str) or not tweet_id.isdigit():
        raise ValueError("post has no numeric string 'id'")
    note = tweet.get("note_tweet")
    text = note.get("text") if isinstance(note, dict) and note.get("text") else tweet.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("post has no text")
    created = tweet.get("created_at")
    if not isinstance(created, str):
        raise ValueError("post has no 'created_at' (tweet.fields must include created_at)")
    created_at = datetime.fromisoformat(created)
    if created_at.tzinfo is None:
        raise ValueError(f"created_at {created!r} has no time zone")
    author_id = tweet.get("author_id")
    user = users.get(str(author_id)) if author_id is not None else None
    if user and isinstance(user.get("username"), str):
        metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), dict) else {}
        author = Author(handle=user["username"], display_name=user.get("name"),
                        followers=metrics.get("followers_count", 0), verified=user.get("verified", False))
        url = f"https://x.com/{user['username']}/status/{tweet_id}"
    elif isinstance(author_id, str) and author_id:
        author = Author(handle=author_id)  # author withheld: suspended, protected or deleted
        url = f"https://x.com/i/web/status/{tweet_id}"
    else:
        raise ValueError("post has no 'author_id' (expansions must include author_id)")
    lang = tweet.get("lang")
    return Mention(
        id=mention_id("x", tweet_id), platform="x", native_id=tweet_id, brand=brand, text=text,
        language=lang if isinstance(lang, str) and lang not in _NO_LANGUAGE else None,
        author=author, url=url, created_at=created_at, received_at=utcnow(),
        raw={"data": dict(tweet), "includes": {"users": [dict(user)]} if user else {}},
    )


class _XClient(PlatformClient):
    """Names the credential when X refuses it."""

    def __init__(self, *args: Any, token_from: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.token_from = token_from

    def raise_for_error(self, response: httpx.Response, url: str) -> None:
        if response.status_code in (401, 403):
            raise AuthFailed(
                f"{self.source}: X refused the bearer token from {self.token_from} "
                f"(HTTP {response.status_code} on {httpx.URL(url).path}: {error_detail(response)}); "
                "it may be expired, revoked or lack access to this endpoint"
            )
        super().raise_for_error(response, url)


class _XApi:
    def __init__(self, source: str, client: _XClient) -> None:
        self.source = source
        self.client = client

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._json(self.client.request("GET", path, params=params), path)

    def post(self, path: str, body: Any) -> dict[str, Any]:
        return self._json(self.client.request("POST", path, json=body), path)

    def stream(self, params: Mapping[str, Any], read_timeout_s: float) -> Any:
        timeout = httpx.Timeout(10.0, read=read_timeout_s)
        return self.client.http.stream("GET", STREAM_PATH, params=params, timeout=timeout)

    def _json(self, response: httpx.Response, path: str) -> dict[str, Any]:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SourceUnavailable(f"{self.source}: {path} answered HTTP {response.status_code} without a JSON object")
        return body

    def close(self) -> None:
        self.client.close()


def _fields(page_size: int | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"tweet.fields": TWEET_FIELDS, "expansions": "author_id", "user.fields": USER_FIELDS}
    if page_size:
        params["max_results"] = page_size
    return params


def _users(body: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    includes = body.get("includes") if isinstance(body.get("includes"), dict) else {}
    users = includes.get("users") if isinstance(includes.get("users"), list) else []
    return {str(u["id"]): u for u in users if isinstance(u, dict) and "id" in u}


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _clamp_start(start_time: str, now: datetime) -> str:
    """Keep ``start_time`` inside what recent search accepts (the last 7 days, not the last seconds)."""
    when = datetime.fromisoformat(start_time)
    when = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return _iso(min(max(when, now - SEARCH_WINDOW + timedelta(minutes=1)), now - timedelta(seconds=15)))


def _newer(a: str, b: str | None) -> bool:
    return b is None or int(a) > int(b)


def _compact(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


class XSearchListener:
    """Recent search, swept newest first; see the module docstring for the cursor."""

    def __init__(self, source: XSource, api: _XApi) -> None:
        self.name = source.name
        self.source = source
        self.api = api
        #: posts X reported as deleted (tombstones in ``errors``), skipped
        self.deleted_skipped = 0

    def close(self) -> None:
        self.api.close()

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        cursor = cursor or {}
        since_id: str | None = cursor.get("since_id")
        start_time: str | None = cursor.get("start_time")
        next_token: str | None = cursor.get("next_token")
        newest: str | None = cursor.get("newest_id")
        if since_id is None and start_time is None:
            start_time = _iso(utcnow() - min(self.source.backfill, SEARCH_WINDOW))
        resumed = next_token is not None
        while True:
            params = {"query": self.source.query, **_fields(self.source.page_size)}
            if since_id is not None:
                params["since_id"] = since_id
            elif start_time is not None:
                params["start_time"] = _clamp_start(start_time, utcnow())
            if next_token is not None:
                params["next_token"] = next_token
            try:
                body = self.api.get(SEARCH_PATH, params)
            except QueryRejected as exc:
                if not (resumed and "token" in str(exc).lower()):
                    raise
                log.warning("%s: stored next_token refused (%s); sweeping again from since_id", self.name, exc)
                next_token, newest, resumed = None, None, False
                continue
            resumed = False
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            if newest is None and isinstance(meta.get("newest_id"), str):
                newest = meta["newest_id"]
            yield from self.page(body)
            next_token = meta.get("next_token") if isinstance(meta.get("next_token"), str) else None
            if next_token:
                yield Checkpoint(_compact(since_id=since_id, start_time=start_time, next_token=next_token,
                                          newest_id=newest))
                continue
            if newest is not None and _newer(newest, since_id):
                yield Checkpoint({"since_id": newest})
            else:
                yield Checkpoint(_compact(since_id=since_id, start_time=start_time))
            return

    def page(self, body: Mapping[str, Any]) -> Iterator[Mention | Rejected]:
        """Mentions and rejects of one search page (or one stream line: the same shape)."""
        data = body.get("data")
        if data is not None and not isinstance(data, list):
            yield Rejected(json.dumps(body).encode(), f"{self.name}: page 'data' is not a list")
            data = None
        users = _users(body)
        for tweet in data or []:
            yield self.item(tweet, users)
        errors = body.get("errors") if isinstance(body.get("errors"), list) else []
        gone = [e for e in errors if isinstance(e, dict) and e.get("resource_type") == "tweet"
                and e.get("title") == "Not Found Error"]
        if gone:
            self.deleted_skipped += len(gone)
            log.info("%s: %d deleted posts skipped (%s)", self.name, len(gone),
                     ", ".join(str(e.get("resource_id") or e.get("value")) for e in gone[:10]))

    def item(self, tweet: Any, users: Mapping[str, Mapping[str, Any]]) -> Mention | Rejected:
        if not isinstance(tweet, dict):
            return Rejected(json.dumps(tweet).encode(), f"{self.name}: post is not a JSON object")
        user = users.get(str(tweet.get("author_id")))
        raw = json.dumps({"data": tweet, "includes": {"users": [user]} if user else {}}).encode()
        where = f"{self.name}: post {tweet.get('id')}"
        try:
            return mention_from_tweet(tweet, users, self.source.brand)
        except (ValidationError, ValueError, TypeError) as exc:
            key = f"x:{tweet['id']}".encode() if isinstance(tweet.get("id"), str) else None
            return Rejected(raw, f"{where}: {exc}", key=key)


@dataclass(frozen=True)
class StreamBackoff:
    """X's documented reconnect policy for the filtered stream (seconds)."""

    network_step_s: float = 0.25
    network_max_s: float = 16.0
    http_first_s: float = 5.0
    http_max_s: float = 320.0
    rate_first_s: float = 60.0
    rate_max_s: float = 960.0


class _Attempts:
    def __init__(self, policy: StreamBackoff) -> None:
        self.policy = policy
        self.reset()

    def reset(self) -> None:
        self.network = self.http = self.rate = 0

    def network_error(self) -> float:
        self.network += 1
        return min(self.policy.network_step_s * self.network, self.policy.network_max_s)

    def http_error(self) -> float:
        self.http += 1
        return min(self.policy.http_first_s * 2 ** (self.http - 1), self.policy.http_max_s)

    def rate_limited(self) -> float:
        self.rate += 1
        return min(self.policy.rate_first_s * 2 ** (self.rate - 1), self.policy.rate_max_s)


class XStreamListener(StoppableStream):
    """The filtered stream, reconnecting and catching up by recent search until :meth:`stop`.

    The cursor is the search cursor: ``since_id`` advances with every post
    read, and a catch-up sweep interrupted by a crash resumes like a poll.
    """

    def __init__(self, source: XSource, *, backoff: StreamBackoff | None = None) -> None:
        self.name = source.name
        self.source = source
        self.backoff = backoff or StreamBackoff()
        self._init_stop_control()
        self.api = source._api(self._sleep, time.time)
        self.search = XSearchListener(source, self.api)
        self._rule_ids: set[str] = set()
        #: successful connections so far
        self.connections = 0
        #: lines matched by rules of other sources, skipped
        self.other_rules_skipped = 0

    def close(self) -> None:
        self.api.close()

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        state = dict(cursor or {})
        try:
            self.sync_rule()
        except Stopped:
            return
        attempts = _Attempts(self.backoff)
        while not self._stop.is_set():
            try:
                yield from self._session(state, attempts)
                delay = attempts.network_error()
                log.info("%s: the stream ended; reconnecting in %.1fs", self.name, delay)
            except Stopped:
                return
            except Retry as exc:
                delay = exc.delay
                log.warning("%s: %s; reconnecting in %.1fs", self.name, exc, delay)
            except (httpx.HTTPError, httpx.StreamError, OSError) as exc:
                if self._stop.is_set():
                    return
                delay = attempts.network_error()
                log.warning("%s: stream connection lost (%s: %s); reconnecting in %.1fs",
                            self.name, type(exc).__name__, exc, delay)
            except RateLimited as exc:  # during the catch-up search
                delay = max(exc.retry_after_s, attempts.rate_limited())
                log.warning("%s: %s; reconnecting in %.1fs", self.name, exc, delay)
            except SourceUnavailable as exc:  # catch-up search gave up
                delay = attempts.http_error()
                log.warning("%s: %s; reconnecting in %.1fs", self.name, exc, delay)
            if self._stop.wait(delay):
                return

    def sync_rule(self) -> None:
        """Make sure this source's rule (tagged with its name) is the only one with that tag."""
        query, tag = self.source.query, self.name
        body = self.api.get(RULES_PATH)
        rules = [r for r in body.get("data") or [] if isinstance(r, dict)]
        mine = [r for r in rules if r.get("tag") == tag]
        keep = next((r for r in mine if r.get("value") == query), None)
        if keep is None:
            try:
                added = self.api.post(RULES_PATH, {"add": [{"value": query, "tag": tag}]})
            except QueryRejected as exc:
                raise QueryRejected(f"{tag}: X refused the stream rule {query!r}: {exc}") from None
            created = [r for r in added.get("data") or [] if isinstance(r, dict) and r.get("value") == query]
            duplicate = [e for e in added.get("errors") or []
                         if isinstance(e, dict) and e.get("title") == "DuplicateRule" and e.get("id")]
            if created:
                keep = created[0]
            elif duplicate:  # another tag holds the same query: its matches are ours too
                keep = {"id": duplicate[0]["id"], "value": query, "tag": tag}
            else:
                problems = "; ".join(f"{e.get('title')}: {', '.join(map(str, e.get('details') or []))}"
                                     for e in added.get("errors") or [] if isinstance(e, dict))
                raise QueryRejected(f"{tag}: X did not create the stream rule {query!r}: {problems or added}")
        stale = [str(r["id"]) for r in mine if r is not keep and "id" in r]
        if stale:
            self.api.post(RULES_PATH, {"delete": {"ids": stale}})
        self._rule_ids = {str(keep.get("id"))}

    def _session(self, state: dict[str, Any], attempts: _Attempts) -> Iterator[ListenerOutput]:
        with self.api.stream(_fields(), self.source.stall_timeout_s) as response:
            if response.status_code != 200:
                response.read()
                raise self._refused(response, attempts)
            with self._lock:
                self._response = response
            try:
                if self._stop.is_set():
                    return
                self.connections += 1
                attempts.reset()
                yield from self._catch_up(state, utcnow())
                for line in response.iter_lines():
                    if self._stop.is_set():
                        return
                    yield from self._line(line, state)
            finally:
                with self._lock:
                    self._response = None

    def _refused(self, response: httpx.Response, attempts: _Attempts) -> Exception:
        status, detail = response.status_code, error_detail(response)
        if status in (401, 403):
            return AuthFailed(f"{self.name}: the filtered stream refused the bearer token from "
                              f"{self.source.bearer_token.describe()} (HTTP {status}): {detail}")
        if status == 429:
            wait = wait_from_headers(response.headers) or 0.0
            return Retry(max(wait, attempts.rate_limited()), f"stream rate limited (HTTP 429: {detail})")
        if status >= 500:
            return Retry(attempts.http_error(), f"stream answered HTTP {status}: {detail}")
        return QueryRejected(f"{self.name}: the filtered stream rejected the request (HTTP {status}): {detail}")

    def _catch_up(self, state: dict[str, Any], connected_at: datetime) -> Iterator[ListenerOutput]:
        """Fill the gap before this connection with recent search; the stream covers what follows."""
        if not (state.get("since_id") or state.get("start_time")):
            state.clear()
            state["start_time"] = _iso(connected_at - timedelta(seconds=30))
            yield Checkpoint(dict(state))
            return
        for item in self.search.poll(dict(state)):
            if self._stop.is_set():
                return
            if isinstance(item, Checkpoint):
                state.clear()
                state.update(item.cursor)
            yield item

    def _line(self, line: str, state: dict[str, Any]) -> Iterator[ListenerOutput]:
        if not line.strip():
            yield Checkpoint(dict(state))  # keep-alive
            return
        try:
            doc = json.loads(line)
            problem = None if isinstance(doc, dict) else "stream line is not a JSON object"
        except json.JSONDecodeError as exc:
            problem = f"stream line is not JSON: {exc}"
        if problem:
            yield Rejected(line.encode(), f"{self.name}: {problem}")
            yield Checkpoint(dict(state))
            return
        data = doc.get("data")
        if data is None:  # X announces disconnects and other trouble this way; the connection ends next
            log.warning("%s: stream message without data: %s", self.name, _stream_message(doc))
            return
        rules = [r for r in doc.get("matching_rules") or [] if isinstance(r, dict)]
        if rules and not any(r.get("tag") == self.name or str(r.get("id")) in self._rule_ids for r in rules):
            self.other_rules_skipped += 1
            return
        item = self.search.item(data, _users(doc))
        yield item
        if isinstance(item, Mention) and _newer(item.native_id, state.get("since_id")):
            state.clear()
            state["since_id"] = item.native_id
        yield Checkpoint(dict(state))


def _stream_message(doc: Mapping[str, Any]) -> str:
    errors = doc.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return str(first.get("detail") or first.get("title") or first)[:300]
    return str(doc)[:300]
