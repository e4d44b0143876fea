"""Materialising the data set of a sweep: plugin load, then preprocessing, once."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from sweepnet.data.dataset import Dataset
from sweepnet.data.home import resolve_data_home
from sweepnet.data.plugin import DatasetPlugin
from sweepnet.data.preprocess import preprocess
from sweepnet.data.spec import DataSpec
from sweepnet.errors import PluginError, SweepnetError
from sweepnet.options import NoOptions
from sweepnet.registry import BUILTIN_PROVIDER

if TYPE_CHECKING:
    from sweepnet.registry import Registry

__all__ = ["load_dataset"]


def load_dataset(spec: DataSpec, registry: Registry, options: BaseModel | None = None) -> Dataset:
    """Load and preprocess the data set a sweep's ``data:`` section describes.

    Call it once per sweep and share the result: its arrays are read-only, and trials take
    views or index them (``Dataset.folds``) rather than copy them.

    Parameters
    ----------
    spec : the validated ``data:`` section.
    registry : the datasets registry (``get_registries().datasets``).
    options : the plugin's options as the sweep's plan validated them from ``spec.options``;
        validated here when not given.

    Raises
    ------
    ConfigError : bad plugin options or preprocessing settings, naming the ``data.`` field.
    DataError : files missing or unreadable, naming the directory and the download command.
    PluginError : unknown data set, a third-party plugin whose ``load`` raised (naming it), or a
        plugin that broke the :class:`Dataset` contract.
    """
    component = registry.component(spec.name)
    plugin: DatasetPlugin = component.obj()
    if options is None:
        options = component.parse_options(spec.options, "data.options") or NoOptions()
    data_home = resolve_data_home(spec.data_dir)
    try:
        raw = plugin.load(options, data_home=data_home)
    except SweepnetError:
        raise
    except Exception as err:
        if component.provider == BUILTIN_PROVIDER:
            raise  # a bug in sweepnet: the traceback helps
        message = " ".join(str(err).split())
        raise PluginError(f"{component.label}: load raised {type(err).__name__}: {message}") from err
    _check_contract(raw, spec.name)
    return preprocess(raw, spec, cache_dir=data_home / "cache" / "features")


def _check_contract(dataset: Dataset, name: str) -> None:
    if not isinstance(dataset, Dataset):
        raise PluginError(f"dataset plugin {name!r} returned a {type(dataset).__name__}, not a sweepnet.data.Dataset")
    shape = tuple(dataset.meta.input_shape)
    for split in ("train", "val", "test"):
        X, y = getattr(dataset, f"X_{split}"), getattr(dataset, f"y_{split}")
        if X.shape[1:] != shape or len(X) != len(y):
            raise PluginError(
                f"dataset plugin {name!r}: X_{split} {X.shape} and y_{split} {y.shape} do not match input_shape {shape}"
            )
