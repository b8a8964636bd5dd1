"""The sentence encoder under the classifier: built once, verified, cached."""

from classifiers.encoder.build import DEFAULT_ENCODER, ensure_encoder, resolve_encoder

__all__ = ["DEFAULT_ENCODER", "ensure_encoder", "resolve_encoder"]
