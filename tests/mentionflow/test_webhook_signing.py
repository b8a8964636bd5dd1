"""Mentionflow's webhook signature: good, bad, missing, tampered and replayed."""

import pytest

from mentionflow.webhook_signing import SignatureError, sign, signature_header, verify

SECRET = "whsec_test_0123456789"
BODY = b'{"event":"ticket.created","ticket":{"id":"t-1"}}'
NOW = 1_760_000_000


def test_a_fresh_signature_verifies_and_returns_its_timestamp():
    assert verify(SECRET, signature_header(SECRET, BODY, NOW), BODY, now=NOW + 5) == NOW


def test_the_header_carries_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert signature_header(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"
    assert sign(SECRET, NOW, BODY) == expected


@pytest.mark.parametrize(
    ("header", "body", "secret", "now", "problem"),
    [
        (None, BODY, SECRET, NOW, "missing"),
        ("", BODY, SECRET, NOW, "missing"),
        ("sha256=abc", BODY, SECRET, NOW, "malformed"),
        (f"t={NOW}", BODY, SECRET, NOW, "malformed"),
        (signature_header(SECRET, BODY, NOW), BODY + b" ", SECRET, NOW, "does not match"),
        (signature_header("another-secret", BODY, NOW), BODY, SECRET, NOW, "does not match"),
        (signature_header(SECRET, BODY, NOW), BODY, SECRET, NOW + 301, "outside the 300 s tolerance"),
        (signature_header(SECRET, BODY, NOW + 400), BODY, SECRET, NOW, "outside the 300 s tolerance"),
    ],
    ids=["absent", "empty", "wrong-scheme", "no-v1", "tampered-body", "wrong-secret", "replayed-late", "from-future"],
)
def test_refused_signatures_say_why(header, body, secret, now, problem):
    with pytest.raises(SignatureError, match=problem) as err:
        verify(secret, header, body, now=now)
    assert SECRET not in str(err.value)


def test_any_of_several_v1_values_matches_during_secret_rotation():
    old = sign("old-secret", NOW, BODY)
    new = sign(SECRET, NOW, BODY)
    assert verify(SECRET, f"t={NOW},v1={old},v1={new}", BODY, now=NOW) == NOW
