"""Benchmark the fast conv layer's paths against today's path, a classic numpy im2col and torch.

Run as ``.venv/bin/python bench/conv.py`` (``--quick`` for the goal layers only). Everything runs
on one thread (BLAS through threadpoolctl, torch through ``torch.set_num_threads(1)``) and every
ratio compares timings taken in this same process, taking turns, so the figures do not depend on
how fast the machine is or on what else it is doing. Each timing is the fastest of many calls:
the least disturbed one. The CPU and the BLAS kernels are printed with the figures.

The layers are those of the earlier versions of this benchmark (a stride-2 first layer and the
32->64 goal layer), of the classic ``ThreeLayerConvNet`` (7x7 filters on CIFAR-10) and of
``examples/convnet.yaml`` (3x3 filters, batch 64, on CIFAR-10 and on its default digits).

The paths table times every path of :func:`sweepnet.core.fast_layers.conv_forward_fast` that can
compute a layer (``*`` marks the one it picks by itself): ``im2col`` is today's path, so "vs
today" is the gain over it; "vs torch" is the time over ``torch.nn.functional.conv2d``'s forward
and backward; "vs BLAS-only" the time over the *BLAS-only limit*, the im2col GEMMs alone (what an
im2col implementation takes if unfolding the columns cost nothing: a goal below it is out of reach
on this machine for im2col, not for Winograd); "f32 error" is ``||float32 - float64|| / ||float64||``
over out, dx, dw and db. Today's paths run on this version's kernels (whose im2col and col2im
walk rows differently); timed once against a build of the earlier code in one process, the
classic net took the same time with either, within 2%.

Two numpy baselines share the classic ``as_strided`` im2col + GEMM forward. Their backwards make
the same two GEMMs and differ in col2im: the classic one is ``col2im_indices`` of the CS231n
``im2col.py`` (``np.add.at`` over precomputed index arrays), the tuned one adds strided slices per
kernel offset.

Goals, printed as PASS/FAIL for the path the layer picks by itself:
- forward not slower than the numpy baseline, backward at least 1.5x faster than the classic
  numpy backward (every layer);
- forward+backward at most 1.3x torch's time on every layer, at most 1.0x on the float32 32->64
  layer, and not slower than today's path anywhere;
- float32 32->64 layer at least 60% of the GFLOP/s of a plain ``np.matmul`` (1024x1024 square),
  counting the direct convolution's multiply-adds;
- the classic ``ThreeLayerConvNet`` (7x7 filters) loss and gradients on 100 CIFAR-sized float32
  images at least 1.5x faster than today, the goal of issue 18. "Today" is the loss as earlier
  versions computed it (``_today_loss``): today's paths (``use_paths(conv="im2col",
  pool="reshape")``), ReLU on the whole conv output before the pool, and the first conv's ``dx``
  computed though the images need none. The model now skips that ``dx``
  (``conv_backward_fast(..., need_dx=False)``) and applies ReLU after the pool, on a quarter of
  the values; the bench checks that both give the same loss and gradients before timing them. The
  net of ``examples/convnet.yaml`` (3x3 filters) is timed alike with no goal: its conv has 3 input
  channels, too few for Winograd, and its 11 MB of columns (within twice the 16.5 MiB of cache per
  thread of an AMD EPYC Zen 3) keep it on today's im2col path there, so only its pooling, ReLU and
  skipped ``dx`` differ from today's.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_info, threadpool_limits

from sweepnet.core._workspace import cache_bytes
from sweepnet.core.fast_layers import (
    CONV_PATHS,
    auto_conv_path,
    conv_backward_fast,
    conv_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
    use_paths,
)
from sweepnet.core.layer_utils import affine_relu_backward, affine_relu_forward
from sweepnet.core.layers import affine_backward, affine_forward, relu_backward, relu_forward, softmax_loss
from sweepnet.core.models import ThreeLayerConvNet

try:
    import torch
except ImportError:
    torch = None

__all__ = ["main"]

FORWARD_SPEEDUP_GOAL = 1.0
BACKWARD_SPEEDUP_GOAL = 1.5
TORCH_RATIO_GOAL = 1.3
GOAL_LAYER_TORCH_RATIO_GOAL = 1.0
MATMUL_SHARE_GOAL = 0.60
NET_SPEEDUP_GOAL = 1.5
MATMUL_SIZE = 1024
BLOCK = 3
MIN_ROUNDS = 4
TIME_BUDGET = 2.0  # seconds of timed calls per group of measurements taking turns
TODAY = {"conv": "im2col", "pool": "reshape"}  # the only paths of earlier versions


@dataclass(frozen=True)
class _Case:
    """One benchmarked layer: ``x: (N, C, H, W)``, ``w: (F, C, HH, WW)``."""

    name: str
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: int
    pad: int
    goal_layer: bool = False  # the 1.0x torch and GFLOP/s goals apply to this layer (in float32)
    quick: bool = False  # timed with --quick too


CASES = (
    _Case("3->25, stride 2", (100, 3, 31, 31), (25, 3, 3, 3), stride=2, pad=1, quick=True),
    _Case("32->64, stride 1", (50, 32, 32, 32), (64, 32, 3, 3), stride=1, pad=1, goal_layer=True, quick=True),
    _Case("ThreeLayerConvNet 3->32 7x7", (100, 3, 32, 32), (32, 3, 7, 7), stride=1, pad=3, quick=True),
    _Case("convnet.yaml CIFAR 3->32", (64, 3, 32, 32), (32, 3, 3, 3), stride=1, pad=1),
    _Case("convnet.yaml CIFAR 3->16", (64, 3, 32, 32), (16, 3, 3, 3), stride=1, pad=1),
    _Case("convnet.yaml CIFAR 16->32", (64, 16, 32, 32), (32, 16, 3, 3), stride=1, pad=1),
    _Case("convnet.yaml digits 1->32", (64, 1, 8, 8), (32, 1, 3, 3), stride=1, pad=1),
    _Case("convnet.yaml digits 1->16", (64, 1, 8, 8), (16, 1, 3, 3), stride=1, pad=1),
    _Case("convnet.yaml digits 16->32", (64, 16, 8, 8), (32, 16, 3, 3), stride=1, pad=1),
)

# ThreeLayerConvNet's options and speed-up goal vs today (None: timed, no goal): the classic
# defaults, whose goal issue 18 sets, and the net of examples/convnet.yaml.
NETS = {
    "ThreeLayerConvNet (classic: 7x7, 32 filters)": ({}, NET_SPEEDUP_GOAL),
    "ThreeLayerConvNet (convnet.yaml: 3x3, 32 filters)": ({"filter_size": 3, "weight_scale": 1e-2}, None),
}
NET_BATCH = 100


def _best_times(*runs: Callable[[], object]) -> list[float]:
    """Seconds of the fastest call of each ``run``.

    The runs take turns in blocks of ``BLOCK`` back-to-back calls (so each is timed with its own
    data in cache, not the previous run's), for at least ``MIN_ROUNDS`` rounds and ``TIME_BUDGET``
    seconds; taking turns spreads any slow phase of the machine over all of them alike.
    """
    best = [float("inf")] * len(runs)
    rounds, spent = 0, 0.0
    while rounds < MIN_ROUNDS or spent < TIME_BUDGET:
        for index, run in enumerate(runs):
            for _ in range(BLOCK):
                start = time.perf_counter()
                run()
                elapsed = time.perf_counter() - start
                best[index] = min(best[index], elapsed)
                spent += elapsed
        rounds += 1
    return best


def _numpy_conv_forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, conv_param: dict[str, int]
) -> tuple[np.ndarray, tuple]:
    """Baseline forward, the classic approach: pad, ``as_strided`` im2col view, copy, one GEMM.

    x: (N, C, H, W), w: (F, C, HH, WW), b: (F,) -> out: (N, F, H', W').
    """
    n, c, h, wid = x.shape
    f, _, hh, ww = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    hp, wp = h + 2 * pad, wid + 2 * pad
    out_h, out_w = (hp - hh) // stride + 1, (wp - ww) // stride + 1
    shape = (c, hh, ww, n, out_h, out_w)
    strides = x.itemsize * np.array((hp * wp, wp, 1, c * hp * wp, stride * wp, stride))
    cols = np.ascontiguousarray(as_strided(x_pad, shape=shape, strides=strides)).reshape(c * hh * ww, -1)
    res = w.reshape(f, -1) @ cols + b.reshape(-1, 1)
    out = np.ascontiguousarray(res.reshape(f, n, out_h, out_w).transpose(1, 0, 2, 3))
    return out, (x.shape, w, conv_param, cols)


def _backward_gemms(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The two backward GEMMs both baselines share: ``dcols: (C*HH*WW, N, H'*W')``, dw, db."""
    (n, c, h, wid), w, conv_param, cols = cache
    f = w.shape[0]
    db = dout.sum(axis=(0, 2, 3))
    dout_cols = dout.transpose(1, 0, 2, 3).reshape(f, -1)
    dw = (dout_cols @ cols.T).reshape(w.shape)
    dcols = (w.reshape(f, -1).T @ dout_cols).reshape(cols.shape[0], n, -1)
    return dcols, dw, db


def _tuned_conv_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tuned backward: the two GEMMs, then col2im as strided slice-adds into a padded array.

    dout: (N, F, H', W') -> dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,).
    """
    (n, c, h, wid), w, conv_param, _ = cache
    _, _, hh, ww = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    out_h, out_w = dout.shape[2:]
    dcols, dw, db = _backward_gemms(dout, cache)
    dcols = dcols.reshape(c, hh, ww, n, out_h, out_w)
    dx_pad = np.zeros((n, c, h + 2 * pad, wid + 2 * pad), dtype=dout.dtype)
    for kh in range(hh):
        for kw in range(ww):
            rows = slice(kh, kh + stride * out_h, stride)
            columns = slice(kw, kw + stride * out_w, stride)
            dx_pad[:, :, rows, columns] += dcols[:, kh, kw].transpose(1, 0, 2, 3)
    return dx_pad[:, :, pad : pad + h, pad : pad + wid], dw, db


def _classic_conv_backward(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classic backward: the two GEMMs, then CS231n's ``col2im_indices`` (``np.add.at``).

    dout: (N, F, H', W') -> dx: (N, C, H, W), dw: (F, C, HH, WW), db: (F,).
    """
    (n, c, h, wid), w, conv_param, _ = cache
    _, _, hh, ww = w.shape
    stride, pad = conv_param["stride"], conv_param["pad"]
    out_h, out_w = dout.shape[2:]
    dcols, dw, db = _backward_gemms(dout, cache)
    rows = np.tile(np.repeat(np.arange(hh), ww), c)[:, None] + stride * np.repeat(np.arange(out_h), out_w)[None]
    columns = np.tile(np.arange(ww), hh * c)[:, None] + stride * np.tile(np.arange(out_w), out_h)[None]
    channels = np.repeat(np.arange(c), hh * ww)[:, None]
    dx_pad = np.zeros((n, c, h + 2 * pad, wid + 2 * pad), dtype=dout.dtype)
    np.add.at(dx_pad, (slice(None), channels, rows, columns), dcols.transpose(1, 0, 2))
    return dx_pad[:, :, pad : pad + h, pad : pad + wid], dw, db


