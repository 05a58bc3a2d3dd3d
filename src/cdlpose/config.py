"""Configuration: plain dataclasses loaded from YAML, overridable with ``key.sub=value`` strings.

Unknown keys are errors that name the key; values are parsed as YAML scalars and checked against the field's
type. There is no global config object: ``load_config`` returns a new :class:`Config`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .codec import CodecConfig
from .data.pipeline import AugmentConfig
from .losses import LossWeights
from .model import ModelConfig

__all__ = ["TrainConfig", "Config", "ConfigError", "load_config", "apply_overrides", "config_to_dict"]


class ConfigError(ValueError):
    pass


@dataclass
class TrainConfig:
    stage: int = 1  # 1: network up to the volumes; 2: the lifting block on 3D data
    epochs: int = 20
    lr: float = 1e-3
    lr_milestones: tuple[int, ...] = (17,)  # ÷10 at these epochs (paper: epoch 17)
    batch_size: int = 64
    ratio_3d: float = 0.5
    workers: int = 4
    seed: int = 0
    amp: str = "bf16"  # none | bf16 | fp16 (CUDA only)
    channels_last: bool = True
    compile: bool = False
    freeze_backbone_stage2: bool = True
    out_dir: str = "runs/default"


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: dict = field(default_factory=dict)  # {"datasets": [...]}, as read by `cdlpose data check`


def _coerce(value, tp, key: str):
    """Check/convert a YAML value to the annotated type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is typing.Any or tp is dict:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        inner = args[0] if args else typing.Any
        return tuple(_coerce(v, inner, key) for v in value)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _update(obj, values: dict, prefix: str):
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {values!r}")
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}
    changes = {}
    for k, v in values.items():
        key = f"{prefix}{k}"
        if k not in names:
            raise ConfigError(f"unknown config key '{key}'; known keys here: {', '.join(sorted(names))}")
        current = getattr(obj, k)
        if dataclasses.is_dataclass(current):
            changes[k] = _update(current, v, key + ".")
        else:
            changes[k] = _coerce(v, hints[k], key)
    try:
        return dataclasses.replace(obj, **changes)
    except ValueError as e:  # a dataclass's own check (__post_init__)
        raise ConfigError(str(e)) from None


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``["train.lr=0.0005", "model.variant=jh", ...]``; values are YAML (``[1, 2]``, ``true``, ``null``)."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key.sub=value")
        key, raw = item.split("=", 1)
        value = yaml.safe_load(raw) if raw.strip() else ""
        nested: dict = {}
        cur = nested
        parts = key.strip().split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value
        cfg = _update(cfg, nested, "")
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the YAML file (if any), then the overrides."""
    cfg = Config()
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"config file not found: {path}")
        raw = yaml.safe_load(path.read_text()) or {}
        try:
            cfg = _update(cfg, raw, "")
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return apply_overrides(cfg, overrides or [])


def config_to_dict(cfg) -> dict:
    """Plain dict (lists for tuples) for checkpoints and YAML."""
    def plain(v):
        if isinstance(v, tuple):
            return [plain(x) for x in v]
        if isinstance(v, list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(dataclasses.asdict(cfg))
