"""Options: the base class of a component's config keys, and the one validation of what a user wrote.

Every component (layer, optimizer, data set, model, searcher, pruner) declares its config keys as
a :class:`PluginOptions` model; the fixed sections of a sweep file are pydantic models too. Both
are validated by :func:`validate_options`, which turns a pydantic error into one
:class:`~sweepnet.errors.ConfigError` line naming the dotted path of the bad key::

    class Options(PluginOptions):
        units: PositiveInt
        alpha: float = 0.01

    validate_options(Options, {"unit": 3}, "model.layers[1]")
    # ConfigError: model.layers[1].unit: unknown key; did you mean 'units'? (expected one of: units, alpha)
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from sweepnet.errors import ConfigError

__all__ = [
    "NoOptions",
    "PluginOptions",
    "dotted_path",
    "options_given",
    "refuse_conversions",
    "short_repr",
    "validate_options",
]

ModelT = TypeVar("ModelT", bound=BaseModel)


class PluginOptions(BaseModel):
    """Base class of a component's options (its config keys): unknown keys are refused.

    ::

        class Options(PluginOptions):
            units: PositiveInt
            alpha: float = 0.01
    """

    model_config = ConfigDict(extra="forbid")


class NoOptions(PluginOptions):
    """Options of a component that takes none."""


def validate_options(options: type[ModelT], data: Mapping[str, Any], field: str) -> ModelT:
    """``options.model_validate(data)``, a bad key or value raised as a one-line :class:`ConfigError`.

    Values pydantic's lax mode would convert between text, booleans and numbers (a ``true``
    taken as 1, the text ``"64"`` as 64) are refused too (:func:`refuse_conversions`).

    Parameters
    ----------
    options : the pydantic model to validate against (a component's options, a sweep file section).
    data : the keys as the user wrote them.
    field : dotted path of ``data``, prefixed to the path of the bad key (``""`` at the top level).

    Raises
    ------
    ConfigError
        naming ``field.<key>``: an unknown key (with the closest known one), a missing required
        key, or a bad value (what pydantic or the model's validator said, and the value).
    """
    try:
        validated = options.model_validate(dict(data))
    except ValidationError as err:
        raise _config_error(err, options, field) from None
    refuse_conversions(data, validated, field)
    return validated


def options_given(options: type[ModelT], given: BaseModel | None, keys: Mapping[str, Any], field: str) -> ModelT:
    """A component's options: ``given`` as validated when the sweep file was parsed, else ``keys`` validated now.

    Searchers and pruners take either: the plan hands them the instance it validated, and code that
    builds one directly (tests, notebooks) writes the keys, ``TPESearcher(space, ..., n_startup_trials=5)``.

    Raises
    ------
    ConfigError
        naming ``field.<key>`` for a bad key.
    TypeError
        when both are given, or ``given`` is not an instance of ``options``.
    """
    if given is None:
        return validate_options(options, keys, field)
    if keys:
        raise TypeError(f"give {field} options validated or as keywords, not both (got {', '.join(keys)})")
    if not isinstance(given, options):
        raise TypeError(f"{field} options must be a {options.__name__}, got a {type(given).__name__}")
    return given


def _config_error(err: ValidationError, options: type[BaseModel], field: str) -> ConfigError:
    """The first of pydantic's errors as a :class:`ConfigError` naming the dotted path of the bad key."""
    # A misspelt key is both unknown and leaves a required one missing: name the misspelling.
    error = min(err.errors(), key=lambda error: error["type"] != "extra_forbidden")
    loc = [part for part in error["loc"] if not _is_union_tag(part)]
    if error["type"] == "extra_forbidden":
        owner = _model_at(options, loc[:-1])
        reason = _unknown_key(str(loc[-1]), list(owner.model_fields) if owner else [])
    elif error["type"] == "missing":
        reason = "required"
    else:
        message = error["msg"].removeprefix("Value error, ")  # a validator's own message says what was wrong
        reason = message if error["type"] == "value_error" else f"{message}, got {short_repr(error['input'])}"
    return ConfigError(dotted_path(field, loc), reason)


def refuse_conversions(raw: Any, validated: Any, field: str) -> None:
    """Refuse values that pydantic's lax mode converted between text, booleans and numbers.

    Walks ``raw`` (as written) and ``validated`` (the validated model or its values) side by side:
    a ``true`` that became ``1``, a ``"64"`` that became ``64``, a ``1`` that became ``True``.

    Raises
    ------
    ConfigError
        naming the dotted path of the first converted value.
    """
    stack = [(field, raw, validated)]
    while stack:  # depth first, in the order written
        path, written, value = stack.pop()
        children: list[tuple[str, Any, Any]] = []
        if isinstance(value, BaseModel) and isinstance(written, Mapping):
            fields = type(value).model_fields
            children = [
                (dotted_path(path, [key]), item, getattr(value, key)) for key, item in written.items() if key in fields
            ]
        elif isinstance(value, dict) and isinstance(written, Mapping):
            children = [(dotted_path(path, [key]), item, value[key]) for key, item in written.items() if key in value]
        elif isinstance(value, list | tuple) and isinstance(written, list | tuple) and len(value) == len(written):
            children = [(dotted_path(path, [i]), *pair) for i, pair in enumerate(zip(written, value, strict=False))]
        else:
            reason = _conversion(written, value)
            if reason:
                raise ConfigError(path, reason)
        stack.extend(reversed(children))


def dotted_path(field: str, loc: list[Any]) -> str:
    """``field`` extended by keys and list indices: ``("model", ["hidden_dims", 1])`` -> ``"model.hidden_dims[1]"``."""
    path = field
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def short_repr(value: Any) -> str:
    """``repr(value)``, cut to 60 characters: a message stays one readable line."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _conversion(written: Any, value: Any) -> str:
    """Why taking ``written`` as ``value`` is refused, or ``""``."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and isinstance(written, bool):
        return f"expected a number, got {str(written).lower()}"
    if number and isinstance(written, str):
        return f"expected a number, got the text {short_repr(written)}"
    if isinstance(value, bool) and not isinstance(written, bool):
        return f"expected true or false, got {short_repr(written)}"
    return ""


def _unknown_key(key: str, expected: list[str]) -> str:
    close = difflib.get_close_matches(key, expected, n=2)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    return f"unknown key{hint} (expected one of: {', '.join(expected) or 'none'})"


def _model_at(model: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    """The pydantic model that holds the value at ``loc`` below ``model`` (None if not a model)."""
    for part in loc:
        info = model.model_fields.get(part) if isinstance(part, str) else None
        nested = _model_type(info.annotation) if info is not None else None
        if nested is None:
            return None
        model = nested
    return model


def _model_type(annotation: Any) -> type[BaseModel] | None:
    """The BaseModel class in ``annotation`` (``X``, ``X | None``), if any."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        models = [arg for arg in typing.get_args(annotation) if _model_type(arg) is not None]
        return models[0] if len(models) == 1 else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _is_union_tag(part: Any) -> bool:
    """pydantic names the union member tried (``"str"``, ``"dict[str,any]"``) in ``loc``; drop it."""
    return isinstance(part, str) and (part in ("str", "int", "float", "bool") or "[" in part)
