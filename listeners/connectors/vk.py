"""VK (VKontakte): posts that mention the brand, and comments on the brand's community walls.

Why this shape
--------------
The VK API is ``https://api.vk.com/method/<name>`` with ``access_token`` and
``v`` (5.199). Parameters are sent as a POST form, which VK accepts like a
query string, so the token never appears in a logged URL. Methods:

- ``newsfeed.search`` (``q``, ``count=200``, ``extended=1``, ``start_time``,
  ``start_from``): public posts matching the query, newest first, answered
  ``{"response": {"items", "profiles", "groups", "count", "total_count",
  "next_from"}}``. Needs a user or service token.
- ``wall.get`` (``owner_id=-<group id>``, ``count=posts_per_wall``,
  ``extended=1``): the community's recent posts. Posts by visitors (``from_id``
  not the community) are mentions too; the community's own are not.
- ``wall.getComments`` (``owner_id``, ``post_id``, ``sort=asc``,
  ``count=100``, ``start_comment_id``, ``thread_items_count=10``,
  ``extended=1``) for each recent post with comments.

With ``extended=1`` the answer lists ``profiles`` (users) and ``groups``; an
item's ``from_id`` is a user when positive and a community when negative,
which gives the author (``screen_name``, name, followers/members).
``native_id`` is ``<owner_id>_<post_id>`` for posts and
``<owner_id>_<post_id>_c<comment_id>`` for comments; ``url`` is
``https://vk.com/wall<owner_id>_<post_id>`` (``?reply=<comment_id>`` for a
comment).

Errors come as HTTP 200 ``{"error": {"error_code", "error_msg"}}``, so every
call goes through :meth:`VkListener.call`: 5 (and 27/28, wrong token type)
-> :class:`AuthFailed`; 6 "Too many requests per second" -> a short backoff
and retry (calls are also spaced ``min_interval_s`` apart: 3 a second for a
user token); 29 "Rate limit reached" (a method's daily quota) and 9 (flood
control) -> :class:`RateLimited`; 15/18/30/212 (access denied, page deleted
or blocked, private, comments closed) -> that wall or post is skipped this
run with a logged reason; 100/113 -> :class:`QueryRejected` quoting VK.

Cursor
------
::

    {"search": {"high": 1763640000, "high_id": "-1_99", "next_from": "...", "top": ..., "top_id": ...},
     "walls": {"-123": {"post_high": 4512, "posts": {"4512": {"last": 90211, "reply": 90230}}}}}

``newsfeed.search`` pages newest first with ``next_from``: a sweep pages down
to the high-water mark (``high``/``high_id``, the newest post of the last
finished sweep) with ``start_time=high`` for the whole sweep; ``next_from``
and ``top``/``top_id`` record the sweep in progress; a finished sweep makes
``top`` the new mark. Comments are read oldest first from ``last`` (the newest
top-level comment read on that post), which VK returns again as the first
item of the page and is skipped; ``reply`` is the newest reply read, so only
newer replies in that comment's thread are taken. ``post_high`` is the newest
wall post id whose visitor post was taken. A checkpoint follows every page,
so a restart resumes without loss; repeats at the edges are dropped by the
runner's seen ids. Replies are read inline with their comment (VK returns up
to 10), and for the newest comment of a post; later replies to older
comments are not collected.

Deleted and empty content
-------------------------
VK leaves deleted comments and posts in lists as ``"deleted": 1`` tombstones:
they are skipped and counted (``skipped`` on the listener, logged). Items
with attachments but no text (photos, stickers) are skipped and counted as
``no text``. Items without an id or date, or with neither text nor
attachments, become :class:`Rejected`.

Example (``config/sources.yaml``)::

    - name: vk-acme
      kind: vk
      brand: acme
      access_token: {env: VK_TOKEN}
      query: acme
      group_ids: [123456]
      posts_per_wall: 20
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import SourceBase
from listeners.credentials import Credential
from listeners.errors import (
    AuthFailed,
    ContentGone,
    QueryRejected,
    RateLimited,
    SourceError,
    SourceUnavailable,
)
from listeners.http import PlatformClient
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = ["VkApiError", "VkListener", "VkSource", "mention_from_comment", "mention_from_post"]

log = logging.getLogger(__name__)

PLATFORM = "vk"
WEB = "https://vk.com"
FIELDS = "screen_name,verified,followers_count,members_count"
#: error 6 is retried this many times, waiting 0.5 s, 1 s, 2 s
RETRIES_TOO_FAST = 3
_AUTH = {5, 27, 28}
_DENIED = {15, 18, 30, 212}
_INVALID = {100, 113}


class VkApiError(SourceError):
    """An ``{"error": ...}`` answer, for codes without a better class."""


def error_for(source: str, method: str, code: Any, message: str) -> SourceError:
    """The SourceError a VK ``error_code`` means."""
    where = f"{source}: {method}"
    if code in _AUTH:
        return AuthFailed(f"{where}: VK refused the access token (error {code}: {message})")
    if code == 29:
        return RateLimited(f"{where}: VK's daily rate limit for this method is reached (error 29: {message}); "
                           "it lifts within a day", 3600.0)
    if code in (6, 9):
        return RateLimited(f"{where}: rate limited (error {code}: {message})", 1.0 if code == 6 else 60.0)
    if code in _DENIED:
        return ContentGone(f"{where}: access denied or content gone (error {code}: {message})")
    if code in _INVALID:
        return QueryRejected(f"{where}: VK rejected the request (error {code}: {message})")
    if code in (1, 10):
        return SourceUnavailable(f"{where}: VK internal error (error {code}: {message})")
    return VkApiError(f"{where}: VK error {code}: {message}")


class VkSource(SourceBase):
    modes = (Mode.POLL,)
    summary = "VK posts found by newsfeed.search and comments on community walls (VK API, user/service token)"

    kind: Literal["vk"]
    brand: str = Field(min_length=1, max_length=128)
    access_token: Credential
    #: newsfeed.search query (VK search syntax)
    query: str | None = Field(default=None, min_length=1, max_length=500)
    #: communities whose walls are watched (positive ids: 123456 for vk.com/club123456)
    group_ids: list[int] = Field(default_factory=list)
    #: recent posts per wall whose comments are read
    posts_per_wall: int = Field(default=20, ge=1, le=100)
    api_version: str = "5.199"
    base_url: str = "https://api.vk.com/method/"
    #: items per request; None takes the most VK allows (200 posts, 100 comments)
    page_size: int | None = Field(default=None, ge=1, le=200)
    #: pages per feed (the search, or one post's comments) per run
    max_pages: int = Field(default=10, ge=1)
    #: spacing between calls; VK allows 3 a second for user tokens, 20 for service tokens
    min_interval_s: float = Field(default=0.34, ge=0)

    @model_validator(mode="after")
    def _something(self) -> VkSource:
        if not self.query and not self.group_ids:
            raise ValueError("give a query (newsfeed.search) or group_ids (community walls)")
        if any(g <= 0 for g in self.group_ids):
            raise ValueError("group_ids are positive community ids (123456 for vk.com/club123456)")
        return self

    def listener(
        self, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time
    ) -> VkListener:
        token = self.access_token.resolve().value
        client = PlatformClient(self.name, self.base_url, max_wait_s=self.max_wait_s, sleep=sleep, clock=clock)
        return VkListener(self, client, token, sleep, clock)

    def probe(self) -> str:
        listener = self.listener()
        try:
            if self.query:
                found = listener.call("newsfeed.search", q=self.query, count=1)
                return (f"token accepted; newsfeed.search {self.query!r} finds "
                        f"{found.get('total_count', found.get('count', '?'))} posts")
            owner = -self.group_ids[0]
            wall = listener.call("wall.get", owner_id=owner, count=1)
            return f"token accepted; wall {owner} has {wall.get('count', '?')} posts"
        finally:
            listener.close()


class _People:
    """Authors from an extended answer's ``profiles`` and ``groups``."""

    def __init__(self, response: dict[str, Any]) -> None:
        self.users = {p["id"]: p for p in response.get("profiles") or [] if isinstance(p, dict) and "id" in p}
        self.groups = {g["id"]: g for g in response.get("groups") or [] if isinstance(g, dict) and "id" in g}

    def author(self, from_id: int) -> Author:
        if from_id > 0:
            p = self.users.get(from_id, {})
            name = " ".join(str(p[k]) for k in ("first_name", "last_name") if p.get(k)) or None
            return Author(handle=p.get("screen_name") or f"id{from_id}", display_name=name,
                          followers=max(0, int(p.get("followers_count") or 0)), verified=bool(p.get("verified")))
        g = self.groups.get(-from_id, {})
        return Author(handle=g.get("screen_name") or f"club{-from_id}", display_name=g.get("name"),
                      followers=max(0, int(g.get("members_count") or 0)), verified=bool(g.get("verified")))


