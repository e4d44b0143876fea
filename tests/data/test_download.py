"""Downloads from a local HTTP server: verified, extracted atomically, clean on every failure."""

from __future__ import annotations

import dataclasses
import io
import tarfile

import numpy as np
import pytest

from sweepnet.core.data_utils import load_MNIST, read_CIFAR10
from sweepnet.data import download as dl
from sweepnet.errors import DataError

from .formats import cifar_archive, md5, write_cifar, write_mnist


def _publish(monkeypatch, name, **md5s):
    """Make the published checksums those of the test files (the real ones fit the real files)."""
    source = dl.SOURCES[name]
    files = tuple(dataclasses.replace(f, md5=md5s.get(f.name, f.md5)) for f in source.files)
    monkeypatch.setitem(dl.SOURCES, name, dataclasses.replace(source, files=files))


@pytest.fixture
def served_cifar(server, tmp_path, monkeypatch):
    """The server offers a small ``cifar-10-python.tar.gz`` whose checksum is published."""
    served, url = server
    rows = write_cifar(tmp_path / "src")
    archive = cifar_archive(tmp_path / "src")
    (served / "cifar-10-python.tar.gz").write_bytes(archive)
    _publish(monkeypatch, "cifar10", **{"cifar-10-python.tar.gz": md5(archive)})
    return served, url, rows


def _assert_nothing_left(home):
    assert not home.exists() or list(home.iterdir()) == []


def test_cifar10_download_verifies_extracts_and_loads(served_cifar, tmp_path):
    _, url, rows = served_cifar
    home = tmp_path / "home"
    seen = []
    path = dl.download("cifar10", home, mirror=url, progress=lambda *args: seen.append(args))
    assert path == home / "cifar-10-batches-py"
    assert dl.missing_file("cifar10", home) is None
    assert sorted(p.name for p in home.iterdir()) == ["cifar-10-batches-py"]  # no temporary leftovers
    X, _ = read_CIFAR10(path, "train", count=len(rows))
    np.testing.assert_array_equal(X.reshape(len(rows), -1), rows)
    assert seen[-1][0] == "cifar-10-python.tar.gz" and seen[-1][1] == seen[-1][2]


def test_the_mirror_can_come_from_the_environment(served_cifar, tmp_path, monkeypatch):
    _, url, _ = served_cifar
    monkeypatch.setenv(dl.MIRROR_ENV, url)
    assert dl.download("cifar10", tmp_path / "home").is_dir()


