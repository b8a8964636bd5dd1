"""Email: one plain-text message per ticket over SMTP (``smtplib``).

SMTP has no idempotency key. The Message-ID is derived from the delivery,
so in the one case a resend can happen (the dispatcher dies after the
server's 250 and before the outcome is written) both copies carry the same
Message-ID, which mail clients and many servers collapse into one.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from mentionflow.store.outbox import Delivery
from routing.delivery.config import EmailSink, secret
from routing.delivery.message import TicketMessage
from routing.delivery.sinks.base import PermanentSendError, RetryableSendError, SendError

__all__ = ["EmailSender", "message_id"]


def message_id(delivery: Delivery) -> str:
    return f"<{delivery.idempotency_key}@mentionflow>"


class EmailSender:
    def __init__(self, name: str, config: EmailSink) -> None:
        self.name = name
        self._config = config
        self._credentials = (
            (secret(config.username_env, name), secret(config.password_env, name))
            if config.username_env and config.password_env else None
        )

    def send(self, delivery: Delivery, message: TicketMessage) -> str | None:
        mail = EmailMessage()
        mail["From"] = self._config.sender
        mail["To"] = ", ".join(self._config.to)
        mail["Subject"] = message.subject  # one line: see TicketMessage.subject
        mail["Message-ID"] = message_id(delivery)
        mail["Date"] = formatdate(localtime=False)
        mail["X-Mentionflow-Ticket"] = message.ticket_id
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(message.as_text())
        try:
            with self._connect() as smtp:
                if self._credentials:
                    smtp.login(*self._credentials)
                smtp.send_message(mail)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentSendError(f"SMTP {self._config.host}: authentication refused ({exc.smtp_code})") from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise _by_code(min(code for code, _ in exc.recipients.values()), "recipients refused") from exc
        except smtplib.SMTPResponseException as exc:
            raise _by_code(exc.smtp_code, exc.smtp_error.decode(errors="replace")) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryableSendError(f"SMTP {self._config.host}:{self._config.port}: {type(exc).__name__}: {exc}") from exc
        return message_id(delivery)

    def _connect(self) -> smtplib.SMTP:
        c = self._config
        if c.security == "ssl":
            return smtplib.SMTP_SSL(c.host, c.port, timeout=c.timeout_s, context=ssl.create_default_context())
        smtp = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
        if c.security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
        return smtp

    def close(self) -> None:
        pass


def _by_code(code: int, what: str) -> SendError:
    """SMTP replies: 4xx is transient by definition (RFC 5321), 5xx is not."""
    if 400 <= code < 500:
        return RetryableSendError(f"SMTP {code}: {what}")
    return PermanentSendError(f"SMTP {code}: {what}")

