"""Mentionflow's webhook signature: HMAC-SHA256 over a timestamp and the body.

    Mentionflow-Signature: t=1732262400,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd

``v1`` is ``hex(HMAC-SHA256(secret, f"{t}." + body))``. Signing the
timestamp with the body lets a receiver refuse a captured request replayed
later (outside ``tolerance_s``) without keeping every signature it has seen;
several ``v1`` values may be sent while a secret is being rotated. Outgoing
ticket webhooks sign this way, and the generic intake verifies it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "SignatureError", "sign", "signature_header", "verify"]

SIGNATURE_HEADER = "Mentionflow-Signature"
DEFAULT_TOLERANCE_S = 300


class SignatureError(ValueError):
    """Why a signature was refused (never includes the secret or the expected value)."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={sign(secret, t, body)}"


def verify(
    secret: str, header: str | None, body: bytes, tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None
) -> int:
    """Check ``header`` against ``body``; return its timestamp or raise SignatureError."""
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise SignatureError(f"malformed {SIGNATURE_HEADER} header: expected t=<unix time>,v1=<hex>")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > tolerance_s:
        raise SignatureError(f"signature timestamp is {int(age)} s old, outside the {tolerance_s} s tolerance")
    expected = sign(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, c) for c in candidates):
        raise SignatureError("signature does not match the body")
    return timestamp
