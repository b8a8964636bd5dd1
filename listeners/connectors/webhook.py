"""Generic signed webhook intake: for any tool that can POST JSON.

The sender signs each request the way Mentionflow signs its own outgoing
webhooks (``mentionflow/webhook_signing.py``): ``Mentionflow-Signature:
t=<unix time>,v1=<HMAC-SHA256(secret, "<t>." + body)>``. The body is one
mention record or a JSON array of them, in the replay format (``platform``,
``native_id``, ``text``, ``author``, ``created_at``, optional ``brand``,
``url``, ``language``); the source's ``brand`` fills a missing one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from typing import Literal

from pydantic import Field, ValidationError

from listeners.base import Mode, Rejected
from listeners.connectors.base import PushReceiver, SignatureRejected, SourceBase
from listeners.credentials import Credential
from listeners.replay import mention_from_record
from mentionflow.models import Mention
from mentionflow.webhook_signing import SIGNATURE_HEADER, SignatureError, verify

__all__ = ["WebhookReceiver", "WebhookSource"]

#: the most records one request may carry; larger batches should be split by the sender
MAX_RECORDS = 1000


class WebhookSource(SourceBase):
    modes = (Mode.PUSH,)
    summary = "generic signed HTTP intake (Mentionflow-Signature, HMAC-SHA256)"

    kind: Literal["webhook"]
    brand: str = Field(min_length=1, max_length=128)
    secret: Credential
    #: seconds a signature stays valid; older requests are refused as replays
    tolerance_s: int = Field(default=300, ge=1, le=3600)

    def receiver(self) -> WebhookReceiver:
        return WebhookReceiver(self, self.secret.resolve().value)

    def probe(self) -> str:
        self.secret.resolve()
        return (f"secret from {self.secret.describe()} is set; senders POST signed JSON to "
                f"/intake/{self.name} on the intake service")


class WebhookReceiver(PushReceiver):
    """Verifies, refuses replays, parses.

    The timestamp bounds a replay to ``tolerance_s``; within that window a
    request whose signature was already accepted is refused too (kept in
    memory, which is enough: after a restart the window has mostly passed,
    and a replayed mention id is still dropped by the intake's seen ids).
    """

    def __init__(self, source: WebhookSource, secret: str) -> None:
        self.source = source
        self._secret = secret
        self._accepted: dict[str, float] = {}
        self._lock = threading.Lock()

    def _first_use(self, header: str, now: float) -> bool:
        with self._lock:
            horizon = now - 2 * self.source.tolerance_s
            for key in [k for k, at in self._accepted.items() if at < horizon]:
                del self._accepted[key]
            if header in self._accepted:
                return False
            self._accepted[header] = now
            return True

    def handshake(self, query: Mapping[str, str]) -> str | None:
        return None

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[Mention | Rejected]:
        lower = {k.lower(): v for k, v in headers.items()}
        header = lower.get(SIGNATURE_HEADER.lower())
        try:
            verify(self._secret, header, body, self.source.tolerance_s)
        except SignatureError as exc:
            raise SignatureRejected(str(exc)) from None
        if not self._first_use(header or "", time.time()):
            raise SignatureRejected("this signed request was already received (replay)")
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return [Rejected(body, f"{self.source.name}: body is not JSON: {exc}")]
        records = document if isinstance(document, list) else [document]
        if len(records) > MAX_RECORDS:
            return [Rejected(body, f"{self.source.name}: {len(records)} records in one request; the limit is {MAX_RECORDS}")]
        return [self._parse(n, record) for n, record in enumerate(records)]

    def _parse(self, n: int, record: object) -> Mention | Rejected:
        where = f"{self.source.name}: record {n}"
        raw = json.dumps(record, ensure_ascii=False).encode()
        if not isinstance(record, dict):
            return Rejected(raw, f"{where}: expected a JSON object")
        try:
            return mention_from_record(record, default_brand=self.source.brand)
        except (ValidationError, ValueError) as exc:
            return Rejected(raw, f"{where}: {exc}")
