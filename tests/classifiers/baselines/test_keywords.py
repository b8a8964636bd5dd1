from classifiers.baselines.keywords import KeywordBaseline, _pattern
from mentionflow.models import Category


def test_keyword_matching_is_word_bounded_with_prefix_wildcards():
    p = _pattern(["refund*", "late", "how much"])
    assert p.search("where is my refund???")
    assert p.search("refunded twice")
    assert p.search("always late")
    assert not p.search("chocolate cake")  # 'late' inside a word
    assert p.search("how   much is it")


def test_priority_order_follows_the_guidelines():
    kb = KeywordBaseline()
    assert kb.label("love you but the app is broken", "en") == Category.COMPLAINT
    assert kb.label("great support! what is the price for 200 seats?", "en") == Category.LEAD
    assert kb.label("lorem ipsum", "en") == Category.OTHER


def test_probabilities_are_rows_over_labels():
    kb = KeywordBaseline()
    probs = kb(["terrible service", "thank you so much"])
    assert probs.shape == (2, 5)
    assert abs(probs.sum(1) - 1).max() < 1e-9
