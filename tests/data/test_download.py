"""Downloads from a local HTTP server: verified, size-capped, extracted atomically, clean on every failure."""

from __future__ import annotations

import dataclasses
import io
import tarfile

import numpy as np
import pytest

from sweepnet.core.data_utils import load_MNIST, read_CIFAR10
from sweepnet.data import download as dl
from sweepnet.data.download import DownloadSource, RemoteFile
from sweepnet.errors import DataError
from sweepnet.plugins.datasets import CaliforniaHousing, Cifar10, Mnist

from .formats import california_archive, cifar_archive, md5, sha256, write_california, write_cifar, write_mnist

CIFAR = Cifar10.source
MNIST = Mnist.source
CALIFORNIA = CaliforniaHousing.source


def _published(source: DownloadSource, served) -> DownloadSource:
    """``source`` with the checksums and sizes of the files in ``served`` (the real ones fit the real files)."""
    files = []
    for remote in source.files:
        path = served / remote.name
        data = path.read_bytes() if path.exists() else b"absent"
        files.append(dataclasses.replace(remote, checksum=md5(data), size=len(data)))
    return dataclasses.replace(source, files=tuple(files))


@pytest.fixture
def served_cifar(server, tmp_path):
    """The server offers a small ``cifar-10-python.tar.gz``; returns its URL, the source publishing it, the rows."""
    served, url = server
    rows = write_cifar(tmp_path / "src")
    (served / "cifar-10-python.tar.gz").write_bytes(cifar_archive(tmp_path / "src"))
    return url, _published(CIFAR, served), rows


def _assert_nothing_left(home):
    assert not home.exists() or list(home.iterdir()) == []


def test_cifar10_download_verifies_extracts_and_loads(served_cifar, tmp_path):
    url, source, rows = served_cifar
    home = tmp_path / "home"
    seen = []
    path = dl.download("cifar10", source, home, mirror=url, progress=lambda *args: seen.append(args))
    assert path == home / "cifar-10-batches-py"
    assert dl.missing_file(source, home) is None
    assert sorted(p.name for p in home.iterdir()) == ["cifar-10-batches-py"]  # no temporary leftovers
    X, _ = read_CIFAR10(path, "train", count=len(rows))
    np.testing.assert_array_equal(X.reshape(len(rows), -1), rows)
    assert seen[-1][0] == "cifar-10-python.tar.gz" and seen[-1][1] == seen[-1][2]


def test_the_mirror_can_come_from_the_environment(served_cifar, tmp_path, monkeypatch):
    url, source, _ = served_cifar
    monkeypatch.setenv(dl.MIRROR_ENV, url)
    assert dl.download("cifar10", source, tmp_path / "home").is_dir()


