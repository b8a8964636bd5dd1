"""The Mastodon connector against a local instance speaking the Mastodon REST and streaming APIs."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from listeners.base import Checkpoint, Rejected
from listeners.connectors.mastodon import MastodonSource, ReconnectBackoff
from listeners.errors import (
    AuthFailed,
    MissingCredential,
    RateLimited,
    SourceError,
    SourceUnavailable,
)
from listeners.runner import run_listener
from listeners.text import html_to_text
from mentionflow.models import Mention
from tests.fakes.clock import Sleeps
from tests.fakes.http import json_response
from tests.fakes.platforms.mastodon import FakeMastodon
from tests.fakes.publisher import RecordingPublisher

FAST = ReconnectBackoff(network_first_s=0.01, http_first_s=0.05, max_s=0.1, http_max_s=0.2, rate_limited_s=0.1)



@pytest.fixture
def fake():
    with FakeMastodon() as server:
        yield server


@pytest.fixture(autouse=True)
def token(monkeypatch, fake):
    monkeypatch.setenv("MASTODON_TOKEN", fake.token)



def source(fake: FakeMastodon, **over) -> MastodonSource:
    config = {"name": "mastodon-nordbank", "kind": "mastodon", "brand": "nordbank", "instance_url": fake.url,
              "hashtag": "nordbank", "page_size": 10, "max_wait_s": 5, "stall_timeout_s": 3, **over}
    return MastodonSource.model_validate(config)


def search_source(fake: FakeMastodon, **over) -> MastodonSource:
    return source(fake, hashtag=None, query="nordbank", access_token={"env": "MASTODON_TOKEN"}, **over)


def items(outputs):
    return [o for o in outputs if not isinstance(o, Checkpoint)]


def checkpoints(outputs):
    return [o.cursor for o in outputs if isinstance(o, Checkpoint)]


def native(status):
    return f"127.0.0.1:{status['id']}"


def timeline_requests(fake):
    return [r for r in fake.requests if r.path.startswith("/api/v1/timelines/tag/")]


def wait_until(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached in time")


# --- mapping ------------------------------------------------------------------------------------

def test_html_becomes_plain_text_with_line_breaks_and_entities():
    html = ('<p>Hi <span class="h-card"><a href="https://x.social/@nordbank" class="u-url mention">@<span>nordbank'
            '</span></a></span> my card &amp; app &quot;fail&quot;<br>again <a href="https://nordbank.example/help/'
            'card" rel="nofollow"><span class="invisible">https://</span><span class="ellipsis">nordbank.example/'
            'help</span><span class="invisible">/card</span></a></p><p>second &lt;para&gt; &#128512;</p>')
    assert html_to_text(html) == ('Hi @nordbank my card & app "fail"\nagain https://nordbank.example/help/card'
                                  '\n\nsecond <para> \U0001F600')


def test_a_status_becomes_a_mention_with_its_author_url_language_and_raw(fake):
    fake.account("ann@social.example", display_name="Ann Example", followers=321)
    when = (datetime.now(timezone.utc) - timedelta(minutes=3)).replace(microsecond=0)
    s = fake.post("<p>My <strong>nordbank</strong> app crashed &amp; I lost my draft</p>", "ann@social.example",
                  language="de", created_at=when)
    (m, cp) = list(source(fake).listener().poll(None))
    assert isinstance(m, Mention)
    assert m.id == f"mastodon:127.0.0.1:{s['id']}" and m.native_id == f"127.0.0.1:{s['id']}"
    assert m.platform == "mastodon" and m.brand == "nordbank"
    assert m.text == "My nordbank app crashed & I lost my draft"
    assert (m.author.handle, m.author.display_name, m.author.followers, m.author.verified) == \
        ("ann@social.example", "Ann Example", 321, False)
    assert m.url == f"{fake.url}/@ann@social.example/{s['id']}"
    assert m.created_at == when and m.language == "de"
    assert m.raw["content"].startswith("<p>My <strong>") and m.raw["account"]["acct"] == "ann@social.example"
    assert cp == Checkpoint({"min_id": s["id"]})
    assert "authorization" not in timeline_requests(fake)[0].headers  # public timeline: no token sent


def test_a_reblog_stands_for_the_original_and_media_posts_use_their_descriptions(fake):
    original = fake.post("<p>nordbank fees went up</p>", "bob", tags=("other",))
    boost = fake.post("", "carol", reblog_of=original)
    media = fake.post("", "dave", media=("A nordbank ATM eating a card", None))
    warned = fake.post("", "erin", spoiler="nordbank rant")
    out = {m.author.handle: m for m in items(source(fake).listener().poll(None))}
    assert out["bob"].native_id == native(original) and out["bob"].text == "nordbank fees went up"
    assert out["bob"].raw["id"] == boost["id"] and out["bob"].raw["reblog"]["id"] == original["id"]
    assert out["dave"].text == "A nordbank ATM eating a card" and out["dave"].native_id == native(media)
    assert out["erin"].text == "nordbank rant" and out["erin"].native_id == native(warned)


# --- pagination and cursor -----------------------------------------------------------------------

def test_the_first_run_reads_the_newest_page_oldest_first(fake):
    posts = [fake.post(f"<p>nordbank {n}</p>") for n in range(13)]
    out = list(source(fake).listener().poll(None))
    assert [m.native_id for m in items(out)] == [native(p) for p in posts[3:]]
    assert checkpoints(out) == [{"min_id": posts[-1]["id"]}]


def test_pages_forward_with_min_id_and_the_link_header(fake):
    first = fake.post("<p>nordbank first</p>")
    listener = source(fake, overlap="0s").listener()
    cursor = checkpoints(listener.poll(None))[-1]
    new = [fake.post(f"<p>nordbank {n}</p>") for n in range(25)]
    fake.post("<p>about something else</p>", tags=("cats",))
    out = list(listener.poll(cursor))
    assert [m.native_id for m in items(out)] == [native(p) for p in new]  # in order, each once
    assert checkpoints(out) == [{"min_id": new[9]["id"]}, {"min_id": new[19]["id"]}, {"min_id": new[24]["id"]},
                                {"min_id": new[24]["id"]}]
    sent = [r.query.get("min_id") for r in timeline_requests(fake)[1:]]
    assert sent == [first["id"], new[9]["id"], new[19]["id"], new[24]["id"]]
    assert all(r.query["limit"] == "10" for r in timeline_requests(fake))


def test_a_second_poll_with_the_cursor_returns_only_new_posts(fake):
    for n in range(3):
        fake.post(f"<p>nordbank old {n}</p>")
    listener = source(fake, overlap="0s").listener()
    cursor = checkpoints(listener.poll(None))[-1]
    new = fake.post("<p>nordbank new</p>")
    out = list(listener.poll(cursor))
    assert [m.native_id for m in items(out)] == [native(new)]
    assert list(listener.poll({"min_id": new["id"]})) == [Checkpoint({"min_id": new["id"]})]


def test_a_post_that_federates_late_is_still_found(fake, state):
    publisher = RecordingPublisher()
    fake.post("<p>nordbank local</p>")
    run_listener(source(fake).listener(), publisher, state)
    late = fake.post("<p>nordbank from a slow server</p>", "zed@slow.example",
                     created_at=datetime.now(timezone.utc) - timedelta(minutes=4))  # id behind the cursor
    assert int(late["id"]) < int(state.get_cursor("mastodon-nordbank")["min_id"])
    stats = run_listener(source(fake).listener(), publisher, state)
    assert stats.published == 1 and stats.duplicates == 1  # the overlap re-read is dropped by seen ids
    assert publisher.ids[-1] == f"mastodon:{native(late)}"
    missed = fake.post("<p>nordbank very late</p>", created_at=datetime.now(timezone.utc) - timedelta(minutes=4))
    assert [m.native_id for m in items(source(fake, overlap="0s").listener().poll(
        state.get_cursor("mastodon-nordbank")))] == []  # without the overlap it would be lost
    assert native(missed) in {m.native_id for m in items(source(fake).listener().poll(
        state.get_cursor("mastodon-nordbank")))}


def test_a_restart_mid_way_publishes_every_post_exactly_once(fake, state):
    publisher = RecordingPublisher()
    fake.post("<p>nordbank start</p>")
    run_listener(source(fake).listener(), publisher, state)
    posts = [fake.post(f"<p>nordbank {n}</p>") for n in range(35)]  # four pages of 10
    failing = {"on": True}

    def page_three_breaks(request):
        if failing["on"] and request.query.get("min_id") == posts[19]["id"]:
            return json_response(503, {"error": "Service Unavailable"})
        return None

    fake.intercept = page_three_breaks
    with pytest.raises(SourceUnavailable, match="gave up after"):
        run_listener(source(fake, overlap="0s").listener(sleep=Sleeps()), publisher, state)
    assert len(publisher.ids) == 21  # the first run, then pages 1-2
    assert state.get_cursor("mastodon-nordbank") == {"min_id": posts[19]["id"]}
    failing["on"] = False
    run_listener(source(fake, overlap="0s").listener(sleep=Sleeps()), publisher, state)
    counts = Counter(publisher.ids)
    assert len(counts) == 36 and set(counts.values()) == {1}
    assert {f"mastodon:{native(p)}" for p in posts} <= set(counts)


def test_search_sweeps_newest_first_by_offset_down_to_the_cursor(fake, state):
    publisher = RecordingPublisher()
    old = [fake.post(f"<p>nordbank old {n}</p>", tags=()) for n in range(12)]
    listener = search_source(fake, overlap="0s").listener()
    out = list(listener.poll(None))
    assert [m.native_id for m in items(out)] == [native(p) for p in reversed(old[2:])]  # first run: one page
    cursor = checkpoints(out)[-1]
    assert cursor == {"since_id": old[-1]["id"]}
    new = [fake.post(f"<p>Nordbank new {n}</p>", tags=()) for n in range(25)]
    out = list(listener.poll(cursor))
    assert [m.native_id for m in items(out)] == [native(p) for p in reversed(new)]
    assert checkpoints(out) == [{"since_id": old[-1]["id"], "offset": 10, "newest_id": new[-1]["id"]},
                                {"since_id": old[-1]["id"], "offset": 20, "newest_id": new[-1]["id"]},
                                {"since_id": new[-1]["id"]}]
    sent = [r.query for r in fake.requests if r.path == "/api/v2/search"][-1]
    assert (sent["type"], sent["resolve"], sent["offset"], sent["limit"]) == ("statuses", "false", "20", "10")
    # interrupted after page one: the stored sweep resumes at its offset and loses nothing
    state.checkpoint("mastodon-nordbank", checkpoints(out)[0], [])
    stats = run_listener(search_source(fake, overlap="0s").listener(), publisher, state)
    assert stats.published == 15 and state.get_cursor("mastodon-nordbank") == {"since_id": new[-1]["id"]}


# --- rate limits ------------------------------------------------------------------------------

def test_a_short_429_is_waited_out(fake):
    fake.post("<p>nordbank hi</p>")
    answered = []

    def once(request):
        if not answered:
            answered.append(request)
            return json_response(429, {"error": "Too many requests"}, {"Retry-After": "1"})
        return None

    fake.intercept = once
    sleeps = Sleeps()
    assert len(items(source(fake).listener(sleep=sleeps).poll(None))) == 1
    assert sleeps == [1.0]


def test_a_long_429_ends_the_run_with_rate_limited(fake):
    reset = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    fake.intercept = lambda r: json_response(429, {"error": "Too many requests"}, {
        "X-RateLimit-Limit": "300", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset})
    with pytest.raises(RateLimited, match=r"mastodon-nordbank: rate limited for 3\d\d\ds") as err:
        list(source(fake).listener(sleep=Sleeps()).poll(None))
    assert err.value.retry_after_s > 3500


def test_a_spent_quota_waits_for_the_iso_reset(fake):
    fake.post("<p>nordbank hi</p>")
    fake.rate_limit = 1  # the first answer says remaining 0, reset (ISO 8601) in five minutes
    listener = source(fake, max_wait_s=600, overlap="0s").listener(sleep=(sleeps := Sleeps()))
    cursor = checkpoints(listener.poll(None))[-1]
    list(listener.poll(cursor))
    assert sleeps and all(250 < s <= 300 for s in sleeps)


# --- credentials, configuration and errors ------------------------------------------------------

def test_a_refused_token_says_which_credential(fake, monkeypatch):
    monkeypatch.setenv("MASTODON_TOKEN", "zz-old-secret-77")
    for s in (source(fake, access_token={"env": "MASTODON_TOKEN"}), search_source(fake)):
        with pytest.raises(AuthFailed, match="127.0.0.1 refused the access token from environment variable "
                                             "MASTODON_TOKEN") as err:
            list(s.listener().poll(None))
        assert "The access token is invalid" in str(err.value) and "zz-old-secret-77" not in str(err.value)
        with pytest.raises(AuthFailed, match="refused the access token"):
            s.probe()


def test_an_instance_that_wants_a_token_says_so(fake):
    fake.public_timelines = False
    with pytest.raises(AuthFailed, match=r"wants an access token .*This method requires an authenticated user"):
        list(source(fake).listener().poll(None))
    fake.post("<p>nordbank</p>")
    assert len(items(source(fake, access_token={"env": "MASTODON_TOKEN"}).listener().poll(None))) == 1


def test_a_missing_variable_is_named(fake, monkeypatch):
    monkeypatch.delenv("MASTODON_TOKEN")
    s = search_source(fake)
    for call in (s.listener, s.probe):
        with pytest.raises(MissingCredential, match="mastodon-nordbank: access_token: environment variable "
                                                    "MASTODON_TOKEN is not set"):
            call()
    assert fake.requests == []


def test_configuration_is_checked(fake):
    with pytest.raises(ValidationError, match="exactly one of 'hashtag' or 'query'"):
        source(fake, query="nordbank")
    with pytest.raises(ValidationError, match="needs an 'access_token'"):
        source(fake, hashtag=None, query="nordbank")
    with pytest.raises(ValidationError, match="letters, digits and underscores"):
        source(fake, hashtag="nord bank")
    assert source(fake, hashtag="#NordBank").timeline_path == "/api/v1/timelines/tag/NordBank"
    with pytest.raises(SourceError, match="streams hashtags, not searches"):
        search_source(fake).stream_listener()


def test_malformed_statuses_are_rejected_and_deleted_ones_just_disappear(fake):
    good = fake.post("<p>nordbank fine</p>")
    gone = fake.post("<p>nordbank regret</p>")
    fake.delete(gone)
    account = fake.account("ann")
    base = {"created_at": good["created_at"], "content": "<p>nordbank</p>", "account": account}
    fake.plant({**base, "id": str(int(good["id"]) + 1), "account": None})
    fake.plant({**base, "id": str(int(good["id"]) + 2), "created_at": "last tuesday"})
    fake.plant({**base, "id": str(int(good["id"]) + 3), "content": "<p> </p>", "media_attachments": []})
    fake.plant({**base, "id": str(int(good["id"]) + 4), "account": {**account, "followers_count": -5}})
    out = items(source(fake).listener().poll(None))
    assert [m.native_id for m in out if isinstance(m, Mention)] == [native(good)]
    reasons = {r.key.decode().rsplit(":", 1)[1]: r.reason for r in out if isinstance(r, Rejected)}
    first = int(good["id"])
    assert "no 'account'" in reasons[str(first + 1)]
    assert "last tuesday" in reasons[str(first + 2)]
    assert "has no text" in reasons[str(first + 3)]
    assert "followers" in reasons[str(first + 4)]
    assert all(isinstance(o, (Mention, Rejected)) for o in out) and len(out) == 5  # the deleted one: nothing


def test_probe_says_what_it_found(fake):
    assert source(fake).probe() == "127.0.0.1 answered the #nordbank timeline without a token: no posts yet"
    s = fake.post("<p>nordbank</p>")
    assert search_source(fake).probe() == (
        f"127.0.0.1 answered a search for 'nordbank' with the token from environment variable MASTODON_TOKEN; "
        f"newest post {s['id']} at {s['created_at']}")


# --- streaming --------------------------------------------------------------------------------

def run_in_thread(listener, publisher, state):
    errors = []

    def target():
        try:
            run_listener(listener, publisher, state)
        except Exception as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def test_the_stream_reconnects_after_a_drop_and_catches_up_by_the_timeline(fake, state):
    before = fake.post("<p>nordbank before the stream</p>")
    publisher = RecordingPublisher()
    listener = source(fake).stream_listener(backoff=FAST)
    thread, errors = run_in_thread(listener, publisher, state)
    wait_until(lambda: fake.connected_streams() == 1 and publisher.ids == [f"mastodon:{native(before)}"])
    live = fake.post("<p>nordbank live</p>")
    fake.post("<p>cats</p>", tags=("cats",))  # another hashtag: not on this stream
    wait_until(lambda: f"mastodon:{native(live)}" in publisher.ids)
    fake.delete(live)
    wait_until(lambda: listener.deleted_events == 1)

    fake.accept_streams = False
    fake.drop_streams()
    gap = fake.post("<p>nordbank while disconnected</p>")
    wait_until(lambda: sum(1 for r in fake.requests if r.path == "/api/v1/streaming/hashtag") >= 3)
    fake.accept_streams = True
    wait_until(lambda: f"mastodon:{native(gap)}" in publisher.ids)
    wait_until(lambda: fake.connected_streams() == 1)
    fake.push_raw(b"event: update\ndata: {not json\n\n")
    last = fake.post("<p>nordbank live again</p>")
    # the reconnect's timeline catch-up may publish `last` before the stream delivers both
    wait_until(lambda: f"mastodon:{native(last)}" in publisher.ids and len(publisher.rejected) == 1)

    listener.stop()
    thread.join(timeout=3)
    assert not thread.is_alive() and errors == []
    assert publisher.ids == [f"mastodon:{native(s)}" for s in (before, live, gap, last)]
    assert len(publisher.rejected) == 1 and "not JSON" in publisher.rejected[0].reason
    assert state.get_cursor("mastodon-nordbank") == {"min_id": last["id"]}
    assert listener.connections == 2


def test_the_stream_uses_the_streaming_host_the_instance_names(fake, state):
    with FakeMastodon(token=fake.token) as streaming:
        fake.streaming_url = f"wss://127.0.0.1:{streaming.port}".replace("wss://", "ws://")
        listener = source(fake, access_token={"env": "MASTODON_TOKEN"}).stream_listener(backoff=FAST)
        out = []
        thread = threading.Thread(target=lambda: out.extend(listener.poll(None)), daemon=True)
        thread.start()
        wait_until(lambda: streaming.connected_streams() == 1)
        stream_request = [r for r in streaming.requests if r.path == "/api/v1/streaming/hashtag"][0]
        assert stream_request.query == {"tag": "nordbank"}
        assert stream_request.headers["authorization"] == f"Bearer {fake.token}"
        assert stream_request.headers["accept"] == "text/event-stream"
        wait_until(lambda: len(out) >= 3)  # heartbeats checkpoint
        listener.stop()
        thread.join(timeout=3)
    assert not thread.is_alive() and fake.stream_connections == 0
    assert all(isinstance(o, Checkpoint) for o in out)


def test_stop_returns_promptly_while_the_stream_is_silent(fake):
    fake.heartbeat_s = 60
    listener = source(fake, stall_timeout_s=60).stream_listener(backoff=FAST)
    out = []
    thread = threading.Thread(target=lambda: out.extend(listener.poll({"min_id": "1"})), daemon=True)
    thread.start()
    wait_until(lambda: fake.connected_streams() == 1 and out)
    started = time.monotonic()
    listener.stop()
    thread.join(timeout=3)
    assert not thread.is_alive() and time.monotonic() - started < 2


def test_a_refused_token_on_the_stream_raises_instead_of_reconnecting(fake):
    fake.intercept = lambda r: (json_response(401, {"error": "The access token is invalid"})
                                if r.path.startswith("/api/v1/streaming") else None)
    listener = source(fake, access_token={"env": "MASTODON_TOKEN"}).stream_listener(backoff=FAST)
    with pytest.raises(AuthFailed, match="stream refused the access token from environment variable MASTODON_TOKEN"):
        list(listener.poll(None))
    assert sum(1 for r in fake.requests if r.path.startswith("/api/v1/streaming")) == 1


def test_the_docstring_examples_are_valid_sources_and_the_kind_is_registered():
    import textwrap

    import yaml

    import listeners.connectors.mastodon as module
    from listeners.connectors import CONNECTORS

    block = module.__doc__.split("::\n\n", 1)[1].split("\nHashtag (", 1)[0]
    entries = yaml.safe_load(textwrap.dedent(block))
    hashtag, search = (MastodonSource.model_validate(e) for e in entries)
    assert (hashtag.hashtag, hashtag.host, search.query) == ("nordbank", "mastodon.social", "nordbank")
    assert CONNECTORS["mastodon"] == "listeners.connectors.mastodon:MastodonSource"
