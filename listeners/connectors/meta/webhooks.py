"""Meta webhooks (Facebook ``page`` and ``instagram`` objects) for the intake service.

Subscription check: Meta sends ``GET /intake/<name>?hub.mode=subscribe&
hub.verify_token=<token>&hub.challenge=<n>``; the answer is the challenge when
the token matches the source's ``verify_token`` (compared in constant time),
and a refusal otherwise.

Deliveries: ``POST`` with ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app
secret, raw body)>``, compared in constant time; a missing or wrong signature
raises :class:`SignatureRejected` (HTTP 401, nothing queued). The body is
``{"object": "page"|"instagram", "entry": [{"id", "time", "changes": [{"field",
"value"}]}]}``; each source maps its changes (``facebook.py``, ``instagram.py``).

The signature has no timestamp, so a replayed body cannot be told from Meta's
own retry of a delivery whose answer it did not get. Both are accepted; a body
already accepted within the last hour is answered at once with nothing queued,
and beyond that the intake publisher's seen ids drop the repeated mention ids.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from listeners.base import Rejected
from listeners.connectors.base import PushReceiver, SignatureRejected
from listeners.errors import ContentGone, SourceError
from mentionflow.models import Mention

if TYPE_CHECKING:
    from listeners.connectors.meta.graph import Lookup, MetaSource

__all__ = ["MetaWebhookReceiver", "change_reject", "lookup_item"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Hub-Signature-256"
#: how long, and how many, accepted bodies are remembered to answer retries at once
RECENT_S = 3600.0
RECENT_MAX = 10_000


def change_reject(source: str, change: Any, reason: str) -> Rejected:
    return Rejected(json.dumps(change, ensure_ascii=False).encode(), f"{source}: webhook change: {reason}")


def lookup_item(source: str, change: Any, lookup: Lookup, path: str,
                params: Mapping[str, Any]) -> dict[str, Any] | list[Mention | Rejected]:
    """Read the object a change names; [] if it was deleted since, a Rejected if the read failed."""
    try:
        return lookup(path, params)
    except ContentGone as exc:
        log.info("%s: webhook change names an object that is gone: %s", source, exc)
        return []
    except SourceError as exc:
        return [change_reject(source, change, f"could not read {path}: {exc}")]


class MetaWebhookReceiver(PushReceiver):
    """Built without secrets (a source with no ``verify_token``), it refuses every request."""

    def __init__(self, source: MetaSource, app_secret: str | None, verify_token: str | None,
                 lookup: Lookup | None) -> None:
        self.source = source
        self._secret, self._verify_token, self._lookup = app_secret, verify_token, lookup
        self._recent: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def handshake(self, query: Mapping[str, str]) -> str | None:
        token, challenge = query.get("hub.verify_token"), query.get("hub.challenge")
        if not self._verify_token or query.get("hub.mode") != "subscribe" or not token or not challenge:
            return None
        return challenge if hmac.compare_digest(token.encode(), self._verify_token.encode()) else None

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[Mention | Rejected]:
        name = self.source.name
        if not self._secret or self._lookup is None:
            raise SignatureRejected(f"{name} does not take webhooks: set verify_token and app_secret in its config")
        header = {k.lower(): v for k, v in headers.items()}.get(SIGNATURE_HEADER.lower())
        if not header:
            raise SignatureRejected(f"{SIGNATURE_HEADER} header is missing")
        scheme, _, given = header.strip().partition("=")
        expected = hmac.new(self._secret.encode(), body, hashlib.sha256).hexdigest()
        if scheme != "sha256" or not hmac.compare_digest(given.lower().encode(), expected.encode()):
            raise SignatureRejected(f"{SIGNATURE_HEADER} does not match the body (is app_secret this app's secret?)")
        digest = hashlib.sha256(body).hexdigest()
        if self._already(digest):
            log.info("%s: delivery already accepted (a retry or a replay); nothing queued", name)
            return []
        items = self._parse(body)
        self._remember(digest)
        return items

    def _parse(self, body: bytes) -> list[Mention | Rejected]:
        name, want = self.source.name, self.source.webhook_object
        try:
            doc = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return [Rejected(body, f"{name}: webhook body is not JSON: {exc}")]
        if not isinstance(doc, dict) or doc.get("object") != want or not isinstance(doc.get("entry"), list):
            got = doc.get("object") if isinstance(doc, dict) else type(doc).__name__
            return [Rejected(body, f"{name}: expected a webhook for object {want!r} with an entry list, got {got!r}")]
        items: list[Mention | Rejected] = []
        for entry in doc["entry"]:
            changes = entry.get("changes") if isinstance(entry, dict) else None
            if not isinstance(changes, list):
                if not (isinstance(entry, dict) and "messaging" in entry):  # Messenger events: not ours
                    items.append(change_reject(name, entry, "entry has no changes list"))
                continue
            for change in changes:
                if not isinstance(change, dict):
                    items.append(change_reject(name, change, "change is not an object"))
                    continue
                items.extend(self.source.webhook_items(entry, change, self._lookup))  # type: ignore[arg-type]
        return items

    def _already(self, digest: str) -> bool:
        with self._lock:
            horizon = time.monotonic() - RECENT_S
            while self._recent and next(iter(self._recent.values())) < horizon:
                self._recent.popitem(last=False)
            return digest in self._recent

    def _remember(self, digest: str) -> None:
        with self._lock:
            self._recent[digest] = time.monotonic()
            while len(self._recent) > RECENT_MAX:
                self._recent.popitem(last=False)
