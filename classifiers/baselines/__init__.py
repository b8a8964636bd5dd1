"""Baselines a user could pick instead of the model; ``mentionflow evaluate`` compares them."""

from classifiers.baselines.keywords import KeywordBaseline
from classifiers.baselines.prototypes import PrototypeBaseline

__all__ = ["KeywordBaseline", "PrototypeBaseline"]
