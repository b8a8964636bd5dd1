"""Telegram groups, supergroups and channels a bot is a member of (Bot API).

Example ``config/sources.yaml`` entries::

    - name: acme-telegram
      kind: telegram
      brand: acme
      token: {env: ACME_TELEGRAM_BOT_TOKEN}
      chats: ["@acme_community", -1001234567890]   # optional: only these chats
      keywords: [acme, "acme parcels"]            # optional: only messages naming the brand
      every: 5m

    - name: acme-telegram-push                    # the same, delivered by webhook
      kind: telegram
      brand: acme
      token: {env: ACME_TELEGRAM_BOT_TOKEN}
      mode: push
      secret_token: {env: ACME_TELEGRAM_WEBHOOK_SECRET}

A bot sees what is posted in the groups it is in (with privacy mode off, see
``@BotFather /setprivacy``) and in channels where it is an administrator.

Calls are ``POST https://api.telegram.org/bot<token>/<method>`` with a JSON
body; answers are ``{"ok": true, "result": ...}`` or ``{"ok": false,
"error_code", "description", "parameters": {"retry_after": N}}``. The token is
part of the URL, so it is added below httpx (by the transport, after its
request log) and no message here ever contains a URL.

Poll mode: ``getUpdates`` with ``offset`` = last ``update_id`` + 1 (the cursor,
``{"offset": N}``; asking with an offset also confirms, and so deletes, the
updates before it on Telegram's side, which keeps them for 24 hours),
``timeout`` (long polling, ``poll_timeout_s``), ``limit`` and
``allowed_updates`` = message, edited_message, channel_post,
edited_channel_post. A checkpoint follows every batch; a run ends on a batch
shorter than ``limit``. Errors: 401 -> :class:`AuthFailed`; 409 (a webhook is
set, or another poller uses the token) -> :class:`QueryRejected` saying how to
fix it; 429 with ``parameters.retry_after`` is waited out or raises
:class:`RateLimited`; 5xx and connection errors are retried.

Push mode: ``set_webhook(url)`` calls ``setWebhook`` with a ``secret_token``;
Telegram then POSTs one Update per request to ``/intake/<name>`` with header
``X-Telegram-Bot-Api-Secret-Token`` (compared in constant time; missing or
wrong -> :class:`SignatureRejected`). Telegram re-delivers an update until it
gets a 2xx; a repeated ``update_id`` is answered with nothing queued, and the
intake publisher's seen ids catch the rest. The two modes exclude each other
on Telegram's side, hence ``mode``: a push source's poll does nothing, a poll
source refuses pushes.

Mapping: native id ``<chat id>:<message id>``; author ``from.username`` or
``from.id`` (channel posts: the chat's title); url ``https://t.me/<chat
username>/<message id>`` when the chat has a username. An edit keeps the
message's id, so the runner's seen ids drop it. Messages without text or
caption (stickers, photos without caption, service messages), chats outside
``chats`` and messages without a ``keywords`` term are skipped and counted;
an update that lacks its chat, id or date is Rejected.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Literal

import httpx
from pydantic import Field, model_validator

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import PushReceiver, SignatureRejected, SourceBase
from listeners.credentials import Credential
from listeners.errors import AuthFailed, QueryRejected, RateLimited, SourceError, SourceUnavailable
from listeners.http import PlatformClient, wait_from_headers
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = ["BotApi", "TelegramListener", "TelegramReceiver", "TelegramSource", "UpdateReader", "telegram_mention"]

log = logging.getLogger(__name__)

TELEGRAM_URL = "https://api.telegram.org"
ALLOWED_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post")
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_RECENT_MAX = 10_000


class _TokenPath(httpx.BaseTransport):
    """Turns ``<base>/<method>`` into ``<base>/bot<token>/<method>`` on the way out."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        head, _, method = request.url.path.rpartition("/")
        url = request.url.copy_with(path=f"{head}/bot{self._token}/{method}")
        return self._inner.handle_request(httpx.Request(
            request.method, url, headers=request.headers, stream=request.stream, extensions=request.extensions))

    def close(self) -> None:
        self._inner.close()


