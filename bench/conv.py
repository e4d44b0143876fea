"""Benchmark the Cython-backed fast conv layer against a classic numpy im2col and against torch.

Run as ``.venv/bin/python bench/conv.py``. Everything runs on one thread (BLAS through
threadpoolctl, torch through ``torch.set_num_threads(1)``) and every ratio compares timings taken
in this same process, taking turns, so the figures do not depend on how fast the machine
is or on what else it is doing. Each timing is the fastest of many calls: the least disturbed one.

Two numpy baselines share the classic ``as_strided`` im2col + GEMM forward. Their backwards make
the same two GEMMs and differ in col2im: the classic one is ``col2im_indices`` of the CS231n
``im2col.py`` (``np.add.at`` over precomputed index arrays), the tuned one adds strided slices per
kernel offset. The backward goal is judged against the classic one; the tuned one is printed to
show how much of the gain is col2im alone.

Goals, printed as PASS/FAIL:
- forward not slower than the numpy baseline, backward at least 1.5x faster than the classic
  numpy backward (every layer);
- float32 forward+backward of the 32->64 layer at most 1.3x torch's time;
- float32 32->64 layer at least 60% of the GFLOP/s of a plain ``np.matmul`` (1024x1024 square).

The ``BLAS-only limit`` column is the best ratio any implementation built on these BLAS calls could
reach: the same ratio with everything but the GEMMs taking no time. A goal beyond it is out of reach
on this machine whatever the kernels do.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided
from rich.console import Console
from rich.table import Table
from threadpoolctl import threadpool_info, threadpool_limits

from sweepnet.core.fast_layers import conv_backward_fast, conv_forward_fast

try:
    import torch
except ImportError:
    torch = None

__all__ = ["main"]

FORWARD_SPEEDUP_GOAL = 1.0
BACKWARD_SPEEDUP_GOAL = 1.5
TORCH_RATIO_GOAL = 1.3
MATMUL_SHARE_GOAL = 0.60
MATMUL_SIZE = 1024
BLOCK = 3
MIN_ROUNDS = 4
TIME_BUDGET = 2.0  # seconds of timed calls per group of measurements taking turns


@dataclass(frozen=True)
class _Case:
    """One benchmarked layer: ``x: (N, C, H, W)``, ``w: (F, C, HH, WW)``."""

    name: str
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int]
    stride: int
    pad: int
    goal_layer: bool  # the torch and GFLOP/s goals apply to this layer (in float32)


CASES = (
    _Case("3->25, stride 2", (100, 3, 31, 31), (25, 3, 3, 3), stride=2, pad=1, goal_layer=False),
    _Case("32->64, stride 1", (50, 32, 32, 32), (64, 32, 3, 3), stride=1, pad=1, goal_layer=True),
)


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
    """The three GEMMs of a conv layer on their own: forward, dw, dcols (the BLAS floor)."""
    f = w.shape[0]
    w_cols = w.reshape(f, -1)
    dout_cols = np.ascontiguousarray(dout.transpose(1, 0, 2, 3)).reshape(f, -1)
    return (lambda: w_cols @ cols, lambda: dout_cols @ cols.T, lambda: w_cols.T @ dout_cols)


def _torch_run(
    x: np.ndarray, w: np.ndarray, b: np.ndarray, dout: np.ndarray, case: _Case
) -> Callable[[], None]:
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


def _check_agreement(case: _Case, dtype: type, fast: tuple, baseline: tuple) -> None:
    """Refuse to time implementations that disagree."""
    tolerance = 1e-5 if dtype == np.float32 else 1e-12
    for ours, theirs in zip(fast, baseline, strict=True):
        if np.linalg.norm(ours - theirs) > tolerance * np.linalg.norm(theirs):
            raise RuntimeError(f"{case.name} {np.dtype(dtype).name}: fast and baseline conv disagree")


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


def _row(
    measure: str, ours: str, reference: str, ratio: float, limit: float, goal: str, ok: bool | None
) -> list[str]:
    """One table row; ``ok`` is None where the goal does not apply to this layer."""
    percent = goal.endswith("%")
    shown = f"{ratio:.0%}" if percent else f"{ratio:.2f}x"
    bound = f"{limit:.0%}" if percent else f"{limit:.2f}x"
    verdict = "" if ok is None else ("[green]PASS[/]" if ok else "[red]FAIL[/]")
    return [measure, ours, reference, shown, bound, goal if ok is not None else "-", verdict]


def _bench_case(case: _Case, dtype: type, matmul_gflops: float) -> list[list[str]]:
    """Time one layer in one dtype; returns its table rows."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(case.x_shape).astype(dtype)
    w = rng.standard_normal(case.w_shape).astype(dtype)
    b = rng.standard_normal(case.w_shape[0]).astype(dtype)
    conv_param = {"stride": case.stride, "pad": case.pad}
    out, cache = conv_forward_fast(x, w, b, conv_param)
    base_out, base_cache = _numpy_conv_forward(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape).astype(dtype)
    fast_results = (out, *conv_backward_fast(dout, cache))
    _check_agreement(case, dtype, fast_results, (base_out, *_tuned_conv_backward(dout, base_cache)))
    _check_agreement(case, dtype, fast_results, (base_out, *_classic_conv_backward(dout, base_cache)))

    torch_runs = [_torch_run(x, w, b, dout, case)] if torch is not None else []
    fast_fwd, base_fwd, fast_bwd, classic_bwd, base_bwd, gemm_fwd, gemm_dw, gemm_dcols, *torch_times = _best_times(
        lambda: conv_forward_fast(x, w, b, conv_param),
        lambda: _numpy_conv_forward(x, w, b, conv_param),
        lambda: conv_backward_fast(dout, cache),
        lambda: _classic_conv_backward(dout, base_cache),
        lambda: _tuned_conv_backward(dout, base_cache),
        *_gemm_runs(w, base_cache[3], dout),
        *torch_runs,
    )
    gemm_bwd = gemm_dw + gemm_dcols
    fast_total = fast_fwd + fast_bwd
    goal_row = case.goal_layer and dtype == np.float32

    f, c, hh, ww = case.w_shape
    flops = 3 * 2 * f * c * hh * ww * out.shape[0] * out.shape[2] * out.shape[3]  # 3 GEMMs' worth
    gflops = flops / fast_total / 1e9
    rows = [
        _row("forward vs numpy", _ms(fast_fwd), _ms(base_fwd), base_fwd / fast_fwd, base_fwd / gemm_fwd,
             f">= {FORWARD_SPEEDUP_GOAL}x", base_fwd / fast_fwd >= FORWARD_SPEEDUP_GOAL),
        _row("backward vs classic numpy", _ms(fast_bwd), _ms(classic_bwd), classic_bwd / fast_bwd,
             classic_bwd / gemm_bwd, f">= {BACKWARD_SPEEDUP_GOAL}x", classic_bwd / fast_bwd >= BACKWARD_SPEEDUP_GOAL),
        _row("backward vs tuned numpy", _ms(fast_bwd), _ms(base_bwd), base_bwd / fast_bwd, base_bwd / gemm_bwd,
             "-", None),
    ]
    for torch_total in torch_times:
        ratio = fast_total / torch_total
        rows.append(_row("fwd+bwd / torch", _ms(fast_total), _ms(torch_total), ratio,
                         (gemm_fwd + gemm_bwd) / torch_total, f"<= {TORCH_RATIO_GOAL}x",
                         ratio <= TORCH_RATIO_GOAL if goal_row else None))
    share = gflops / matmul_gflops
    rows.append(_row("GFLOP/s / matmul", f"{gflops:.1f}", f"{matmul_gflops:.1f}", share,
                     flops / (gemm_fwd + gemm_bwd) / 1e9 / matmul_gflops, f">= {MATMUL_SHARE_GOAL:.0%}",
                     share >= MATMUL_SHARE_GOAL if goal_row else None))
    return rows


def main() -> None:
    console = Console(width=120)
    with threadpool_limits(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        blas = [f"{i['internal_api']} {i['version']} ({i.get('architecture', '?')} kernels)"
                for i in threadpool_info() if i["user_api"] == "blas"]
        table = Table(title="sweepnet fast conv, one thread (ratios: higher is better, except vs torch)")
        for column in ("layer", "dtype", "measure"):
            table.add_column(column)
        for column in ("sweepnet", "reference", "ratio", "BLAS-only limit", "goal", ""):
            table.add_column(column, justify="right")
        for dtype in (np.float32, np.float64):
            matmul_gflops = _matmul_gflops(dtype)
            for case in CASES:
                rows = _bench_case(case, dtype, matmul_gflops)
                for index, row in enumerate(rows):
                    first = index == 0
                    names = (case.name, np.dtype(dtype).name) if first else ("", "")
                    table.add_row(*names, *row, end_section=index == len(rows) - 1)
    torch_version = torch.__version__ if torch is not None else "not installed"
    console.print(f"BLAS: {', '.join(blas)}; torch: {torch_version}")
    console.print(table)


if __name__ == "__main__":
    main()
