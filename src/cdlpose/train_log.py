"""What a training run writes as it goes: JSON lines (``log.jsonl`` per step, ``epochs.jsonl`` per epoch), TensorBoard
events where TensorBoard is installed, and the line printed after each epoch. Rank 0 only."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["TrainLog", "epoch_line", "say_once", "TENSORBOARD_ABSENT"]

TENSORBOARD_ABSENT = ("TensorBoard is not installed: logging to log.jsonl and epochs.jsonl only (pip install -e "
                      "\".[tb]\" adds it; then tensorboard --logdir runs/)")
_said: set[str] = set()


def say_once(line: str) -> None:
    """Print ``line`` the first time this process asks (a demo runs several trainers)."""
    if line not in _said:
        _said.add(line)
        print(line, flush=True)


class TrainLog:
    """JSON lines (and TensorBoard when installed: ``<out_dir>/tensorboard``), rank 0 only."""

    def __init__(self, out_dir: Path, enabled: bool, resume_step: int | None) -> None:
        self.enabled = enabled
        self.path = out_dir / "log.jsonl"
        self.epochs = out_dir / "epochs.jsonl"
        self.tb = None
        if not enabled:
            return
        if resume_step is not None:  # drop what was logged after the checkpoint we resume from
            for p, key in ((self.path, "step"), (self.epochs, "step")):
                if p.is_file():
                    keep = [ln for ln in p.read_text().splitlines() if ln and json.loads(ln).get(key, 0) <= resume_step]
                    p.write_text("".join(ln + "\n" for ln in keep))
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra
            say_once(TENSORBOARD_ABSENT)
            return
        self.tb = SummaryWriter(str(out_dir / "tensorboard"))

    def write(self, record: dict, epoch_summary: bool = False) -> None:
        if not self.enabled:
            return
        with open(self.epochs if epoch_summary else self.path, "a") as fh:
            fh.write(json.dumps(record) + "\n")
        if self.tb is not None:
            prefix = "epoch/" if epoch_summary else "train/"
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(prefix + k, v, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def epoch_line(record: dict) -> str:
    """The line printed after an epoch (or a stop): train loss and, when there is validation data, its metrics."""
    where = f"epoch {record['epoch']}" + ("" if record["complete"] else f" (stopped at step {record['step']})")
    line = f"{where}: train loss {record.get('train_total', float('nan')):.4g}"
    if record.get("val_mpjpe") is None:
        return line + "; no validation data"
    source = "lifted" if record["val_metric_source"] == "lifting" else "2.5D back-projected"
    return (f"{line}; val MPJPE {record['val_mpjpe']:.1f} mm ({source}), PA-MPJPE {record['val_pa_mpjpe']:.1f} mm, "
            f"2D error {record['val_error_2d_px']:.2f} px, {record['val_samples']} samples")
