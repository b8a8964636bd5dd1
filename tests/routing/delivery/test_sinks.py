"""Each sink against a local server speaking its service's wire format."""

from __future__ import annotations

from datetime import timedelta

import pytest

from mentionflow.models import Author, Category, Priority, Team, Ticket, ticket_id_for
from mentionflow.store import RoutedMention
from mentionflow.store.outbox import Delivery, idempotency_key
from mentionflow.webhook_signing import verify
from routing.delivery.message import TicketMessage, message_for
from routing.delivery.sinks import PermanentSendError, RetryableSendError, build_sink
from routing.delivery.sinks.email import message_id
from tests.factories import T0, make_classified, make_mention
from tests.fakes.delivery import CHANNEL
from tests.fakes.http import json_response

HOSTILE = "<!channel> CLICK <https://evil.example|your bank> & win\r\nBcc: victim@example.com"


def _message(text: str = "my parcel is 3 weeks late", handle: str = "anna") -> TicketMessage:
    mention = make_mention("42", text, author=Author(handle=handle, display_name="Anna K", followers=12000))
    c = make_classified(mention, Category.COMPLAINT)
    ticket = Ticket(
        id=ticket_id_for(c.id), mention_id=c.id, team=Team.CUSTOMER_SERVICE, priority=Priority.URGENT,
        rule_id="complaint-high-reach", reasons=["category is complaint", "followers 12000 >= 10000"],
        category=Category.COMPLAINT, brand="parcelo", first_response_due_at=T0 + timedelta(hours=1),
        resolution_due_at=T0 + timedelta(hours=8), created_at=T0, tags=["vip", "high reach"],
    )
    return message_for(RoutedMention(c, ticket.rule_id, ticket), ticket, Team.CUSTOMER_SERVICE, "owner",
                       "https://inbox.acme.example/tickets/{ticket_id}")


def _delivery(message: TicketMessage, sink: str, attempts: int = 0) -> Delivery:
    return Delivery(1, message.ticket_id, sink, message.team.value, message.role,
                    idempotency_key(message.ticket_id, sink), message.model_dump(mode="json"), attempts, T0)


def _sink(config, name):
    return build_sink(name, config.sinks[name])


def _send(config, name: str, msg: TicketMessage, attempts: int = 0) -> str | None:
    return _sink(config, name).send(_delivery(msg, name, attempts), msg)


# -- webhook ---------------------------------------------------------------
def test_webhook_posts_a_signed_body_with_the_idempotency_key(receivers, delivery_config):
    msg = _message()
    d = _delivery(msg, "crm-hook")
    _sink(delivery_config, "crm-hook").send(d, msg)
    [req] = receivers.webhook.requests
    assert verify("whsec-test-hook", req.headers["mentionflow-signature"], req.body)
    assert req.headers["idempotency-key"] == d.idempotency_key
    body = receivers.webhook.accepted[d.idempotency_key]
    assert body["delivery_id"] == d.idempotency_key
    assert body["ticket"]["ticket_id"] == msg.ticket_id
    assert body["ticket"]["priority"] == "urgent"
    assert body["ticket"]["link"] == f"https://inbox.acme.example/tickets/{msg.ticket_id}"
    assert body["ticket"]["mention"]["text"] == "my parcel is 3 weeks late"


def test_webhook_resend_is_signed_afresh_and_dropped_by_the_receiver(receivers, delivery_config):
    msg = _message()
    sink = _sink(delivery_config, "crm-hook")
    sink.send(_delivery(msg, "crm-hook"), msg)
    sink.send(_delivery(msg, "crm-hook", attempts=1), msg)
    assert len(receivers.webhook.requests) == 2 and len(receivers.webhook.accepted) == 1
    assert receivers.webhook.duplicates == 1


@pytest.mark.parametrize(
    ("status", "headers", "kind", "retry_after"),
    [(500, {}, RetryableSendError, None), (503, {"Retry-After": "30"}, RetryableSendError, 30.0),
     (429, {"Retry-After": "7"}, RetryableSendError, 7.0), (401, {}, PermanentSendError, None),
     (410, {}, PermanentSendError, None), (422, {}, PermanentSendError, None)],
)
def test_webhook_errors_are_told_apart(receivers, delivery_config, status, headers, kind, retry_after):
    receivers.webhook.fail_next.append(json_response(status, {"error": "nope"}, headers))
    msg = _message()
    with pytest.raises(kind, match=f"HTTP {status}") as err:
        _send(delivery_config, "crm-hook", msg)
    assert err.value.retry_after_s == retry_after
    assert receivers.webhook.accepted == {}


def test_webhook_receiver_down_is_retryable(receivers, delivery_config):
    receivers.webhook.stop()
    msg = _message()
    with pytest.raises(RetryableSendError, match="ConnectError"):
        _send(delivery_config, "crm-hook", msg)


def test_webhook_with_the_wrong_secret_is_refused_for_good(receivers, delivery_config, monkeypatch):
    monkeypatch.setenv("TEST_HOOK_SECRET", "not-the-receivers-secret")
    msg = _message()
    with pytest.raises(PermanentSendError, match="HTTP 401"):
        _send(delivery_config, "crm-hook", msg)


# -- Slack ------------------------------------------------------------------
def test_slack_posts_one_message_with_link_and_escaped_text(receivers, delivery_config):
    msg = _message(HOSTILE, handle="<!here>")
    ts = _send(delivery_config, "support-slack", msg)
    [posted] = receivers.slack.messages
    assert posted["ts"] == ts and posted["channel"] == CHANNEL
    section = posted["blocks"][0]["text"]["text"]
    assert f"<https://inbox.acme.example/tickets/{msg.ticket_id}|" in section
    assert "&lt;!channel&gt;" in section and "<!channel>" not in section
    assert "&lt;https://evil.example|your bank&gt; &amp; win" in section
    assert "&lt;!here&gt;" in section
    assert posted["metadata"]["event_payload"]["delivery"] == idempotency_key(msg.ticket_id, "support-slack")


