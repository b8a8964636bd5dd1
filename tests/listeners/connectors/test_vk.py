"""The VK connector against a local server speaking the VK API (errors inside HTTP 200)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

import listeners.connectors.vk as vk_module
from listeners.base import Checkpoint, Rejected
from listeners.connectors.vk import VkSource, _People, mention_from_comment, mention_from_post
from listeners.errors import (
    AuthFailed,
    MissingCredential,
    QueryRejected,
    RateLimited,
    SourceUnavailable,
)
from listeners.runner import run_listener
from listeners.sources import load_sources
from mentionflow.models import Mention
from tests.fakes.clock import Sleeps
from tests.fakes.http import json_response
from tests.fakes.platforms.vk import VkApi, vk_error
from tests.fakes.publisher import RecordingPublisher

T0 = 1763640000  # 2025-11-20 12:00 UTC
GROUP = 77
WALL = -GROUP
IVAN, OLGA = 10, 11



@pytest.fixture
def api():
    with VkApi() as server:
        server.add_group(GROUP, "Acme Delivery", "acme", members=5000)
        server.add_user(IVAN, "Ivan", "Petrov", "ivanp", followers=50)
        server.add_user(OLGA, "Olga", "Sidorova")
        yield server


@pytest.fixture(autouse=True)
def token(monkeypatch):
    monkeypatch.setenv("VK_TOKEN", "vk1.a.test-token")



def source(api: VkApi, **over) -> VkSource:
    config = {"name": "vk-acme", "kind": "vk", "brand": "acme", "access_token": {"env": "VK_TOKEN"},
              "query": "acme", "base_url": api.url + "/method/", "min_interval_s": 0, **over}
    return VkSource.model_validate(config)


def wall_source(api: VkApi, **over) -> VkSource:
    return source(api, query=None, group_ids=[GROUP], **over)


def poll(src: VkSource, cursor=None, sleeps=None):
    listener = src.listener(sleep=sleeps if sleeps is not None else Sleeps())
    return listener, list(listener.poll(cursor))


def mentions(outputs) -> list[Mention]:
    return [o for o in outputs if isinstance(o, Mention)]


def last_cursor(outputs) -> dict:
    return [o for o in outputs if isinstance(o, Checkpoint)][-1].cursor


def add_search_posts(api: VkApi, n: int, start: int = T0) -> list[str]:
    posts = [api.add_post(-900 - i, f"acme delivered late #{i}", start + 60 * i, from_id=IVAN) for i in range(n)]
    return [f"{p['owner_id']}_{p['id']}" for p in posts]


def methods(api: VkApi) -> list[str]:
    return [m for m, _ in api.requests]


# 1. mapping -----------------------------------------------------------------

REAL_SEARCH = {
    "items": [{
        "id": 4521, "owner_id": -1234, "from_id": 10, "date": 1763640123, "post_type": "post",
        "text": "Acme снова потеряли посылку, третий раз за месяц", "marked_as_ads": 0,
        "attachments": [], "comments": {"can_post": 1, "count": 3}, "likes": {"count": 7, "user_likes": 0},
        "reposts": {"count": 0}, "views": {"count": 210}, "post_source": {"type": "vk"}, "hash": "dff1",
        "inner_type": "wall_wallpost",
    }],
    "profiles": [{"id": 10, "first_name": "Ivan", "last_name": "Petrov", "screen_name": "ivanp",
                  "followers_count": 50, "can_access_closed": True, "is_closed": False}],
    "groups": [{"id": 1234, "name": "Город Новости", "screen_name": "gorod_news", "members_count": 80000,
                "is_closed": 0, "type": "page"}],
    "count": 1, "total_count": 1,
}


def test_a_searched_post_becomes_a_mention_with_its_author():
    m = mention_from_post(REAL_SEARCH["items"][0], "acme", _People(REAL_SEARCH))
    assert m.id == "vk:-1234_4521" and m.native_id == "-1234_4521" and m.platform == "vk"
    assert m.url == "https://vk.com/wall-1234_4521"
    assert m.text == "Acme снова потеряли посылку, третий раз за месяц"
    assert m.created_at == datetime.fromtimestamp(1763640123, timezone.utc)
    assert (m.author.handle, m.author.display_name, m.author.followers) == ("ivanp", "Ivan Petrov", 50)
    assert m.raw == REAL_SEARCH["items"][0] and m.language is None


def test_a_comment_by_a_community_becomes_a_mention():
    comment = {"id": 901, "from_id": -1234, "date": 1763640200, "text": "Напишите нам в личные сообщения",
               "post_id": 4521, "owner_id": -1234, "parents_stack": [],
               "thread": {"count": 0, "items": [], "can_post": True}}
    m = mention_from_comment(comment, -1234, 4521, "acme", _People(REAL_SEARCH))
    assert m.id == "vk:-1234_4521_c901" and m.url == "https://vk.com/wall-1234_4521?reply=901"
    assert (m.author.handle, m.author.display_name, m.author.followers) == ("gorod_news", "Город Новости", 80000)
    unknown = mention_from_comment({**comment, "from_id": 555}, -1234, 4521, "acme", _People({}))
    assert unknown.author.handle == "id555"


def test_calls_are_posted_forms_with_token_and_version(api):
    add_search_posts(api, 1)
    _, out = poll(source(api))
    assert len(mentions(out)) == 1
    request = api.http_requests[0]
    assert request.method == "POST" and request.path == "/method/newsfeed.search"
    assert request.query == {}  # the token never sits in a URL
    method, params = api.requests[0]
    assert params["access_token"] == "vk1.a.test-token" and params["v"] == "5.199"
    assert params["q"] == "acme" and params["count"] == "200" and params["extended"] == "1"


# 2. pagination --------------------------------------------------------------

def test_search_pages_with_next_from(api):
    keys = add_search_posts(api, 7)
    _, out = poll(source(api, page_size=2))
    assert [m.native_id for m in mentions(out)] == keys[::-1]
    assert [p.get("start_from", "").split("/")[0] for _, p in api.requests] == ["", "2", "4", "6"]
    assert sum(isinstance(o, Checkpoint) for o in out) == 4
    assert last_cursor(out) == {"search": {"high": T0 + 360, "high_id": keys[6]}}


def test_comments_page_oldest_first_from_the_last_one_read(api):
    post = api.add_post(WALL, "our news", T0)
    comments = [api.add_comment(post, f"acme comment {i}", T0 + i, IVAN) for i in range(5)]
    _, out = poll(wall_source(api, page_size=2))
    assert [m.native_id for m in mentions(out)] == [f"{WALL}_{post['id']}_c{c['id']}" for c in comments]
    starts = [p.get("start_comment_id") for m, p in api.requests if m == "wall.getComments"]
    assert starts == [None] + [str(c["id"]) for c in comments[1:]]
    assert all(p["sort"] == "asc" for m, p in api.requests if m == "wall.getComments")
    wall = last_cursor(out)["walls"][str(WALL)]
    assert wall == {"post_high": post["id"], "posts": {str(post["id"]): {"last": comments[-1]["id"], "reply": 0}}}


def test_wall_takes_visitor_posts_and_comments_with_their_replies_not_the_communitys_posts(api):
    own = api.add_post(WALL, "Acme news: new depots", T0)
    visitor = api.add_post(WALL, "where is my acme parcel?", T0 + 10, from_id=OLGA)
    question = api.add_comment(own, "when in Kazan?", T0 + 20, IVAN)
    answer = api.add_comment(own, "next month!", T0 + 30, WALL, reply_to=question["id"])
    listener, out = poll(wall_source(api))
    assert [m.native_id for m in mentions(out)] == [
        f"{WALL}_{visitor['id']}", f"{WALL}_{own['id']}_c{question['id']}", f"{WALL}_{own['id']}_c{answer['id']}"]
    assert mentions(out)[2].author.handle == "acme"
    assert [m for m, _ in api.requests] == ["wall.get", "wall.getComments"]  # the visitor post has no comments


# 3. cursor ------------------------------------------------------------------

def test_second_search_poll_returns_only_new_posts(api):
    add_search_posts(api, 5)
    _, out = poll(source(api, page_size=2))
    cursor = last_cursor(out)
    new = add_search_posts(api, 3, start=T0 + 3600)
    before = len(api.requests)
    _, out = poll(source(api, page_size=2), cursor)
    assert [m.native_id for m in mentions(out)] == new[::-1]
    assert all(p["start_time"] == str(T0 + 240) for _, p in api.requests[before:])
    _, out = poll(source(api, page_size=2), last_cursor(out))
    assert mentions(out) == []


def test_second_wall_poll_returns_only_new_comments_posts_and_replies(api):
    post = api.add_post(WALL, "news", T0)
    first = api.add_comment(post, "old comment", T0 + 1, IVAN)
    _, out = poll(wall_source(api))
    cursor = last_cursor(out)
    reply = api.add_comment(post, "a late reply to the newest comment", T0 + 50, OLGA, reply_to=first["id"])
    second = api.add_comment(post, "new comment", T0 + 60, OLGA)
    visitor = api.add_post(WALL, "acme?", T0 + 70, from_id=IVAN)
    _, out = poll(wall_source(api), cursor)
    assert [m.native_id for m in mentions(out)] == [
        f"{WALL}_{visitor['id']}", f"{WALL}_{post['id']}_c{reply['id']}", f"{WALL}_{post['id']}_c{second['id']}"]
    _, out = poll(wall_source(api), last_cursor(out))
    assert mentions(out) == []


# 4. restart mid-way ---------------------------------------------------------

def test_a_search_failing_on_page_3_resumes_there_and_publishes_each_once(api, state):
    keys = add_search_posts(api, 8)
    api.intercept = lambda m, p: (500, {}, b"Internal Server Error") if p.get("start_from", "").startswith("4/") else None
    pub = RecordingPublisher()
    src = source(api, page_size=2)
    with pytest.raises(SourceUnavailable, match="gave up after 4 retries; last: HTTP 500"):
        run_listener(src.listener(sleep=Sleeps()), pub, state)
    assert pub.ids == [f"vk:{k}" for k in keys[:3:-1]]
    assert state.get_cursor(src.name)["search"]["next_from"].startswith("4/")
    api.intercept = None
    assert run_listener(src.listener(sleep=Sleeps()), pub, state).published == 4
    assert Counter(pub.ids) == Counter(f"vk:{k}" for k in keys)


def test_comments_failing_mid_post_resume_from_the_last_comment_read(api, state):
    post = api.add_post(WALL, "news", T0)
    comments = [api.add_comment(post, f"acme {i}", T0 + i, IVAN) for i in range(6)]
    fail_at = str(comments[3]["id"])
    api.intercept = lambda m, p: (500, {}, b"") if p.get("start_comment_id") == fail_at else None
    pub = RecordingPublisher()
    src = wall_source(api, page_size=2)
    with pytest.raises(SourceUnavailable):
        run_listener(src.listener(sleep=Sleeps()), pub, state)
    assert len(pub.ids) == 4
    api.intercept = None
    assert run_listener(src.listener(sleep=Sleeps()), pub, state).published == 2
    assert Counter(pub.ids) == Counter(f"vk:{WALL}_{post['id']}_c{c['id']}" for c in comments)


# 5. rate limits -------------------------------------------------------------

def test_too_many_requests_per_second_is_retried_after_a_short_wait(api):
    add_search_posts(api, 1)
    api.fail_next = [vk_error(6, "Too many requests per second")]
    sleeps = Sleeps()
    _, out = poll(source(api), sleeps=sleeps)
    assert sleeps == [0.5] and len(mentions(out)) == 1


def test_error_6_that_persists_is_rate_limited(api):
    api.intercept = lambda m, p: vk_error(6, "Too many requests per second")
    sleeps = Sleeps()
    with pytest.raises(RateLimited, match=r"rate limited \(error 6"):
        poll(source(api), sleeps=sleeps)
    assert sleeps == [0.5, 1.0, 2.0]


def test_rate_limit_reached_raises_rate_limited(api):
    api.fail_next = [vk_error(29, "Rate limit reached")]
    with pytest.raises(RateLimited, match=r"daily rate limit .*error 29: Rate limit reached") as caught:
        poll(source(api))
    assert caught.value.retry_after_s == 3600


def test_http_429_with_retry_after_is_honoured_too(api):
    add_search_posts(api, 1)
    api.fail_next = [(429, {"Retry-After": "1"}, b"")]
    sleeps = Sleeps()
    _, out = poll(source(api), sleeps=sleeps)
    assert sleeps == [1.0] and len(mentions(out)) == 1


def test_calls_are_spaced_by_min_interval(api):
    post = api.add_post(WALL, "news", T0)
    api.add_comment(post, "hi acme", T0 + 1, IVAN)
    sleeps = Sleeps()
    poll(wall_source(api, min_interval_s=5), sleeps=sleeps)
    assert len(sleeps) == 1 and 4 < sleeps[0] <= 5  # before the second call


# 6. credentials -------------------------------------------------------------

def test_a_refused_token_is_auth_failed_and_probe_says_so(api, monkeypatch):
    monkeypatch.setenv("VK_TOKEN", "vk1.a.expired")
    with pytest.raises(AuthFailed, match=r"vk-acme: newsfeed.search: VK refused the access token "
                                         r"\(error 5: User authorization failed: invalid access_token \(4\)\.\)"):
        poll(source(api))
    with pytest.raises(AuthFailed, match="VK refused the access token"):
        source(api).probe()


def test_a_group_token_for_a_user_method_is_auth_failed(api):
    api.fail_next = [vk_error(27, "Group authorization failed: method is unavailable with group auth.")]
    with pytest.raises(AuthFailed, match="error 27"):
        poll(source(api))


def test_missing_env_var_is_named(api, monkeypatch):
    monkeypatch.delenv("VK_TOKEN")
    with pytest.raises(MissingCredential, match="environment variable VK_TOKEN is not set"):
        source(api).listener()
    with pytest.raises(MissingCredential, match="VK_TOKEN"):
        source(api).probe()


# 7. malformed, deleted, denied ----------------------------------------------

def test_malformed_items_are_rejected_and_tombstones_skipped_with_a_count(api):
    item = REAL_SEARCH["items"][0]
    page = {**REAL_SEARCH, "items": [
        item,
        {**item, "id": 1, "date": "yesterday"},
        {**item, "id": 2, "text": "", "attachments": []},
        {**item, "id": 3, "from_id": None},
        {**item, "id": 4, "text": "", "attachments": [{"type": "photo", "photo": {"id": 1}}]},
        {**item, "id": 5, "deleted": 1, "text": ""},
        "junk",
    ]}
    api.intercept = lambda m, p: json_response(200, {"response": page})
    listener, out = poll(source(api))
    assert [m.native_id for m in mentions(out)] == ["-1234_4521"]
    reasons = [o.reason for o in out if isinstance(o, Rejected)]
    assert reasons == [
        "vk-acme: newsfeed.search item 1: 'date' is not epoch seconds: 'yesterday'",
        "vk-acme: newsfeed.search item 2: no text and no attachments",
        "vk-acme: newsfeed.search item 3: 'from_id' is not a user or community id: None",
        "vk-acme: newsfeed.search item 6: post needs numeric 'owner_id' and 'id'",
    ]
    assert listener.skipped == Counter({"no text (attachments only)": 1, "deleted": 1})


def test_deleted_comments_are_skipped_and_counted(api):
    post = api.add_post(WALL, "news", T0)
    api.add_comment(post, "", T0 + 1, IVAN, deleted=1)
    kept = api.add_comment(post, "acme thanks", T0 + 2, OLGA)
    listener, out = poll(wall_source(api))
    assert [m.native_id for m in mentions(out)] == [f"{WALL}_{post['id']}_c{kept['id']}"]
    assert listener.skipped == Counter({"deleted": 1})


def test_closed_walls_and_posts_are_skipped_the_rest_is_read(api):
    api.add_group(88, "Closed", "closed_club")
    api.closed_walls.add(88)
    closed = api.add_post(WALL, "closed", T0)
    api.add_comment(closed, "x", T0 + 1, IVAN)
    api.closed_comments.add((WALL, closed["id"]))
    open_post = api.add_post(WALL, "open", T0 + 5)
    api.add_comment(open_post, "acme hi", T0 + 6, IVAN)
    listener, out = poll(source(api, query=None, group_ids=[88, GROUP]))
    assert len(mentions(out)) == 1
    assert listener.skipped == Counter({"wall -88 unreadable": 1, "post comments unreadable": 1})


def test_an_invalid_parameter_is_query_rejected_quoting_vk(api):
    api.fail_next = [vk_error(100, "One of the parameters specified was missing or invalid: q is undefined")]
    with pytest.raises(QueryRejected, match="VK rejected the request .*q is undefined"):
        poll(source(api))


# 8. probe and config --------------------------------------------------------

def test_probe_reports_what_it_found(api):
    add_search_posts(api, 3)
    assert source(api).probe() == "token accepted; newsfeed.search 'acme' finds 3 posts"
    api.add_post(WALL, "news", T0)
    assert wall_source(api).probe() == f"token accepted; wall {WALL} has 1 posts"


def test_config_is_validated():
    base = {"name": "v", "kind": "vk", "brand": "acme", "access_token": {"env": "T"}}
    with pytest.raises(ValidationError, match="give a query"):
        VkSource.model_validate(base)
    with pytest.raises(ValidationError, match="positive community ids"):
        VkSource.model_validate({**base, "group_ids": [-5]})
    with pytest.raises(ValidationError):
        VkSource.model_validate({**base, "query": "q", "access_token": "inline"})


def test_docstring_example_loads_as_a_sources_file(tmp_path):
    example = vk_module.__doc__.split("Example (``config/sources.yaml``)::\n")[1]
    f = tmp_path / "sources.yaml"
    f.write_text("version: 1\nsources:\n" + example)
    assert [s.name for s in load_sources(f).sources] == ["vk-acme"]
