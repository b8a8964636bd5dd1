"""PlatformClient against a local server: rate limits, retries, errors that say what is wrong."""

from __future__ import annotations

from datetime import datetime, timezone
from email.utils import format_datetime

import pytest

from listeners.errors import AuthFailed, ContentGone, QueryRejected, RateLimited, SourceUnavailable
from listeners.http import PlatformClient, wait_from_headers
from tests.fakes.http import FakeHTTPServer, Request, Response, json_response

NOW = 1_800_000_000.0


class Scripted(FakeHTTPServer):
    def __init__(self, answers: list[Response]) -> None:
        super().__init__()
        self.answers = answers
        self.requests: list[Request] = []

    def handle(self, request: Request) -> Response:
        self.requests.append(request)
        return self.answers.pop(0) if self.answers else json_response(200, {"ok": True})


@pytest.fixture
def server():  # type: ignore[no-untyped-def]
    s = Scripted([]).start()
    yield s
    s.stop()


def client(server: FakeHTTPServer, slept: list[float], **kw) -> PlatformClient:  # type: ignore[no-untyped-def]
    return PlatformClient("src", server.url, sleep=slept.append, clock=lambda: NOW, **kw)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": format_datetime(datetime.fromtimestamp(NOW + 30, timezone.utc), usegmt=True)}, 30.0),
        ({"x-rate-limit-reset": str(int(NOW + 90))}, 90.0),  # X: epoch seconds
        ({"X-Ratelimit-Reset": "42.5"}, 42.5),  # Reddit: seconds from now
        ({"X-RateLimit-Reset": datetime.fromtimestamp(NOW + 300, timezone.utc).isoformat()}, 300.0),  # Mastodon
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_every_platforms_wait_header_is_understood(headers, expected):
    assert wait_from_headers(headers, NOW) == expected


def test_a_short_retry_after_is_honoured_then_the_call_succeeds(server):
    server.answers = [json_response(429, {"title": "Too Many Requests"}, {"Retry-After": "2"})]
    slept: list[float] = []
    assert client(server, slept).get_json("/items") == {"ok": True}
    assert slept == [2.0] and len(server.requests) == 2


def test_a_long_wait_ends_the_run_with_rate_limited(server):
    server.answers = [json_response(429, {}, {"x-rate-limit-reset": str(int(NOW + 900))})]
    with pytest.raises(RateLimited, match="900s") as info:
        client(server, [], max_wait_s=60).get_json("/items")
    assert info.value.retry_after_s == 900


def test_a_spent_quota_waits_for_the_reset_before_the_next_call(server):
    server.answers = [json_response(200, {"page": 1}, {"x-rate-limit-remaining": "0",
                                                        "x-rate-limit-reset": str(int(NOW + 15))})]
    slept: list[float] = []
    c = client(server, slept)
    c.get_json("/items")
    assert slept == []
    c.get_json("/items")
    assert slept == [15.0]


def test_server_errors_are_retried_then_reported(server):
    server.answers = [json_response(503, {"message": "over capacity"})] * 3
    slept: list[float] = []
    with pytest.raises(SourceUnavailable, match="over capacity"):
        client(server, slept, max_retries=2).get_json("/items")
    assert len(slept) == 2 and len(server.requests) == 3


def test_connection_refused_is_retried_then_reported():
    gone = FakeHTTPServer()  # never started
    with pytest.raises(SourceUnavailable, match="ConnectError"):
        PlatformClient("src", gone.url, max_retries=1, sleep=lambda s: None).get_json("/items")


@pytest.mark.parametrize(
    ("status", "body", "error", "words"),
    [
        (401, {"title": "Unauthorized", "detail": "Unauthorized"}, AuthFailed, "refused the credential"),
        (400, {"errors": [{"message": "There were errors processing your request: no viable alternative"}]},
         QueryRejected, "no viable alternative"),
        (404, {"error": {"message": "Object does not exist"}}, ContentGone, "Object does not exist"),
    ],
)
def test_client_errors_name_the_problem_in_the_platforms_words(server, status, body, error, words):
    server.answers = [json_response(status, body)]
    with pytest.raises(error, match=words) as info:
        client(server, []).get_json("/2/tweets/search/recent", params={"query": "x"})
    assert "src" in str(info.value) and "/2/tweets/search/recent" in str(info.value)
