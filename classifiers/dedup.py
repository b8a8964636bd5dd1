"""Classify each distinct text once: retweets and copy-paste campaigns repeat.

Two posts are near-exact duplicates when they differ only in what carries no
intent: a retweet prefix, links (shorteners differ per copy), @handles, case
and spacing. Emoji and punctuation are kept: "thanks 🙂" and "thanks 🙄" mean
different things.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["LruCache", "copy_text", "near_duplicate_key"]

_RT = re.compile(r"^\s*(rt|retweet)\s*@\w+\s*:?\s*", re.IGNORECASE)
_URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<!\w)@\w+", re.UNICODE)
_SPACE = re.compile(r"\s+")

V = TypeVar("V")


def copy_text(text: str) -> str:
    """What stays the same across copies of a post."""
    t = _RT.sub("", text)
    t = _URL.sub(" ", t)
    t = _HANDLE.sub(" ", t)
    return _SPACE.sub(" ", t).strip().casefold()


def near_duplicate_key(text: str) -> str:
    return hashlib.blake2b(copy_text(text).encode("utf-8"), digest_size=16).hexdigest()


class LruCache(Generic[V]):
    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._data: OrderedDict[str, V] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> V | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._data.move_to_end(key)
        return value

    def put(self, key: str, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.capacity:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)
