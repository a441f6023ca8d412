"""One vocabulary per hyper-parameter: an experiment's dataclass is the single source.

Fields declared with :func:`param` give :func:`build` (checked config from a mapping; :class:`ConfigError` naming the
key), :func:`add_arguments` / :func:`from_args` (``--<field-name>``), :func:`to_cli_args` and :func:`record`.

Design notes: docs/design.md#what-a-config-dataclass-gives.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from mtrl_bench.errors import ConfigError

_MISSING = dataclasses.MISSING


def param(default: Any = _MISSING, help: str = "", *, low: float | None = None, high: float | None = None,
          low_open: bool = False, choices: Sequence[Any] | None = None, nonempty: bool = False,
          default_factory: Any = _MISSING) -> Any:
    """A config field with its help text and bounds.

    ``low``/``high`` bound a number (or every element of a list); ``low_open`` makes ``low``
    exclusive; ``choices`` restricts values; ``nonempty`` requires a non-empty list.
    """
    meta = {"help": help, "low": low, "high": high, "low_open": low_open,
            "choices": None if choices is None else tuple(choices), "nonempty": nonempty}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if isinstance(default, list):
        value = list(default)
        return dataclasses.field(default_factory=lambda: list(value), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# -- types ---------------------------------------------------------------------------------------

def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(tp)) == 2:
            return args[0], True
    return tp, False


def _element_type(tp: Any) -> Any | None:
    """The element type of list[X] / tuple[X, ...]; None when ``tp`` is not a sequence type."""
    origin = typing.get_origin(tp)
    if origin in (list, tuple, Sequence):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return args[0] if args else str
    return None


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce_scalar(value: Any, tp: Any, key: str) -> Any:
    if isinstance(value, str) and tp is not str:
        text = value.strip()
        try:
            value = int(text) if tp is int else float(text) if tp is float else yaml.safe_load(text)
        except ValueError:
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError as err:
                raise ConfigError(f"{key}: cannot read {text!r}") from err
        except yaml.YAMLError as err:
            raise ConfigError(f"{key}: cannot read {text!r}") from err
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{key} must be a finite number, got {value!r}")
        return value
    if tp is str:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    raise TypeError(f"config field {key} has an unsupported type {tp!r}")


def _check_bounds(value: Any, meta: Mapping[str, Any], key: str) -> None:
    low, high, choices = meta.get("low"), meta.get("high"), meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{key} must be one of {list(choices)}, got {value!r}")
    if low is not None and (value <= low if meta.get("low_open") else value < low):
        raise ConfigError(f"{key} must be {'>' if meta.get('low_open') else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ConfigError(f"{key} must be <= {high}, got {value!r}")


def _coerce(value: Any, tp: Any, meta: Mapping[str, Any], key: str) -> Any:
    tp, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.strip().lower() in ("none", "null", "")):
        if optional:
            return None
        raise ConfigError(f"{key} must be given (got none)")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a mapping of {sorted(f.name for f in dataclasses.fields(tp))}")
        return build(tp, value, where=key)
    element = _element_type(tp)
    if element is not None:
        if isinstance(value, str):
            loaded = yaml.safe_load(value) if value.strip().startswith("[") else value.split()
            value = loaded
        if not isinstance(value, (list, tuple)):
            value = [value]
        items = [_coerce_scalar(v, element, f"{key}[{i}]") for i, v in enumerate(value)]
        if meta.get("nonempty") and not items:
            raise ConfigError(f"{key} must not be empty")
        for i, item in enumerate(items):
            _check_bounds(item, meta, f"{key}[{i}]")
        return tuple(items) if typing.get_origin(tp) is tuple else items
    result = _coerce_scalar(value, tp, key)
    _check_bounds(result, meta, key)
    return result


# -- building ------------------------------------------------------------------------------------

def build(cls: type, mapping: Mapping[str, Any] | None = None, where: str = "") -> Any:
    """A ``cls`` config from ``mapping`` (missing keys take their defaults), checked once.

    ``where`` prefixes key names in error messages (e.g. ``fqi`` gives ``fqi.learning_rate``).
    """
    mapping = dict(mapping or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{where}." if where else ""
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(prefix + k for k in unknown)}; "
                          f"known keys: {', '.join(sorted(fields))}")
    hints = _hints(cls)
    values = {name: _coerce(value, hints[name], fields[name].metadata, prefix + name)
              for name, value in mapping.items()}
    try:
        return cls(**values)
    except ConfigError as err:
        if where and not str(err).startswith(where):
            raise ConfigError(f"{where}: {err}") from err
        raise


def record(config: Any) -> dict[str, Any]:
    """The config as plain JSON types (the provenance record and the YAML vocabulary)."""
    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    return plain(config)


# -- command line --------------------------------------------------------------------------------

def _flat_fields(cls: type, prefix: str = "") -> list[tuple[str, dataclasses.Field, Any]]:
    """(dotted key, field, type) for every leaf field, nested dataclasses flattened."""
    out = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        tp, _ = _unwrap_optional(hints[f.name])
        if dataclasses.is_dataclass(tp):
            out += _flat_fields(tp, f"{prefix}{f.name}.")
        else:
            out.append((prefix + f.name, f, hints[f.name]))
    return out


def flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _dest(key: str) -> str:
    return "cfg__" + key.replace(".", "__")


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """Add ``--<field>`` for every field of ``cls`` (all optional: unset flags keep their defaults)."""
    group = parser.add_argument_group(f"hyper-parameters ({cls.__name__}; YAML keys are the field names)")
    defaults = record(cls())
    for key, f, tp in _flat_fields(cls):
        default = defaults
        for part in key.split("."):
            default = default[part]
        is_list = _element_type(_unwrap_optional(tp)[0]) is not None
        help_text = f.metadata.get("help", "")
        group.add_argument(flag(key), dest=_dest(key), default=None, nargs="+" if is_list else None,
                           metavar=_type_name(_element_type(tp) if is_list else _unwrap_optional(tp)[0]).upper(),
                           help=f"{help_text} (default: {default})".strip())


def mapping_from_args(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The nested mapping of the flags that were given on the command line."""
    out: dict[str, Any] = {}
    for key, _, _ in _flat_fields(cls):
        value = getattr(args, _dest(key), None)
        if value is None:
            continue
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge: ``override`` wins, nested mappings merge key by key."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def from_args(cls: type, args: argparse.Namespace, base: Mapping[str, Any] | None = None, where: str = "") -> Any:
    """A config from ``base`` (e.g. a ``--config`` YAML) overridden by the flags given."""
    return build(cls, merge(base or {}, mapping_from_args(args, cls)), where=where)


