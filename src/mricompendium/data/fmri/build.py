"""Build the fMRI family's cached data: the trained stand-in CLIP under ``data/fmri/``.

Usage: ``python -m mricompendium.data.fmri.build [--out data/fmri]``. Deterministic for a given
machine (one thread, fixed seeds); it writes ``embedding-<hash>.pt`` (weights; the hash covers the
configuration and the code), a JSON side-car with its configuration and held-out quality, and
``manifest.json`` (sha256 of each file), which the notebook stages depend on. A cache that is
already there is kept (seconds); caches of other configurations are removed. Training takes
about 1.5 CPU-minutes on one thread.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import torch

from mricompendium.data.fmri.embedding import EmbeddingConfig, cache_dir, load_embedding
from mricompendium.io import atomic_write_json
from mricompendium.provenance import fingerprint


def build(out: Path, config: EmbeddingConfig | None = None) -> Path:
    """Train (if not cached) the embedding for ``config`` into ``out``; write the manifest."""
    torch.set_num_threads(1)
    config = config or EmbeddingConfig()
    load_embedding(config, directory=out, build=True)
    for stale in out.glob("embedding-*"):  # caches of other configurations or older code
        if not stale.name.startswith(f"embedding-{config.key()}."):
            stale.unlink()
    files = sorted(p for p in out.glob("embedding-*") if p.is_file())
    manifest = out / "manifest.json"
    atomic_write_json(manifest, {p.name: fingerprint(p) for p in files})
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default: data/fmri")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    manifest = build(args.out or cache_dir())
    print(f"wrote {manifest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
