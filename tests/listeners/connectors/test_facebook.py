"""Facebook Page connector against a local Graph API: polling, errors, rate limits, webhooks."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from listeners.base import Checkpoint, Mode, Rejected
from listeners.connectors import connector_classes
from listeners.connectors.meta import FacebookSource
from listeners.errors import (
    AuthFailed,
    MissingCredential,
    QueryRejected,
    RateLimited,
    SourceUnavailable,
)
from listeners.intake import IntakePublisher, create_intake_app
from listeners.runner import run_listener
from mentionflow.models import Mention
from mentionflow.store.listening import SourceState
from tests.fakes.http import json_response
from tests.fakes.platforms.meta import FakeGraphApi, graph_error, signed

TOKEN, SECRET, VERIFY = "EAAB-page-token", "app-secret-123", "verify-me"
PAGE = "1040000001"
T0 = 1_790_000_000  # "now" for every test


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def post(n: int, *, minutes_ago: int | None = None, **over) -> dict:  # type: ignore[no-untyped-def]
    at = T0 - 60 * (minutes_ago if minutes_ago is not None else n)
    item = {"id": f"{PAGE}_{n}", "message": f"post {n} about acme", "created_time": iso(at),
            "from": {"id": f"55{n}", "name": f"User {n}"},
            "permalink_url": f"https://www.facebook.com/{PAGE}/posts/{n}"}
    item.update(over)
    return {k: v for k, v in item.items() if v is not None}


def comment(post_id: str, n: int, *, minutes_ago: int = 1, **over) -> dict:  # type: ignore[no-untyped-def]
    item = {"id": f"{post_id.split('_')[1]}_{n}", "message": f"comment {n}", "created_time": iso(T0 - 60 * minutes_ago),
            "from": {"id": f"77{n}", "name": f"Commenter {n}"},
            "permalink_url": f"https://www.facebook.com/{PAGE}/posts/{post_id}?comment_id={n}"}
    item.update(over)
    return item


@pytest.fixture
def graph():  # type: ignore[no-untyped-def]
    with FakeGraphApi(TOKEN, SECRET) as fake:
        fake.objects[PAGE] = {"id": PAGE, "name": "Acme Parcels", "followers_count": 1234}
        yield fake


@pytest.fixture
def env(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FB_TOKEN", TOKEN)
    monkeypatch.setenv("FB_SECRET", SECRET)
    monkeypatch.setenv("FB_VERIFY", VERIFY)


def source(graph: FakeGraphApi, **over) -> FacebookSource:  # type: ignore[no-untyped-def]
    config = {"name": "acme-fb", "kind": "facebook", "brand": "acme", "page_id": PAGE,
              "access_token": {"env": "FB_TOKEN"}, "app_secret": {"env": "FB_SECRET"},
              "verify_token": {"env": "FB_VERIFY"}, "base_url": graph.base_url, "page_size": 2,
              "max_retries": 1, "max_wait_s": 120}
    config.update(over)
    return FacebookSource.model_validate(config)


def poll(src: FacebookSource, cursor=None, sleeps=None):  # type: ignore[no-untyped-def]
    listener = src.listener(sleep=(sleeps if sleeps is not None else []).append, clock=lambda: T0)
    return list(listener.poll(cursor)), listener


def mentions(items) -> list[Mention]:  # type: ignore[no-untyped-def]
    return [i for i in items if isinstance(i, Mention)]


def test_registered_and_mapping_keeps_ids_author_url_and_raw(graph, env):
    assert connector_classes()["facebook"] is FacebookSource
    graph.add(PAGE, "feed", post(1))
    items, _ = poll(source(graph))
    [m] = mentions(items)
    assert m.id == f"facebook:{PAGE}_1" and m.platform == "facebook" and m.native_id == f"{PAGE}_1"
    assert m.brand == "acme" and m.text == "post 1 about acme"
    assert m.author.handle == "551" and m.author.display_name == "User 1"
    assert m.url == f"https://www.facebook.com/{PAGE}/posts/1"
    assert m.created_at == datetime.fromtimestamp(T0 - 60, timezone.utc) and m.created_at.tzinfo
    assert m.raw == post(1)
    sent = graph.requests[0]
    assert sent.path == f"/v21.0/{PAGE}/feed" and sent.query["fields"] == "id,message,created_time,from,permalink_url"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}" and "access_token" not in sent.query
    assert int(sent.query["since"]) <= T0 - 86400  # first run: the backfill (and the comment window)


def test_pages_through_feed_comments_and_tagged_following_next(graph, env):
    graph.add(PAGE, "feed", *[post(n) for n in range(1, 8)])
    graph.add(f"{PAGE}_1", "comments", *[comment(f"{PAGE}_1", n, minutes_ago=1) for n in range(1, 6)])
    graph.add(PAGE, "tagged", post(50), post(51))
    items, listener = poll(source(graph))
    ids = [m.native_id for m in mentions(items)]
    assert ids[:7] == [f"{PAGE}_{n}" for n in range(1, 8)]  # newest first, 4 pages of 2
    assert {f"1_{n}" for n in range(1, 6)} <= set(ids) and {f"{PAGE}_50", f"{PAGE}_51"} <= set(ids)
    assert len(ids) == len(set(ids)) == 14
    feed_pages = [r for r in graph.requests if r.path.endswith(f"{PAGE}/feed")]
    assert len(feed_pages) == 4 and [("after" in r.query) for r in feed_pages] == [False, True, True, True]
    assert all("access_token" not in r.query and r.query.get("appsecret_proof") for r in graph.requests)
    comment_reqs = [r for r in graph.requests if r.path.endswith(f"{PAGE}_1/comments")]
    assert len(comment_reqs) == 3 and comment_reqs[0].query["order"] == "reverse_chronological"
    assert comment_reqs[0].query["filter"] == "stream"
    assert isinstance(items[-1], Checkpoint) and items[-1].cursor["sweep"] is None


def test_second_poll_with_the_cursor_returns_only_new_posts_and_comments(graph, env, state, publisher):
    graph.add(PAGE, "feed", post(10), post(11))
    graph.add(f"{PAGE}_10", "comments", comment(f"{PAGE}_10", 1, minutes_ago=9))
    src = source(graph)
    first, _ = poll(src)
    cursor = first[-1].cursor
    assert len(mentions(first)) == 3
    assert cursor["since"] == {"feed": T0 - 600, "comments": T0 - 540, "tagged": T0 - 86400}
    assert cursor["sweep"] is None

    graph.add(PAGE, "feed", post(3, minutes_ago=8), post(2, minutes_ago=7))
    graph.add(f"{PAGE}_10", "comments", comment(f"{PAGE}_10", 2, minutes_ago=6))  # new comment on an old post
    graph.requests.clear()
    second, _ = poll(src, cursor)
    new = {f"{PAGE}_3", f"{PAGE}_2", "10_2"}
    got = [m.native_id for m in mentions(second)]
    # the high-water mark is inclusive: items stamped exactly at it are read again, never lost
    assert new <= set(got) and set(got) - new <= {f"{PAGE}_10", "10_1"}
    assert [r.query.get("since") for r in graph.requests if r.path.endswith("/tagged")] == [str(T0 - 86400)]

    state.checkpoint("acme-fb", cursor, [f"facebook:{PAGE}_10", f"facebook:{PAGE}_11", "facebook:10_1"])
    stats = run_listener(src.listener(sleep=lambda s: None, clock=lambda: T0), publisher, state)
    assert sorted(publisher.ids) == sorted(f"facebook:{n}" for n in new) and stats.published == 3
    third, _ = poll(src, state.get_cursor("acme-fb"))
    assert {m.native_id for m in mentions(third)} == {f"{PAGE}_2", "10_2"}  # only the new marks' items


def test_restart_after_page_three_fails_publishes_everything_exactly_once(graph, env, state, publisher):
    graph.add(PAGE, "feed", *[post(n) for n in range(1, 9)])  # 4 pages of 2
    graph.add(PAGE, "tagged", post(20))
    third_page = "NA=="  # base64 "4": the cursor after page 2
    graph.fail_when = lambda r: (json_response(500, {"error": {"message": "An unknown error occurred", "code": 1,
                                                               "type": "OAuthException"}})
                                 if r.path.endswith("/feed") and r.query.get("after") == third_page else None)
    src = source(graph)
    sleeps: list[float] = []
    with pytest.raises(SourceUnavailable, match="unknown error"):
        run_listener(src.listener(sleep=sleeps.append, clock=lambda: T0), publisher, state)
    assert publisher.ids == [f"facebook:{PAGE}_{n}" for n in range(1, 5)]
    saved = state.get_cursor("acme-fb")
    assert saved["sweep"]["page"]["after"] == third_page and len(sleeps) == 1

    graph.fail_when = None
    stats = run_listener(src.listener(sleep=sleeps.append, clock=lambda: T0), publisher, state)
    expected = {f"facebook:{PAGE}_{n}" for n in (*range(1, 9), 20)}
    assert sorted(publisher.ids) == sorted(expected) and len(publisher.ids) == len(expected)
    assert stats.published == 5
    assert run_listener(src.listener(sleep=sleeps.append, clock=lambda: T0), publisher, state).published == 0


def test_short_429_is_waited_out_and_a_long_throttle_raises_rate_limited(graph, env):
    graph.add(PAGE, "feed", post(1))
    graph.fail_next = [json_response(429, {"error": {"message": "Too many calls", "code": 4}}, {"Retry-After": "1"})]
    sleeps: list[float] = []
    items, _ = poll(source(graph), sleeps=sleeps)
    assert sleeps == [1.0] and len(mentions(items)) == 1

    graph.fail_next = [graph_error(400, 32, "Page request limit reached", headers=FakeGraphApi.usage_header(30))]
    with pytest.raises(RateLimited, match="rate limited by the Graph API for 1800s") as caught:
        poll(source(graph))
    assert caught.value.retry_after_s == 1800


def test_usage_header_with_an_estimate_pauses_before_the_next_call(graph, env):
    graph.add(PAGE, "feed", post(1))
    graph.extra_headers = FakeGraphApi.usage_header(1, pct=100)
    sleeps: list[float] = []
    poll(source(graph), sleeps=sleeps)
    assert sleeps and sleeps[0] == 60.0  # 1 minute, honoured before the tagged read


def test_expired_token_is_auth_failed_and_probe_says_so(graph, env):
    graph.expired = True
    with pytest.raises(AuthFailed, match="page access token expired"):
        poll(source(graph))
    with pytest.raises(AuthFailed, match=r"token expired.*190/463"):
        source(graph).probe()


def test_wrong_app_secret_and_missing_variable_are_named(graph, env, monkeypatch):
    monkeypatch.setenv("FB_SECRET", "not-the-secret")
    with pytest.raises(QueryRejected, match="Invalid appsecret_proof"):
        source(graph).probe()
    monkeypatch.delenv("FB_TOKEN")
    with pytest.raises(MissingCredential, match="FB_TOKEN"):
        source(graph).listener()


def test_bad_field_is_query_rejected_quoting_meta(graph, env):
    graph.fail_next = [graph_error(400, 100, "(#100) Tried accessing nonexisting field (mesage)")]
    with pytest.raises(QueryRejected, match=r"fbtrace_id AbCdEf123.*nonexisting field \(mesage\)"):
        poll(source(graph))


def test_malformed_items_are_rejected_and_deleted_or_textless_ones_skipped(graph, env, caplog):
    graph.add(PAGE, "feed", post(1), post(2, message=None), {"message": "no id", "created_time": iso(T0 - 300)},
              post(4, created_time="yesterday"), post(5, **{"from": {"id": PAGE, "name": "Acme"}}), post(9))
    graph.objects.pop(f"{PAGE}_9")  # deleted before its comments are read: error 100/33
    with caplog.at_level(logging.INFO, logger="listeners.connectors.meta"):
        items, listener = poll(source(graph))
    rejected = [i for i in items if isinstance(i, Rejected)]
    assert sorted(m.native_id for m in mentions(items)) == [f"{PAGE}_1", f"{PAGE}_9"]
    reasons = sorted(r.reason for r in rejected)
    assert len(reasons) == 2
    assert "created_time" in reasons[0] and "yesterday" in reasons[0]
    assert "has no id" in reasons[1] and json.loads(rejected[0].payload)
    assert listener.skipped == {"without text": 1, "by the page itself": 1, "deleted objects": 1}
    assert "does not exist" in caplog.text


def test_probe_names_the_page(graph, env):
    assert source(graph).probe() == "page 'Acme Parcels' (1040000001) is readable with this token; 1234 followers"


# -- webhooks ----------------------------------------------------------------------------


def feed_change(item: str, verb: str = "add", **value) -> dict:  # type: ignore[no-untyped-def]
    base = {"item": item, "verb": verb, "created_time": T0 - 60, "from": {"id": "551", "name": "User 1"}}
    if item == "comment":
        base.update(comment_id="1_7", post_id=f"{PAGE}_1", parent_id=f"{PAGE}_1", message="where is my parcel")
    else:
        base.update(post_id=f"{PAGE}_1", message="post 1 about acme", published=1)
    base.update(value)
    return {"field": "feed", "value": base}


def delivery(*changes: dict) -> bytes:
    return json.dumps({"object": "page", "entry": [{"id": PAGE, "time": T0, "changes": list(changes)}]}).encode()


@pytest.fixture
def intake(graph, env, intake_queue):  # type: ignore[no-untyped-def]
    return TestClient(create_intake_app([source(graph)], intake_queue))


def test_handshake_answers_the_challenge_only_for_the_verify_token(intake):
    ok = intake.get("/intake/acme-fb", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                               "hub.challenge": "1158201444"})
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = intake.get("/intake/acme-fb", params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                "hub.challenge": "1"})
    assert bad.status_code == 403


def test_signed_delivery_is_queued_and_bad_missing_or_replayed_ones_are_not(intake, intake_queue, sqlite_engine,
                                                                             publisher):
    body = delivery(feed_change("status"), feed_change("comment"), feed_change("status", verb="remove"),
                    {"field": "feed", "value": {"item": "reaction", "verb": "add", "reaction_type": "like"}})
    for headers in ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, {}, signed(body, "other-secret"),
                    {"X-Hub-Signature-256": signed(body, SECRET)["X-Hub-Signature-256"].replace("sha256", "sha1")}):
        answer = intake.post("/intake/acme-fb", content=body, headers={"Content-Type": "application/json", **headers})
        assert answer.status_code == 401, headers
    assert intake_queue.depth() == 0

    assert intake.post("/intake/acme-fb", content=body, headers=signed(body, SECRET)).json() == {
        "accepted": 2, "rejected": 0}
    replay = intake.post("/intake/acme-fb", content=body, headers=signed(body, SECRET))
    assert replay.status_code == 202 and replay.json() == {"accepted": 0, "rejected": 0}
    assert intake_queue.depth() == 2
    IntakePublisher(intake_queue, SourceState(sqlite_engine), publisher).drain_once()
    assert publisher.ids == [f"facebook:{PAGE}_1", "facebook:1_7"]
    assert publisher.mentions[1].raw["value"]["comment_id"] == "1_7"
    assert publisher.mentions[1].created_at == datetime.fromtimestamp(T0 - 60, timezone.utc)


def test_a_post_seen_by_webhook_and_by_polling_is_one_mention(graph, intake, intake_queue, sqlite_engine,
                                                              publisher):
    body = delivery(feed_change("status"))
    assert intake.post("/intake/acme-fb", content=body, headers=signed(body, SECRET)).status_code == 202
    edited = delivery(feed_change("status", verb="edited", message="post 1 about acme (edited)"))
    assert intake.post("/intake/acme-fb", content=edited, headers=signed(edited, SECRET)).json()["accepted"] == 1
    state = SourceState(sqlite_engine)
    IntakePublisher(intake_queue, state, publisher).drain_once()
    graph.add(PAGE, "feed", post(1))
    stats = run_listener(source(graph).listener(sleep=lambda s: None, clock=lambda: T0), publisher, state)
    assert publisher.ids == [f"facebook:{PAGE}_1"] and stats.duplicates == 1


def test_mention_change_without_text_is_read_from_the_graph(graph, intake, intake_queue):
    graph.objects[f"{PAGE}_77"] = post(77)
    gone = {"field": "mention", "value": {"item": "post", "verb": "add", "post_id": "404_1", "sender_id": "9"}}
    body = delivery({"field": "mention", "value": {"item": "post", "verb": "add", "post_id": f"{PAGE}_77",
                                                   "sender_id": "5577", "sender_name": "User 77"}}, gone)
    assert intake.post("/intake/acme-fb", content=body, headers=signed(body, SECRET)).json() == {
        "accepted": 1, "rejected": 0}
    [queued] = intake_queue.peek()
    assert json.loads(queued.payload)["text"] == "post 77 about acme"


def test_a_source_without_verify_token_is_not_mounted_for_pushes(graph, env, intake_queue):
    src = source(graph, verify_token=None)
    assert Mode.PUSH not in src.active_modes()
    client = TestClient(create_intake_app([src], intake_queue))
    body = delivery(feed_change("status"))
    assert client.post("/intake/acme-fb", content=body, headers=signed(body, SECRET)).status_code == 404
    assert client.get("/intake/acme-fb", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                                 "hub.challenge": "1"}).status_code == 404
    assert intake_queue.depth() == 0