def to_cli_args(cls: type, mapping: Mapping[str, Any]) -> str:
    """Shell-quoted ``--flag value ...`` for the fields of ``cls`` present in ``mapping`` (other keys,
    such as a workflow's sweep settings, are skipped). The inverse of :func:`mapping_from_args`."""
    parts: list[str] = []
    known = {key for key, _, _ in _flat_fields(cls)}

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for name, value in node.items():
            key = prefix + name
            if isinstance(value, Mapping):
                walk(value, key + ".")
            elif key in known:
                values = value if isinstance(value, (list, tuple)) else [value]
                parts.append(flag(key))
                parts.extend(shlex.quote("none" if v is None else str(v).lower() if isinstance(v, bool) else str(v))
                             for v in values)
    walk(mapping, "")
    return " ".join(parts)


def load_yaml_section(path: str, section: str | None = None) -> dict[str, Any]:
    """A mapping from a YAML file (the whole file, or its ``section`` when that key is present)."""
    try:
        with open(path) as handle:
            data = yaml.safe_load(handle) or {}
    except OSError as err:
        raise ConfigError(f"cannot read config file {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path} is not valid YAML: {err}") from err
    if not isinstance(data, Mapping):
        raise ConfigError(f"config file {path} must hold a mapping of keys to values")
    if section and isinstance(data.get(section), Mapping):
        data = data[section]
    return dict(data)


def parse_scalars(value: Any) -> Any:
    """Strings that spell a number, a boolean or null become that value, recursively.

    Snakemake's ``--config 'fqi={params: {learning_rate: 0.1}}'`` delivers nested values as strings;
    this reads them as YAML scalars (and ``1e-3``, which YAML 1.1 leaves a string, as a float).
    """
    if isinstance(value, Mapping):
        return {key: parse_scalars(item) for key, item in value.items()}
    if isinstance(value, list):
        return [parse_scalars(item) for item in value]
    if isinstance(value, str):
        text = value.strip()
        for parse in (int, float) if "_" not in text else ():
            try:
                return parse(text)
            except ValueError:
                pass
        if text.lower() in ("true", "false", "null", "~"):
            return {"true": True, "false": False}.get(text.lower())
    return value
