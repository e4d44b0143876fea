"""Numerical gradients by centered differences, to check analytic backward passes.

Run the checks in float64: with ``h = 1e-5`` float32 round-off swamps the difference quotient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "grad_check_sparse", "rel_error"]


def eval_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, verbose: bool = True, h: float = 1e-5
) -> np.ndarray:
    """Gradient of a scalar function by centered differences ``(f(x + h) - f(x - h)) / 2h``.

    Parameters
    ----------
    f : function of ``x`` returning a scalar; it must read ``x`` itself, which is perturbed in place
    x : any shape; restored to its original values on return
    verbose : print each index and its derivative, as the classic code does
    h : step size

    Returns
    -------
    grad : the shape of ``x``
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        grad[ix] = _centered_difference(f, x, ix, h)
        if verbose:
            print(ix, grad[ix])
    return grad


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Gradient of ``sum(f(x) * df)``: backpropagates the upstream gradient ``df`` numerically.

    Parameters
    ----------
    f : function of ``x`` returning an array; ``x`` is perturbed in place
    x : any shape; restored to its original values on return
    df : upstream gradient, the shape of ``f(x)``
    h : step size

    Returns
    -------
    grad : the shape of ``x``
    """
    grad = np.zeros_like(x)
    for ix in np.ndindex(x.shape):
        grad[ix] = np.sum(_centered_difference(f, x, ix, h) * df)
    return grad


def grad_check_sparse(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    analytic_grad: np.ndarray,
    num_checks: int = 10,
    h: float = 1e-5,
    *,
    seed: int | None = None,
) -> np.ndarray:
    """Compare ``analytic_grad`` with centered differences at ``num_checks`` random entries.

    Prints one line per entry in the classic format
    ``numerical: ... analytic: ..., relative error: ...``.

    Parameters
    ----------
    f : function of ``x`` returning a scalar; ``x`` is perturbed in place and restored
    x : any shape
    analytic_grad : the shape of ``x``
    num_checks : number of entries to check (drawn with replacement)
    h : step size
    seed : seed of the local generator that picks the entries (the global numpy state is untouched)

    Returns
    -------
    errors : (num_checks,) relative error at each checked entry
    """
    rng = np.random.default_rng(seed)
    errors = np.empty(num_checks)
    for k in range(num_checks):
        ix = tuple(int(rng.integers(size)) for size in x.shape)
        numerical = float(_centered_difference(f, x, ix, h))
        analytic = float(analytic_grad[ix])
        errors[k] = rel_error(numerical, analytic)
        print(f"numerical: {numerical:f} analytic: {analytic:f}, relative error: {errors[k]:e}")
    return errors


def rel_error(x: np.ndarray | float, y: np.ndarray | float) -> float:
    """Largest elementwise relative error ``|x - y| / max(1e-8, |x| + |y|)``."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _centered_difference(
    f: Callable[[np.ndarray], np.ndarray | float], x: np.ndarray, ix: tuple[int, ...], h: float
) -> np.ndarray:
    """``(f(x) at x[ix] + h  -  f(x) at x[ix] - h) / 2h``, restoring ``x[ix]`` even if ``f`` raises."""
    old = x[ix]
    try:
        x[ix] = old + h
        plus = np.array(f(x), dtype=float)  # a copy: f may return the same buffer every call
        x[ix] = old - h
        minus = np.array(f(x), dtype=float)
    finally:
        x[ix] = old
    return (plus - minus) / (2 * h)
