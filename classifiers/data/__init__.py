"""Labeled mentions: the hand-written corpus and its train/dev/test split."""

from classifiers.data.corpus import CORPUS_DIR, SPLITS_DIR, LabeledMention, load_corpus, load_split

__all__ = ["CORPUS_DIR", "SPLITS_DIR", "LabeledMention", "load_corpus", "load_split"]