class VkListener:
    def __init__(self, source: VkSource, client: PlatformClient, token: str,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.name = source.name
        self.source = source
        self.client = client
        self._token = token
        self._sleep, self._clock = sleep, clock
        self._last_call = float("-inf")
        #: tombstones, text-less items and unreadable walls/posts, by reason
        self.skipped: Counter[str] = Counter()

    def close(self) -> None:
        self.client.close()

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """One VK method; errors in the JSON become SourceErrors, error 6 is retried briefly."""
        form = {k: v for k, v in params.items() if v is not None}
        form |= {"access_token": self._token, "v": self.source.api_version}
        for attempt in range(RETRIES_TOO_FAST + 1):
            wait = self._last_call + self.source.min_interval_s - self._clock()
            if wait > 0:
                self._sleep(wait)
            self._last_call = self._clock()
            response = self.client.request("POST", method, data=form)
            try:
                body = response.json()
            except ValueError:
                raise SourceUnavailable(f"{self.name}: {method} answered non-JSON") from None
            error = body.get("error") if isinstance(body, dict) else None
            if isinstance(error, dict):
                code, message = error.get("error_code"), str(error.get("error_msg") or "")[:300]
                if code == 6 and attempt < RETRIES_TOO_FAST:
                    log.info("%s: %s: too many requests per second, retrying", self.name, method)
                    self._sleep(0.5 * 2**attempt)
                    continue
                raise error_for(self.name, method, code, message)
            result = body.get("response") if isinstance(body, dict) else None
            if not isinstance(result, dict):
                raise SourceUnavailable(f"{self.name}: {method} answered without a 'response' object")
            return result
        raise AssertionError("unreachable")

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        cursor = cursor or {}
        state: dict[str, Any] = {}
        if self.source.query:
            state["search"] = dict(cursor.get("search") or {})
        if self.source.group_ids:
            previous = cursor.get("walls") or {}
            state["walls"] = {str(-g): json.loads(json.dumps(previous.get(str(-g)) or {}))
                              for g in self.source.group_ids}
        if self.source.query:
            yield from self._search(state)
        for group in self.source.group_ids:
            try:
                yield from self._wall(-group, state)
            except ContentGone as exc:
                log.warning("%s: skipping wall %s this run: %s", self.name, -group, exc)
                self.skipped[f"wall {-group} unreadable"] += 1
        if self.skipped:
            log.info("%s: skipped %s", self.name, dict(self.skipped))

    def _checkpoint(self, state: dict[str, Any]) -> Checkpoint:
        return Checkpoint(json.loads(json.dumps(state)))

    # --- newsfeed.search, newest first ---------------------------------------
    def _search(self, state: dict[str, Any]) -> Iterator[ListenerOutput]:
        feed = state["search"]
        high, high_id = int(feed.get("high") or 0), feed.get("high_id")
        for _ in range(self.source.max_pages):
            start_from = feed.get("next_from")
            page = self.call("newsfeed.search", q=self.source.query, count=min(self.source.page_size or 200, 200),
                             extended=1, fields=FIELDS, start_time=high or None, start_from=start_from)
            items = page.get("items")
            if not isinstance(items, list):
                yield Rejected(json.dumps(page).encode(), f"{self.name}: newsfeed.search answered without 'items'")
                return
            people = _People(page)
            reached = False
            for n, item in enumerate(items):
                date, ident = _date(item), _post_key(item)
                if date is not None and ident is not None:
                    if not start_from and "top" not in feed:
                        feed["top"], feed["top_id"] = date, ident
                    if high and (ident == high_id or date < high):
                        reached = True
                        break
                if (out := self._post(item, people, f"newsfeed.search item {n}")) is not None:
                    yield out
            next_from = page.get("next_from")
            if reached or not items or not isinstance(next_from, str) or not next_from:
                if "top" in feed:
                    feed["high"], feed["high_id"] = feed.pop("top"), feed.pop("top_id")
                feed.pop("next_from", None)
                yield self._checkpoint(state)
                return
            feed["next_from"] = next_from
            yield self._checkpoint(state)

    # --- a community wall: visitor posts, then comments oldest first ---------
    def _wall(self, owner: int, state: dict[str, Any]) -> Iterator[ListenerOutput]:
        wall = state["walls"][str(owner)]
        page = self.call("wall.get", owner_id=owner, count=self.source.posts_per_wall, extended=1, fields=FIELDS)
        items = page.get("items")
        if not isinstance(items, list):
            yield Rejected(json.dumps(page).encode(), f"{self.name}: wall.get {owner} answered without 'items'")
            return
        people = _People(page)
        post_high = int(wall.get("post_high") or 0)
        recent: list[dict[str, Any]] = []
        for n, post in enumerate(items):
            post_id = post.get("id") if isinstance(post, dict) else None
            if not isinstance(post_id, int) or isinstance(post_id, bool):
                yield Rejected(json.dumps(post, ensure_ascii=False).encode(),
                               f"{self.name}: wall.get {owner} item {n}: post has no numeric 'id'")
                continue
            if post.get("deleted") or post.get("is_deleted"):
                self.skipped["post deleted"] += 1
                continue
            recent.append(post)
            if post.get("from_id", owner) != owner and post_id > post_high:
                if (out := self._post(post, people, f"wall.get {owner} item {n}")) is not None:
                    yield out
        wall["post_high"] = max([post_high] + [p["id"] for p in recent])
        ids = {str(p["id"]) for p in recent}
        wall["posts"] = {k: v for k, v in (wall.get("posts") or {}).items() if k in ids}
        yield self._checkpoint(state)
        for post in recent:
            comments = post.get("comments")
            if isinstance(comments, dict) and not comments.get("count"):
                continue
            try:
                yield from self._comments(owner, post["id"], wall, state)
            except ContentGone as exc:
                log.warning("%s: skipping comments of %s_%s this run: %s", self.name, owner, post["id"], exc)
                self.skipped["post comments unreadable"] += 1

    def _comments(
        self, owner: int, post_id: int, wall: dict[str, Any], state: dict[str, Any]
    ) -> Iterator[ListenerOutput]:
        size = min(self.source.page_size or 100, 100)
        for _ in range(self.source.max_pages):
            mark = wall["posts"].get(str(post_id)) or {}
            last, reply = int(mark.get("last") or 0), int(mark.get("reply") or 0)
            page = self.call("wall.getComments", owner_id=owner, post_id=post_id, sort="asc", count=size,
                             extended=1, fields=FIELDS, thread_items_count=10, start_comment_id=last or None)
            items = page.get("items")
            where = f"wall.getComments {owner}_{post_id}"
            if not isinstance(items, list):
                yield Rejected(json.dumps(page).encode(), f"{self.name}: {where} answered without 'items'")
                return
            people = _People(page)
            fresh, anchor_id = 0, last
            for n, item in enumerate(items):
                cid = item.get("id") if isinstance(item, dict) else None
                if not isinstance(cid, int) or isinstance(cid, bool):
                    yield Rejected(json.dumps(item, ensure_ascii=False).encode(),
                                   f"{self.name}: {where} item {n}: comment has no numeric 'id'")
                    continue
                anchor = cid <= anchor_id  # the comment the page starts from, read before
                if not anchor:
                    fresh += 1
                    last = max(last, cid)
                    if (out := self._comment(item, owner, post_id, people, f"{where} item {n}")) is not None:
                        yield out
                thread = item.get("thread") if isinstance(item.get("thread"), dict) else {}
                for m, answer in enumerate(thread.get("items") or []):
                    rid = answer.get("id") if isinstance(answer, dict) else None
                    if anchor and isinstance(rid, int) and rid <= reply:
                        continue  # read with an earlier page
                    if isinstance(rid, int):
                        reply = max(reply, rid)
                    out = self._comment(answer, owner, post_id, people, f"{where} item {n} reply {m}")
                    if out is not None:
                        yield out
            wall["posts"][str(post_id)] = {"last": last, "reply": reply}
            yield self._checkpoint(state)
            if not fresh or len(items) < size:
                return

    # --- items -> mentions ---------------------------------------------------
    def _post(self, item: Any, people: _People, where: str) -> Mention | Rejected | None:
        return self._build(item, where, lambda: mention_from_post(item, self.source.brand, people))

    def _comment(
        self, item: Any, owner: int, post_id: int, people: _People, where: str
    ) -> Mention | Rejected | None:
        brand = self.source.brand
        return self._build(item, where, lambda: mention_from_comment(item, owner, post_id, brand, people))

    def _build(self, item: Any, where: str, make: Callable[[], Mention]) -> Mention | Rejected | None:
        if isinstance(item, dict):
            if item.get("deleted") or item.get("is_deleted"):
                self.skipped["deleted"] += 1
                return None
            if isinstance(item.get("text"), str) and not item["text"].strip() and item.get("attachments"):
                self.skipped["no text (attachments only)"] += 1
                return None
        try:
            return make()
        except (ValueError, ValidationError, TypeError) as exc:
            return Rejected(json.dumps(item, ensure_ascii=False).encode(), f"{self.name}: {where}: {exc}")


def _date(item: Any) -> int | None:
    date = item.get("date") if isinstance(item, dict) else None
    return date if isinstance(date, int) and not isinstance(date, bool) else None


def _post_key(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    owner, post = item.get("owner_id"), item.get("id")
    return f"{owner}_{post}" if isinstance(owner, int) and isinstance(post, int) else None


def _common(item: Any) -> tuple[int, str, datetime]:
    if not isinstance(item, dict):
        raise ValueError(f"expected an object, got {type(item).__name__}")
    date = _date(item)
    if date is None:
        raise ValueError(f"'date' is not epoch seconds: {item.get('date')!r}")
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("no text and no attachments")
    from_id = item.get("from_id")
    if not isinstance(from_id, int) or from_id == 0:
        raise ValueError(f"'from_id' is not a user or community id: {from_id!r}")
    return from_id, text, datetime.fromtimestamp(date, timezone.utc)


def mention_from_post(item: Any, brand: str, people: _People) -> Mention:
    """A VK wall post (from newsfeed.search or wall.get) as a Mention; raises ValueError."""
    key = _post_key(item)
    if key is None:
        raise ValueError("post needs numeric 'owner_id' and 'id'")
    from_id, text, created = _common(item)
    return Mention(
        id=mention_id(PLATFORM, key), platform=PLATFORM, native_id=key, brand=brand, text=text,
        author=people.author(from_id), url=f"{WEB}/wall{key}", created_at=created, received_at=utcnow(), raw=item,
    )


def mention_from_comment(item: Any, owner: int, post_id: int, brand: str, people: _People) -> Mention:
    """A comment from wall.getComments as a Mention; raises ValueError."""
    cid = item.get("id") if isinstance(item, dict) else None
    if not isinstance(cid, int) or isinstance(cid, bool):
        raise ValueError("comment has no numeric 'id'")
    from_id, text, created = _common(item)
    native = f"{owner}_{post_id}_c{cid}"
    return Mention(
        id=mention_id(PLATFORM, native), platform=PLATFORM, native_id=native, brand=brand, text=text,
        author=people.author(from_id), url=f"{WEB}/wall{owner}_{post_id}?reply={cid}", created_at=created,
        received_at=utcnow(), raw=item,
    )
