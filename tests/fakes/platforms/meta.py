"""A local Graph API v21.0: page feeds, comments, tags, Instagram media, errors as Meta sends them.

Objects live in ``objects`` (``GET /{id}``) and edges in ``edges[(id, edge)]``
(``GET /{id}/{edge}``). Edges answer newest first (comments: oldest first
unless ``order=reverse_chronological``), honour ``since``/``limit``/``after``,
project ``fields``, and page with ``{"data", "paging": {"cursors": {"before",
"after"}, "next"}}`` where ``next`` is a full URL carrying the access token, as
the real API does. Tokens come as ``Authorization: Bearer`` or ``access_token``;
with an app secret the fake insists on a valid ``appsecret_proof``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from tests.fakes.http import FakeHTTPServer, Request, Response, json_response

__all__ = ["FakeGraphApi", "graph_error", "signed"]

VERSION = "/v21.0"
_MENTIONED = re.compile(r"^(mentioned_media|mentioned_comment)\.(?:media_id|comment_id)\((\w+)\)\{(.*)\}$")


def graph_error(status: int, code: int, message: str, *, subcode: int | None = None,
                kind: str = "OAuthException", headers: dict[str, str] | None = None) -> Response:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbCdEf123"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return json_response(status, {"error": error}, headers)


def signed(body: bytes, app_secret: str) -> dict[str, str]:
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def _top_fields(spec: str) -> list[str]:
    names, depth, current = [], 0, ""
    for ch in spec:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        elif ch == "," and depth == 0:
            names.append(current)
            current = ""
            continue
        if depth == 0 and ch != "}":
            current += ch
    names.append(current)
    return [n.split(".")[0] for n in names if n]


def _time(item: dict[str, Any]) -> float:
    try:
        return datetime.fromisoformat(item.get("created_time") or item.get("timestamp")).timestamp()
    except (TypeError, ValueError):
        return 0.0  # malformed items sort last and pass every filter


class FakeGraphApi(FakeHTTPServer):
    def __init__(self, token: str, app_secret: str | None = None, port: int | None = None) -> None:
        super().__init__(port)
        self.token, self.app_secret = token, app_secret
        self.objects: dict[str, dict[str, Any]] = {}
        self.edges: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.requests: list[Request] = []
        #: canned responses served before anything else, one per request
        self.fail_next: list[Response] = []
        #: a response for requests it matches (e.g. one page failing until cleared)
        self.fail_when: Callable[[Request], Response | None] | None = None
        #: headers added to every successful answer (usage headers)
        self.extra_headers: dict[str, str] = {}
        self.expired = False

    @property
    def base_url(self) -> str:
        return self.url + VERSION

    def add(self, owner: str, edge: str, *items: dict[str, Any]) -> None:
        self.edges.setdefault((owner, edge), []).extend(items)
        for item in items:
            if isinstance(item, dict) and "id" in item:
                self.objects.setdefault(item["id"], item)

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            if self.fail_next:
                return self.fail_next.pop(0)
        if self.fail_when is not None and (canned := self.fail_when(request)) is not None:
            return canned
        refused = self._check_auth(request)
        if refused is not None:
            return refused
        parts = request.path.removeprefix(VERSION).strip("/").split("/")
        if len(parts) == 1:
            return self._object(parts[0], request.query)
        if len(parts) == 2:
            return self._edge(parts[0], parts[1], request)
        return graph_error(400, 2500, "Unknown path components", kind="OAuthException")

    def _check_auth(self, request: Request) -> Response | None:
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else request.query.get("access_token")
        if not token:
            return graph_error(400, 2500, "An active access token must be used to query information about the current user.")
        if token != self.token:
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.expired:
            return graph_error(400, 190, "Error validating access token: Session has expired on Friday, 20-Nov-26 "
                               "12:00:00 PST. The current time is Saturday, 21-Nov-26 12:00:00 PST.", subcode=463)
        if self.app_secret:
            proof = request.query.get("appsecret_proof")
            if not proof:
                return graph_error(400, 100, "API calls from the server require an appsecret_proof argument",
                                   kind="GraphMethodException")
            expected = hmac.new(self.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
            if proof != expected:
                return graph_error(400, 100, "Invalid appsecret_proof provided in the API argument",
                                   kind="GraphMethodException")
        return None

    @staticmethod
    def _missing(object_id: str) -> Response:
        return graph_error(400, 100, f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot be "
                           "loaded due to missing permissions, or does not support this operation.",
                           subcode=33, kind="GraphMethodException")

    def _ok(self, body: Any) -> Response:
        return json_response(200, body, dict(self.extra_headers))

    def _object(self, object_id: str, query: dict[str, str]) -> Response:
        if object_id not in self.objects:
            return self._missing(object_id)
        fields = query.get("fields", "id")
        if m := _MENTIONED.match(fields):
            key, wanted, spec = m.groups()
            if wanted not in self.objects:
                return self._missing(wanted)
            return self._ok({key: self._project(self.objects[wanted], spec), "id": object_id})
        return self._ok(self._project(self.objects[object_id], fields))

    def _project(self, item: dict[str, Any], spec: str) -> dict[str, Any]:
        names = _top_fields(spec)
        return {k: v for k, v in item.items() if k in names} if isinstance(item, dict) else item

    def _edge(self, owner: str, edge: str, request: Request) -> Response:
        q = request.query
        if owner not in self.objects and (owner, edge) not in self.edges:
            return self._missing(owner)
        unknown = set(_top_fields(q.get("fields", "id"))) - {
            "id", "message", "created_time", "from", "permalink_url", "caption", "timestamp", "permalink",
            "comments_count", "text", "username"}
        if unknown:
            return graph_error(400, 100, f"(#100) Tried accessing nonexisting field ({sorted(unknown)[0]})",
                               kind="OAuthException")
        items = list(self.edges.get((owner, edge), []))
        chronological = edge == "comments" and q.get("order") != "reverse_chronological"
        items.sort(key=lambda i: _time(i) if isinstance(i, dict) else 0, reverse=not chronological)
        if "since" in q:
            items = [i for i in items if not isinstance(i, dict) or not _time(i) or _time(i) >= int(q["since"])]
        start = int(base64.b64decode(q["after"]).decode()) if q.get("after") else 0
        limit = int(q.get("limit", 25))
        page = items[start : start + limit]
        body: dict[str, Any] = {"data": [self._project(i, q.get("fields", "id")) for i in page], "paging": {
            "cursors": {"before": base64.b64encode(str(start).encode()).decode(),
                        "after": base64.b64encode(str(start + len(page)).encode()).decode()}}}
        if start + limit < len(items):
            query = {k: v for k, v in q.items() if k != "appsecret_proof"}
            query.update(access_token=self.token, after=body["paging"]["cursors"]["after"])
            body["paging"]["next"] = f"{self.url}{request.path}?{urlencode(query)}"
        return self._ok(body)

    @staticmethod
    def usage_header(minutes: int, pct: int = 100) -> dict[str, str]:
        return {"X-Business-Use-Case-Usage": json.dumps({"112233": [{
            "type": "pages", "call_count": pct, "total_cputime": 10, "total_time": 12,
            "estimated_time_to_regain_access": minutes}]})}
