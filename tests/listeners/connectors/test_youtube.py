"""The YouTube connector against a local server speaking the Data API v3."""

from __future__ import annotations

import base64
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

import listeners.connectors.youtube as youtube_module
from listeners.base import Checkpoint, Rejected
from listeners.connectors.youtube import (
    YoutubeSource,
    mention_from_comment,
    mention_from_search_result,
    seconds_until_quota_reset,
)
from listeners.errors import AuthFailed, MissingCredential, RateLimited, SourceUnavailable
from listeners.runner import run_listener
from listeners.sources import load_sources
from mentionflow.models import Mention
from tests.fakes.clock import Sleeps
from tests.fakes.http import json_response
from tests.fakes.platforms.youtube import YoutubeApi, google_error
from tests.fakes.publisher import RecordingPublisher

T0 = datetime(2025, 11, 20, 12, 0, tzinfo=timezone.utc)
MIN = timedelta(minutes=1)
CHANNEL = "UC" + "a" * 22
VIDEO, OTHER = "acmeVideo01", "reviewVid02"



@pytest.fixture
def api():
    with YoutubeApi() as server:
        server.add_video(VIDEO, CHANNEL)
        server.add_video(OTHER, "UC" + "b" * 22)
        yield server


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("YOUTUBE_KEY", "AIza-test-key")



def source(api: YoutubeApi, **over) -> YoutubeSource:
    config = {"name": "yt-acme", "kind": "youtube", "brand": "acme", "api_key": {"env": "YOUTUBE_KEY"},
              "channel_id": CHANNEL, "base_url": api.url, **over}
    return YoutubeSource.model_validate(config)


def poll(src: YoutubeSource, cursor=None, sleeps=None, clock=None):
    kwargs = {"clock": clock} if clock else {}
    listener = src.listener(sleep=sleeps if sleeps is not None else Sleeps(), **kwargs)
    return listener, list(listener.poll(cursor))


def mentions(outputs) -> list[Mention]:
    return [o for o in outputs if isinstance(o, Mention)]


def last_cursor(outputs) -> dict:
    return [o for o in outputs if isinstance(o, Checkpoint)][-1].cursor


def add_threads(api: YoutubeApi, n: int, start: datetime = T0, video: str = VIDEO) -> list[str]:
    return [api.add_thread(video, f"acme comment {i}", start + i * MIN)["id"] for i in range(n)]


