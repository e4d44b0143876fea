"""The classic loaders read files written exactly like the originals, and refuse crafted pickles."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct

import numpy as np
import pytest

from sweepnet.core.data_utils import (
    CifarUnpickler,
    get_CIFAR10_data,
    get_MNIST_data,
    load_CIFAR10,
    load_CIFAR_batch,
    load_MNIST,
    read_CIFAR10,
    read_idx,
    save_CIFAR_batch,
    save_idx,
)

BATCH = 8  # images per training batch in these small stand-ins for the 10000-image originals


def _write_cifar(root, batch=BATCH, test=6, seed=0):
    """A cifar-10-batches-py folder; returns the raw rows and labels that were written."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    data = rng.integers(0, 256, size=(5 * batch + test, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, size=5 * batch + test)
    for i in range(5):
        rows = slice(i * batch, (i + 1) * batch)
        save_CIFAR_batch(root / f"data_batch_{i + 1}", data[rows], labels[rows], f"training batch {i + 1} of 5")
    save_CIFAR_batch(root / "test_batch", data[5 * batch :], labels[5 * batch :], "testing batch 1 of 1")
    return data[: 5 * batch], labels[: 5 * batch], data[5 * batch :], labels[5 * batch :]


def test_written_batch_has_the_original_layout(tmp_path):
    save_CIFAR_batch(tmp_path / "b", np.zeros((2, 3072), np.uint8), [3, 4])
    with open(tmp_path / "b", "rb") as f:
        raw = f.read()
    assert raw[:2] == b"\x80\x02"  # protocol 2
    batch = pickle.loads(raw, encoding="bytes")
    assert set(batch) == {b"batch_label", b"labels", b"data", b"filenames"}
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (2, 3072)


def test_load_CIFAR10_is_channels_last_and_in_batch_order(tmp_path):
    train, ytrain, test, ytest = _write_cifar(tmp_path)
    Xtr, Ytr, Xte, Yte = load_CIFAR10(tmp_path)
    assert Xtr.shape == (5 * BATCH, 32, 32, 3) and Xte.shape == (6, 32, 32, 3)
    assert Xtr.dtype == np.float64
    # A row holds the R, G and B planes, each 32x32 row-major.
    i, h, w, c = 11, 5, 30, 2
    assert Xtr[i, h, w, c] == train[i, c * 1024 + h * 32 + w]
    channels_last_rows = train.reshape(-1, 3, 1024).transpose(0, 2, 1).reshape(len(train), -1)
    np.testing.assert_array_equal(Xtr.reshape(len(Xtr), -1), channels_last_rows)
    np.testing.assert_array_equal(Ytr, ytrain)
    np.testing.assert_array_equal(Yte, ytest)
    np.testing.assert_array_equal(Xte.transpose(0, 3, 1, 2).reshape(len(test), -1), test)


def test_load_CIFAR_batch_is_the_classic_single_batch_loader(tmp_path):
    train, labels, _, _ = _write_cifar(tmp_path)
    X, Y = load_CIFAR_batch(tmp_path / "data_batch_2")
    assert X.shape == (BATCH, 32, 32, 3) and X.dtype == np.float64
    np.testing.assert_array_equal(X.transpose(0, 3, 1, 2).reshape(BATCH, -1), train[BATCH : 2 * BATCH])
    np.testing.assert_array_equal(Y, labels[BATCH : 2 * BATCH])


def test_read_CIFAR10_fills_a_channels_first_float32_array(tmp_path):
    train, labels, _, _ = _write_cifar(tmp_path)
    X, y = read_CIFAR10(tmp_path, "train", count=13)
    assert X.shape == (13, 3, 32, 32) and X.dtype == np.float32 and X.flags.c_contiguous
    np.testing.assert_array_equal(X.reshape(13, -1), train[:13])
    np.testing.assert_array_equal(y, labels[:13])


def test_read_CIFAR10_does_not_read_batches_it_does_not_need(tmp_path):
    _write_cifar(tmp_path)
    for i in (3, 4, 5):
        os.remove(tmp_path / f"data_batch_{i}")
    X, _ = read_CIFAR10(tmp_path, "train", count=2 * BATCH)
    assert len(X) == 2 * BATCH
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        read_CIFAR10(tmp_path, "train", count=2 * BATCH + 1)


def test_read_CIFAR10_rejects_more_images_than_the_files_hold(tmp_path):
    _write_cifar(tmp_path)
    with pytest.raises(ValueError, match="only 6 test images, 7 requested"):
        read_CIFAR10(tmp_path, "test", count=7)
    with pytest.raises(ValueError, match="split must be"):
        read_CIFAR10(tmp_path, "validation")


