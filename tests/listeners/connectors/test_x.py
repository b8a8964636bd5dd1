"""The X connector against a local server speaking X API v2 (recent search, rules, filtered stream)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from listeners.base import Checkpoint, Rejected
from listeners.connectors.x import StreamBackoff, XSource
from listeners.errors import (
    AuthFailed,
    MissingCredential,
    QueryRejected,
    RateLimited,
    SourceUnavailable,
)
from listeners.runner import run_listener
from mentionflow.models import Mention
from tests.fakes.clock import Sleeps
from tests.fakes.http import json_response
from tests.fakes.platforms.x import FakeX
from tests.fakes.publisher import RecordingPublisher

QUERY = "nordbank -is:retweet"
FAST = StreamBackoff(network_step_s=0.01, network_max_s=0.05, http_first_s=0.05, http_max_s=0.2,
                     rate_first_s=0.1, rate_max_s=0.2)



@pytest.fixture
def fake():
    with FakeX() as server:
        yield server


@pytest.fixture(autouse=True)
def token(monkeypatch, fake):
    monkeypatch.setenv("X_BEARER_TOKEN", fake.token)



def source(fake: FakeX, **over) -> XSource:
    config = {"name": "x-nordbank", "kind": "x", "brand": "nordbank", "query": QUERY,
              "bearer_token": {"env": "X_BEARER_TOKEN"}, "base_url": fake.url, "page_size": 10,
              "max_wait_s": 5, "stall_timeout_s": 3, **over}
    return XSource.model_validate(config)


def items(outputs):
    return [o for o in outputs if not isinstance(o, Checkpoint)]


def checkpoints(outputs):
    return [o.cursor for o in outputs if isinstance(o, Checkpoint)]


def searches(fake):
    return [r for r in fake.requests if r.path == "/2/tweets/search/recent"]


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


# --- mapping ------------------------------------------------------------------------------------

def test_a_post_becomes_a_mention_with_its_author_url_language_and_raw(fake):
    fake.user("nordbank_fan", name="Ann Fan", followers=1234, verified=True)
    long_text = "nordbank " + "x" * 300
    when = (datetime.now(timezone.utc) - timedelta(hours=1)).replace(microsecond=0)
    t = fake.post("@nordbank my card is blocked again", "nordbank_fan", lang="en", created_at=when)
    note = fake.post(long_text[:280], "nordbank_fan", lang="und", note_tweet={"text": long_text})
    out = list(source(fake).listener().poll(None))
    by_id = {m.native_id: m for m in items(out)}
    m = by_id[t["id"]]
    assert isinstance(m, Mention)
    assert m.id == f"x:{t['id']}" and m.platform == "x" and m.brand == "nordbank"
    assert m.text == "@nordbank my card is blocked again"
    assert (m.author.handle, m.author.display_name, m.author.followers, m.author.verified) == \
        ("nordbank_fan", "Ann Fan", 1234, True)
    assert m.url == f"https://x.com/nordbank_fan/status/{t['id']}"
    assert m.created_at == when and m.created_at.tzinfo is not None
    assert m.language == "en"
    assert m.raw["data"]["conversation_id"] == t["id"]  # the platform's own JSON is kept
    assert m.raw["data"]["public_metrics"]["like_count"] == 1
    assert m.raw["includes"]["users"][0]["username"] == "nordbank_fan"
    # posts over 280 characters: the full text is in note_tweet; "und" is no language
    assert by_id[note["id"]].text == long_text and by_id[note["id"]].language is None
    sent = searches(fake)[0].query
    assert sent["query"] == QUERY and sent["max_results"] == "10" and sent["expansions"] == "author_id"
    assert set(sent["tweet.fields"].split(",")) >= {"created_at", "lang", "author_id", "public_metrics",
                                                    "conversation_id"}
    assert set(sent["user.fields"].split(",")) >= {"username", "name", "verified", "public_metrics"}
    # the first run reaches back `backfill` (1 day by default), not the whole window
    start = datetime.fromisoformat(sent["start_time"])
    assert timedelta(hours=23) < datetime.now(timezone.utc) - start < timedelta(hours=25)


def test_author_missing_from_includes_keeps_the_author_id(fake):
    t = fake.post("nordbank rocks", "ghost")
    fake.users.clear()  # suspended: X leaves the author out of includes
    (m,) = items(source(fake).listener().poll(None))
    assert m.author.handle == t["author_id"]
    assert m.url == f"https://x.com/i/web/status/{t['id']}"


# --- pagination and cursor -----------------------------------------------------------------------

def test_pages_newest_first_and_moves_since_id_only_when_the_sweep_completes(fake):
    posts = [fake.post(f"nordbank post {n}") for n in range(25)]
    fake.post("RT @someone: nordbank post")  # excluded by -is:retweet
    out = list(source(fake).listener().poll(None))
    ids = [m.native_id for m in items(out)]
    assert ids == [p["id"] for p in reversed(posts)]
    newest = posts[-1]["id"]
    cps = checkpoints(out)
    assert len(cps) == 3
    assert [c.get("newest_id") for c in cps[:2]] == [newest, newest]  # high-water mark kept, not moved
    assert all("next_token" in c and "since_id" not in c for c in cps[:2])
    assert cps[2] == {"since_id": newest}
    tokens = [r.query.get("next_token") for r in searches(fake)]
    assert tokens == [None, cps[0]["next_token"], cps[1]["next_token"]]


def test_a_second_poll_with_the_cursor_returns_only_new_posts(fake):
    for n in range(3):
        fake.post(f"nordbank old {n}")
    listener = source(fake).listener()
    cursor = checkpoints(listener.poll(None))[-1]
    new = [fake.post(f"nordbank new {n}") for n in range(2)]
    out = list(listener.poll(cursor))
    assert [m.native_id for m in items(out)] == [new[1]["id"], new[0]["id"]]
    assert searches(fake)[-1].query["since_id"] == cursor["since_id"]
    assert "start_time" not in searches(fake)[-1].query
    assert checkpoints(out) == [{"since_id": new[1]["id"]}]
    assert list(listener.poll({"since_id": new[1]["id"]})) == [Checkpoint({"since_id": new[1]["id"]})]


def test_a_restart_mid_sweep_publishes_every_post_exactly_once(fake, state):
    posts = [fake.post(f"nordbank {n}") for n in range(35)]  # four pages of 10
    failing = {"on": True}

    def page_three_breaks(request):
        tok = request.query.get("next_token")
        if failing["on"] and request.path.endswith("/recent") and tok and int(tok[-19:]) == int(posts[15]["id"]):
            return json_response(503, {"title": "Service Unavailable", "detail": "Service Unavailable"})
        return None

    fake.intercept = page_three_breaks
    publisher = RecordingPublisher()
    with pytest.raises(SourceUnavailable, match="gave up after"):
        run_listener(source(fake).listener(sleep=Sleeps()), publisher, state)
    assert len(publisher.ids) == 20  # pages 1-2, flushed at their checkpoints
    cursor = state.get_cursor("x-nordbank")
    assert cursor["newest_id"] == posts[-1]["id"] and "next_token" in cursor
    late = [fake.post(f"nordbank late {n}") for n in range(3)]  # arrive while the sweep is broken
    failing["on"] = False
    stats = run_listener(source(fake).listener(sleep=Sleeps()), publisher, state)
    assert stats.published == 15
    assert state.get_cursor("x-nordbank") == {"since_id": posts[-1]["id"]}
    run_listener(source(fake).listener(sleep=Sleeps()), publisher, state)  # the next run finds the late ones
    counts = Counter(publisher.ids)
    assert set(counts) == {f"x:{p['id']}" for p in posts + late}
    assert set(counts.values()) == {1}


def test_a_stored_next_token_x_no_longer_accepts_restarts_the_sweep(fake):
    posts = [fake.post(f"nordbank {n}") for n in range(12)]
    cursor = {"since_id": "1", "next_token": "expired-token", "newest_id": posts[-1]["id"]}
    out = list(source(fake).listener().poll(cursor))
    assert {m.native_id for m in items(out)} == {p["id"] for p in posts}
    assert checkpoints(out)[-1] == {"since_id": posts[-1]["id"]}


# --- rate limits ------------------------------------------------------------------------------

def test_a_short_429_is_waited_out(fake):
    fake.post("nordbank hello")
    answered = []

    def once(request):
        if not answered:
            answered.append(request)
            return json_response(429, {"title": "Too Many Requests", "detail": "Too Many Requests"},
                                 {"Retry-After": "1"})
        return None

    fake.intercept = once
    sleeps = Sleeps()
    assert len(items(source(fake).listener(sleep=sleeps).poll(None))) == 1
    assert sleeps == [1.0]


def test_a_long_429_ends_the_run_with_rate_limited(fake):
    reset = int(time.time()) + 3600
    fake.intercept = lambda r: json_response(
        429, {"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank", "status": 429},
        {"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)})
    with pytest.raises(RateLimited, match=r"x-nordbank: rate limited for 3\d\d\ds") as err:
        list(source(fake).listener(sleep=Sleeps()).poll(None))
    assert err.value.retry_after_s > 3500


def test_a_spent_quota_stops_after_the_page_in_hand(fake, state):
    for n in range(15):
        fake.post(f"nordbank {n}")
    fake.rate_limit = 1  # the first page says remaining 0, reset in 15 minutes
    publisher = RecordingPublisher()
    with pytest.raises(RateLimited, match="rate limit resets in"):
        run_listener(source(fake).listener(sleep=Sleeps()), publisher, state)
    assert len(publisher.ids) == 10 and "next_token" in state.get_cursor("x-nordbank")
    assert len(searches(fake)) == 1  # no request spent on a certain 429


# --- credentials and errors -------------------------------------------------------------------

def test_a_refused_token_says_which_credential(fake, monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", "AAAA-old-secret-9f3")
    s = source(fake)
    with pytest.raises(AuthFailed, match="X refused the bearer token from environment variable X_BEARER_TOKEN") as err:
        list(s.listener().poll(None))
    message = str(err.value)
    assert "HTTP 401" in message and "Unauthorized" in message and "AAAA-old-secret-9f3" not in message
    with pytest.raises(AuthFailed, match="refused the bearer token"):
        s.probe()


def test_a_missing_variable_is_named(fake, monkeypatch):
    monkeypatch.delenv("X_BEARER_TOKEN")
    s = source(fake)
    for call in (s.listener, s.probe, s.stream_listener):
        with pytest.raises(MissingCredential,
                           match="x-nordbank: bearer_token: environment variable X_BEARER_TOKEN is not set"):
            call()
    assert fake.requests == []


def test_bad_query_syntax_quotes_x(fake):
    s = source(fake, query="nordbank (")
    with pytest.raises(QueryRejected, match="There were errors processing your request: Unmatched parenthesis"):
        list(s.listener().poll(None))
    with pytest.raises(QueryRejected, match="HTTP 400"):
        s.probe()


def test_malformed_posts_are_rejected_and_deleted_ones_skipped_with_a_count(fake):
    good = fake.post("nordbank fine", "bob")
    author = good["author_id"]
    fake.tweets += [
        {"id": "1790000000000000100", "text": " ", "author_id": author, "created_at": good["created_at"],
         "_always_match": True},
        {"id": "1790000000000000101", "text": "nordbank no date", "author_id": author},
        {"id": "1790000000000000102", "text": "nordbank odd date", "author_id": author, "created_at": "yesterday"},
    ]
    fake.user("ann")["public_metrics"]["followers_count"] = "many"  # wrong type from the platform
    bad_author = fake.post("nordbank from a broken profile", "ann")
    fake.deleted = ["1790000000000000050"]
    listener = source(fake).listener()
    out = items(listener.poll(None))
    rejected = {r.key.decode(): r for r in out if isinstance(r, Rejected)}
    assert [m.native_id for m in out if isinstance(m, Mention)] == [good["id"]]
    assert "post has no text" in rejected["x:1790000000000000100"].reason
    assert "created_at" in rejected["x:1790000000000000101"].reason
    assert "yesterday" in rejected["x:1790000000000000102"].reason
    assert "followers" in rejected[f"x:{bad_author['id']}"].reason
    assert b'"followers_count": "many"' in rejected[f"x:{bad_author['id']}"].payload  # raw bytes kept
    assert listener.deleted_skipped == 1 and "x:1790000000000000050" not in rejected


def test_probe_says_what_it_found(fake):
    s = source(fake)
    assert s.probe() == "recent search for 'nordbank -is:retweet' works; no posts in the last 7 days"
    fake.post("nordbank a")
    newest = fake.post("nordbank b")
    assert s.probe() == (f"recent search for 'nordbank -is:retweet' works; 2 posts on the first page, "
                         f"newest {newest['id']} at {newest['created_at']}")
    assert len(searches(fake)) == 2


# --- the filtered stream ----------------------------------------------------------------------

def test_the_stream_rule_is_added_and_stale_ones_of_this_source_removed(fake):
    fake.rules = [{"id": "11", "value": "nordbank old query", "tag": "x-nordbank"},
                  {"id": "12", "value": "otherbrand", "tag": "x-otherbrand"}]
    s = source(fake)
    s.stream_listener().sync_rule()
    assert sorted((r["value"], r["tag"]) for r in fake.rules) == [(QUERY, "x-nordbank"), ("otherbrand", "x-otherbrand")]
    posts = [r for r in fake.requests if r.method == "POST"]
    s.stream_listener().sync_rule()  # already right: nothing changes
    assert [r for r in fake.requests if r.method == "POST"] == posts
    with pytest.raises(QueryRejected, match=r"X refused the stream rule 'nordbank \(': .*Unmatched parenthesis"):
        source(fake, query="nordbank (").stream_listener().sync_rule()


def run_in_thread(listener, publisher, state):
    errors = []

    def target():
        try:
            run_listener(listener, publisher, state)
        except Exception as exc:  # surfaced by the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def test_the_stream_reconnects_after_a_drop_and_fills_the_gap_by_search(fake, state):
    fake.rules = [{"id": "99", "value": "otherbrand", "tag": "x-otherbrand"}]  # another source's rule
    publisher = RecordingPublisher()
    listener = source(fake).stream_listener(backoff=FAST)
    thread, errors = run_in_thread(listener, publisher, state)
    wait_until(lambda: fake.connected_streams() == 1)
    first = fake.post("nordbank live one")
    fake.post("otherbrand elsewhere")  # sent for the other source's rule: skipped here
    wait_until(lambda: publisher.ids == [f"x:{first['id']}"])
    wait_until(lambda: state.get_cursor("x-nordbank") == {"since_id": first["id"]})

    fake.accept_streams = False  # reconnects are answered 503 for a while
    fake.drop_streams()
    gap = fake.post("nordbank while disconnected")  # only search can find this one
    wait_until(lambda: sum(1 for r in fake.requests if r.path.endswith("/stream")) >= 3)
    fake.accept_streams = True
    wait_until(lambda: f"x:{gap['id']}" in publisher.ids)
    wait_until(lambda: fake.connected_streams() == 1)
    fake.push_line(b'{"data": {"id": "17900000000000009"}, "matching_rules": [{"id": "1", "tag": "x-nordbank"}]}')
    fake.push_line(b"not json")
    last = fake.post("nordbank live two")
    wait_until(lambda: f"x:{last['id']}" in publisher.ids)

    listener.stop()
    thread.join(timeout=3)
    assert not thread.is_alive() and errors == []
    assert publisher.ids == [f"x:{first['id']}", f"x:{gap['id']}", f"x:{last['id']}"]
    reasons = [r.reason for r in publisher.rejected]
    assert any("post has no text" in r for r in reasons) and any("not JSON" in r for r in reasons)
    catch_up = [r for r in searches(fake) if r.query.get("since_id") == first["id"]]
    assert catch_up, "the reconnect searched from the last post seen"
    assert state.get_cursor("x-nordbank") == {"since_id": last["id"]}
    assert listener.connections == 2 and listener.other_rules_skipped == 1


def test_a_restarted_stream_catches_up_from_its_stored_cursor(fake, state):
    before = fake.post("nordbank seen earlier")
    state.checkpoint("x-nordbank", {"since_id": before["id"]}, [f"x:{before['id']}"])
    missed = [fake.post(f"nordbank while down {n}") for n in range(12)]  # two search pages
    publisher = RecordingPublisher()
    listener = source(fake).stream_listener(backoff=FAST)
    thread, errors = run_in_thread(listener, publisher, state)
    wait_until(lambda: len(publisher.ids) == 12)
    listener.stop()
    thread.join(timeout=3)
    assert errors == [] and set(publisher.ids) == {f"x:{m['id']}" for m in missed}
    assert state.get_cursor("x-nordbank") == {"since_id": missed[-1]["id"]}


def test_stop_returns_promptly_while_the_stream_is_silent(fake):
    fake.keepalive_s = 60  # nothing arrives: the listener is blocked reading
    listener = source(fake, stall_timeout_s=60).stream_listener(backoff=FAST)
    out = []
    thread = threading.Thread(target=lambda: out.extend(listener.poll({"since_id": "1"})), daemon=True)
    thread.start()
    wait_until(lambda: fake.connected_streams() == 1 and out)
    started = time.monotonic()
    listener.stop()
    thread.join(timeout=3)
    assert not thread.is_alive() and time.monotonic() - started < 2


def test_keep_alives_checkpoint_and_a_stall_reconnects(fake):
    fake.keepalive_s = 0.05
    listener = source(fake, stall_timeout_s=0.5).stream_listener(backoff=FAST)
    out = []
    thread = threading.Thread(target=lambda: out.extend(listener.poll({"since_id": "5"})), daemon=True)
    thread.start()
    wait_until(lambda: len(out) >= 5)
    assert all(o == Checkpoint({"since_id": "5"}) for o in out)
    fake.keepalive_s = 5  # silence longer than stall_timeout_s
    time.sleep(0.2)  # let the current wait for a keep-alive pass its old deadline
    wait_until(lambda: listener.connections >= 2, timeout=5)
    listener.stop()
    thread.join(timeout=3)
    assert not thread.is_alive()


def test_a_refused_token_on_the_stream_raises_instead_of_reconnecting(fake):
    fake.intercept = lambda r: json_response(401, {"title": "Unauthorized", "type": "about:blank", "status": 401,
                                                   "detail": "Unauthorized"}) if r.path.endswith("/stream") else None
    with pytest.raises(AuthFailed, match="stream refused the bearer token from environment variable X_BEARER_TOKEN"):
        list(source(fake).stream_listener(backoff=FAST).poll(None))
    assert sum(1 for r in fake.requests if r.path.endswith("/stream")) == 1
    fake.intercept = None
    listener = source(fake).stream_listener(backoff=FAST)
    fake.token = "rotated"  # the rules call is refused too
    with pytest.raises(AuthFailed, match="X refused the bearer token from environment variable X_BEARER_TOKEN"):
        list(listener.poll(None))


def test_the_docstring_example_is_a_valid_source_and_the_kind_is_registered():
    import textwrap

    import yaml

    import listeners.connectors.x as module
    from listeners.connectors import CONNECTORS

    block = module.__doc__.split("::\n\n", 1)[1].split("\n\n", 1)[0]
    (entry,) = yaml.safe_load(textwrap.dedent(block))
    s = XSource.model_validate(entry)
    assert (s.kind, s.query, s.backfill, s.base_url) == ("x", QUERY, timedelta(days=1), "https://api.x.com")
    assert CONNECTORS["x"] == "listeners.connectors.x:XSource"
