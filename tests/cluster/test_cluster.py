"""``sweepnet sweep --address`` on a real two-node Ray cluster: trials spread over both nodes, and a
node that dies mid-trial has its trial re-run on the other one."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from sweepnet.records import TrialState
from sweepnet.tracking import read_sweep

pytestmark = pytest.mark.slow

SWEEP = """\
name: {name}
seed: 0
data: {{name: digits, flatten: true, standardize: true}}
model:
  name: fc
  hidden_dims: [{{grid: [16, 32, 64]}}]
  reg: {{grid: [0.0, 0.001]}}
solver:
  update_rule: adam
  optim_config: {{learning_rate: 1.0e-3}}
  batch_size: 64
  num_epochs: {epochs}
search: {{searcher: grid}}
"""


def _sweep(cluster, tmp_path: Path, name: str, epochs: int) -> tuple[subprocess.Popen, str]:
    """Start ``sweepnet sweep`` against ``cluster``; returns the process and the tracking URI."""
    config = tmp_path / f"{name}.yaml"
    config.write_text(textwrap.dedent(SWEEP.format(name=name, epochs=epochs)))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    command = [sys.executable, "-m", "sweepnet", "sweep", str(config), "--address", cluster.address]
    process = subprocess.Popen(
        [*command, "--tracking-uri", uri],
        env=cluster.env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return process, uri


def _finish(process: subprocess.Popen, timeout: float = 240) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    assert process.returncode == 0, output
    return output


def test_a_sweep_runs_trials_on_both_nodes(two_node_cluster, tmp_path):
    process, uri = _sweep(two_node_cluster, tmp_path, "spread", epochs=4)
    output = _finish(process)
    assert "best" in output and "sweepnet ui" in output
    record = read_sweep("spread", uri)
    results = [result for _, result in record.entries]
    assert len(results) == 6 and {result.state for result in results} == {TrialState.COMPLETED}
    node_ids = {result.node.split("/")[1] for result in results}
    assert len(node_ids) == 2, [result.node for result in results]


def test_a_node_that_dies_mid_trial_has_its_trial_rerun_on_the_other(two_node_cluster, tmp_path):
    process, uri = _sweep(two_node_cluster, tmp_path, "node-death", epochs=1500)
    second = two_node_cluster.nodes[1]
    deadline = time.monotonic() + 120
    while not _running_a_trial(second):
        assert process.poll() is None and time.monotonic() < deadline, "no trial started on the second node"
        time.sleep(0.2)
    second.crash()
    _finish(process)
    results = [result for _, result in read_sweep("node-death", uri).entries]
    assert len(results) == 6 and {result.state for result in results} == {TrialState.COMPLETED}
    retried = [result for result in results if result.retries]
    assert retried, "the trial that ran on the dead node was not retried"
    assert len({result.node for result in retried}) == 1  # re-run on the surviving node


def _running_a_trial(node) -> bool:
    """True while one of ``node``'s worker processes executes ``_TrialWorker.run`` (Ray's process title)."""
    for process in node.processes():
        try:
            if " ".join(process.cmdline()).startswith("ray::_TrialWorker.run"):
                return True
        except Exception:  # the process ended meanwhile
            continue
    return False
