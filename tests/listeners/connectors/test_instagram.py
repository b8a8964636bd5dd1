"""Instagram business account connector against a local Graph API: polling and webhooks."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient

from listeners.base import Checkpoint, Rejected
from listeners.connectors import connector_classes
from listeners.connectors.meta import InstagramSource
from listeners.errors import AuthFailed, MissingCredential, RateLimited, SourceUnavailable
from listeners.intake import IntakePublisher, create_intake_app
from listeners.runner import run_listener
from mentionflow.models import Mention
from mentionflow.store.listening import SourceState
from tests.fakes.http import json_response
from tests.fakes.platforms.meta import FakeGraphApi, graph_error, signed

TOKEN, SECRET, VERIFY = "EAAB-page-token", "app-secret-123", "verify-ig"
IG = "17841400000000001"
T0 = 1_790_000_000


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S+0000")


def media(n: int, *, comments: int = 0, minutes_ago: int | None = None) -> dict:
    return {"id": f"1790{n}", "caption": f"our new parcel lockers #{n}", "timestamp": iso(T0 - 60 * (minutes_ago or n)),
            "permalink": f"https://www.instagram.com/p/M{n}/", "comments_count": comments}


def tagged(n: int, *, minutes_ago: int | None = None, **over) -> dict:  # type: ignore[no-untyped-def]
    item = {"id": f"1800{n}", "caption": f"@acme lost my parcel {n}", "timestamp": iso(T0 - 60 * (minutes_ago or n)),
            "permalink": f"https://www.instagram.com/p/T{n}/", "username": f"fan{n}"}
    item.update(over)
    return {k: v for k, v in item.items() if v is not None}


def comment(n: int, *, minutes_ago: int | None = None, **over) -> dict:  # type: ignore[no-untyped-def]
    item = {"id": f"1810{n}", "text": f"where is order {n}?", "timestamp": iso(T0 - 60 * (minutes_ago or n)),
            "username": f"buyer{n}", "from": {"id": f"99{n}", "username": f"buyer{n}"}}
    item.update(over)
    return {k: v for k, v in item.items() if v is not None}


@pytest.fixture
def graph():  # type: ignore[no-untyped-def]
    with FakeGraphApi(TOKEN, SECRET) as fake:
        fake.objects[IG] = {"id": IG, "username": "acme", "followers_count": 5400, "media_count": 321}
        yield fake


@pytest.fixture
def env(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("IG_TOKEN", TOKEN)
    monkeypatch.setenv("IG_SECRET", SECRET)
    monkeypatch.setenv("IG_VERIFY", VERIFY)


def source(graph: FakeGraphApi, **over) -> InstagramSource:  # type: ignore[no-untyped-def]
    config = {"name": "acme-ig", "kind": "instagram", "brand": "acme", "ig_user_id": IG,
              "access_token": {"env": "IG_TOKEN"}, "app_secret": {"env": "IG_SECRET"},
              "verify_token": {"env": "IG_VERIFY"}, "base_url": graph.base_url, "page_size": 2,
              "max_retries": 1, "max_wait_s": 60}
    config.update(over)
    return InstagramSource.model_validate(config)


def poll(src: InstagramSource, cursor=None, sleeps=None):  # type: ignore[no-untyped-def]
    listener = src.listener(sleep=(sleeps if sleeps is not None else []).append, clock=lambda: T0)
    return list(listener.poll(cursor)), listener


def mentions(items) -> list[Mention]:  # type: ignore[no-untyped-def]
    return [i for i in items if isinstance(i, Mention)]


def test_registered_and_tags_and_comments_map_to_mentions(graph, env):
    assert connector_classes()["instagram"] is InstagramSource
    graph.add(IG, "media", media(1, comments=1))
    graph.add("17901", "comments", comment(1))
    graph.add(IG, "tags", tagged(2))
    items, listener = poll(source(graph))
    by_id = {m.native_id: m for m in mentions(items)}
    assert set(by_id) == {"18101", "18002"}  # the account's own media is not a mention
    tag = by_id["18002"]
    assert tag.id == "instagram:18002" and tag.platform == "instagram" and tag.brand == "acme"
    assert tag.text == "@acme lost my parcel 2" and tag.author.handle == "fan2"
    assert tag.url == "https://www.instagram.com/p/T2/" and tag.raw == tagged(2)
    assert tag.created_at == datetime.fromtimestamp(T0 - 120, timezone.utc)
    reply = by_id["18101"]
    assert reply.text == "where is order 1?" and reply.author.handle == "buyer1"
    assert reply.url == "https://www.instagram.com/p/M1/" and reply.raw["from"] == {"id": "991", "username": "buyer1"}
    assert listener.skipped == {"by the account itself": 1}
    own, _ = poll(source(graph, include_own=True))
    assert "17901" in {m.native_id for m in mentions(own)}


def test_pages_through_media_and_every_page_of_comments(graph, env):
    graph.add(IG, "media", *[media(n, comments=7 if n == 1 else 0) for n in range(1, 6)])  # 3 pages
    graph.add("17901", "comments", *[comment(n) for n in range(1, 8)])  # 4 pages, oldest first
    items, _ = poll(source(graph))
    assert sorted(m.native_id for m in mentions(items)) == sorted(f"1810{n}" for n in range(1, 8))
    paths = [r.path.removeprefix("/v21.0/") for r in graph.requests]
    assert paths.count(f"{IG}/media") == 3 and paths.count("17901/comments") == 4
    assert not any(p.startswith(("17902", "17903")) for p in paths)  # no comments: not asked
    assert all(r.query.get("appsecret_proof") and "access_token" not in r.query for r in graph.requests)
    assert sum(isinstance(i, Checkpoint) for i in items) == 3 + 1 + 4


def test_second_poll_with_the_cursor_publishes_only_new_items(graph, env, state, publisher):
    graph.add(IG, "media", media(30, comments=1))
    graph.add("179030", "comments", comment(1, minutes_ago=20))
    graph.add(IG, "tags", tagged(1, minutes_ago=25))
    src = source(graph)
    assert run_listener(src.listener(sleep=lambda s: None, clock=lambda: T0), publisher, state).published == 2
    graph.add("179030", "comments", comment(2, minutes_ago=10))
    graph.add(IG, "tags", tagged(2, minutes_ago=15))
    stats = run_listener(src.listener(sleep=lambda s: None, clock=lambda: T0), publisher, state)
    assert stats.published == 2 and sorted(publisher.ids[2:]) == ["instagram:18002", "instagram:18102"]
    cursor = state.get_cursor("acme-ig")
    assert cursor["since"]["tags"] == T0 - 900 and cursor["since"]["comments"] == T0 - 600
    again, _ = poll(src, cursor)
    assert {m.native_id for m in mentions(again)} == {"18002", "18102"}  # at the marks; dropped as seen


def test_restart_after_comment_page_three_fails_publishes_everything_once(graph, env, state, publisher):
    graph.add(IG, "media", media(1, comments=8))
    graph.add("17901", "comments", *[comment(n) for n in range(1, 9)])  # 4 pages
    graph.fail_when = lambda r: (graph_error(503, 2, "Service temporarily unavailable")
                                 if r.path.endswith("17901/comments") and r.query.get("after") == "NA==" else None)
    src = source(graph)
    with pytest.raises(SourceUnavailable, match="Service temporarily unavailable"):
        run_listener(src.listener(sleep=lambda s: None, clock=lambda: T0), publisher, state)
    # this edge answers oldest first: pages 1-2 hold comments 8..5
    assert sorted(publisher.ids) == sorted(f"instagram:1810{n}" for n in range(5, 9))
    assert state.get_cursor("acme-ig")["sweep"]["tasks"][0]["id"] == "17901"

    graph.fail_when = None
    run_listener(src.listener(sleep=lambda s: None, clock=lambda: T0), publisher, state)
    assert sorted(publisher.ids) == sorted(f"instagram:1810{n}" for n in range(1, 9))
    assert len(publisher.ids) == len(set(publisher.ids)) == 8


def test_retry_after_is_honoured_and_a_long_one_raises(graph, env):
    graph.add(IG, "tags", tagged(1))
    graph.fail_next = [json_response(429, {"error": {"message": "busy", "code": 4}}, {"Retry-After": "1"})]
    sleeps: list[float] = []
    items, _ = poll(source(graph), sleeps=sleeps)
    assert sleeps == [1.0] and [m.native_id for m in mentions(items)] == ["18001"]
    graph.fail_next = [json_response(429, {"error": {"message": "busy", "code": 4}}, {"Retry-After": "3600"})]
    with pytest.raises(RateLimited) as caught:
        poll(source(graph))
    assert caught.value.retry_after_s == 3600


def test_expired_token_and_missing_variable(graph, env, monkeypatch):
    graph.expired = True
    with pytest.raises(AuthFailed, match="token expired"):
        poll(source(graph))
    with pytest.raises(AuthFailed, match="issue a new page access token"):
        source(graph).probe()
    monkeypatch.delenv("IG_SECRET")
    with pytest.raises(MissingCredential, match="IG_SECRET"):
        source(graph).probe()


def test_malformed_rejected_own_replies_textless_and_deleted_media_skipped(graph, env):
    graph.add(IG, "media", media(1, comments=3), media(2, comments=1))
    graph.add("17901", "comments", comment(1), comment(2, timestamp=None),
              comment(3, **{"from": {"id": IG, "username": "acme"}, "username": "acme"}))
    graph.objects.pop("17902")  # deleted before its comments are read
    graph.add(IG, "tags", tagged(4, caption=None), tagged(5, username=None), tagged(6, caption=42))
    items, listener = poll(source(graph))
    assert sorted(m.native_id for m in mentions(items)) == ["18005", "18101"]
    assert [m.author.handle for m in mentions(items) if m.native_id == "18005"] == ["unknown"]
    rejected = sorted((i for i in items if isinstance(i, Rejected)), key=lambda r: r.reason)
    assert len(rejected) == 2
    assert "comments item 18102: timestamp: missing or unreadable time" in rejected[0].reason
    assert json.loads(rejected[0].payload)["id"] == "18102"
    assert "tags item 18006" in rejected[1].reason and "text" in rejected[1].reason
    assert listener.skipped == {"by the account itself": 3, "without text": 1, "deleted objects": 1}


def test_probe_names_the_account(graph, env):
    assert source(graph).probe() == ("Instagram account @acme (17841400000000001) is readable with this token: "
                                     "321 media, 5400 followers")


# -- webhooks ----------------------------------------------------------------------------


def delivery(*changes: dict, obj: str = "instagram") -> bytes:
    return json.dumps({"object": obj, "entry": [{"id": IG, "time": T0, "changes": list(changes)}]}).encode()


@pytest.fixture
def intake(graph, env, intake_queue):  # type: ignore[no-untyped-def]
    return TestClient(create_intake_app([source(graph)], intake_queue))


def test_comment_and_mention_webhooks_become_mentions(graph, intake, intake_queue, sqlite_engine, publisher):
    graph.objects["180077"] = tagged(77)
    graph.objects["181077"] = {**comment(77), "media": {"id": "999", "permalink": "https://www.instagram.com/p/X/"}}
    body = delivery(
        {"field": "comments", "value": {"id": "18150", "text": "love it", "from": {"id": "42", "username": "ann"},
                                        "media": {"id": "17901", "media_product_type": "FEED"}}},
        {"field": "comments", "value": {"id": "18151", "text": "thanks!", "from": {"id": IG, "username": "acme"},
                                        "media": {"id": "17901"}}},
        {"field": "mentions", "value": {"media_id": "180077"}},
        {"field": "mentions", "value": {"media_id": "17900", "comment_id": "181077"}},
        {"field": "mentions", "value": {"media_id": "404404"}},  # deleted since: skipped
    )
    assert intake.post("/intake/acme-ig", content=body, headers=signed(body, SECRET)).json() == {
        "accepted": 3, "rejected": 0}
    IntakePublisher(intake_queue, SourceState(sqlite_engine), publisher).drain_once()
    by_id = {m.native_id: m for m in publisher.mentions}
    assert set(by_id) == {"18150", "180077", "181077"}
    assert by_id["18150"].author.handle == "ann" and by_id["18150"].created_at == datetime.fromtimestamp(T0, timezone.utc)
    assert by_id["180077"].text == "@acme lost my parcel 77" and by_id["180077"].url == "https://www.instagram.com/p/T77/"
    assert by_id["181077"].url == "https://www.instagram.com/p/X/" and by_id["181077"].author.handle == "buyer77"
    lookups = [r.query["fields"] for r in graph.requests if r.path == f"/v21.0/{IG}"]
    assert lookups[0].startswith("mentioned_media.media_id(180077){") and "mentioned_comment.comment_id(181077)" in lookups[1]


def test_signatures_are_checked_and_other_objects_rejected(intake, intake_queue):
    body = delivery({"field": "comments", "value": {"id": "1", "text": "x", "from": {"id": "2", "username": "b"}}})
    assert intake.post("/intake/acme-ig", content=body, headers=signed(body, "wrong")).status_code == 401
    assert intake.post("/intake/acme-ig", content=body, headers={"Content-Type": "application/json"}).status_code == 401
    assert intake_queue.depth() == 0
    assert intake.post("/intake/acme-ig", content=body, headers=signed(body, SECRET)).json()["accepted"] == 1
    assert intake.post("/intake/acme-ig", content=body, headers=signed(body, SECRET)).json()["accepted"] == 0
    page = delivery({"field": "feed", "value": {}}, obj="page")
    assert intake.post("/intake/acme-ig", content=page, headers=signed(page, SECRET)).json() == {
        "accepted": 0, "rejected": 1}
    assert "expected a webhook for object 'instagram'" in intake_queue.peek()[-1].reason
    ok = intake.get("/intake/acme-ig", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                               "hub.challenge": "77"})
    assert ok.text == "77"
