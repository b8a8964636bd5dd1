"""Receivers of ticket deliveries: a webhook endpoint, the Slack Web API and
the Zendesk Tickets API, each keeping what it accepted so tests can count.

Each behaves as the real service documents: the webhook receiver verifies
Mentionflow's signature and honours ``Idempotency-Key`` as the webhook
docs ask receivers to; Slack answers HTTP 200 with ``ok: false`` for API
errors and 429 with ``Retry-After`` when rate limited; Zendesk replays the
first response for a repeated ``Idempotency-Key``.
"""

from __future__ import annotations

import base64
import itertools
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from mentionflow.webhook_signing import SIGNATURE_HEADER, SignatureError, verify
from tests.fakes.http import FakeHTTPServer, Request, Response, json_response

__all__ = ["SlackApi", "WebhookReceiver", "ZendeskApi"]


class _Scripted(FakeHTTPServer):
    """``fail_next`` queues canned error responses served before normal ones."""

    def __init__(self, port: int | None = None) -> None:
        super().__init__(port)
        self.fail_next: list[Response] = []
        #: called with each accepted request before answering (tests block here)
        self.on_accept: Callable[[Request], None] | None = None
        self.requests: list[Request] = []

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
            if self.fail_next:
                return self.fail_next.pop(0)
        return self.serve(request)

    def serve(self, request: Request) -> Response:
        raise NotImplementedError

    def _accepted(self, request: Request) -> None:
        if self.on_accept is not None:
            self.on_accept(request)


class WebhookReceiver(_Scripted):
    def __init__(self, secret: str, port: int | None = None) -> None:
        super().__init__(port)
        self.secret = secret
        #: Idempotency-Key -> parsed body, first acceptance only
        self.accepted: dict[str, Any] = {}
        self.duplicates = 0

    def serve(self, request: Request) -> Response:
        try:
            verify(self.secret, request.headers.get(SIGNATURE_HEADER.lower()), request.body)
        except SignatureError as exc:
            return json_response(401, {"error": str(exc)})
        key = request.headers.get("idempotency-key")
        if not key:
            return json_response(400, {"error": "Idempotency-Key header required"})
        with self.lock:
            if key in self.accepted:
                self.duplicates += 1
                return json_response(200, {"status": "duplicate"})
            self.accepted[key] = request.json()
        self._accepted(request)
        return json_response(202, {"status": "accepted"}, {"X-Request-Id": f"req-{len(self.accepted)}"})


class SlackApi(_Scripted):
    """``chat.postMessage`` and ``conversations.history`` of the Slack Web API."""

    def __init__(self, token: str, channels: set[str], port: int | None = None) -> None:
        super().__init__(port)
        self.token = token
        self.channels = channels
        self.messages: list[dict[str, Any]] = []
        self._ts = itertools.count(1)

    @property
    def base_url(self) -> str:
        return self.url + "/api/"

    @staticmethod
    def _arguments(request: Request) -> dict[str, Any]:
        """Slack takes arguments as a query string, a form or (POST) JSON."""
        args: dict[str, Any] = dict(request.query)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json"):
            args.update(request.json() or {})
        elif ctype.startswith("application/x-www-form-urlencoded"):
            args.update({k: v[-1] for k, v in parse_qs(request.body.decode()).items()})
        return args

    def serve(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return json_response(200, {"ok": False, "error": "invalid_auth"})
        args = self._arguments(request)
        if request.path == "/api/chat.postMessage":
            if args.get("channel") not in self.channels:
                return json_response(200, {"ok": False, "error": "channel_not_found"})
            if not args.get("text") and not args.get("blocks"):
                return json_response(200, {"ok": False, "error": "no_text"})
            msg = {"type": "message", "ts": f"{time.time():.0f}.{next(self._ts):06d}", "text": args.get("text"),
                   "blocks": args.get("blocks"), "metadata": args.get("metadata"), "channel": args["channel"]}
            with self.lock:
                self.messages.append(msg)
            self._accepted(request)
            return json_response(200, {"ok": True, "channel": args["channel"], "ts": msg["ts"], "message": msg})
        if request.path == "/api/conversations.history":
            channel = args.get("channel")
            if channel not in self.channels:
                return json_response(200, {"ok": False, "error": "channel_not_found"})
            oldest = float(args.get("oldest") or 0)
            with_meta = str(args.get("include_all_metadata")) in ("1", "true", "True")
            found = [
                {k: v for k, v in m.items() if k != "metadata" or with_meta}
                for m in reversed(self.messages) if m["channel"] == channel and float(m["ts"]) >= oldest
            ]
            return json_response(200, {"ok": True, "messages": found, "has_more": False,
                                       "response_metadata": {"next_cursor": ""}})
        return json_response(404, {"ok": False, "error": "unknown_method"})


class ZendeskApi(_Scripted):
    """``POST /api/v2/tickets.json`` with API-token basic auth and Idempotency-Key."""

    def __init__(self, email: str, token: str, port: int | None = None) -> None:
        super().__init__(port)
        self.auth = "Basic " + base64.b64encode(f"{email}/token:{token}".encode()).decode()
        self.tickets: list[dict[str, Any]] = []
        self._responses: dict[str, tuple[bytes, Response]] = {}

    def serve(self, request: Request) -> Response:
        if request.headers.get("authorization") != self.auth:
            return json_response(401, {"error": "Couldn't authenticate you"})
        if request.method != "POST" or request.path != "/api/v2/tickets.json":
            return json_response(404, {"error": "InvalidEndpoint"})
        key = request.headers.get("idempotency-key")
        with self.lock:
            if key and key in self._responses:
                body, (status, headers, payload) = self._responses[key]
                if body != request.body:
                    return json_response(400, {"error": "IdempotentRequestError",
                                               "description": "request body differs from the first request"})
                return status, {**headers, "x-idempotency-lookup": "hit"}, payload
            ticket = (request.json() or {}).get("ticket") or {}
            if not ticket.get("comment", {}).get("body"):
                return json_response(422, {"error": "RecordInvalid", "details": {"base": [{"description": "comment"}]}})
            record = {**ticket, "id": len(self.tickets) + 1001, "status": "new"}
            self.tickets.append(record)
            response = json_response(201, {"ticket": record}, {"x-idempotency-lookup": "miss"})
            if key:
                self._responses[key] = (request.body, response)
        self._accepted(request)
        return response
