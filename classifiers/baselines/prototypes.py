"""Zero-shot nearest-prototype classification with the same encoder.

Each label is described in words (from the labeling guidelines); a post takes
the label whose description embedding is closest. This is what a user gets
from the encoder with no labeled data at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from classifiers.model import LABELS, load_encoder, mean_pool
from mentionflow.models import Category

__all__ = ["DESCRIPTIONS", "PrototypeBaseline"]

DESCRIPTIONS: dict[Category, list[str]] = {
    Category.COMPLAINT: [
        "a complaint: the customer is dissatisfied, reports a problem, failure, delay or bad experience",
        "my order is late, the app is broken, I was charged twice, terrible service",
        "sarcastic complaint about a brand that failed again",
    ],
    Category.QUESTION: [
        "a question asking for information or help, without dissatisfaction",
        "how do I do this? are you open on Sunday? does it support this feature?",
    ],
    Category.PRAISE: [
        "praise: positive feedback, thanks, compliments, a happy customer",
        "thank you, great service, I love this brand, highly recommend",
    ],
    Category.LEAD: [
        "buying interest: asking for a price, a quote, a demo or a trial before purchasing",
        "how much for 200 seats? can we get a demo? thinking of switching to this brand, bulk order",
    ],
    Category.OTHER: [
        "spam, advertising, giveaway, crypto scam, job posting or news with no intent toward the brand",
        "free followers click here, win a prize, we are hiring, unrelated chatter",
    ],
}
#: Softmax temperature over cosine similarities (they span a narrow range).
TEMPERATURE = 0.02


class PrototypeBaseline:
    name = "zero-shot prototypes"

    def __init__(self, encoder_spec: str, cache_dir, prefix: str = "query: ", max_length: int = 128) -> None:  # type: ignore[no-untyped-def]
        self.encoder, self.tokenizer = load_encoder(encoder_spec, cache_dir)
        self.encoder.eval()
        self.prefix = prefix
        self.max_length = max_length
        self.prototypes = torch.stack(
            [torch.nn.functional.normalize(self._embed(DESCRIPTIONS[label]).mean(0), dim=0) for label in LABELS]
        )

    @torch.inference_mode()
    def _embed(self, texts: Sequence[str], batch: int = 32) -> torch.Tensor:
        out = []
        for start in range(0, len(texts), batch):
            enc = self.tokenizer([self.prefix + t[:2000] for t in texts[start : start + batch]], padding=True,
                                 truncation=True, max_length=self.max_length, return_tensors="pt")
            hidden = self.encoder(**enc).last_hidden_state
            out.append(torch.nn.functional.normalize(mean_pool(hidden, enc["attention_mask"]), dim=-1))
        return torch.cat(out)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        sims = self._embed(texts) @ self.prototypes.T
        return torch.softmax(sims / TEMPERATURE, dim=-1).numpy()
