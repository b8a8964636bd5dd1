"""Split the corpus into train/dev/test with no near-duplicates across splits.

Near-duplicates (the same post with a word or an emoji changed) are grouped
first, and whole groups are assigned to one split, so the test split never
rewards memorising a training example. Assignment is by a hash of the group,
stratified by (language, label), so it is stable as the corpus grows.

    python -m classifiers.data.split
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from classifiers.data.corpus import SPLITS_DIR, LabeledMention, load_corpus

__all__ = ["near_duplicate_groups", "normalise", "shingles", "split_corpus", "write_splits"]

FRACTIONS = {"train": 0.6, "dev": 0.2, "test": 0.2}
NEAR_DUP_JACCARD = 0.6
_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c))
    text = re.sub(r"https?://\S+", " ", text)
    return _NON_WORD.sub(" ", text).strip()


def shingles(text: str, n: int = 4) -> frozenset[str]:
    t = normalise(text)
    if len(t) <= n:
        return frozenset({t})
    return frozenset(t[i : i + n] for i in range(len(t) - n + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicate_groups(rows: Sequence[LabeledMention]) -> list[int]:
    """Union-find over all pairs with shingle Jaccard >= threshold; a group id per row.

    Pairwise intersections come from one sparse product (rows x shingles),
    so even short posts made only of common shingles are compared exactly.
    """
    import numpy as np
    from scipy.sparse import csr_matrix

    sh = [shingles(r.text) for r in rows]
    vocab: dict[str, int] = {}
    indptr, indices = [0], []
    for s in sh:
        indices.extend(vocab.setdefault(g, len(vocab)) for g in s)
        indptr.append(len(indices))
    m = csr_matrix((np.ones(len(indices), dtype=np.int32), indices, indptr), shape=(len(rows), len(vocab)))
    inter = (m @ m.T).tocoo()
    sizes = np.diff(m.indptr)
    union = sizes[inter.row] + sizes[inter.col] - inter.data
    close = (inter.row < inter.col) & (inter.data >= NEAR_DUP_JACCARD * union)

    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in zip(inter.row[close].tolist(), inter.col[close].tolist(), strict=True):
        parent[find(j)] = find(i)
    return [find(i) for i in range(len(rows))]


def split_corpus(rows: Sequence[LabeledMention]) -> dict[str, list[LabeledMention]]:
    groups = near_duplicate_groups(rows)
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for g, idx in members.items():
        first = rows[idx[0]]
        strata[(first.lang, first.label.value)].append(g)
    out: dict[str, list[LabeledMention]] = {name: [] for name in FRACTIONS}
    for key in sorted(strata):
        gs = sorted(strata[key], key=lambda g: hashlib.sha256(rows[members[g][0]].id.encode()).hexdigest())
        n = len(gs)
        n_test = max(1, round(n * FRACTIONS["test"]))
        n_dev = max(1, round(n * FRACTIONS["dev"])) if n >= 3 else 0
        for k, g in enumerate(gs):
            name = "test" if k < n_test else "dev" if k < n_test + n_dev else "train"
            out[name].extend(rows[i] for i in members[g])
    for name in out:
        out[name].sort(key=lambda r: r.id)
    return out


def write_splits(splits: dict[str, list[LabeledMention]], out_dir: Path = SPLITS_DIR) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in splits.items():
        (out_dir / f"{name}.jsonl").write_text(
            "".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8"
        )


def main() -> None:
    splits = split_corpus(load_corpus())
    write_splits(splits)
    for name, rows in splits.items():
        print(f"{name}: {len(rows)}")


if __name__ == "__main__":
    main()
