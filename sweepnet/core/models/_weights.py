"""Weight initialisation and L2 regularisation shared by the models."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

__all__ = ["add_l2", "normal_sampler"]


def normal_sampler(seed: int | None, rng: np.random.Generator | None) -> Callable[[tuple[int, ...]], np.ndarray]:
    """Return ``draw(shape) -> float64 array`` of standard normal samples.

    ``rng`` is used when given, else a generator seeded with ``seed``; with neither the global
    ``np.random`` state is used, as in the classic code.
    """
    if seed is not None and rng is not None:
        raise ValueError("give seed or rng, not both")
    if rng is None and seed is None:
        return lambda shape: np.random.randn(*shape)
    generator = rng if rng is not None else np.random.default_rng(seed)
    return generator.standard_normal


def add_l2(
    loss: float, grads: dict[str, np.ndarray], params: dict[str, np.ndarray], names: Iterable[str], reg: float
) -> float:
    """Add ``0.5 * reg * sum(W**2)`` of the weights ``names`` to ``loss`` and ``reg * W`` to their grads.

    Returns the regularised loss; ``grads`` is updated in place.
    """
    reg = float(reg)  # a numpy float64 scalar would upcast float32 gradients
    if reg == 0:
        return loss
    for name in names:
        w = params[name].ravel()
        loss += 0.5 * reg * float(np.dot(w, w))
        grads[name] += reg * params[name]
    return loss
