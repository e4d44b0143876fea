"""A trained model as one ``.npz`` file: weights, layer state, config and preprocessing, no pickle.

Every trial that keeps weights is saved this way (``model.npz`` on its MLflow run), and so is a
sweep's best model (``best_model.npz`` and the MLflow Model ``model/`` on the parent run).
:func:`sweepnet.load_model` turns the file back into a model that predicts from raw inputs.

Keys of the archive (every one a numeric array, so ``np.load(path, allow_pickle=False)`` reads it)::

    sweepnet.json         uint8: UTF-8 JSON, see below
    params/<name>         the weights, e.g. params/W1 or params/0.conv.W
    state/<name>          the model's state of the same epoch, e.g. state/bn_params.0.running_mean
    preprocessing/mean    (D,) float64 training mean (when the data were centred)
    preprocessing/scale   (D,) float64 divisor (when they were standardised)

``sweepnet.json`` holds ``format`` ("sweepnet-model"), ``version`` (1), ``sweepnet_version``,
``sweep``, ``trial`` (``trial_id``, ``number``, ``seed``, ``state``, ``params``, ``metrics``),
``config`` (the trial's resolved sweep config: ``data``, ``model``, ``solver`` ...), ``data``
(the data set as the model sees it: ``name``, ``task``, ``input_shape``, ``num_classes``,
``num_outputs``, ``class_names``) and ``preprocessing`` (``raw_shape``, ``raw_dtype``,
``features``, ``flatten``, ``bias_trick``).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sweepnet import __version__
from sweepnet.data import DatasetMeta
from sweepnet.data.transform import Preprocessing
from sweepnet.errors import SweepnetError

__all__ = ["FORMAT", "VERSION", "ModelBundle", "ModelFileError"]

FORMAT = "sweepnet-model"
VERSION = 1
_JSON = "sweepnet.json"
_PARAMS, _STATE, _PREPROCESSING = "params/", "state/", "preprocessing/"
_NUMERIC = "biuf"  # dtype kinds a model file may hold: bool, integers, floats


class ModelFileError(SweepnetError):
    """A model file cannot be read, or holds something other than numeric arrays; names the file."""


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """Everything needed to rebuild a trained model and feed it raw inputs.

    Attributes
    ----------
    weights : parameters, name -> array (``TrialResult.weights``).
    state : the model's state of the same epoch, name -> array (``TrialResult.model_state``).
    config : the trial's resolved sweep config (plain data); its ``model`` section and
        ``solver.dtype`` rebuild the model.
    meta : the data set as the model sees it, ``meta.preprocessing`` the transform of raw inputs
        (None when the sweep did not say: such a file holds weights, but no loadable model).
    trial : ``sweep``, ``trial_id``, ``number``, ``seed``, ``state``, ``params``, ``metrics``.
    """

    weights: dict[str, np.ndarray]
    state: dict[str, np.ndarray]
    config: dict[str, Any]
    meta: DatasetMeta | None
    trial: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        """The ``.npz`` file's content."""
        preprocessing = None if self.meta is None else self.meta.preprocessing
        arrays: dict[str, np.ndarray] = {_JSON: np.frombuffer(json.dumps(self._description()).encode(), np.uint8)}
        arrays |= {_PARAMS + name: np.asarray(value) for name, value in self.weights.items()}
        arrays |= {_STATE + name: np.asarray(value) for name, value in self.state.items()}
        for name in ("mean", "scale"):
            if preprocessing is not None and getattr(preprocessing, name) is not None:
                arrays[_PREPROCESSING + name] = np.asarray(getattr(preprocessing, name))
        bad = sorted(key for key, value in arrays.items() if value.dtype.kind not in _NUMERIC)
        if bad:  # savez would pickle them silently, and no safe loader could read the file
            raise ValueError(f"model file: not numeric arrays, cannot be saved without pickle: {', '.join(bad)}")
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub matches **arrays to allow_pickle
        return buffer.getvalue()

    def _description(self) -> dict[str, Any]:
        """``sweepnet.json``: everything but the arrays."""
        meta = self.meta
        return {
            "format": FORMAT,
            "version": VERSION,
            "sweepnet_version": __version__,
            "trial": self.trial,
            "config": self.config,
            "data": None if meta is None else _data_description(meta),
            "preprocessing": None if meta is None or meta.preprocessing is None else _steps(meta.preprocessing),
        }

    @classmethod
    def read(cls, source: str | os.PathLike[str] | bytes, name: str | None = None) -> ModelBundle:
        """Read a model file without unpickling anything.

        Parameters
        ----------
        source : a path, or the file's content.
        name : how error messages name the file (default: the path, or "model file").

        Raises
        ------
        ModelFileError
            naming the file, when it is not a sweepnet model file: not an ``.npz`` archive, a
            member that is not a numeric array (a pickle, an object array), or a description
            that is missing or of another format.
        """
        what = name or (os.fspath(source) if not isinstance(source, bytes) else "model file")
        arrays = _read_arrays(io.BytesIO(source) if isinstance(source, bytes) else source, what)
        if _JSON not in arrays:
            raise ModelFileError(f"{what}: not a sweepnet model file (no {_JSON} inside)")
        try:
            description = json.loads(arrays.pop(_JSON).tobytes().decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ModelFileError(f"{what}: {_JSON} is not JSON: {err}") from None
        if not isinstance(description, dict) or description.get("format") != FORMAT:
            raise ModelFileError(f"{what}: not a sweepnet model file ({_JSON} says no format {FORMAT!r})")
        if description.get("version") != VERSION:
            raise ModelFileError(
                f"{what}: model file version {description.get('version')!r}; this sweepnet reads version {VERSION}"
            )
        try:
            data = description["data"]
            meta = None if data is None else _meta(data, description["preprocessing"], arrays)
            return cls(
                weights=_prefixed(arrays, _PARAMS),
                state=_prefixed(arrays, _STATE),
                config=dict(description["config"]),
                meta=meta,
                trial=dict(description.get("trial") or {}),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ModelFileError(f"{what}: {_JSON} is incomplete or malformed ({type(err).__name__}: {err})") from None


def _data_description(meta: DatasetMeta) -> dict[str, Any]:
    return {
        "name": meta.name,
        "task": meta.task,
        "input_shape": list(meta.input_shape),
        "num_classes": meta.num_classes,
        "num_outputs": meta.num_outputs,
        "class_names": None if meta.class_names is None else list(meta.class_names),
    }


def _steps(preprocessing: Preprocessing) -> dict[str, Any]:
    """The preprocessing without its statistics (those are arrays of the file)."""
    return {
        "raw_shape": list(preprocessing.raw_shape),
        "raw_dtype": preprocessing.raw_dtype,
        "features": preprocessing.features,
        "flatten": preprocessing.flatten,
        "bias_trick": preprocessing.bias_trick,
    }


def _read_arrays(source: str | os.PathLike[str] | io.BytesIO, what: str) -> dict[str, np.ndarray]:
    """Every member of the ``.npz`` at ``source``, name -> array; refuses anything but numeric arrays."""
    try:
        archive = np.load(source, allow_pickle=False)
    except ValueError as err:  # numpy refuses a pickle when allow_pickle=False
        raise ModelFileError(f"{what}: {_refused(err)} not a sweepnet model file (.npz); refusing to load it") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise ModelFileError(f"{what}: cannot read it as a model file (.npz): {err}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ModelFileError(f"{what}: a single array, not a sweepnet model file (.npz)")
    with archive:
        assert archive.zip is not None, "an NpzFile keeps its zip open until closed"
        strays = [member for member in archive.zip.namelist() if not member.endswith(".npy")]
        if strays:
            raise ModelFileError(f"{what}: holds {strays[0]!r}, which is not an array; refusing to load it")
        arrays = {}
        for key in archive.files:
            try:
                arrays[key] = archive[key]
            except ValueError as err:  # numpy refuses object arrays when allow_pickle=False
                reason = f"{key!r} is {_refused(err)} not a plain array"
                raise ModelFileError(f"{what}: {reason}; refusing to load it") from None
            except (OSError, EOFError, zipfile.BadZipFile) as err:
                raise ModelFileError(f"{what}: cannot read {key!r}: {err}") from None
    bad = sorted(key for key, value in arrays.items() if value.dtype.kind not in _NUMERIC)
    if bad:
        reason = f"{bad[0]!r} holds {arrays[bad[0]].dtype} values, not numbers"
        raise ModelFileError(f"{what}: {reason}; refusing to load it")
    return arrays


def _refused(err: ValueError) -> str:
    """What numpy's refusal says the data is, worded for the error message."""
    return "pickled data (sweepnet never unpickles a model file)," if "pickle" in str(err).lower() else f"({err})"


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {key.removeprefix(prefix): value for key, value in arrays.items() if key.startswith(prefix)}


def _meta(data: dict[str, Any], preprocessing: dict[str, Any] | None, arrays: dict[str, np.ndarray]) -> DatasetMeta:
    """The :class:`DatasetMeta` (with its :class:`Preprocessing`) the description and arrays hold."""
    transform = None
    if preprocessing is not None:
        statistics = _prefixed(arrays, _PREPROCESSING)
        transform = Preprocessing(
            raw_shape=tuple(int(size) for size in preprocessing["raw_shape"]),
            raw_dtype=str(np.dtype(preprocessing["raw_dtype"])),
            features=preprocessing["features"],
            flatten=bool(preprocessing["flatten"]),
            mean=statistics.get("mean"),
            scale=statistics.get("scale"),
            bias_trick=bool(preprocessing["bias_trick"]),
        )
    if data["task"] not in ("classification", "regression"):
        raise ValueError(f"unknown task {data['task']!r}")
    names = data.get("class_names")
    return DatasetMeta(
        name=str(data["name"]),
        task=data["task"],
        input_shape=tuple(int(size) for size in data["input_shape"]),
        num_classes=data.get("num_classes"),
        num_outputs=int(data.get("num_outputs", 1)),
        class_names=None if names is None else tuple(str(name) for name in names),
        preprocessing=transform,
    )
