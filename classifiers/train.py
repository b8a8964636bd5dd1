"""Train the mention classifier and write its artifact.

    python -m classifiers.train [--out classifiers/artifacts/current]

The top ``trainable_top_layers`` encoder layers and the head are fine-tuned;
everything below, the word-embedding table included, stays frozen. Because
the frozen bottom is deterministic, it runs once per example and its output
is cached, so an epoch costs only the top layers: this is what makes
fine-tuning fit in minutes on two CPU cores. Deterministic for a given seed,
corpus and encoder (seeded generators, fixed data order, pinned threads).
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

from classifiers.augment import augment
from classifiers.data import SPLITS_DIR, LabeledMention, load_split
from classifiers.data.corpus import file_sha256
from classifiers.metrics import classification_report
from classifiers.model import LABELS, MentionClassifier
from mentionflow.settings import get_settings

__all__ = ["TrainConfig", "fit_temperature", "train"]

log = logging.getLogger(__name__)


class TrainConfig(BaseModel):
    seed: int = 13
    trainable_top_layers: int = 10
    augment_copies: int = 1
    epochs: int = 4
    batch_size: int = 32
    lr_layers: float = 5e-5
    lr_head: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.05
    #: also try the mean of the last N epochs' weights; kept only if dev prefers it
    average_last_epochs: int = 1
    encode_batch_size: int = 32
    max_length: int = 128
    threads: int = 2


def _seed_everything(seed: int, threads: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


class _Cached:
    """Frozen-bottom hidden states for a list of texts, padded per batch on demand."""

    def __init__(self, states: list[torch.Tensor], labels: torch.Tensor) -> None:
        self.states = states
        self.labels = labels

    def batch(self, idx: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        seqs = [self.states[i] for i in idx]
        longest = max(s.shape[0] for s in seqs)
        hidden = torch.zeros(len(seqs), longest, seqs[0].shape[1])
        mask = torch.zeros(len(seqs), longest, dtype=torch.long)
        for j, s in enumerate(seqs):
            hidden[j, : s.shape[0]] = s
            mask[j, : s.shape[0]] = 1
        return hidden, mask, self.labels[list(idx)]


@torch.inference_mode()
def _lower_states(clf: MentionClassifier, texts: Sequence[str], split: int, batch: int, desc: str) -> list[torch.Tensor]:
    out: list[torch.Tensor] = [torch.empty(0)] * len(texts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    for start in tqdm(range(0, len(order), batch), desc=desc, unit="batch"):
        idx = order[start : start + batch]
        enc = clf.encode_batch([texts[i] for i in idx])
        hidden = clf.network.lower(enc["input_ids"], enc["attention_mask"], split)
        for j, i in enumerate(idx):
            out[i] = hidden[j, : int(enc["attention_mask"][j].sum())].clone()
    return out


def _length_grouped_batches(data: _Cached, batch_size: int, gen: torch.Generator, group: int = 16) -> list[list[int]]:
    """Shuffled batches of similar length: a random permutation is cut into
    windows of ``group`` batches, each window sorted by length and cut into
    batches, and the batch order shuffled again. Posts range from two tokens
    to a hundred, so random batches are mostly padding; this roughly halves
    the work per epoch while every batch stays a random sample."""
    perm = torch.randperm(len(data.states), generator=gen).tolist()
    window = batch_size * group
    batches: list[list[int]] = []
    for start in range(0, len(perm), window):
        chunk = sorted(perm[start : start + window], key=lambda i: data.states[i].shape[0])
        batches.extend(chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size))
    order = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in order]


def _logits(network: nn.Module, data: _Cached, split: int, batch: int = 64) -> torch.Tensor:
    network.eval()
    order = sorted(range(len(data.states)), key=lambda i: data.states[i].shape[0])
    result = torch.empty(len(order), len(LABELS))
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            hidden, mask, _ = data.batch(idx)
            result[idx] = network.upper(hidden, mask, split)
    return result


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


def _views(rows: Sequence[LabeledMention], copies: int, seed: int) -> tuple[list[str], list[int]]:
    rng = random.Random(seed)
    index = {label: i for i, label in enumerate(LABELS)}
    texts, labels = [], []
    for r in rows:
        texts.append(r.text)
        labels.append(index[r.label])
        for _ in range(copies):
            texts.append(augment(r.text, rng))
            labels.append(index[r.label])
    return texts, labels


def train(out_dir: Path, config: TrainConfig | None = None, splits_dir: Path = SPLITS_DIR) -> dict:
    config = config or TrainConfig()
    settings = get_settings()
    _seed_everything(config.seed, config.threads)
    train_rows, dev_rows = load_split("train", splits_dir), load_split("dev", splits_dir)

    clf = MentionClassifier.untrained(settings.encoder, settings.cache_dir, max_length=config.max_length)
    network = clf.network
    n_layers = len(network.encoder.encoder.layer)
    split = n_layers - config.trainable_top_layers
    if not 0 <= split < n_layers:
        raise ValueError(f"trainable_top_layers must be 1..{n_layers}")

    train_texts, train_labels = _views(train_rows, config.augment_copies, config.seed)
    dev_texts, dev_labels = _views(dev_rows, 0, config.seed)
    train_data = _Cached(
        _lower_states(clf, train_texts, split, config.encode_batch_size, "encode train"), torch.tensor(train_labels)
    )
    dev_data = _Cached(
        _lower_states(clf, dev_texts, split, config.encode_batch_size, "encode dev"), torch.tensor(dev_labels)
    )

    for p in network.parameters():
        p.requires_grad_(False)
    top = [p for layer in network.encoder.encoder.layer[split:] for p in layer.parameters()]
    for p in top + list(network.head.parameters()):
        p.requires_grad_(True)
    opt = torch.optim.AdamW(
        [{"params": top, "lr": config.lr_layers}, {"params": list(network.head.parameters()), "lr": config.lr_head}],
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = (len(train_texts) + config.batch_size - 1) // config.batch_size
    total = steps_per_epoch * config.epochs
    warmup = max(1, int(total * config.warmup_fraction))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup)))
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    gen = torch.Generator().manual_seed(config.seed)
    trainable = {n for n, p in network.named_parameters() if p.requires_grad}
    best_f1, best_state = -1.0, None
    best_epoch: int | str = -1
    history: list[dict] = []
    states: list[dict[str, torch.Tensor]] = []
    with tqdm(total=total, desc="fine-tune", unit="step") as bar:
        for epoch in range(config.epochs):
            network.train()
            for idx in _length_grouped_batches(train_data, config.batch_size, gen):
                hidden, mask, y = train_data.batch(idx)
                opt.zero_grad()
                loss = loss_fn(network.upper(hidden, mask, split), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(top, 1.0)
                opt.step()
                sched.step()
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")
            dev_pred = _logits(network, dev_data, split).argmax(-1)
            f1 = classification_report(dev_data.labels.tolist(), dev_pred.tolist(), len(LABELS))["macro_f1"]
            history.append({"epoch": epoch + 1, "dev_macro_f1": round(f1, 4)})
            log.info("epoch %d: dev macro-F1 %.4f", epoch + 1, f1)
            state = {n: t.detach().clone() for n, t in network.state_dict().items() if n in trainable}
            states.append(state)
            if f1 > best_f1:
                best_f1, best_epoch, best_state = f1, epoch + 1, state
    assert best_state is not None
    if config.average_last_epochs > 1 and len(states) >= config.average_last_epochs:
        last = states[-config.average_last_epochs :]
        averaged = {n: torch.stack([s[n].float() for s in last]).mean(0).to(last[0][n].dtype) for n in last[0]}
        network.load_state_dict(averaged, strict=False)
        dev_pred = _logits(network, dev_data, split).argmax(-1)
        f1 = classification_report(dev_data.labels.tolist(), dev_pred.tolist(), len(LABELS))["macro_f1"]
        history.append({"epoch": f"mean of last {len(last)}", "dev_macro_f1": round(f1, 4)})
        log.info("mean of the last %d epochs: dev macro-F1 %.4f", len(last), f1)
        if f1 > best_f1:
            best_f1, best_epoch, best_state = f1, f"mean of epochs {len(states) - len(last) + 1}-{len(states)}", averaged
    network.load_state_dict(best_state, strict=False)
    temperature = fit_temperature(_logits(network, dev_data, split), dev_data.labels)
    clf.meta = clf.meta.model_copy(
        update={
            "temperature": temperature,
            "trainable_layers": list(range(split, n_layers)),
            "training": {
                "config": config.model_dump(),
                "data_sha256": {n: file_sha256(splits_dir / f"{n}.jsonl") for n in ("train", "dev", "test")},
                "examples": {"train": len(train_rows), "train_views": len(train_texts), "dev": len(dev_rows)},
                "best_epoch": best_epoch,
                "history": history,
            },
        }
    )
    clf.persist(out_dir)
    return {"model_version": clf.model_version, "dev_macro_f1": round(best_f1, 4), "best_epoch": best_epoch,
            "temperature": round(temperature, 4)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=get_settings().classifier_dir)
    parser.add_argument("--config", type=Path, help="JSON file overriding TrainConfig fields")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    overrides = json.loads(args.config.read_text()) if args.config else {}
    summary = train(args.out, TrainConfig(**overrides))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
