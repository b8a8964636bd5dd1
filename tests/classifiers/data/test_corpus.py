"""The labeled corpus meets its specification, and its splits do not leak."""

from collections import Counter
from itertools import product

import pytest

from classifiers.data import load_corpus, load_split
from classifiers.data.split import jaccard, near_duplicate_groups, shingles, split_corpus
from mentionflow.models import Category

LANGUAGES = {"en", "ru", "pl", "uk", "de", "es", "fr", "pt", "it", "tr"}


@pytest.fixture(scope="module")
def corpus():
    return load_corpus()


@pytest.fixture(scope="module")
def splits():
    return {name: load_split(name) for name in ("train", "dev", "test")}


def test_corpus_size_and_coverage(corpus):
    assert len(corpus) >= 3000
    per_lang = Counter(r.lang for r in corpus)
    assert set(per_lang) >= LANGUAGES
    assert all(per_lang[lang] >= 250 for lang in LANGUAGES), per_lang
    pairs = Counter((r.lang, r.label) for r in corpus)
    assert all(pairs[(lang, c)] >= 20 for lang, c in product(LANGUAGES, Category)), pairs
    assert len({r.id for r in corpus}) == len(corpus)


def test_hard_patterns_are_represented(corpus):
    patterns = Counter((r.lang, r.pattern) for r in corpus)
    assert patterns[("ru", "transliteration")] >= 20
    assert patterns[("pl", "no_diacritics")] >= 20
    for lang in LANGUAGES:
        for pattern in ("sarcasm", "indirect_complaint", "problem_question", "pricing_question",
                        "spam_mimics_praise", "mixed_language", "very_short"):
            assert patterns[(lang, pattern)] >= 5, (lang, pattern)


def test_splits_are_the_corpus_partitioned(corpus, splits):
    ids = [r.id for rows in splits.values() for r in rows]
    assert len(ids) == len(set(ids)) == len(corpus)
    for rows in (splits["dev"], splits["test"]):
        assert {(r.lang, r.label) for r in rows} == set(product(LANGUAGES, Category))


def test_splits_are_reproducible(corpus, splits):
    again = split_corpus(corpus)
    assert {n: [r.id for r in rows] for n, rows in again.items()} == {n: [r.id for r in rows] for n, rows in splits.items()}


def test_no_near_duplicates_across_splits(splits):
    train = [(r.id, shingles(r.text)) for r in splits["train"]]
    for name in ("dev", "test"):
        for r in splits[name]:
            s = shingles(r.text)
            close = [i for i, t in train if jaccard(s, t) >= 0.6]
            assert not close, f"{name} {r.id} near-duplicates train {close}"


def test_near_duplicate_grouping_finds_copies():
    from classifiers.data import LabeledMention

    rows = [
        LabeledMention(id="a", lang="en", text="My parcel is late AGAIN!!! @parcelo", label="complaint", pattern="plain"),
        LabeledMention(id="b", lang="en", text="my parcel is late again @parcelo", label="complaint", pattern="plain"),
        LabeledMention(id="c", lang="en", text="thanks for the quick refund", label="praise", pattern="plain"),
    ]
    groups = near_duplicate_groups(rows)
    assert groups[0] == groups[1] != groups[2]
