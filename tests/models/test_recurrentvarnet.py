"""Tests of the Recurrent Variational Network and its ACS coil-map estimate."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.reconstruction.recurrentvarnet import (
    RecurrentInit,
    RecurrentVarNet,
    RecurrentVarNetBlock,
)
from mricompendium.physics.coils import estimate_sensitivities
from mricompendium.physics.sense import sens_expand, sens_reduce

SIZE = 32


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread avoids oversubscribing a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _grid() -> tuple[torch.Tensor, torch.Tensor]:
    lin = torch.linspace(-1, 1, SIZE)
    return torch.meshgrid(lin, lin, indexing="ij")


def _maps(coils: int, batch: int) -> torch.Tensor:
    yy, xx = _grid()
    if coils == 1:
        return torch.ones(batch, 1, SIZE, SIZE, dtype=torch.complex64)
    angles = 2 * torch.pi * torch.arange(coils) / coils
    maps = torch.stack(
        [
            torch.exp(-((xx - a.cos()) ** 2) - (yy - a.sin()) ** 2 + 1j * (a + 0.3 * yy))
            for a in angles
        ]
    )
    maps = maps / maps.abs().pow(2).sum(0).sqrt()
    return maps.to(torch.complex64).expand(batch, -1, -1, -1).contiguous()


def _mask(acs: int = 4) -> torch.Tensor:
    mask = torch.zeros(1, 1, 1, SIZE)
    mask[..., ::2] = 1
    mask[..., SIZE // 2 - acs // 2 : SIZE // 2 + acs // 2] = 1
    return mask


def _problem(coils: int, batch: int = 2) -> tuple[torch.Tensor, ...]:
    """Deterministic phantom, smooth coil maps and a 1D mask (every 2nd column + 4 central)."""
    yy, xx = _grid()
    shift = 0.1 * torch.arange(1, batch + 1).view(-1, 1, 1)
    body = ((xx / 0.45) ** 2 + (yy / 0.8) ** 2 < 1).float()
    spot = 0.5 * ((xx - shift) ** 2 + (yy + 0.1) ** 2 < 0.04).float()
    target = ((body + spot) * torch.exp(0.5j * yy)).to(torch.complex64)
    maps, mask = _maps(coils, batch), _mask()
    return mask * sens_expand(target, maps), mask, maps, target


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize("give_maps", [True, False])
@pytest.mark.parametrize("learned_init", [True, False])
def test_forward_returns_complex_image(coils: int, give_maps: bool, learned_init: bool) -> None:
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(coils)
    model = RecurrentVarNet(learned_init=learned_init)
    out = model(kspace, mask, maps if give_maps else None)
    assert out.shape == (2, SIZE, SIZE)
    assert out.dtype == torch.complex64
    assert torch.isfinite(torch.view_as_real(out)).all()
    steps = model(kspace, mask, maps if give_maps else None, return_all=True)
    assert len(steps) == model.num_steps
    torch.testing.assert_close(steps[-1], out)


def test_bad_inputs_raise() -> None:
    kspace, mask, maps, _ = _problem(4)
    model = RecurrentVarNet()
    with pytest.raises(TypeError):
        model(kspace.abs(), mask, maps)
    with pytest.raises(ValueError, match="mask"):
        model(kspace, mask.view(1, SIZE), maps)
    with pytest.raises(ValueError, match="maps shape"):
        model(kspace, mask, maps[:1, :1])
    with pytest.raises(ValueError):
        RecurrentVarNet(num_steps=0)
    with pytest.raises(ValueError):
        RecurrentInit(in_chans=2, hidden=4, num_layers=2, channels=(4, 4), dilations=(1,))


@pytest.mark.parametrize("coils", [1, 4])
def test_overfits_one_batch(coils: int) -> None:
    """30 Adam steps halve the loss and go below the zero-filled error."""
    torch.manual_seed(0)
    kspace, mask, maps, target = _problem(coils, batch=1)
    model = RecurrentVarNet(num_steps=3, hidden=8, init_channels=(8, 8), init_dilations=(1, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = (model(kspace, mask, maps) - target).abs().pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    zero_filled = (sens_reduce(kspace, maps) - target).abs().pow(2).mean().item()
    assert losses[-1] < 0.5 * losses[0]
    assert losses[-1] < 0.8 * zero_filled


def _silence_regulariser(block: RecurrentVarNetBlock) -> None:
    with torch.no_grad():
        block.regulariser.head.weight.zero_()
        block.regulariser.head.bias.zero_()


def test_block_with_unit_step_replaces_sampled_kspace() -> None:
    """alpha = 1 and a silent regulariser: k_{t+1} = (1 - M) k_t + M y, exactly."""
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(1)
    block = RecurrentVarNetBlock(hidden=4, num_layers=2)
    _silence_regulariser(block)
    k_t = torch.randn_like(kspace)
    k_next, _ = block(k_t, kspace, mask, maps, None)
    torch.testing.assert_close(k_next, (1 - mask) * k_t + mask * kspace)
    with torch.no_grad():
        block.alpha.fill_(0.5)  # half step: halfway between k_t and y on sampled entries
    k_half, _ = block(k_t, kspace, mask, maps, None)
    torch.testing.assert_close(k_half, (1 - mask) * k_t + mask * (k_t + kspace) / 2)


def test_silent_regulariser_returns_the_zero_filled_image() -> None:
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(4)
    model = RecurrentVarNet(num_steps=3)
    for block in model.blocks:
        _silence_regulariser(block)
    torch.testing.assert_close(model(kspace, mask, maps), sens_reduce(kspace, maps))


def test_recurrent_init_gives_one_nonnegative_state_per_layer() -> None:
    torch.manual_seed(0)
    rsi = RecurrentInit(
        in_chans=2, hidden=5, num_layers=3, channels=(4, 6), dilations=(1, 2), multiscale_depth=2
    )
    states = rsi(torch.randn(2, 2, SIZE, SIZE))
    assert [tuple(s.shape) for s in states] == [(2, 5, SIZE, SIZE)] * 3
    assert all((s >= 0).all() for s in states)
    n_with = sum(p.numel() for p in RecurrentVarNet(learned_init=True).parameters())
    n_without = sum(p.numel() for p in RecurrentVarNet(learned_init=False).parameters())
    assert n_with > n_without


def test_shared_weights_use_one_block() -> None:
    shared, separate = RecurrentVarNet(shared_weights=True), RecurrentVarNet(shared_weights=False)
    assert len(shared.blocks) == 1 and len(separate.blocks) == separate.num_steps


def test_estimated_maps_match_true_maps_on_a_smooth_object() -> None:
    yy, xx = _grid()
    image = torch.exp(-(xx**2 + yy**2) / 0.5).to(torch.complex64).unsqueeze(0)  # real, positive
    maps, mask = _maps(4, 1), _mask(acs=12)
    kspace = mask * sens_expand(image, maps)
    estimate = estimate_sensitivities(kspace, mask)
    inside = image.abs() > 0.5
    assert (estimate - maps).abs().amax(dim=1)[inside].max() < 0.05
    torch.testing.assert_close(
        estimate.abs().pow(2).sum(1)[inside], torch.ones(int(inside.sum())), rtol=0, atol=1e-5
    )
    single = estimate_sensitivities(kspace[:, :1], mask)
    torch.testing.assert_close(single, torch.ones_like(single))


def test_estimated_maps_use_only_the_acs_block() -> None:
    """Two masks with the same central block but different outer lines give the same maps."""
    _, _, maps, target = _problem(4, batch=1)
    full = sens_expand(target, maps)
    dense, sparse = _mask(acs=8), torch.zeros(1, 1, 1, SIZE)
    sparse[..., ::4] = 1
    sparse[..., SIZE // 2 - 4 : SIZE // 2 + 4] = 1
    torch.testing.assert_close(
        estimate_sensitivities(dense * full, dense),
        estimate_sensitivities(sparse * full, sparse),
    )
