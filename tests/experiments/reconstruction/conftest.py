"""A small simulated test problem shared by the experiment-layer tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mricompendium.data.recon import KspaceSimulator


def phantom(n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Elliptical 'brains' of growing size on a grid twice finer than ``size``: objects
    ``(N, 2 size, 2 size)`` and their masks on the reconstruction grid ``(N, size, size)``."""
    y, x = (np.mgrid[: 2 * size, : 2 * size] - (2 * size - 1) / 2) / 2
    inside = np.stack([x**2 + (y / 1.2) ** 2 < (size * (0.3 + 0.02 * i)) ** 2 for i in range(n)])
    objects = inside * (0.6 + 0.4 * np.cos(x / 3) * np.sin(y / 4))
    masks = inside.reshape(n, size, 2, size, 2).mean(axis=(2, 4)) >= 0.5
    return objects.astype(np.float32), masks


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
def single_coil_sim() -> KspaceSimulator:
    images, masks = phantom(2, 32)
    return KspaceSimulator(images, masks, num_coils=1, snr=30.0, seed=0)


@pytest.fixture(scope="module")
def meta() -> list[tuple[str, str, str]]:
    return [(f"case{i}", f"unit{i // 2}", "template") for i in range(5)]
