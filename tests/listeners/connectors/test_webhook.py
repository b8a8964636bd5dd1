"""The generic signed webhook, through the intake service and its publisher."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from listeners.connectors.webhook import WebhookSource
from listeners.errors import MissingCredential
from listeners.intake import IntakePublisher, create_intake_app
from listeners.intake.app import MAX_BODY_BYTES
from mentionflow.store.listening import SourceState
from mentionflow.webhook_signing import SIGNATURE_HEADER, signature_header
from tests.factories import raw_record

SECRET = "whsec-test-0123456789"


@pytest.fixture
def source(monkeypatch) -> WebhookSource:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MF_INTAKE_SECRET", SECRET)
    return WebhookSource(name="forms", kind="webhook", brand="parcelo", secret={"env": "MF_INTAKE_SECRET"})


@pytest.fixture
def intake(source, intake_queue):  # type: ignore[no-untyped-def]
    return TestClient(create_intake_app([source], intake_queue))


def post(client: TestClient, body: bytes, header: str | None, name: str = "forms"):  # type: ignore[no-untyped-def]
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers[SIGNATURE_HEADER] = header
    return client.post(f"/intake/{name}", content=body, headers=headers)


def body_of(*records: dict) -> bytes:
    return json.dumps(list(records) if len(records) > 1 else records[0]).encode()


def test_a_signed_push_is_queued_answered_202_and_published_once(intake, intake_queue, sqlite_engine, publisher):
    first = body_of(raw_record("1", brand=None), raw_record("2"))
    assert post(intake, first, signature_header(SECRET, first)).json() == {"accepted": 2, "rejected": 0}
    again = body_of(raw_record("2"))  # the sender retries one record, freshly signed
    assert post(intake, again, signature_header(SECRET, again)).status_code == 202
    assert intake_queue.depth() == 3

    drained = IntakePublisher(intake_queue, SourceState(sqlite_engine), publisher).drain_once()
    assert drained == 3 and intake_queue.depth() == 0
    assert publisher.ids == ["x:1", "x:2"]
    assert publisher.mentions[0].brand == "parcelo"  # the source's brand fills a missing one
    assert publisher.mentions[0].raw["native_id"] == "1"


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (None, "missing"),
        ("t=1,v1=", "malformed"),
        ("sha256=abc", "malformed"),
        (lambda body: signature_header("another-secret", body), "does not match"),
        (lambda body: signature_header(SECRET, body + b" "), "does not match"),
        (lambda body: signature_header(SECRET, body, int(time.time()) - 3600), "outside"),
    ],
    ids=["missing", "empty", "other-scheme", "wrong-secret", "tampered", "old"],
)
def test_unsigned_or_badly_signed_pushes_get_401_and_nothing_is_queued(intake, intake_queue, header, words):
    body = body_of(raw_record("1"))
    response = post(intake, body, header(body) if callable(header) else header)
    assert response.status_code == 401 and words in response.json()["detail"]
    assert intake_queue.depth() == 0


def test_a_replayed_request_is_refused(intake, intake_queue):
    body = body_of(raw_record("1"))
    header = signature_header(SECRET, body)
    assert post(intake, body, header).status_code == 202
    replay = post(intake, body, header)
    assert replay.status_code == 401 and "replay" in replay.json()["detail"]
    assert intake_queue.depth() == 1


def test_signed_but_malformed_records_are_dead_lettered_with_the_reason(intake, intake_queue, sqlite_engine, publisher):
    body = body_of(raw_record("1"), raw_record("2", text=""), ["not", "an", "object"])
    assert post(intake, body, signature_header(SECRET, body)).json() == {"accepted": 1, "rejected": 2}
    not_json = b"{oops"
    assert post(intake, not_json, signature_header(SECRET, not_json)).json() == {"accepted": 0, "rejected": 1}
    IntakePublisher(intake_queue, SourceState(sqlite_engine), publisher).drain_once()
    reasons = [r.reason for r in publisher.rejected]
    assert "forms: record 1: " in reasons[0] and "text is empty" in reasons[0]
    assert "record 2: expected a JSON object" in reasons[1]
    assert "body is not JSON" in reasons[2] and publisher.rejected[2].payload == not_json


def test_unknown_sources_oversized_bodies_and_handshakes_are_refused(intake, intake_queue):
    body = body_of(raw_record("1"))
    assert post(intake, body, signature_header(SECRET, body), name="nope").status_code == 404
    big = b"[" + b" " * MAX_BODY_BYTES + b"]"
    assert post(intake, big, signature_header(SECRET, big)).status_code == 413
    assert intake.get("/intake/forms", params={"hub.challenge": "1"}).status_code == 403
    assert intake.get("/healthz").json() == {"status": "ok", "sources": ["forms"], "queued": 0}


def test_the_service_will_not_start_without_its_secret(source, intake_queue, monkeypatch):
    monkeypatch.delenv("MF_INTAKE_SECRET")
    with pytest.raises(MissingCredential, match="MF_INTAKE_SECRET"):
        create_intake_app([source], intake_queue)
