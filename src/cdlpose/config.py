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
from .data.datasets import DataConfig
from .data.pipeline import AugmentConfig
from .losses import LossWeights
from .model import ModelConfig

__all__ = ["TrainConfig", "Config", "ConfigError", "load_config", "apply_overrides", "config_to_dict",
           "config_from_dict"]


class ConfigError(ValueError):
    pass


@dataclass
class TrainConfig:
    stage: int = 1  # 1: network up to the volumes; 2: the lifting block on 3D data
    init_from: str | None = None  # checkpoint to start from (stage 2: the stage-1 result); model weights only
    finetune: bool = False  # stage 2: also train the rest of the network (default: frozen)
    # stage 2, frozen network: run it once over this many augmented passes of the 3D training data and train the
    # lifting block on those 2.5D estimates (an MLP step then costs microseconds, not a network forward); 0: run
    # the network on every batch
    cache_passes: int = 0
    epochs: int = 20
    lr: float = 1e-3
    lr_milestones: tuple[int, ...] = (17,)  # ÷10 at these epochs (paper: epoch 17)
    weight_decay: float = 0.0
    grad_clip: float = 0.0  # max gradient norm; 0: off
    batch_size: int = 64
    ratio_3d: float = 0.5  # share of 3D samples per batch in stage 1 (stage 2 uses 3D data only)
    workers: int = 4  # DataLoader worker processes per training process
    seed: int = 0
    amp: str = "bf16"  # none | bf16 | fp16 (CUDA only)
    channels_last: bool = True  # CUDA only
    compile: bool = False
    max_minutes: float = 0.0  # > 0: stop after this much training time (checkpoint kept)
    # with max_minutes: the last this share of the training time (the budget less building a stage-2 cache) runs
    # at lr ÷ 10 (a timed run never reaches an epoch milestone); it depends on the clock, so a resumed timed run is
    # not step-for-step the same
    lr_final_drop: float = 0.0
    checkpoint_every: int = 0  # > 0: also save last.pt every this many steps (resume mid-epoch)
    log_every: int = 10  # steps between log lines
    eval_batch_size: int = 64
    flip_test: bool = False  # validation with the flip test
    progress: bool = True  # progress bar (rank 0)
    out_dir: str = "runs/default"

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ValueError(f"train.stage must be 1 or 2; got {self.stage!r}")
        if self.amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"train.amp must be none, bf16 or fp16; got {self.amp!r}")
        if self.batch_size < 1 or self.epochs < 1:
            raise ValueError("train.batch_size and train.epochs must be at least 1")
        if not 0.0 <= self.lr_final_drop < 1.0:
            raise ValueError(f"train.lr_final_drop must be in [0, 1); got {self.lr_final_drop!r}")
        if self.cache_passes < 0:
            raise ValueError(f"train.cache_passes must be ≥ 0; got {self.cache_passes!r}")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)


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


def _merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for k, v in top.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, seen: tuple) -> dict:
    """A config file's mapping, merged over its ``base:`` file (a path relative to it), recursively."""
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: 'base' files form a cycle")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of config sections")
    base = raw.pop("base", None)
    if base is None:
        return raw
    return _merge(_read_yaml(path.parent / base, seen + (path.resolve(),)), raw)


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the YAML file (if any, merged over the file its ``base:`` key names), then the overrides."""
    cfg = Config()
    if path is not None:
        path = Path(path)
        raw = _read_yaml(path, ())
        try:
            cfg = _update(cfg, raw, "")
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return apply_overrides(cfg, overrides or [])


def config_from_dict(values: dict, where: str = "checkpoint") -> Config:
    """A :class:`Config` from :func:`config_to_dict`'s output (e.g. the one a checkpoint carries)."""
    try:
        return _update(Config(), values, "")
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


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
