"""Training: a small real run honours the artifact contract; temperature
scaling recovers a known temperature."""

import json

import torch

from classifiers.data import load_split
from classifiers.model import MentionClassifier
from classifiers.train import TrainConfig, fit_temperature, train


def test_fit_temperature_recovers_the_temperature_that_sharpened_the_logits():
    gen = torch.Generator().manual_seed(0)
    true_logits = torch.randn(4000, 5, generator=gen) * 2
    targets = torch.multinomial(true_logits.softmax(-1), 1, generator=gen).squeeze(1)
    assert abs(fit_temperature(true_logits * 3, targets) - 3) < 0.3
    assert abs(fit_temperature(true_logits, targets) - 1) < 0.1


def test_a_small_run_writes_a_loadable_artifact_with_its_provenance(tmp_path, settings):
    splits = tmp_path / "splits"
    splits.mkdir()
    for name, per_label in (("train", 8), ("dev", 4), ("test", 1)):
        rows, seen = [], {}
        for r in load_split(name):
            if seen.get(r.label, 0) < per_label:
                seen[r.label] = seen.get(r.label, 0) + 1
                rows.append(r.model_dump_json())
        (splits / f"{name}.jsonl").write_text("\n".join(rows) + "\n")
    config = TrainConfig(trainable_top_layers=1, epochs=2, augment_copies=0, average_last_epochs=2, batch_size=8)
    summary = train(tmp_path / "artifact", config, splits)
    meta = json.loads((tmp_path / "artifact" / "classifier.json").read_text())
    assert meta["trainable_layers"] == [11]
    history = meta["training"]["history"]
    assert [h["epoch"] for h in history] == [1, 2, "mean of last 2"]
    assert meta["training"]["examples"] == {"train": 40, "train_views": 40, "dev": 20}
    assert set(meta["training"]["data_sha256"]) == {"train", "dev", "test"}
    assert summary["dev_macro_f1"] == max(h["dev_macro_f1"] for h in history)
    clf = MentionClassifier.load(tmp_path / "artifact", settings.cache_dir)
    assert clf.model_version == summary["model_version"]
    [pred] = clf.process(["my parcel never arrived"])
    assert abs(sum(pred.scores.values()) - 1) < 1e-4
