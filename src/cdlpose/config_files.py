"""Reading a YAML config file: its mapping merged over the file its ``base:`` key names, recursively, unchecked.
A foundation below :mod:`cdlpose.config` (which turns the mapping into dataclasses) so that tools that read part
of a config (``cdlpose data check``) need not import the model and data layers."""

from __future__ import annotations

from pathlib import Path

import yaml

from .errors import ConfigError

__all__ = ["read_config_file", "yaml_problem"]


def yaml_problem(e: Exception) -> str:
    """A YAML parser error in one line: what and where (line and column, 1-based)."""
    what = getattr(e, "problem", None) or str(e).splitlines()[0]
    mark = getattr(e, "problem_mark", None)
    return f"{what} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else what


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, seen: tuple) -> dict:
    """A config file's mapping, merged over its ``base:`` file (a path relative to it), recursively."""
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'base' files form a cycle")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({yaml_problem(e)})") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read the config file ({e})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections")
    base = raw.pop("base", None)
    if base is None:
        return raw
    return _merge(_read_yaml(path.parent / base, seen + (path.resolve(),)), raw)


def read_config_file(path: str | Path) -> dict:
    """A YAML config file's mapping merged over the file its ``base:`` key names (recursively), unchecked: for
    tools that read part of a config (``cdlpose data check``)."""
    return _read_yaml(Path(path), ())
