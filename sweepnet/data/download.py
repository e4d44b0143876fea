"""Downloading data sets, and telling whether they are present.

A data set plugin that needs files from the web declares where they come from as a
:class:`DownloadSource` (its ``source`` class attribute): URLs, published checksums, sizes, and how
an archive is laid out. ``sweepnet data download NAME`` then fetches any such data set, built-in
or third-party, through this one code path:

- each file is streamed into a hidden temporary directory inside the data home, and the stream
  is cut off as soon as it exceeds the file's declared size plus a margin (a wrong or hostile
  mirror cannot fill the disk);
- its checksum is verified before anything reads it;
- archives are extracted with tarfile's ``data`` filter (no absolute paths, no ``..``, no links
  out, no devices), and nothing outside the declared folder is kept;
- only a complete folder is renamed into place; a failure removes the temporary directory.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sweepnet.data.home import resolve_data_home
from sweepnet.errors import DataError

__all__ = [
    "MIRROR_ENV",
    "DownloadSource",
    "Progress",
    "RemoteFile",
    "download",
    "download_command",
    "missing_file",
    "require",
    "size_limit",
]

MIRROR_ENV = "SWEEPNET_DATA_MIRROR"
_CHUNK = 1 << 20
_MARGIN = 1 << 20  # bytes a download may exceed its declared size by, besides 5%
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]*")
_ALGORITHMS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}

Progress = Callable[[str, int, int | None], None]
"""``progress(file_name, bytes_done, bytes_total_or_None)``, called while downloading."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a download.

    Attributes
    ----------
    name : the file's name (a plain name, no directories); it is fetched from
        ``source.base_url + name`` (or ``mirror + name``) unless ``url`` is set.
    checksum : the published digest, ``"<algorithm>:<hex>"`` with algorithm md5, sha1, sha256 or sha512.
    size : its size in bytes; the download stops with an error past ``size_limit(size)``.
    url : its full URL when that does not end with ``name`` (a mirror still serves it as ``name``).

    Raises
    ------
    ValueError
        for a name with a directory or ``..`` in it, a malformed checksum or a size below 1.
    """

    name: str
    checksum: str
    size: int
    url: str | None = None

    def __post_init__(self) -> None:
        _check_plain(self.name, "file name")
        algorithm, _, digest = self.checksum.partition(":")
        if _ALGORITHMS.get(algorithm) != len(digest) or not re.fullmatch(r"[0-9a-f]+", digest):
            raise ValueError(
                f"{self.name}: checksum must be '<md5|sha1|sha256|sha512>:<hex digest>', got {self.checksum!r}"
            )
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"{self.name}: size must be a positive number of bytes, got {self.size!r}")


@dataclass(frozen=True)
class DownloadSource:
    """Where a data set's files come from and how they make up its folder in the data home.

    Attributes
    ----------
    folder : directory under the data home that holds the data once complete (a plain name).
    files : what to fetch.
    required : files inside ``folder`` that make it complete; alternatives separated by ``|``
        (``"train.idx|train.idx.gz"``).
    base_url : prefix of every file's URL (ending in ``/``), unless the file has its own ``url``.
    archive_root : None when the files are used as they are; otherwise each file is a tar archive
        (``.tar``, ``.tar.gz``, ``.tgz``, ``.tar.bz2``, ``.tar.xz``) and this directory inside it
        (``""``: the archive's top level) becomes ``folder``.

    Raises
    ------
    ValueError
        for a folder, file or archive path that could leave the data home.
    """

    folder: str
    files: tuple[RemoteFile, ...]
    required: tuple[str, ...]
    base_url: str = ""
    archive_root: str | None = None

    def __post_init__(self) -> None:
        _check_plain(self.folder, "folder")
        for required in self.required:
            for name in required.split("|"):
                _check_plain(name, "required file")
        if self.archive_root:
            for part in PurePosixPath(self.archive_root).parts:
                _check_plain(part, "archive_root part")
        if not self.files:
            raise ValueError(f"{self.folder}: a download source needs at least one file")


def size_limit(size: int) -> int:
    """The most bytes a file declared as ``size`` bytes may have: 5% and 1 MiB more."""
    return size + size // 20 + _MARGIN


def missing_file(source: DownloadSource, data_home: Path) -> Path | None:
    """The first required file missing under ``data_home / source.folder``, or None when complete."""
    return _missing_in(data_home / source.folder, source.required)


def _missing_in(folder: Path, required: tuple[str, ...]) -> Path | None:
    for entry in required:
        alternatives = entry.split("|")
        if not any((folder / alt).is_file() for alt in alternatives):
            return folder / alternatives[0]
    return None


def require(name: str, source: DownloadSource, data_home: Path) -> Path:
    """The folder of data set ``name``, or a DataError naming what is missing and how to get it."""
    missing = missing_file(source, data_home)
    if missing is not None:
        raise DataError(
            f"{name}: data not found in {data_home / source.folder} (missing {missing.name}); "
            f"download it with: {download_command(name, data_home)}"
        )
    return data_home / source.folder


def download_command(name: str, data_home: Path) -> str:
    """The shell command that downloads ``name`` into ``data_home``."""
    where = "" if data_home == resolve_data_home() else f" --data-dir {data_home}"
    return f"sweepnet data download {name}{where}"


def download(
    name: str,
    source: DownloadSource,
    data_home: Path,
    *,
    mirror: str | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> Path:
    """Download, verify and install data set ``name`` from ``source``; return its folder.

    Does nothing when the data is already complete, unless ``force``.

    Parameters
    ----------
    name : the data set's registered name, for messages.
    source : what to fetch and how it is laid out.
    data_home : the data home; created if needed.
    mirror : base URL to fetch every file from (as ``mirror + file name``) instead of the
        official ones; default ``$SWEEPNET_DATA_MIRROR``.
    force : download again even when complete.
    progress : called while downloading.

    Raises
    ------
    DataError
        naming the URL or file: unreachable, HTTP error, larger than declared, truncated,
        checksum mismatch, corrupt archive, or a download that lacks a required file.
    """
    target = data_home / source.folder
    if missing_file(source, data_home) is None and not force:
        return target
    try:
        data_home.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create data directory {data_home}: {err.strerror}") from None
    mirror = mirror or os.environ.get(MIRROR_ENV)
    with tempfile.TemporaryDirectory(prefix=f".download-{source.folder}-", dir=data_home) as tmp:
        staging = Path(tmp) / "staging"
        staging.mkdir()
        content = staging / (source.folder if source.archive_root is None else source.archive_root)
        content.mkdir(exist_ok=True)
        for remote in source.files:
            url = _url(remote, source, mirror)
            local = Path(tmp) / remote.name
            _fetch(url, local, remote, progress)
            if source.archive_root is None:
                local.rename(content / remote.name)
            else:
                _extract(local, staging, url)
        missing = _missing_in(content, source.required)
        if missing is not None:
            raise DataError(f"{name}: the download lacks {missing.relative_to(staging)}")
        _move_into_place(content, target, Path(tmp) / "previous")
    return target


def _check_plain(name: object, what: str) -> None:
    """Refuse anything but a plain file or directory name (no ``/``, no ``..``, not hidden)."""
    if not isinstance(name, str) or not _PLAIN_NAME.fullmatch(name) or set(name) == {"."}:
        raise ValueError(f"download source: {what} {name!r} must be a plain name (letters, digits, . _ + -)")


def _url(remote: RemoteFile, source: DownloadSource, mirror: str | None) -> str:
    if mirror:
        return mirror.rstrip("/") + "/" + remote.name
    return remote.url or source.base_url + remote.name


def _fetch(url: str, dest: Path, remote: RemoteFile, progress: Progress | None) -> None:
    """Stream ``url`` into ``dest``, at most :func:`size_limit` bytes, and verify its checksum."""
    algorithm, _, expected = remote.checksum.partition(":")
    digest = hashlib.new(algorithm, usedforsecurity=False)
    limit = size_limit(remote.size)
    too_big = DataError(
        f"cannot download {url}: it is larger than the {remote.size} bytes expected of {remote.name} "
        f"(stopped past {limit}); the mirror or URL is wrong"
    )
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            total, done = response.length, 0
            if total is not None and total > limit:
                raise too_big
            with open(dest, "wb") as out:
                while chunk := response.read(min(_CHUNK, limit + 1 - done)):
                    done += len(chunk)
                    if done > limit:
                        raise too_big
                    out.write(chunk)
                    digest.update(chunk)
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
    if digest.hexdigest() != expected:
        raise DataError(
            f"{url}: checksum mismatch ({algorithm} {digest.hexdigest()}, expected {expected}); download is corrupt"
        )


def _extract(archive: Path, dest: Path, url: str) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(dest, filter="data")  # refuses absolute paths, "..", devices, links out
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise DataError(f"{url}: corrupt archive ({err})") from None
    archive.unlink()


def _move_into_place(new: Path, target: Path, graveyard: Path) -> None:
    # rename() cannot replace a non-empty directory: move an old (forced or incomplete) copy
    # aside into the temporary directory, which is deleted afterwards.
    if target.exists():
        target.rename(graveyard)
    new.rename(target)
