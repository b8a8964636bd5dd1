"""The shape every connector's config shares, and what it must be able to do.

A connector is one module under ``listeners/connectors/``: a pydantic
config class (one entry of ``config/sources.yaml``) that knows how to build
its listener, how to prove its credentials work (``sources test``) and,
for push connectors, how to receive a request. Keeping all three on the
config class means one file per channel, and the sources file, the CLI,
the DAG and the intake service need no per-channel code.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field, field_validator

from listeners.base import Listener, Mode, Rejected
from listeners.credentials import Credential
from mentionflow.models import Mention

__all__ = ["PushReceiver", "SignatureRejected", "SourceBase", "parse_interval"]

_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_interval(value: Any) -> Any:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"``; other forms go to pydantic (seconds, ISO 8601)."""
    if isinstance(value, str) and (m := _INTERVAL.match(value)):
        return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])
    return value


class SignatureRejected(ValueError):
    """A pushed request whose signature is missing, wrong or replayed (HTTP 401)."""


class PushReceiver(Protocol):
    def handshake(self, query: Mapping[str, str]) -> str | None:
        """Answer a platform's subscription check (GET); None refuses it."""
        ...

    def receive(self, headers: Mapping[str, str], body: bytes) -> list[Mention | Rejected]:
        """Verify and parse one request; raise SignatureRejected if it is not signed by the platform."""
        ...


class SourceBase(BaseModel):
    """Fields every source has. Subclasses add ``kind: Literal[...]`` and their own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: what the connector can do; ``sources list`` prints it
    modes: ClassVar[tuple[Mode, ...]] = (Mode.POLL,)
    #: one line for ``sources list``
    summary: ClassVar[str] = ""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,127}$")
    kind: str
    enabled: bool = True
    #: how often the poll DAG runs this source
    every: timedelta = timedelta(minutes=15)
    #: the longest rate-limit wait slept through within a run; longer ends the run
    max_wait_s: float = Field(default=120.0, ge=0)
    #: retries of a failed call (connection error, 5xx, 429) before the run gives up
    max_retries: int = Field(default=4, ge=0, le=10)
    #: how long published ids are remembered to drop repeats
    seen_retention: timedelta = timedelta(days=14)

    _every = field_validator("every", "seen_retention", mode="before")(parse_interval)

    def active_modes(self) -> tuple[Mode, ...]:
        """The modes this configured source uses: a subset of ``modes`` when the
        platform allows only one at a time (a Telegram bot with a webhook cannot poll)."""
        return self.modes

    def credentials(self) -> dict[str, Credential]:
        """Every credential this source names, by field name."""
        return {k: v for k, v in ((k, getattr(self, k)) for k in type(self).model_fields) if isinstance(v, Credential)}

    def missing_credentials(self) -> list[str]:
        """Human-readable list of credentials that cannot be resolved right now."""
        missing = []
        for field, cred in self.credentials().items():
            try:
                cred.resolve()
            except Exception as exc:  # MissingCredential, or Airflow unreachable
                missing.append(f"{field}: {exc}")
        return missing

    def listener(self) -> Listener:
        """The polling listener; resolves credentials, may raise SourceError."""
        raise NotImplementedError(f"{self.kind} sources cannot be polled")

    def stream_listener(self) -> Listener:
        """The long-running listener ``mentionflow listen`` runs; its poll() never ends by itself."""
        raise NotImplementedError(f"{self.kind} sources do not stream")

    def receiver(self) -> PushReceiver:
        """The push receiver the intake service mounts at ``/intake/<name>``."""
        raise NotImplementedError(f"{self.kind} sources do not receive pushes")

    def probe(self) -> str:
        """Make one authenticated call and say what was found; raise SourceError if it fails."""
        raise NotImplementedError
