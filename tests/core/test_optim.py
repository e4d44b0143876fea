"""Update rules: hand-computed steps, the classic reference values, state, dtypes, torch."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sweepnet.core import optim
from sweepnet.core.gradient_check import rel_error

W = np.array([[0.5, -1.0, 2.0], [0.0, 1.5, -0.25]])
DW = np.array([[0.1, -0.2, 0.3], [-0.4, 0.0, 0.6]])


def test_sgd_step_is_w_minus_lr_dw() -> None:
    next_w, config = optim.sgd(W, DW, {"learning_rate": 0.1})
    np.testing.assert_allclose(next_w, W - 0.1 * DW)


def test_sgd_momentum_two_steps() -> None:
    config = {"learning_rate": 0.1, "momentum": 0.5}
    w1, config = optim.sgd_momentum(W, DW, config)
    v1 = -0.1 * DW
    np.testing.assert_allclose(w1, W + v1)
    w2, config = optim.sgd_momentum(w1, 2 * DW, config)
    v2 = 0.5 * v1 - 0.1 * (2 * DW)
    np.testing.assert_allclose(config["velocity"], v2)
    np.testing.assert_allclose(w2, W + v1 + v2)


def test_sgd_nesterov_momentum_two_steps() -> None:
    config = {"learning_rate": 0.1, "momentum": 0.5}
    w1, config = optim.sgd_nesterov_momentum(W, DW, config)
    v1 = -0.1 * DW
    np.testing.assert_allclose(w1, W + 1.5 * v1)  # v_prev = 0
    w2, config = optim.sgd_nesterov_momentum(w1, 2 * DW, config)
    v2 = 0.5 * v1 - 0.1 * (2 * DW)
    np.testing.assert_allclose(config["velocity"], v2)
    np.testing.assert_allclose(w2, w1 - 0.5 * v1 + 1.5 * v2)


def test_rmsprop_two_steps() -> None:
    config = {"learning_rate": 0.1, "decay_rate": 0.9, "epsilon": 1e-3}
    w1, config = optim.rmsprop(W, DW, config)
    cache1 = 0.1 * DW**2
    np.testing.assert_allclose(w1, W - 0.1 * DW / (np.sqrt(cache1) + 1e-3))
    w2, config = optim.rmsprop(w1, DW, config)
    cache2 = 0.9 * cache1 + 0.1 * DW**2
    np.testing.assert_allclose(config["cache"], cache2)
    np.testing.assert_allclose(w2, w1 - 0.1 * DW / (np.sqrt(cache2) + 1e-3))


def test_adagrad_two_steps() -> None:
    config = {"learning_rate": 0.1, "epsilon": 1e-3}
    w1, config = optim.adagrad(W, DW, config)
    np.testing.assert_allclose(w1, W - 0.1 * DW / (np.abs(DW) + 1e-3))
    w2, config = optim.adagrad(w1, DW, config)
    np.testing.assert_allclose(config["cache"], 2 * DW**2)
    np.testing.assert_allclose(w2, w1 - 0.1 * DW / (np.sqrt(2 * DW**2) + 1e-3))


def test_adam_two_steps_with_bias_correction() -> None:
    config = {"learning_rate": 0.1, "beta1": 0.8, "beta2": 0.9, "epsilon": 1e-3}
    w1, config = optim.adam(W, DW, config)
    m1, v1 = 0.2 * DW, 0.1 * DW**2
    np.testing.assert_allclose(w1, W - 0.1 * (m1 / 0.2) / (np.sqrt(v1 / 0.1) + 1e-3))
    w2, config = optim.adam(w1, -DW, config)
    m2, v2 = 0.8 * m1 - 0.2 * DW, 0.9 * v1 + 0.1 * DW**2
    assert config["t"] == 2
    np.testing.assert_allclose(config["m"], m2)
    np.testing.assert_allclose(config["v"], v2)
    m_hat, v_hat = m2 / (1 - 0.8**2), v2 / (1 - 0.9**2)
    np.testing.assert_allclose(w2, w1 - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-3))


def _classic_inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``np.linspace`` arrays of the classic assignment: w, dw and two state arrays (4, 5)."""
    n = 4 * 5
    return (
        np.linspace(-0.4, 0.6, num=n).reshape(4, 5),
        np.linspace(-0.6, 0.4, num=n).reshape(4, 5),
        np.linspace(0.6, 0.9, num=n).reshape(4, 5),
        np.linspace(0.7, 0.5, num=n).reshape(4, 5),
    )