def test_checksum_mismatch_leaves_nothing_behind(served_cifar, tmp_path):
    url, source, _ = served_cifar
    wrong = dataclasses.replace(source, files=(dataclasses.replace(source.files[0], checksum="md5:" + "0" * 32),))
    with pytest.raises(DataError, match="cifar-10-python.tar.gz: checksum mismatch .md5 [0-9a-f]+, expected 0+."):
        dl.download("cifar10", wrong, tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_sha256_checksums_are_verified_too(served_cifar, tmp_path):
    url, source, _ = served_cifar
    archive = tmp_path / "archive"
    archive.write_bytes(cifar_archive(tmp_path / "src"))
    good = dataclasses.replace(source.files[0], checksum=sha256(archive.read_bytes()))
    assert dl.download("cifar10", dataclasses.replace(source, files=(good,)), tmp_path / "home", mirror=url).is_dir()
    bad = dataclasses.replace(good, checksum="sha256:" + "f" * 64)
    with pytest.raises(DataError, match="checksum mismatch .sha256"):
        dl.download("cifar10", dataclasses.replace(source, files=(bad,)), tmp_path / "other", mirror=url)


def test_truncated_archive_is_refused_even_with_a_matching_checksum(server, tmp_path):
    served, url = server
    write_cifar(tmp_path / "src")
    archive = cifar_archive(tmp_path / "src")
    (served / "cifar-10-python.tar.gz").write_bytes(archive[: len(archive) // 2])
    with pytest.raises(DataError, match="corrupt archive"):
        dl.download("cifar10", _published(CIFAR, served), tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_connection_closed_mid_transfer_is_an_error(served_cifar, tmp_path):
    url, source, _ = served_cifar
    with pytest.raises(DataError, match="cannot download .*connection closed"):
        dl.download("cifar10", source, tmp_path / "home", mirror=url + "cut/")
    _assert_nothing_left(tmp_path / "home")


def test_a_stream_past_the_declared_size_is_cut_off_before_it_is_written(served_cifar, server_and_httpd, tmp_path):
    """A mirror streaming 300 MB for a file declared as a few kB: stopped just past the cap, not
    written in full before the checksum fails."""
    url, source, _ = served_cifar
    httpd = server_and_httpd[2]
    limit = dl.size_limit(source.files[0].size)
    seen = []
    with pytest.raises(DataError, match=r"cannot download .*endless/cifar-10-python.tar.gz: it is larger than the \d+ "
                       r"bytes expected of cifar-10-python.tar.gz \(stopped past \d+\)"):  # fmt: skip
        dl.download("cifar10", source, tmp_path / "home", mirror=url + "endless/", progress=lambda *a: seen.append(a))
    assert max(done for _, done, _ in seen) <= limit < 3 << 20
    assert httpd.sent < 50 << 20  # the client hung up; the server never got 300 MB out
    _assert_nothing_left(tmp_path / "home")


def test_an_announced_length_past_the_cap_is_refused_before_reading(served_cifar, server_and_httpd, tmp_path):
    url, source, _ = served_cifar
    seen = []
    with pytest.raises(DataError, match="huge/cifar-10-python.tar.gz: it is larger than"):
        dl.download("cifar10", source, tmp_path / "home", mirror=url + "huge/", progress=lambda *a: seen.append(a))
    assert seen == []
    _assert_nothing_left(tmp_path / "home")


def test_the_cap_is_the_declared_size_plus_a_margin():
    assert dl.size_limit(100) == 100 + 5 + (1 << 20)
    assert dl.size_limit(170_498_071) == 170_498_071 + 8_524_903 + (1 << 20)


def test_missing_file_on_the_server_is_a_404_error(server, tmp_path):
    _, url = server
    with pytest.raises(DataError, match=r"cannot download http://127\.0\.0\.1:\d+/cifar-10-python\.tar\.gz: HTTP 404"):
        dl.download("cifar10", CIFAR, tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_unreachable_server_is_an_error(tmp_path):
    with pytest.raises(DataError, match="cannot download http://127.0.0.1:9/"):
        dl.download("cifar10", CIFAR, tmp_path / "home", mirror="http://127.0.0.1:9")


def test_archive_without_every_batch_is_refused(server, tmp_path):
    served, url = server
    write_cifar(tmp_path / "src")
    (tmp_path / "src" / "test_batch").unlink()
    (served / "cifar-10-python.tar.gz").write_bytes(cifar_archive(tmp_path / "src"))
    with pytest.raises(DataError, match="^cifar10: the download lacks cifar-10-batches-py/test_batch$"):
        dl.download("cifar10", _published(CIFAR, served), tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_archive_members_cannot_escape_the_data_home(server, tmp_path):
    served, url = server
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.addfile(tarfile.TarInfo("../escaped"), io.BytesIO(b""))
    (served / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    home = tmp_path / "home"
    with pytest.raises(DataError, match="corrupt archive"):
        dl.download("cifar10", _published(CIFAR, served), home, mirror=url)
    assert not (tmp_path / "escaped").exists()
    _assert_nothing_left(home)


def test_only_the_declared_folder_of_an_archive_is_kept(server, tmp_path):
    served, url = server
    write_cifar(tmp_path / "src")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(tmp_path / "src", arcname="cifar-10-batches-py")
        tar.addfile(tarfile.TarInfo("stray.txt"), io.BytesIO(b""))
    (served / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    home = tmp_path / "home"
    dl.download("cifar10", _published(CIFAR, served), home, mirror=url)
    assert sorted(p.name for p in home.iterdir()) == ["cifar-10-batches-py"]


@pytest.mark.parametrize(
    "make",
    [
        lambda: DownloadSource("../outside", (RemoteFile("a.tgz", md5(b""), 1),), ("a",)),
        lambda: DownloadSource(".hidden", (RemoteFile("a.tgz", md5(b""), 1),), ("a",)),
        lambda: DownloadSource("data", (RemoteFile("../a.tgz", md5(b""), 1),), ("a",)),
        lambda: DownloadSource("data", (RemoteFile("a.tgz", md5(b""), 1),), ("sub/a",)),
        lambda: DownloadSource("data", (RemoteFile("a.tgz", md5(b""), 1),), ("a",), archive_root="x/../.."),
        lambda: DownloadSource("data", (RemoteFile("a.tgz", md5(b""), 1),), ("a",), archive_root="/etc"),
        lambda: DownloadSource("data", (), ("a",)),
        lambda: RemoteFile("a.tgz", "crc32:1234", 1),
        lambda: RemoteFile("a.tgz", "md5:" + "0" * 31, 1),
        lambda: RemoteFile("a.tgz", md5(b""), 0),
    ],
)
def test_a_source_that_could_leave_the_data_home_is_refused_when_declared(make):
    with pytest.raises(ValueError, match="download source|checksum|size|needs at least one file"):
        make()


def test_present_data_is_not_downloaded_again_unless_forced(served_cifar, tmp_path):
    url, source, _ = served_cifar
    home = tmp_path / "home"
    write_cifar(home / "cifar-10-batches-py", seed=1)
    stamp = (home / "cifar-10-batches-py" / "data_batch_1").read_bytes()
    # Nothing listens on port 9: a download attempt would fail.
    assert dl.download("cifar10", source, home, mirror="http://127.0.0.1:9") == home / "cifar-10-batches-py"
    dl.download("cifar10", source, home, mirror=url, force=True)
    assert (home / "cifar-10-batches-py" / "data_batch_1").read_bytes() != stamp
    assert sorted(p.name for p in home.iterdir()) == ["cifar-10-batches-py"]


def test_an_incomplete_folder_is_replaced(served_cifar, tmp_path):
    url, source, _ = served_cifar
    home = tmp_path / "home"
    (home / "cifar-10-batches-py").mkdir(parents=True)
    (home / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"partial")
    dl.download("cifar10", source, home, mirror=url)
    assert dl.missing_file(source, home) is None


def test_mnist_download_fetches_and_verifies_the_four_files(server, tmp_path):
    served, url = server
    write_mnist(served)
    home = tmp_path / "home"
    path = dl.download("mnist", _published(MNIST, served), home, mirror=url)
    assert path == home / "mnist"
    assert sorted(p.name for p in home.iterdir()) == ["mnist"]
    Xtr, Ytr, Xte, Yte = load_MNIST(path)
    assert Xtr.shape == (30, 28, 28) and Xte.shape == (10, 28, 28)


def test_mnist_with_one_file_missing_installs_nothing(server, tmp_path):
    served, url = server
    write_mnist(served)
    source = _published(MNIST, served)
    (served / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: HTTP 404"):
        dl.download("mnist", source, tmp_path / "home", mirror=url)
    _assert_nothing_left(tmp_path / "home")


def test_california_housing_downloads_the_original_archive_and_parses_it(server, tmp_path):
    """The real layout (``CaliforniaHousing/cal_housing.data``), fetched from the file's own URL."""
    served, url = server
    table = write_california(tmp_path / "src")
    (served / "files").mkdir()
    (served / "files" / "5976036").write_bytes(california_archive(tmp_path / "src"))
    [remote] = CALIFORNIA.files
    archive = (served / "files" / "5976036").read_bytes()
    local = dataclasses.replace(remote, url=url + "files/5976036", checksum=sha256(archive), size=len(archive))
    source = dataclasses.replace(CALIFORNIA, files=(local,))
    home = tmp_path / "home"
    assert dl.download("california_housing", source, home) == home / "california_housing"
    assert sorted(p.name for p in (home / "california_housing").iterdir()) == ["cal_housing.data", "cal_housing.domain"]
    from sweepnet.plugins.datasets import read_california_housing

    X, y = read_california_housing(home / "california_housing" / "cal_housing.data")
    lon, lat, age, rooms, bedrooms, population, households, income, value = table.T
    expected = np.column_stack(
        [income, age, rooms / households, bedrooms / households, population, population / households, lat, lon]
    )
    np.testing.assert_allclose(X, expected, rtol=1e-6)
    np.testing.assert_allclose(y, value / 1e5, rtol=1e-6)


def test_the_declared_sources_are_the_official_ones():
    assert CIFAR.files[0].checksum == "md5:c58f30108f718f92721af3b95e74349a"
    assert CIFAR.base_url + CIFAR.files[0].name == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert {f.name: f.checksum for f in MNIST.files}["train-images-idx3-ubyte.gz"] == (
        "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"
    )
    # What scikit-learn's fetch_california_housing downloads (sklearn/datasets/_california_housing.py).
    from sklearn.datasets import _california_housing

    archive = _california_housing.ARCHIVE
    [remote] = CALIFORNIA.files
    assert (remote.name, remote.url, remote.checksum) == (archive.filename, archive.url, f"sha256:{archive.checksum}")
    assert CALIFORNIA.archive_root == "CaliforniaHousing" and CALIFORNIA.required == ("cal_housing.data",)


def test_require_names_the_directory_and_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEPNET_DATA", str(tmp_path / "default"))
    with pytest.raises(DataError) as err:
        dl.require("mnist", MNIST, tmp_path / "default")
    assert str(err.value) == (
        f"mnist: data not found in {tmp_path / 'default' / 'mnist'} (missing train-images-idx3-ubyte); "
        "download it with: sweepnet data download mnist"
    )
    with pytest.raises(DataError, match=f"sweepnet data download cifar10 --data-dir {tmp_path / 'other'}$"):
        dl.require("cifar10", CIFAR, tmp_path / "other")
    write_mnist(tmp_path / "default" / "mnist", gz=False)
    assert dl.require("mnist", MNIST, tmp_path / "default") == tmp_path / "default" / "mnist"