def _gemm_runs(w: np.ndarray, cols: np.ndarray, dout: np.ndarray) -> tuple[Callable[[], object], ...]:
    """The three GEMMs of a conv layer on their own: forward, dw, dcols (the BLAS-only limit)."""
    f = w.shape[0]
    w_cols = w.reshape(f, -1)
    dout_cols = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(f, -1)
    return (lambda: w_cols @ cols, lambda: dout_cols @ cols.T, lambda: w_cols.T @ dout_cols)


def _torch_run(x: np.ndarray, w: np.ndarray, b: np.ndarray, dout: np.ndarray, case: _Case) -> Callable[[], None]:
    """``torch.nn.functional.conv2d`` forward and backward on copies of these arrays."""
    xt, wt, bt = (torch.from_numpy(a.copy()).requires_grad_() for a in (x, w, b))
    dout_t = torch.from_numpy(dout.copy())

    def run() -> None:
        xt.grad = wt.grad = bt.grad = None
        torch.nn.functional.conv2d(xt, wt, bt, stride=case.stride, padding=case.pad).backward(dout_t)

    return run


def _matmul_gflops(dtype: type) -> float:
    """GFLOP/s of a square ``np.matmul`` in ``dtype``: what this BLAS reaches on one thread."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((MATMUL_SIZE, MATMUL_SIZE)).astype(dtype) for _ in range(2))
    (seconds,) = _best_times(lambda: a @ b)
    return 2 * MATMUL_SIZE**3 / seconds / 1e9


def _check_agreement(name: str, dtype: type, fast: tuple, baseline: tuple) -> None:
    """Refuse to time implementations that disagree."""
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for ours, theirs in zip(fast, baseline, strict=True):
        if np.linalg.norm(ours - theirs) > tolerance * np.linalg.norm(theirs):
            raise RuntimeError(f"{name} {np.dtype(dtype).name}: fast and baseline conv disagree")


def _relative_error(results: tuple, reference: tuple) -> float:
    """The largest ``||result - reference|| / ||reference||`` over out, dx, dw and db."""
    return max(float(np.linalg.norm(a - r) / np.linalg.norm(r)) for a, r in zip(results, reference, strict=True))


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("[green]PASS[/]" if ok else "[red]FAIL[/]")


def _paths_of(case: _Case) -> list[str]:
    """The paths that can compute ``case``: Winograd takes 3x3 filters at stride 1 only."""
    return [p for p in CONV_PATHS if p != "winograd" or (case.w_shape[2:] == (3, 3) and case.stride == 1)]


@dataclass
class _Result:
    """The figures of one layer in one dtype."""

    auto: str
    paths: dict[str, tuple[float, float]]  # path: (forward, backward) seconds
    errors: dict[str, float]  # path: float32 error (empty in float64)
    numpy_forward: float
    classic_backward: float
    tuned_backward: float
    gemms: tuple[float, float, float]  # forward, dw, dcols
    torch_total: float | None
    flops: int


def _bench_case(case: _Case, dtype: type) -> _Result:
    """Time every path of one layer in one dtype, with the baselines, taking turns."""
    rng = np.random.default_rng(0)
    x64, w64, b64 = (rng.standard_normal(s) for s in (case.x_shape, case.w_shape, case.w_shape[:1]))
    x, w, b = (a.astype(dtype) for a in (x64, w64, b64))
    conv_param = {"stride": case.stride, "pad": case.pad}
    base_out, base_cache = _numpy_conv_forward(x, w, b, conv_param)
    dout = rng.standard_normal(base_out.shape).astype(dtype)
    baseline = (base_out, *_tuned_conv_backward(dout, base_cache))
    _check_agreement(case.name, dtype, baseline, (base_out, *_classic_conv_backward(dout, base_cache)))

    paths, caches, errors = _paths_of(case), {}, {}
    reference = None
    if dtype == np.float32:
        with use_paths(conv="im2col"):
            ref_out, ref_cache = conv_forward_fast(x64, w64, b64, conv_param)
        reference = (ref_out.copy(), *conv_backward_fast(dout.astype(np.float64), ref_cache))
    for path in paths:
        with use_paths(conv=path):
            out, caches[path] = conv_forward_fast(x, w, b, conv_param)
        results = (out.copy(), *(a.copy() for a in conv_backward_fast(dout, caches[path])))
        _check_agreement(f"{case.name} ({path})", dtype, results, baseline)
        if reference is not None:
            errors[path] = _relative_error(results, reference)

    def forward(path: str) -> Callable[[], object]:
        def run() -> object:
            with use_paths(conv=path):
                return conv_forward_fast(x, w, b, conv_param)

        return run

    path_runs = [run for p in paths for run in (forward(p), lambda p=p: conv_backward_fast(dout, caches[p]))]
    torch_runs = [_torch_run(x, w, b, dout, case)] if torch is not None else []
    times = _best_times(
        *path_runs,
        lambda: _numpy_conv_forward(x, w, b, conv_param),
        lambda: _classic_conv_backward(dout, base_cache),
        lambda: _tuned_conv_backward(dout, base_cache),
        *_gemm_runs(w, base_cache[3], dout),
        *torch_runs,
    )
    f, c, hh, ww = case.w_shape
    n, _, out_h, out_w = base_out.shape
    return _Result(
        auto=auto_conv_path(case.x_shape, case.w_shape, conv_param, dtype),
        paths={p: (times[2 * i], times[2 * i + 1]) for i, p in enumerate(paths)},
        errors=errors,
        numpy_forward=times[2 * len(paths)],
        classic_backward=times[2 * len(paths) + 1],
        tuned_backward=times[2 * len(paths) + 2],
        gemms=tuple(times[2 * len(paths) + 3 : 2 * len(paths) + 6]),
        torch_total=times[-1] if torch_runs else None,
        flops=3 * 2 * f * c * hh * ww * n * out_h * out_w,  # the direct convolution's 3 products
    )


def _path_rows(result: _Result) -> list[list[str]]:
    """Rows of the paths table: every path's times and ratios."""
    today = sum(result.paths["im2col"])
    blas_only = sum(result.gemms)
    rows = []
    for path, (forward, backward) in result.paths.items():
        total = forward + backward
        rows.append(
            [
                path + (" *" if path == result.auto else ""),
                _ms(forward),
                _ms(backward),
                _ms(total),
                f"{today / total:.2f}x",
                f"{total / result.torch_total:.2f}x" if result.torch_total else "-",
                f"{total / blas_only:.2f}x",
                f"{result.errors[path]:.1e}" if path in result.errors else "-",
            ]
        )
    return rows


