"""A site serving RSS 2.0 and Atom feeds with ETag / Last-Modified, as web servers do."""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape

from tests.fakes.http import FakeHTTPServer, Request, Response

__all__ = ["FeedSite", "atom", "rss"]


def _rfc822(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def rss(title: str, items: list[dict]) -> bytes:
    """RSS 2.0: items need guid, title, description (HTML allowed), pubDate (datetime), link."""
    body = "".join(
        f"<item><guid isPermaLink=\"false\">{escape(i['guid'])}</guid><title>{escape(i.get('title', ''))}</title>"
        f"<link>{escape(i.get('link', ''))}</link><description>{escape(i.get('description', ''))}</description>"
        + (f"<pubDate>{_rfc822(i['published'])}</pubDate>" if i.get("published") else "")
        + (f"<author>{escape(i['author'])}</author>" if i.get("author") else "")
        + "</item>"
        for i in items
    )
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>https://blog.example/</link><description>d</description><language>en</language>{body}"
            "</channel></rss>").encode()


def atom(title: str, entries: list[dict]) -> bytes:
    """Atom 1.0: entries need id, title, content (HTML), updated (datetime), link, author."""
    body = "".join(
        f"<entry><id>{escape(e['id'])}</id><title>{escape(e.get('title', ''))}</title>"
        f"<link href=\"{escape(e.get('link', ''))}\"/><updated>{e['updated'].isoformat()}</updated>"
        f"<author><name>{escape(e.get('author', 'anon'))}</name></author>"
        f"<content type=\"html\">{escape(e.get('content', ''))}</content></entry>"
        for e in entries
    )
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" xml:lang="de">'
            f"<title>{escape(title)}</title><id>urn:feed</id><updated>2026-11-20T00:00:00Z</updated>{body}</feed>"
            ).encode()


class FeedSite(FakeHTTPServer):
    """``feeds[path] = bytes``; answers 304 to a matching ``If-None-Match``; ``fail[path]`` queues errors."""

    def __init__(self) -> None:
        super().__init__()
        self.feeds: dict[str, bytes] = {}
        self.fail: dict[str, list[Response]] = {}
        self.requests: list[Request] = []

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            if self.fail.get(request.path):
                return self.fail[request.path].pop(0)
        body = self.feeds.get(request.path)
        if body is None:
            return 404, {"Content-Type": "text/html"}, b"<h1>Not Found</h1>"
        etag = '"' + hashlib.sha1(body).hexdigest() + '"'
        if request.headers.get("if-none-match") == etag:
            return 304, {"ETag": etag}, b""
        modified = _rfc822(datetime(2026, 11, 20, tzinfo=timezone.utc))
        return 200, {"Content-Type": "application/rss+xml; charset=utf-8", "ETag": etag, "Last-Modified": modified}, body
