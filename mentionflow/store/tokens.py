"""API tokens: one per person or integration, bound to one team or admin.

Only a SHA-256 of each token is stored, so a leaked database does not leak
working credentials; the token itself is shown once, when it is created.
Tokens are 256 random bits, so a plain hash (no salt, no slow KDF) is
enough and lets every request be checked with one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from mentionflow.models import Team, utcnow
from mentionflow.store.db import stored_time
from mentionflow.store.tables import ApiTokenRow

__all__ = ["TOKEN_PREFIX", "Caller", "TokenStore"]

TOKEN_PREFIX = "mf_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Caller:
    """Who is calling: ``team`` None means an admin, who sees every team."""

    name: str
    team: Team | None

    @property
    def is_admin(self) -> bool:
        return self.team is None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(self, name: str, team: Team | None) -> str:
        """A new token for ``name``; returns the token (shown only now)."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(ApiTokenRow).values(
                    name=name, team=team.value if team else None, token_sha256=_digest(token), created_at=utcnow(),
                ))
        except IntegrityError:
            raise ValueError(f"a token named {name!r} already exists; revoke it or pick another name") from None
        return token

    def authenticate(self, token: str) -> Caller | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            return None
        with self.engine.begin() as conn:
            row = conn.execute(
                select(ApiTokenRow.id, ApiTokenRow.name, ApiTokenRow.team, ApiTokenRow.last_used_at)
                .where(ApiTokenRow.token_sha256 == _digest(token), ApiTokenRow.revoked_at.is_(None))
            ).first()
            if row is None:
                return None
            now = utcnow()
            # "last used" is for spotting stale tokens, not an access log: one
            # write per token per minute keeps reads from turning into writes.
            if row.last_used_at is None or now - stored_time(row.last_used_at) > LAST_USED_RESOLUTION:
                conn.execute(update(ApiTokenRow).where(ApiTokenRow.id == row.id).values(last_used_at=now))
        return Caller(row.name, Team(row.team) if row.team else None)

    def revoke(self, name: str) -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                update(ApiTokenRow).where(ApiTokenRow.name == name, ApiTokenRow.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            ).rowcount
        return bool(done)

    def list(self) -> list[tuple[str, str, datetime, datetime | None, datetime | None]]:
        """(name, team or 'admin', created, last used, revoked) per token."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(ApiTokenRow.__table__).order_by(ApiTokenRow.name)).all()
        return [(r.name, r.team or "admin", r.created_at, r.last_used_at, r.revoked_at) for r in rows]
