"""The Graph API client and config shared by the Facebook and Instagram connectors.

Requests are ``GET https://graph.facebook.com/v21.0/<id>[/<edge>]``. The page
access token goes in ``Authorization: Bearer`` (the Graph API takes it there
as well as in ``access_token``; a header keeps it out of URLs and out of
httpx's request log). With an app secret configured every call also sends
``appsecret_proof`` = hex HMAC-SHA256(key=app secret, msg=token), which apps
with "Require App Secret" turned on must send.

Errors are ``{"error": {"message", "type", "code", "error_subcode",
"fbtrace_id", "is_transient"}}``, usually with HTTP 400 whatever the cause,
so the code decides rather than the status:

- 190 (OAuthException) and 102: :class:`AuthFailed`; subcode 463 is an
  expired token, 460 a password change, 458 a removed app, 467 an invalid token;
  10 and 200-299: a missing permission, also :class:`AuthFailed`.
- 4, 17, 32, 613, 80001-80014 and HTTP 429: throttled (see below).
- 100 with subcode 33 ("Object does not exist"): :class:`ContentGone`.
- 1, 2, ``is_transient`` and HTTP 5xx: retried with back-off.
- anything else (100 without subcode 33: a bad field or parameter):
  :class:`QueryRejected`, quoting Meta's message and fbtrace_id.

Rate limits: ``X-App-Usage`` and ``X-Page-Usage`` carry ``{"call_count",
"total_cputime", "total_time"}`` percentages, ``X-Business-Use-Case-Usage``
``{"<business id>": [{"type", "call_count", ..., "estimated_time_to_regain_access":
minutes}]}``. A response that says access returns in N minutes makes the
client wait that long before its next call (a throttling error without an
estimate backs off 1, 2, 4... seconds); a wait longer than the source's
``max_wait_s`` raises :class:`RateLimited` so the run ends at its last
checkpoint and the next scheduled run carries on.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx
from pydantic import Field, field_validator, model_validator

from listeners.base import Mode, Rejected
from listeners.connectors.base import PushReceiver, SourceBase, parse_interval
from listeners.credentials import Credential
from listeners.errors import (
    AuthFailed,
    ContentGone,
    QueryRejected,
    RateLimited,
    SourceError,
    SourceUnavailable,
)
from listeners.http import PlatformClient, RetryAfter, error_detail, wait_from_headers
from mentionflow.models import Mention

__all__ = [
    "GRAPH_URL",
    "GraphClient",
    "MetaSource",
    "appsecret_proof",
    "graph_failure",
    "graph_time",
    "next_page",
    "usage",
]

log = logging.getLogger(__name__)

GRAPH_URL = "https://graph.facebook.com/v21.0"
THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80001, 80015)})
TRANSIENT_CODES = frozenset({1, 2})
_AUTH_PARAMS = frozenset({"access_token", "appsecret_proof"})
_USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-ad-account-usage", "x-business-use-case-usage")
_USAGE_KEYS = ("call_count", "total_cputime", "total_time", "acc_id_util_pct")
_TOKEN_PROBLEMS = {
    458: "the user removed the app",
    460: "the token was invalidated by a password change",
    463: "the page access token expired",
    464: "the user is not confirmed",
    467: "the access token is invalid (logged out or revoked)",
}

#: a webhook lookup (``GET <path>?<params>``) the receivers use for changes that carry ids only
Lookup = Callable[[str, Mapping[str, Any]], dict[str, Any]]


def appsecret_proof(token: str, app_secret: str) -> str:
    return hmac.new(app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def graph_time(value: object) -> datetime:
    """Graph reads give ``2024-05-01T12:00:00+0000``; webhooks give unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, timezone.utc)
    if isinstance(value, str) and value.strip():
        if value.strip().isdigit():
            return datetime.fromtimestamp(int(value), timezone.utc)
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        if when.tzinfo is None:
            raise ValueError(f"time {value!r} has no UTC offset")
        return when
    raise ValueError(f"missing or unreadable time {value!r}")


