"""Facebook Page listening: posts on the page, comments on them, posts that tag it.

Example ``config/sources.yaml`` entry::

    - name: acme-facebook
      kind: facebook
      brand: acme
      page_id: "104233422345678"
      access_token: {env: ACME_FB_PAGE_TOKEN}     # page access token
      app_secret: {env: ACME_FB_APP_SECRET}       # appsecret_proof + webhook signatures
      verify_token: {env: ACME_FB_VERIFY_TOKEN}   # optional: receive webhooks at /intake/acme-facebook
      every: 15m
      comment_window: 3d

Polling (Graph API v21.0, see ``graph.py`` for auth, errors and rate limits):

- ``GET /{page-id}/feed?fields=id,message,created_time,from,permalink_url&since=<unix>``
  (posts on the page, newest first, ``{"data": [...], "paging": {"cursors":
  {"before", "after"}, "next": "<url>"}}``);
- ``GET /{post-id}/comments?fields=...&filter=stream&order=reverse_chronological``
  for every post created within ``comment_window`` (new comments on recent posts);
- ``GET /{page-id}/tagged`` (posts by others that tag the page).

Paging follows ``paging.next``; the cursor is the per-edge high-water mark of
``created_time`` plus the sweep in progress (its ``after`` / paging parameters),
see ``sweep.py``. Posts without a ``message`` (a photo or a shared link with no
text; the Graph API omits the field) are skipped and counted, as are the page's
own posts and replies unless ``include_own``; an object deleted between two
reads answers error 100/33 and is skipped with a logged reason.

Push: Meta webhooks for the ``page`` object, ``feed`` and ``mention`` fields
(``webhooks.py`` verifies them). ``feed`` changes with ``item`` post, status,
photo, video or share and comment, ``verb`` add or edited, become mentions;
``remove``, reactions and likes do not. A ``mention`` change without the text is
completed with one Graph read of the post or comment. The mention's native id is
the Graph object id in both modes (``<page id>_<post id>`` for posts,
``<post id>_<comment id>`` for comments), so a post that arrives by webhook and
again by polling, or a delivery Meta retries, is one mention. An edited post
keeps its id, so the runner's seen ids drop the edit. ``raw`` is the Graph
item when polled and the webhook change (``field``, ``value``) when pushed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import Field

from listeners.base import Rejected
from listeners.connectors.meta.graph import Lookup, MetaSource, graph_time
from listeners.connectors.meta.sweep import Edge, GraphSweep, Task
from listeners.connectors.meta.webhooks import change_reject, lookup_item
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = ["FacebookListener", "FacebookSource", "facebook_mention"]

FIELDS = "id,message,created_time,from,permalink_url"
#: feed webhook ``item`` values that are posts with text
POST_ITEMS = frozenset({"post", "status", "photo", "video", "share"})


def facebook_mention(item: Mapping[str, Any], brand: str, raw: Mapping[str, Any] | None = None) -> Mention:
    """A Graph post or comment (``id``, ``message``, ``created_time``, ``from``, ``permalink_url``)."""
    native = item.get("id")
    if not isinstance(native, str) or not native:
        raise ValueError("item has no id")
    sender = item.get("from") if isinstance(item.get("from"), dict) else {}
    handle = sender.get("id") or "unknown"  # user details are hidden without Page Public Content Access
    return Mention(
        id=mention_id("facebook", native),
        platform="facebook",
        native_id=native,
        brand=brand,
        text=item.get("message"),  # type: ignore[arg-type]  # strict model: a non-string is a ValidationError
        author=Author(handle=str(handle), display_name=sender.get("name")),
        url=item.get("permalink_url"),
        created_at=graph_time(item.get("created_time")),
        received_at=utcnow(),
        raw=dict(raw if raw is not None else item),
    )


class FacebookSource(MetaSource):
    summary = "Facebook Page feed, comments and tags (Graph API; webhooks optional)"
    webhook_object = "page"

    kind: Literal["facebook"]
    page_id: str = Field(pattern=r"^[0-9]{1,32}$")

    def listener(self, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> FacebookListener:
        return FacebookListener(
            self.name, self.graph(sleep=sleep, clock=clock), page_id=self.page_id, brand=self.brand,
            backfill=self.backfill, comment_window=self.comment_window, page_size=self.page_size,
            include_own=self.include_own, clock=clock,
        )

    def probe(self) -> str:
        with self.graph() as graph:
            page = graph.get(self.page_id, {"fields": "id,name,followers_count"})
        followers = page.get("followers_count")
        return (f"page {page.get('name')!r} ({page.get('id')}) is readable with this token"
                + (f"; {followers} followers" if followers is not None else ""))

    def webhook_items(self, entry: Mapping[str, Any], change: Mapping[str, Any],
                      lookup: Lookup) -> list[Mention | Rejected]:
        field, value = change.get("field"), change.get("value")
        if not isinstance(value, dict):
            return [change_reject(self.name, change, "change has no value object")]
        if value.get("verb", "add") not in ("add", "edited"):
            return []  # remove, hide, unhide: nothing new to read
        item_type = value.get("item")
        object_id = value.get("comment_id") if item_type == "comment" else value.get("post_id")
        if field == "feed" and (item_type == "comment" or item_type in POST_ITEMS):
            post = value.get("post") if isinstance(value.get("post"), dict) and item_type != "comment" else {}
            item = {
                "id": object_id,
                "message": value.get("message"),
                "created_time": value.get("created_time") or entry.get("time"),
                "from": value.get("from"),
                "permalink_url": value.get("permalink_url") or post.get("permalink_url"),
            }
        elif field == "mention" and isinstance(object_id, str):
            if "message" in value:
                item = {"id": object_id, "message": value.get("message"), "from": value.get("from") or {
                    "id": value.get("sender_id"), "name": value.get("sender_name")},
                    "created_time": value.get("created_time") or entry.get("time")}
            else:
                found = lookup_item(self.name, change, lookup, object_id, {"fields": FIELDS})
                if not isinstance(found, dict):
                    return found
                item = found
        else:
            return []  # reactions, likes, fields this source does not read
        if not self.include_own and isinstance(item.get("from"), dict) and item["from"].get("id") == self.page_id:
            return []
        if item.get("message") is None:
            return []  # a photo or link without text
        try:
            return [facebook_mention(item, self.brand, raw=change)]
        except ValueError as exc:
            return [change_reject(self.name, change, str(exc))]


class FacebookListener(GraphSweep):
    edges = {
        "feed": Edge("feed", "{id}/feed", FIELDS, "created_time", takes_since=True, comments="comments"),
        "tagged": Edge("tagged", "{id}/tagged", FIELDS, "created_time", takes_since=True),
        "comments": Edge("comments", "{id}/comments", FIELDS, "created_time",
                         params={"filter": "stream", "order": "reverse_chronological"}),
    }

    def __init__(self, name: str, graph: Any, *, page_id: str, **kwargs: Any) -> None:
        super().__init__(name, graph, **kwargs)
        self.page_id = page_id

    def roots(self) -> list[Task]:
        return [{"edge": "feed", "id": self.page_id}, {"edge": "tagged", "id": self.page_id}]

    def map_item(self, edge: Edge, task: Task, item: dict[str, Any]) -> Mention | None:
        sender = item.get("from")
        if not self.include_own and isinstance(sender, dict) and sender.get("id") == self.page_id:
            self.skipped["by the page itself"] += 1
            return None
        if "message" not in item:
            self.skipped["without text"] += 1
            return None
        return facebook_mention(item, self.brand)
