"""Configuration: plain dataclasses loaded from YAML, overridable with ``key.sub=value`` strings.

Unknown keys are errors that name the key; values are parsed as YAML scalars and checked against the field's
type. There is no global config object: ``load_config`` returns a new :class:`Config`.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .codec import CodecConfig
from .config_files import read_config_file, yaml_problem
from .data.datasets import DataConfig
from .data.pipeline import AugmentConfig
from .losses import LossWeights
from .errors import ConfigError
from .model import ModelConfig

__all__ = ["TrainConfig", "Config", "ConfigError", "load_config", "read_config_file", "apply_overrides",
           "config_to_dict", "config_from_dict"]


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
    channels_last: bool = True  # CUDA only, unless channels_last_cpu
    # channels_last on the CPU as well: faster for the demo's small network on a 2-core CPU (measured in docs/demo.md);
    # off by default, so runs configured before it keep their memory layout (and exact resume)
    channels_last_cpu: bool = False
    compile: bool = False
    max_minutes: float = 0.0  # > 0: stop after this much training time (checkpoint kept)
    # > 0: the run is this many optimiser steps in all (across epochs): a fixed amount of work, so its result does
    # not depend on the machine's speed or load (the demo's budget)
    max_steps: int = 0
    # the last this share of the run at lr ÷ 10 (a budgeted run never reaches an epoch milestone): of max_steps's
    # steps when set (step for step the same on every machine and on resume), else of max_minutes's training time
    # (the budget less building a stage-2 cache; clock-dependent, so a resumed timed run is not the same)
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
        if self.max_steps < 0:
            raise ValueError(f"train.max_steps must be ≥ 0 (0: no step budget); got {self.max_steps!r}")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")

#: Allowed ranges of numeric settings, checked when a config is built (a negative learning rate or worker count
#: would otherwise fail later, deep inside torch): key → (lowest, highest, lowest allowed, highest allowed).
_RANGES = {
    "train.lr": (0.0, None, False, True), "train.weight_decay": (0.0, None, True, True),
    "train.grad_clip": (0.0, None, True, True), "train.batch_size": (1, None, True, True),
    "train.epochs": (1, None, True, True), "train.ratio_3d": (0.0, 1.0, True, True),
    "train.workers": (0, None, True, True), "train.cache_passes": (0, None, True, True),
    "train.max_minutes": (0.0, None, True, True), "train.max_steps": (0, None, True, True),
    "train.checkpoint_every": (0, None, True, True), "train.log_every": (1, None, True, True),
    "train.eval_batch_size": (1, None, True, True), "train.lr_milestones": (1, None, True, True),
    "train.lr_final_drop": (0.0, 1.0, True, False),
    "model.depth_bins": (1, None, True, True), "model.lift_hidden": (1, None, True, True),
    "model.lift_blocks": (0, None, True, True), "model.lift_layers_per_block": (1, None, True, True),
    "model.lift_dropout": (0.0, 1.0, True, False), "model.softargmax_beta": (0.0, None, False, True),
    "model.head_width": (1, None, True, True),
    "codec.heatmap_size": (1, None, True, True), "codec.input_size": (1, None, True, True),
    "codec.sigma": (0.0, None, False, True), "codec.bone_sigma_start": (0.0, None, False, True),
    "codec.bone_sigma_end": (0.0, None, False, True), "codec.depth_bins": (1, None, True, True),
    "codec.depth_range": (0.0, None, False, True), "codec.ordinal_threshold": (0.0, 1.0, True, True),
    "augment.input_size": (32, 1024, True, True), "augment.box_enlarge": (0.0, None, False, True),
    "augment.scale": (0.0, 1.0, True, False), "augment.rotation": (0.0, 180.0, True, True),
    "augment.rotation_prob": (0.0, 1.0, True, True), "augment.flip_prob": (0.0, 1.0, True, True),
    "augment.color_jitter": (0.0, 1.0, True, True), "augment.occlusion_prob": (0.0, 1.0, True, True),
    "loss.joint": (0.0, None, True, True), "loss.bone": (0.0, None, True, True), "loss.cube": (0.0, None, True, True),
    "loss.ordinal": (0.0, None, True, True), "loss.integral": (0.0, None, True, True),
    "loss.pose": (0.0, None, True, True), "data.val_size": (0, None, True, True),
}


def _in_range(value, key: str):
    """``value`` when it lies in ``key``'s allowed range (:data:`_RANGES`), else a :class:`ConfigError` saying
    which range."""
    if key not in _RANGES:
        return value
    lo, hi, lo_in, hi_in = _RANGES[key]
    ok = (lo is None or (value >= lo if lo_in else value > lo)) and (hi is None or (value <= hi if hi_in else value < hi))
    if not ok:
        if hi is None:
            want = f"{'≥' if lo_in else '>'} {lo}"
        else:
            want = f"in {'[' if lo_in else '('}{lo}, {hi}{']' if hi_in else ')'}"
        raise ConfigError(f"{key}: expected a value {want}, got {value!r}")
    return value


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
        # YAML 1.1 reads 5e-4 (no dot) as a string: accept scientific notation written either way
        if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
            value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number (e.g. 0.001 or 1e-3), got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return _in_range(float(value), key)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return _in_range(value, key)
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
        elif isinstance(current, list) and isinstance(v, dict):
            changes[k] = _update_items(current, v, key)
        else:
            changes[k] = _coerce(v, hints[k], key)
    try:
        return dataclasses.replace(obj, **changes)
    except ValueError as e:  # a dataclass's own check (__post_init__)
        raise ConfigError(str(e)) from None


def _update_items(items: list, values: dict, key: str) -> list:
    """``data.datasets.2.poses=FILE``: change entries of a list by index (an entry's mapping is merged)."""
    out = list(items)
    for idx, v in values.items():
        try:
            i = int(idx)
            out[i]  # noqa: B018 — the index must exist
        except (ValueError, IndexError):
            raise ConfigError(f"'{key}.{idx}': {key} has {len(items)} entries (0 … {len(items) - 1}); give an index "
                              "of one of them, or the whole list") from None
        out[i] = {**out[i], **v} if isinstance(out[i], dict) and isinstance(v, dict) else v
    return out


def apply_overrides(cfg: Config, overrides: list[str]) -> Config:
    """Apply ``["train.lr=0.0005", "model.variant=jh", "data.datasets.2.subjects=[S9]", ...]``; values are YAML
    (``[1, 2]``, ``true``, ``null``); a number after a list's key picks an entry of the list."""
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r}: expected key.sub=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"override {item!r}: the value is not valid YAML ({yaml_problem(e)})") from None
        nested: dict = {}
        cur = nested
        parts = key.strip().split(".")
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value
        cfg = _update(cfg, nested, "")
    return cfg


def load_config(path: str | Path | None = None, overrides: list[str] | None = None) -> Config:
    """Defaults, then the YAML file (if any, merged over the file its ``base:`` key names), then the overrides."""
    cfg = Config()
    if path is not None:
        path = Path(path)
        raw = read_config_file(path)
        try:
            cfg = _update(cfg, raw, "")
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from None
    return apply_overrides(cfg, overrides or [])


def config_from_dict(values: dict, where: str = "checkpoint") -> Config:
    """A :class:`Config` from :func:`config_to_dict`'s output (e.g. the one a checkpoint carries).

    A model section without ``layout`` was saved before that field existed, by a network of the narrow layout:
    it is read as ``layout: narrow`` so that it rebuilds the network its weights belong to, not today's default;
    likewise one without ``lift_input`` is read as ``lift_input: crop`` (the lifting block's earlier inputs)."""
    model = values.get("model") if isinstance(values, dict) else None
    if isinstance(model, dict) and "layout" not in model:
        values = {**values, "model": {**model, "layout": "narrow"}}
    model = values.get("model") if isinstance(values, dict) else None
    if isinstance(model, dict) and "lift_input" not in model:
        values = {**values, "model": {**model, "lift_input": "crop"}}
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
