"""Loaders for the classic data set file formats: CIFAR-10 python batches and MNIST IDX files.

CIFAR-10 batches are pickles, so they are read through :class:`CifarUnpickler`, which only
rebuilds numpy arrays: a batch crafted to run code when unpickled is refused. The writers
(:func:`save_CIFAR_batch`, :func:`save_idx`) produce files in exactly the original formats, for
tests and benchmarks that cannot download the real data.
"""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from collections.abc import Iterator
from io import BufferedIOBase
from pathlib import Path

import numpy as np

__all__ = [
    "CIFAR10_CLASSES",
    "CifarUnpickler",
    "MNIST_FILES",
    "default_data_home",
    "get_CIFAR10_data",
    "get_MNIST_data",
    "load_CIFAR10",
    "load_CIFAR_batch",
    "load_MNIST",
    "read_CIFAR10",
    "read_idx",
    "save_CIFAR_batch",
    "save_idx",
]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_TEST_BATCHES = ("test_batch",)
_CIFAR_IMAGE = (3, 32, 32)

MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# IDX type codes (third byte of the magic number) -> big-endian numpy dtype.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def default_data_home() -> Path:
    """Where downloaded data sets live: ``$SWEEPNET_DATA``, else ``~/.sweepnet/data``."""
    return Path(os.environ.get("SWEEPNET_DATA") or "~/.sweepnet/data").expanduser()


# ---------------------------------------------------------------------------------------- CIFAR-10


# numpy's array reconstruction function, wherever this numpy version keeps it.
_RECONSTRUCT = np.empty(0).__reduce__()[0]


