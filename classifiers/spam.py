"""Likely bots and spam, from account signals plus text.

The intent classifier already calls spam ``other``; this detector exists
for the cases where it should not have to: a giveaway bot that copies a
complaint, a crypto scam that reads like praise. It is deliberately
conservative: a mention is flagged only when at least two independent
signals agree (for example an auto-generated handle with no followers AND a
"claim your prize" link), because a real customer's complaint marked as spam
is never answered. Every flag carries its reasons, so reports and the
review queue can show why.
"""

from __future__ import annotations

import re

from mentionflow.models import Author
from mentionflow.text_match import MAX_MATCH_CHARS, compile_keywords, normalise_for_match

__all__ = ["SPAM_MIN_SIGNALS", "spam_signals"]

SPAM_MIN_SIGNALS = 2

# Phrases of giveaway bots, follower sellers and crypto scams, in the
# project's languages. Whole-word, case- and accent-insensitive.
_PROMO = compile_keywords([
    # en
    "free followers", "giveaway", "airdrop", "claim your", "click the link", "link in bio", "dm for promo",
    "100% free", "crypto signal*", "bitcoin doubl*", "earn $*", "work from home", "onlyfans",
    "promo code", "win a free", "free iphone", "free voucher", "free flight",
    # de / fr / es / it / pt
    "gratis follower", "kostenlose follower", "gewinnspiel", "jetzt klicken", "concours", "gagnez", "cliquez ici",
    "abonnés gratuits", "sorteo", "gana un", "seguidores gratis", "haz clic", "concorso", "vinci un",
    "clicca qui", "follower gratis", "sorteio", "ganhe um", "clique aqui", "seguidores grátis",
    # pl / tr
    "wygraj", "darmowi obserwujacy", "bedava takipci", "cekilise katil", "obserwujących za darmo", "çekiliş",
    # ru / uk
    "розыгрыш", "переходи по ссылке", "заработок", "подписчиков", "розіграш", "переходь за посиланням", "заробіток", "підписників",
])
_URL = re.compile(r"https?://\S+|\b[\w-]+\.(?:com|net|org|io|xyz|top|click|link|ly|me|ru|example)(?:/\S*)?\b", re.I)
_SHORTENER = re.compile(r"\b(?:bit\.ly|tinyurl\.com|t\.co|goo\.gl|cutt\.ly|is\.gd|rb\.gy)/", re.I)
_GENERATED_HANDLE = re.compile(r"^@?[a-z]+[_.]?\d{5,}$", re.I)
_BOT_HANDLE = re.compile(r"(?:bot|giveaway|promo|free|crypto|airdrop|deals?)", re.I)
_HASHTAG = re.compile(r"#\w+")


def spam_signals(text: str, author: Author) -> list[str]:
    """The reasons a post looks like spam; flagged when there are at least
    ``SPAM_MIN_SIGNALS`` of them (an empty list: not spam)."""
    reasons: list[str] = []
    if author.followers == 0 and _GENERATED_HANDLE.match(author.handle):
        reasons.append(f"auto-generated handle @{author.handle.lstrip('@')} with no followers")
    elif not author.verified and _BOT_HANDLE.search(author.handle):
        reasons.append(f"promotional handle @{author.handle.lstrip('@')}")
    text = text[:MAX_MATCH_CHARS]
    if m := _PROMO.search(normalise_for_match(text)):
        reasons.append(f"promotional phrase {m.group(0)!r}")
    urls = _URL.findall(text)
    if len(urls) >= 2:
        reasons.append(f"{len(urls)} links")
    elif _SHORTENER.search(text):
        reasons.append("shortened link")
    if len(_HASHTAG.findall(text)) >= 6:
        reasons.append("hashtag stuffing")
    return reasons if len(reasons) >= SPAM_MIN_SIGNALS else []
