"""A small simulated test problem shared by the experiment-layer tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.recon import KspaceSimulator


def phantom(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth elliptical 'brains' of growing size: images (N, H, W) and masks."""
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    masks = np.stack([x**2 + (y / 1.2) ** 2 < (size * (0.3 + 0.02 * i)) ** 2 for i in range(n)])
    images = masks * (0.6 + 0.4 * np.cos(x / 3) * np.sin(y / 4))
    return images.astype(np.float32), masks


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def sim() -> KspaceSimulator:
    images, masks = phantom(5, 32)
    return KspaceSimulator(images, masks, num_coils=2, snr=20.0, seed=0)


@pytest.fixture(scope="module")
def meta() -> list[tuple[str, str, str]]:
    return [(f"case{i}", f"unit{i // 2}", "template") for i in range(5)]
