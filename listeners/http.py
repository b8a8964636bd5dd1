"""HTTP for polling connectors: retries, rate limits and errors that say what is wrong.

Every platform signals limits its own way: ``Retry-After`` (seconds or an
HTTP date), X's ``x-rate-limit-reset`` (epoch seconds), Reddit's
``x-ratelimit-reset`` (seconds from now), Mastodon's (an ISO timestamp).
:func:`wait_from_headers` reads them all, so connectors only say which
calls to make. A wait longer than ``max_wait_s`` is not slept through: it
raises :class:`RateLimited`, the run ends at its last checkpoint, and the
next scheduled run carries on.

When a response says the quota is spent (``remaining: 0``) the client waits
for the reset before its next call instead of spending a request on a 429.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from listeners.errors import AuthFailed, ContentGone, QueryRejected, RateLimited, SourceUnavailable

__all__ = ["PlatformClient", "RetryAfter", "error_detail", "wait_from_headers"]

log = logging.getLogger(__name__)
# httpx logs every request URL at INFO; some platforms take a token in the
# query string (Telegram puts it in the path), so those lines stay off.
logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger("httpx").level))

_RESET_HEADERS = ("x-rate-limit-reset", "x-ratelimit-reset", "ratelimit-reset")
_REMAINING_HEADERS = ("x-rate-limit-remaining", "x-ratelimit-remaining", "ratelimit-remaining")


def _seconds_until(value: str, now: float) -> float | None:
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        number = None
    if number is not None:
        # Epoch seconds are large; anything else is a delay from now.
        return max(0.0, number - now) if number > 1e9 else max(0.0, number)
    for parse in (lambda v: datetime.fromisoformat(v.replace("Z", "+00:00")), parsedate_to_datetime):
        try:
            when = parse(value)
        except (ValueError, TypeError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        return max(0.0, when.timestamp() - now)
    return None


def wait_from_headers(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the platform asks us to wait, or None if it does not say."""
    now = time.time() if now is None else now
    lower = {k.lower(): v for k, v in headers.items()}
    if "retry-after" in lower:
        wait = _seconds_until(lower["retry-after"], now)
        if wait is not None:
            return wait
    for name in _RESET_HEADERS:
        if name in lower:
            wait = _seconds_until(lower[name], now)
            if wait is not None:
                return wait
    return None


def _quota_spent(headers: Mapping[str, str]) -> bool:
    lower = {k.lower(): v for k, v in headers.items()}
    for name in _REMAINING_HEADERS:
        if name in lower:
            try:
                return float(lower[name]) <= 0
            except ValueError:
                return False
    return False


def error_detail(response: httpx.Response, limit: int = 300) -> str:
    """The platform's own words for an error, from the usual JSON shapes."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:limit].strip() or response.reason_phrase
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return str(first.get("message") or first.get("detail") or first)[:limit]
        for key in ("detail", "error_description", "message", "title", "error", "error_msg"):
            value = body.get(key)
            if isinstance(value, dict):  # Graph API / VK nest the message
                value = value.get("message") or value.get("error_msg") or value
            if value:
                return str(value)[:limit]
    return str(body)[:limit]


@dataclass(frozen=True)
class RetryAfter:
    """A retryable answer: why, how long the platform asked to wait (None: back off), and whether it is a rate limit."""

    reason: str
    wait_s: float | None = None
    rate_limited: bool = False


class PlatformClient:
    """An ``httpx.Client`` that retries what is transient and names what is not.

    ``sleep`` and ``clock`` exist so a long ``Retry-After`` can be honoured
    without a test waiting for it; production uses the real ones.
    """

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 4,
        max_wait_s: float = 900.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.max_retries = max_retries
        self.max_wait_s = max_wait_s
        self._sleep = sleep
        self._clock = clock
        self._not_before = 0.0
        self.http = httpx.Client(
            base_url=base_url, headers=dict(headers or {}), auth=auth, timeout=timeout_s, follow_redirects=True
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, url: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        response = self.request("GET", url, params=params, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise SourceUnavailable(f"{self.source}: {url} answered {response.status_code} with non-JSON") from exc

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        failures = 0
        while True:
            self.respect_quota()
            try:
                response = self.http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                failures += 1
                self.back_off(failures, f"{type(exc).__name__}: {exc}")
                continue
            retry = self.retry_for(response)
            if retry is not None:
                failures += 1
                self.back_off(failures, retry.reason, retry.wait_s, rate_limited=retry.rate_limited)
                continue
            self.note_quota(response)
            if response.status_code >= 400:
                self.raise_for_error(response, url)
            return response

    # -- extension points: platform clients override or call these ------------
    def retry_for(self, response: httpx.Response) -> RetryAfter | None:
        """Whether this answer is worth asking again (429, 5xx), and after how long."""
        if response.status_code == 429 or response.status_code >= 500:
            return RetryAfter(f"HTTP {response.status_code}: {error_detail(response)}",
                              wait_from_headers(response.headers, self._clock()), response.status_code == 429)
        return None

    def note_quota(self, response: httpx.Response) -> None:
        """Remember a spent quota so the next call waits for its reset instead of meeting a 429."""
        if _quota_spent(response.headers):
            wait = wait_from_headers({k: v for k, v in response.headers.items() if k.lower() != "retry-after"},
                                     self._clock())
            if wait:
                self._not_before = self._clock() + wait

    def respect_quota(self) -> None:
        """Sleep until a spent quota resets, or raise RateLimited if that is too long."""
        wait = self._not_before - self._clock()
        if wait > 0:
            if wait > self.max_wait_s:
                raise RateLimited(f"{self.source}: rate limit resets in {wait:.0f}s", wait)
            log.info("%s: quota spent, waiting %.1fs for the reset", self.source, wait)
            self._sleep(wait)

    def back_off(self, failures: int, reason: str, wait: float | None = None, *, rate_limited: bool = False) -> None:
        """Wait before retry number ``failures``; give up past ``max_retries`` or ``max_wait_s``."""
        if wait is not None and wait > self.max_wait_s:
            raise RateLimited(f"{self.source}: rate limited for {wait:.0f}s ({reason})", wait)
        if failures > self.max_retries:
            if rate_limited:
                raise RateLimited(f"{self.source}: still rate limited after {self.max_retries} retries ({reason})",
                                  wait or 0.0)
            raise SourceUnavailable(f"{self.source}: gave up after {self.max_retries} retries; last: {reason}")
        delay = wait if wait is not None else min(60.0, 2 ** (failures - 1)) * (0.5 + random.random() / 2)
        log.warning("%s: %s; retrying in %.1fs", self.source, reason, delay)
        self._sleep(delay)

    def raise_for_error(self, response: httpx.Response, url: str) -> None:
        """Turn a 4xx into a SourceError; platforms with their own error codes override this."""
        status, detail = response.status_code, error_detail(response)
        path = httpx.URL(url).path or url
        if status in (401, 403):
            raise AuthFailed(f"{self.source}: {path} refused the credential (HTTP {status}): {detail}")
        if status in (404, 410):
            raise ContentGone(f"{self.source}: {path} is gone (HTTP {status}): {detail}")
        raise QueryRejected(f"{self.source}: {path} rejected the request (HTTP {status}): {detail}")