def test_get_CIFAR10_data_splits_like_the_classic(tmp_path):
    train, labels, test, ytest = _write_cifar(tmp_path)
    data = get_CIFAR10_data(25, 10, 4, subtract_mean=False, cifar10_dir=tmp_path)
    assert {k: v.shape for k, v in data.items()} == {
        "X_train": (25, 3, 32, 32),
        "y_train": (25,),
        "X_val": (10, 3, 32, 32),
        "y_val": (10,),
        "X_test": (4, 3, 32, 32),
        "y_test": (4,),
    }
    # Validation images follow the training images, as in the classic mask range(N, N + M).
    np.testing.assert_array_equal(data["X_val"].reshape(10, -1), train[25:35])
    np.testing.assert_array_equal(data["y_val"], labels[25:35])
    np.testing.assert_array_equal(data["X_test"].reshape(4, -1), test[:4])


def test_get_CIFAR10_data_subtracts_the_training_mean_from_every_split(tmp_path):
    train, _, test, _ = _write_cifar(tmp_path)
    data = get_CIFAR10_data(25, 10, 4, cifar10_dir=tmp_path, dtype=np.float64)
    mean = train[:25].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(data["X_train"].reshape(25, -1), train[:25] - mean)
    np.testing.assert_allclose(data["X_val"].reshape(10, -1), train[25:35] - mean)
    np.testing.assert_allclose(data["X_test"].reshape(4, -1), test[:4] - mean)


def test_get_CIFAR10_data_looks_in_the_data_home(tmp_path, monkeypatch):
    _write_cifar(tmp_path / "cifar-10-batches-py")
    monkeypatch.setenv("SWEEPNET_DATA", str(tmp_path))
    assert get_CIFAR10_data(5, 5, 5)["X_train"].shape == (5, 3, 32, 32)


class _RunsCode:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return self.fn, (self.arg,)


@pytest.mark.parametrize("how", ["os.system", "builtins.exec", "inside the batch dict"])
def test_a_pickle_crafted_to_run_code_is_refused(tmp_path, how):
    marker = tmp_path / "pwned"
    command = f"touch {marker}"
    payload = {
        "os.system": _RunsCode(os.system, command),
        "builtins.exec": _RunsCode(exec, f"open({str(marker)!r}, 'w').close()"),
        "inside the batch dict": {b"data": np.zeros((1, 3072), np.uint8), b"labels": _RunsCode(os.system, command)},
    }[how]
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(payload, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=f"{path}.*refusing to load global"):
        load_CIFAR_batch(path)
    assert not marker.exists()


def test_unpickler_refuses_codecs_other_than_latin1(tmp_path):
    path = tmp_path / "data_batch_1"
    # b"\x80\x02" proto 2; GLOBAL _codecs.encode; ("eJw=", "base64") -> REDUCE; STOP
    path.write_bytes(b"\x80\x02c_codecs\nencode\nX\x04\x00\x00\x00eJw=X\x06\x00\x00\x00base64\x86R.")
    with pytest.raises(pickle.UnpicklingError, match="base64"):
        load_CIFAR_batch(path)


def test_unpickler_accepts_the_numpy_1_global_names_of_the_original_files(tmp_path):
    data = np.arange(2 * 3072, dtype=np.uint64).astype(np.uint8).reshape(2, 3072)
    save_CIFAR_batch(tmp_path / "b", data, [1, 2])
    raw = (tmp_path / "b").read_bytes()
    assert b"cnumpy._core.multiarray\n" in raw
    (tmp_path / "b").write_bytes(raw.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))
    X, Y = load_CIFAR_batch(tmp_path / "b")
    np.testing.assert_array_equal(X.transpose(0, 3, 1, 2).reshape(2, -1), data)
    np.testing.assert_array_equal(Y, [1, 2])


def test_unpickler_round_trips_plain_containers():
    obj = {b"a": [1, 2.5, (b"x", "y")], "b": np.arange(4, dtype=np.int16)}
    raw = pickle.dumps(obj, protocol=2)
    loaded = CifarUnpickler(io.BytesIO(raw), encoding="bytes").load()
    assert loaded[b"a"] == [1, 2.5, (b"x", "y")]
    np.testing.assert_array_equal(loaded["b"], obj["b"])


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        ([1, 2], "a list, not a dict"),
        ({b"labels": [1]}, "no 'data' entry"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}, r"'data' is \(2, 3072\), expected \(1, 3072\)"),
        ({b"data": np.zeros((1, 3072), np.uint8), b"labels": [b"cat"]}, "labels must be integers"),
        ({b"data": np.zeros((1, 3072), object), b"labels": [0]}, "'data' holds object, expected uint8"),
    ],
)
def test_malformed_batches_are_named(tmp_path, batch, message):
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=message):
        load_CIFAR_batch(path)


