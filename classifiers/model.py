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
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field
from torch import nn

from classifiers.dedup import LruCache, near_duplicate_key
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
    #: Below the review threshold: a human should look before a team acts.
    needs_review: bool = False


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)


class MeanPoolClassifier(nn.Module):
    def __init__(self, encoder: nn.Module, hidden: int, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_labels)

    def embed(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return mean_pool(hidden, attention_mask)

    # Split forward, for training only the top layers: the frozen bottom is
    # run once per example and cached, the top is trained on the cache.
    def lower(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, split: int) -> torch.Tensor:
        """Hidden states after the first ``split`` encoder layers."""
        hidden = self.encoder.embeddings(input_ids=input_ids)
        return self._layers(hidden, attention_mask, 0, split)

    def upper(self, hidden: torch.Tensor, attention_mask: torch.Tensor, split: int) -> torch.Tensor:
        """Logits from hidden states at layer ``split``."""
        hidden = self._layers(hidden, attention_mask, split, len(self.encoder.encoder.layer))
        return self.head(self.dropout(mean_pool(hidden, attention_mask)))

    def _layers(self, hidden: torch.Tensor, attention_mask: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        from transformers.masking_utils import create_bidirectional_mask

        mask = create_bidirectional_mask(
            config=self.encoder.config, inputs_embeds=hidden, attention_mask=attention_mask
        )
        for layer in self.encoder.encoder.layer[start:stop]:
            out = layer(hidden, mask)
            hidden = out[0] if isinstance(out, tuple) else out
        return hidden

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(input_ids, attention_mask)))


def _configure_threads() -> None:
    threads = os.environ.get("MENTIONFLOW_TORCH_THREADS")
    if threads:
        torch.set_num_threads(int(threads))


def load_encoder(spec: str, cache_dir: Path) -> tuple[nn.Module, Any]:
    """The base encoder and its tokenizer, offline."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # the pooler is not in the file: we mean-pool instead
    path = resolve_encoder(spec, cache_dir)
    tokenizer = AutoTokenizer.from_pretrained(path)
    encoder = AutoModel.from_pretrained(path)
    if getattr(encoder, "pooler", None) is not None:
        encoder.pooler = None  # never used; skip its matmul
    return encoder, tokenizer


class MentionClassifier:
    def __init__(
        self,
        network: MeanPoolClassifier,
        tokenizer: Any,
        meta: ClassifierMeta,
        review_threshold: float = 0.5,
        cache_size: int = 10_000,
    ) -> None:
        self.network = network.eval()
        self.tokenizer = tokenizer
        self.meta = meta
        self.review_threshold = review_threshold
        self._cache: LruCache[list[float]] = LruCache(cache_size)

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
    def load(
        cls,
        artifact_dir: Path,
        cache_dir: Path,
        encoder_spec: str | None = None,
        review_threshold: float = 0.5,
    ) -> MentionClassifier:
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
        clf.review_threshold = review_threshold
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
        # Encoder layers are stored in fp16 (half the size, no measurable
        # change in predictions); the head stays fp32.
        state = {
            k: v.detach().contiguous().clone().to(torch.float16 if k.startswith("encoder.") else torch.float32)
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
        """Label a batch. ``languages`` (if known from the source) win over
        detection. Near-exact duplicates (``classifiers.dedup``) are run through
        the network once, within the batch and across recent batches."""
        keys = [near_duplicate_key(t) for t in texts]
        rows: dict[str, list[float]] = {}
        todo: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if key in rows or key in todo:
                continue
            cached = self._cache.get(key)
            if cached is None:
                todo[key] = text
            else:
                rows[key] = cached
        if todo:
            probs = self.probabilities(list(todo.values()), batch_size)
            for key, row in zip(todo, probs.tolist(), strict=True):
                self._cache.put(key, row)
                rows[key] = row
        langs = list(languages) if languages is not None else [None] * len(texts)
        predictions = []
        for key, text, lang in zip(keys, texts, langs, strict=True):
            row = rows[key]
            ranked = sorted(zip(self.meta.labels, row, strict=True), key=lambda kv: kv[1], reverse=True)
            confidence = float(ranked[0][1])
            predictions.append(
                Prediction(
                    category=ranked[0][0],
                    confidence=confidence,
                    scores={label: round(float(p), 6) for label, p in ranked},
                    language=lang or detect_language(text),
                    needs_review=confidence < self.review_threshold,
                )
            )
        return predictions
