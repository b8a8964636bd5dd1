"""Keyword rules of the kind social-media suites ship.

A keyword list per category and language (``keywords.yaml``, written from
the labeling guidelines without looking at the corpus). A post gets the first
category, in the guidelines' priority order, with a keyword in the post's
language or in English (people mix English in); no match means ``other``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from classifiers.language import detect_language
from classifiers.model import LABELS
from mentionflow.models import Category

__all__ = ["KeywordBaseline"]

KEYWORDS_FILE = Path(__file__).resolve().parent / "keywords.yaml"
PRIORITY = (Category.COMPLAINT, Category.LEAD, Category.QUESTION, Category.PRAISE, Category.OTHER)
#: Probability the baseline puts on its answer; rules have no notion of confidence.
RULE_CONFIDENCE = 0.8


def _pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    parts = []
    for kw in keywords:
        kw = kw.strip().casefold()
        if not kw:
            continue
        prefix = kw.endswith("*")
        body = re.escape(kw.rstrip("*")).replace(r"\ ", r"\s+")
        parts.append(rf"(?<!\w){body}" + (r"\w*" if prefix else r"(?!\w)"))
    return re.compile("|".join(parts), re.UNICODE) if parts else None


class KeywordBaseline:
    name = "keyword rules"

    def __init__(self, path: Path = KEYWORDS_FILE) -> None:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.rules: dict[str, dict[Category, re.Pattern[str]]] = {}
        for lang, cats in data["languages"].items():
            compiled = {Category(c): _pattern(words) for c, words in cats.items()}
            self.rules[lang] = {c: p for c, p in compiled.items() if p is not None}

    def label(self, text: str, language: str | None = None) -> Category:
        lang = language or detect_language(text)
        langs = [lang, "en"] if lang in self.rules else list(self.rules)
        folded = text.casefold()
        for category in PRIORITY:
            for code in langs:
                pattern = self.rules[code].get(category)
                if pattern is not None and pattern.search(folded):
                    return category
        return Category.OTHER

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        probs = np.full((len(texts), len(LABELS)), (1 - RULE_CONFIDENCE) / (len(LABELS) - 1))
        for i, text in enumerate(texts):
            probs[i, LABELS.index(self.label(text))] = RULE_CONFIDENCE
        return probs
