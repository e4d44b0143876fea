"""AdamW passes sweepnet's optimizer checks and matches torch.optim.AdamW."""

from __future__ import annotations

import numpy as np
import pytest
from sweepnet_extras import adamw

from sweepnet.core.optim import adam
from sweepnet.plugin import check_optimizer


def test_conformance():
    check_optimizer(adamw, {"learning_rate": 1e-2, "weight_decay": 1e-2})


def test_without_decay_it_is_adam():
    rng = np.random.default_rng(0)
    w, dw = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    w_adamw, config_adamw = adamw(w, dw, {"learning_rate": 1e-2, "weight_decay": 0.0})
    w_adam, config_adam = adam(w, dw, {"learning_rate": 1e-2})
    np.testing.assert_allclose(w_adamw, w_adam, rtol=1e-12)
    np.testing.assert_allclose(config_adamw["m"], config_adam["m"])


def test_decay_is_decoupled_from_the_gradient():
    """With a zero gradient the Adam step vanishes and only the decay remains: w * (1 - lr * wd)."""
    w = np.array([1.0, -2.0, 4.0])
    next_w, _ = adamw(w, np.zeros_like(w), {"learning_rate": 0.1, "weight_decay": 0.5})
    np.testing.assert_allclose(next_w, w * (1 - 0.1 * 0.5))


def test_keeps_float32_and_leaves_w_alone():
    w = np.ones(5, dtype=np.float32)
    next_w, config = adamw(w, np.full(5, 0.5, dtype=np.float32))
    assert next_w.dtype == np.float32 and config["m"].dtype == np.float32
    np.testing.assert_array_equal(w, 1)


def test_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    w = rng.standard_normal((4, 3))
    grads = [rng.standard_normal((4, 3)) for _ in range(5)]
    hyper = {"learning_rate": 3e-2, "beta1": 0.8, "beta2": 0.95, "epsilon": 1e-6, "weight_decay": 0.1}

    config = dict(hyper)
    ours = w.copy()
    for grad in grads:
        ours, config = adamw(ours, grad, config)

    param = torch.nn.Parameter(torch.tensor(w))
    optimizer = torch.optim.AdamW(
        [param],
        lr=hyper["learning_rate"],
        betas=(hyper["beta1"], hyper["beta2"]),
        eps=hyper["epsilon"],
        weight_decay=hyper["weight_decay"],
    )
    for grad in grads:
        param.grad = torch.tensor(grad)
        optimizer.step()
    np.testing.assert_allclose(ours, param.detach().numpy(), rtol=1e-10)
