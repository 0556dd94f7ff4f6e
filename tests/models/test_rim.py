"""Tests of the recurrent inference machines: RIM, i-RIM and CIRIM."""

from __future__ import annotations

import pytest
import torch
from recon_testdata import ellipse_problem as _problem

from mricompendium.models.reconstruction.irim import IRIM, InvertibleCoupling
from mricompendium.models.reconstruction.rim import CIRIM, RIM
from mricompendium.physics.fft import complex_to_channels, fft2c
from mricompendium.physics.sense import SenseOp, sens_reduce

SIZE = 32


def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().pow(2).mean().item()


def _overfit(model: torch.nn.Module, coils: int, steps: int, lr: float) -> tuple[float, float]:
    kspace, mask, maps, target = _problem(coils, batch=1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = (model(kspace, mask, maps) - target).abs().pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses[0], losses[-1]


MODELS = {
    "rim": lambda: RIM(),
    "irim": lambda: IRIM(),
    "cirim_implicit": lambda: CIRIM(dc="implicit"),
    "cirim_explicit": lambda: CIRIM(dc="explicit"),
}


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_forward_returns_complex_image(name: str, coils: int) -> None:
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(coils)
    out = MODELS[name]()(kspace, mask, maps)
    assert out.shape == (2, SIZE, SIZE)
    assert out.dtype == torch.complex64
    assert torch.isfinite(torch.view_as_real(out)).all()


@pytest.mark.parametrize("cls", [RIM, IRIM, CIRIM])
def test_single_coil_maps_default_to_ones_and_multicoil_requires_maps(cls: type) -> None:
    torch.manual_seed(0)
    model = cls()
    kspace, mask, maps, _ = _problem(1)
    torch.testing.assert_close(model(kspace, mask), model(kspace, mask, maps))
    kspace4, mask4, _, _ = _problem(4)
    with pytest.raises(ValueError, match="coil maps"):
        model(kspace4, mask4)


def test_bad_inputs_raise() -> None:
    kspace, mask, maps, _ = _problem(4)
    model = RIM()
    with pytest.raises(TypeError):
        model(kspace.real, mask, maps)
    with pytest.raises(ValueError, match="mask"):
        model(kspace, mask[..., :-1], maps)
    with pytest.raises(ValueError, match="maps shape"):
        model(kspace, mask, maps[:, :2])
    with pytest.raises(ValueError, match="dc"):
        CIRIM(dc="hard")


def test_return_all_gives_every_step_and_ends_with_the_output() -> None:
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(4)
    for model, n in ((RIM(time_steps=3), 3), (IRIM(time_steps=3), 3)):
        steps = model(kspace, mask, maps, return_all=True)
        assert len(steps) == n
        torch.testing.assert_close(steps[-1], model(kspace, mask, maps))
    cascades = CIRIM(num_cascades=2, time_steps=3)(kspace, mask, maps, return_all=True)
    assert [len(c) for c in cascades] == [3, 3]


@pytest.mark.parametrize("coils", [1, 4])
@pytest.mark.parametrize(
    "factory",
    [
        lambda: RIM(time_steps=2, hidden=8),
        lambda: IRIM(time_steps=2, channels=6, hidden=8),
        lambda: CIRIM(num_cascades=2, time_steps=2, hidden=8),
    ],
    ids=["rim", "irim", "cirim"],
)
def test_overfits_one_batch(factory, coils: int) -> None:
    """30 Adam steps halve the loss and reach at least the zero-filled error level."""
    torch.manual_seed(0)
    kspace, mask, maps, target = _problem(coils, batch=1)
    zero_filled = _mse(sens_reduce(kspace, maps), target)
    first, last = _overfit(factory(), coils, steps=30, lr=1e-2)
    assert last < 0.5 * first
    assert last < 1.2 * zero_filled


def test_irim_coupling_inverts_exactly() -> None:
    torch.manual_seed(0)
    layer = InvertibleCoupling(channels=6, hidden=8, dilation=2).double()
    x = torch.randn(2, 6, 16, 16, dtype=torch.float64)
    y = layer(x)
    assert (y - x).abs().max() > 1e-2  # not the identity
    torch.testing.assert_close(layer.inverse(y), x, rtol=0, atol=1e-12)
    torch.testing.assert_close(layer(layer.inverse(x)), x, rtol=0, atol=1e-12)


def test_irim_whole_recurrence_inverts_exactly() -> None:
    torch.manual_seed(0)
    model = IRIM(time_steps=3, channels=8, hidden=8).double()
    kspace, mask, maps, _ = _problem(4)
    kspace, maps, mask = kspace.to(torch.complex128), maps.to(torch.complex128), mask.double()
    state0 = torch.randn(2, 8, SIZE, SIZE, dtype=torch.float64)
    final = model.propagate(state0, kspace, mask, maps)[-1]
    torch.testing.assert_close(model.reverse(final, kspace, mask, maps), state0, rtol=0, atol=1e-10)


def test_cirim_explicit_adds_one_dc_weight_per_cascade() -> None:
    implicit, explicit = CIRIM(num_cascades=3), CIRIM(num_cascades=3, dc="explicit")
    n_imp = sum(p.numel() for p in implicit.parameters())
    n_exp = sum(p.numel() for p in explicit.parameters())
    assert n_exp - n_imp == 3


def test_cirim_explicit_dc_enforces_sampled_kspace_and_implicit_does_not() -> None:
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(1)
    implicit = CIRIM(num_cascades=2, time_steps=2)
    explicit = CIRIM(num_cascades=2, time_steps=2, dc="explicit")
    explicit.load_state_dict(implicit.state_dict(), strict=False)
    sampled = mask.bool().expand_as(kspace)
    k_exp = fft2c(explicit(kspace, mask, maps)).unsqueeze(1)
    k_imp = fft2c(implicit(kspace, mask, maps)).unsqueeze(1)
    torch.testing.assert_close(k_exp[sampled], kspace[sampled], rtol=0, atol=1e-5)
    assert (k_imp[sampled] - kspace[sampled]).abs().max() > 1e-2
    with torch.no_grad():
        explicit.dc_weights.zero_()  # no DC step: same weights, same output as implicit
    torch.testing.assert_close(explicit(kspace, mask, maps), implicit(kspace, mask, maps))


def _expected_gradient(
    kspace: torch.Tensor, mask: torch.Tensor, maps: torch.Tensor
) -> torch.Tensor:
    """``A^H(A x_0 - y)`` at the zero-filled image, as channels; nonzero for multi-coil."""
    op = SenseOp(maps, mask)
    x0 = op.A_adjoint(kspace)
    grad = complex_to_channels(op.normal(x0) - x0)
    assert grad.abs().max() > 1e-3
    return grad


@pytest.mark.parametrize("cls", [RIM, CIRIM])
def test_first_cell_input_is_image_and_likelihood_gradient(cls: type) -> None:
    model = cls()
    kspace, mask, maps, _ = _problem(4)
    cell = model.cell if isinstance(model, RIM) else model.cascades[0]
    seen = []
    cell.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    model(kspace, mask, maps)
    torch.testing.assert_close(
        seen[0][:, :2], complex_to_channels(sens_reduce(mask * kspace, maps))
    )
    torch.testing.assert_close(seen[0][:, 2:], _expected_gradient(kspace, mask, maps))


def test_irim_injects_the_likelihood_gradient() -> None:
    """With identity couplings, each step adds A^H(A x_0 - y) to channels 2-3 and nothing else."""
    torch.manual_seed(0)
    kspace, mask, maps, _ = _problem(4)
    model = IRIM(time_steps=2, channels=6)
    with torch.no_grad():
        for layers in model.steps:
            for layer in layers:
                layer.f[-1].weight.zero_()
                layer.f[-1].bias.zero_()
    state0 = model.initial_state(sens_reduce(kspace, maps))
    states = model.propagate(state0, kspace, mask, maps)
    grad = _expected_gradient(kspace, mask, maps)
    for t, state in enumerate(states, start=1):
        torch.testing.assert_close(state[:, :2], state0[:, :2])
        torch.testing.assert_close(state[:, 2:4], t * grad)
        assert state[:, 4:].abs().max() < 1e-5
