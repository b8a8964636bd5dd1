"""Reading the labeled corpus.

``corpus/<lang>.jsonl`` holds the examples as written, one language a file;
``splits/{train,dev,test}.jsonl`` is the split made from them by
``classifiers.data.split`` (committed, so every run trains on the same rows).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from mentionflow.models import Category

__all__ = ["CORPUS_DIR", "SPLITS_DIR", "LabeledMention", "file_sha256", "load_corpus", "load_split"]

DATA_DIR = Path(__file__).resolve().parent
CORPUS_DIR = DATA_DIR / "corpus"
SPLITS_DIR = DATA_DIR / "splits"

PATTERNS = frozenset(
    "plain slang typos emoji hashtags handles urls all_caps sarcasm indirect_complaint "
    "problem_question pricing_question praise_with_question spam_mimics_praise mixed_language "
    "transliteration no_diacritics very_short mixed_intent".split()
)


class LabeledMention(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    lang: str = Field(min_length=2, max_length=8)
    text: str = Field(min_length=1)
    label: Category
    pattern: str

    def model_post_init(self, _ctx: object) -> None:
        if self.pattern not in PATTERNS:
            raise ValueError(f"{self.id}: unknown pattern {self.pattern!r}")


def _read(path: Path) -> list[LabeledMention]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(LabeledMention.model_validate_json(line))
            except ValueError as exc:
                raise ValueError(f"{path}:{n}: {exc}") from exc
    return rows


def load_corpus(corpus_dir: Path = CORPUS_DIR) -> list[LabeledMention]:
    rows: list[LabeledMention] = []
    for path in sorted(corpus_dir.glob("*.jsonl")):
        rows.extend(_read(path))
    return rows


def load_split(name: str, splits_dir: Path = SPLITS_DIR) -> list[LabeledMention]:
    path = splits_dir / f"{name}.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"{path} missing; run `python -m classifiers.data.split`")
    return _read(path)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
