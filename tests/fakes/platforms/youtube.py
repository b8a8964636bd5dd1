"""The YouTube Data API v3 as documented, for ``commentThreads.list`` and ``search.list``.

- The API key comes as ``key=`` or the ``X-Goog-Api-Key`` header; a wrong one
  is 400 with reason ``keyInvalid``.
- ``GET /youtube/v3/commentThreads`` with ``allThreadsRelatedToChannelId`` or
  ``videoId``, ``order=time`` (newest first), ``maxResults`` (1-100) and
  ``pageToken``; a video with comments off is 403 ``commentsDisabled``, an
  unknown one 404 ``videoNotFound``.
- ``GET /youtube/v3/search`` with ``q``, ``type=video``, ``order=date``,
  ``publishedAfter`` (inclusive), ``maxResults`` (0-50) and ``pageToken``.
- Spent quota is 403 ``quotaExceeded``.
Errors use Google's body: ``{"error": {"code", "message", "errors": [{"message", "domain", "reason"}]}}``.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from tests.fakes.http import FakeHTTPServer, Request, Response, json_response

__all__ = ["YoutubeApi", "google_error", "iso"]


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def google_error(code: int, reason: str, message: str, domain: str = "youtube.commentThread") -> Response:
    return json_response(code, {"error": {"code": code, "message": message,
                                          "errors": [{"message": message, "domain": domain, "reason": reason}]}})


class YoutubeApi(FakeHTTPServer):
    def __init__(self, key: str = "AIza-test-key", port: int | None = None) -> None:
        super().__init__(port)
        self.key = key
        #: video id -> channel id
        self.videos: dict[str, str] = {}
        self.comments_disabled: set[str] = set()
        self.threads: list[dict[str, Any]] = []
        #: search results ({"kind": "youtube#searchResult", ...}) with a "_q" text to match
        self.results: list[dict[str, Any]] = []
        self.requests: list[Request] = []
        self.fail_next: list[Response] = []
        self.intercept: Callable[[Request], Response | None] | None = None
        self.quota_spent = False
        self._ids = itertools.count(1)

    # --- data -------------------------------------------------------------
    def add_video(self, video_id: str, channel_id: str) -> None:
        self.videos[video_id] = channel_id

    def add_thread(self, video_id: str, text: str, at: datetime, *, author: str = "@viewer",
                   replies: list[tuple[str, datetime]] = ()) -> dict[str, Any]:
        tid = f"Ugx{next(self._ids):05d}AaBbCc"
        channel = self.videos[video_id]

        def comment(cid: str, body: str, when: datetime, who: str, parent: str | None = None) -> dict[str, Any]:
            snippet = {"channelId": channel, "videoId": video_id, "textDisplay": body, "textOriginal": body,
                       "authorDisplayName": who, "authorProfileImageUrl": "https://yt3.ggpht.com/x",
                       "authorChannelUrl": f"http://www.youtube.com/{who}", "authorChannelId": {"value": f"UC{who[1:]:_<22}"[:24]},
                       "canRate": True, "viewerRating": "none", "likeCount": 0, "publishedAt": iso(when), "updatedAt": iso(when)}
            if parent:
                snippet["parentId"] = parent
            return {"kind": "youtube#comment", "etag": "e", "id": cid, "snippet": snippet}

        thread = {
            "kind": "youtube#commentThread", "etag": "e", "id": tid,
            "snippet": {"channelId": channel, "videoId": video_id, "topLevelComment": comment(tid, text, at, author),
                        "canReply": True, "totalReplyCount": len(replies), "isPublic": True},
        }
        if replies:
            thread["replies"] = {"comments": [comment(f"{tid}.r{n}", body, when, "@replier", tid)
                                              for n, (body, when) in enumerate(replies)]}
        self.threads.append(thread)
        return thread

    def add_video_result(self, video_id: str, title: str, at: datetime, description: str = "",
                         channel: str = "Some Channel") -> dict[str, Any]:
        result = {"kind": "youtube#searchResult", "etag": "e", "id": {"kind": "youtube#video", "videoId": video_id},
                  "snippet": {"publishedAt": iso(at), "channelId": "UCsomechannel0000000000a", "title": title,
                              "description": description, "channelTitle": channel, "liveBroadcastContent": "none",
                              "publishTime": iso(at),
                              "thumbnails": {"default": {"url": f"https://i.ytimg.com/vi/{video_id}/default.jpg"}}}}
        self.results.append(result)
        return result

    # --- HTTP -------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            if self.fail_next:
                return self.fail_next.pop(0)
        if self.intercept is not None and (answer := self.intercept(request)) is not None:
            return answer
        key = request.query.get("key") or request.headers.get("x-goog-api-key")
        if key != self.key:
            return google_error(400, "keyInvalid", "API key not valid. Please pass a valid API key.", "usageLimits")
        if self.quota_spent:
            return google_error(403, "quotaExceeded", "The request cannot be completed because you have "
                                "exceeded your <a href=\"/youtube/v3/getting-started#quota\">quota</a>.", "youtube.quota")
        q = request.query
        if request.path == "/youtube/v3/commentThreads":
            return self._threads(q)
        if request.path == "/youtube/v3/search":
            return self._search(q)
        return json_response(404, {"error": {"code": 404, "message": "Not Found", "errors": [
            {"message": "Not Found", "domain": "global", "reason": "notFound"}]}})

    def _threads(self, q: dict[str, str]) -> Response:
        if "snippet" not in q.get("part", "").split(","):
            return google_error(400, "invalidPart", "part must include snippet")
        if video := q.get("videoId"):
            if video not in self.videos:
                return google_error(404, "videoNotFound", "The video identified by the <code><a href=\"/youtube/v3/"
                                    "docs/commentThreads/list#videoId\">videoId</a></code> parameter could not be found.")
            if video in self.comments_disabled:
                return google_error(403, "commentsDisabled", "The video identified by the <code>videoId</code> "
                                    "parameter has disabled comments.")
            pool = [t for t in self.threads if t["snippet"]["videoId"] == video]
        elif channel := q.get("allThreadsRelatedToChannelId"):
            pool = [t for t in self.threads if t["snippet"]["channelId"] == channel
                    and t["snippet"]["videoId"] not in self.comments_disabled]
        else:
            return google_error(400, "missingRequiredParameter", "No filter selected. Expected one of: "
                                "allThreadsRelatedToChannelId, id, videoId")
        if q.get("order") != "time":
            return google_error(400, "invalidParameter", "this fake only orders by time")
        ordered = sorted(pool, key=lambda t: t["snippet"]["topLevelComment"]["snippet"]["publishedAt"], reverse=True)
        items = ordered if "replies" in q.get("part", "") else [{k: v for k, v in t.items() if k != "replies"} for t in ordered]
        return self._page("youtube#commentThreadListResponse", items, q, 100)

    def _search(self, q: dict[str, str]) -> Response:
        words = q.get("q", "").strip('"').lower()
        pool = [r for r in self.results
                if words in (r["snippet"]["title"] + " " + r["snippet"]["description"]).lower()]
        if after := q.get("publishedAfter"):
            pool = [r for r in pool if r["snippet"]["publishedAt"] >= after]
        ordered = sorted(pool, key=lambda r: r["snippet"]["publishedAt"], reverse=True)
        return self._page("youtube#searchListResponse", ordered, q, 50, extra={"regionCode": "US"})

    @staticmethod
    def _page(kind: str, items: list[dict[str, Any]], q: dict[str, str], most: int,
              extra: dict[str, Any] | None = None) -> Response:
        size = int(q.get("maxResults", 5 if kind == "youtube#searchListResponse" else 20))
        if not 1 <= size <= most:
            return google_error(400, "invalidValue", f"maxResults must be 1-{most}")
        start = int(base64.b64decode(q["pageToken"]).decode()) if q.get("pageToken") else 0
        page = items[start : start + size]
        body: dict[str, Any] = {"kind": kind, "etag": "e", **(extra or {}),
                                "pageInfo": {"totalResults": len(items), "resultsPerPage": size}, "items": page}
        if start + size < len(items):
            body["nextPageToken"] = base64.b64encode(str(start + size).encode()).decode()
        return json_response(200, body)
