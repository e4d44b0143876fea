"""Training-step throughput of a FullyConnectedNet through the Solver, against torch and bare numpy.

The network is FullyConnectedNet([100, 100]) on 3072-dim float32 inputs (CIFAR-10 sized), softmax
loss, batch 100, on one thread everywhere (``torch.set_num_threads(1)``; threadpoolctl limits
numpy's BLAS). Each contender takes a random minibatch from the same training array per step:

- sweepnet: ``Solver._step``, the method ``Solver.train`` calls once per iteration;
- torch: the same network, initialisation scale, loss and update rule;
- numpy: a bare loop of the same network and update rule, written out by hand.

Goal: the Solver step reaches at least 1.2x torch's throughput. Run::

    .venv/bin/python bench/fc.py [--steps 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from sweepnet.core.models import FullyConnectedNet
from sweepnet.core.solver import Solver

__all__ = ["main"]

INPUT_DIM, HIDDEN_DIMS, NUM_CLASSES, BATCH_SIZE, NUM_TRAIN = 3072, (100, 100), 10, 100, 2000
WEIGHT_SCALE = 1e-2
GOAL = 1.2
RULES = {"sgd_momentum": {"learning_rate": 1e-3, "momentum": 0.9}, "adam": {"learning_rate": 1e-4}}

Step = Callable[[], None]


def _data(seed: int = 0) -> dict[str, np.ndarray]:
    """Random float32 inputs ``(NUM_TRAIN, INPUT_DIM)`` and labels ``(NUM_TRAIN,)``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((NUM_TRAIN, INPUT_DIM), dtype=np.float32)
    y = rng.integers(NUM_CLASSES, size=NUM_TRAIN)
    return {"X_train": X, "y_train": y, "X_val": X[:100], "y_val": y[:100]}


def _init_weights(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``[(W, b), ...]`` float32 for every layer, ``W ~ WEIGHT_SCALE * N(0, 1)``, ``b = 0``."""
    rng = np.random.default_rng(seed)
    dims = [INPUT_DIM, *HIDDEN_DIMS, NUM_CLASSES]
    return [
        ((WEIGHT_SCALE * rng.standard_normal((d_in, d_out))).astype(np.float32), np.zeros(d_out, np.float32))
        for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)
    ]


def sweepnet_step(rule: str, data: dict[str, np.ndarray]) -> Step:
    """The Solver's per-iteration step."""
    model = FullyConnectedNet(list(HIDDEN_DIMS), input_dim=INPUT_DIM, num_classes=NUM_CLASSES, seed=0)
    solver = Solver(
        model, data, update_rule=rule, optim_config=dict(RULES[rule]), batch_size=BATCH_SIZE, verbose=False, seed=0
    )
    return solver._step


def torch_step(rule: str, data: dict[str, np.ndarray]) -> Step:
    """One torch training step of the same network (``loss.item()`` read, as the Solver records it)."""
    layers: list[torch.nn.Module] = []
    for i, (w, b) in enumerate(_init_weights()):
        linear = torch.nn.Linear(*w.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w.T))
            linear.bias.copy_(torch.from_numpy(b))
        layers += [linear] if i == len(HIDDEN_DIMS) else [linear, torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers)
    hyper = RULES[rule]
    if rule == "adam":
        optimizer = torch.optim.Adam(net.parameters(), lr=hyper["learning_rate"])
    else:
        optimizer = torch.optim.SGD(net.parameters(), lr=hyper["learning_rate"], momentum=hyper["momentum"])
    X, y = torch.from_numpy(data["X_train"]), torch.from_numpy(data["y_train"])
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        batch = torch.randint(NUM_TRAIN, (BATCH_SIZE,), generator=generator)
        loss = torch.nn.functional.cross_entropy(net(X[batch]), y[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()

    return step


def numpy_step(rule: str, data: dict[str, np.ndarray]) -> Step:
    """A bare numpy training step: the network and update rule written out, no abstractions."""
    params = [array for layer in _init_weights() for array in layer]
    state = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    hyper = RULES[rule]
    X, y = data["X_train"], data["y_train"]
    rng = np.random.default_rng(0)
    t = 0

    def step() -> None:
        nonlocal t
        batch = rng.integers(NUM_TRAIN, size=BATCH_SIZE)
        x, labels = X[batch], y[batch]
        W1, b1, W2, b2, W3, b3 = params
        h1 = np.maximum(x @ W1 + b1, 0)
        h2 = np.maximum(h1 @ W2 + b2, 0)
        scores = h2 @ W3 + b3
        scores -= scores.max(axis=1, keepdims=True)
        probs = np.exp(scores)
        probs /= probs.sum(axis=1, keepdims=True)
        float(-np.log(probs[np.arange(BATCH_SIZE), labels]).mean())
        probs[np.arange(BATCH_SIZE), labels] -= 1
        probs /= BATCH_SIZE
        dh2 = (probs @ W3.T) * (h2 > 0)
        dh1 = (dh2 @ W2.T) * (h1 > 0)
        grads = [x.T @ dh1, dh1.sum(0), h1.T @ dh2, dh2.sum(0), h2.T @ probs, probs.sum(0)]
        t += 1
        lr = hyper["learning_rate"]
        for p, g, (m, v) in zip(params, grads, state, strict=True):
            if rule == "adam":
                m += 0.1 * (g - m)
                v *= 0.999
                v += 0.001 * (g * g)
                v_correction = math.sqrt(1 - 0.999**t)
                p -= (lr * v_correction / (1 - 0.9**t)) * m / (np.sqrt(v) + 1e-8 * v_correction)
            else:
                m *= hyper["momentum"]
                m -= lr * g
                p += m

    return step


def _throughput(step: Step, steps: int) -> float:
    """Samples per second over ``steps`` calls of ``step``."""
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * BATCH_SIZE / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per measurement")
    parser.add_argument("--repeats", type=int, default=5, help="measurements per contender (best is kept)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = _data()
    passed = True
    with threadpool_limits(limits=1, user_api="blas"):
        for rule in RULES:
            steps = {
                "sweepnet": sweepnet_step(rule, data),
                "torch": torch_step(rule, data),
                "numpy": numpy_step(rule, data),
            }
            for step in steps.values():
                _throughput(step, 10)  # warm-up: caches, allocator, lazy initialisation
            best = dict.fromkeys(steps, 0.0)
            for _ in range(args.repeats):  # interleaved, so load from other processes hits all alike
                for name, step in steps.items():
                    best[name] = max(best[name], _throughput(step, args.steps))
            ratio = best["sweepnet"] / best["torch"]
            passed &= ratio >= GOAL
            print(f"{rule}: " + ", ".join(f"{name} {rate:,.0f} samples/s" for name, rate in best.items()))
            print(
                f"  sweepnet / torch = {ratio:.2f}x (goal >= {GOAL}x: {'PASS' if ratio >= GOAL else 'FAIL'}); "
                f"numpy / torch = {best['numpy'] / best['torch']:.2f}x; "
                f"sweepnet / numpy = {best['sweepnet'] / best['numpy']:.2f}x"
            )
    print("PASS" if passed else "FAIL")


if __name__ == "__main__":
    main()
