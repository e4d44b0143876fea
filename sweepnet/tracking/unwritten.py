"""Results the store could not take: saved to a file, and written to the store later.

When the store stays unwritable (down, disk full) or the user stops the final flush with
Ctrl-C, what is still queued is saved as ``unwritten-<sweep>-<time>-<pid>.json`` in the first
folder that takes it:

1. ``unwritten/`` next to a SQLite store (``./sweepnet-results/unwritten/`` for a server),
2. ``$XDG_STATE_HOME/sweepnet/unwritten/`` (``~/.local/state/sweepnet/unwritten/``),
3. ``sweepnet-unwritten-<uid>/`` in the temporary directory.

A file is written complete or not at all (a temporary file in the same folder, synced, then
renamed), so a full disk never leaves an empty or cut file: the next folder is tried.
``sweepnet resume`` (and ``sweepnet sweep --resume``) writes the files of its sweep and store
to the store before anything else (:func:`replay_unwritten`), then deletes them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sweepnet.errors import one_line
from sweepnet.tracking.backend import RunWrite, open_backend
from sweepnet.tracking.store import TrackingError, absolute, client, safe_name, sqlite_path, store_errors

__all__ = ["replay_unwritten", "save_unwritten", "unwritten_folders"]

_FORMAT = 1
_SWEEP_KEY = "sweep"  # the parent run's key in the file (its RunWrite key is "")


def unwritten_folders(uri: str) -> list[Path]:
    """Where unwritten results of a sweep recorded to ``uri`` are saved, in order of preference."""
    path = sqlite_path(absolute(uri))
    first = (path.parent if path is not None else Path("sweepnet-results")) / "unwritten"
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "sweepnet" / "unwritten"
    temporary = Path(tempfile.gettempdir()) / f"sweepnet-unwritten-{os.getuid()}"
    return [first.resolve(), state, temporary]


def save_unwritten(
    uri: str, name: str, experiment_id: str, run_ids: dict[str, str], records: Iterable[RunWrite], error: str
) -> Path:
    """Save ``records`` (and the ids of the runs they go to) to the first folder that takes them.

    Returns
    -------
    The file's path.

    Raises
    ------
    TrackingError
        naming every folder tried and why, when none could take the file.
    """
    payload = {
        "format": _FORMAT,
        "tracking_uri": absolute(uri),
        "experiment": name,
        "experiment_id": experiment_id,
        "error": error,
        "runs": {key or _SWEEP_KEY: run_id for key, run_id in run_ids.items()},
        "unwritten": [_jsonable(record) for record in records],
    }
    data = json.dumps(payload, indent=1).encode()  # complete before any byte reaches a disk
    stem = safe_name(name)[:80] + ("-" + hashlib.sha1(name.encode()).hexdigest()[:8] if len(name) > 80 else "")
    filename = f"unwritten-{stem}-{datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}.json"
    failures = []
    for folder in unwritten_folders(uri):
        try:
            return _write_atomically(folder / filename, data)
        except OSError as err:
            failures.append(f"{folder}: {one_line(err)}")
    raise TrackingError(f"could not save the unwritten results of sweep {name!r} anywhere: {'; '.join(failures)}")


def replay_unwritten(uri: str, name: str) -> list[Path]:
    """Write every saved file of sweep ``name`` and store ``uri`` to the store, deleting each once
    written; returns the files written.

    Raises
    ------
    TrackingError
        when the store cannot take a file's records (the file stays).
    """
    uri, replayed = absolute(uri), []
    for path in _saved_files(uri, name):
        payload = json.loads(path.read_text())
        store = client(uri)
        with store_errors(uri):
            experiment_id = payload["experiment_id"]
            if not experiment_id:
                experiment = store.get_experiment_by_name(name)
                if experiment is None:
                    raise TrackingError(f"{path}: the store {uri} has no experiment {name!r} to write it to")
                experiment_id = experiment.experiment_id
            run_ids = {("" if key == _SWEEP_KEY else key): run_id for key, run_id in payload["runs"].items()}
            backend = open_backend(store, experiment_id, run_ids)
            backend.write([_record(item) for item in payload["unwritten"]])
        path.unlink()
        replayed.append(path)
    return replayed


def _saved_files(uri: str, name: str) -> list[Path]:
    """The saved files of sweep ``name`` and store ``uri``, oldest first."""
    found = []
    for folder in unwritten_folders(uri):
        for path in sorted(folder.glob("unwritten-*.json")) if folder.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                payload = json.loads(path.read_text())
                if payload.get("format") == _FORMAT and (payload["tracking_uri"], payload["experiment"]) == (uri, name):
                    found.append(path)
    return sorted(found, key=lambda path: path.stat().st_mtime)


def _write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` whole or not at all (a synced temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".unwritten-", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _jsonable(record: RunWrite) -> dict[str, Any]:
    artifacts = {}
    for name, content in record.artifacts.items():
        try:
            data = content() if callable(content) else content
        except Exception as err:  # e.g. a copy from the unreachable store
            artifacts[name] = {"unavailable": one_line(err)}
            continue
        if data is not None:
            artifacts[name] = {"base64": base64.b64encode(data).decode()}
    return {
        "run": record.key or _SWEEP_KEY,
        "create_tags": record.create,
        "params": record.params,
        "tags": record.tags,
        "metrics": [{"key": k, "value": v, "timestamp": t, "step": s} for k, v, t, s in record.metrics],
        "artifacts": artifacts,
        "status": record.status,
        "start_ms": record.start_ms,
        "end_ms": record.end_ms,
    }


def _record(item: dict[str, Any]) -> RunWrite:
    return RunWrite(
        key="" if item["run"] == _SWEEP_KEY else item["run"],
        create=item["create_tags"],
        params=item["params"],
        tags=item["tags"],
        metrics=[(m["key"], m["value"], m["timestamp"], m["step"]) for m in item["metrics"]],
        artifacts={
            name: base64.b64decode(content["base64"])
            for name, content in item["artifacts"].items()
            if "base64" in content
        },
        status=item["status"],
        start_ms=item["start_ms"],
        end_ms=item["end_ms"],
    )
