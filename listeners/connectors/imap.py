"""An e-mail inbox: social teams still get mentions by mail (forms, forwards, alerts).

Read over IMAP with ``imapclient``, read-only (``EXAMINE`` and
``BODY.PEEK[]``), so listening never marks a person's mail as read. The
cursor is the folder's ``UIDVALIDITY`` with the last UID read: UIDs only
grow within one validity, so a restart resumes after the last checkpointed
batch; if the server renumbers the folder (a new validity) the folder is
read again and the seen ids, keyed by ``Message-ID``, keep it from repeating.
Servers that throttle answer ``NO [THROTTLED]`` or ``[UNAVAILABLE]``; that
ends the run as rate limited.

    - name: support-inbox
      kind: imap
      brand: nordbank
      host: imap.example.com
      username: social@nordbank.example
      password: {env: MF_IMAP_PASSWORD}
      folder: INBOX
      every: 5m
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import socket
import ssl
from collections.abc import Iterator
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any, Literal

from pydantic import Field

from listeners.base import Checkpoint, ListenerOutput, Mode, Rejected
from listeners.connectors.base import SourceBase
from listeners.credentials import Credential
from listeners.errors import AuthFailed, ContentGone, RateLimited, SourceUnavailable
from listeners.text import html_to_text
from mentionflow.models import Author, Mention, mention_id, utcnow

__all__ = ["ImapListener", "ImapSource", "message_to_mention"]

MAX_BODY_CHARS = 20_000
#: the raw RFC 822 source kept for audit, up to this many bytes
MAX_RAW_BYTES = 256_000
_KEPT_HEADERS = ("From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "List-Id")


class ImapSource(SourceBase):
    modes = (Mode.POLL,)
    summary = "an e-mail inbox over IMAP (read-only)"

    kind: Literal["imap"]
    brand: str = Field(min_length=1, max_length=128)
    host: str = Field(min_length=1)
    port: int = Field(default=993, ge=1, le=65535)
    security: Literal["ssl", "starttls", "none"] = "ssl"
    username: str = Field(min_length=1)
    password: Credential
    folder: str = "INBOX"
    batch_size: int = Field(default=50, ge=1, le=1000)
    timeout_s: float = Field(default=30.0, gt=0)

    def listener(self) -> ImapListener:
        return ImapListener(self)

    def probe(self) -> str:
        with _Session(self) as session:
            info = session.select()
            return (f"logged in as {self.username}; {self.folder} holds {info.get(b'EXISTS', 0)} messages "
                    f"(UIDVALIDITY {info.get(b'UIDVALIDITY')})")


class _Session:
    """Login and folder selection with IMAP errors turned into SourceErrors."""

    def __init__(self, source: ImapSource) -> None:
        self.source = source
        self.client: Any = None

    def __enter__(self) -> _Session:
        from imapclient import IMAPClient
        from imapclient.exceptions import LoginError

        s = self.source
        password = s.password.resolve().value
        where = f"{s.name}: {s.host}:{s.port}"
        try:
            self.client = IMAPClient(s.host, port=s.port, ssl=s.security == "ssl", timeout=s.timeout_s,
                                     ssl_context=ssl.create_default_context())
            self.client.normalise_times = False  # keep INTERNALDATE time-zone aware
            if s.security == "starttls":
                self.client.starttls(ssl.create_default_context())
            self.client.login(s.username, password)
        except LoginError as exc:
            self._close()
            raise AuthFailed(f"{where} refused the login for {s.username}: {_detail(exc)}") from None
        except (OSError, socket.timeout) as exc:
            self._close()
            raise SourceUnavailable(f"{where} cannot be reached: {type(exc).__name__}: {exc}") from None
        return self

    def select(self) -> dict[bytes, Any]:
        from imapclient.exceptions import IMAPClientError

        try:
            return self.client.select_folder(self.source.folder, readonly=True)
        except IMAPClientError as exc:
            _raise_for(self.source, exc, f"folder {self.source.folder!r} cannot be opened")
            raise

    def __exit__(self, *exc: object) -> None:
        self._close()

    def _close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # the connection may already be gone; nothing to save
                pass
            self.client = None


def _detail(exc: Exception) -> str:
    text = str(exc)
    return text.decode(errors="replace") if isinstance(text, bytes) else text


def _raise_for(source: ImapSource, exc: Exception, what: str) -> None:
    detail = _detail(exc)
    if "THROTTLED" in detail.upper() or "UNAVAILABLE" in detail.upper():
        raise RateLimited(f"{source.name}: the server is throttling: {detail}", 60.0) from None
    raise ContentGone(f"{source.name}: {what}: {detail}") from None


def message_to_mention(source: ImapSource, uid: int, raw: bytes, internal_date: datetime | None) -> Mention:
    """Map one RFC 822 message; raises ValueError when it carries nothing to read."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    subject = str(msg.get("Subject", "") or "").strip()
    part = msg.get_body(preferencelist=("plain", "html"))
    body = ""
    if part is not None:
        content = part.get_content()
        body = html_to_text(content) if part.get_content_subtype() == "html" else content.strip()
    text = "\n".join(p for p in (subject, body[:MAX_BODY_CHARS]) if p)
    if not text:
        raise ValueError("message has no subject and no text body")
    sender = msg.get("From")
    address = sender.addresses[0] if sender is not None and getattr(sender, "addresses", None) else None
    handle = (address.addr_spec if address else "") or "unknown sender"
    message_id = str(msg.get("Message-ID", "") or "").strip().strip("<>")
    native = message_id if 0 < len(message_id) <= 400 else hashlib.sha256(raw).hexdigest()[:40]
    date_header = msg.get("Date")
    created = getattr(date_header, "datetime", None) or internal_date or utcnow()
    if created.tzinfo is None:
        created = created.replace(tzinfo=timezone.utc)
    return Mention(
        id=mention_id("email", native), platform="email", native_id=native, brand=source.brand, text=text,
        author=Author(handle=handle[:256], display_name=(address.display_name or None) if address else None),
        created_at=created, received_at=utcnow(),
        raw={"folder": source.folder, "uid": uid,
             "headers": {h: str(msg[h]) for h in _KEPT_HEADERS if msg[h] is not None},
             "source": raw[:MAX_RAW_BYTES].decode("utf-8", errors="replace"), "truncated": len(raw) > MAX_RAW_BYTES},
    )


