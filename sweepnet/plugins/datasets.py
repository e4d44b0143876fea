"""The built-in dataset plugins.

Each plugin only loads raw train / val / test splits in their natural shape (images
``(N, C, H, W)`` float32); ``sweepnet.data.load_dataset`` applies the generic preprocessing.
Bundled: ``digits``, ``diabetes`` (scikit-learn) and ``synthetic``; downloaded with
``sweepnet data download NAME`` from the ``source`` each declares: ``cifar10``, ``mnist``,
``california_housing``. No downloaded file is ever unpickled.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from sweepnet import hookimpl
from sweepnet.core.data_utils import CIFAR10_CLASSES, MNIST_FILES, load_MNIST, read_CIFAR10
from sweepnet.data import Dataset, DatasetMeta, DatasetPlugin
from sweepnet.data.download import DownloadSource, RemoteFile, require
from sweepnet.errors import DataError

if TYPE_CHECKING:
    from sweepnet.registry import Registry

__all__ = [
    "BUILTIN_DATASETS",
    "MAX_SYNTHETIC_BYTES",
    "CaliforniaHousing",
    "Cifar10",
    "Cifar10Options",
    "Diabetes",
    "Digits",
    "Mnist",
    "MnistOptions",
    "Synthetic",
    "SyntheticOptions",
    "read_california_housing",
    "sweepnet_register_datasets",
]

MAX_SYNTHETIC_BYTES = 2**31
"""Largest input array the ``synthetic`` data set generates (2 GiB), checked before generating it."""
_SPLIT_SEED = 0
_DIGIT_NAMES = tuple(str(d) for d in range(10))


def _split(
    X: np.ndarray, y: np.ndarray, *, val: float, test: float, stratify: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and split into train / val / test fractions, always the same way."""
    from sklearn.model_selection import train_test_split

    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=test, random_state=_SPLIT_SEED, stratify=y if stratify else None
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=val / (1 - test), random_state=_SPLIT_SEED, stratify=y_rest if stratify else None
    )
    return X_train, y_train, X_val, y_val, X_test, y_test


class Digits(DatasetPlugin):
    """scikit-learn's bundled 8x8 handwritten digits (1797 images, 10 classes).

    Images ``(N, 1, 8, 8)`` float32, intensities scaled from 0..16 to [0, 1]; labels 0..9.
    Fixed split: stratified 70 / 10 / 20 % (1257 / 180 / 360 images), shuffled with seed 0.
    """

    def load(self, options: BaseModel, *, data_home: Path) -> Dataset:
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        X = (X / 16).astype(np.float32).reshape(-1, 1, 8, 8)
        meta = DatasetMeta("digits", "classification", (1, 8, 8), num_classes=10, class_names=_DIGIT_NAMES)
        return Dataset(meta, *_split(X, y.astype(np.int64), val=0.1, test=0.2, stratify=True))


class Diabetes(DatasetPlugin):
    """scikit-learn's bundled diabetes regression data (442 patients, 10 features).

    ``X: (N, 10)`` float32 as scikit-learn ships it (each feature mean-centred, unit norm);
    ``y: (N,)`` float32 disease progression after one year (25..346).
    Fixed split: 60 / 20 / 20 % (264 / 89 / 89), shuffled with seed 0.
    """

    def load(self, options: BaseModel, *, data_home: Path) -> Dataset:
        from sklearn.datasets import load_diabetes

        X, y = load_diabetes(return_X_y=True)
        meta = DatasetMeta("diabetes", "regression", (10,))
        return Dataset(meta, *_split(X.astype(np.float32), y.astype(np.float32), val=0.2, test=0.2, stratify=False))


class CaliforniaHousing(DatasetPlugin):
    """California housing (20640 districts, 8 features), the StatLib original as scikit-learn serves it.

    ``sweepnet data download california_housing`` fetches ``cal_housing.tgz`` from the URL (and
    checksum) scikit-learn's ``fetch_california_housing`` uses; its text file ``cal_housing.data``
    is parsed here (scikit-learn's own cache is a pickle, and is never read). The features are
    scikit-learn's: ``X: (N, 8)`` float32 MedInc, HouseAge, AveRooms, AveBedrms, Population,
    AveOccup, Latitude, Longitude; ``y: (N,)`` float32 median house value in units of $100,000.
    Fixed split: 60 / 20 / 20 %, shuffled with seed 0.
    """

    source = DownloadSource(
        folder="california_housing",
        files=(
            RemoteFile(
                "cal_housing.tgz",
                "sha256:aaa5c9a6afe2225cc2aed2723682ae403280c4a3695a2ddda4ffb5d8215ea681",
                size=441_000,  # about; the cap adds 1 MiB
                url="https://ndownloader.figshare.com/files/5976036",
            ),
        ),
        required=("cal_housing.data",),
        archive_root="CaliforniaHousing",
    )

    def load(self, options: BaseModel, *, data_home: Path) -> Dataset:
        path = require("california_housing", self.source, data_home) / "cal_housing.data"
        X, y = read_california_housing(path)
        meta = DatasetMeta("california_housing", "regression", (8,))
        return Dataset(meta, *_split(X, y, val=0.2, test=0.2, stratify=False))


