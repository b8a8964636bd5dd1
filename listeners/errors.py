"""Why a source could not be read, in words an operator can act on.

Each error names the source; none carries a credential. ``sources test``
prints them as they are, and the poll DAG fails the task with them.
"""

from __future__ import annotations

__all__ = [
    "AuthFailed",
    "ContentGone",
    "MissingCredential",
    "QueryRejected",
    "RateLimited",
    "SourceError",
    "SourceUnavailable",
]


class SourceError(RuntimeError):
    """A source cannot be read right now; the message says why."""


class MissingCredential(SourceError):
    """A credential the source config names is not set where it points."""


class AuthFailed(SourceError):
    """The platform refused the credential (401/403, expired or revoked token)."""


class RateLimited(SourceError):
    """The platform asked us to wait longer than the source is willing to."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class QueryRejected(SourceError):
    """The platform refused the request itself: query syntax, unknown field."""


class ContentGone(SourceError):
    """The thing asked for no longer exists (deleted post, closed channel)."""


class SourceUnavailable(SourceError):
    """The platform did not answer usefully after the allowed retries."""