class ImapListener:
    def __init__(self, source: ImapSource) -> None:
        self.source = source
        self.name = source.name

    def poll(self, cursor: dict[str, Any] | None) -> Iterator[ListenerOutput]:
        from imapclient.exceptions import IMAPClientAbortError, IMAPClientError

        with _Session(self.source) as session:
            validity = int(session.select()[b"UIDVALIDITY"])
            cursor = cursor or {}
            start = int(cursor.get("last_uid", 0)) + 1 if cursor.get("uidvalidity") == validity else 1
            try:
                # "n:*" always includes the highest UID, even below n: filter.
                uids = sorted(u for u in session.client.search(["UID", f"{start}:*"]) if u >= start)
                for i in range(0, len(uids), self.source.batch_size):
                    chunk = uids[i : i + self.source.batch_size]
                    fetched = session.client.fetch(chunk, ["BODY.PEEK[]", "INTERNALDATE"])
                    for uid in chunk:
                        data = fetched.get(uid)
                        if data is None:
                            continue  # expunged between SEARCH and FETCH
                        yield self._parse(uid, data)
                    yield Checkpoint({"uidvalidity": validity, "last_uid": chunk[-1]})
            except IMAPClientAbortError as exc:  # the connection broke (imaplib's "abort")
                raise SourceUnavailable(f"{self.name}: connection lost: {_detail(exc)}") from None
            except IMAPClientError as exc:
                _raise_for(self.source, exc, "reading messages failed")
            except OSError as exc:
                raise SourceUnavailable(f"{self.name}: connection lost: {type(exc).__name__}: {exc}") from None

    def _parse(self, uid: int, data: dict[bytes, Any]) -> Mention | Rejected:
        raw = data.get(b"BODY[]") or b""
        internal = data.get(b"INTERNALDATE")
        try:
            return message_to_mention(self.source, uid, raw, internal)
        except (ValueError, TypeError) as exc:
            return Rejected(raw[:MAX_RAW_BYTES], f"{self.name}: {self.source.folder} UID {uid}: {exc}")
