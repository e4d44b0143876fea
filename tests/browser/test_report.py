"""Headless Chromium opens a sweep's report.html from disk: the page renders and every figure decodes
(``tests/test_report.py`` checks that nothing in it points elsewhere). The screenshot is kept in
``test-artifacts/`` for a human.

Uses Debian's ``chromium`` (``.ci/run`` installs it) as ``test_mlflow_ui.py`` runs it.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

from sweepnet.data import DatasetMeta
from sweepnet.records import TrialResult, TrialSpec, TrialState
from sweepnet.report import run_links, sweep_report

from .test_mlflow_ui import ARTIFACTS, CHROMIUM, _chromium

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium; .ci/run does)"),
]

WINDOW = "1400,2400"  # tall enough for the summary, the heat map and the next figures

# Once the page loaded, write each image's decoded width into the title, for --dump-dom to show.
_PROBE = """<script>
addEventListener("load", () => {
  document.title = "widths:" + [...document.images].map((image) => image.complete ? image.naturalWidth : -1).join(",");
});
</script>"""


def _entries():
    """A 4 x 3 learning rate x regularisation grid of a linear classifier on 8 x 8 digits."""
    rng = np.random.default_rng(0)
    entries = []
    for lr in (1e-4, 1e-3, 1e-2, 1e-1):
        for reg in (1e-3, 1e-2, 1e-1):
            number = len(entries)
            spec = TrialSpec(
                f"{number:02d}" + "e" * 38, number, {"model.learning_rate": lr, "model.reg": reg}, {}, number
            )
            score = 0.9 - 0.1 * abs(np.log10(lr) + 2) - 0.05 * abs(np.log10(reg) + 2) + 0.01 * rng.random()
            history = [{"epoch": 1, "loss": 0.5, "train_acc": score + 0.03, "val_acc": score}]
            loss = np.column_stack([np.arange(1, 301), 9 * np.exp(-np.arange(300) / (30 + 100 * number))]).astype(
                np.float32
            )
            metrics = {"val_acc": score, "train_acc": score + 0.03, "test_acc": score - 0.01}
            entries.append(
                (spec, TrialResult(spec.trial_id, TrialState.COMPLETED, metrics, history, 2.0, iteration_loss=loss))
            )
    return entries


def test_chromium_renders_the_report_with_every_figure_decoded(tmp_path):
    entries = _entries()
    config = {"model": {"name": "softmax", "learning_rate": {"grid": [1e-4, 1e-3, 1e-2, 1e-1]},
                        "reg": {"grid": [1e-3, 1e-2, 1e-1]}},
              "data": {"name": "digits", "bias_trick": True}}  # fmt: skip
    meta = DatasetMeta("digits", "classification", (65,), num_classes=10, class_names=tuple("0123456789"))
    weights = {"W": np.random.default_rng(1).standard_normal((65, 10))}
    links = run_links(
        "http://127.0.0.1:5000", "1", "parent", {spec.trial_id: f"run{spec.number}" for spec, _ in entries}
    )
    pictures, page = sweep_report(
        "softmax-grid", entries, config, "val_acc", "max", sweep_text="name: softmax-grid\n", status="FINISHED",
        links=links, data_meta=meta, best_weights=weights,
    )  # fmt: skip
    report = tmp_path / "report.html"
    report.write_text(page)
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", _PROBE + "</body>"))

    dom = _chromium(probed.as_uri(), tmp_path / "profile", "--dump-dom", window=WINDOW)
    title = html.unescape(re.search(r"<title>(.*?)</title>", dom).group(1))
    widths = [int(width) for width in title.removeprefix("widths:").split(",")]
    assert len(widths) == len(pictures) >= 5 and all(width > 300 for width in widths), title
    text = " ".join(
        html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S))).split()
    )
    assert "softmax-grid" in text and "Best trial" in text and "Leaderboard" in text and "Sweep file" in text
    assert "12 trials (12 completed)" in text

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    _chromium(report.as_uri(), tmp_path / "profile", f"--screenshot={screenshot}", window=WINDOW)
    assert screenshot.read_bytes().startswith(b"\x89PNG") and screenshot.stat().st_size > 50_000