class BotApi(PlatformClient):
    """Bot API methods; reads ``ok``/``error_code``/``retry_after`` rather than only the status."""

    def __init__(self, source: str, base_url: str, token: str, *, timeout_s: float = 30.0, **kwargs: Any) -> None:
        super().__init__(source, base_url, timeout_s=timeout_s, **kwargs)
        self.http.close()
        self.http = httpx.Client(base_url=base_url.rstrip("/") + "/", timeout=timeout_s, transport=_TokenPath(token))

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        failures = 0
        while True:
            try:
                response = self.http.post(method, json=dict(params or {}))
            except httpx.TransportError as exc:
                failures += 1
                self.back_off(failures, f"{method}: {type(exc).__name__}")
                continue
            try:
                body = response.json()
            except ValueError:
                body = None
            body = body if isinstance(body, dict) else {}
            if response.status_code == 200 and body.get("ok") is True:
                return body.get("result")
            code = body.get("error_code") if isinstance(body.get("error_code"), int) else response.status_code
            description = str(body.get("description") or response.reason_phrase)[:300]
            if code == 429:
                failures += 1
                self._wait(failures, method, description, body, response)
                continue
            if code >= 500 or response.status_code >= 500:
                failures += 1
                self.back_off(failures, f"{method}: HTTP {code}: {description}")
                continue
            raise self._failure(method, code, description)

    def _wait(self, failures: int, method: str, description: str, body: dict[str, Any],
              response: httpx.Response) -> None:
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        retry = parameters.get("retry_after")
        wait = float(retry) if isinstance(retry, int | float) else wait_from_headers(response.headers, self._clock())
        wait = min(60.0, 2.0 ** (failures - 1)) if wait is None else wait
        if wait > self.max_wait_s:
            raise RateLimited(f"{self.source}: {method} rate limited by Telegram for {wait:.0f}s ({description})", wait)
        if failures > self.max_retries:
            raise RateLimited(f"{self.source}: {method} still rate limited after {self.max_retries} retries", wait)
        log.warning("%s: %s rate limited (%s); waiting %.1fs", self.source, method, description, wait)
        self._sleep(wait)

    def _failure(self, method: str, code: int, description: str) -> SourceError:
        where = f"{self.source}: {method}"
        if code == 401:
            return AuthFailed(f"{where}: Telegram refused the bot token (401 {description}); "
                              "check it with @BotFather (/token) or issue a new one")
        if code == 404:
            return AuthFailed(f"{where}: Telegram answered 404 {description}: the bot token is malformed or revoked")
        if code == 403:
            return AuthFailed(f"{where}: forbidden (403 {description})")
        if code == 409 and "webhook" in description.lower():
            return QueryRejected(f"{where}: 409 {description}. A webhook is set for this bot and Telegram does not "
                                 "answer getUpdates while it is: call deleteWebhook (POST .../deleteWebhook) to poll, "
                                 "or configure this source with mode: push")
        if code == 409:
            return QueryRejected(f"{where}: 409 {description}. Another process polls with this bot token; "
                                 "only one getUpdates consumer can run per bot")
        return QueryRejected(f"{where}: rejected ({code}): {description}")


def telegram_mention(update: Mapping[str, Any], brand: str) -> Mention:
    """An Update carrying a message, edited_message, channel_post or edited_channel_post."""
    kind = next((k for k in ALLOWED_UPDATES if k in update), None)
    message = update.get(kind) if kind else None
    if not isinstance(message, dict):
        raise ValueError(f"update carries none of {', '.join(ALLOWED_UPDATES)}")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise ValueError("message has no chat id")
    if not isinstance(message.get("message_id"), int) or not isinstance(message.get("date"), int):
        raise ValueError("message has no message_id or date")
    sender = message.get("from")
    if isinstance(sender, dict) and sender.get("id") is not None:
        handle = sender.get("username") or str(sender["id"])
        display = " ".join(str(p) for p in (sender.get("first_name"), sender.get("last_name")) if p) or None
    else:  # channel posts are signed by the channel
        handle = chat.get("title") or chat.get("username") or str(chat["id"])
        display = chat.get("title")
    native = f"{chat['id']}:{message['message_id']}"
    username = chat.get("username")
    return Mention(
        id=mention_id("telegram", native),
        platform="telegram",
        native_id=native,
        brand=brand,
        text=message.get("text") if "text" in message else message.get("caption"),  # type: ignore[arg-type]
        author=Author(handle=str(handle), display_name=display),
        url=f"https://t.me/{username}/{message['message_id']}" if username else None,
        created_at=datetime.fromtimestamp(message["date"], timezone.utc),
        received_at=utcnow(),
        raw=dict(update),
    )


