"""Reddit: keyword search and a subreddit's new posts and comments, through the OAuth API.

Why this shape
--------------
Reddit serves its API only to OAuth clients with a descriptive
``User-Agent`` (``<platform>:<app id>:<version> (by /u/<name>)``; generic
agents are throttled or refused). A *script* or *web* app's credentials buy
a bearer token at ``POST https://www.reddit.com/api/v1/access_token`` (HTTP
basic auth ``client_id:client_secret``): ``grant_type=client_credentials``
for app-only access, or ``grant_type=password`` with ``username`` and
``password`` for a script app acting as its owner. A wrong username or
password is answered HTTP 200 ``{"error": "invalid_grant"}``. The token
lives ``expires_in`` seconds (a day); it is renewed a minute before that,
and once more when an API call answers 401; a second 401 is
:class:`AuthFailed`.

API calls go to ``https://oauth.reddit.com`` with
``Authorization: bearer <token>`` and ``raw_json=1`` (no HTML escaping):

- ``GET /search?q=..&sort=new&type=link&limit=100`` (site-wide), or
  ``GET /r/<sub>/search?..&restrict_sr=1`` once per subreddit when
  ``subreddits`` are listed;
- ``GET /r/<sub>/new`` (posts) and ``GET /r/<sub>/comments`` (comments):
  everything there is taken, they are meant for the brand's own subreddits.

Each answers a ``Listing``: ``{"kind": "Listing", "data": {"after",
"before", "children": [{"kind": "t3" | "t1", "data": {...}}]}}``, newest
first, paged with ``after=<fullname of the last item>``.

Cursor
------
One entry per feed (``search``, ``search:r/<sub>``, ``posts:r/<sub>``,
``comments:r/<sub>``)::

    {"feeds": {"posts:r/acme": {"high": "t3_b", "high_created": 1763640000.0,
                                "after": "t3_x", "top": "t3_c", "top_created": 1763650000.0}}}

A *sweep* pages from the newest item down to ``high`` (the newest fullname a
finished sweep saw) or to anything created before ``high_created`` (in case
that item was deleted since). While it runs, ``after`` is where to carry on
and ``top`` is the newest item of this sweep; a checkpoint follows every
page, so an interrupted sweep resumes at ``after``. When the sweep reaches
``high`` (or the listing ends) ``top`` becomes the new ``high``. Items posted
during a sweep are above its ``top`` and are picked up by the next one, so
nothing is lost; items at the boundary may be read twice and are dropped by
the runner's seen ids. Search indexes posts with a delay, so a search sweep
stops only ``SEARCH_LAG_S`` (10 minutes) below ``high_created``; the overlap
is dropped by the seen ids too. ``max_pages`` bounds one run per feed; a longer sweep
continues next run. Reddit listings end after about 1000 items, so the first
sweep of a busy feed covers at most that much history.

Rate limits
-----------
Every answer carries ``X-Ratelimit-Used``, ``X-Ratelimit-Remaining`` and
``X-Ratelimit-Reset`` (seconds until the window resets).
:class:`~listeners.http.PlatformClient` waits for the reset when
``Remaining`` reaches 0 and honours 429s; waits over ``max_wait_s`` raise
:class:`RateLimited`.

Deleted content
---------------
Reddit keeps deleted and removed items in listings as tombstones: body or
selftext ``[deleted]``/``[removed]``, author ``[deleted]``, or a post's
``removed_by_category`` set. They are skipped and counted (``skipped`` on
the listener, logged at the end of a poll), not dead-lettered. Items that are
not a t3/t1 thing, lack a fullname, time or permalink become
:class:`Rejected`. A subreddit that is private, quarantined or banned (403 or
404 with a ``reason``) is skipped for this run with a logged reason.

Example (``config/sources.yaml``)::

    - name: reddit-acme
      kind: reddit
      brand: acme
      client_id: Xy12AbCdEfGh          # not a secret; {env: ...} works too
      client_secret: {env: REDDIT_CLIENT_SECRET}
      user_agent: "python:com.acme.listening:v1 (by /u/acme_support)"
      query: '"acme" OR "acme parcel"'
      what: [search]
    - name: reddit-acme-community
      kind: reddit
      brand: acme
      client_id: Xy12AbCdEfGh
      client_secret: {airflow_conn: reddit_acme}
      username: acme_support           # script app: password grant
      password: {env: REDDIT_PASSWORD}
      user_agent: "python:com.acme.listening:v1 (by /u/acme_support)"
      subreddits: [acme, AcmeSupport]
      what: [posts, comments]
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timezone
from typing import Any, Literal

import httpx
from pydantic import Field, ValidationError, field_validator, model_validator

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import SourceBase
from listeners.credentials import Credential
from listeners.errors import AuthFailed, ContentGone, SourceUnavailable
from listeners.http import PlatformClient
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = ["RedditListener", "RedditSource", "mention_from_thing"]

log = logging.getLogger(__name__)

PLATFORM = "reddit"
WEB = "https://www.reddit.com"
#: renew the token this long before Reddit says it expires
TOKEN_MARGIN_S = 60.0
#: search results appear a while after posting; search sweeps go this far below the high-water mark
SEARCH_LAG_S = 600.0
_TOMBSTONES = {"[deleted]", "[removed]"}

Feed = tuple[str, str, dict[str, Any]]  # key, path, query


class RedditSource(SourceBase):
    modes = (Mode.POLL,)
    summary = "Reddit search and subreddit posts/comments (OAuth API, app-only or script app)"

    kind: Literal["reddit"]
    brand: str = Field(min_length=1, max_length=128)
    #: the app id shown under the app's name; not secret, so a plain string is allowed
    client_id: str | Credential
    client_secret: Credential
    #: a script app's owner: switches to the password grant
    username: str | None = Field(default=None, min_length=1)
    password: Credential | None = None
    user_agent: str = Field(default="python:mentionflow.listener:v1 (social listening)", min_length=8)
    #: Reddit search syntax; required when ``what`` includes ``search``
    query: str | None = Field(default=None, min_length=1, max_length=512)
    #: names without ``r/``; they also restrict ``search`` to those subreddits
    subreddits: list[str] = Field(default_factory=list)
    what: list[Literal["search", "posts", "comments"]] = Field(default_factory=lambda: ["search"], min_length=1)
    base_url: str = "https://oauth.reddit.com"
    #: where tokens are bought
    auth_url: str = WEB
    #: items per request (Reddit allows at most 100)
    page_size: int = Field(default=100, ge=1, le=100)
    #: pages per feed per run; an unfinished sweep continues next run
    max_pages: int = Field(default=10, ge=1)

    @field_validator("subreddits")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [v.strip().removeprefix("/").removeprefix("r/") for v in value]
        for name in names:
            if not name.replace("_", "").isalnum() or not 2 <= len(name) <= 21:
                raise ValueError(f"{name!r} is not a subreddit name (2-21 letters, digits or _)")
        return names

    @model_validator(mode="after")
    def _consistent(self) -> RedditSource:
        if "search" in self.what and not self.query:
            raise ValueError("'query' is required to search")
        if {"posts", "comments"} & set(self.what) and not self.subreddits:
            raise ValueError("'subreddits' are required for posts and comments")
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username' and 'password' (password grant) or neither (app-only)")
        return self

    def feeds(self) -> list[Feed]:
        base = {"limit": self.page_size, "raw_json": 1}
        search = {**base, "q": self.query, "sort": "new", "type": "link"}
        feeds: list[Feed] = []
        if "search" in self.what:
            if self.subreddits:
                restricted = {**search, "restrict_sr": 1}
                feeds += [(f"search:r/{s}", f"/r/{s}/search", restricted) for s in self.subreddits]
            else:
                feeds.append(("search", "/search", search))
        for what, endpoint in (("posts", "new"), ("comments", "comments")):
            if what in self.what:
                feeds += [(f"{what}:r/{s}", f"/r/{s}/{endpoint}", dict(base)) for s in self.subreddits]
        return feeds

    def listener(
        self, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time
    ) -> RedditListener:
        client_id = self.client_id.resolve().value if isinstance(self.client_id, Credential) else self.client_id
        tokens = _Tokens(
            self, client_id, self.client_secret.resolve().value,
            self.password.resolve().value if self.password else None, sleep, clock,
        )
        client = _RedditClient(
            self.name, self.base_url, headers={"User-Agent": self.user_agent}, auth=_BearerAuth(tokens),
            max_wait_s=self.max_wait_s, sleep=sleep, clock=clock,
        )
        return RedditListener(self, client, tokens)

    def probe(self) -> str:
        listener = self.listener()
        try:
            key, path, query = self.feeds()[0]
            listing = listener.client.get_json(path, {**query, "limit": 1})
            children = (listing.get("data") or {}).get("children") or [] if isinstance(listing, dict) else []
            grant = f"as u/{self.username}" if self.username else "app-only"
            if not children:
                return f"token accepted ({grant}); {key} is empty"
            data = children[0].get("data") or {}
            when = _created(data)
            return (f"token accepted ({grant}); newest in {key}: {data.get('name')} by u/{data.get('author')}"
                    f" at {when.isoformat() if when else 'unknown time'}")
        finally:
            listener.close()


class _Tokens:
    """Buys and renews the bearer token."""

    def __init__(self, source: RedditSource, client_id: str, secret: str, password: str | None,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> None:
        self.source = source
        self._password = password
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self.issued = 0
        self.client = PlatformClient(
            f"{source.name} (token)", source.auth_url, headers={"User-Agent": source.user_agent},
            auth=httpx.BasicAuth(client_id, secret), max_wait_s=source.max_wait_s, sleep=sleep, clock=clock,
        )

    def current(self) -> str:
        if self._token is None or self._clock() >= self._expires_at - TOKEN_MARGIN_S:
            return self.renew()
        return self._token

    def renew(self) -> str:
        form = {"grant_type": "client_credentials"}
        if self.source.username and self._password:
            form = {"grant_type": "password", "username": self.source.username, "password": self._password}
        name = self.source.name
        try:
            response = self.client.request("POST", "/api/v1/access_token", data=form)
        except AuthFailed:
            raise AuthFailed(f"{name}: Reddit refused the app credentials (client_id and "
                             f"client_secret from {self.source.client_secret.describe()})") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise SourceUnavailable(f"{name}: the token endpoint answered {response.status_code} without JSON")
        if "error" in body:
            hint = ""
            if body["error"] == "invalid_grant":
                hint = " (wrong username/password, or the account uses two-factor)"
            raise AuthFailed(f"{name}: Reddit refused the token request: {body['error']}{hint}")
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise SourceUnavailable(f"{name}: the token endpoint answered without an access_token")
        self._token = token
        self._expires_at = self._clock() + float(body.get("expires_in") or 3600)
        self.issued += 1
        return token


class _BearerAuth(httpx.Auth):
    """Sends the token; on a 401 buys a fresh one and tries once more."""

    def __init__(self, tokens: _Tokens) -> None:
        self.tokens = tokens

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"bearer {self.tokens.current()}"
        response = yield request
        if response.status_code == 401:
            log.info("%s: token refused (401), renewing it once", self.tokens.source.name)
            request.headers["Authorization"] = f"bearer {self.tokens.renew()}"
            yield request


class _RedditClient(PlatformClient):
    """A 403/404 with a ``reason`` (private, quarantined, banned) is about the subreddit, not the token."""

    def raise_for_error(self, response: httpx.Response, url: str) -> None:
        reason = None
        if response.status_code in (403, 404):
            try:
                body = response.json()
                reason = body.get("reason") if isinstance(body, dict) else None
            except ValueError:
                pass
        if reason:
            path = httpx.URL(url).path or url
            raise ContentGone(f"{self.source}: {path} cannot be read (HTTP {response.status_code}, {reason})")
        super().raise_for_error(response, url)


class RedditListener:
    def __init__(self, source: RedditSource, client: PlatformClient, tokens: _Tokens) -> None:
        self.name = source.name
        self.source = source
        self.client = client
        self.tokens = tokens
        #: tombstones and unreadable subreddits skipped, by reason
        self.skipped: Counter[str] = Counter()

    def close(self) -> None:
        self.client.close()
        self.tokens.client.close()

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        feeds = self.source.feeds()
        previous = (cursor or {}).get("feeds") or {}
        state = {key: dict(previous.get(key) or {}) for key, _, _ in feeds}
        for key, path, query in feeds:
            try:
                yield from self._sweep(key, path, query, state)
            except ContentGone as exc:
                log.warning("%s: skipping %s this run: %s", self.name, key, exc)
                self.skipped[f"{key} unreadable"] += 1
        if self.skipped:
            log.info("%s: skipped %s", self.name, dict(self.skipped))

    def _sweep(
        self, key: str, path: str, query: dict[str, Any], state: dict[str, dict[str, Any]]
    ) -> Iterator[ListenerOutput]:
        feed = state[key]
        high, high_created = feed.get("high"), float(feed.get("high_created") or 0)
        lag = SEARCH_LAG_S if key.startswith("search") else 0.0
        for _ in range(self.source.max_pages):
            after = feed.get("after")
            page = self.client.get_json(path, {**query, "after": after} if after else query)
            children, next_after = _listing(page)
            if children is None:
                yield Rejected(json.dumps(page).encode(), f"{self.name}: {path} did not answer a Listing")
                return
            reached = False
            for n, child in enumerate(children):
                data = child.get("data") if isinstance(child, dict) else None
                name = data.get("name") if isinstance(data, dict) else None
                created = _created(data) if isinstance(data, dict) else None
                if isinstance(name, str) and created is not None:
                    if not after and "top" not in feed:  # the newest item of a new sweep
                        feed["top"], feed["top_created"] = name, created.timestamp()
                    if high and ((name == high and not lag) or created.timestamp() < high_created - lag):
                        reached = True
                        break
                item = self._item(child, f"{path} item {n}")
                if item is not None:
                    yield item
            if reached or not next_after or not children:
                if "top" in feed:
                    feed["high"], feed["high_created"] = feed.pop("top"), feed.pop("top_created")
                feed.pop("after", None)
                yield Checkpoint({"feeds": _copy(state)})
                return
            feed["after"] = next_after
            yield Checkpoint({"feeds": _copy(state)})

    def _item(self, child: Any, where: str) -> Mention | Rejected | None:
        raw = json.dumps(child, ensure_ascii=False).encode()
        if tombstone := _tombstone(child):
            self.skipped[tombstone] += 1
            return None
        try:
            return mention_from_thing(child, self.source.brand)
        except (ValueError, ValidationError) as exc:
            data = child.get("data") if isinstance(child, dict) else None
            name = data.get("name") if isinstance(data, dict) else None
            key = mention_id(PLATFORM, name).encode() if isinstance(name, str) else None
            return Rejected(raw, f"{self.name}: {where}: {exc}", key)


def _copy(state: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {k: dict(v) for k, v in state.items()}


def _listing(page: Any) -> tuple[list[Any] | None, str | None]:
    if not isinstance(page, dict) or page.get("kind") != "Listing" or not isinstance(page.get("data"), dict):
        return None, None
    children = page["data"].get("children")
    after = page["data"].get("after")
    return (children if isinstance(children, list) else None), (after if isinstance(after, str) else None)


def _created(data: dict[str, Any]) -> datetime | None:
    value = data.get("created_utc")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(float(value), timezone.utc)


def _tombstone(child: Any) -> str | None:
    """Why a listing item is a deleted/removed placeholder, or None."""
    if not isinstance(child, dict) or not isinstance(child.get("data"), dict):
        return None
    data = child["data"]
    if data.get("author") == "[deleted]":
        return "author deleted"
    text = data.get("body") if child.get("kind") == "t1" else data.get("selftext")
    if isinstance(text, str) and text.strip() in _TOMBSTONES:
        return f"{'comment' if child.get('kind') == 't1' else 'post'} {text.strip()[1:-1]}"
    if child.get("kind") == "t3" and data.get("removed_by_category"):
        return "post removed"
    return None


def mention_from_thing(thing: Any, brand: str) -> Mention:
    """A Reddit post (t3) or comment (t1) as a Mention; raises ValueError if it is not one."""
    if not isinstance(thing, dict):
        raise ValueError(f"expected a thing object, got {type(thing).__name__}")
    kind, data = thing.get("kind"), thing.get("data")
    if kind not in ("t1", "t3") or not isinstance(data, dict):
        raise ValueError(f"expected a t3 (post) or t1 (comment) thing, got kind {kind!r}")
    name = data.get("name")
    if not isinstance(name, str) or not name.startswith(f"{kind}_"):
        raise ValueError(f"missing or wrong fullname 'name': {name!r}")
    created = _created(data)
    if created is None:
        raise ValueError(f"'created_utc' is not epoch seconds: {data.get('created_utc')!r}")
    permalink = data.get("permalink")
    if not isinstance(permalink, str) or not permalink.startswith("/"):
        raise ValueError(f"missing 'permalink': {permalink!r}")
    if kind == "t3":
        title, body = data.get("title"), data.get("selftext") or ""
        if not isinstance(title, str) or not isinstance(body, str):
            raise ValueError("post 'title'/'selftext' are not text")
        text = f"{title}\n\n{body}" if body.strip() else title
    else:
        text = data.get("body")
        if not isinstance(text, str):
            raise ValueError("comment has no 'body'")
    author = data.get("author")
    if not isinstance(author, str) or not author:
        raise ValueError(f"missing 'author': {author!r}")
    return Mention(
        id=mention_id(PLATFORM, name),
        platform=PLATFORM,
        native_id=name,
        brand=brand,
        text=text,
        author=Author(handle=author),
        url=WEB + permalink,
        created_at=created,
        received_at=utcnow(),
        raw=thing,
    )