def _goal_rows(case: _Case, dtype: type, result: _Result, matmul_gflops: float) -> list[list[str]]:
    """Rows of the goals table for the path the layer picks by itself."""
    forward, backward = result.paths[result.auto]
    total = forward + backward
    today = sum(result.paths["im2col"])
    goal_layer = case.goal_layer and dtype == np.float32
    rows = [
        [
            "forward vs numpy",
            _ms(forward),
            _ms(result.numpy_forward),
            f"{result.numpy_forward / forward:.2f}x",
            f">= {FORWARD_SPEEDUP_GOAL}x",
            _verdict(result.numpy_forward / forward >= FORWARD_SPEEDUP_GOAL),
        ],
        [
            "backward vs classic numpy",
            _ms(backward),
            _ms(result.classic_backward),
            f"{result.classic_backward / backward:.2f}x",
            f">= {BACKWARD_SPEEDUP_GOAL}x",
            _verdict(result.classic_backward / backward >= BACKWARD_SPEEDUP_GOAL),
        ],
        [
            "backward vs tuned numpy",
            _ms(backward),
            _ms(result.tuned_backward),
            f"{result.tuned_backward / backward:.2f}x",
            "-",
            "",
        ],
        [
            "fwd+bwd vs today",
            _ms(total),
            _ms(today),
            f"{today / total:.2f}x",
            ">= 1.0x",
            _verdict(today / total >= 1.0) if result.auto != "im2col" else "same path",
        ],
    ]
    if result.torch_total is not None:
        goal = GOAL_LAYER_TORCH_RATIO_GOAL if goal_layer else TORCH_RATIO_GOAL
        ratio = total / result.torch_total
        rows.append(
            [
                "fwd+bwd / torch",
                _ms(total),
                _ms(result.torch_total),
                f"{ratio:.2f}x",
                f"<= {goal}x",
                _verdict(ratio <= goal),
            ]
        )
    share = result.flops / total / 1e9 / matmul_gflops
    rows.append(
        [
            "GFLOP/s / matmul",
            f"{result.flops / total / 1e9:.1f}",
            f"{matmul_gflops:.1f}",
            f"{share:.0%}",
            f">= {MATMUL_SHARE_GOAL:.0%}" if goal_layer else "-",
            _verdict(share >= MATMUL_SHARE_GOAL) if goal_layer else "",
        ]
    )
    return rows