def token(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode()


# 1. mapping -----------------------------------------------------------------

REAL_THREAD = {
    "kind": "youtube#commentThread", "etag": "t9uV3a6w", "id": "UgzDE2tasfmrYLyNkGt4AaABAg",
    "snippet": {
        "channelId": CHANNEL, "videoId": "wtLJPvx7-ys",
        "topLevelComment": {
            "kind": "youtube#comment", "etag": "x1", "id": "UgzDE2tasfmrYLyNkGt4AaABAg",
            "snippet": {
                "channelId": CHANNEL, "videoId": "wtLJPvx7-ys",
                "textDisplay": "Acme lost my parcel &amp; nobody answers", "textOriginal": "Acme lost my parcel & nobody answers",
                "authorDisplayName": "@parcelpete", "authorProfileImageUrl": "https://yt3.ggpht.com/abc=s48",
                "authorChannelUrl": "http://www.youtube.com/@parcelpete",
                "authorChannelId": {"value": "UCmRtPmgnQ04CMUpSUqPfhxQ"},
                "canRate": True, "viewerRating": "none", "likeCount": 4,
                "publishedAt": "2025-11-20T11:58:03Z", "updatedAt": "2025-11-20T11:59:10Z",
            },
        },
        "canReply": True, "totalReplyCount": 1, "isPublic": True,
    },
    "replies": {"comments": [{
        "kind": "youtube#comment", "etag": "x2", "id": "UgzDE2tasfmrYLyNkGt4AaABAg.9zx8Kq3XyZ19zx8Lr",
        "snippet": {
            "channelId": CHANNEL, "videoId": "wtLJPvx7-ys", "textOriginal": "Hi Pete, Acme support here: DM us",
            "parentId": "UgzDE2tasfmrYLyNkGt4AaABAg", "authorDisplayName": "@AcmeSupport",
            "authorChannelId": {"value": CHANNEL}, "likeCount": 0,
            "publishedAt": "2025-11-20T12:10:00Z", "updatedAt": "2025-11-20T12:10:00Z",
        },
    }]},
}


def test_a_thread_and_its_reply_become_mentions_with_raw_kept():
    top = mention_from_comment(REAL_THREAD["snippet"]["topLevelComment"], "acme", raw=REAL_THREAD)
    assert top.id == "youtube:UgzDE2tasfmrYLyNkGt4AaABAg" and top.platform == "youtube"
    assert top.text == "Acme lost my parcel & nobody answers"  # textOriginal, not the HTML display text
    assert top.author.handle == "@parcelpete"
    assert top.url == "https://www.youtube.com/watch?v=wtLJPvx7-ys&lc=UgzDE2tasfmrYLyNkGt4AaABAg"
    assert top.created_at == datetime(2025, 11, 20, 11, 58, 3, tzinfo=timezone.utc)
    assert top.raw == REAL_THREAD and top.language is None
    reply = mention_from_comment(REAL_THREAD["replies"]["comments"][0], "acme")
    assert reply.native_id == "UgzDE2tasfmrYLyNkGt4AaABAg.9zx8Kq3XyZ19zx8Lr"
    assert reply.url.endswith("&lc=UgzDE2tasfmrYLyNkGt4AaABAg.9zx8Kq3XyZ19zx8Lr")
    assert reply.raw == REAL_THREAD["replies"]["comments"][0]


def test_a_search_result_becomes_a_mention_of_the_video():
    result = {"kind": "youtube#searchResult", "etag": "e", "id": {"kind": "youtube#video", "videoId": "Ks-_Mh1QhMc"},
              "snippet": {"publishedAt": "2025-11-19T08:00:00Z", "channelId": "UCAuUUnT6oDeKwE6v1NGQxug",
                          "title": "Acme&#39;s delivery: honest review", "description": "I tried Acme for a month...",
                          "channelTitle": "Gadget Guy", "liveBroadcastContent": "none", "publishTime": "2025-11-19T08:00:00Z"}}
    m = mention_from_search_result(result, "acme")
    assert m.id == "youtube:Ks-_Mh1QhMc" and m.url == "https://www.youtube.com/watch?v=Ks-_Mh1QhMc"
    assert m.text == "Acme's delivery: honest review\n\nI tried Acme for a month..."
    assert m.author.handle == "Gadget Guy" and m.raw == result


def test_listener_reads_threads_and_replies_sending_the_key_in_a_header(api):
    api.add_thread(VIDEO, "acme rocks", T0, replies=[("agreed", T0 + MIN)])
    _, out = poll(source(api))
    assert [m.text for m in mentions(out)] == ["acme rocks", "agreed"]
    r = api.requests[0]
    assert r.path == "/youtube/v3/commentThreads" and r.headers["x-goog-api-key"] == "AIza-test-key"
    assert "key" not in r.query
    assert r.query | {} == {"part": "snippet,replies", "allThreadsRelatedToChannelId": CHANNEL, "order": "time",
                            "maxResults": "100", "textFormat": "plainText"}


# 2. pagination --------------------------------------------------------------

def test_pages_through_threads_with_page_tokens(api):
    ids = add_threads(api, 7)
    _, out = poll(source(api, page_size=2))
    assert [m.native_id for m in mentions(out)] == ids[::-1]
    assert [r.query.get("pageToken") for r in api.requests] == [None, token(2), token(4), token(6)]
    assert sum(isinstance(o, Checkpoint) for o in out) == 4
    assert last_cursor(out) == {"feeds": {f"channel:{CHANNEL}": {"high_at": "2025-11-20T12:06:00Z", "high_id": ids[6]}}}


def test_search_pages_and_then_asks_only_for_newer_videos(api):
    for i in range(5):
        api.add_video_result(f"vid{i:08d}", f"acme review {i}", T0 + i * MIN)
    src = source(api, channel_id=None, search_query="acme", page_size=2)
    _, out = poll(src)
    assert [m.native_id for m in mentions(out)] == [f"vid{i:08d}" for i in (4, 3, 2, 1, 0)]
    assert all(r.query["type"] == "video" and r.query["order"] == "date" for r in api.requests)
    assert "publishedAfter" not in api.requests[0].query
    api.add_video_result("vidnew00001", "acme unboxing", T0 + 10 * MIN)
    _, out = poll(src, last_cursor(out))
    assert api.requests[-1].query["publishedAfter"] == "2025-11-20T12:04:00Z"
    assert [m.native_id for m in mentions(out)] == ["vidnew00001"]  # the mark itself is recognised by id


# 3. cursor ------------------------------------------------------------------

def test_second_poll_returns_only_new_threads_and_stops_at_the_mark(api):
    add_threads(api, 5)
    _, out = poll(source(api, page_size=2))
    cursor = last_cursor(out)
    new = add_threads(api, 3, start=T0 + timedelta(hours=1))
    before = len(api.requests)
    _, out = poll(source(api, page_size=2), cursor)
    assert [m.native_id for m in mentions(out)] == new[::-1]
    assert len(api.requests) - before == 2
    _, out = poll(source(api, page_size=2), last_cursor(out))
    assert mentions(out) == []


# 4. restart mid-way ---------------------------------------------------------

def test_a_run_failing_on_page_3_resumes_there_and_every_mention_is_published_once(api, state):
    ids = add_threads(api, 8)
    api.intercept = lambda r: google_error(503, "backendError", "Backend Error") if r.query.get("pageToken") == token(4) else None
    pub = RecordingPublisher()
    src = source(api, page_size=2)
    with pytest.raises(SourceUnavailable, match="gave up after 4 retries; last: HTTP 503: Backend Error"):
        run_listener(src.listener(sleep=Sleeps()), pub, state)
    assert pub.ids == [f"youtube:{i}" for i in ids[:3:-1]]
    assert state.get_cursor(src.name)["feeds"][f"channel:{CHANNEL}"]["page_token"] == token(4)
    api.intercept = None
    assert run_listener(src.listener(sleep=Sleeps()), pub, state).published == 4
    assert Counter(pub.ids) == Counter(f"youtube:{i}" for i in ids)
    add_threads(api, 1, start=T0 + timedelta(hours=2))
    assert run_listener(src.listener(sleep=Sleeps()), pub, state).published == 1


# 5. rate limits and quota ---------------------------------------------------

def test_a_short_429_is_waited_out(api):
    add_threads(api, 1)
    api.fail_next = [json_response(429, {"error": {"code": 429, "message": "Too many requests"}}, {"Retry-After": "1"})]
    sleeps = Sleeps()
    _, out = poll(source(api), sleeps=sleeps)
    assert sleeps == [1.0] and len(mentions(out)) == 1


def test_a_long_429_raises_rate_limited(api):
    api.fail_next = [json_response(429, {"error": {"code": 429, "message": "Too many requests"}}, {"Retry-After": "900"})]
    with pytest.raises(RateLimited, match="rate limited for 900s") as caught:
        poll(source(api, max_wait_s=5))
    assert caught.value.retry_after_s == 900


def test_spent_quota_is_rate_limited_until_midnight_pacific(api):
    api.quota_spent = True
    now = datetime(2025, 11, 20, 20, 30, tzinfo=timezone.utc).timestamp()  # 12:30 PST
    with pytest.raises(RateLimited, match=r"daily quota is spent \(quotaExceeded\).*in 11\.5h") as caught:
        poll(source(api), clock=lambda: now)
    assert caught.value.retry_after_s == 11.5 * 3600


def test_quota_reset_follows_pacific_daylight_time():
    summer = datetime(2025, 7, 1, 6, 0, tzinfo=timezone.utc).timestamp()  # 23:00 PDT
    assert seconds_until_quota_reset(summer) == 3600
    winter = datetime(2025, 1, 1, 7, 0, tzinfo=timezone.utc).timestamp()  # 23:00 PST
    assert seconds_until_quota_reset(winter) == 3600


# 6. credentials -------------------------------------------------------------

def test_an_invalid_key_is_auth_failed_and_probe_says_so(api, monkeypatch):
    monkeypatch.setenv("YOUTUBE_KEY", "AIza-revoked")
    with pytest.raises(AuthFailed, match=r"yt-acme: /youtube/v3/commentThreads: the API key was refused "
                                         r"\(HTTP 400, keyInvalid\): API key not valid"):
        poll(source(api))
    with pytest.raises(AuthFailed, match="the API key was refused"):
        source(api).probe()


def test_a_key_without_access_to_the_api_is_auth_failed(api):
    api.fail_next = [google_error(403, "accessNotConfigured", "YouTube Data API v3 has not been used in project 1",
                                  "usageLimits")]
    with pytest.raises(AuthFailed, match="accessNotConfigured"):
        poll(source(api))


def test_missing_env_var_is_named(api, monkeypatch):
    monkeypatch.delenv("YOUTUBE_KEY")
    with pytest.raises(MissingCredential, match="environment variable YOUTUBE_KEY is not set"):
        source(api).listener()
    with pytest.raises(MissingCredential, match="YOUTUBE_KEY"):
        source(api).probe()


# 7. malformed, disabled and gone --------------------------------------------

def test_malformed_threads_are_rejected_with_the_reason(api):
    good = REAL_THREAD
    no_text = {**REAL_THREAD, "id": "UgyNoText", "replies": {"comments": []},
               "snippet": {**REAL_THREAD["snippet"], "topLevelComment": {"id": "UgyNoText", "snippet": {
                   **REAL_THREAD["snippet"]["topLevelComment"]["snippet"], "textOriginal": "", "textDisplay": ""}}}}
    bad_time = {**REAL_THREAD, "id": "UgyBadTime", "replies": {"comments": [{"id": "UgyBadTime.r", "snippet": {
        "textOriginal": "reply", "authorDisplayName": "@x", "publishedAt": "last week"}}]},
        "snippet": {**REAL_THREAD["snippet"], "topLevelComment": {"id": "UgyBadTime", "snippet": {
            **REAL_THREAD["snippet"]["topLevelComment"]["snippet"], "publishedAt": "2025-11-19T00:00:00Z"}}}}
    page = {"kind": "youtube#commentThreadListResponse", "items": [good, {"id": "UgyNoSnippet"}, no_text, bad_time]}
    api.intercept = lambda r: json_response(200, page)
    _, out = poll(source(api))
    assert [m.native_id for m in mentions(out)] == [
        "UgzDE2tasfmrYLyNkGt4AaABAg", "UgzDE2tasfmrYLyNkGt4AaABAg.9zx8Kq3XyZ19zx8Lr", "UgyBadTime"]
    reasons = [o.reason for o in out if isinstance(o, Rejected)]
    assert reasons == [
        "yt-acme: /youtube/v3/commentThreads item 1: not a commentThread resource",
        "yt-acme: /youtube/v3/commentThreads item 2: comment UgyNoText has no text",
        "yt-acme: /youtube/v3/commentThreads item 3 reply 0: comment UgyBadTime.r has no valid 'publishedAt': 'last week'",
    ]
    assert b"UgyNoSnippet" in [o for o in out if isinstance(o, Rejected)][0].payload


def test_a_page_without_items_is_rejected_whole(api):
    api.intercept = lambda r: json_response(200, {"kind": "youtube#commentThreadListResponse"})
    _, out = poll(source(api))
    assert [o.reason for o in out if isinstance(o, Rejected)] == [
        "yt-acme: /youtube/v3/commentThreads answered without an 'items' list"]


def test_disabled_comments_and_missing_videos_skip_that_video_only(api):
    api.comments_disabled.add(OTHER)
    ids = add_threads(api, 2)
    listener, out = poll(source(api, channel_id=None, video_ids=[OTHER, "gone0000000", VIDEO]))
    assert [m.native_id for m in mentions(out)] == ids[::-1]
    assert listener.skipped == Counter({f"video:{OTHER} unreadable": 1, "video:gone0000000 unreadable": 1})
    assert [r.query["videoId"] for r in api.requests] == [OTHER, "gone0000000", VIDEO]


# 8. probe and config --------------------------------------------------------

def test_probe_reports_the_newest_thread_or_video(api):
    api.add_thread(VIDEO, "acme!", T0, author="@fan")
    assert source(api).probe() == (f"API key accepted; newest comment thread on channel:{CHANNEL}: "
                                   f"{api.threads[0]['id']} by @fan at 2025-11-20T12:00:00Z")
    assert api.requests[-1].query["maxResults"] == "1"
    api.add_video_result("vid00000001", "acme review", T0, channel="Reviews")
    assert source(api, channel_id=None, search_query="acme").probe() == (
        "API key accepted; newest video for 'acme': vid00000001 by Reviews at 2025-11-20T12:00:00Z")
    assert source(api, channel_id=None, search_query="nothing").probe() == "API key accepted; search has nothing yet"


def test_config_is_validated():
    base = {"name": "y", "kind": "youtube", "brand": "acme", "api_key": {"env": "K"}}
    with pytest.raises(ValidationError, match="give a channel_id, video_ids or a search_query"):
        YoutubeSource.model_validate(base)
    with pytest.raises(ValidationError, match="channel_id"):
        YoutubeSource.model_validate({**base, "channel_id": "acme"})
    with pytest.raises(ValidationError, match="not a YouTube video id"):
        YoutubeSource.model_validate({**base, "video_ids": ["short"]})
    with pytest.raises(ValidationError):
        YoutubeSource.model_validate({**base, "channel_id": CHANNEL, "api_key": "AIza-inline"})


def test_docstring_example_loads_as_a_sources_file(tmp_path):
    example = youtube_module.__doc__.split("Example (``config/sources.yaml``)::\n")[1]
    f = tmp_path / "sources.yaml"
    f.write_text("version: 1\nsources:\n" + example)
    assert [s.name for s in load_sources(f).sources] == ["youtube-acme"]
