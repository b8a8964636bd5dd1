"""A Mastodon instance as the connector uses it: tag timelines, search, instance info, SSE streaming.

Speaks the documented wire format: snowflake status ids (milliseconds <<
16, a remote post's id from its publication time), ``max_id`` /
``since_id`` / ``min_id`` / ``limit`` with ``Link`` headers (``rel="next"``
``max_id``, ``rel="prev"`` ``min_id``), ``/api/v2/search`` with ``offset``,
``{"error": ...}`` bodies (401 for a bad token, 422 when the instance wants
a signed-in user), ``X-RateLimit-*`` headers with an ISO 8601 reset, and
``text/event-stream`` with ``:)`` then ``:thump`` heartbeats, ``event:
update`` and ``event: delete``.
"""

from __future__ import annotations

import itertools
import json
import queue
import re
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.fakes.http import Request, Response, json_response
from tests.fakes.platforms.streaming_http import (
    DropConnection,
    StreamingFakeServer,
    StreamingResponse,
)

__all__ = ["FakeMastodon", "snowflake"]

_DROP = object()


def snowflake(when: datetime, seq: int = 0) -> str:
    return str((int(when.timestamp() * 1000) << 16) | (seq & 0xFFFF))


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _plain(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html).casefold()


class FakeMastodon(StreamingFakeServer):
    def __init__(self, token: str = "mastodon-test-token", *, public_timelines: bool = True,
                 port: int | None = None) -> None:
        super().__init__(port)
        self.token = token
        #: False: tag timelines need a signed-in user (422), as on instances that disable previews
        self.public_timelines = public_timelines
        self.statuses: list[dict[str, Any]] = []
        self.accounts: dict[str, dict[str, Any]] = {}
        self.requests: list[Request] = []
        self.intercept: Callable[[Request], Response | None] | None = None
        #: what /api/v2/instance names as the streaming server (default: this server, as ws://)
        self.streaming_url: str | None = None
        self.heartbeat_s = 0.1
        self.accept_streams = True
        self.stream_connections = 0
        self.rate_limit = 300
        self._streams: list[tuple[str, queue.Queue[Any]]] = []
        self._seq = itertools.count(1)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    # --- test helpers -------------------------------------------------------------------------

    def account(self, acct: str, *, display_name: str | None = None, followers: int = 10) -> dict[str, Any]:
        if acct not in self.accounts:
            username = acct.split("@")[0]
            self.accounts[acct] = {
                "id": str(100 + len(self.accounts)), "username": username, "acct": acct,
                "display_name": display_name if display_name is not None else username.title(),
                "locked": False, "bot": False, "created_at": "2022-11-01T00:00:00.000Z", "note": "<p>hi</p>",
                "url": f"{self.url}/@{acct}", "avatar": f"{self.url}/avatars/{username}.png",
                "followers_count": followers, "following_count": 3, "statuses_count": 42,
                "last_status_at": "2026-11-20", "emojis": [], "fields": [],
            }
        return self.accounts[acct]

    def post(self, html: str, acct: str = "ann", *, tags: tuple[str, ...] = ("nordbank",), language: str | None = "en",
             created_at: datetime | None = None, spoiler: str = "", media: tuple[str | None, ...] = (),
             reblog_of: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new status (a remote one published earlier when ``created_at`` is in the past)."""
        when = created_at or datetime.now(timezone.utc)
        sid = snowflake(when, next(self._seq))
        account = self.account(acct)
        status = {
            "id": sid, "created_at": _iso(when), "in_reply_to_id": None, "in_reply_to_account_id": None,
            "sensitive": bool(spoiler), "spoiler_text": spoiler, "visibility": "public", "language": language,
            "uri": f"{self.url}/users/{acct}/statuses/{sid}", "url": f"{self.url}/@{acct}/{sid}",
            "replies_count": 0, "reblogs_count": 0, "favourites_count": 0, "edited_at": None,
            "content": "" if reblog_of else html, "reblog": reblog_of, "application": None, "account": account,
            "media_attachments": [{"id": f"{sid}{n}", "type": "image", "url": f"{self.url}/media/{n}.png",
                                   "description": d} for n, d in enumerate(media)],
            "mentions": [], "emojis": [], "card": None, "poll": None,
            "tags": [{"name": t, "url": f"{self.url}/tags/{t}"} for t in tags],
        }
        with self.lock:
            self.statuses.append(status)
            streams = [q for tag, q in self._streams if tag in self._tags(status)]
        for q in streams:
            q.put(("update", status))
        return status

    def plant(self, status: dict[str, Any], tags: tuple[str, ...] = ("nordbank",)) -> None:
        """A malformed status, served as it is."""
        with self.lock:
            self.statuses.append({**status, "tags": [{"name": t} for t in tags]})

    def delete(self, status: dict[str, Any]) -> None:
        with self.lock:
            self.statuses = [s for s in self.statuses if s is not status]
            streams = [q for _, q in self._streams]
        for q in streams:
            q.put(("delete", status["id"]))

    def push_raw(self, chunk: bytes) -> None:
        with self.lock:
            streams = [q for _, q in self._streams]
        for q in streams:
            q.put(chunk)

    def drop_streams(self) -> None:
        with self.lock:
            streams, self._streams = self._streams, []
        for _, q in streams:
            q.put(_DROP)

    def connected_streams(self) -> int:
        with self.lock:
            return len(self._streams)

    # --- the API ----------------------------------------------------------------------------

    @staticmethod
    def _tags(status: dict[str, Any]) -> set[str]:
        return {str(t.get("name", "")).casefold() for t in status.get("tags") or [] if isinstance(t, dict)}

    def handle(self, request: Request) -> Response | StreamingResponse:  # type: ignore[override]
        with self.lock:
            self.requests.append(request)
        auth = request.headers.get("authorization")
        signed_in = auth == f"Bearer {self.token}"
        if auth is not None and not signed_in:
            return json_response(401, {"error": "The access token is invalid"})
        if self.intercept is not None and (answer := self.intercept(request)) is not None:
            return answer
        if request.path.startswith("/api/v1/timelines/tag/"):
            if not signed_in and not self.public_timelines:
                return json_response(422, {"error": "This method requires an authenticated user"})
            return self._limits(self._timeline(request, request.path.rsplit("/", 1)[1].casefold()))
        if request.path == "/api/v2/search":
            if not signed_in:
                return json_response(401, {"error": "This method requires an authenticated user"})
            return self._limits(self._search(request))
        if request.path == "/api/v2/instance":
            return json_response(200, {"domain": self.host, "title": "Fake Mastodon", "version": "4.3.2",
                                       "configuration": {"urls": {"streaming": self.streaming_url
                                                                  or f"ws://127.0.0.1:{self.port}"}}})
        if request.path == "/api/v1/streaming/hashtag":
            if not signed_in and not self.public_timelines:
                return json_response(401, {"error": "Missing access token"})
            return self._stream(request.query.get("tag", "").casefold())
        return json_response(404, {"error": "Record not found"})

    def _limits(self, response: Response) -> Response:
        status, headers, body = response
        with self.lock:
            used = sum(1 for r in self.requests if not r.path.startswith("/api/v1/streaming"))
        reset = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(minutes=5)
        return status, {**headers, "X-RateLimit-Limit": str(self.rate_limit),
                        "X-RateLimit-Remaining": str(max(0, self.rate_limit - used)),
                        "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.000Z")}, body

    def _timeline(self, request: Request, tag: str) -> Response:
        q = request.query
        limit = min(int(q.get("limit", "20")), 40)
        max_id, since_id, min_id = (int(q[k]) if k in q else None for k in ("max_id", "since_id", "min_id"))
        with self.lock:
            found = [s for s in self.statuses if tag in self._tags(s)]

        def key(s: dict[str, Any]) -> int:
            return int(s["id"]) if str(s.get("id", "")).isdigit() else 0

        found = [s for s in found if (max_id is None or key(s) < max_id) and (since_id is None or key(s) > since_id)]
        if min_id is not None:  # the statuses immediately after min_id, newest first
            page = sorted((s for s in found if key(s) > min_id), key=key)[:limit][::-1]
        else:
            page = sorted(found, key=key, reverse=True)[:limit]
        headers = {}
        if page:
            base = f"{self.url}{request.path}"
            headers["Link"] = (f'<{base}?limit={limit}&max_id={page[-1]["id"]}>; rel="next", '
                               f'<{base}?limit={limit}&min_id={page[0]["id"]}>; rel="prev"')
        return json_response(200, page, headers)

    def _search(self, request: Request) -> Response:
        q = request.query
        if q.get("type") != "statuses":
            return json_response(400, {"error": "type must be statuses in this fake"})
        words = q.get("q", "").casefold().split()
        if not words:
            return json_response(400, {"error": "Validation failed: q can't be blank"})
        limit, offset = min(int(q.get("limit", "20")), 40), int(q.get("offset", "0"))
        with self.lock:
            found = [s for s in self.statuses if all(w in _plain(str(s.get("content"))) for w in words)]
        found.sort(key=lambda s: int(s["id"]) if str(s.get("id", "")).isdigit() else 0, reverse=True)
        return json_response(200, {"accounts": [], "statuses": found[offset:offset + limit], "hashtags": []})

    def _stream(self, tag: str) -> Response | StreamingResponse:
        if not self.accept_streams:
            return json_response(503, {"error": "Service Unavailable"})
        q: queue.Queue[Any] = queue.Queue()
        with self.lock:
            self._streams.append((tag, q))
            self.stream_connections += 1
        return StreamingResponse(200, {"Content-Type": "text/event-stream", "Cache-Control": "no-store"},
                                 self._events(q))

    def _events(self, q: queue.Queue[Any]) -> Iterator[bytes]:
        try:
            yield b":)\n"
            while not self.closing.is_set():
                try:
                    item = q.get(timeout=self.heartbeat_s)
                except queue.Empty:
                    yield b":thump\n"
                    continue
                if item is _DROP:
                    raise DropConnection
                if isinstance(item, bytes):
                    yield item
                    continue
                event, payload = item
                data = json.dumps(payload) if isinstance(payload, dict) else str(payload)
                yield f"event: {event}\ndata: {data}\n\n".encode()
        finally:
            with self.lock:
                self._streams = [(t, s) for t, s in self._streams if s is not q]
