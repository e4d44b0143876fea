"""Built-in model plugins: the classic nets and classifiers of :mod:`sweepnet.core`, and ``sequential``.

Solver-trained: ``fc`` (FullyConnectedNet), ``two_layer`` (TwoLayerNet), ``three_layer_convnet``
(ThreeLayerConvNet), ``sequential`` (any stack of layer plugins). Classic: ``knn``, ``linear_svm``,
``softmax``, wrapped to expose ``fit(X, y) -> loss_history``, ``predict(X)`` and ``params``.
Sizes come from the data set's :class:`~sweepnet.data.DatasetMeta`; inputs are flattened where
a model needs vectors.
"""

from __future__ import annotations

import itertools
import math
from typing import Annotated, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator

from sweepnet import hookimpl
from sweepnet.core.classifiers import KNearestNeighbor, LinearClassifier, LinearSVM, Softmax
from sweepnet.core.models import FullyConnectedNet, ThreeLayerConvNet, TwoLayerNet
from sweepnet.data import DatasetMeta
from sweepnet.errors import ConfigError
from sweepnet.model import LossName, ModelPlugin, num_outputs, require_classification, resolve_loss
from sweepnet.plugins.sequential import SequentialPlugin
from sweepnet.registry import Registry

__all__ = [
    "FullyConnectedNetPlugin",
    "KNNModel",
    "KNearestNeighborPlugin",
    "LinearModel",
    "LinearOptions",
    "LinearSVMPlugin",
    "SoftmaxPlugin",
    "ThreeLayerConvNetPlugin",
    "TwoLayerNetPlugin",
    "sweepnet_register_models",
]

_DType = np.dtype | type


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- Solver-trained nets


class FullyConnectedNetPlugin(ModelPlugin["FullyConnectedNetPlugin.Options"]):
    """Fully connected net {affine - [norm] - relu - [dropout]} x L - affine, any number of layers."""

    class Options(_Options):
        hidden_dims: list[PositiveInt] = [100, 100]
        dropout_keep_ratio: Annotated[float, Field(gt=0, le=1)] = 1.0
        normalization: Literal["batchnorm", "layernorm"] | None = None
        reg: NonNegativeFloat = 0.0
        weight_scale: PositiveFloat = 1e-2
        loss: LossName | None = None

    def count_params(self, options: Options, meta: DatasetMeta) -> int:
        """Weights and biases of every affine layer, plus a scale and shift per normalised unit."""
        dims = [math.prod(meta.input_shape), *options.hidden_dims, num_outputs(meta)]
        affine = sum((fan_in + 1) * fan_out for fan_in, fan_out in itertools.pairwise(dims))
        return affine + (2 * sum(options.hidden_dims) if options.normalization else 0)

    def _build(
        self, options: Options, meta: DatasetMeta, rng: np.random.Generator, dtype: np.dtype
    ) -> FullyConnectedNet:
        """A FullyConnectedNet over flattened inputs; regression data sets train with the mse loss."""
        return FullyConnectedNet(
            options.hidden_dims,
            input_dim=math.prod(meta.input_shape),
            num_classes=num_outputs(meta),
            dropout_keep_ratio=options.dropout_keep_ratio,
            normalization=options.normalization,
            reg=options.reg,
            weight_scale=options.weight_scale,
            dtype=dtype,
            loss=resolve_loss(options.loss, meta),
            rng=rng,  # not seed=: that would freeze the dropout mask
        )


class TwoLayerNetPlugin(ModelPlugin["TwoLayerNetPlugin.Options"]):
    """Two-layer net affine - relu - affine - softmax (classification)."""

    class Options(_Options):
        hidden_dim: PositiveInt = 100
        weight_scale: PositiveFloat = 1e-3
        reg: NonNegativeFloat = 0.0

    def count_params(self, options: Options, meta: DatasetMeta) -> int:
        """``W1 b1 W2 b2``."""
        return (math.prod(meta.input_shape) + 1) * options.hidden_dim + (options.hidden_dim + 1) * num_outputs(meta)

    def _build(self, options: Options, meta: DatasetMeta, rng: np.random.Generator, dtype: np.dtype) -> TwoLayerNet:
        """A TwoLayerNet over flattened inputs, its parameters cast to ``dtype``."""
        require_classification(meta, "two_layer")
        net = TwoLayerNet(
            input_dim=math.prod(meta.input_shape),
            hidden_dim=options.hidden_dim,
            num_classes=num_outputs(meta),
            weight_scale=options.weight_scale,
            reg=options.reg,
            rng=rng,
        )
        net.params = {name: value.astype(dtype) for name, value in net.params.items()}
        return net


