"""The base class of layer plugins: a forward/backward pair plus shape inference.

A layer plugin is the classic ``*_forward`` / ``*_backward`` pair wrapped in a class that also
says which parameters it needs for a given input shape, so a ``sequential`` model can be checked
and initialised from a list of layer specs before any training::

    class Gelu(Layer):
        "Gaussian error linear unit (tanh approximation)."

        def forward(self, x, params, mode):
            ...
            return out, cache

        def backward(self, dout, cache):
            return dx, {}

Shapes ``in_shape`` / ``out_shape`` exclude the batch dimension: an image layer sees ``(C, H, W)``
while its ``x`` is ``(N, C, H, W)``. Options are keyword arguments validated by ``Options``.

A layer whose test-mode output depends on more than its parameters (batchnorm's running
statistics) names those arrays in :meth:`Layer.state` and takes them back in
:meth:`Layer.load_state`: the Solver restores them with the parameters of the best epoch, and a
saved model keeps them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel

from sweepnet.options import NoOptions

__all__ = ["Layer", "Mode", "Params", "Shape", "ShapeError", "expect_ndim"]

Mode = Literal["train", "test"]
Params = dict[str, np.ndarray]
Shape = tuple[int, ...]


class ShapeError(ValueError):
    """A layer cannot take inputs of the given shape; raised by :meth:`Layer.init_params`.

    The message says what the layer expects and what it got, e.g.
    ``"expects input (C, H, W), got (100,)"``; the model builder adds the layer's position.
    """


class Layer(ABC):
    """A layer plugin; subclasses implement :meth:`forward` and :meth:`backward`.

    Class attributes
    ----------------
    Options : pydantic model (``extra="forbid"``) of the layer's config keys; the instance holds
        the validated values as ``self.options``.
    regularized : names of the parameters that get L2 regularisation, e.g. ``("W",)``.
    example_options : options the conformance kit (:mod:`sweepnet.testing`) builds the layer with.
    example_shapes : input shapes (without batch) the conformance kit checks the layer at.

    State that is not trained (batchnorm running statistics, a dropout generator) lives on the
    instance, so build one instance per place the layer is used. The part of it that
    test-mode :meth:`forward` reads is exposed by :meth:`state` / :meth:`load_state`.
    """

    Options: ClassVar[type[BaseModel]] = NoOptions
    regularized: ClassVar[tuple[str, ...]] = ()
    example_options: ClassVar[dict[str, Any]] = {}
    example_shapes: ClassVar[tuple[tuple[int, ...], ...]] = ((7,), (2, 3, 4))

    def __init__(self, **options: Any) -> None:
        self.options = self.Options(**options)

    def init_params(self, in_shape: Shape, rng: np.random.Generator, dtype: np.dtype | type) -> tuple[Params, Shape]:
        """Create the parameters for inputs of shape ``in_shape`` and infer the output shape.

        The default suits parameter-free layers that keep the shape (activations).

        Parameters
        ----------
        in_shape : shape of one input sample, e.g. ``(C, H, W)``.
        rng : the generator to draw initial weights (and any per-layer seed) from.
        dtype : dtype of the parameters.

        Returns
        -------
        params : name -> array, e.g. ``{"W": (D, M), "b": (M,)}``; ``{}`` for none.
        out_shape : shape of one output sample.

        Raises
        ------
        ShapeError
            when the layer cannot take inputs of shape ``in_shape``.
        """
        return {}, tuple(in_shape)

    @abstractmethod
    def forward(self, x: np.ndarray, params: Params, mode: Mode) -> tuple[np.ndarray, Any]:
        """Forward pass.

        Parameters
        ----------
        x : (N, *in_shape) inputs, float32 or float64.
        params : the arrays :meth:`init_params` created (possibly updated by training).
        mode : ``"train"`` or ``"test"`` (dropout and batchnorm behave differently).

        Returns
        -------
        out : (N, *out_shape), in the dtype of ``x``.
        cache : anything :meth:`backward` needs.
        """

    @abstractmethod
    def backward(self, dout: np.ndarray, cache: Any) -> tuple[np.ndarray, Params]:
        """Backward pass.

        Parameters
        ----------
        dout : (N, *out_shape) upstream gradient.
        cache : from :meth:`forward`.

        Returns
        -------
        dx : (N, *in_shape), gradient with respect to ``x``.
        grads : name -> gradient for each parameter, shaped like it.
        """

    def state(self) -> dict[str, np.ndarray]:
        """The arrays besides ``params`` that test-mode :meth:`forward` reads, name -> array.

        For batchnorm its ``running_mean`` and ``running_var``; the default, for layers whose
        test-mode output depends on their parameters alone, is ``{}``. Return copies (or arrays
        the layer never writes into again): the Solver keeps them as the best epoch's state.
        Randomness used in train mode only (a dropout generator) is not state.
        """
        return {}

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Make the layer's state what :meth:`state` returned, e.g. when restoring the best epoch.

        ``state`` may lack arrays that :meth:`state` would return now (a snapshot taken before the
        first training step): then the layer goes back to having none, as after ``init_params``.

        Raises
        ------
        ValueError
            for a name the layer does not know.
        """
        if state:
            raise ValueError(f"{type(self).__name__} has no state, got {', '.join(sorted(state))}")

    def __repr__(self) -> str:
        options = ", ".join(f"{key}={value!r}" for key, value in self.options.model_dump().items())
        return f"{type(self).__name__}({options})"


def expect_ndim(in_shape: Shape, ndim: int, layout: str, hint: str = "") -> None:
    """Raise :class:`ShapeError` unless ``in_shape`` has ``ndim`` dimensions.

    Parameters
    ----------
    in_shape : shape of one input sample.
    ndim : the number of dimensions the layer needs.
    layout : how the message names them, e.g. ``"(C, H, W)"``.
    hint : what to do instead, appended to the message, e.g. ``"add a flatten layer first"``.
    """
    if len(in_shape) != ndim:
        raise ShapeError(f"expects input {layout}, got {tuple(in_shape)}" + (f"; {hint}" if hint else ""))
