"""Local receivers for every sink kind, and a delivery config pointing at them."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.receivers import SlackApi, WebhookReceiver, ZendeskApi
from tests.fakes.smtp import SmtpServer

SECRETS = {
    "TEST_HOOK_SECRET": "whsec-test-hook",
    "TEST_SLACK_TOKEN": "xoxb-test-token",
    "TEST_ZENDESK_EMAIL": "bot@acme.example",
    "TEST_ZENDESK_TOKEN": "zd-test-token",
}
CHANNEL = "C0SUPPORT"


@dataclass
class Receivers:
    webhook: WebhookReceiver
    slack: SlackApi
    zendesk: ZendeskApi
    smtp: SmtpServer

    def start(self) -> Receivers:
        for r in (self.webhook, self.slack, self.zendesk, self.smtp):
            r.start()
        return self

    def stop(self) -> None:
        for r in (self.webhook, self.slack, self.zendesk, self.smtp):
            r.stop()


def make_receivers() -> Receivers:
    return Receivers(
        WebhookReceiver(SECRETS["TEST_HOOK_SECRET"]),
        SlackApi(SECRETS["TEST_SLACK_TOKEN"], {CHANNEL}),
        ZendeskApi(SECRETS["TEST_ZENDESK_EMAIL"], SECRETS["TEST_ZENDESK_TOKEN"]),
        SmtpServer(),
    )


def config_document(r: Receivers, retry: dict | None = None) -> dict:
    """Every sink kind, spread over the teams as a company might."""
    return {
        "link": "https://inbox.acme.example/tickets/{ticket_id}",
        "retry": retry or {"initial_s": 0.2, "max_s": 1.0, "max_attempts": 5, "jitter": 0.0},
        "sinks": {
            "crm-hook": {"kind": "webhook", "url": r.webhook.url + "/hooks/mentionflow", "secret_env": "TEST_HOOK_SECRET"},
            "support-slack": {"kind": "slack", "channel": CHANNEL, "token_env": "TEST_SLACK_TOKEN",
                              "base_url": r.slack.base_url},
            "support-desk": {"kind": "zendesk", "url": r.zendesk.url, "email_env": "TEST_ZENDESK_EMAIL",
                             "token_env": "TEST_ZENDESK_TOKEN"},
            "pr-mail": {"kind": "email", "host": "127.0.0.1", "port": r.smtp.port, "security": "none",
                        "from": "mentionflow@acme.example", "to": ["pr@acme.example"]},
        },
        "teams": {
            "customer_service": ["support-desk", "support-slack"],
            "pr": ["pr-mail", "support-slack"],
            "sales": ["crm-hook"],
            "marketing": ["crm-hook"],
            "review": ["support-slack"],
        },
    }


__all__ = ["CHANNEL", "SECRETS", "Receivers", "config_document", "make_receivers"]
