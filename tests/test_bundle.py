"""Model files: what they hold, read back without pickle; anything that would need unpickling is refused."""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sweepnet import __version__
from sweepnet.bundle import FORMAT, VERSION, ModelBundle, ModelFileError
from sweepnet.data import DatasetMeta
from sweepnet.data.transform import Preprocessing

TRANSFORM = Preprocessing(
    (1, 2, 2), "float32", flatten=True, mean=np.arange(4.0), scale=np.full(4, 2.0), bias_trick=True
)
META = DatasetMeta("toy", "classification", (5,), num_classes=3, class_names=("a", "b", "c"), preprocessing=TRANSFORM)
TRIAL = {"sweep": "s", "trial_id": "ab" * 20, "number": 4, "seed": 7, "state": "COMPLETED",
         "params": {"model.reg": 0.1}, "metrics": {"val_acc": 0.5}}  # fmt: skip


def _bundle() -> ModelBundle:
    weights = {"W1": np.arange(15, dtype=np.float32).reshape(5, 3), "b1": np.zeros(3, np.float32)}
    state = {"bn_params.0.running_mean": np.ones(3)}
    config = {"model": {"name": "fc", "hidden_dims": []}, "solver": {"dtype": "float32"}}
    return ModelBundle(weights, state, config, META, TRIAL)


def test_the_file_is_numeric_arrays_only_with_a_json_description():
    data = _bundle().to_bytes()
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert sorted(archive.files) == [
            "params/W1", "params/b1", "preprocessing/mean", "preprocessing/scale",
            "state/bn_params.0.running_mean", "sweepnet.json",
        ]  # fmt: skip
        assert archive["sweepnet.json"].dtype == np.uint8
        description = json.loads(archive["sweepnet.json"].tobytes())
    assert description["format"] == FORMAT and description["version"] == VERSION
    assert description["sweepnet_version"] == __version__
    assert description["trial"] == TRIAL and description["config"]["model"]["name"] == "fc"
    assert description["data"] == {"name": "toy", "task": "classification", "input_shape": [5], "num_classes": 3,
                                   "num_outputs": 1, "class_names": ["a", "b", "c"]}  # fmt: skip
    assert description["preprocessing"] == {"raw_shape": [1, 2, 2], "raw_dtype": "float32", "features": None,
                                            "flatten": True, "bias_trick": True}  # fmt: skip


def test_it_reads_back_what_was_saved(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(_bundle().to_bytes())
    bundle = ModelBundle.read(path)
    assert bundle.weights.keys() == {"W1", "b1"} and bundle.weights["W1"].dtype == np.float32
    np.testing.assert_array_equal(bundle.weights["W1"], _bundle().weights["W1"])
    np.testing.assert_array_equal(bundle.state["bn_params.0.running_mean"], np.ones(3))
    assert bundle.trial == TRIAL and bundle.config == _bundle().config
    assert bundle.meta == META  # name, task, shapes, classes
    transform = bundle.meta.preprocessing
    assert (transform.raw_shape, transform.raw_dtype) == ((1, 2, 2), "float32")
    assert transform.flatten and transform.bias_trick and transform.features is None
    np.testing.assert_array_equal(transform.mean, np.arange(4.0))
    np.testing.assert_array_equal(transform.scale, np.full(4, 2.0))
    assert ModelBundle.read(path.read_bytes()).weights.keys() == {"W1", "b1"}


def test_a_sweep_without_a_data_description_saves_weights_the_loader_cannot_use():
    bundle = ModelBundle.read(ModelBundle({"W": np.ones(2)}, {}, {}, None).to_bytes())
    assert bundle.meta is None and bundle.weights.keys() == {"W"}


def test_object_arrays_are_never_written():
    bundle = ModelBundle({"W": np.array([{"a": 1}], dtype=object)}, {}, {}, META)
    with pytest.raises(ValueError, match="not numeric arrays, cannot be saved without pickle: params/W"):
        bundle.to_bytes()


class _Payload:
    """Unpickling it writes a file: the proof that something was unpickled."""

    marker: Path

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def _tampered(tmp_path: Path, how: str) -> Path:
    """A model file changed the way an attacker (or a careless tool) might."""
    payload = _Payload()
    _Payload.marker = tmp_path / "unpickled.txt"
    path = tmp_path / f"{how}.npz"
    arrays = dict(np.load(io.BytesIO(_bundle().to_bytes()), allow_pickle=False))
    if how == "object array":
        arrays["params/W1"] = np.array([payload], dtype=object)
        np.savez(path, **arrays)  # numpy pickles the object array inside its .npy
    elif how == "pickle member":
        np.savez(path, **arrays)
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("weights.pkl", pickle.dumps(payload))
    elif how == "pickle file":
        path.write_bytes(pickle.dumps({"params/W1": payload}))
    elif how == "one array":
        np.save(path, np.ones(3))
        path = path.with_suffix(".npz.npy")
    elif how == "text array":
        arrays["params/W1"] = np.array(["3.0"])
        np.savez(path, **arrays)
    elif how == "cut short":
        path.write_bytes(_bundle().to_bytes()[:200])
    return path


@pytest.mark.parametrize(
    ("how", "message"),
    [
        (
            "object array",
            r"object array.npz: 'params/W1' is pickled data \(sweepnet never unpickles a model file\), "
            r"not a plain array; refusing to load it$",
        ),
        ("pickle member", r"pickle member.npz: holds 'weights.pkl', which is not an array; refusing to load it$"),
        (
            "pickle file",
            r"pickle file.npz: pickled data \(sweepnet never unpickles a model file\), not a sweepnet "
            r"model file \(.npz\); refusing to load it$",
        ),
        ("one array", r"one array.npz.npy: a single array, not a sweepnet model file"),
        ("text array", r"text array.npz: 'params/W1' holds <U3 values, not numbers; refusing to load it"),
        ("cut short", r"cut short.npz: cannot read it as a model file"),
    ],
)
def test_a_tampered_file_is_refused_without_unpickling_anything(tmp_path, how, message):
    path = _tampered(tmp_path, how)
    with pytest.raises(ModelFileError, match=message):
        ModelBundle.read(path)
    assert not (tmp_path / "unpickled.txt").exists()


def _with_description(tmp_path: Path, description: object) -> Path:
    arrays = dict(np.load(io.BytesIO(_bundle().to_bytes()), allow_pickle=False))
    if description is None:
        del arrays["sweepnet.json"]
    else:
        arrays["sweepnet.json"] = np.frombuffer(json.dumps(description).encode(), np.uint8)
    path = tmp_path / "model.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (None, r"not a sweepnet model file \(no sweepnet.json inside\)"),
        ({"format": "other"}, r"not a sweepnet model file \(sweepnet.json says no format 'sweepnet-model'\)"),
        ({"version": 2}, r"model file version 2; this sweepnet reads version 1"),
        ({"data": {"name": "toy"}}, r"sweepnet.json is incomplete or malformed \(KeyError: 'task'\)"),
        ({"data": {**json.loads(json.dumps(_bundle()._description()["data"])), "task": "ranking"}},
         r"incomplete or malformed \(ValueError: unknown task 'ranking'\)"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_a_sweepnet_model_is_named(tmp_path, change, message):
    description = None if change is None else {**_bundle()._description(), **change}
    with pytest.raises(ModelFileError, match=message):
        ModelBundle.read(_with_description(tmp_path, description))
