"""The mention classifier: a multilingual encoder, mean pooling, a linear head.

Contract (after Rasa's components): ``train`` builds one from labeled
examples, ``process`` labels a batch, ``persist`` writes the small trained
artifact, ``load`` reads it back over the encoder built at set-up. Only what
training changed is persisted (the head, plus any encoder layers that were
unfrozen), so the artifact stays a few megabytes while the 470 MB encoder is
rebuilt from its pinned package.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field
from torch import nn

from classifiers.encoder import resolve_encoder
from classifiers.language import detect_language
from mentionflow.models import Category

__all__ = ["ClassifierMeta", "MentionClassifier", "Prediction", "LABELS"]

log = logging.getLogger(__name__)

LABELS: tuple[Category, ...] = (
    Category.COMPLAINT,
    Category.QUESTION,
    Category.PRAISE,
    Category.LEAD,
    Category.OTHER,
)
HEAD_FILE = "head.safetensors"
META_FILE = "classifier.json"
#: Characters of a post the encoder sees. 128 tokens cover a long post; a
#: megabyte of text must not cost a megabyte of tokenisation.
MAX_CHARS = 2000


class ClassifierMeta(BaseModel):
    """What a trained artifact needs besides its weights."""

    labels: list[Category] = Field(default_factory=lambda: list(LABELS))
    encoder: str
    prefix: str = "query: "
    max_length: int = 128
    temperature: float = 1.0
    trainable_layers: list[int] = Field(default_factory=list)
    model_version: str = "untrained"
    training: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class Prediction:
    category: Category
    confidence: float
    scores: dict[Category, float]  # every label, most probable first
    language: str | None


class MeanPoolClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, hidden: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))


def _configure_threads() -> None:
    threads = os.environ.get("MENTIONFLOW_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))


def load_encoder(spec: str, cache_dir: Path) -> tuple[nn.Module, Any]:
    """The base encoder and its tokenizer, offline."""
    from transformers import AutoModel, AutoTokenizer

    path = resolve_encoder(spec, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    kwargs: dict[str, Any] = {}
    if Path(path).is_dir() and json.loads((Path(path) / "config.json").read_text()).get("model_type") == "bert":
        kwargs["add_pooling_layer"] = False  # mean pooling; the pooler is not in the file
    encoder = AutoModel.from_pretrained(path, **kwargs)
    return encoder, tokenizer


class MentionClassifier:
    def __init__(self, network: MeanPoolClassifier, tokenizer: Any, meta: ClassifierMeta) -> None:
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.meta = meta

    @property
    def labels(self) -> list[Category]:
        return list(self.meta.labels)

    @property
    def model_version(self) -> str:
        return self.meta.model_version

    # -- construction -----------------------------------------------------
    @classmethod
    def untrained(cls, encoder_spec: str, cache_dir: Path, **meta: Any) -> MentionClassifier:
        encoder, tokenizer = load_encoder(encoder_spec, cache_dir)
        m = ClassifierMeta(encoder=encoder_spec, **meta)
        network = MeanPoolClassifier(encoder, encoder.config.hidden_size, len(m.labels))
        return cls(network, tokenizer, m)

    @classmethod
    def load(cls, artifact_dir: Path, cache_dir: Path, encoder_spec: str | None = None) -> MentionClassifier:
        """Load a persisted artifact over its encoder.

        ``encoder_spec`` overrides the recorded encoder (same architecture
        required, e.g. a local copy of the same model)."""
        from safetensors.torch import load_file

        _configure_threads()
        meta_path = artifact_dir / META_FILE
        if not meta_path.exists():
            raise FileNotFoundError(
                f"no trained classifier at {artifact_dir} ({META_FILE} missing); run `make train`"
            )
        meta = ClassifierMeta.model_validate_json(meta_path.read_text())
        clf = cls.untrained(encoder_spec or meta.encoder, cache_dir, **meta.model_dump(exclude={"encoder"}))
        clf.meta = meta
        state = load_file(str(artifact_dir / HEAD_FILE))
        missing, unexpected = clf.network.load_state_dict(state, strict=False)
        if unexpected:
            raise ValueError(f"{artifact_dir / HEAD_FILE}: unexpected tensors {unexpected[:5]}")
        if any(k.startswith("head.") for k in missing):
            raise ValueError(f"{artifact_dir / HEAD_FILE}: classification head is missing")
        clf.network.eval()
        return clf

    def persist(self, artifact_dir: Path) -> Path:
        from safetensors.torch import save_file

        artifact_dir.mkdir(parents=True, exist_ok=True)
        keep = ["head."] + [f"encoder.encoder.layer.{i}." for i in self.meta.trainable_layers]
        state = {
            k: v.detach().contiguous().clone()
            for k, v in self.network.state_dict().items()
            if any(k.startswith(p) for p in keep)
        }
        head_path = artifact_dir / HEAD_FILE
        save_file(state, str(head_path))
        digest = hashlib.sha256(head_path.read_bytes()).hexdigest()[:12]
        self.meta = self.meta.model_copy(update={"model_version": f"e5s-meanpool-{digest}"})
        (artifact_dir / META_FILE).write_text(self.meta.model_dump_json(indent=2) + "\n")
        return artifact_dir

    # -- inference --------------------------------------------------------
    def encode_batch(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        return self.tokenizer(
            [self.meta.prefix + t[:MAX_CHARS] for t in texts],
            padding=True,
            truncation=True,
            max_length=self.meta.max_length,
            return_tensors="pt",
        )

    @torch.inference_mode()
    def logits(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        out = []
        # Sorting by length keeps padding (wasted FLOPs) small inside a batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = self.encode_batch([texts[i] for i in idx])
            out.append((idx, self.network(enc["input_ids"], enc["attention_mask"])))
        result = torch.empty(len(texts), len(self.meta.labels))
        for idx, logits in out:
            result[idx] = logits
        return result

    def probabilities(self, texts: Sequence[str], batch_size: int = 32) -> torch.Tensor:
        if not texts:
            return torch.empty(0, len(self.meta.labels))
        return torch.softmax(self.logits(texts, batch_size) / self.meta.temperature, dim=-1)

    def process(
        self,
        texts: Sequence[str],
        languages: Sequence[str | None] | None = None,
        batch_size: int = 32,
    ) -> list[Prediction]:
        """Label a batch. ``languages`` (if known from the source) win over detection."""
        probs = self.probabilities(texts, batch_size)
        langs = list(languages) if languages is not None else [None] * len(texts)
        predictions = []
        for row, text, lang in zip(probs.tolist(), texts, langs, strict=True):
            ranked = sorted(zip(self.meta.labels, row, strict=True), key=lambda kv: kv[1], reverse=True)
            predictions.append(
                Prediction(
                    category=ranked[0][0],
                    confidence=float(ranked[0][1]),
                    scores={label: round(float(p), 6) for label, p in ranked},
                    language=lang or detect_language(text),
                )
            )
        return predictions
