"""The trained classifier's contract: ranked calibrated scores, review flag, dedup, persistence."""

import json

import pytest
import torch

from classifiers.model import HEAD_FILE, META_FILE, MentionClassifier
from mentionflow.models import Category


def test_scores_are_ranked_probabilities(classifier):
    [p] = classifier.process(["Where is my refund? Three weeks and nothing!!"], ["en"])
    values = list(p.scores.values())
    assert values == sorted(values, reverse=True)
    assert set(p.scores) == set(Category)
    assert sum(values) == pytest.approx(1.0, abs=1e-4)
    assert p.category == next(iter(p.scores)) and p.confidence == pytest.approx(values[0], abs=1e-5)


def test_needs_review_follows_the_threshold(classifier):
    text = ["ok"]
    classifier.review_threshold = 1.0
    assert classifier.process(text)[0].needs_review
    classifier.review_threshold = 0.0
    assert not classifier.process(text)[0].needs_review
    classifier.review_threshold = 0.5


def test_near_duplicates_run_through_the_network_once(classifier, monkeypatch):
    calls = []
    original = classifier.probabilities

    def counting(texts, batch_size=32):
        calls.append(list(texts))
        return original(texts, batch_size)

    monkeypatch.setattr(classifier, "probabilities", counting)
    texts = ["RT @a: SkyJet lost my bag again https://t.co/1", "skyjet lost my bag again https://t.co/2",
             "SkyJet lost my bag AGAIN"]
    preds = classifier.process(texts)
    assert sum(len(c) for c in calls) <= 1
    assert len({(p.category, p.confidence) for p in preds}) == 1


def test_persist_and_load_round_trip(classifier, settings, tmp_path):
    classifier.persist(tmp_path)
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert meta["model_version"] == classifier.model_version
    assert (tmp_path / HEAD_FILE).stat().st_size < 50 * 1024 * 1024
    again = MentionClassifier.load(tmp_path, settings.cache_dir)
    texts = ["Merci pour la livraison rapide !", "¿Cuánto cuesta el plan para 50 personas?"]
    assert torch.allclose(again.probabilities(texts), classifier.probabilities(texts), atol=1e-3)


def test_missing_artifact_says_how_to_make_one(settings, tmp_path):
    with pytest.raises(FileNotFoundError, match="make train"):
        MentionClassifier.load(tmp_path, settings.cache_dir)