def test_classic_sgd_momentum_reference() -> None:
    w, dw, v, _ = _classic_inputs()
    next_w, config = optim.sgd_momentum(w, dw, {"learning_rate": 1e-3, "velocity": v})
    expected_next_w = np.array(
        [
            [0.1406, 0.20738947, 0.27417895, 0.34096842, 0.40775789],
            [0.47454737, 0.54133684, 0.60812632, 0.67491579, 0.74170526],
            [0.80849474, 0.87528421, 0.94207368, 1.00886316, 1.07565263],
            [1.14244211, 1.20923158, 1.27602105, 1.34281053, 1.4096],
        ]
    )
    expected_velocity = np.array(
        [
            [0.5406, 0.55475789, 0.56891579, 0.58307368, 0.59723158],
            [0.61138947, 0.62554737, 0.63970526, 0.65386316, 0.66802105],
            [0.68217895, 0.69633684, 0.71049474, 0.72465263, 0.73881053],
            [0.75296842, 0.76712632, 0.78128421, 0.79544211, 0.8096],
        ]
    )
    assert rel_error(next_w, expected_next_w) < 1e-8
    assert rel_error(config["velocity"], expected_velocity) < 1e-8


def test_classic_rmsprop_reference() -> None:
    w, dw, cache, _ = _classic_inputs()
    next_w, config = optim.rmsprop(w, dw, {"learning_rate": 1e-2, "cache": cache})
    expected_next_w = np.array(
        [
            [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
            [-0.132737, -0.08078555, -0.02881884, 0.02316247, 0.07515774],
            [0.12716641, 0.17918792, 0.23122175, 0.28326742, 0.33532447],
            [0.38739248, 0.43947102, 0.49155973, 0.54365823, 0.59576619],
        ]
    )
    expected_cache = np.array(
        [
            [0.5976, 0.6126277, 0.6277108, 0.64284931, 0.65804321],
            [0.67329252, 0.68859723, 0.70395734, 0.71937285, 0.73484377],
            [0.75037008, 0.7659518, 0.78158892, 0.79728144, 0.81302936],
            [0.82883269, 0.84469141, 0.86060554, 0.87657507, 0.8926],
        ]
    )
    assert rel_error(next_w, expected_next_w) < 1e-7
    assert rel_error(config["cache"], expected_cache) < 1e-8


def test_classic_adam_reference() -> None:
    w, dw, m, v = _classic_inputs()
    next_w, config = optim.adam(w, dw, {"learning_rate": 1e-2, "m": m, "v": v, "t": 5})
    expected_next_w = np.array(
        [
            [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
            [-0.1380274, -0.08544591, -0.03286534, 0.01971428, 0.0722929],
            [0.1248705, 0.17744702, 0.23002243, 0.28259667, 0.33516969],
            [0.38774145, 0.44031188, 0.49288093, 0.54544852, 0.59801459],
        ]
    )
    expected_v = np.array(
        [
            [0.69966, 0.68908382, 0.67851319, 0.66794809, 0.65738853],
            [0.64683452, 0.63628604, 0.6257431, 0.61520571, 0.60467385],
            [0.59414753, 0.58362676, 0.57311152, 0.56260183, 0.55209767],
            [0.54159906, 0.53110598, 0.52061845, 0.51013645, 0.49966],
        ]
    )
    expected_m = np.array(
        [
            [0.48, 0.49947368, 0.51894737, 0.53842105, 0.55789474],
            [0.57736842, 0.59684211, 0.61631579, 0.63578947, 0.65526316],
            [0.67473684, 0.69421053, 0.71368421, 0.73315789, 0.75263158],
            [0.77210526, 0.79157895, 0.81105263, 0.83052632, 0.85],
        ]
    )
    assert config["t"] == 6
    assert rel_error(next_w, expected_next_w) < 1e-6
    assert rel_error(config["v"], expected_v) < 1e-8
    assert rel_error(config["m"], expected_m) < 1e-8


CLASSIC_DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "sgd_nesterov_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}


def test_update_rules_table_names_every_rule() -> None:
    assert optim.UPDATE_RULES == {name: getattr(optim, name) for name in CLASSIC_DEFAULTS}


@pytest.mark.parametrize("name", sorted(CLASSIC_DEFAULTS))
def test_defaults_are_set_without_overriding_given_values(name: str) -> None:
    rule = optim.UPDATE_RULES[name]
    _, config = rule(W.copy(), DW, None)
    assert {key: config[key] for key in CLASSIC_DEFAULTS[name]} == CLASSIC_DEFAULTS[name]
    _, config = rule(W.copy(), DW, {"learning_rate": 0.5})
    assert config["learning_rate"] == 0.5


@pytest.mark.parametrize("name", sorted(CLASSIC_DEFAULTS))
def test_state_persists_in_the_same_config_and_w_is_untouched(name: str) -> None:
    rule = optim.UPDATE_RULES[name]
    w, config = W.copy(), {}
    next_w, returned = rule(w, DW, config)
    assert returned is config
    np.testing.assert_array_equal(w, W)
    state_before = {key: np.copy(value) for key, value in config.items()}
    rule(next_w, DW, config)
    changed = [key for key, value in config.items() if not np.array_equal(value, state_before[key])]
    stateful = {"sgd": [], "adam": ["m", "t", "v"], "rmsprop": ["cache"], "adagrad": ["cache"]}
    assert sorted(changed) == stateful.get(name, ["velocity"])


@pytest.mark.parametrize("name", sorted(CLASSIC_DEFAULTS))
def test_float32_weights_stay_float32(name: str) -> None:
    rule = optim.UPDATE_RULES[name]
    w = W.astype(np.float32)
    # numpy float64 hyperparameters (as a sweep sampler may produce) and float64 gradients
    # must not promote the weights or the state.
    config = {"learning_rate": np.float64(1e-2)}
    for _ in range(2):
        w, config = rule(w, DW, config)
    assert w.dtype == np.float32
    for key, value in config.items():
        if isinstance(value, np.ndarray):
            assert value.dtype == np.float32, key


@pytest.mark.parametrize("name", sorted(CLASSIC_DEFAULTS))
def test_rules_match_torch_optimizers(name: str) -> None:
    torch = pytest.importorskip("torch")
    factories = {
        "sgd": lambda p: torch.optim.SGD(p, lr=1e-2),
        "sgd_momentum": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9),
        "sgd_nesterov_momentum": lambda p: torch.optim.SGD(p, lr=1e-2, momentum=0.9, nesterov=True),
        # torch's alpha is the decay rate; eps is added to the root as in the classic rule.
        "rmsprop": lambda p: torch.optim.RMSprop(p, lr=1e-2, alpha=0.99, eps=1e-8),
        "adagrad": lambda p: torch.optim.Adagrad(p, lr=1e-2, eps=1e-8),
        "adam": lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-8),
    }
    rng = np.random.default_rng(0)
    w, config = rng.standard_normal((3, 4)), {}
    param = torch.nn.Parameter(torch.from_numpy(w.copy()))
    optimizer = factories[name]([param])
    for _ in range(5):
        dw = rng.standard_normal(w.shape)
        w, config = optim.UPDATE_RULES[name](w, dw, config)
        param.grad = torch.from_numpy(dw.copy())
        optimizer.step()
    assert rel_error(w, param.detach().numpy()) < 1e-10


def test_adam_bias_correction_makes_the_first_step_lr_sized() -> None:
    # After one step m_hat = dw and v_hat = dw**2, so every weight moves by ~lr regardless of |dw|.
    next_w, _ = optim.adam(W, DW, {"learning_rate": 1e-3})
    moved = np.abs(next_w - W)[DW != 0]
    assert np.allclose(moved, 1e-3, rtol=1e-4)
    assert math.isclose(float(np.abs(next_w - W)[DW == 0].max()), 0.0)
