"""X API v2 as the connector uses it: recent search, stream rules, the filtered stream.

Speaks the documented wire format: bearer auth (401 ``{"title":
"Unauthorized", ...}``), ``tweet.fields`` / ``expansions`` / ``user.fields``
projections (a field not asked for is not returned), newest-first pages
with ``meta.newest_id`` / ``oldest_id`` / ``result_count`` / ``next_token``,
``since_id`` and ``start_time``, 400 ``Invalid Request`` bodies,
``x-rate-limit-*`` headers, rules with ``add`` / ``delete`` and their
``meta.summary``, and a chunked newline-delimited JSON stream with ``\\r\\n``
keep-alives. Queries are matched crudely: every bare word must appear in
the text, ``-is:retweet`` drops ``RT @`` posts; a post planted with
``"_always_match": True`` matches any query (for malformed posts).
"""

from __future__ import annotations

import itertools
import json
import queue
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.fakes.http import Request, Response, json_response
from tests.fakes.platforms.streaming_http import (
    DropConnection,
    StreamingFakeServer,
    StreamingResponse,
)

__all__ = ["FakeX"]

_DROP = object()
_BASE_TWEET = {"id", "text", "edit_history_tweet_ids"}
_BASE_USER = {"id", "name", "username"}


def _iso(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _invalid(message: str) -> Response:
    return json_response(400, {
        "errors": [{"parameters": {}, "message": message}],
        "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    })


def _created(tweet: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(tweet["created_at"])
    except (KeyError, TypeError, ValueError):  # a malformed post planted by a test
        return None


def _balanced(query: str) -> bool:
    depth = 0
    for ch in query:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0 and bool(query.strip())


class FakeX(StreamingFakeServer):
    def __init__(self, token: str = "x-test-token", port: int | None = None) -> None:
        super().__init__(port)
        self.token = token
        self.tweets: list[dict[str, Any]] = []
        self.users: dict[str, dict[str, Any]] = {}
        self.rules: list[dict[str, str]] = []
        self.requests: list[Request] = []
        #: return a Response to answer a request differently (errors, rate limits); None: normal
        self.intercept: Callable[[Request], Response | None] | None = None
        #: tombstones served in the ``errors`` array of first pages
        self.deleted: list[str] = []
        self.rate_limit = 450
        self.keepalive_s = 0.1
        #: while False, stream connections are answered 503
        self.accept_streams = True
        self.stream_connections = 0
        self._streams: list[queue.Queue[Any]] = []
        self._ids = itertools.count(1790000000000000001)
        self._rule_ids = itertools.count(1600000000000000001)

    # --- test helpers -------------------------------------------------------------------------

    def user(self, username: str, *, name: str | None = None, followers: int = 10,
             verified: bool = False) -> dict[str, Any]:
        uid = str(1000 + len(self.users))
        found = next((u for u in self.users.values() if u["username"] == username), None)
        if found:
            return found
        u = {"id": uid, "username": username, "name": name or username.title(), "verified": verified,
             "public_metrics": {"followers_count": followers, "following_count": 5, "tweet_count": 100,
                                "listed_count": 0},
             "protected": False, "created_at": "2015-01-01T00:00:00.000Z"}
        self.users[uid] = u
        return u

    def post(self, text: str, username: str = "ann", *, lang: str = "en", created_at: datetime | None = None,
             **extra: Any) -> dict[str, Any]:
        """A new post: searchable at once, and sent to every connected stream whose rule matches."""
        author = self.user(username)
        tid = str(next(self._ids))
        tweet = {"id": tid, "text": text, "edit_history_tweet_ids": [tid], "author_id": author["id"],
                 "created_at": _iso(created_at or datetime.now(timezone.utc)), "lang": lang,
                 "conversation_id": tid,
                 "public_metrics": {"retweet_count": 0, "reply_count": 0, "like_count": 1, "quote_count": 0,
                                    "bookmark_count": 0, "impression_count": 12},
                 "possibly_sensitive": False, "source": "Twitter Web App", **extra}
        with self.lock:
            self.tweets.append(tweet)
            rule = next((r for r in self.rules if self._matches(r["value"], tweet)), None)
            streams = list(self._streams) if rule else []
        for q in streams:
            q.put(self._line(tweet, rule))
        return tweet

    def push_line(self, line: bytes) -> None:
        """Send raw bytes (plus \\r\\n) to every connected stream."""
        with self.lock:
            streams = list(self._streams)
        for q in streams:
            q.put(line)

    def drop_streams(self) -> None:
        """Cut every open stream connection (they are gone when this returns)."""
        with self.lock:
            streams, self._streams = self._streams, []
        for q in streams:
            q.put(_DROP)

    def connected_streams(self) -> int:
        with self.lock:
            return len(self._streams)

    # --- the API ----------------------------------------------------------------------------

    def handle(self, request: Request) -> Response | StreamingResponse:  # type: ignore[override]
        with self.lock:
            self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_response(401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                       "detail": "Unauthorized"})
        if self.intercept is not None and (answer := self.intercept(request)) is not None:
            return answer
        if request.method == "GET" and request.path == "/2/tweets/search/recent":
            return self._with_limits(self._search(request))
        if request.path == "/2/tweets/search/stream/rules":
            return self._with_limits(self._rules(request))
        if request.method == "GET" and request.path == "/2/tweets/search/stream":
            return self._stream(request)
        return json_response(404, {"title": "Not Found Error", "detail": f"no route {request.path}"})

    def _with_limits(self, response: Response) -> Response:
        status, headers, body = response
        with self.lock:
            used = sum(1 for r in self.requests if r.path == "/2/tweets/search/recent")
        return status, {**headers, "x-rate-limit-limit": str(self.rate_limit),
                        "x-rate-limit-remaining": str(max(0, self.rate_limit - used)),
                        "x-rate-limit-reset": str(int(time.time()) + 900)}, body

    @staticmethod
    def _matches(query: str, tweet: dict[str, Any]) -> bool:
        if tweet.get("_always_match"):  # planted by a test; never returned (not a requested field)
            return True
        text = str(tweet.get("text")).casefold()
        for term in query.replace("(", " ").replace(")", " ").split():
            if term == "-is:retweet":
                if text.startswith("rt @"):
                    return False
            elif ":" not in term and not term.startswith("-") and term.upper() != "OR" and term.casefold() not in text:
                return False
        return True

    def _project(self, tweet: dict[str, Any], request: Request) -> dict[str, Any]:
        fields = set(filter(None, request.query.get("tweet.fields", "").split(","))) | _BASE_TWEET
        return {k: v for k, v in tweet.items() if k in fields}

    def _includes(self, tweets: list[dict[str, Any]], request: Request) -> dict[str, Any]:
        if "author_id" not in request.query.get("expansions", "").split(","):
            return {}
        fields = set(filter(None, request.query.get("user.fields", "").split(","))) | _BASE_USER
        ids = list(dict.fromkeys(t.get("author_id") for t in tweets))
        users = [{k: v for k, v in self.users[i].items() if k in fields} for i in ids if i in self.users]
        return {"users": users} if users else {}

    def _search(self, request: Request) -> Response:
        q = request.query
        query = q.get("query", "")
        if not _balanced(query):
            return _invalid(f"There were errors processing your request: Unmatched parenthesis in query "
                            f"(at position {len(query)})")
        try:
            max_results = int(q.get("max_results", "10"))
        except ValueError:
            max_results = -1
        if not 10 <= max_results <= 100:
            return _invalid(f"The `max_results` query parameter value [{q.get('max_results')}] "
                            "is not between 10 and 100")
        if "since_id" in q and "start_time" in q:
            return _invalid("The `since_id` and `start_time` parameters cannot be used together")
        since = int(q.get("since_id", "0"))
        start = datetime.fromisoformat(q["start_time"]) if "start_time" in q else None
        if start is not None and start < datetime.now(timezone.utc) - timedelta(days=7):
            return _invalid(f"Invalid 'start_time':'{q['start_time']}'. 'start_time' must be on or after "
                            f"{_iso(datetime.now(timezone.utc) - timedelta(days=7))}")
        token = q.get("next_token")
        upper = None
        if token is not None:
            if not token.startswith("b26v89c19zqg8o3f"):
                return _invalid(f"The `next_token` query parameter value [{token}] is not valid")
            upper = int(token.removeprefix("b26v89c19zqg8o3f"))
        with self.lock:
            found = [t for t in self.tweets if int(t["id"]) > since and self._matches(query, t)
                     and (start is None or _created(t) is None or _created(t) >= start)
                     and (upper is None or int(t["id"]) < upper)]
        found.sort(key=lambda t: int(t["id"]), reverse=True)
        page, more = found[:max_results], len(found) > max_results
        if not page:
            body: dict[str, Any] = {"meta": {"result_count": 0}}
        else:
            meta = {"newest_id": page[0]["id"], "oldest_id": page[-1]["id"], "result_count": len(page)}
            if more:
                meta["next_token"] = f"b26v89c19zqg8o3f{page[-1]['id']}"
            body = {"data": [self._project(t, request) for t in page]}
            if includes := self._includes(page, request):
                body["includes"] = includes
            body["meta"] = meta
        if self.deleted and token is None:
            body["errors"] = [{"value": d, "detail": f"Could not find tweet with ids: [{d}].",
                               "title": "Not Found Error", "resource_type": "tweet", "parameter": "ids",
                               "resource_id": d, "type": "https://api.twitter.com/2/problems/resource-not-found"}
                              for d in self.deleted]
        return json_response(200, body)

    def _rules(self, request: Request) -> Response:
        sent = _iso(datetime.now(timezone.utc))
        if request.method == "GET":
            with self.lock:
                rules = [dict(r) for r in self.rules]
            meta = {"sent": sent, "result_count": len(rules)}
            return json_response(200, {"data": rules, "meta": meta} if rules else {"meta": meta})
        body = request.json() or {}
        if "add" in body:
            created, errors = [], []
            for rule in body["add"]:
                value = rule.get("value", "")
                with self.lock:
                    existing = next((r for r in self.rules if r["value"] == value), None)
                if not _balanced(value):
                    return json_response(400, {
                        "errors": [{"value": value, "details": ["Unmatched parenthesis."], "title": "Invalid Rule",
                                    "type": "https://api.twitter.com/2/problems/invalid-rules"}],
                        "meta": {"sent": sent, "summary": {"created": 0, "not_created": 1, "valid": 0,
                                                            "invalid": 1}},
                        "title": "Invalid Request", "detail": "One or more parameters to your request was invalid.",
                        "type": "https://api.twitter.com/2/problems/invalid-request"})
                if existing:
                    errors.append({"value": value, "id": existing["id"], "title": "DuplicateRule",
                                   "type": "https://api.twitter.com/2/problems/duplicate-rules"})
                    continue
                new = {"id": str(next(self._rule_ids)), "value": value}
                if "tag" in rule:
                    new["tag"] = rule["tag"]
                with self.lock:
                    self.rules.append(new)
                created.append(new)
            answer: dict[str, Any] = {"meta": {"sent": sent, "summary": {
                "created": len(created), "not_created": len(errors), "valid": len(created), "invalid": len(errors)}}}
            if created:
                answer["data"] = created
            if errors:
                answer["errors"] = errors
            return json_response(201 if created else 200, answer)
        if "delete" in body:
            ids = set(body["delete"].get("ids") or [])
            with self.lock:
                before = len(self.rules)
                self.rules = [r for r in self.rules if r["id"] not in ids]
                deleted = before - len(self.rules)
            return json_response(200, {"meta": {"sent": sent, "summary": {"deleted": deleted,
                                                                         "not_deleted": len(ids) - deleted}}})
        return _invalid("Request body must contain 'add' or 'delete'")

    def _line(self, tweet: dict[str, Any], rule: dict[str, str]) -> bytes:
        fields = _BASE_TWEET | {"created_at", "lang", "author_id", "public_metrics", "conversation_id"}
        user = self.users[tweet["author_id"]]
        doc = {"data": {k: v for k, v in tweet.items() if k in fields},
               "includes": {"users": [{k: v for k, v in user.items()
                                       if k in _BASE_USER | {"verified", "public_metrics"}}]},
               "matching_rules": [{"id": rule["id"], "tag": rule.get("tag", "")}]}
        return json.dumps(doc).encode()

    def _stream(self, request: Request) -> Response | StreamingResponse:
        if not self.accept_streams:
            return json_response(503, {"title": "Service Unavailable", "detail": "Service Unavailable",
                                       "type": "about:blank", "status": 503})
        q: queue.Queue[Any] = queue.Queue()
        with self.lock:
            self._streams.append(q)
            self.stream_connections += 1
        return StreamingResponse(200, {"Content-Type": "application/json; charset=utf-8"}, self._body(q))

    def _body(self, q: queue.Queue[Any]) -> Iterator[bytes]:
        try:
            while not self.closing.is_set():
                try:
                    item = q.get(timeout=self.keepalive_s)
                except queue.Empty:
                    yield b"\r\n"
                    continue
                if item is _DROP:
                    raise DropConnection
                yield item + b"\r\n"
        finally:
            with self.lock:
                if q in self._streams:
                    self._streams.remove(q)