def read_california_housing(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Parse ``cal_housing.data`` into scikit-learn's features and target.

    The file has one district per line, nine comma-separated numbers: longitude, latitude,
    median age, total rooms, total bedrooms, population, households, median income, median
    house value.

    Returns
    -------
    X : (N, 8) float32: MedInc, HouseAge, AveRooms, AveBedrms, Population, AveOccup, Latitude, Longitude.
    y : (N,) float32 median house value / 100,000.

    Raises
    ------
    DataError
        naming ``path`` when it is not such a table.
    """
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2, encoding="ascii")
    except (OSError, ValueError, UnicodeDecodeError) as err:
        raise DataError(f"california_housing: cannot read {path}: {' '.join(str(err).split())}") from None
    if table.shape[1] != 9 or len(table) == 0 or not np.isfinite(table).all() or (table[:, 6] <= 0).any():
        raise DataError(
            f"california_housing: {path} is not the StatLib table (9 finite numbers per line, households > 0); "
            f"got {table.shape[1]} columns"
        )
    lon, lat, age, rooms, bedrooms, population, households, income, value = table.T
    X = np.column_stack(
        [income, age, rooms / households, bedrooms / households, population, population / households, lat, lon]
    )
    return X.astype(np.float32), (value / 100_000).astype(np.float32)


class _SplitCounts(BaseModel):
    model_config = ConfigDict(extra="forbid")

    num_training: PositiveInt
    num_validation: PositiveInt
    num_test: PositiveInt

    # Images in the files: the training files feed both the train and the val split.
    _TRAIN_IMAGES: ClassVar[int]
    _TEST_IMAGES: ClassVar[int]

    @model_validator(mode="after")
    def _fits(self) -> _SplitCounts:
        if self.num_training + self.num_validation > self._TRAIN_IMAGES:
            raise ValueError(f"num_training + num_validation must be at most {self._TRAIN_IMAGES}")
        if self.num_test > self._TEST_IMAGES:
            raise ValueError(f"num_test must be at most {self._TEST_IMAGES}")
        return self


class Cifar10Options(_SplitCounts):
    """Split sizes; validation images are the training-batch images after the first ``num_training``."""

    num_training: PositiveInt = 49000
    num_validation: PositiveInt = 1000
    num_test: PositiveInt = 1000

    _TRAIN_IMAGES = 50000
    _TEST_IMAGES = 10000


class Cifar10(DatasetPlugin[Cifar10Options]):
    """CIFAR-10 from the data home's cifar-10-batches-py folder (sweepnet data download cifar10).

    Images ``(N, 3, 32, 32)`` float32 with pixel values 0..255; labels 0..9. The classic split:
    the first 49000 images of the training batches for training, the next 1000 for validation,
    the first 1000 of ``test_batch`` for testing (see :class:`Cifar10Options`). Batches are
    unpickled by a restricted unpickler that only rebuilds numpy arrays.
    """

    Options = Cifar10Options
    source = DownloadSource(
        folder="cifar-10-batches-py",
        base_url="https://www.cs.toronto.edu/~kriz/",
        files=(RemoteFile("cifar-10-python.tar.gz", "md5:c58f30108f718f92721af3b95e74349a", size=170_498_071),),
        required=(*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"),
        archive_root="cifar-10-batches-py",
    )

    def load(self, options: Cifar10Options, *, data_home: Path) -> Dataset:
        root = require("cifar10", self.source, data_home)
        try:
            X, y = read_CIFAR10(root, "train", options.num_training + options.num_validation)
            X_test, y_test = read_CIFAR10(root, "test", options.num_test)
        except (pickle.UnpicklingError, ValueError, OSError) as err:
            raise DataError(f"cifar10: {err}") from None
        n = options.num_training
        meta = DatasetMeta("cifar10", "classification", (3, 32, 32), num_classes=10, class_names=CIFAR10_CLASSES)
        # Train and val are views of one array: no copy of the 600 MB training images.
        return Dataset(meta, X[:n], y[:n], X[n:], y[n:], X_test, y_test)


class MnistOptions(_SplitCounts):
    """Split sizes; validation images are the training images after the first ``num_training``."""

    num_training: PositiveInt = 50000
    num_validation: PositiveInt = 10000
    num_test: PositiveInt = 10000

    _TRAIN_IMAGES = 60000
    _TEST_IMAGES = 10000


class Mnist(DatasetPlugin[MnistOptions]):
    """MNIST from the four IDX files in the data home's mnist folder (gzipped or not).

    Images ``(N, 1, 28, 28)`` float32 scaled to [0, 1]; labels 0..9. The classic
    50000 / 10000 / 10000 split: validation is the last 10000 training images.
    """

    Options = MnistOptions
    source = DownloadSource(
        folder="mnist",
        base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873", size=9_912_422),
            RemoteFile("train-labels-idx1-ubyte.gz", "md5:d53e105ee54ea40749a09fcbcd1e9432", size=28_881),
            RemoteFile("t10k-images-idx3-ubyte.gz", "md5:9fb629c4189551a2d022fa330f9573f3", size=1_648_877),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "md5:ec29112dd5afa0611ce80d1b7f02629c", size=4_542),
        ),
        required=tuple(f"{stem}|{stem}.gz" for stem in MNIST_FILES.values()),
    )

    def load(self, options: MnistOptions, *, data_home: Path) -> Dataset:
        root = require("mnist", self.source, data_home)
        try:
            Xtr, ytr, Xte, yte = load_MNIST(root)
        except (ValueError, OSError) as err:
            raise DataError(f"mnist: {err}") from None
        n, m = options.num_training, options.num_training + options.num_validation
        if m > len(Xtr) or options.num_test > len(Xte):
            raise DataError(
                f"mnist: {root} holds {len(Xtr)} training and {len(Xte)} test images; "
                f"the options ask for {m} and {options.num_test}"
            )

        def images(raw: np.ndarray) -> np.ndarray:
            return np.divide(raw[:, None], 255, dtype=np.float32)

        meta = DatasetMeta("mnist", "classification", (1, 28, 28), num_classes=10, class_names=_DIGIT_NAMES)
        labels = ytr.astype(np.int64)
        return Dataset(
            meta,
            images(Xtr[:n]),
            labels[:n],
            images(Xtr[n:m]),
            labels[n:m],
            images(Xte[: options.num_test]),
            yte[: options.num_test].astype(np.int64),
        )


class SyntheticOptions(BaseModel):
    """Options of :class:`Synthetic`."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["classification", "regression"] = "classification"
    num_classes: int = Field(default=3, ge=2)
    num_features: PositiveInt = 2
    input_shape: tuple[PositiveInt, ...] | None = None
    num_outputs: PositiveInt = 1
    num_training: PositiveInt = 200
    num_validation: PositiveInt = 50
    num_test: PositiveInt = 50
    cluster_std: PositiveFloat = 1.0
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"

    @model_validator(mode="after")
    def _fits(self) -> SyntheticOptions:
        samples = self.num_training + self.num_validation + self.num_test
        features = math.prod(self.input_shape) if self.input_shape is not None else self.num_features
        size = samples * features * np.dtype(self.dtype).itemsize
        if size > MAX_SYNTHETIC_BYTES:
            raise ValueError(
                f"{samples:,} samples of {features:,} {self.dtype} values are {size / 2**30:,.1f} GiB; "
                f"at most {MAX_SYNTHETIC_BYTES / 2**30:g} GiB are generated"
            )
        return self


class Synthetic(DatasetPlugin[SyntheticOptions]):
    """Generated Gaussian blobs or random tensors for tests and benchmarks, seeded.

    Without ``input_shape``: Gaussian blobs, ``X: (N, num_features)``, one blob per class
    (classification), or a noisy linear function of Gaussian inputs (regression). With
    ``input_shape``: standard normal tensors ``X: (N, *input_shape)`` with uniformly random labels
    (classification) or standard normal targets (regression). Regression targets are ``(N,)``
    when ``num_outputs == 1``, else ``(N, num_outputs)``. The splits are consecutive slices.
    """

    Options = SyntheticOptions

    def load(self, options: SyntheticOptions, *, data_home: Path) -> Dataset:
        a = options.num_training
        b = a + options.num_validation
        total = b + options.num_test
        X, y = _generate(options, total)
        shape = options.input_shape or (options.num_features,)
        if options.task == "classification":
            y = y.astype(np.int64)
            meta = DatasetMeta("synthetic", "classification", shape, num_classes=options.num_classes)
        else:
            y = y.astype(options.dtype)
            y = y.reshape(total) if options.num_outputs == 1 else y
            meta = DatasetMeta("synthetic", "regression", shape, num_outputs=options.num_outputs)
        X = X.astype(options.dtype, copy=False)
        return Dataset(meta, X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:])