class UpdateReader:
    """One Update -> Mention, Rejected, or None (skipped, counted in ``skipped``)."""

    def __init__(self, name: str, brand: str, chats: Sequence[str | int] = (), keywords: Sequence[str] = ()) -> None:
        self.name, self.brand = name, brand
        self.chat_ids = {str(c) for c in chats if str(c).lstrip("-").isdigit()}
        self.chat_names = {str(c).lstrip("@").casefold() for c in chats if not str(c).lstrip("-").isdigit()}
        self.keywords = [k.casefold() for k in keywords]
        self.skipped: Counter[str] = Counter()

    def read(self, update: Any) -> Mention | Rejected | None:
        raw = json.dumps(update, ensure_ascii=False).encode()
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return Rejected(raw, f"{self.name}: update has no update_id")
        kind = next((k for k in ALLOWED_UPDATES if k in update), None)
        if kind is None:
            self.skipped["of other update types"] += 1
            return None
        message = update[kind]
        chat = message.get("chat") if isinstance(message, dict) else None
        if isinstance(chat, dict) and (self.chat_ids or self.chat_names) and not (
                str(chat.get("id")) in self.chat_ids or str(chat.get("username") or "").casefold() in self.chat_names):
            self.skipped["outside the chat filter"] += 1
            return None
        text = (message.get("text") or message.get("caption")) if isinstance(message, dict) else None
        if isinstance(message, dict) and isinstance(chat, dict) and text is None:
            self.skipped["without text or caption"] += 1
            return None
        if self.keywords and isinstance(text, str) and not any(k in text.casefold() for k in self.keywords):
            self.skipped["without a keyword"] += 1
            return None
        try:
            return telegram_mention(update, self.brand)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            return Rejected(raw, f"{self.name}: update {update['update_id']} ({kind}): {exc}")


class TelegramSource(SourceBase):
    modes = (Mode.POLL, Mode.PUSH)
    summary = "Telegram groups and channels a bot is in (Bot API getUpdates or webhook)"

    kind: Literal["telegram"]
    brand: str = Field(min_length=1, max_length=128)
    token: Credential
    #: poll (getUpdates) or push (setWebhook); Telegram allows only one per bot
    mode: Literal["poll", "push"] = "poll"
    #: sent by Telegram with every webhook request; needed for mode push
    secret_token: Credential | None = None
    #: only these chats (ids like -1001234567890 or @usernames); empty: every chat the bot is in
    chats: list[int | str] = Field(default_factory=list)
    #: only messages containing one of these (case-insensitive); empty: every message
    keywords: list[str] = Field(default_factory=list)
    #: long-polling wait of the last getUpdates of a run
    poll_timeout_s: int = Field(default=10, ge=0, le=50)
    limit: int = Field(default=100, ge=1, le=100)
    base_url: str = TELEGRAM_URL

    @model_validator(mode="after")
    def _push_needs_secret(self) -> TelegramSource:
        if self.mode == "push" and self.secret_token is None:
            raise ValueError("mode push needs secret_token: it is how the intake knows a request came from Telegram")
        return self

    def active_modes(self) -> tuple[Mode, ...]:
        return (Mode.PUSH,) if self.mode == "push" else (Mode.POLL,)

    def bot(self, *, sleep: Callable[[float], None] = time.sleep, **kwargs: Any) -> BotApi:
        kwargs.setdefault("max_wait_s", self.max_wait_s)
        kwargs.setdefault("max_retries", self.max_retries)
        return BotApi(self.name, self.base_url, self.token.resolve().value, timeout_s=self.poll_timeout_s + 15.0,
                      sleep=sleep, **kwargs)

    def reader(self) -> UpdateReader:
        return UpdateReader(self.name, self.brand, self.chats, self.keywords)

    def listener(self, *, sleep: Callable[[float], None] = time.sleep) -> TelegramListener:
        return TelegramListener(self.name, self.bot(sleep=sleep), self.reader(), timeout_s=self.poll_timeout_s,
                                limit=self.limit, push=self.mode == "push")

    def receiver(self) -> TelegramReceiver:
        secret = self.secret_token.resolve().value if self.mode == "push" and self.secret_token else None
        return TelegramReceiver(self, secret)

    def set_webhook(self, url: str, *, drop_pending_updates: bool = False) -> str:
        """Point Telegram at the intake (``https://<host>/intake/<name>``); push mode only."""
        if self.mode != "push" or self.secret_token is None:
            raise QueryRejected(f"{self.name}: set mode: push and secret_token before setting a webhook")
        with self.bot() as bot:
            bot.call("setWebhook", {"url": url, "secret_token": self.secret_token.resolve().value,
                                    "allowed_updates": list(ALLOWED_UPDATES),
                                    "drop_pending_updates": drop_pending_updates})
        return f"webhook set to {url}; getUpdates is off for this bot until deleteWebhook"

    def probe(self) -> str:
        with self.bot() as bot:
            if self.mode == "push":
                info = bot.call("getWebhookInfo")
                if not info.get("url"):
                    return "the token works but no webhook is set: call set_webhook with the intake URL"
                error = f"; last error: {info['last_error_message']}" if info.get("last_error_message") else ""
                return f"webhook is set to {info['url']}, {info.get('pending_update_count', 0)} updates pending{error}"
            me = bot.call("getMe")
        found = f"bot @{me.get('username')} ({me.get('id')}) answers"
        if me.get("can_read_all_group_messages") is False:
            found += ("; privacy mode is on, so in groups it sees only commands and replies to it: "
                      "turn it off with @BotFather /setprivacy")
        return found


