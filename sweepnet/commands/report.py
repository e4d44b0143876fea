"""``sweepnet report SWEEP``: write the one-page report of a recorded sweep.

::

    sweepnet report quickstart                      # report-quickstart.html
    sweepnet report quickstart -o quickstart.html --tracking-uri http://127.0.0.1:5000

The trials come from the tracking store, so this works while the sweep runs (trials still
running show the epochs reported so far), after it finished, and after its driver died. The
page is the ``report.html`` a finished sweep logs on its parent run (see :mod:`sweepnet.report`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from sweepnet.data import DatasetMeta
    from sweepnet.tracking import SweepRecord

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="write the one-page HTML report of a recorded sweep",
        description="Write a self-contained HTML page of the latest invocation of SWEEP, as the tracking "
        "store holds it: leaderboard, figures, the sweep file and links to its runs in the MLflow UI.",
    )
    parser.add_argument("sweep", metavar="SWEEP", help="the sweep's name (its MLflow experiment)")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="where to write the page (default: report-SWEEP.html; - for stdout)"
    )
    parser.add_argument(
        "--tracking-uri",
        help="MLflow tracking URI to read (default: $MLFLOW_TRACKING_URI, then sqlite:///sweepnet-results/mlflow.db)",
    )
    parser.add_argument(
        "--ui-url",
        help="the MLflow UI the run links point to (default: the tracking URI of a server, else "
        "http://127.0.0.1:5000, where `sweepnet ui` serves)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read the sweep, draw its figures, write the page; returns the exit status."""
    from sweepnet.report import run_links, sweep_report, ui_url
    from sweepnet.tracking import read_artifact, read_iteration_loss, read_sweep

    record = read_sweep(args.sweep, args.tracking_uri, histories=True)
    config = _config(read_artifact(record, "config.yaml"))
    _, page = sweep_report(
        record.name,
        record.entries,
        config,
        record.metric,
        record.mode,
        sweep_text=(read_artifact(record, "sweep.yaml") or b"").decode(),
        overrides=record.overrides,
        status=record.status,
        links=run_links(
            args.ui_url or ui_url(record.tracking_uri), record.experiment_id, record.run_id, record.run_ids
        ),
        data_meta=_data_meta(read_artifact(record, "data_meta.json")),
        best_weights=_best_weights(record),
        iteration_loss=partial(read_iteration_loss, record),
    )
    if args.output == "-":
        sys.stdout.write(page)
        return 0
    output = Path(args.output or f"report-{args.sweep}.html")
    _write_atomically(output, page)
    print(f"wrote {output} ({len(record.entries)} trials of {record.name}, {record.status.lower()})")
    return 0


def _config(text: bytes | None) -> dict[str, Any]:
    """The validated sweep config the sweep recorded (search spaces included); {} without one."""
    from sweepnet.yamlfile import parse_yaml

    config = parse_yaml(text.decode(), "config.yaml") if text else None
    return config if isinstance(config, dict) else {}


def _data_meta(text: bytes | None) -> DatasetMeta | None:
    """The data set's metadata the sweep recorded (sweeps recorded before it was: None)."""
    from sweepnet.data import DatasetMeta

    if not text:
        return None
    fields = json.loads(text)
    fields["input_shape"] = tuple(fields["input_shape"])
    if fields.get("class_names") is not None:
        fields["class_names"] = tuple(fields["class_names"])
    return DatasetMeta(**fields)


def _best_weights(record: SweepRecord) -> dict[str, np.ndarray] | None:
    """The weights in the best trial's model file (read without pickles); None when it has none."""
    from sweepnet import leaderboard
    from sweepnet.bundle import ModelBundle
    from sweepnet.tracking import read_artifact

    best = leaderboard.best(record.entries, record.metric, record.mode)
    if best is None or best[0].trial_id not in record.models:
        return None  # no trial ended with the metric (a diverged one's weights are not the best)
    data = read_artifact(record, "model.npz", record.run_ids[best[0].trial_id])
    if data is None:
        return None
    return ModelBundle.read(data, "the best trial's model.npz").weights


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees half a page.

    Raises
    ------
    SweepnetError
        naming the file when it cannot be written.
    """
    from sweepnet.errors import SweepnetError

    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except OSError as err:
        raise SweepnetError(f"cannot write the report to {path}: {err.strerror or err}") from None
    finally:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
