"""The Reddit connector against a local server speaking Reddit's OAuth API."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

import listeners.connectors.reddit as reddit_module
from listeners.base import Checkpoint, Rejected
from listeners.connectors.reddit import RedditSource, mention_from_thing
from listeners.errors import AuthFailed, MissingCredential, RateLimited, SourceUnavailable
from listeners.runner import run_listener
from listeners.sources import load_sources
from mentionflow.models import Mention
from tests.fakes.clock import Sleeps
from tests.fakes.http import json_response
from tests.fakes.platforms.reddit import RedditApi
from tests.fakes.publisher import RecordingPublisher

T0 = 1763640000.0  # 2025-11-20 12:00 UTC
UA = "python:test.mentionflow:v1 (by /u/tester)"



@pytest.fixture
def api():
    with RedditApi(users={"acme_support": "hunter2"}) as server:
        yield server


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    monkeypatch.setenv("REDDIT_SECRET", "app-secret")
    monkeypatch.setenv("REDDIT_PASSWORD", "hunter2")



def source(api: RedditApi, **over) -> RedditSource:
    config = {"name": "reddit-acme", "kind": "reddit", "brand": "acme", "client_id": "app-id",
              "client_secret": {"env": "REDDIT_SECRET"}, "query": "acme", "user_agent": UA,
              "base_url": api.url, "auth_url": api.url, **over}
    return RedditSource.model_validate(config)


def posts_source(api: RedditApi, **over) -> RedditSource:
    return source(api, what=["posts"], subreddits=["acme"], page_size=2, **over)


def poll(src: RedditSource, cursor=None, sleeps=None):
    listener = src.listener(sleep=sleeps if sleeps is not None else Sleeps())
    return listener, list(listener.poll(cursor))


def mentions(outputs) -> list[Mention]:
    return [o for o in outputs if isinstance(o, Mention)]


def last_cursor(outputs) -> dict:
    return [o for o in outputs if isinstance(o, Checkpoint)][-1].cursor


def add_posts(api: RedditApi, n: int, start: float = T0, sub: str = "acme") -> list[str]:
    return [api.add_post(sub, f"acme post {i}", f"body {i}", created=start + 60 * i)["data"]["name"] for i in range(n)]


# 1. mapping -----------------------------------------------------------------

REAL_POST = {
    "kind": "t3",
    "data": {
        "approved_at_utc": None, "subreddit": "AcmeSupport", "selftext": "Ordered on Monday, tracking says 'label created' since.",
        "author_fullname": "t2_8k2lq9", "saved": False, "gilded": 0, "clicked": False,
        "title": "Acme parcel stuck for a week?", "subreddit_name_prefixed": "r/AcmeSupport", "hidden": False,
        "downs": 0, "name": "t3_1gx0abc", "upvote_ratio": 1.0, "ups": 3, "is_self": True, "score": 3,
        "created": 1763640123.0, "removed_by_category": None, "domain": "self.AcmeSupport", "id": "1gx0abc",
        "author": "parcel_pete", "num_comments": 2, "over_18": False,
        "permalink": "/r/AcmeSupport/comments/1gx0abc/acme_parcel_stuck_for_a_week/",
        "url": "https://www.reddit.com/r/AcmeSupport/comments/1gx0abc/acme_parcel_stuck_for_a_week/",
        "created_utc": 1763640123.0, "stickied": False,
    },
}
REAL_COMMENT = {
    "kind": "t1",
    "data": {
        "subreddit_id": "t5_2qh1i", "link_title": "Acme parcel stuck for a week?", "link_id": "t3_1gx0abc",
        "author": "acme_fan", "id": "lz9q2xk", "name": "t1_lz9q2xk", "parent_id": "t3_1gx0abc",
        "body": "Same here, Acme support answered within a day though.", "score": 1, "created_utc": 1763640500,
        "permalink": "/r/AcmeSupport/comments/1gx0abc/acme_parcel_stuck_for_a_week/lz9q2xk/",
        "subreddit": "AcmeSupport", "link_permalink": "https://www.reddit.com/r/AcmeSupport/comments/1gx0abc/x/",
    },
}


def test_a_post_and_a_comment_become_mentions_with_raw_kept():
    post = mention_from_thing(REAL_POST, "acme")
    assert post.id == "reddit:t3_1gx0abc" and post.native_id == "t3_1gx0abc" and post.platform == "reddit"
    assert post.text == "Acme parcel stuck for a week?\n\nOrdered on Monday, tracking says 'label created' since."
    assert post.author.handle == "parcel_pete"
    assert post.url == "https://www.reddit.com/r/AcmeSupport/comments/1gx0abc/acme_parcel_stuck_for_a_week/"
    assert post.created_at == datetime.fromtimestamp(1763640123.0, timezone.utc)
    assert post.language is None and post.raw == REAL_POST and post.brand == "acme"
    comment = mention_from_thing(REAL_COMMENT, "acme")
    assert comment.id == "reddit:t1_lz9q2xk" and comment.text.startswith("Same here")
    assert comment.url.endswith("/lz9q2xk/") and comment.created_at.tzinfo is not None


def test_listener_reads_posts_and_comments_with_the_user_agent_and_token(api):
    api.add_post("acme", "Acme is great", created=T0)
    api.add_comment("acme", "acme broke my heart", created=T0 + 5)
    src = source(api, what=["posts", "comments"], subreddits=["r/acme"])
    _, out = poll(src)
    assert [m.id for m in mentions(out)] == ["reddit:t3_p1", "reddit:t1_c2"]
    assert all(r.headers["user-agent"] == UA for r in api.requests)
    assert api.tokens_issued == [{"grant_type": "client_credentials"}]
    assert {r.path for r in api.api_requests()} == {"/r/acme/new", "/r/acme/comments"}
    assert all(r.query["raw_json"] == "1" for r in api.api_requests())


def test_search_is_sitewide_or_restricted_to_the_listed_subreddits(api):
    api.add_post("acme", "acme in acme", created=T0)
    api.add_post("other", "acme elsewhere", created=T0 + 1)
    _, out = poll(source(api))
    assert [m.native_id for m in mentions(out)] == ["t3_p2", "t3_p1"]
    assert api.api_requests()[0].query.items() >= {"q": "acme", "sort": "new", "type": "link", "limit": "100"}.items()
    _, out = poll(source(api, subreddits=["acme"]))
    assert [m.native_id for m in mentions(out)] == ["t3_p1"]
    assert api.api_requests()[-1].path == "/r/acme/search" and api.api_requests()[-1].query["restrict_sr"] == "1"


# 2. pagination --------------------------------------------------------------

def test_pages_through_the_listing_with_after(api):
    names = add_posts(api, 7)
    _, out = poll(posts_source(api))
    assert [m.native_id for m in mentions(out)] == names[::-1]
    afters = [r.query.get("after") for r in api.api_requests()]
    assert afters == [None, names[5], names[3], names[1]]
    assert sum(isinstance(o, Checkpoint) for o in out) == 4
    assert last_cursor(out) == {"feeds": {"posts:r/acme": {"high": names[6], "high_created": T0 + 360}}}


def test_max_pages_ends_the_run_and_the_next_run_continues_the_sweep(api):
    names = add_posts(api, 7)
    _, out = poll(posts_source(api, max_pages=2))
    assert [m.native_id for m in mentions(out)] == names[:2:-1]
    cursor = last_cursor(out)
    assert cursor["feeds"]["posts:r/acme"] == {"after": names[3], "top": names[6], "top_created": T0 + 360}
    _, out = poll(posts_source(api, max_pages=2), cursor)
    assert [m.native_id for m in mentions(out)] == names[2::-1]
    assert last_cursor(out)["feeds"]["posts:r/acme"]["high"] == names[6]


# 3. cursor ------------------------------------------------------------------

def test_second_poll_returns_only_new_items_and_stops_at_the_high_water_mark(api):
    add_posts(api, 5)
    _, out = poll(posts_source(api))
    cursor = last_cursor(out)
    new = add_posts(api, 3, start=T0 + 3600)
    before = len(api.api_requests())
    _, out = poll(posts_source(api), cursor)
    assert [m.native_id for m in mentions(out)] == new[::-1]
    assert len(api.api_requests()) - before == 2  # the second page meets the old high-water mark
    _, out = poll(posts_source(api), last_cursor(out))
    assert mentions(out) == []


def test_search_overlaps_below_the_mark_for_late_indexed_posts_and_the_runner_drops_repeats(api, state):
    add_posts(api, 3)
    src = source(api, page_size=2)
    pub = RecordingPublisher()
    run_listener(src.listener(sleep=Sleeps()), pub, state)
    late = api.add_post("acme", "acme late to the index", created=T0 + 60)["data"]["name"]  # older than the mark
    stats = run_listener(src.listener(sleep=Sleeps()), pub, state)
    assert late in [m.native_id for m in pub.mentions]
    assert stats.published == 1 and stats.duplicates >= 1
    assert len(pub.ids) == len(set(pub.ids)) == 4


# 4. restart mid-way ---------------------------------------------------------

def test_a_run_failing_on_page_3_resumes_there_and_every_mention_is_published_once(api, state):
    names = add_posts(api, 8)  # newest first: pages [7,6] [5,4] [3,2] [1,0]
    api.intercept = lambda r: json_response(500, {"message": "Internal Server Error", "error": 500}) \
        if r.query.get("after") == names[4] else None
    pub = RecordingPublisher()
    src = posts_source(api)
    with pytest.raises(SourceUnavailable, match="gave up after 4 retries"):
        run_listener(src.listener(sleep=Sleeps()), pub, state)
    assert pub.ids == [f"reddit:{n}" for n in names[:3:-1]]
    assert state.get_cursor(src.name)["feeds"]["posts:r/acme"]["after"] == names[4]
    api.intercept = None
    stats = run_listener(src.listener(sleep=Sleeps()), pub, state)
    assert stats.published == 4
    assert Counter(pub.ids) == Counter(f"reddit:{n}" for n in names)
    assert run_listener(src.listener(sleep=Sleeps()), pub, state).published == 0


# 5. rate limits -------------------------------------------------------------

def test_a_short_429_is_waited_out(api):
    add_posts(api, 1)
    api.fail_next = [json_response(429, {"message": "Too Many Requests", "error": 429}, {"Retry-After": "1"})]
    sleeps = Sleeps()
    _, out = poll(source(api), sleeps=sleeps)
    assert sleeps == [1.0] and len(mentions(out)) == 1


def test_a_long_429_raises_rate_limited(api):
    add_posts(api, 1)
    api.intercept = lambda r: json_response(429, {"message": "Too Many Requests", "error": 429}, {"X-Ratelimit-Reset": "3600"})
    with pytest.raises(RateLimited, match="rate limited for 3600s") as caught:
        poll(source(api, max_wait_s=5))
    assert caught.value.retry_after_s == 3600


def test_spent_quota_waits_for_the_reset_before_the_next_call(api):
    add_posts(api, 3)
    api.remaining, api.reset_s = 1.0, 7
    sleeps = Sleeps()
    _, out = poll(posts_source(api), sleeps=sleeps)
    assert len(mentions(out)) == 3
    assert len(sleeps) == 1 and 6 < sleeps[0] <= 7
    api.remaining, api.reset_s = 1.0, 900
    with pytest.raises(RateLimited, match="resets in"):
        poll(posts_source(api, max_wait_s=60), last_cursor(out) | {"feeds": {}})


# 6. credentials -------------------------------------------------------------

def test_an_expired_token_is_renewed_before_use(api):
    add_posts(api, 2)
    now = [T0]
    listener = posts_source(api).listener(sleep=Sleeps(), clock=lambda: now[0])
    list(listener.poll(None))
    now[0] += 86400
    add_posts(api, 1, start=T0 + 999)
    assert len(mentions(listener.poll({}))) == 3
    assert len(api.tokens_issued) == 2
    assert not any(r.headers.get("authorization") == "bearer tok-1" for r in api.api_requests()[-2:])


def test_a_revoked_token_is_renewed_once_on_401(api):
    add_posts(api, 2)
    listener = posts_source(api).listener(sleep=Sleeps())
    list(listener.poll(None))
    api.tokens.clear()  # revoked
    assert len(mentions(listener.poll({}))) == 2
    assert len(api.tokens_issued) == 2


def test_a_token_refused_twice_is_auth_failed_and_probe_says_so(api):
    api.intercept = lambda r: json_response(401, {"message": "Unauthorized", "error": 401})
    with pytest.raises(AuthFailed, match=r"reddit-acme: /search refused the credential \(HTTP 401\): Unauthorized"):
        poll(source(api))
    assert len(api.tokens_issued) == 2
    with pytest.raises(AuthFailed, match="refused the credential"):
        source(api).probe()


def test_wrong_app_secret_is_auth_failed_naming_where_it_came_from(api, monkeypatch):
    monkeypatch.setenv("REDDIT_SECRET", "not-the-secret")
    with pytest.raises(AuthFailed, match="refused the app credentials .*environment variable REDDIT_SECRET"):
        poll(source(api))
    with pytest.raises(AuthFailed, match="refused the app credentials"):
        source(api).probe()


def test_password_grant_and_a_wrong_password(api, monkeypatch):
    add_posts(api, 1)
    src = source(api, username="acme_support", password={"env": "REDDIT_PASSWORD"})
    assert "as u/acme_support" in src.probe()
    assert api.tokens_issued[-1] == {"grant_type": "password", "username": "acme_support", "password": "hunter2"}
    monkeypatch.setenv("REDDIT_PASSWORD", "wrong")
    with pytest.raises(AuthFailed, match="invalid_grant .*wrong username/password"):
        poll(src)


def test_missing_env_var_is_named(api, monkeypatch):
    monkeypatch.delenv("REDDIT_SECRET")
    with pytest.raises(MissingCredential, match="environment variable REDDIT_SECRET is not set"):
        source(api).listener()
    with pytest.raises(MissingCredential, match="REDDIT_SECRET"):
        source(api).probe()
    assert source(api, client_id={"env": "REDDIT_ID"}).missing_credentials() == [
        "client_id: environment variable REDDIT_ID is not set",
        "client_secret: environment variable REDDIT_SECRET is not set",
    ]


# 7. malformed and deleted ---------------------------------------------------

def test_malformed_items_are_rejected_and_tombstones_skipped_with_a_count(api):
    good = {"kind": "t3", "data": {**REAL_POST["data"]}}
    children = [
        good,
        {"kind": "t3", "data": {**REAL_POST["data"], "name": None, "created_utc": T0}},
        {"kind": "t3", "data": {**REAL_POST["data"], "name": "t3_bad1", "created_utc": "yesterday"}},
        {"kind": "t5", "data": {"name": "t5_2qh1i", "display_name": "acme", "created_utc": T0}},
        "not a thing",
        {"kind": "t3", "data": {**REAL_POST["data"], "name": "t3_gone1", "selftext": "[removed]", "removed_by_category": "moderator"}},
        {"kind": "t3", "data": {**REAL_POST["data"], "name": "t3_gone2", "author": "[deleted]", "selftext": "[deleted]"}},
        {"kind": "t3", "data": {**REAL_POST["data"], "name": "t3_gone3", "selftext": "", "removed_by_category": "reddit"}},
    ]
    listing = {"kind": "Listing", "data": {"after": None, "before": None, "children": children}}
    api.intercept = lambda r: json_response(200, listing)
    listener, out = poll(source(api))
    assert [m.native_id for m in mentions(out)] == ["t3_1gx0abc"]
    rejected = [o for o in out if isinstance(o, Rejected)]
    assert len(rejected) == 4
    assert "missing or wrong fullname 'name': None" in rejected[0].reason
    assert "'created_utc' is not epoch seconds: 'yesterday'" in rejected[1].reason and rejected[1].key == b"reddit:t3_bad1"
    assert "got kind 't5'" in rejected[2].reason
    assert rejected[3].payload == b'"not a thing"'
    assert all(r.reason.startswith("reddit-acme: /search item ") for r in rejected)
    assert listener.skipped == Counter({"post removed": 2, "author deleted": 1})


def test_a_response_that_is_not_a_listing_is_rejected_whole(api):
    api.intercept = lambda r: json_response(200, {"kind": "t5", "data": {}})
    _, out = poll(source(api))
    assert [o.reason for o in out if isinstance(o, Rejected)] == ["reddit-acme: /search did not answer a Listing"]
    assert not [o for o in out if isinstance(o, Checkpoint)]


def test_a_private_subreddit_is_skipped_and_the_others_are_read(api):
    add_posts(api, 1)
    api.private = {"secretacme"}
    listener, out = poll(source(api, what=["posts"], subreddits=["secretacme", "acme"]))
    assert len(mentions(out)) == 1
    assert listener.skipped == Counter({"posts:r/secretacme unreadable": 1})


# 8. probe and config --------------------------------------------------------

def test_probe_reports_the_newest_item(api):
    api.add_post("acme", "acme rocks", created=T0, author="fan1")
    assert source(api).probe() == ("token accepted (app-only); newest in search: t3_p1 by u/fan1 at "
                                   "2025-11-20T12:00:00+00:00")
    assert api.api_requests()[-1].query["limit"] == "1"
    assert source(api, query="nothing matches").probe() == "token accepted (app-only); search is empty"


def test_config_is_validated():
    base = {"name": "r", "kind": "reddit", "brand": "acme", "client_id": "x", "client_secret": {"env": "S"}}
    with pytest.raises(ValidationError, match="'query' is required"):
        RedditSource.model_validate(base)
    with pytest.raises(ValidationError, match="'subreddits' are required"):
        RedditSource.model_validate({**base, "what": ["comments"]})
    with pytest.raises(ValidationError, match="both 'username' and 'password'"):
        RedditSource.model_validate({**base, "query": "q", "username": "u"})
    with pytest.raises(ValidationError, match="not a subreddit name"):
        RedditSource.model_validate({**base, "query": "q", "subreddits": ["no spaces"]})
    with pytest.raises(ValidationError):
        RedditSource.model_validate({**base, "query": "q", "client_secret": "inline-secret"})


def test_docstring_example_loads_as_a_sources_file(tmp_path):
    example = reddit_module.__doc__.split("Example (``config/sources.yaml``)::\n")[1]
    f = tmp_path / "sources.yaml"
    f.write_text("version: 1\nsources:\n" + example)
    sources = load_sources(f)
    assert [s.name for s in sources.sources] == ["reddit-acme", "reddit-acme-community"]
