"""Evaluating a classifier on labeled mentions: the numbers behind ``mentionflow evaluate``.

Every classifier under comparison (the model, the baselines) is a function
from texts to probability rows over ``LABELS``; the report is computed the
same way for each so they can stand side by side.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.data import LabeledMention
from classifiers.metrics import classification_report, expected_calibration_error
from classifiers.model import LABELS

__all__ = ["Predictor", "Report", "evaluate", "write_confusion_png"]

#: texts -> (n, len(LABELS)) probabilities
Predictor = Callable[[Sequence[str]], np.ndarray]


@dataclass
class Report:
    name: str
    n: int
    accuracy: float
    macro_f1: float
    ece: float
    per_class: dict[str, dict[str, float]]
    per_language: dict[str, float]
    per_pattern: dict[str, dict[str, float]]
    confusion: list[list[int]]

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def evaluate(name: str, predict: Predictor, rows: Sequence[LabeledMention]) -> Report:
    probs = np.asarray(predict([r.text for r in rows]), dtype=float)
    index = {label: i for i, label in enumerate(LABELS)}
    y_true = np.array([index[r.label] for r in rows])
    y_pred = probs.argmax(1)
    overall = classification_report(y_true, y_pred, len(LABELS))
    confusion = np.zeros((len(LABELS), len(LABELS)), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        confusion[t, p] += 1
    by_lang: dict[str, list[int]] = defaultdict(list)
    by_pattern: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        by_lang[r.lang].append(i)
        by_pattern[r.pattern].append(i)
    per_language = {
        lang: round(classification_report(y_true[idx], y_pred[idx], len(LABELS))["macro_f1"], 4)
        for lang, idx in sorted(by_lang.items())
    }
    per_pattern = {
        pat: {"accuracy": round(float((y_true[idx] == y_pred[idx]).mean()), 4), "n": len(idx)}
        for pat, idx in sorted(by_pattern.items())
    }
    return Report(
        name=name,
        n=len(rows),
        accuracy=round(overall["accuracy"], 4),
        macro_f1=round(overall["macro_f1"], 4),
        ece=round(expected_calibration_error(probs.max(1), y_true == y_pred), 4),
        per_class={
            LABELS[k].value: {m: round(v, 4) for m, v in c.items()} for k, c in enumerate(overall["per_class"])
        },
        per_language=per_language,
        per_pattern=per_pattern,
        confusion=confusion.tolist(),
    )


def write_confusion_png(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [label.value for label in LABELS]
    m = np.asarray(report.confusion)
    fig, ax = plt.subplots(figsize=(6, 5), dpi=120)
    norm = m / np.maximum(m.sum(1, keepdims=True), 1)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{report.name}: macro-F1 {report.macro_f1:.3f} (n={report.n})")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, str(m[i, j]), ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def write_json(reports: Sequence[Report], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({r.name: r.as_dict() for r in reports}, indent=2, ensure_ascii=False) + "\n")
