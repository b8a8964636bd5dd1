"""A local Telegram Bot API: ``/bot<token>/<method>``, getUpdates with offsets and long polling, webhooks.

Answers as Telegram documents: ``{"ok": true, "result": ...}`` or ``{"ok":
false, "error_code", "description"[, "parameters": {"retry_after"}]}``.
``getUpdates`` confirms (forgets) updates below ``offset``, filters by
``allowed_updates``, waits up to ``timeout`` seconds for one to arrive, and
answers 409 while a webhook is set.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.http import FakeHTTPServer, Request, Response, json_response

__all__ = ["FakeBotApi", "bot_error"]

_PATH = re.compile(r"^/bot([^/]+)/(\w+)$")


def bot_error(status: int, description: str, **parameters: Any) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json_response(status, body)


class FakeBotApi(FakeHTTPServer):
    def __init__(self, token: str, port: int | None = None) -> None:
        super().__init__(port)
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.raw_paths: list[str] = []
        self.fail_next: list[Response] = []
        self.fail_when: Callable[[str, dict[str, Any]], Response | None] | None = None
        self.webhook: dict[str, Any] | None = None
        self.me = {"id": 7001, "is_bot": True, "first_name": "Acme Listener", "username": "acme_listen_bot",
                   "can_join_groups": True, "can_read_all_group_messages": True, "supports_inline_queries": False}
        self._ids = itertools.count(500_001)
        self._arrived = threading.Condition(self.lock)

    def push(self, kind: str = "message", **message: Any) -> dict[str, Any]:
        """Queue an update carrying ``message`` as ``kind``; returns it."""
        with self._arrived:
            update = {"update_id": next(self._ids), kind: message}
            self.updates.append(update)
            self._arrived.notify_all()
        return update

    def push_raw(self, update: dict[str, Any]) -> None:
        with self._arrived:
            self.updates.append(update)
            self._arrived.notify_all()

    @staticmethod
    def _args(request: Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("application/json") and request.body:
            args.update(request.json())
        elif ctype.startswith("application/x-www-form-urlencoded"):
            args.update({k: v[-1] for k, v in parse_qs(request.body.decode()).items()})
        return args

    def handle(self, request: Request) -> Response:
        match = _PATH.match(request.path)
        args = self._args(request)
        with self.lock:
            self.raw_paths.append(request.path)
            self.requests.append((match.group(2) if match else request.path, args))
            if self.fail_next:
                return self.fail_next.pop(0)
        if match is None:
            return bot_error(404, "Not Found")
        if self.fail_when is not None and (canned := self.fail_when(match.group(2), args)) is not None:
            return canned
        if match.group(1) != self.token:
            return bot_error(401, "Unauthorized")
        method = match.group(2)
        if method == "getMe":
            return json_response(200, {"ok": True, "result": self.me})
        if method == "getUpdates":
            return self._get_updates(args)
        if method == "setWebhook":
            self.webhook = {"url": args.get("url"), "secret_token": args.get("secret_token"),
                            "allowed_updates": args.get("allowed_updates")}
            return json_response(200, {"ok": True, "result": True, "description": "Webhook was set"})
        if method == "deleteWebhook":
            self.webhook = None
            return json_response(200, {"ok": True, "result": True, "description": "Webhook was deleted"})
        if method == "getWebhookInfo":
            return json_response(200, {"ok": True, "result": {
                "url": (self.webhook or {}).get("url") or "", "has_custom_certificate": False,
                "pending_update_count": len(self.updates)}})
        return bot_error(404, "Not Found: method not found")

    def _get_updates(self, args: dict[str, Any]) -> Response:
        if self.webhook:
            return bot_error(409, "Conflict: can't use getUpdates method while webhook is active; "
                                  "use deleteWebhook to delete the webhook first")
        allowed = args.get("allowed_updates")
        if isinstance(allowed, str):
            allowed = json.loads(allowed)
        offset, limit, timeout = int(args.get("offset") or 0), int(args.get("limit") or 100), float(args.get("timeout") or 0)

        def pending() -> list[dict[str, Any]]:
            return [u for u in self.updates if u.get("update_id", 0) >= offset
                    and (not allowed or any(k in u for k in allowed) or not any(k != "update_id" for k in u))]

        with self._arrived:
            if offset:
                self.updates = [u for u in self.updates if u.get("update_id", offset) >= offset]
            if not pending() and timeout > 0:
                self._arrived.wait_for(lambda: bool(pending()), timeout=timeout)
            found = pending()[:limit]
        return json_response(200, {"ok": True, "result": found})