def _generate(options: SyntheticOptions, n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(options.seed)
    if options.input_shape is not None:  # drawn in the final dtype: no second copy of a big set
        X: np.ndarray = rng.standard_normal((n, *options.input_shape), dtype=np.dtype(options.dtype))
        if options.task == "classification":
            return X, rng.integers(options.num_classes, size=n)
        return X, rng.standard_normal((n, options.num_outputs))
    if options.task == "classification":
        from sklearn.datasets import make_blobs

        return make_blobs(
            n,
            options.num_features,
            centers=options.num_classes,
            cluster_std=options.cluster_std,
            random_state=options.seed,
        )
    X = rng.standard_normal((n, options.num_features))
    weights = rng.standard_normal((options.num_features, options.num_outputs))
    return X, X @ weights + 0.1 * rng.standard_normal((n, options.num_outputs))


BUILTIN_DATASETS: dict[str, type[DatasetPlugin]] = {
    "digits": Digits,
    "diabetes": Diabetes,
    "synthetic": Synthetic,
    "cifar10": Cifar10,
    "mnist": Mnist,
    "california_housing": CaliforniaHousing,
}


@hookimpl
def sweepnet_register_datasets(registry: Registry) -> None:
    """Register the built-in dataset plugins."""
    for name, cls in BUILTIN_DATASETS.items():
        registry.add(name, cls)
