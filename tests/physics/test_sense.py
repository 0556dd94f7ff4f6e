"""SENSE operator: adjointness, identity normal operator at full sampling, input checks."""

from __future__ import annotations

import pytest
import torch

from mricompendium.physics.coils import birdcage_maps
from mricompendium.physics.masks import random_mask_1d
from mricompendium.physics.sense import SenseOp, sens_expand, sens_reduce


def _randc(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=torch.complex128)


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.vdot(a.flatten(), b.flatten())


@pytest.mark.parametrize("maps_batched", [True, False])
def test_sense_op_is_adjoint(maps_batched: bool) -> None:
    maps = birdcage_maps(4, (12, 16), dtype=torch.complex128)
    maps = maps.unsqueeze(0).expand(2, -1, -1, -1) if maps_batched else maps
    mask = random_mask_1d(16, acceleration=2, center_fraction=0.25, seed=0).double()
    op = SenseOp(maps, mask)
    x, y = _randc(2, 12, 16, seed=1), _randc(2, 4, 12, 16, seed=2)
    torch.testing.assert_close(_dot(op.A(x), y), _dot(x, op.A_adjoint(y)))
    assert op.A(x).shape == (2, 4, 12, 16)
    assert (op.A(x)[..., mask[0, 0, 0] == 0] == 0).all()


def test_expand_reduce_adjoint_pair() -> None:
    maps = _randc(1, 3, 8, 8, seed=3)
    x, k = _randc(1, 8, 8, seed=4), _randc(1, 3, 8, 8, seed=5)
    torch.testing.assert_close(_dot(sens_expand(x, maps), k), _dot(x, sens_reduce(k, maps)))


def test_normal_is_identity_for_full_mask_and_rss_normalised_maps() -> None:
    maps = birdcage_maps(8, (16, 16), dtype=torch.complex128)
    op = SenseOp(maps, torch.ones(1, 1, 1, 16))
    x = _randc(3, 16, 16, seed=6)
    torch.testing.assert_close(op.normal(x), x)


def test_bad_inputs_rejected() -> None:
    with pytest.raises(TypeError):
        SenseOp(torch.ones(2, 8, 8), torch.ones(1, 1, 1, 8))
    with pytest.raises(ValueError):
        SenseOp(torch.ones(8, 8, dtype=torch.complex64), torch.ones(1, 1, 1, 8))
    with pytest.raises(ValueError):
        SenseOp(torch.ones(1, 2, 8, 8, dtype=torch.complex64), torch.ones(1, 1, 1, 5))
