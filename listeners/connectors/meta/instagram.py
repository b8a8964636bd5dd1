"""Instagram business account listening: comments on its media, media that tag or @mention it.

Example ``config/sources.yaml`` entry::

    - name: acme-instagram
      kind: instagram
      brand: acme
      ig_user_id: "17841400000000000"             # the Instagram business account id
      access_token: {env: ACME_FB_PAGE_TOKEN}     # token of the Page the account is linked to
      app_secret: {env: ACME_FB_APP_SECRET}
      verify_token: {env: ACME_IG_VERIFY_TOKEN}   # optional: webhooks at /intake/acme-instagram
      every: 15m

Polling (Graph API v21.0, see ``graph.py`` for auth, errors and rate limits):

- ``GET /{ig-user-id}/media?fields=id,caption,timestamp,permalink,comments_count``
  (the account's own media, newest first, time-based ``since``): each media
  item created within ``comment_window`` that has comments gets
- ``GET /{media-id}/comments?fields=id,text,timestamp,username,from`` (every page
  is read: the order of this edge is not documented, so it never stops early);
- ``GET /{ig-user-id}/tags?fields=id,caption,timestamp,permalink,username``
  (media by others that tag the account, newest first).

The cursor is the per-edge high-water ``timestamp`` plus the sweep in progress
(``after`` and the remaining tasks), see ``sweep.py``. The account's own media
and its own replies are not mentions and are skipped (``include_own`` publishes
them), as is media without a caption; each skip is counted. A media object
deleted while it is read answers error 100/33 and is skipped with a logged reason.
Comments have no permalink: their url is the media's.

Push: Meta webhooks for the ``instagram`` object (``webhooks.py`` verifies them):
``comments`` changes carry the comment (its time is the delivery's ``entry.time``);
``mentions`` changes carry only ``media_id`` / ``comment_id``, so the receiver
reads the object once with ``GET /{ig-user-id}?fields=mentioned_media.media_id(<id>){...}``
or ``mentioned_comment.comment_id(<id>){...}``. Native ids are the Graph media
or comment ids in both modes, so polling and webhooks agree on one mention.
``raw`` is the Graph item when polled and the webhook change when pushed (for
``mentions``, with the object read added as ``object``).
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

__all__ = ["InstagramListener", "InstagramSource", "instagram_mention"]

MEDIA_FIELDS = "id,caption,timestamp,permalink,username"
COMMENT_FIELDS = "id,text,timestamp,username,from"


def instagram_mention(item: Mapping[str, Any], brand: str, *, url: str | None = None,
                      raw: Mapping[str, Any] | None = None) -> Mention:
    """A media item (``caption``, ``permalink``) or a comment (``text``; ``url`` is its media's)."""
    native = item.get("id")
    if not isinstance(native, str) or not native:
        raise ValueError("item has no id")
    sender = item.get("from") if isinstance(item.get("from"), dict) else {}
    handle = item.get("username") or sender.get("username") or sender.get("id") or "unknown"
    return Mention(
        id=mention_id("instagram", native),
        platform="instagram",
        native_id=native,
        brand=brand,
        text=item.get("caption") if "caption" in item else item.get("text"),  # type: ignore[arg-type]
        author=Author(handle=str(handle)),
        url=item.get("permalink") or url,
        created_at=graph_time(item.get("timestamp")),
        received_at=utcnow(),
        raw=dict(raw if raw is not None else item),
    )


def _entry_time(entry: Mapping[str, Any]) -> Any:
    when = entry.get("time")
    return when / 1000 if isinstance(when, int | float) and when > 1e11 else when  # some deliveries use ms


class InstagramSource(MetaSource):
    summary = "Instagram business account comments, tags and @mentions (Graph API; webhooks optional)"
    webhook_object = "instagram"

    kind: Literal["instagram"]
    ig_user_id: str = Field(pattern=r"^[0-9]{1,32}$")

    def listener(self, *, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> InstagramListener:
        return InstagramListener(
            self.name, self.graph(sleep=sleep, clock=clock), ig_user_id=self.ig_user_id, brand=self.brand,
            backfill=self.backfill, comment_window=self.comment_window, page_size=self.page_size,
            include_own=self.include_own, clock=clock,
        )

    def probe(self) -> str:
        with self.graph() as graph:
            user = graph.get(self.ig_user_id, {"fields": "id,username,followers_count,media_count"})
        return (f"Instagram account @{user.get('username')} ({user.get('id')}) is readable with this token: "
                f"{user.get('media_count')} media, {user.get('followers_count')} followers")

    def webhook_items(self, entry: Mapping[str, Any], change: Mapping[str, Any],
                      lookup: Lookup) -> list[Mention | Rejected]:
        field, value = change.get("field"), change.get("value")
        if not isinstance(value, dict):
            return [change_reject(self.name, change, "change has no value object")]
        url = None
        if field in ("comments", "live_comments"):
            item = {**value, "timestamp": value.get("timestamp") or _entry_time(entry)}
        elif field == "mentions":
            comment, media = value.get("comment_id"), value.get("media_id")
            if isinstance(comment, str) and comment:
                key = "mentioned_comment"
                params = f"{key}.comment_id({comment}){{{COMMENT_FIELDS},media{{id,permalink}}}}"
            elif isinstance(media, str) and media:
                key = "mentioned_media"
                params = f"{key}.media_id({media}){{{MEDIA_FIELDS}}}"
            else:
                return [change_reject(self.name, change, "mentions change names neither media_id nor comment_id")]
            found = lookup_item(self.name, change, lookup, self.ig_user_id, {"fields": params})
            if not isinstance(found, dict):
                return found
            item = found.get(key) if isinstance(found.get(key), dict) else {}
            if not item:
                return [change_reject(self.name, change, f"{key} read answered without the object")]
            media_of = item.get("media")
            url = media_of.get("permalink") if isinstance(media_of, dict) else None
        else:
            return []
        sender = item.get("from")
        if not self.include_own and isinstance(sender, dict) and sender.get("id") == self.ig_user_id:
            return []
        try:
            return [instagram_mention(item, self.brand, url=url, raw=change if field != "mentions" else
                                      {**change, "object": item})]
        except ValueError as exc:
            return [change_reject(self.name, change, str(exc))]


class InstagramListener(GraphSweep):
    edges = {
        "media": Edge("media", "{id}/media", "id,caption,timestamp,permalink,comments_count", "timestamp",
                      takes_since=True, comments="comments"),
        "tags": Edge("tags", "{id}/tags", MEDIA_FIELDS, "timestamp"),
        "comments": Edge("comments", "{id}/comments", COMMENT_FIELDS, "timestamp", newest_first=False),
    }

    def __init__(self, name: str, graph: Any, *, ig_user_id: str, **kwargs: Any) -> None:
        super().__init__(name, graph, **kwargs)
        self.ig_user_id = ig_user_id

    def roots(self) -> list[Task]:
        return [{"edge": "media", "id": self.ig_user_id}, {"edge": "tags", "id": self.ig_user_id}]

    def wants_comments(self, item: dict[str, Any]) -> bool:
        count = item.get("comments_count")
        return not isinstance(count, int) or count > 0

    def map_item(self, edge: Edge, task: Task, item: dict[str, Any]) -> Mention | None:
        sender = item.get("from")
        own = edge.name == "media" or (isinstance(sender, dict) and sender.get("id") == self.ig_user_id)
        if own and not self.include_own:
            self.skipped["by the account itself"] += 1
            return None
        if item.get("caption" if edge.name != "comments" else "text") is None:
            self.skipped["without text"] += 1
            return None
        return instagram_mention(item, self.brand, url=task.get("url"))
