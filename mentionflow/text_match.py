"""Keyword and regex matching that works the same in every language.

Social posts arrive in any case, in composed or decomposed Unicode, and in
Latin-script languages often without diacritics ("pieniedzy" for
"pieniędzy"). Keywords and texts are therefore both normalised the same way
before matching: NFKC, case-folded, and Latin letters stripped of their
accents. Only Latin letters lose marks: in Cyrillic, "й" and "и" (or "ї" and
"і") are different letters, not accented variants.

Keywords match whole words (``refund`` does not match ``refunded``); a
trailing ``*`` matches any word ending (``refund*`` does), which is how one
rule covers the inflections of Slavic and Turkish words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["MAX_MATCH_CHARS", "compile_keywords", "compile_regex", "normalise_for_match"]

#: Rules look at the first this many characters: a megabyte-long post must
#: not stall the router, and no rule needs more to decide.
MAX_MATCH_CHARS = 20_000

_LATIN_LIMIT = 0x0250  # Basic Latin .. Latin Extended-B


def normalise_for_match(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:MAX_MATCH_CHARS]).casefold()
    out: list[str] = []
    for ch in unicodedata.normalize("NFD", text):
        if unicodedata.combining(ch) and out and ord(out[-1]) < _LATIN_LIMIT:
            continue
        out.append(ch)
    # Letters with no decomposition that writers replace by plain ones.
    return unicodedata.normalize("NFC", "".join(out)).translate(_PLAIN_LATIN)


_PLAIN_LATIN = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ı": "i", "ß": "ss", "æ": "ae", "œ": "oe"})


def _keyword_pattern(keyword: str) -> str:
    word = normalise_for_match(keyword.strip())
    prefix = word.endswith("*")
    word = word.rstrip("*").strip()
    if not word:
        raise ValueError(f"keyword {keyword!r} is empty")
    body = r"\s+".join(re.escape(part) for part in word.split())
    tail = r"\w*" if prefix else r"(?!\w)"
    return rf"(?<!\w){body}{tail}"


def compile_keywords(keywords: Iterable[str]) -> re.Pattern[str]:
    """One alternation for the whole list: a text is scanned once per leaf."""
    parts = [_keyword_pattern(k) for k in keywords]
    if not parts:
        raise ValueError("keyword list is empty")
    return re.compile("|".join(f"(?:{p})" for p in parts))


def compile_regex(pattern: str) -> re.Pattern[str]:
    """Case-insensitive, Unicode; a pattern that does not compile names itself."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"regex {pattern!r} does not compile: {exc}") from None
