"""Credentials by reference: an environment variable or an Airflow Connection.

A sources file never holds a secret, only where to find one, so it can be
committed and reviewed. Resolution happens when a listener is built, and a
missing secret raises :class:`MissingCredential` naming the variable or the
connection id, never a value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from listeners.errors import MissingCredential

__all__ = ["Credential", "Secret"]


@dataclass(frozen=True)
class Secret:
    """A resolved credential. ``repr`` hides the values so logs cannot leak them."""

    value: str = field(repr=False)
    login: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


class Credential(BaseModel):
    """``{env: NAME}`` or ``{airflow_conn: conn_id}`` (password is the secret)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    airflow_conn: str | None = Field(default=None, min_length=1, max_length=250)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secret(cls, value: Any) -> Any:
        if isinstance(value, str | int):
            raise ValueError(
                "a secret is never written in the sources file: give {env: VARIABLE_NAME} or {airflow_conn: conn_id}"
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Credential:
        if (self.env is None) == (self.airflow_conn is None):
            raise ValueError("give exactly one of 'env' (a variable name) or 'airflow_conn' (a connection id)")
        return self

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"Airflow connection {self.airflow_conn!r}"

    def resolve(self) -> Secret:
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise MissingCredential(f"{self.describe()} is not set")
            return Secret(value)
        return _from_airflow(self.airflow_conn or "")


def _from_airflow(conn_id: str) -> Secret:
    # Imported here: Airflow is heavy and only needed when a connection is named.
    try:
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # Airflow raises its own not-found types per version
        raise MissingCredential(f"Airflow connection {conn_id!r} cannot be read: {type(exc).__name__}") from None
    secret = conn.password or ""
    if not secret:
        raise MissingCredential(f"Airflow connection {conn_id!r} has no password set")
    return Secret(secret, login=conn.login, extra=dict(conn.extra_dejson or {}))