class ThreeLayerConvNetPlugin(ModelPlugin["ThreeLayerConvNetPlugin.Options"]):
    """Conv net conv - relu - 2x2 max pool - affine - relu - affine - softmax (image classification)."""

    class Options(_Options):
        num_filters: PositiveInt = 32
        filter_size: PositiveInt = 7
        hidden_dim: PositiveInt = 100
        weight_scale: PositiveFloat = 1e-3
        reg: NonNegativeFloat = 0.0

        @field_validator("filter_size")
        @classmethod
        def _odd(cls, size: int) -> int:
            if size % 2 == 0:
                raise ValueError("must be odd, so that the padding keeps the image size")
            return size

    def count_params(self, options: Options, meta: DatasetMeta) -> int:
        """``W1 b1`` of the convolution, ``W2 b2`` after the 2x2 pool, ``W3 b3``."""
        channels, height, width = _images(meta)
        filters, size, hidden = options.num_filters, options.filter_size, options.hidden_dim
        conv = filters * (channels * size * size + 1)
        return conv + (filters * (height // 2) * (width // 2) + 1) * hidden + (hidden + 1) * num_outputs(meta)

    def _build(
        self, options: Options, meta: DatasetMeta, rng: np.random.Generator, dtype: np.dtype
    ) -> ThreeLayerConvNet:
        """A ThreeLayerConvNet for images of shape ``meta.input_shape == (C, H, W)``."""
        require_classification(meta, "three_layer_convnet")
        return ThreeLayerConvNet(
            input_dim=_images(meta),
            num_filters=options.num_filters,
            filter_size=options.filter_size,
            hidden_dim=options.hidden_dim,
            num_classes=num_outputs(meta),
            weight_scale=options.weight_scale,
            reg=options.reg,
            dtype=dtype,
            rng=rng,
        )


def _images(meta: DatasetMeta) -> tuple[int, int, int]:
    """``(C, H, W)`` of the data set's inputs; a ConfigError when they are not images."""
    if len(meta.input_shape) != 3:
        raise ConfigError(
            "model.name",
            f"three_layer_convnet needs images (C, H, W), but {meta.name!r} has inputs {tuple(meta.input_shape)}",
        )
    channels, height, width = meta.input_shape
    return channels, height, width


# --------------------------------------------------------------------------- classic classifiers


def _flat(X: np.ndarray) -> np.ndarray:
    """(N, d_1, ..., d_k) -> (N, D): the classic classifiers take row vectors."""
    return X.reshape(X.shape[0], -1)


class KNNModel:
    """kNN behind the classic-model interface; it has no trained parameters (``params == {}``)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.classifier = KNearestNeighbor()
        self.params: dict[str, np.ndarray] = {}

    def fit(self, X: np.ndarray, y: np.ndarray) -> list[float]:
        """Memorise ``X: (N, ...)``, ``y: (N,)``; there is no loss."""
        self.classifier.train(_flat(X), y)
        return []

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Majority label of the ``k`` nearest training samples, ``(N,)``."""
        return self.classifier.predict(_flat(X), k=self.k)


class LinearModel:
    """A linear classifier (SVM or softmax) behind the classic-model interface.

    ``W: (D, C)`` is created at the first :meth:`fit` for all ``num_classes`` classes, even those
    missing from a small training subset; assigning ``params`` loads a trained one.
    """

    def __init__(
        self,
        classifier: LinearClassifier,
        options: LinearOptions,
        num_classes: int,
        rng: np.random.Generator,
        dtype: _DType,
    ) -> None:
        self.classifier, self.options, self.num_classes = classifier, options, num_classes
        self.rng, self.dtype = rng, dtype

    @property
    def params(self) -> dict[str, np.ndarray]:
        """``{"W": (D, C)}`` once fitted, ``{}`` before."""
        return {} if self.classifier.W is None else {"W": self.classifier.W}

    @params.setter
    def params(self, params: dict[str, np.ndarray]) -> None:
        self.classifier.W = params.get("W")

    @property
    def loss_name(self) -> str:
        """``"svm"`` or ``"softmax"``: the loss it trains with."""
        return "svm" if isinstance(self.classifier, LinearSVM) else "softmax"

    def fit(self, X: np.ndarray, y: np.ndarray) -> list[float]:
        """Minibatch SGD on ``X: (N, ...)``, ``y: (N,)``; returns the loss of every iteration."""
        X = _flat(X).astype(self.dtype, copy=False)
        if self.classifier.W is None:
            self.classifier.W = (0.001 * self.rng.standard_normal((X.shape[1], self.num_classes))).astype(self.dtype)
        return self.classifier.train(X, y, **self.options.model_dump(), seed=self.rng)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Highest-scoring class, ``(N,)``."""
        return self.classifier.predict(_flat(X).astype(self.dtype, copy=False))

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Class scores ``(N, C) = X @ W`` for ``X: (N, ...)``, which :meth:`predict` takes the argmax of."""
        return _flat(X).astype(self.dtype, copy=False) @ self.classifier.W


class KNearestNeighborPlugin(ModelPlugin["KNearestNeighborPlugin.Options"]):
    """k-nearest-neighbour classifier with L2 distances."""

    class Options(_Options):
        k: PositiveInt = 1

    trainer = "classic"

    def count_params(self, options: Options, meta: DatasetMeta) -> int:
        """None of its own: kNN keeps a reference to the training data."""
        return 0

    def _build(self, options: Options, meta: DatasetMeta, rng: np.random.Generator, dtype: np.dtype) -> KNNModel:
        """A kNN classifier voting among ``options.k`` neighbours (nothing random)."""
        require_classification(meta, "knn")
        return KNNModel(options.k)


class LinearOptions(_Options):
    """Training options of the linear classifiers (those of ``LinearClassifier.train``)."""

    learning_rate: PositiveFloat = 1e-3
    reg: NonNegativeFloat = 1e-5
    num_iters: PositiveInt = 100
    batch_size: PositiveInt = 200


class _LinearPlugin(ModelPlugin["LinearOptions"]):
    Options = LinearOptions
    trainer = "classic"
    name: ClassVar[str]
    classifier: ClassVar[type[LinearClassifier]]

    def count_params(self, options: LinearOptions, meta: DatasetMeta) -> int:
        """``W: (D, C)`` over flattened inputs."""
        return math.prod(meta.input_shape) * num_outputs(meta)

    def _build(
        self, options: LinearOptions, meta: DatasetMeta, rng: np.random.Generator, dtype: np.dtype
    ) -> LinearModel:
        """A linear classifier for ``meta.num_classes`` classes over flattened inputs."""
        require_classification(meta, self.name)
        return LinearModel(self.classifier(), options, num_outputs(meta), rng, dtype)


class LinearSVMPlugin(_LinearPlugin):
    """Linear classifier trained with the multiclass SVM (hinge) loss."""

    name = "linear_svm"
    classifier = LinearSVM


class SoftmaxPlugin(_LinearPlugin):
    """Linear classifier trained with the softmax (cross-entropy) loss."""

    name = "softmax"
    classifier = Softmax


_MODELS: dict[str, type[ModelPlugin]] = {
    "fc": FullyConnectedNetPlugin,
    "two_layer": TwoLayerNetPlugin,
    "three_layer_convnet": ThreeLayerConvNetPlugin,
    "sequential": SequentialPlugin,
    "knn": KNearestNeighborPlugin,
    "linear_svm": LinearSVMPlugin,
    "softmax": SoftmaxPlugin,
}


@hookimpl
def sweepnet_register_models(registry: Registry) -> None:
    """Register every built-in model."""
    for name, model in _MODELS.items():
        registry.add(name, model)
