"""Small files in the real data set formats, for the tests of sweepnet.data."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np

from sweepnet.core.data_utils import save_CIFAR_batch, save_idx

__all__ = [
    "CIFAR_BATCH",
    "california_archive",
    "cifar_archive",
    "md5",
    "sha256",
    "write_california",
    "write_cifar",
    "write_mnist",
]

CIFAR_BATCH = 8  # images per batch; the originals hold 10000


def write_cifar(root: Path, batch: int = CIFAR_BATCH, test: int = 6, seed: int = 0) -> np.ndarray:
    """Write a cifar-10-batches-py folder; return its training rows, ``(5 * batch, 3072)`` uint8."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    data = rng.integers(0, 256, size=(5 * batch + test, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=len(data))
    for i in range(5):
        rows = slice(i * batch, (i + 1) * batch)
        save_CIFAR_batch(root / f"data_batch_{i + 1}", data[rows], labels[rows])
    save_CIFAR_batch(root / "test_batch", data[5 * batch :], labels[5 * batch :])
    return data[: 5 * batch]


def write_mnist(root: Path, n_train: int = 30, n_test: int = 10, gz: bool = True) -> None:
    """Write the four MNIST IDX files (gzipped when ``gz``) with random contents."""
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    save_idx(root / f"train-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    save_idx(root / f"train-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_train, dtype=np.uint8))
    save_idx(root / f"t10k-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    save_idx(root / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test, dtype=np.uint8))


def write_california(root: Path, rows: int = 100, seed: int = 0) -> np.ndarray:
    """Write ``cal_housing.data`` (and ``.domain``) as StatLib's ``CaliforniaHousing`` folder has
    them; return the table ``(rows, 9)``: longitude, latitude, median age, total rooms, total
    bedrooms, population, households, median income, median house value."""
    rng = np.random.default_rng(seed)
    table = np.column_stack(
        [
            rng.uniform(-124.3, -114.3, rows).round(2),
            rng.uniform(32.5, 42.0, rows).round(2),
            rng.integers(1, 52, rows),
            rng.integers(100, 5000, rows),
            rng.integers(20, 1000, rows),
            rng.integers(50, 3000, rows),
            rng.integers(20, 1000, rows),
            rng.uniform(0.5, 15.0, rows).round(4),
            rng.integers(15000, 500001, rows),
        ]
    ).astype(np.float64)
    root.mkdir(parents=True, exist_ok=True)
    lines = [",".join(f"{value:f}" for value in row) for row in table]
    (root / "cal_housing.data").write_text("\n".join(lines) + "\n", encoding="ascii")
    domain = ["longitude: continuous.", "latitude: continuous.", "housingMedianAge: continuous.",
              "totalRooms: continuous.", "totalBedrooms: continuous.", "population: continuous.",
              "households: continuous.", "medianIncome: continuous.", "medianHouseValue: continuous."]  # fmt: skip
    (root / "cal_housing.domain").write_text("\n".join(domain) + "\n", encoding="ascii")
    return table


def california_archive(folder: Path) -> bytes:
    """``cal_housing.tgz`` bytes: the folder under its top-level name ``CaliforniaHousing``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname="CaliforniaHousing")
    return buffer.getvalue()


def cifar_archive(folder: Path) -> bytes:
    """``cifar-10-python.tar.gz`` bytes: the folder under its top-level name ``cifar-10-batches-py``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-py")
    return buffer.getvalue()


def md5(data: bytes) -> str:
    """``"md5:<hex>"`` of ``data``, as a download source declares its checksum."""
    return "md5:" + hashlib.md5(data).hexdigest()


def sha256(data: bytes) -> str:
    """``"sha256:<hex>"`` of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()