class TelegramListener:
    def __init__(self, name: str, bot: BotApi, reader: UpdateReader, *, timeout_s: int = 10, limit: int = 100,
                 push: bool = False) -> None:
        self.name, self.bot, self.reader = name, bot, reader
        self.timeout_s, self.limit, self.push = timeout_s, limit, push

    @property
    def skipped(self) -> Counter[str]:
        return self.reader.skipped

    def close(self) -> None:
        self.bot.close()

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        if self.push:
            log.info("%s: in push mode, updates arrive at /intake/%s; nothing to poll", self.name, self.name)
            return
        offset = int(cursor["offset"]) if cursor and cursor.get("offset") is not None else None
        while True:
            params: dict[str, Any] = {"timeout": self.timeout_s, "limit": self.limit,
                                      "allowed_updates": list(ALLOWED_UPDATES)}
            if offset is not None:
                params["offset"] = offset
            updates = self.bot.call("getUpdates", params)
            if not isinstance(updates, list):
                raise SourceUnavailable(f"{self.name}: getUpdates answered a result that is not a list")
            for update in updates:
                uid = update.get("update_id") if isinstance(update, dict) else None
                if isinstance(uid, int) and not isinstance(uid, bool):
                    offset = max(offset or 0, uid + 1)
                item = self.reader.read(update)
                if item is not None:
                    yield item
            if updates:
                yield Checkpoint({"offset": offset})
            if len(updates) < self.limit:
                break
        if self.skipped:
            log.info("%s: not published: %s", self.name, ", ".join(f"{n} {why}" for why, n in self.skipped.items()))


class TelegramReceiver(PushReceiver):
    """Built without a secret (a poll-mode source), it refuses every request."""

    def __init__(self, source: TelegramSource, secret: str | None) -> None:
        self.source, self._secret = source, secret
        self.reader = source.reader()
        self._recent: OrderedDict[int, None] = OrderedDict()
        self._lock = threading.Lock()

    def handshake(self, query: Mapping[str, str]) -> str | None:
        return None  # Telegram does not verify endpoints

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[Mention | Rejected]:
        name = self.source.name
        if self._secret is None:
            raise SignatureRejected(f"{name} is in poll mode: set mode: push and secret_token to take webhooks")
        given = {k.lower(): v for k, v in headers.items()}.get(SECRET_HEADER.lower())
        if not given:
            raise SignatureRejected(f"{SECRET_HEADER} header is missing")
        if not hmac.compare_digest(given.encode(), self._secret.encode()):
            raise SignatureRejected(f"{SECRET_HEADER} does not match the source's secret_token")
        try:
            update = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return [Rejected(body, f"{name}: webhook body is not JSON: {exc}")]
        uid = update.get("update_id") if isinstance(update, dict) else None
        with self._lock:
            if isinstance(uid, int) and uid in self._recent:
                log.info("%s: update %s delivered again; nothing queued", name, uid)
                return []
        item = self.reader.read(update)
        if isinstance(uid, int):
            with self._lock:
                self._recent[uid] = None
                while len(self._recent) > _RECENT_MAX:
                    self._recent.popitem(last=False)
        return [item] if item is not None else []
