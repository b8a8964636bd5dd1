import random

from classifiers.augment import augment
from classifiers.dedup import LruCache, near_duplicate_key


def test_retweets_and_link_variants_share_a_key():
    base = near_duplicate_key("Parcelo lost my parcel again https://t.co/abc")
    assert near_duplicate_key("RT @angry_anna: parcelo lost my parcel   again https://t.co/xyz") == base
    assert near_duplicate_key("@parcelo Parcelo lost my parcel again") == base


def test_emoji_and_words_change_the_key():
    assert near_duplicate_key("thanks 🙂") != near_duplicate_key("thanks 🙄")
    assert near_duplicate_key("refund arrived") != near_duplicate_key("refund never arrived")


def test_lru_cache_evicts_the_oldest():
    cache: LruCache[int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2


def test_augment_swaps_corpus_brands_and_is_deterministic():
    text = "Kavarna na Mokotowie, znowu zimna kawa @kavarna #Kavarna"
    a = [augment(text, random.Random(3)) for _ in range(2)]
    assert a[0] == a[1]
    views = {augment(text, random.Random(seed)) for seed in range(20)}
    assert any("kavarna" not in v.lower() for v in views)
    assert all("mokotow" in v.lower() for v in views)  # the rest of the post survives


def test_every_corpus_brand_is_swapped_but_common_words_that_share_a_stem_are_not():
    from classifiers.augment import _swap_brands

    rng = random.Random(0)
    for brand in ["Ridella", "Kinoteka", "Verdo", "Mebla", "Pulsa", "Trenzo", "Clinova", "Stayra", "Gridly", "Petzo",
                  "Гридли", "Стайра", "Клинова", "Кінотека", "Петзо"]:
        assert brand.lower() not in _swap_brands(f"{brand} again", rng).lower()
    for word in ["il pulsante verde", "меблі та пульс", "verdadero"]:
        assert _swap_brands(word, rng) == word
