"""The VK API as documented: ``/method/<name>`` with ``access_token`` and ``v``, GET or POST form.

Answers are HTTP 200 with ``{"response": ...}`` or ``{"error": {"error_code",
"error_msg", "request_params"}}``. Implemented: ``newsfeed.search`` (newest
first, ``count`` <= 200, ``start_time``, ``start_from``/``next_from``),
``wall.get`` (newest first, ``count`` <= 100, ``offset``) and
``wall.getComments`` (``sort`` asc/desc, ``count`` <= 100, ``offset``,
``start_comment_id`` inclusive, ``thread_items_count`` <= 10), each with
``extended=1`` adding ``profiles`` and ``groups``. A closed wall answers
error 15, a post with comments closed error 212, a bad token error 5.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.http import FakeHTTPServer, Request, Response, json_response

__all__ = ["VkApi", "vk_error"]


def vk_error(code: int, message: str, params: dict[str, str] | None = None) -> Response:
    request_params = [{"key": k, "value": v} for k, v in (params or {}).items() if k != "access_token"]
    return json_response(200, {"error": {"error_code": code, "error_msg": message, "request_params": request_params}})


class VkApi(FakeHTTPServer):
    def __init__(self, token: str = "vk1.a.test-token", port: int | None = None) -> None:
        super().__init__(port)
        self.token = token
        self.users: dict[int, dict[str, Any]] = {}
        self.groups: dict[int, dict[str, Any]] = {}
        #: every post, on any wall
        self.posts: list[dict[str, Any]] = []
        #: (owner_id, post_id) -> comments, replies included (their ``parents_stack`` is set)
        self.comments: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self.closed_walls: set[int] = set()
        self.closed_comments: set[tuple[int, int]] = set()
        #: (method, parameters from the query and the form)
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.http_requests: list[Request] = []
        self.fail_next: list[Response] = []
        self.intercept: Callable[[str, dict[str, str]], Response | None] | None = None
        self._post_ids = itertools.count(100)
        self._comment_ids = itertools.count(5000)

    # --- data -------------------------------------------------------------
    def add_user(self, uid: int, first: str, last: str, screen_name: str | None = None, followers: int = 0) -> None:
        self.users[uid] = {"id": uid, "first_name": first, "last_name": last, "can_access_closed": True,
                           "is_closed": False, "screen_name": screen_name or f"id{uid}", "followers_count": followers}

    def add_group(self, gid: int, name: str, screen_name: str, members: int = 0) -> None:
        self.groups[gid] = {"id": gid, "name": name, "screen_name": screen_name, "is_closed": 0, "type": "page",
                            "members_count": members, "verified": 1}

    def add_post(self, owner_id: int, text: str, date: int, *, from_id: int | None = None, **extra: Any) -> dict[str, Any]:
        post = {"id": next(self._post_ids), "owner_id": owner_id, "from_id": owner_id if from_id is None else from_id,
                "date": date, "text": text, "post_type": "post", "marked_as_ads": 0, "attachments": [],
                "comments": {"can_post": 1, "count": 0}, "likes": {"count": 0}, "reposts": {"count": 0},
                "views": {"count": 10}, "post_source": {"type": "vk"}, "hash": "h", **extra}
        self.posts.append(post)
        return post

    def add_comment(self, post: dict[str, Any], text: str, date: int, from_id: int, *, reply_to: int | None = None,
                    **extra: Any) -> dict[str, Any]:
        key = (post["owner_id"], post["id"])
        comment = {"id": next(self._comment_ids), "from_id": from_id, "date": date, "text": text, "post_id": post["id"],
                   "owner_id": post["owner_id"], "parents_stack": [reply_to] if reply_to else [], **extra}
        if reply_to:
            comment["reply_to_comment"] = reply_to
        self.comments.setdefault(key, []).append(comment)
        post["comments"]["count"] += 1
        return comment

    # --- HTTP -------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        params = dict(request.query)
        if request.method == "POST":
            params.update({k: v[-1] for k, v in parse_qs(request.body.decode()).items()})
        method = request.path.removeprefix("/method/")
        with self.lock:
            self.requests.append((method, params))
            self.http_requests.append(request)
            if self.fail_next:
                return self.fail_next.pop(0)
        if self.intercept is not None and (answer := self.intercept(method, params)) is not None:
            return answer
        if not params.get("v"):
            return vk_error(8, "Invalid request: v (version) is required", params)
        if params.get("access_token") != self.token:
            return vk_error(5, "User authorization failed: invalid access_token (4).", params)
        handler = {"newsfeed.search": self._search, "wall.get": self._wall_get,
                   "wall.getComments": self._get_comments}.get(method)
        if handler is None:
            return vk_error(3, "Unknown method passed", params)
        return handler(params)

    def _extended(self, params: dict[str, str], body: dict[str, Any], items: list[dict[str, Any]]) -> Response:
        if params.get("extended") == "1":
            ids = {i.get("from_id", 0) for i in items}
            ids |= {r.get("from_id", 0) for i in items for r in (i.get("thread") or {}).get("items", [])}
            body["profiles"] = [self.users[i] for i in sorted(ids) if i > 0 and i in self.users]
            body["groups"] = [self.groups[-i] for i in sorted(ids) if i < 0 and -i in self.groups]
        return json_response(200, {"response": body})

    def _search(self, params: dict[str, str]) -> Response:
        count = int(params.get("count", 30))
        if not 0 < count <= 200:
            return vk_error(100, "One of the parameters specified was missing or invalid: count is out of range", params)
        words = params.get("q", "").lower()
        since = int(params.get("start_time") or 0)
        found = sorted((p for p in self.posts if words in p["text"].lower() and p["date"] >= since),
                       key=lambda p: (p["date"], p["id"]), reverse=True)
        start = int(params["start_from"].split("/")[0]) if params.get("start_from") else 0
        page = found[start : start + count]
        body: dict[str, Any] = {"items": page, "count": len(page), "total_count": len(found)}
        if start + count < len(found):
            body["next_from"] = f"{start + count}/{page[-1]['owner_id']}_{page[-1]['id']}"
        return self._extended(params, body, page)

    def _wall_get(self, params: dict[str, str]) -> Response:
        owner = int(params["owner_id"])
        if -owner in self.closed_walls:
            return vk_error(15, "Access denied: this wall available only for community members", params)
        count, offset = int(params.get("count", 20)), int(params.get("offset", 0))
        if not 0 < count <= 100:
            return vk_error(100, "One of the parameters specified was missing or invalid: count", params)
        wall = sorted((p for p in self.posts if p["owner_id"] == owner), key=lambda p: p["id"], reverse=True)
        page = wall[offset : offset + count]
        return self._extended(params, {"count": len(wall), "items": page}, page)

    def _get_comments(self, params: dict[str, str]) -> Response:
        key = (int(params["owner_id"]), int(params["post_id"]))
        if key in self.closed_comments:
            return vk_error(212, "Access to post comments denied", params)
        if not any(p["owner_id"] == key[0] and p["id"] == key[1] for p in self.posts):
            return vk_error(100, "One of the parameters specified was missing or invalid: post_id is undefined", params)
        count, offset = int(params.get("count", 10)), int(params.get("offset", 0))
        if not 0 < count <= 100:
            return vk_error(100, "One of the parameters specified was missing or invalid: count", params)
        everything = self.comments.get(key, [])
        top = sorted((c for c in everything if not c["parents_stack"]), key=lambda c: c["id"],
                     reverse=params.get("sort") == "desc")
        if start := int(params.get("start_comment_id") or 0):
            top = [c for c in top if (c["id"] >= start if params.get("sort") != "desc" else c["id"] <= start)]
        page = top[offset : offset + count]
        per_thread = min(int(params.get("thread_items_count") or 0), 10)
        items = []
        for c in page:
            replies = sorted((r for r in everything if r["parents_stack"] == [c["id"]]), key=lambda r: r["id"])
            items.append({**c, "thread": {"count": len(replies), "items": replies[:per_thread], "can_post": True,
                                          "show_reply_button": True, "groups_can_post": True}})
        body = {"count": len(everything), "current_level_count": len(top), "can_post": True,
                "show_reply_button": True, "groups_can_post": True, "items": items}
        return self._extended(params, body, items)
