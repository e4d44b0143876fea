"""The sweep's best model as an MLflow Model: loaded by ``mlflow.pyfunc`` without pickle, and served over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from sweepnet import leaderboard
from sweepnet.options import NoOptions
from sweepnet.pyfunc import PyfuncModel, _load_pyfunc
from sweepnet.tracking import read_sweep


def _parent_run_id(recorded_sweep) -> str:
    return read_sweep(recorded_sweep.name, recorded_sweep.uri).run_id


def _raw_test(builtin_registries):
    raw = builtin_registries.datasets.get("digits")().load(NoOptions(), data_home=None)
    return raw.X_test, raw.y_test


def test_the_parent_run_holds_an_mlflow_model_of_the_best_trial(recorded_sweep, tmp_path):
    client = MlflowClient(recorded_sweep.uri)
    run_id = _parent_run_id(recorded_sweep)
    assert {info.path for info in client.list_artifacts(run_id, "model")} == {"model/MLmodel", "model/model.npz"}
    folder = Path(client.download_artifacts(run_id, "model", str(tmp_path)))
    description = yaml.safe_load((folder / "MLmodel").read_text())
    assert description["flavors"]["python_function"]["loader_module"] == "sweepnet.pyfunc"
    assert description["flavors"]["python_function"]["data"] == "model.npz"
    assert description["run_id"] == run_id and description["artifact_path"] == "model"
    best = Path(client.download_artifacts(run_id, "best_model.npz", str(tmp_path)))
    assert (folder / "model.npz").read_bytes() == best.read_bytes()
    predictor = _load_pyfunc(str(folder / "model.npz")).predictor
    assert predictor.trial_id == leaderboard.rank(recorded_sweep.entries, "val_acc", "max")[0][0].trial_id


def test_mlflow_loads_it_in_a_fresh_process_without_unpickling_anything(recorded_sweep):
    """``mlflow.pyfunc.load_model("runs:/<parent>/model")`` with pickle and cloudpickle made to fail."""
    code = textwrap.dedent(f"""
        import json, pickle, numpy as np
        def refuse(*args, **kwargs):
            raise AssertionError("something was unpickled")
        pickle.load = pickle.loads = refuse
        import cloudpickle
        cloudpickle.load = cloudpickle.loads = refuse
        import mlflow
        mlflow.set_tracking_uri({recorded_sweep.uri!r})
        model = mlflow.pyfunc.load_model("runs:/{_parent_run_id(recorded_sweep)}/model")
        from sweepnet.options import NoOptions
        from sweepnet.pluginmanager import get_registries
        raw = get_registries().datasets.get("digits")().load(NoOptions(), data_home=None)
        print(json.dumps(float(np.mean(model.predict(raw.X_test) == raw.y_test))))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _, best = leaderboard.rank(read_sweep(recorded_sweep.name, recorded_sweep.uri).entries, "val_acc", "max")[0]
    assert json.loads(done.stdout.splitlines()[-1]) == best.metrics["test_acc"]


def test_predict_takes_arrays_lists_and_the_tables_of_dataframe_split(recorded_sweep, builtin_registries, tmp_path):
    client = MlflowClient(recorded_sweep.uri)
    model = _load_pyfunc(client.download_artifacts(_parent_run_id(recorded_sweep), "model/model.npz", str(tmp_path)))
    assert isinstance(model, PyfuncModel)
    X, _ = _raw_test(builtin_registries)
    labels = model.predict(X[:7])
    assert labels.shape == (7,) and labels.dtype.kind == "i"
    np.testing.assert_array_equal(model.predict(X[:7].tolist()), labels)
    np.testing.assert_array_equal(model.predict(pd.DataFrame(X[:7].reshape(7, 64))), labels)
    np.testing.assert_array_equal(model.predict(X[:7], params={}), model.predictor.predict(X[:7]))


def test_the_loader_module_itself_imports_no_mlflow(recorded_sweep, tmp_path):
    client = MlflowClient(recorded_sweep.uri)
    path = client.download_artifacts(_parent_run_id(recorded_sweep), "model/model.npz", str(tmp_path))
    code = f"import sys; import sweepnet.pyfunc as f; f._load_pyfunc({path!r}); print('mlflow' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_mlflow_models_serve_answers_invocations_with_the_best_models_predictions(recorded_sweep, builtin_registries):
    port = _free_port()
    model_uri = f"runs:/{_parent_run_id(recorded_sweep)}/model"
    command = [sys.executable, "-m", "mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port)]  # fmt: skip
    # MLflow starts the scoring server as `uvicorn` from PATH: the one of this environment.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "MLFLOW_TRACKING_URI": recorded_sweep.uri, "PATH": path}
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/ping", server)
        X, y = _raw_test(builtin_registries)
        url = f"http://127.0.0.1:{port}/invocations"
        tensors = _post(url, {"inputs": X[:5].tolist()})
        table = {"columns": [f"pixel{i}" for i in range(64)], "data": X[:5].reshape(5, 64).tolist()}
        rows = _post(url, {"dataframe_split": table})
        from sweepnet import load_model

        expected = load_model(recorded_sweep.name, tracking_uri=recorded_sweep.uri).predict(X[:5]).tolist()
        assert tensors == rows == {"predictions": expected}
        assert np.mean(np.array(expected) == y[:5]) >= 0.6
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and its uvicorn child: a group of their own
        server.wait(timeout=30)


def _wait_until_up(url: str, server: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            if server.poll() is not None:
                raise AssertionError(f"mlflow models serve exited: {server.stdout.read().decode()[-3000:]}") from None
            if time.monotonic() > deadline:
                raise AssertionError("mlflow models serve did not answer /ping") from None
            time.sleep(0.5)