def _latin1_encode(text: str, encoding: str) -> bytes:
    # Python 3 pickles bytes at protocol 2 as ``_codecs.encode(text, "latin1")``; other codecs
    # (zlib, base64, ...) have no business in a CIFAR batch.
    if encoding.replace("-", "").lower() != "latin1":
        raise pickle.UnpicklingError(f"refusing _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


class CifarUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild numpy arrays and plain containers, and nothing else.

    CIFAR-10 batches hold a dict of bytes, lists of ints and one uint8 array, so the only
    globals they reference are numpy's array reconstruction, ``numpy.dtype`` and
    ``numpy.ndarray`` (plus ``_codecs.encode`` for bytes pickled by Python 3). Any other global
    (``os.system``, ``builtins.eval``, ...) raises ``pickle.UnpicklingError``.
    """

    _ALLOWED = {
        # The original files name numpy 1's module; numpy 2 pickles name numpy._core.
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[module, name]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}") from None


def _read_cifar_pickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            # encoding="bytes" keeps Python 2 str as bytes, as the official CIFAR-10 recipe does.
            batch = CifarUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise FileNotFoundError(f"CIFAR-10 batch not found: {path}") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as err:
        raise pickle.UnpicklingError(f"{path}: not a valid CIFAR-10 batch ({err})") from None
    if not isinstance(batch, dict):
        raise pickle.UnpicklingError(f"{path}: not a valid CIFAR-10 batch (a {type(batch).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _load_batch_arrays(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch as stored: ``data: (n, 3072) uint8`` (R, G, B planes, row-major), ``labels: (n,)``."""
    batch = _read_cifar_pickle(path)
    try:
        data, labels = batch["data"], np.asarray(batch["labels"], dtype=np.int64)
    except KeyError as err:
        raise pickle.UnpicklingError(f"{path}: not a valid CIFAR-10 batch (no {err.args[0]!r} entry)") from None
    except (TypeError, ValueError) as err:
        raise pickle.UnpicklingError(f"{path}: CIFAR-10 labels must be integers ({err})") from None
    if labels.ndim != 1 or not isinstance(data, np.ndarray) or data.shape != (len(labels), 3072):
        shape = getattr(data, "shape", type(data).__name__)
        raise pickle.UnpicklingError(f"{path}: 'data' is {shape}, expected ({len(labels)}, 3072) for its labels")
    if data.dtype != np.uint8:
        raise pickle.UnpicklingError(f"{path}: 'data' holds {data.dtype}, expected uint8 pixels")
    return data, labels


def _cifar_batches(root: str | os.PathLike, split: str) -> tuple[Path, ...]:
    names = {"train": _CIFAR_TRAIN_BATCHES, "test": _CIFAR_TEST_BATCHES}.get(split)
    if names is None:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return tuple(Path(root) / name for name in names)


def read_CIFAR10(
    root: str | os.PathLike, split: str = "train", count: int | None = None, dtype: np.dtype | type = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Read the first ``count`` images of a split, channels-first, with little memory.

    Batches are unpickled one at a time and converted straight into one preallocated array,
    so the peak is the result plus one uint8 batch. Batches beyond ``count`` are not read.

    Parameters
    ----------
    root : the ``cifar-10-batches-py`` folder.
    split : ``"train"`` (``data_batch_1`` .. ``data_batch_5``) or ``"test"`` (``test_batch``).
    count : number of images; ``None`` reads them all.
    dtype : dtype of the images.

    Returns
    -------
    X : (count, 3, 32, 32) pixel values in [0, 255].
    y : (count,) int64 labels in [0, 10).
    """
    paths = _cifar_batches(root, split)
    if count is None:
        # The total is only known after reading; uint8 batches are a quarter of a float32 result.
        loaded = [_load_batch_arrays(path) for path in paths]
        count = sum(len(labels) for _, labels in loaded)
        batches: Iterator[tuple[np.ndarray, np.ndarray]] = iter(loaded)
    else:
        batches = (_load_batch_arrays(path) for path in paths)
    X = np.empty((count, *_CIFAR_IMAGE), dtype=dtype)
    y = np.empty(count, dtype=np.int64)
    filled = 0
    for data, labels in batches:
        take = min(len(labels), count - filled)
        X[filled : filled + take] = data[:take].reshape(take, *_CIFAR_IMAGE)
        y[filled : filled + take] = labels[:take]
        filled += take
        if filled == count:
            break
    if filled < count:
        raise ValueError(f"{root} holds only {filled} {split} images, {count} requested")
    return X, y


def load_CIFAR_batch(filename: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Load one CIFAR-10 batch file like the classic loader.

    Returns
    -------
    X : (n, 32, 32, 3) float64, channels-last.
    Y : (n,) int64 labels.
    """
    data, labels = _load_batch_arrays(Path(filename))
    return data.reshape(-1, *_CIFAR_IMAGE).transpose(0, 2, 3, 1).astype(np.float64), labels


def load_CIFAR10(
    root: str | os.PathLike, dtype: np.dtype | type = np.float64
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load all of CIFAR-10 from the ``cifar-10-batches-py`` folder, channels-last, like the classic.

    Returns
    -------
    Xtr : (50000, 32, 32, 3) training images (a channels-last view of a channels-first array).
    Ytr : (50000,) int64 labels.
    Xte : (10000, 32, 32, 3) test images.
    Yte : (10000,) int64 labels.
    """
    Xtr, Ytr = read_CIFAR10(root, "train", dtype=dtype)
    Xte, Yte = read_CIFAR10(root, "test", dtype=dtype)
    return Xtr.transpose(0, 2, 3, 1), Ytr, Xte.transpose(0, 2, 3, 1), Yte


def get_CIFAR10_data(
    num_training: int = 49000,
    num_validation: int = 1000,
    num_test: int = 1000,
    subtract_mean: bool = True,
    cifar10_dir: str | os.PathLike | None = None,
    dtype: np.dtype | type = np.float32,
) -> dict[str, np.ndarray]:
    """The classic CIFAR-10 splits, channels-first, ready for the classifiers.

    Validation images are the ``num_validation`` training images after the first
    ``num_training``; test images are the first ``num_test`` of ``test_batch``. The mean image
    is computed on the training split only.

    Parameters
    ----------
    cifar10_dir : the ``cifar-10-batches-py`` folder; default ``<data home>/cifar-10-batches-py``
        (see :func:`default_data_home`).
    dtype : float32 by default (the classic used float64): half the memory, same pixel values.

    Returns
    -------
    data : ``X_train: (num_training, 3, 32, 32)``, ``y_train: (num_training,)``, and likewise
        ``X_val, y_val, X_test, y_test``.
    """
    root = Path(cifar10_dir) if cifar10_dir is not None else default_data_home() / "cifar-10-batches-py"
    X, y = read_CIFAR10(root, "train", num_training + num_validation, dtype)
    X_test, y_test = read_CIFAR10(root, "test", num_test, dtype)
    X_train, X_val = X[:num_training], X[num_training:]
    if subtract_mean:
        mean_image = X_train.mean(axis=0)
        for split in (X_train, X_val, X_test):
            split -= mean_image  # in place: these views cover arrays nobody else holds
    return {
        "X_train": X_train,
        "y_train": y[:num_training],
        "X_val": X_val,
        "y_val": y[num_training:],
        "X_test": X_test,
        "y_test": y_test,
    }


def save_CIFAR_batch(path: str | os.PathLike, data: np.ndarray, labels: np.ndarray, batch_label: str = "batch") -> None:
    """Write a batch exactly like the originals: a protocol-2 pickle of a dict with bytes keys.

    Parameters
    ----------
    data : (n, 3072) uint8, each row the R, G and B 32x32 planes.
    labels : (n,) integer labels in [0, 10).
    """
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(label) for label in labels],
        b"data": np.ascontiguousarray(data, dtype=np.uint8),
        b"filenames": [f"image_{i:05d}.png".encode() for i in range(len(labels))],
    }
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=2)


# ------------------------------------------------------------------------------------------- MNIST


def _open_maybe_gzip(path: Path) -> BufferedIOBase:
    with open(path, "rb") as f:
        gzipped = f.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not.

    Returns
    -------
    array : shape and dtype from the file header (MNIST: ``(n, 28, 28)`` or ``(n,)`` uint8),
        in native byte order.
    """
    path = Path(path)
    try:
        with _open_maybe_gzip(path) as f:
            raw = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file not found: {path}") from None
    except (OSError, EOFError) as err:  # a corrupt or truncated gzip stream
        raise ValueError(f"{path}: cannot read IDX file ({err})") from None
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise ValueError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    header = 4 + 4 * ndim
    shape = struct.unpack(f">{ndim}I", raw[4:header]) if len(raw) >= header else ()
    expected = header + dtype.itemsize * int(np.prod(shape))
    if len(shape) != ndim or len(raw) != expected:
        raise ValueError(f"{path}: truncated or corrupt IDX file ({len(raw)} bytes, header says {expected})")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def save_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write ``array`` as an IDX file; gzipped when ``compress`` is true (default: ``path`` ends in .gz)."""
    array = np.asarray(array)
    codes = {np.dtype(dtype).newbyteorder("="): code for code, dtype in _IDX_DTYPES.items()}
    code = codes.get(array.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX files cannot hold {array.dtype} data")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.astype(_IDX_DTYPES[code]).tobytes()
    compress = str(path).endswith(".gz") if compress is None else compress
    with (gzip.open if compress else open)(path, "wb") as f:
        f.write(payload)


def _mnist_file(root: Path, stem: str) -> Path:
    for name in (stem, f"{stem}.gz"):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"MNIST file not found: {root / stem}[.gz]")


def load_MNIST(root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load the four MNIST IDX files (each gzipped or not) from ``root``.

    Returns
    -------
    Xtr : (60000, 28, 28) uint8.
    Ytr : (60000,) uint8 labels.
    Xte : (10000, 28, 28) uint8.
    Yte : (10000,) uint8 labels.
    """
    root = Path(root)
    arrays = {key: read_idx(_mnist_file(root, stem)) for key, stem in MNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{root}: MNIST {split} images {images.shape} do not match labels {labels.shape}")
    return arrays["train_images"], arrays["train_labels"], arrays["test_images"], arrays["test_labels"]


def get_MNIST_data(
    num_training: int = 50000,
    num_validation: int = 10000,
    num_test: int = 10000,
    subtract_mean: bool = False,
    mnist_dir: str | os.PathLike | None = None,
    dtype: np.dtype | type = np.float32,
) -> dict[str, np.ndarray]:
    """The classic 50000 / 10000 / 10000 MNIST split, flattened and scaled to [0, 1].

    Validation images are the last training images after the first ``num_training``
    (the split of the well-known ``mnist.pkl.gz``); test images are the first ``num_test``.

    Parameters
    ----------
    mnist_dir : folder of the four IDX files; default ``<data home>/mnist``.

    Returns
    -------
    data : ``X_train: (num_training, 784)``, ``y_train: (num_training,)`` int64, and likewise
        ``X_val, y_val, X_test, y_test``.
    """
    root = Path(mnist_dir) if mnist_dir is not None else default_data_home() / "mnist"
    Xtr, Ytr, Xte, Yte = load_MNIST(root)
    if num_training + num_validation > len(Xtr) or num_test > len(Xte):
        raise ValueError(
            f"{root} holds {len(Xtr)} training and {len(Xte)} test images; requested "
            f"{num_training} + {num_validation} and {num_test}"
        )

    def rows(images: np.ndarray, start: int, stop: int) -> np.ndarray:
        return np.divide(images[start:stop].reshape(stop - start, -1), 255, dtype=dtype)

    data = {
        "X_train": rows(Xtr, 0, num_training),
        "y_train": Ytr[:num_training].astype(np.int64),
        "X_val": rows(Xtr, num_training, num_training + num_validation),
        "y_val": Ytr[num_training : num_training + num_validation].astype(np.int64),
        "X_test": rows(Xte, 0, num_test),
        "y_test": Yte[:num_test].astype(np.int64),
    }
    if subtract_mean:
        mean_image = data["X_train"].mean(axis=0)
        for split in ("X_train", "X_val", "X_test"):
            data[split] -= mean_image
    return data
