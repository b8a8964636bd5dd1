"""Classification metrics, computed here so the evaluation owns its definitions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["classification_report", "expected_calibration_error"]


def classification_report(y_true: Sequence[int], y_pred: Sequence[int], n_labels: int) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1 (support-weighted nothing)."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    per_class = []
    for k in range(n_labels):
        tp = int(((p == k) & (t == k)).sum())
        fp = int(((p == k) & (t != k)).sum())
        fn = int(((p != k) & (t == k)).sum())
        prec = tp / (tp + fp) if tp + fp else 0.0
        rec = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per_class.append({"precision": prec, "recall": rec, "f1": f1, "support": int((t == k).sum())})
    present = [c for c in per_class if c["support"] > 0]
    return {
        "accuracy": float((t == p).mean()) if len(t) else 0.0,
        "macro_f1": float(np.mean([c["f1"] for c in present])) if present else 0.0,
        "per_class": per_class,
    }


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 15) -> float:
    """ECE with equal-width confidence bins."""
    c = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=float)
    if len(c) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        mask = (c > lo) & (c <= hi)
        if mask.any():
            ece += mask.mean() * abs(ok[mask].mean() - c[mask].mean())
    return float(ece)
