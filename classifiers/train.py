"""Train the mention classifier and write its artifact.

    python -m classifiers.train [--out classifiers/artifacts/current]

Deterministic for a given seed, corpus and encoder: the seed fixes torch's
generators, data order is the split files' order, and threads are pinned.
With no encoder layers unfrozen the encoder runs once per example (pooled
vectors are cached) and only the head is fitted; unfreezing top layers
trains end to end on those layers with the word-embedding table frozen.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from pydantic import BaseModel
from torch import nn
from tqdm import tqdm

from classifiers.data import SPLITS_DIR, LabeledMention, load_split
from classifiers.data.corpus import file_sha256
from classifiers.metrics import classification_report
from classifiers.model import LABELS, MentionClassifier
from mentionflow.settings import get_settings

__all__ = ["TrainConfig", "fit_temperature", "train"]

log = logging.getLogger(__name__)


class TrainConfig(BaseModel):
    seed: int = 13
    epochs: int = 300
    lr: float = 5e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    encode_batch_size: int = 32
    max_length: int = 128
    dropout: float = 0.1


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


@torch.inference_mode()
def _pooled(clf: MentionClassifier, rows: Sequence[LabeledMention], batch: int, desc: str) -> torch.Tensor:
    vectors = []
    for start in tqdm(range(0, len(rows), batch), desc=desc, unit="batch"):
        enc = clf.encode_batch([r.text for r in rows[start : start + batch]])
        vectors.append(clf.network.embed(enc["input_ids"], enc["attention_mask"]))
    return torch.cat(vectors)


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor) -> float:
    """Temperature scaling (Guo et al., 2017): one scalar fitted on dev NLL."""
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200)
    loss_fn = nn.CrossEntropyLoss()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def train(out_dir: Path, config: TrainConfig | None = None, splits_dir: Path = SPLITS_DIR) -> dict:
    config = config or TrainConfig()
    settings = get_settings()
    _seed_everything(config.seed)
    train_rows, dev_rows = load_split("train", splits_dir), load_split("dev", splits_dir)
    label_index = {label: i for i, label in enumerate(LABELS)}
    y_train = torch.tensor([label_index[r.label] for r in train_rows])
    y_dev = torch.tensor([label_index[r.label] for r in dev_rows])

    clf = MentionClassifier.untrained(settings.encoder, settings.cache_dir, max_length=config.max_length)
    x_train = _pooled(clf, train_rows, config.encode_batch_size, "encode train")
    x_dev = _pooled(clf, dev_rows, config.encode_batch_size, "encode dev")

    head = clf.network.head
    dropout = nn.Dropout(config.dropout)
    opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(config.seed)
    best = (-1.0, None)
    for _epoch in tqdm(range(config.epochs), desc="train head", unit="epoch"):
        head.train()
        perm = torch.randperm(len(x_train), generator=gen)
        for start in range(0, len(perm), config.batch_size):
            idx = perm[start : start + config.batch_size]
            opt.zero_grad()
            loss = loss_fn(head(dropout(x_train[idx])), y_train[idx])
            loss.backward()
            opt.step()
        head.eval()
        with torch.no_grad():
            pred = head(x_dev).argmax(-1)
        f1 = classification_report(y_dev.tolist(), pred.tolist(), len(LABELS))["macro_f1"]
        if f1 > best[0]:
            best = (f1, {k: v.clone() for k, v in head.state_dict().items()})
    assert best[1] is not None
    head.load_state_dict(best[1])
    with torch.no_grad():
        dev_logits = head(x_dev)
    temperature = fit_temperature(dev_logits, y_dev)
    clf.meta = clf.meta.model_copy(
        update={
            "temperature": temperature,
            "training": {
                "config": config.model_dump(),
                "data_sha256": {n: file_sha256(splits_dir / f"{n}.jsonl") for n in ("train", "dev")},
                "examples": {"train": len(train_rows), "dev": len(dev_rows)},
                "dev_macro_f1": round(best[0], 4),
            },
        }
    )
    clf.persist(out_dir)
    summary = {"model_version": clf.model_version, "dev_macro_f1": best[0], "temperature": temperature}
    (out_dir / "training.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=get_settings().classifier_dir)
    parser.add_argument("--seed", type=int, default=TrainConfig().seed)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    summary = train(args.out, TrainConfig(seed=args.seed))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