def usage(headers: Mapping[str, str]) -> tuple[float, float]:
    """(highest usage percentage, seconds until access returns) from Meta's usage headers."""
    peak, wait = 0.0, 0.0
    lower = {k.lower(): v for k, v in headers.items()}
    for name in _USAGE_HEADERS:
        try:
            doc = json.loads(lower.get(name) or "null")
        except ValueError:
            continue
        if not isinstance(doc, dict):
            continue
        lists = [v for v in doc.values() if isinstance(v, list)]
        entries = [e for v in lists for e in v] if lists else [doc]
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            for key in _USAGE_KEYS:
                if isinstance(entry.get(key), int | float):
                    peak = max(peak, float(entry[key]))
            minutes = entry.get("estimated_time_to_regain_access")
            if isinstance(minutes, int | float) and minutes > 0:
                wait = max(wait, float(minutes) * 60)
    return peak, wait


def _error_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def _describe(error: Mapping[str, Any], response: httpx.Response) -> str:
    if not error:
        return f"HTTP {response.status_code}: {error_detail(response)}"
    sub = f"/{error['error_subcode']}" if error.get("error_subcode") else ""
    trace = f", fbtrace_id {error['fbtrace_id']}" if error.get("fbtrace_id") else ""
    message = str(error.get("message"))[:300]
    return f"Graph error {error.get('code')}{sub} ({error.get('type', 'error')}{trace}): {message}"


def graph_failure(source: str, path: str, status: int, error: Mapping[str, Any], detail: str) -> SourceError:
    """The SourceError for a Graph error body; ``detail`` is :func:`_describe`'s text."""
    code, sub, where = error.get("code"), error.get("error_subcode"), f"{source}: {path}"
    if code in (190, 102):
        why = _TOKEN_PROBLEMS.get(sub, "the access token was refused")  # type: ignore[arg-type]
        return AuthFailed(f"{where}: {why}; issue a new page access token ({detail})")
    if code == 10 or (isinstance(code, int) and 200 <= code < 300):
        return AuthFailed(f"{where}: the token lacks a permission this call needs ({detail})")
    if code == 100 and sub == 33:
        return ContentGone(f"{where}: object does not exist or was deleted ({detail})")
    if not error and status in (401, 403):
        return AuthFailed(f"{where}: refused the credential ({detail})")
    if not error and status in (404, 410):
        return ContentGone(f"{where}: is gone ({detail})")
    return QueryRejected(f"{where}: rejected the request ({detail})")


def next_page(body: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, str] | None:
    """The query parameters of ``paging.next`` that differ from what was sent (``after``,
    ``until``, ``__paging_token``...), without the token; None on the last page."""
    paging = body.get("paging")
    url = paging.get("next") if isinstance(paging, dict) else None
    if not isinstance(url, str) or not url:
        return None
    changed = {
        k: v for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)
        if k not in _AUTH_PARAMS and str(sent.get(k)) != v
    }
    return changed or None  # a "next" that asks for the same page again would never end


