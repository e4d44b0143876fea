"""Downloading the data sets that are not bundled, and telling whether they are present.

A download never leaves anything behind that looks complete: files are fetched into a hidden
temporary directory inside the data home, checked against their published MD5, extracted
there, and only then renamed into place. A failure removes the temporary directory.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sweepnet.core.data_utils import MNIST_FILES
from sweepnet.data.home import resolve_data_home
from sweepnet.errors import DataError

__all__ = [
    "DOWNLOADABLE",
    "MIRROR_ENV",
    "SOURCES",
    "Progress",
    "RemoteFile",
    "Source",
    "data_path",
    "download",
    "download_command",
    "missing_file",
    "require",
]

MIRROR_ENV = "SWEEPNET_DATA_MIRROR"
_CALIFORNIA_FILE = "cal_housing_py3.pkz"  # what scikit-learn's fetcher writes into its data home
_CHUNK = 1 << 20

Progress = Callable[[str, int, int | None], None]
"""``progress(file_name, bytes_done, bytes_total_or_None)``, called while downloading."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a download and its published MD5."""

    name: str
    md5: str


@dataclass(frozen=True)
class Source:
    """A data set sweepnet downloads itself.

    Attributes
    ----------
    folder : directory under the data home that holds the data once complete.
    base_url : the files are fetched from ``base_url + file.name``.
    files : what to fetch.
    required : files inside ``folder`` (alternatives separated by ``|``) that make it complete.
    archive : the single file is a ``.tar.gz`` whose top-level directory is ``folder``.
    """

    folder: str
    base_url: str
    files: tuple[RemoteFile, ...]
    required: tuple[str, ...]
    archive: bool = False


SOURCES: dict[str, Source] = {
    "cifar10": Source(
        folder="cifar-10-batches-py",
        base_url="https://www.cs.toronto.edu/~kriz/",
        files=(RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
        required=tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",),
        archive=True,
    ),
    "mnist": Source(
        folder="mnist",
        base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
        files=(
            RemoteFile("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            RemoteFile("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            RemoteFile("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            RemoteFile("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
        required=tuple(f"{stem}|{stem}.gz" for stem in MNIST_FILES.values()),
    ),
}
DOWNLOADABLE = (*SOURCES, "california_housing")


def data_path(name: str, data_home: Path) -> Path:
    """Where data set ``name`` lives under ``data_home`` (a folder, or scikit-learn's file)."""
    if name == "california_housing":
        return data_home / _CALIFORNIA_FILE
    return data_home / _source(name).folder


def missing_file(name: str, data_home: Path) -> Path | None:
    """The first file of ``name`` missing under ``data_home``, or None when it is complete."""
    path = data_path(name, data_home)
    if name == "california_housing":
        return None if path.is_file() else path
    for required in _source(name).required:
        alternatives = required.split("|")
        if not any((path / alt).is_file() for alt in alternatives):
            return path / alternatives[0]
    return None


def require(name: str, data_home: Path) -> Path:
    """Return :func:`data_path`, or raise a DataError naming what is missing and how to get it."""
    missing = missing_file(name, data_home)
    if missing is not None:
        raise DataError(
            f"{name}: data not found in {data_path(name, data_home)} (missing {missing.name}); "
            f"download it with: {download_command(name, data_home)}"
        )
    return data_path(name, data_home)


def download_command(name: str, data_home: Path) -> str:
    """The shell command that downloads ``name`` into ``data_home``."""
    where = "" if data_home == resolve_data_home() else f" --data-dir {data_home}"
    return f"sweepnet data download {name}{where}"


def download(
    name: str, data_home: Path, *, mirror: str | None = None, force: bool = False, progress: Progress | None = None
) -> Path:
    """Download, verify and install data set ``name`` under ``data_home``; return where it is.

    Does nothing when the data is already complete, unless ``force``.

    Parameters
    ----------
    mirror : base URL to fetch from instead of the official one (default ``$SWEEPNET_DATA_MIRROR``);
        not supported for ``california_housing``, which scikit-learn fetches from its own URL.
    """
    if name not in DOWNLOADABLE:
        raise DataError(f"cannot download {name!r}: downloadable data sets are {', '.join(DOWNLOADABLE)}")
    target = data_path(name, data_home)
    if missing_file(name, data_home) is None and not force:
        return target
    try:
        data_home.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create data directory {data_home}: {err.strerror}") from None
    if name == "california_housing":
        _fetch_california(data_home, mirror, force)
        return target
    source = SOURCES[name]
    base_url = (mirror or os.environ.get(MIRROR_ENV) or source.base_url).rstrip("/") + "/"
    with tempfile.TemporaryDirectory(prefix=f".download-{name}-", dir=data_home) as tmp:
        staging = Path(tmp) / "staging"
        (staging / source.folder).mkdir(parents=True)
        for remote in source.files:
            local = Path(tmp) / remote.name
            _fetch(base_url + remote.name, local, remote.md5, progress)
            if source.archive:
                _extract(local, staging, base_url + remote.name)
            else:
                local.rename(staging / source.folder / remote.name)
        missing = missing_file(name, staging)
        if missing is not None:
            raise DataError(f"{name}: the download from {base_url} lacks {missing.relative_to(staging)}")
        _move_into_place(staging / source.folder, target, Path(tmp) / "previous")
    return target


def _source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise DataError(f"unknown downloadable data set {name!r}; known: {', '.join(DOWNLOADABLE)}") from None


def _fetch(url: str, dest: Path, md5: str, progress: Progress | None) -> None:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            total, done = response.length, 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(dest.name, done, total)
        if total is not None and done != total:
            raise DataError(f"cannot download {url}: connection closed after {done} of {total} bytes")
    except urllib.error.HTTPError as err:
        raise DataError(f"cannot download {url}: HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise DataError(f"cannot download {url}: {err.reason}") from None
    except (http.client.HTTPException, OSError) as err:
        raise DataError(f"cannot download {url}: {err}") from None
    if digest.hexdigest() != md5:
        raise DataError(f"{url}: checksum mismatch (md5 {digest.hexdigest()}, expected {md5}); download is corrupt")


def _extract(archive: Path, dest: Path, url: str) -> None:
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(dest, filter="data")  # refuses absolute paths, "..", devices, links out
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DataError(f"{url}: corrupt archive ({err})") from None


def _move_into_place(new: Path, target: Path, graveyard: Path) -> None:
    # rename() cannot replace a non-empty directory: move an old (forced or incomplete) copy
    # aside into the temporary directory, which is deleted afterwards.
    if target.exists():
        target.rename(graveyard)
    new.rename(target)


def _fetch_california(data_home: Path, mirror: str | None, force: bool) -> None:
    if mirror is not None:
        raise DataError("california_housing is fetched by scikit-learn from its own URL; --mirror is not supported")
    from sklearn.datasets import fetch_california_housing

    if force:
        data_path("california_housing", data_home).unlink(missing_ok=True)
    try:
        fetch_california_housing(data_home=str(data_home), download_if_missing=True)
    except (urllib.error.URLError, OSError) as err:
        raise DataError(f"cannot download california_housing into {data_home}: {err}") from None
