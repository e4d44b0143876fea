"""Where the record goes: resolving the tracking URI, opening the store, checking it can be written.

The store: ``--tracking-uri`` (commands) > the sweep config's ``tracking.uri`` >
``$MLFLOW_TRACKING_URI`` > :data:`DEFAULT_TRACKING_URI`, a SQLite file under the working
directory, with artifacts in an ``artifacts`` folder next to the database. An ``mlflow server``
(``http://127.0.0.1:5000``) keeps its artifacts itself.

A new SQLite store is created atomically and keeps a write-ahead log (see
:func:`_create_sqlite_store`). :func:`check_writable` opens a store and writes to it once, so a
corrupt, read-only or unreachable store is one clear :class:`TrackingError` before any trial runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sweepnet.errors import SweepnetError, one_line

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

__all__ = [
    "DEFAULT_TRACKING_URI",
    "TrackingError",
    "absolute",
    "artifact_location",
    "check_writable",
    "client",
    "is_sqlite_missing",
    "resolve_tracking_uri",
    "safe_name",
    "sqlite_path",
    "store_errors",
]

DEFAULT_TRACKING_URI = "sqlite:///sweepnet-results/mlflow.db"


class TrackingError(SweepnetError):
    """The tracking store cannot be read or written; the message names the store."""


def resolve_tracking_uri(flag: str | None = None, config_uri: str | None = None) -> str:
    """The store to use: ``flag`` (``--tracking-uri``) > ``config_uri`` (``tracking.uri``) >
    ``$MLFLOW_TRACKING_URI`` > :data:`DEFAULT_TRACKING_URI`."""
    return flag or config_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` store (relative to the working directory), else None."""
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def is_sqlite_missing(uri: str) -> bool:
    """True for a SQLite store whose file does not exist (reading must not create it)."""
    path = sqlite_path(uri)
    return path is not None and not path.exists()


def absolute(uri: str) -> str:
    """A relative SQLite path made absolute, so the store does not move with the working directory."""
    path = sqlite_path(uri)
    return uri if path is None else f"sqlite:///{path.resolve()}"


def artifact_location(uri: str, name: str) -> str | None:
    """Artifacts of a SQLite store live next to it, one folder per sweep; servers choose their own."""
    path = sqlite_path(uri)
    return None if path is None else (path.parent / "artifacts" / safe_name(name)).resolve().as_uri()


def client(uri: str) -> MlflowClient:
    """A client of ``uri``, creating a missing SQLite store; raises TrackingError for a URI MLflow
    cannot use or a SQLite file that is not a database."""
    # One attempt per request with a short timeout: the writer retries on its own schedule,
    # and a reader should fail in seconds, not after MLflow's two minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow's usage reports are opt-in here
    for noisy in ("mlflow.store.db.utils", "alembic"):  # "Creating initial MLflow database tables..."
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    _sync_at_checkpoints()
    with store_errors(uri):
        if (path := sqlite_path(uri)) is not None:
            if path.exists():
                _check_sqlite_file(path)  # before MLflow, which retries a bad file for two minutes
            else:
                _create_sqlite_store(path)
        return MlflowClient(tracking_uri=uri)  # checks the URI's scheme


def check_writable(uri: str) -> None:
    """Open the store at ``uri`` and write to it once, recording nothing.

    A SQLite store takes its write lock (``BEGIN IMMEDIATE``, rolled back) and its artifact
    folder gets a file (removed again); another store is asked a question (a server's write is
    checked when the sweep's parent run is created, the first thing it records).

    Raises
    ------
    TrackingError
        naming the store and what failed: not a database, read-only, locked, a full disk,
        unreachable.
    """
    store = client(uri)
    path = sqlite_path(uri)
    with store_errors(uri):
        if path is None:
            store.search_experiments(max_results=1)
            return
        with contextlib.closing(sqlite3.connect(path, timeout=10)) as connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        artifacts = path.parent / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=artifacts, prefix=".sweepnet-write-check-") as probe:
            probe.write(b"x")
            probe.flush()
            os.fsync(probe.fileno())


def _check_sqlite_file(path: Path) -> None:
    """Raise sqlite3.DatabaseError at once for a file that is not a SQLite database."""
    with contextlib.closing(sqlite3.connect(path, timeout=10)) as connection:
        connection.execute("PRAGMA schema_version").fetchone()


def _create_sqlite_store(path: Path) -> None:
    """Create the SQLite store at ``path`` atomically.

    MLflow creates its tables on first use; a second process opening the file half-way through
    (``sweepnet best`` while a sweep starts, two sweeps starting at once) would create them again
    and fail. So the tables are made in a private file that appears under ``path`` complete.

    The store keeps a write-ahead log (SQLite's WAL journal mode, set before it appears): with
    ``synchronous=NORMAL`` (:func:`_sync_at_checkpoints`) a commit then needs no fsync. A process
    that crashes loses nothing committed; an operating-system crash or power cut can lose the
    last commits, not the store.
    """
    from mlflow.tracking import MlflowClient

    path.parent.mkdir(parents=True, exist_ok=True)
    private = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        MlflowClient(tracking_uri=f"sqlite:///{private.resolve()}").search_experiments(max_results=1)
        with contextlib.closing(sqlite3.connect(private)) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(private, path)
    finally:
        for leftover in (private, Path(f"{private}-wal"), Path(f"{private}-shm")):
            leftover.unlink(missing_ok=True)


@cache
def _sync_at_checkpoints() -> None:
    """Let every connection to a SQLite store in WAL mode sync at checkpoints only (see
    :func:`_create_sqlite_store`); stores in the default journal mode keep syncing every commit."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    def on_connect(connection: Any, _record: Any) -> None:
        if isinstance(connection, sqlite3.Connection):
            if connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                connection.execute("PRAGMA synchronous=NORMAL")

    event.listen(Engine, "connect", on_connect)


@contextlib.contextmanager
def store_errors(uri: str) -> Iterator[None]:
    """Turn MLflow, SQLite and I/O errors into a one-line TrackingError naming the store."""
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except (MlflowException, SQLAlchemyError, sqlite3.Error, OSError) as err:
        raise TrackingError(f"tracking store {uri}: {one_line(err)}") from err


def safe_name(name: str) -> str:
    """``name`` with every character but letters, digits, ``_ . -`` replaced by ``_`` (for file names)."""
    return re.sub(r"[^\w.-]", "_", name)
