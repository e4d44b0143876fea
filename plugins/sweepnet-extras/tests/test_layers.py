"""The extras' layers pass sweepnet's conformance kit and agree with PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from sweepnet_extras import Gelu, Silu

from sweepnet.plugin import check_layer

LAYERS = [(Gelu, {}), (Gelu, {"approximate": "tanh"}), (Silu, {})]


@pytest.mark.parametrize(("layer", "options"), LAYERS)
def test_conformance(layer, options):
    check_layer(layer, options, shapes=((6,), (2, 3, 4)))


@pytest.mark.parametrize(("layer", "options"), LAYERS)
def test_keeps_shape_and_has_no_params(layer, options):
    params, out_shape = layer(**options).init_params((2, 3, 4), np.random.default_rng(0), np.float32)
    assert params == {}
    assert out_shape == (2, 3, 4)


def test_gelu_approximations_agree_closely():
    x = np.linspace(-5, 5, 101)
    exact, _ = Gelu().forward(x, {}, "train")
    approx, _ = Gelu(approximate="tanh").forward(x, {}, "train")
    np.testing.assert_allclose(approx, exact, atol=1e-3)
    assert not np.allclose(approx, exact, atol=1e-6)


def test_known_values():
    x = np.array([-1.0, 0.0, 1.0])
    np.testing.assert_allclose(Gelu().forward(x, {}, "train")[0], [-0.15865525, 0.0, 0.84134475], rtol=1e-7)
    np.testing.assert_allclose(Silu().forward(x, {}, "train")[0], [-0.26894142, 0.0, 0.73105858], rtol=1e-7)


@pytest.mark.parametrize(("layer", "options"), LAYERS)
def test_matches_torch(layer, options):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5)) * 3
    dout = rng.standard_normal((4, 5))
    instance = layer(**options)
    out, cache = instance.forward(x, {}, "train")
    dx, _ = instance.backward(dout, cache)

    x_torch = torch.tensor(x, requires_grad=True)
    if layer is Gelu:
        out_torch = torch.nn.functional.gelu(x_torch, approximate=options.get("approximate", "none"))
    else:
        out_torch = torch.nn.functional.silu(x_torch)
    out_torch.backward(torch.tensor(dout))
    np.testing.assert_allclose(out, out_torch.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, x_torch.grad.numpy(), rtol=1e-10, atol=1e-12)
