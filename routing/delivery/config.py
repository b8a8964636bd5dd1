"""``config/delivery.yaml``: where each team's tickets go besides Kafka.

Sinks are named once and listed per team, so a channel two teams share is
configured in one place. Secrets are never written in the file: a sink names
the environment variable that holds each one, and the dispatcher reads it at
start, so a missing secret fails at start, naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from mentionflow.config_files import LocatedValueError, load_config
from mentionflow.models import Team

__all__ = [
    "DeliveryConfig",
    "EmailSink",
    "MissingSecret",
    "RetryPolicy",
    "SinkConfig",
    "SlackSink",
    "WebhookSink",
    "ZendeskSink",
    "load_delivery_config",
    "secret",
]

_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"


class MissingSecret(RuntimeError):
    """A sink's secret variable is not set; the message names it (never a value)."""


def secret(env_var: str, sink: str) -> str:
    value = os.environ.get(env_var)
    if not value:
        raise MissingSecret(f"sink {sink!r}: environment variable {env_var} is not set")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RetryPolicy(_Strict):
    """Exponential backoff: ``initial_s * 2**(attempt-1)``, capped at ``max_s``,
    with the upper ``jitter`` fraction randomised so that a receiver coming
    back is not hit by every pending delivery in the same second."""

    initial_s: float = Field(default=5.0, gt=0)
    max_s: float = Field(default=900.0, gt=0)
    max_attempts: int = Field(default=20, ge=1)
    jitter: float = Field(default=0.5, ge=0, le=1)

    def delay_s(self, attempt: int, random: float) -> float:
        """Seconds before attempt ``attempt + 1``; ``random`` is in [0, 1)."""
        base = min(self.max_s, self.initial_s * 2 ** max(0, attempt - 1))
        return base * (1 - self.jitter * random)


class WebhookSink(_Strict):
    kind: Literal["webhook"]
    url: HttpUrl
    #: HMAC-SHA256 key for the ``Mentionflow-Signature`` header
    secret_env: str = Field(pattern=_ENV_NAME)
    timeout_s: float = Field(default=10.0, gt=0)


class SlackSink(_Strict):
    kind: Literal["slack"]
    channel: str = Field(min_length=1)
    token_env: str = Field(pattern=_ENV_NAME)
    #: Slack's Web API root; changed only to reach a proxy or a test server
    base_url: HttpUrl = HttpUrl("https://slack.com/api/")
    timeout_s: float = Field(default=10.0, gt=0)


class EmailSink(_Strict):
    kind: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    #: "starttls" upgrades a plain connection (port 587), "ssl" is implicit TLS (465)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    sender: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    username_env: str | None = Field(default=None, pattern=_ENV_NAME)
    password_env: str | None = Field(default=None, pattern=_ENV_NAME)
    timeout_s: float = Field(default=20.0, gt=0)

    @model_validator(mode="after")
    def _credentials_together(self) -> EmailSink:
        if (self.username_env is None) != (self.password_env is None):
            missing = "password_env" if self.password_env is None else "username_env"
            present = "username_env" if missing == "password_env" else "password_env"
            raise LocatedValueError(f"{present} needs {missing} too (SMTP login takes both)", (present,))
        return self


class ZendeskSink(_Strict):
    kind: Literal["zendesk"]
    #: the account's root, e.g. https://acme.zendesk.com
    url: HttpUrl
    email_env: str = Field(pattern=_ENV_NAME)
    token_env: str = Field(pattern=_ENV_NAME)
    group_id: int | None = None
    timeout_s: float = Field(default=15.0, gt=0)


SinkConfig = Annotated[WebhookSink | SlackSink | EmailSink | ZendeskSink, Field(discriminator="kind")]


class DeliveryConfig(_Strict):
    #: the ticket link in every message; ``{ticket_id}`` is filled in
    link: str = "http://127.0.0.1:8000/v1/tickets/{ticket_id}"
    retry: RetryPolicy = RetryPolicy()
    sinks: dict[str, SinkConfig] = Field(default_factory=dict)
    teams: dict[Team, list[str]] = Field(default_factory=dict)

    @field_validator("link")
    @classmethod
    def _link_names_the_ticket(cls, v: str) -> str:
        if "{ticket_id}" not in v:
            raise ValueError("link must contain {ticket_id}")
        return v

    @field_validator("sinks")
    @classmethod
    def _sink_names(cls, v: dict[str, SinkConfig]) -> dict[str, SinkConfig]:
        for name in v:
            if not name or len(name) > 128 or not name.replace("-", "").replace("_", "").isalnum():
                raise LocatedValueError(f"sink name {name!r}: use letters, digits, '-' and '_'", (name,))
        return v

    @model_validator(mode="after")
    def _teams_name_known_sinks(self) -> DeliveryConfig:
        for team, names in self.teams.items():
            for i, name in enumerate(names):
                if name not in self.sinks:
                    known = ", ".join(sorted(self.sinks)) or "none"
                    raise LocatedValueError(
                        f"team {team.value} lists sink {name!r}, which is not defined under sinks (defined: {known})",
                        ("teams", team.value, i),
                    )
        return self

    def sinks_for(self, team: Team) -> list[str]:
        return list(self.teams.get(team, []))


def load_delivery_config(path: Path) -> DeliveryConfig:
    return load_config(path, DeliveryConfig)