def test_checksum_mismatch_leaves_nothing_behind(served_cifar, tmp_path, monkeypatch):
    _, url, _ = served_cifar
    _publish(monkeypatch, "cifar10", **{"cifar-10-python.tar.gz": "0" * 32})
    with pytest.raises(DataError, match="cifar-10-python.tar.gz: checksum mismatch"):
        dl.download("cifar10", tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_truncated_archive_is_refused_even_with_a_matching_checksum(served_cifar, tmp_path, monkeypatch):
    served, url, _ = served_cifar
    archive = (served / "cifar-10-python.tar.gz").read_bytes()
    truncated = archive[: len(archive) // 2]
    (served / "cifar-10-python.tar.gz").write_bytes(truncated)
    _publish(monkeypatch, "cifar10", **{"cifar-10-python.tar.gz": md5(truncated)})
    with pytest.raises(DataError, match="corrupt archive"):
        dl.download("cifar10", tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_connection_closed_mid_transfer_is_an_error(served_cifar, tmp_path):
    _, url, _ = served_cifar
    with pytest.raises(DataError, match="cannot download .*connection closed"):
        dl.download("cifar10", tmp_path / "home", mirror=url + "cut/")
    _assert_nothing_left(tmp_path / "home")


def test_missing_file_on_the_server_is_a_404_error(server, tmp_path):
    _, url = server
    with pytest.raises(DataError, match=r"cannot download http://127\.0\.0\.1:\d+/cifar-10-python\.tar\.gz: HTTP 404"):
        dl.download("cifar10", tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_unreachable_server_is_an_error(tmp_path):
    with pytest.raises(DataError, match="cannot download http://127.0.0.1:9/"):
        dl.download("cifar10", tmp_path / "home", mirror="http://127.0.0.1:9")


def test_archive_without_every_batch_is_refused(server, tmp_path, monkeypatch):
    served, url = server
    write_cifar(tmp_path / "src")
    (tmp_path / "src" / "test_batch").unlink()
    archive = cifar_archive(tmp_path / "src")
    (served / "cifar-10-python.tar.gz").write_bytes(archive)
    _publish(monkeypatch, "cifar10", **{"cifar-10-python.tar.gz": md5(archive)})
    with pytest.raises(DataError, match="lacks cifar-10-batches-py/test_batch"):
        dl.download("cifar10", tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_archive_members_cannot_escape_the_data_home(server, tmp_path, monkeypatch):
    served, url = server
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        member = tarfile.TarInfo("../escaped")
        tar.addfile(member, io.BytesIO(b""))
    (served / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    _publish(monkeypatch, "cifar10", **{"cifar-10-python.tar.gz": md5(buffer.getvalue())})
    home = tmp_path / "home"
    with pytest.raises(DataError, match="corrupt archive"):
        dl.download("cifar10", home, mirror=url)
    assert not (tmp_path / "escaped").exists()
    _assert_nothing_left(home)


def test_present_data_is_not_downloaded_again_unless_forced(served_cifar, tmp_path):
    _, url, _ = served_cifar
    home = tmp_path / "home"
    write_cifar(home / "cifar-10-batches-py", seed=1)
    stamp = (home / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    # Nothing listens on port 9: a download attempt would fail.
    assert dl.download("cifar10", home, mirror="http://127.0.0.1:9") == home / "cifar-10-batches-py"
    dl.download("cifar10", home, mirror=url, force=True)
    assert (home / "cifar-10-batches-py" / "data_batch_1").read_bytes() != stamp
    assert sorted(p.name for p in home.iterdir()) == ["cifar-10-batches-py"]


def test_an_incomplete_folder_is_replaced(served_cifar, tmp_path):
    _, url, _ = served_cifar
    home = tmp_path / "home"
    (home / "cifar-10-batches-py").mkdir(parents=True)
    (home / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"partial")
    dl.download("cifar10", home, mirror=url)
    assert dl.missing_file("cifar10", home) is None


def test_mnist_download_fetches_and_verifies_the_four_files(server, tmp_path, monkeypatch):
    served, url = server
    write_mnist(served)
    _publish(monkeypatch, "mnist", **{p.name: md5(p.read_bytes()) for p in served.iterdir()})
    home = tmp_path / "home"
    path = dl.download("mnist", home, mirror=url)
    assert path == home / "mnist"
    assert sorted(p.name for p in home.iterdir()) == ["mnist"]
    Xtr, Ytr, Xte, Yte = load_MNIST(path)
    assert Xtr.shape == (30, 28, 28) and Xte.shape == (10, 28, 28)


def test_mnist_with_one_file_missing_installs_nothing(server, tmp_path, monkeypatch):
    served, url = server
    write_mnist(served)
    _publish(monkeypatch, "mnist", **{p.name: md5(p.read_bytes()) for p in served.iterdir()})
    (served / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: HTTP 404"):
        dl.download("mnist", tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_the_published_checksums_are_the_official_ones():
    assert dl.SOURCES["cifar10"].files[0].md5 == "c58f30108f718f92721af3b95e74349a"
    assert dl.SOURCES["cifar10"].base_url == "https://www.cs.toronto.edu/~kriz/"
    assert {f.name: f.md5 for f in dl.SOURCES["mnist"].files}["train-images-idx3-ubyte.gz"] == (
        "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    )


def test_require_names_the_directory_and_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPNET_DATA", str(tmp_path / "default"))
    with pytest.raises(DataError) as err:
        dl.require("mnist", tmp_path / "default")
    assert str(err.value) == (
        f"mnist: data not found in {tmp_path / 'default' / 'mnist'} (missing train-images-idx3-ubyte); "
        "download it with: sweepnet data download mnist"
    )
    with pytest.raises(DataError, match=f"sweepnet data download cifar10 --data-dir {tmp_path / 'other'}$"):
        dl.require("cifar10", tmp_path / "other")
    write_mnist(tmp_path / "default" / "mnist", gz=False)
    assert dl.require("mnist", tmp_path / "default") == tmp_path / "default" / "mnist"


def test_unknown_names_are_refused(tmp_path):
    with pytest.raises(DataError, match="cannot download 'imagenet'"):
        dl.download("imagenet", tmp_path)


def test_california_housing_is_fetched_by_scikit_learn_into_the_data_home(tmp_path, monkeypatch):
    import sklearn.datasets

    calls = []

    def fake_fetch(data_home, download_if_missing):
        calls.append((data_home, download_if_missing))
        (tmp_path / "cal_housing_py3.pkz").write_bytes(b"")

    monkeypatch.setattr(sklearn.datasets, "fetch_california_housing", fake_fetch)
    assert dl.download("california_housing", tmp_path) == tmp_path / "cal_housing_py3.pkz"
    assert calls == [(str(tmp_path), True)]
    assert dl.download("california_housing", tmp_path) == tmp_path / "cal_housing_py3.pkz"
    assert len(calls) == 1  # present: not fetched again


def test_california_housing_errors_are_data_errors(tmp_path, monkeypatch):
    import sklearn.datasets

    def failing_fetch(data_home, download_if_missing):
        raise OSError("checksum of downloaded file does not match")

    monkeypatch.setattr(sklearn.datasets, "fetch_california_housing", failing_fetch)
    with pytest.raises(DataError, match="cannot download california_housing into .*checksum"):
        dl.download("california_housing", tmp_path)
    with pytest.raises(DataError, match="--mirror is not supported"):
        dl.download("california_housing", tmp_path, mirror="http://127.0.0.1:9/")
