"""Segmentation networks: output shapes (logits), the VAE contract, input checks, overfitting."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from mricompendium.models.segmentation import monai_nets as nets
from mricompendium.models.segmentation.dynamic_unet import DynamicUNet

PKG = Path(nets.__file__).parent


@pytest.mark.parametrize(
    "make,size",
    [
        (lambda d: nets.segresnet(spatial_dims=d, init_filters=8), 16),
        (lambda d: nets.basic_unet(spatial_dims=d, features=(8, 8, 16, 16, 32, 8)), 32),
        (lambda d: nets.swin_unetr(spatial_dims=d, feature_size=12), 64),
    ],
)
@pytest.mark.parametrize("dims", [2, 3])
def test_networks_return_logits_of_the_input_size(make, size, dims):
    torch.manual_seed(0)
    net = make(dims)
    x = torch.randn(1, 4, *([size] * dims))
    with torch.no_grad():
        y = net.eval()(x)
    assert y.shape == (1, 3, *x.shape[2:])
    assert (y < 0).any() and (y > 1).any()  # logits, not probabilities


def test_segresnet_vae_returns_logits_and_loss_in_train_mode_only():
    torch.manual_seed(0)
    net = nets.segresnet_vae(input_image_size=(16, 16), spatial_dims=2, init_filters=8)
    x = torch.randn(2, 4, 16, 16)
    logits, vae_loss = net.train()(x)
    assert logits.shape == (2, 3, 16, 16)
    assert vae_loss.ndim == 0 and vae_loss.item() > 0
    logits, vae_loss = net.eval()(x)
    assert vae_loss is None


def test_constructors_reject_bad_configurations():
    with pytest.raises(ValueError, match="divisible by 16"):
        nets.segresnet_vae(input_image_size=(24, 16), spatial_dims=2)
    with pytest.raises(ValueError, match="divisible by 12"):
        nets.swin_unetr(feature_size=16)
    with pytest.raises(ValueError, match="spatial_dims"):
        nets.segresnet(spatial_dims=4)


@pytest.mark.parametrize("residual", [False, True])
def test_dynamic_unet_shapes_and_residual_encoder(residual):
    kwargs = dict(
        spatial_dims=3,
        in_channels=2,
        out_channels=3,
        features=(4, 8, 16),
        kernel_sizes=(3, 3, (3, 3, 1)),
        strides=(1, 2, (2, 2, 1)),
    )
    net = DynamicUNet(**kwargs, residual_encoder=residual)
    assert net.divisor() == (4, 4, 2)
    y = net(torch.randn(1, 2, 8, 8, 6))
    assert y.shape == (1, 3, 8, 8, 6)
    with pytest.raises(ValueError, match="divisible"):
        net(torch.randn(1, 2, 8, 8, 5))
    plain = DynamicUNet(**kwargs)
    if residual:
        assert nets.n_parameters(net) > nets.n_parameters(plain)


def test_dynamic_unet_overfits_one_batch():
    torch.manual_seed(0)
    net = DynamicUNet(
        spatial_dims=2,
        in_channels=1,
        out_channels=2,
        features=(8, 16),
        kernel_sizes=(3, 3),
        strides=(1, 2),
        residual_encoder=True,
    )
    x = torch.randn(2, 1, 16, 16)
    y = (x[:, 0] > 0.3).long()
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    acc = (net(x).argmax(1) == y).float().mean().item()
    assert acc > 0.95


def test_models_import_no_data_training_metrics_or_experiments():
    for path in PKG.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                mod = node.module
                assert not mod.startswith(
                    tuple(
                        f"mricompendium.{x}" for x in ("data", "training", "metrics", "experiments")
                    )
                ), f"{path.name} imports {mod}"