def test_truncated_batch_is_an_unpickling_error_naming_the_file(tmp_path):
    save_CIFAR_batch(tmp_path / "b", np.zeros((4, 3072), np.uint8), [0, 1, 2, 3])
    raw = (tmp_path / "b").read_bytes()
    (tmp_path / "b").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(pickle.UnpicklingError, match=str(tmp_path / "b")):
        load_CIFAR_batch(tmp_path / "b")


# ------------------------------------------------------------------------------------------- IDX


def test_read_idx_parses_a_hand_written_file(tmp_path):
    path = tmp_path / "labels"
    path.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 3) + bytes([7, 0, 255]))
    labels = read_idx(path)
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, [7, 0, 255])


@pytest.mark.parametrize("name", ["images-idx3-ubyte", "images-idx3-ubyte.gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trips_raw_and_gzipped(tmp_path, name, dtype):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    save_idx(tmp_path / name, array)
    assert ((tmp_path / name).read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    loaded = read_idx(tmp_path / name)
    assert loaded.dtype == np.dtype(dtype) and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


def test_idx_stores_big_endian_values(tmp_path):
    save_idx(tmp_path / "x", np.array([258], dtype=np.int32))
    assert (tmp_path / "x").read_bytes() == b"\x00\x00\x0c\x01" + b"\x00\x00\x00\x01" + b"\x00\x00\x01\x02"


def test_read_idx_refuses_truncated_and_foreign_files(tmp_path):
    save_idx(tmp_path / "x", np.zeros((10, 28, 28), np.uint8))
    raw = (tmp_path / "x").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-1])
    with pytest.raises(ValueError, match="short: truncated"):
        read_idx(tmp_path / "short")
    (tmp_path / "short.gz").write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(ValueError, match=r"short\.gz"):
        read_idx(tmp_path / "short.gz")
    (tmp_path / "text").write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "text")
    with pytest.raises(ValueError, match="cannot hold"):
        save_idx(tmp_path / "y", np.zeros(2, np.int64))


def _write_mnist(root, n_train=30, n_test=10, gz=True):
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for i, (stem, array) in enumerate(arrays.items()):
        # Mix gzipped and raw files: each is found either way.
        save_idx(root / (f"{stem}.gz" if gz and i % 2 == 0 else stem), array)
    return list(arrays.values())


def test_load_MNIST_reads_gzipped_and_raw_files(tmp_path):
    written = _write_mnist(tmp_path)
    for loaded, expected in zip(load_MNIST(tmp_path), written, strict=True):
        np.testing.assert_array_equal(loaded, expected)


def test_load_MNIST_names_a_missing_file(tmp_path):
    _write_mnist(tmp_path)
    os.remove(tmp_path / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(FileNotFoundError, match=r"t10k-images-idx3-ubyte\[\.gz\]"):
        load_MNIST(tmp_path)


def test_load_MNIST_rejects_images_and_labels_that_disagree(tmp_path):
    _write_mnist(tmp_path)
    save_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(29, np.uint8))
    with pytest.raises(ValueError, match="train images"):
        load_MNIST(tmp_path)


def test_get_MNIST_data_is_flat_scaled_and_split_in_order(tmp_path):
    images, labels, test_images, test_labels = _write_mnist(tmp_path)
    data = get_MNIST_data(20, 10, 5, mnist_dir=tmp_path)
    assert data["X_train"].shape == (20, 784) and data["X_train"].dtype == np.float32
    assert data["X_val"].shape == (10, 784) and data["X_test"].shape == (5, 784)
    np.testing.assert_allclose(data["X_val"], images[20:30].reshape(10, -1) / 255, rtol=1e-6)
    np.testing.assert_array_equal(data["y_val"], labels[20:30])
    np.testing.assert_allclose(data["X_test"], test_images[:5].reshape(5, -1) / 255, rtol=1e-6)
    np.testing.assert_array_equal(data["y_test"], test_labels[:5])
    assert data["y_train"].dtype == np.int64
    centred = get_MNIST_data(20, 10, 5, subtract_mean=True, mnist_dir=tmp_path)
    np.testing.assert_allclose(centred["X_train"].mean(axis=0), 0, atol=1e-6)
    with pytest.raises(ValueError, match="holds 30 training"):
        get_MNIST_data(25, 10, 5, mnist_dir=tmp_path)