def test_slack_retry_finds_the_message_a_dead_attempt_posted(receivers, delivery_config):
    msg = _message()
    sink = _sink(delivery_config, "support-slack")
    first = sink.send(_delivery(msg, "support-slack"), msg)
    again = sink.send(_delivery(msg, "support-slack", attempts=1), msg)
    assert again == first and len(receivers.slack.messages) == 1
    other = _message("another post entirely")
    other = other.model_copy(update={"ticket_id": "t-other"})
    sink.send(_delivery(other, "support-slack", attempts=2), other)  # a retry with nothing posted yet
    assert len(receivers.slack.messages) == 2


def test_slack_rate_limit_is_retryable_with_its_delay(receivers, delivery_config):
    receivers.slack.fail_next.append(json_response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "12"}))
    msg = _message()
    with pytest.raises(RetryableSendError, match="ratelimited") as err:
        _send(delivery_config, "support-slack", msg)
    assert err.value.retry_after_s == 12.0


@pytest.mark.parametrize("env", ["token", "channel"])
def test_slack_bad_token_or_channel_is_permanent(receivers, delivery_config, monkeypatch, env):
    from routing.delivery.config import SlackSink

    config = delivery_config.sinks["support-slack"]
    if env == "token":
        monkeypatch.setenv("TEST_SLACK_TOKEN", "xoxb-revoked")
    else:
        config = SlackSink.model_validate({**config.model_dump(), "channel": "C0NOWHERE"})
    msg = _message()
    with pytest.raises(PermanentSendError, match="invalid_auth" if env == "token" else "channel_not_found"):
        build_sink("support-slack", config).send(_delivery(msg, "support-slack"), msg)


# -- email --------------------------------------------------------------------
def test_email_sends_plain_text_with_a_stable_message_id(receivers, delivery_config):
    msg = _message(HOSTILE, handle="mallory\r\nBcc: victim@example.com")
    d = _delivery(msg, "pr-mail")
    ref = _sink(delivery_config, "pr-mail").send(d, msg)
    [mail] = receivers.smtp.messages
    assert ref == mail["Message-ID"] == message_id(d)
    assert mail["To"] == "pr@acme.example" and mail["X-Envelope-To"] == "pr@acme.example"
    assert mail["Bcc"] is None  # the handle's CR/LF did not open a header
    assert mail["Subject"].strip().startswith("[urgent] complaint about parcelo on x from @mallory Bcc:")
    body = mail.get_content()
    assert f"https://inbox.acme.example/tickets/{msg.ticket_id}" in body
    assert "<!channel> CLICK" in body  # plain text: shown as written
    assert "complaint-high-reach" in body


@pytest.mark.parametrize(("reply", "kind"), [("451 4.3.0 Try again later", RetryableSendError),
                                              ("554 5.7.1 Rejected", PermanentSendError)])
def test_email_4xx_is_retried_and_5xx_is_not(receivers, delivery_config, reply, kind):
    receivers.smtp.reject_next.append(reply)
    msg = _message()
    with pytest.raises(kind, match=reply[:3]):
        _send(delivery_config, "pr-mail", msg)
    assert receivers.smtp.messages == []


def test_email_server_down_is_retryable(receivers, delivery_config):
    receivers.smtp.stop()
    msg = _message()
    with pytest.raises(RetryableSendError, match="SMTP 127.0.0.1"):
        _send(delivery_config, "pr-mail", msg)


# -- Zendesk ------------------------------------------------------------------
def test_zendesk_creates_a_ticket_with_priority_type_tags_and_external_id(receivers, delivery_config):
    msg = _message()
    ref = _send(delivery_config, "support-desk", msg)
    [ticket] = receivers.zendesk.tickets
    assert ref == str(ticket["id"])
    assert ticket["priority"] == "urgent" and ticket["type"] == "incident"
    assert ticket["external_id"] == msg.ticket_id
    assert set(ticket["tags"]) == {"mentionflow", "complaint", "customer_service", "vip", "high_reach"}
    assert ticket["comment"]["public"] is False
    assert "my parcel is 3 weeks late" in ticket["comment"]["body"]


def test_zendesk_resend_with_the_same_key_returns_the_first_ticket(receivers, delivery_config):
    msg = _message()
    sink = _sink(delivery_config, "support-desk")
    first = sink.send(_delivery(msg, "support-desk"), msg)
    again = sink.send(_delivery(msg, "support-desk", attempts=1), msg)
    assert first == again and len(receivers.zendesk.tickets) == 1


@pytest.mark.parametrize(("status", "kind"), [(429, RetryableSendError), (503, RetryableSendError),
                                              (401, PermanentSendError), (422, PermanentSendError)])
def test_zendesk_errors_are_told_apart(receivers, delivery_config, status, kind):
    receivers.zendesk.fail_next.append(json_response(status, {"error": "x"}, {"Retry-After": "3"}))
    msg = _message()
    with pytest.raises(kind, match=f"HTTP {status}"):
        _send(delivery_config, "support-desk", msg)


def test_zendesk_bad_credentials_are_permanent(receivers, delivery_config, monkeypatch):
    monkeypatch.setenv("TEST_ZENDESK_TOKEN", "wrong")
    msg = _message()
    with pytest.raises(PermanentSendError, match="HTTP 401"):
        _send(delivery_config, "support-desk", msg)
    assert receivers.zendesk.tickets == []
