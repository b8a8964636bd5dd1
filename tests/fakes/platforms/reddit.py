"""Reddit's OAuth API as its documentation describes it, with in-memory posts and comments.

- ``POST /api/v1/access_token``: HTTP basic auth ``client_id:client_secret``,
  form ``grant_type=client_credentials`` or ``grant_type=password`` with
  ``username``/``password``; wrong app credentials are 401, a wrong password
  is HTTP 200 ``{"error": "invalid_grant"}``.
- ``GET /search``, ``/r/<sub>/search`` (``restrict_sr``), ``/r/<sub>/new``,
  ``/r/<sub>/comments`` with ``Authorization: bearer <token>``: a
  ``Listing`` newest first, ``limit`` and ``after`` paging, and the
  ``X-Ratelimit-Used/Remaining/Reset`` headers on every answer.
- A refused token is 401 ``{"message": "Unauthorized", "error": 401}``; a
  private subreddit is 403 ``{"reason": "private", ...}``.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.http import FakeHTTPServer, Request, Response, json_response

__all__ = ["RedditApi"]


class RedditApi(FakeHTTPServer):
    def __init__(self, client_id: str = "app-id", client_secret: str = "app-secret",
                 users: dict[str, str] | None = None, port: int | None = None) -> None:
        super().__init__(port)
        self.client_id, self.client_secret = client_id, client_secret
        self.users = users or {}
        #: things as Reddit returns them ({"kind", "data"}), any order; listings sort them
        self.things: list[dict[str, Any]] = []
        self.private: set[str] = set()
        self.tokens: set[str] = set()
        self.token_lifetime = 86400
        self.tokens_issued: list[dict[str, str]] = []
        self.requests: list[Request] = []
        #: canned answers served before normal ones
        self.fail_next: list[Response] = []
        #: called for each API request; an answer it returns is served instead
        self.intercept: Callable[[Request], Response | None] | None = None
        self.remaining = 996.0
        self.reset_s = 300
        self._ids = itertools.count(1)

    # --- data -------------------------------------------------------------
    def add_post(self, sub: str, title: str, selftext: str = "", *, created: float, author: str = "someone",
                 id36: str | None = None, **extra: Any) -> dict[str, Any]:
        id36 = id36 or f"p{next(self._ids)}"
        data = {
            "subreddit": sub, "subreddit_name_prefixed": f"r/{sub}", "selftext": selftext, "title": title,
            "author": author, "author_fullname": f"t2_{author}", "name": f"t3_{id36}", "id": id36,
            "created": created, "created_utc": created, "score": 1, "num_comments": 0, "over_18": False,
            "removed_by_category": None, "is_self": True,
            "permalink": f"/r/{sub}/comments/{id36}/{title.lower().replace(' ', '_')[:40]}/",
            "url": f"https://www.reddit.com/r/{sub}/comments/{id36}/", **extra,
        }
        thing = {"kind": "t3", "data": data}
        self.things.append(thing)
        return thing

    def add_comment(self, sub: str, body: str, *, created: float, link_id: str = "t3_zzz", author: str = "someone",
                    id36: str | None = None, **extra: Any) -> dict[str, Any]:
        id36 = id36 or f"c{next(self._ids)}"
        data = {
            "subreddit": sub, "body": body, "author": author, "name": f"t1_{id36}", "id": id36,
            "link_id": link_id, "parent_id": link_id, "created_utc": created, "score": 1,
            "permalink": f"/r/{sub}/comments/{link_id[3:]}/x/{id36}/", "link_title": "a thread", **extra,
        }
        thing = {"kind": "t1", "data": data}
        self.things.append(thing)
        return thing

    # --- HTTP -------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            if self.fail_next:
                return self.fail_next.pop(0)
        if request.path == "/api/v1/access_token":
            return self._token(request)
        if self.intercept is not None and (answer := self.intercept(request)) is not None:
            return answer
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer ") or auth[7:] not in self.tokens:
            return json_response(401, {"message": "Unauthorized", "error": 401}, {"www-authenticate": 'Bearer realm="reddit", error="invalid_token"'})
        parts = request.path.strip("/").split("/")
        q = request.query
        if parts == ["search"]:
            return self._listing(request, [t for t in self.things if t["kind"] == "t3" and self._matches(t, q)])
        if len(parts) == 3 and parts[0] == "r":
            sub, endpoint = parts[1], parts[2]
            if sub in self.private:
                return json_response(403, {"reason": "private", "message": "Forbidden", "error": 403})
            mine = [t for t in self.things if t["data"]["subreddit"].lower() == sub.lower()]
            if endpoint == "new":
                return self._listing(request, [t for t in mine if t["kind"] == "t3"])
            if endpoint == "comments":
                return self._listing(request, [t for t in mine if t["kind"] == "t1"])
            if endpoint == "search":
                pool = mine if q.get("restrict_sr") in ("1", "true", "on") else self.things
                return self._listing(request, [t for t in pool if t["kind"] == "t3" and self._matches(t, q)])
        return json_response(404, {"message": "Not Found", "error": 404})

    @staticmethod
    def _matches(thing: dict[str, Any], q: dict[str, str]) -> bool:
        words = q.get("q", "").strip('"').lower()
        data = thing["data"]
        return words in f"{data.get('title', '')} {data.get('selftext', '')}".lower()

    def _listing(self, request: Request, things: list[dict[str, Any]]) -> Response:
        ordered = sorted(things, key=lambda t: (t["data"]["created_utc"], t["data"]["name"]), reverse=True)
        limit = min(int(request.query.get("limit", 25)), 100)
        start = 0
        if after := request.query.get("after"):
            names = [t["data"]["name"] for t in ordered]
            start = names.index(after) + 1 if after in names else len(ordered)
        page = ordered[start : start + limit]
        more = start + limit < len(ordered)
        with self.lock:
            self.remaining = max(0.0, self.remaining - 1)
            remaining = self.remaining
        body = {"kind": "Listing", "data": {"after": page[-1]["data"]["name"] if page and more else None,
                                            "dist": len(page), "modhash": "", "geo_filter": "",
                                            "children": page, "before": None}}
        headers = {"X-Ratelimit-Used": str(int(996 - remaining)), "X-Ratelimit-Remaining": f"{remaining:.1f}",
                   "X-Ratelimit-Reset": str(self.reset_s)}
        return json_response(200, body, headers)

    def _token(self, request: Request) -> Response:
        expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.method != "POST" or request.headers.get("authorization") != expected:
            return json_response(401, {"message": "Unauthorized", "error": 401})
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        grant = form.get("grant_type")
        if grant == "password":
            if self.users.get(form.get("username", "")) != form.get("password"):
                return json_response(200, {"error": "invalid_grant"})
        elif grant != "client_credentials":
            return json_response(200, {"error": "unsupported_grant_type"})
        token = f"tok-{next(self._ids)}"
        with self.lock:
            self.tokens.add(token)
            self.tokens_issued.append(form)
        return json_response(200, {"access_token": token, "token_type": "bearer",
                                   "expires_in": self.token_lifetime, "scope": "*"})

    def api_requests(self) -> list[Request]:
        return [r for r in self.requests if r.path != "/api/v1/access_token"]
