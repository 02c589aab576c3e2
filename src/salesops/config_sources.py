"""The layers of the configuration, read and checked one by one (see `config.load_settings`).

Each layer (the TOML file, the environment, the command-line flags) is validated on its own
before the layers are merged. That way every mistake is reported with where it was made,
and a wrong value is an error even when a higher layer overrides the key: `port = "eighty"`
in the file is a broken file whatever `SALESOPS_SERVING__PORT` says. No message ever echoes
a secret: secret and URL-valued keys are named without their value, and any other value
shown goes through `masking.mask_url`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from salesops.errors import ConfigError
from salesops.masking import mask_url

ENV_PREFIX = "SALESOPS_"
#: `SALESOPS_<SECTION>__<KEY>`
ENV_DELIMITER = "__"
Layer = dict[str, Any]


def read_toml(path: Path) -> Layer:
    """The file's tables; ConfigError naming the file for unreadable, non-UTF-8 or bad TOML."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset "
                          f"{exc.start}); save the file as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def env_layer(sections: Mapping[str, type[BaseModel]],
              environ: Mapping[str, str] | None = None) -> tuple[Layer, dict[str, str]]:
    """`SALESOPS_<SECTION>__<KEY>` variables as {section: {key: value}}, and each key path's
    variable name ("training.epochs" -> "SALESOPS_TRAINING__EPOCHS").

    Names are read in any case. A variable with a `__` whose section is unknown, or one that
    names a section with a single `_`, is an error: a typo must not be silently ignored.
    Other `SALESOPS_*` variables (`SALESOPS_CONFIG`, `SALESOPS_FAULT_KILL`) are not settings.
    List values are JSON (`[256, 128]`).
    """
    environ = os.environ if environ is None else environ
    layer: Layer = {}
    names: dict[str, str] = {}
    for raw_name, value in sorted(environ.items()):
        name = raw_name.upper()
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name.removeprefix(ENV_PREFIX).lower()
        section, delimiter, key = rest.partition(ENV_DELIMITER)
        if not delimiter:
            if _service_link(name, value):
                continue
            near = next((s for s in sections if rest.startswith(f"{s}_")), None)
            if near is not None:
                raise ConfigError(
                    f"config error: {name}: a setting's variable has two underscores after "
                    f"the section: {ENV_PREFIX}{near.upper()}{ENV_DELIMITER}"
                    f"{rest.removeprefix(near + '_').upper()}")
            continue
        if section not in sections:
            raise ConfigError(f"config error: {name}: unknown section {section!r} (sections: "
                              f"{', '.join(sections)})")
        field = sections[section].model_fields.get(key)
        if field is not None and _is_complex(field.annotation):
            value = _parse_json(f"{section}.{key}", name, value, field.annotation)
        layer.setdefault(section, {})[key] = value
        names[f"{section}.{key}"] = name
    return layer, names


#: what the kubelet puts into every container for each Service of the namespace
#: (`enableServiceLinks`): Service `salesops-mlflow` gives SALESOPS_MLFLOW_SERVICE_HOST,
#: SALESOPS_MLFLOW_PORT=tcp://…, SALESOPS_MLFLOW_PORT_5000_TCP_ADDR and more
SERVICE_LINK = re.compile(r"_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT_\d+_(TCP|UDP|SCTP)"
                          r"(_PROTO|_PORT|_ADDR)?)$")
SERVICE_LINK_URL = re.compile(r"^(tcp|udp|sctp)://")


def _service_link(name: str, value: str) -> bool:
    """Whether a single-underscore `SALESOPS_*` variable is one of the kubelet's Service
    variables (not a mistyped setting: `SALESOPS_SERVING_PORT=8080` is still refused)."""
    return bool(SERVICE_LINK.search(name)) or (
        name.endswith("_PORT") and bool(SERVICE_LINK_URL.match(value)))


def check_layer(sections: Mapping[str, type[BaseModel]], layer: Layer,
                origin: Callable[[list[str]], str]) -> None:
    """Validate one layer's sections on their own; ConfigError names the first bad key and
    `origin(key path)`, the file or variable it came from."""
    for section, values in layer.items():
        if section not in sections:
            raise ConfigError(f"config error: {section}: unknown key in {origin([section])}")
        if not isinstance(values, dict):
            raise ConfigError(f"config error: {section}: expected a table of settings, not "
                              f"{type(values).__name__} in {origin([section])}")
        try:
            sections[section].model_validate(values)
        except ValidationError as exc:
            raise ConfigError(describe(exc, sections, origin, prefix=[section])) from None


def describe(exc: ValidationError, sections: Mapping[str, type[BaseModel]],
             origin: Callable[[list[str]], str], prefix: list[str] | None = None) -> str:
    """One line naming the first bad key, what is wrong, and where it came from."""
    first = exc.errors()[0]
    loc = [*(prefix or []), *(str(part) for part in first["loc"])]
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        problem = "unknown key"
    else:
        problem = first["msg"].removeprefix("Value error, ")
        if not is_secret_key(sections, loc):
            problem += f" (got {mask_url(repr(first.get('input')))})"
    more = len(exc.errors()) - 1
    suffix = f" (+{more} more)" if more else ""
    return f"config error: {key}: {problem} in {origin(loc)}{suffix}"


def is_secret_key(sections: Mapping[str, type[BaseModel]], loc: list[str]) -> bool:
    """Whether the value at `loc` may hold a credential: a SecretStr, or a URL/URI key."""
    if len(loc) < 2 or loc[0] not in sections:
        return False
    field = sections[loc[0]].model_fields.get(loc[1])
    if loc[1].endswith(("_url", "_uri")):
        return True
    return field is not None and SecretStr in _leaf_types(field.annotation)


def merge(*layers: Layer) -> Layer:
    """Later layers win, key by key, at any depth."""
    merged: Layer = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(merged.get(key), dict):
                merged[key] = merge(merged[key], value)
            else:
                merged[key] = value
    return merged


def has_path(data: Any, loc: list[str]) -> bool:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return True


def _parse_json(key: str, name: str, value: str, annotation: Any) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        kind = "list" if list in _leaf_origins(annotation) else "value"
        example = " e.g. [256, 128, 64]" if kind == "list" else ""
        raise ConfigError(f"config error: {key}: expected a JSON {kind},{example} (got "
                          f"{mask_url(repr(value))}) in environment variable {name}") from None


def _is_complex(annotation: Any) -> bool:
    origins = _leaf_origins(annotation)
    return bool(origins & {list, dict, tuple, set}) or any(
        isinstance(t, type) and issubclass(t, BaseModel) for t in _leaf_types(annotation))


def _leaf_types(annotation: Any) -> set[Any]:
    """The types a (possibly Optional/Union) annotation admits."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return set().union(*(_leaf_types(arg) for arg in typing.get_args(annotation)))
    return {annotation}


def _leaf_origins(annotation: Any) -> set[Any]:
    return {typing.get_origin(t) or t for t in _leaf_types(annotation)}
