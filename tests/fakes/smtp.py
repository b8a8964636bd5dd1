"""A real SMTP server (aiosmtpd) that keeps what it accepts."""

from __future__ import annotations

import email
import threading
from email.message import EmailMessage
from email.policy import default

from aiosmtpd.controller import Controller

from tests.fakes.http import free_port

__all__ = ["SmtpServer"]


class SmtpServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[EmailMessage] = []
        #: SMTP replies served instead of accepting, e.g. "451 4.3.0 try again later"
        self.reject_next: list[str] = []
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]  # noqa: N802
        with self._lock:
            if self.reject_next:
                return self.reject_next.pop(0)
            msg = email.message_from_bytes(envelope.content, policy=default)
            msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
            self.messages.append(msg)  # type: ignore[arg-type]
        return "250 2.0.0 Message accepted for delivery"

    def start(self) -> SmtpServer:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
