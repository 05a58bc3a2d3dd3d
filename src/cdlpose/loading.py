"""A network from its configuration or from a checkpoint, without the trainer: what inference, evaluation, export
and the trainer all build on. Checkpoints are read with ``weights_only=True`` (:func:`cdlpose.checkpoint.load_checkpoint`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from torch import nn

from .checkpoint import load_checkpoint
from .config import Config, config_from_dict
from .errors import CheckpointError, ConfigError
from .model import CascadedLiftingNet

__all__ = ["CHECKPOINT_FORMAT", "DEFAULT_MODEL", "DEFAULT_MODEL_NAME", "codec_for", "build_model", "read_checkpoint",
           "load_weights", "load_model", "model_path", "device_problem"]

CHECKPOINT_FORMAT = "cdlpose-checkpoint/1"

#: The model cdlpose ships (docs/model-card.md: trained on rendered people only, float16 weights): what
#: ``cdlpose predict``, ``cdlpose export`` and :meth:`cdlpose.inference.Predictor.from_checkpoint` use when no
#: checkpoint is given.
DEFAULT_MODEL_NAME = "cdlpose-photo-v4"
DEFAULT_MODEL = Path(__file__).resolve().parent / "assets" / "models" / f"{DEFAULT_MODEL_NAME}.pt"


def model_path(path: str | Path | None) -> Path:
    """``path``, or the shipped model (:data:`DEFAULT_MODEL`) for None."""
    return DEFAULT_MODEL if path is None else Path(path)

def codec_for(cfg: Config):
    """The codec settings of ``cfg`` with the map and input sizes that follow from ``augment.input_size``."""
    S = cfg.augment.input_size
    if S % 32:
        raise ConfigError(f"augment.input_size must be a multiple of 32; got {S}")
    if cfg.codec.depth_bins != cfg.model.depth_bins:
        raise ConfigError(f"codec.depth_bins ({cfg.codec.depth_bins}) must equal model.depth_bins "
                          f"({cfg.model.depth_bins})")
    return dataclasses.replace(cfg.codec, input_size=(S, S), heatmap_size=(S // 4, S // 4))


def build_model(cfg: Config) -> CascadedLiftingNet:
    S = cfg.augment.input_size
    return CascadedLiftingNet(cfg.model, (S, S), cfg.codec.depth_range)


def read_checkpoint(path, what: str) -> dict:
    """A cdlpose checkpoint (``weights_only`` load), or a :class:`CheckpointError` (a ValueError) naming ``what``
    asked for it."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{what}: {path} is not a cdlpose checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    for key in ("config", "model"):
        if not isinstance(ckpt.get(key), dict):
            raise CheckpointError(f"{what}: {path} has no '{key}' (a cdlpose checkpoint holds its config and weights)")
    return ckpt


def load_weights(net: nn.Module, state: dict, path, what: str = "checkpoint", strict: bool = True):
    """``net.load_state_dict`` with a one-line :class:`CheckpointError` for weights of another shape or name."""
    try:
        return net.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else "")
        raise CheckpointError(f"{what}: the weights in {path} do not fit the network its config describes "
                              f"({detail[:300]})") from None


def load_model(path: str | Path, device="cpu") -> tuple[CascadedLiftingNet, Config, dict]:
    """A network rebuilt from a checkpoint's own configuration; returns (net in eval mode, config, checkpoint)."""
    ckpt = read_checkpoint(path, "checkpoint")
    cfg = config_from_dict(ckpt["config"], str(path))
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, pretrained=None))
    net = build_model(cfg)
    load_weights(net, ckpt["model"], path)
    return net.to(device).eval(), cfg, ckpt


def device_problem(value: str) -> str | None:
    """What is wrong with ``--device value`` on this machine (``None``: usable), naming what is available: where
    a command would put its network and load its checkpoints (``map_location``), checked before any work."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = torch.backends.mps.is_available()
    have = "available here: cpu" + (f", cuda (cuda:0 … cuda:{n - 1})" if n else "") + (", mps" if mps else "")
    try:
        dev = torch.device(value)
    except (RuntimeError, ValueError, TypeError):
        return f"--device {value}: not a device ({have})"
    if dev.type == "cpu" or dev.type == "mps" and mps or dev.type == "cuda" and (dev.index or 0) < n:
        return None
    return f"--device {value}: {'no such CUDA GPU here' if dev.type == 'cuda' else 'not available'} ({have})"
