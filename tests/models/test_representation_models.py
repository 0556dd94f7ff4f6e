"""LayerConvNet: the named layers' shapes, the logits, and its argument checks."""

from __future__ import annotations

import pytest
import torch

from mricompendium.models.representation import LayerConvNet


@pytest.mark.parametrize(("size", "widths"), [(32, (8, 16, 32)), (16, (4, 4, 6))])
def test_layers_have_the_documented_shapes(size: int, widths: tuple[int, int, int]) -> None:
    net = LayerConvNet(image_size=size, widths=widths, hidden=10, n_classes=7)
    acts = net.layers(torch.rand(3, 3, size, size))
    assert list(acts) == list(LayerConvNet.LAYERS)
    for k, name in enumerate(("conv1", "conv2", "conv3")):
        assert acts[name].shape == (3, widths[k], size >> (k + 1), size >> (k + 1))
        assert (acts[name] >= 0).all()  # after the ReLU
    assert acts["fc1"].shape == (3, 10) and acts["logits"].shape == (3, 7)
    assert torch.equal(
        net(torch.ones(1, 3, size, size)), net.layers(torch.ones(1, 3, size, size))["logits"]
    )


def test_the_network_overfits_one_batch() -> None:
    net = LayerConvNet(image_size=16, widths=(4, 8, 8), hidden=16, n_classes=3)
    x, y = torch.rand(6, 3, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (net(x).argmax(1) == y).all()


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        LayerConvNet(image_size=20)
    with pytest.raises(ValueError, match="three widths"):
        LayerConvNet(widths=(8, 16))  # type: ignore[arg-type]
