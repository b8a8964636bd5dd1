"""The spam detector flags bots only when independent signals agree."""

import json

import pytest

from classifiers.spam import spam_signals
from mentionflow.models import Author
from mentionflow.settings import PROJECT_ROOT


def author(handle="anna_k", followers=250, verified=False) -> Author:
    return Author(handle=handle, followers=followers, verified=verified)


@pytest.mark.parametrize(
    ("text", "who", "expected"),
    [
        ("🎁 GIVEAWAY 🎁 win a free iPhone, follow + RT", author("free_prizes_daily"), ["promotional handle", "promotional phrase"]),
        ("Bitcoin doubling! send 0.1 BTC get 0.2 back skyjet-miles.io and crypto.example/x", author(), ["promotional phrase", "2 links"]),
        ("nice parcelo deal bit.ly/3xYz", author("user84736251", 0), ["auto-generated handle", "shortened link"]),
        ("WYGRAJ iPhone 16!!! Parcelo rozdaje paczki, kliknij", author("promo_paczki24"), ["promotional handle", "promotional phrase 'wygraj'"]),
        ("#a #b #c #d #e #f Розыгрыш от Kavarna!", author(), ["promotional phrase", "hashtag stuffing"]),
    ],
)
def test_spam_needs_two_signals(text, who, expected):
    reasons = spam_signals(text, who)
    assert len(reasons) == len(expected)
    for reason, start in zip(reasons, expected, strict=True):
        assert reason.startswith(start)


@pytest.mark.parametrize(
    ("text", "who"),
    [
        ("GIVEAWAY? no, just my parcel that never arrived", author()),  # one phrase alone
        ("my refund is late, see https://a.example/1 and https://b.example/2", author()),  # links alone
        ("user84736251 here, my card is blocked", author("user84736251", 0)),  # a bare new account
        ("Win a free flight? Official SkyJet giveaway https://skyjet.example/win", author("skyjet_deals", 2_000_000, True)),
    ],
)
def test_real_customers_and_verified_brands_are_not_flagged(text, who):
    assert spam_signals(text, who) == []


def test_no_false_positives_on_the_bundled_real_looking_mentions():
    """Every sample mention labelled complaint/question/lead/praise stays unflagged."""
    flagged = []
    for path in ("listeners/samples/sample_mentions.jsonl", "tests/data/unseen_mentions.jsonl"):
        for line in (PROJECT_ROOT / path).read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            label = rec.get("expected_label") or rec.get("expected")
            a = rec.get("author") or {}
            reasons = spam_signals(rec["text"], Author(handle=a.get("handle", "x"), followers=a.get("followers", 0),
                                                      verified=a.get("verified", False)))
            if reasons:
                flagged.append(label)
    assert flagged and set(flagged) == {"other"}