class GraphClient(PlatformClient):
    """:class:`PlatformClient` that reads Graph error codes and usage headers."""

    def __init__(self, source: str, base_url: str, token: str, app_secret: str | None = None, **kwargs: Any) -> None:
        super().__init__(source, base_url.rstrip("/") + "/", headers={"Authorization": f"Bearer {token}"}, **kwargs)
        self._proof = appsecret_proof(token, app_secret) if app_secret else None

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        query = dict(params or {})
        if self._proof:
            query["appsecret_proof"] = self._proof
        body = self.get_json(path.lstrip("/"), query)
        if not isinstance(body, dict):
            raise SourceUnavailable(f"{self.source}: {path} answered JSON that is not an object")
        return body

    # PlatformClient's request loop, told how the Graph API signals throttling and errors:
    def retry_for(self, response: httpx.Response) -> RetryAfter | None:
        if response.status_code < 400:
            return None
        error = _error_of(response)
        detail = _describe(error, response)
        if response.status_code == 429 or error.get("code") in THROTTLE_CODES:
            _, regain = usage(response.headers)
            return RetryAfter(detail, regain or wait_from_headers(response.headers, self._clock()), rate_limited=True)
        if response.status_code >= 500 or error.get("code") in TRANSIENT_CODES or error.get("is_transient") is True:
            return RetryAfter(detail)
        return None

    def note_quota(self, response: httpx.Response) -> None:
        self._note_usage(*usage(response.headers))

    def raise_for_error(self, response: httpx.Response, url: str) -> None:
        error = _error_of(response)
        raise graph_failure(self.source, httpx.URL(url).path or url, response.status_code, error,
                            _describe(error, response))

    def back_off(self, failures: int, reason: str, wait: float | None = None, *, rate_limited: bool = False) -> None:
        if rate_limited:
            self._throttled(failures, wait, reason)
        else:
            super().back_off(failures, reason, wait)

    def _note_usage(self, peak: float, regain: float) -> None:
        if regain > 0:
            log.warning("%s: Graph API usage at %.0f%%; access returns in %.0fs", self.source, peak, regain)
            self._not_before = max(self._not_before, self._clock() + regain)
        elif peak >= 90:
            log.warning("%s: Graph API usage at %.0f%% of the limit", self.source, peak)

    def _throttled(self, failures: int, wait: float | None, detail: str) -> None:
        if wait is None:
            wait = min(60.0, 2.0 ** (failures - 1))
        if wait > self.max_wait_s:
            raise RateLimited(f"{self.source}: rate limited by the Graph API for {wait:.0f}s ({detail})", wait)
        if failures > self.max_retries:
            raise RateLimited(f"{self.source}: still rate limited after {self.max_retries} retries ({detail})", wait)
        log.warning("%s: rate limited (%s); waiting %.1fs", self.source, detail, wait)
        self._sleep(wait)


class MetaSource(SourceBase):
    """What Facebook and Instagram sources share: token, app secret, webhook and sweep settings."""

    modes = (Mode.POLL, Mode.PUSH)
    #: ``object`` of the webhook deliveries this source accepts
    webhook_object: ClassVar[str] = ""

    brand: str = Field(min_length=1, max_length=128)
    #: the page access token (Instagram: of the Page the business account is linked to)
    access_token: Credential
    #: signs webhook deliveries and, when set, adds appsecret_proof to every call
    app_secret: Credential | None = None
    #: set it (and app_secret) to receive webhooks at /intake/<name>
    verify_token: Credential | None = None
    base_url: str = GRAPH_URL
    #: how far back the first run reads
    backfill: timedelta = timedelta(days=1)
    #: posts this recent have their comments read on every run
    comment_window: timedelta = timedelta(days=3)
    #: also publish what the page / account itself wrote (its posts and replies)
    include_own: bool = False
    page_size: int = Field(default=50, ge=1, le=100)

    _durations = field_validator("backfill", "comment_window", mode="before")(parse_interval)

    @model_validator(mode="after")
    def _push_needs_secret(self) -> MetaSource:
        if self.verify_token is not None and self.app_secret is None:
            raise ValueError("verify_token needs app_secret too: Meta signs every webhook delivery with it")
        return self

    def graph(self, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
              **kwargs: Any) -> GraphClient:
        secret = self.app_secret.resolve().value if self.app_secret else None
        kwargs.setdefault("max_wait_s", self.max_wait_s)
        kwargs.setdefault("max_retries", self.max_retries)
        return GraphClient(self.name, self.base_url, self.access_token.resolve().value, secret,
                           sleep=sleep, clock=clock, **kwargs)

    def active_modes(self) -> tuple[Mode, ...]:
        return (Mode.POLL, Mode.PUSH) if self.verify_token is not None else (Mode.POLL,)

    def receiver(self) -> PushReceiver:
        from listeners.connectors.meta.webhooks import MetaWebhookReceiver

        if self.verify_token is None or self.app_secret is None:
            return MetaWebhookReceiver(self, None, None, None)  # poll-only: refuses every push
        graph = self.graph(timeout_s=10.0, max_retries=1, max_wait_s=5.0)
        return MetaWebhookReceiver(self, self.app_secret.resolve().value, self.verify_token.resolve().value, graph.get)

    def webhook_items(self, entry: Mapping[str, Any], change: Mapping[str, Any],
                      lookup: Lookup) -> list[Mention | Rejected]:
        """Mentions in one ``entry[].changes[]`` element; [] for changes that are not mentions."""
        raise NotImplementedError