def _today_loss(model: ThreeLayerConvNet, x: np.ndarray, y: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """``model.loss(x, y)`` (reg 0) as earlier versions computed it, on today's paths: ReLU on the
    whole conv output before the pool, and the first conv's ``dx`` computed though nothing uses it."""
    p = model.params
    conv_param = {"stride": 1, "pad": (model.filter_size - 1) // 2}
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    grads: dict[str, np.ndarray] = {}
    with use_paths(**TODAY):
        a, conv_cache = conv_forward_fast(x, p["W1"], p["b1"], conv_param)
        s, relu_cache = relu_forward(a)
        pooled, pool_cache = max_pool_forward_fast(s, pool_param)
        hidden, hidden_cache = affine_relu_forward(pooled, p["W2"], p["b2"])
        scores, scores_cache = affine_forward(hidden, p["W3"], p["b3"])
        loss, dscores = softmax_loss(scores, y)
        dhidden, grads["W3"], grads["b3"] = affine_backward(dscores, scores_cache)
        dpooled, grads["W2"], grads["b2"] = affine_relu_backward(dhidden, hidden_cache)
        da = relu_backward(max_pool_backward_fast(dpooled, pool_cache), relu_cache)
        _, grads["W1"], grads["b1"] = conv_backward_fast(da, conv_cache)
    return loss, grads


def _check_net(name: str, today: tuple[float, dict[str, np.ndarray]], now: tuple) -> None:
    """Refuse to time a net whose loss or gradients today's computation does not reproduce."""
    (today_loss, today_grads), (now_loss, now_grads) = today, now
    if not np.isclose(today_loss, now_loss, rtol=1e-5) or any(
        np.linalg.norm(today_grads[k] - now_grads[k]) > 1e-4 * np.linalg.norm(now_grads[k]) for k in now_grads
    ):
        raise RuntimeError(f"{name}: today's loss and gradients differ from the model's")


def _bench_nets() -> list[list[str]]:
    """Rows of the nets table: loss and gradients computed as earlier versions did (today) and now."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((NET_BATCH, 3, 32, 32)).astype(np.float32)
    y = rng.integers(10, size=NET_BATCH)
    rows = []
    for name, (options, goal) in NETS.items():
        model = ThreeLayerConvNet(seed=0, **options)
        _check_net(name, _today_loss(model, x, y), model.loss(x, y))
        today_time, now_time = _best_times(
            lambda model=model: _today_loss(model, x, y), lambda model=model: model.loss(x, y)
        )
        conv_path = auto_conv_path(
            x.shape, model.params["W1"].shape, {"stride": 1, "pad": (model.filter_size - 1) // 2}, np.float32
        )
        ratio = today_time / now_time
        rows.append(
            [
                name,
                conv_path,
                _ms(now_time),
                _ms(today_time),
                f"{ratio:.2f}x",
                f">= {goal}x" if goal is not None else "-",
                _verdict(ratio >= goal if goal is not None else None),
            ]
        )
    return rows


def _machine() -> str:
    """The CPU model, the BLAS kernels, torch and the cache share the blocks are sized for."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    blas = ", ".join(
        f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')} kernels)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    )
    torch_version = torch.__version__ if torch is not None else "not installed"
    return (
        f"CPU: {cpu} ({os.cpu_count()} CPUs, {cache_bytes() / 2**20:.1f} MiB of L2+L3 per thread); "
        f"BLAS: {blas}; torch: {torch_version}; one thread"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="time only the layers of the earlier versions and the classic ThreeLayerConvNet's",
    )
    args = parser.parse_args(argv)
    console = Console(width=140)
    cases = [case for case in CASES if case.quick or not args.quick]
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        machine = _machine()
        paths = Table(title="conv paths, forward + backward (* = picked by itself)", caption=machine)
        for column in ("layer", "dtype", "path"):
            paths.add_column(column)
        for column in ("forward", "backward", "fwd+bwd", "vs today", "vs torch", "vs BLAS-only", "f32 error"):
            paths.add_column(column, justify="right")
        goals = Table(title="goals, the path each layer picks by itself", caption=machine)
        for column in ("layer", "dtype", "path", "measure"):
            goals.add_column(column)
        for column in ("sweepnet", "reference", "ratio", "goal", ""):
            goals.add_column(column, justify="right")
        for dtype in (np.float32, np.float64):
            matmul_gflops = _matmul_gflops(dtype)
            for case in cases:
                result = _bench_case(case, dtype)
                for rows, table, first_columns in (
                    (_path_rows(result), paths, (case.name, np.dtype(dtype).name)),
                    (
                        _goal_rows(case, dtype, result, matmul_gflops),
                        goals,
                        (case.name, np.dtype(dtype).name, result.auto),
                    ),
                ):
                    for index, row in enumerate(rows):
                        names = first_columns if index == 0 else ("",) * len(first_columns)
                        table.add_row(*names, *row, end_section=index == len(rows) - 1)
        nets = Table(title=f"loss and gradients, {NET_BATCH} CIFAR-sized float32 images", caption=machine)
        for column in ("model", "conv path"):
            nets.add_column(column)
        for column in ("now", "today", "speed-up", "goal", ""):
            nets.add_column(column, justify="right")
        for row in _bench_nets():
            nets.add_row(*row)
    console.print(paths)
    console.print(goals)
    console.print(nets)


if __name__ == "__main__":
    main()
