"""Data sets for training and evaluation, built from the ``data`` section of a config.

The section lists data set entries, each with a ``format``, its paths and a ``role`` (``train``, ``val`` or
``test``)::

    data:
      root: data                       # relative paths below are relative to this folder
      protocol: h36m-p1                # how `cdlpose evaluate` scores the test entries
      datasets:
        - {format: h36m-moon, root: Human36M, subjects: [S1, S5, S6, S7, S8], every: 5, role: train}
        - {format: mpii, annotations: MPII/annotations/train.json, images: MPII/images, role: train}
        - {format: h36m-moon, root: Human36M, subjects: [S9, S11], every: 64, role: test}

``format: synthetic`` (with ``split``, ``size`` — the number of samples, ``seed``, ``cache_dir``, ``style``,
``image_size`` — the rendered crop's side, default 256, ``keep_depth`` — keep the depth map, which
``augment.background_prob`` needs, ``pose_set`` — ``activities``, the default, or ``varied``: more pose families
and camera tilts, :data:`cdlpose.data.synthetic.POSE_SETS`) is the embedded synthetic set;
``format: rendered-poses`` (``poses``, ``cameras``, ``subjects``, ``every``, ``style``, ``seed``, ``cache_dir``,
``file_step``, ``image_size``) renders given 3D poses (Human3.6M's, world mm) from their calibrated cameras with
the same figures (:mod:`cdlpose.data.rendered`). A data set is 3D when its format carries 3D joints (Human3.6M,
MuCo, MuPoTS, synthetic, rendered) and 2D otherwise (MPII, COCO); the trainer mixes the two kinds per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from . import readers
from .pipeline import CropAugment
from .sample import DataError
from .rendered import RenderedPoses
from .synthetic import SyntheticHumans

__all__ = ["DataConfig", "PoseDataset", "FORMATS", "THREE_D_FORMATS", "resolve_entry", "read_entry",
           "build_dataset", "collate", "image_key", "dataset_records"]

PATH_KEYS = ("root", "annotations", "cameras", "images", "cache_dir", "annot_dir", "poses")
THREE_D_FORMATS = ("h36m-moon", "h36m-mmpose", "muco", "mupots", "synthetic", "rendered-poses")
ROLES = ("train", "val", "test")
PROTOCOLS = ("h36m-p1", "h36m-p2", "mupots", "synthetic", "h36m-actions")

#: format → (required keys, reader taking the resolved entry and ``validate``)
FORMATS = {
    "h36m-moon": (("root",), lambda e, v: readers.read_h36m_moon(e["root"], e.get("subjects", ("S1",)),
                                                                  e.get("every", 1), validate=v)),
    "h36m-mmpose": (("annotations", "cameras"), lambda e, v: readers.read_h36m_mmpose(
        e["annotations"], e["cameras"], e.get("images"), e.get("subjects"), e.get("every", 1), validate=v)),
    "mpii": (("annotations",), lambda e, v: readers.read_mpii(e["annotations"], e.get("images"), validate=v)),
    "coco": (("annotations",), lambda e, v: readers.read_coco(e["annotations"], e.get("images"), validate=v)),
    "muco": (("annotations",), lambda e, v: readers.read_muco(e["annotations"], e.get("images"), validate=v)),
    "mupots": (("annotations",), lambda e, v: readers.read_mupots(e["annotations"], e.get("images"), validate=v,
                                                                  annot_dir=e.get("annot_dir"))),
    "synthetic": ((), lambda e, v: SyntheticHumans(e.get("split", "train"), e.get("size", 10000),
                                                   e.get("seed", 0), e.get("cache_dir"),
                                                   style=e.get("style", "full"),
                                                   image_size=e.get("image_size", 256),
                                                   keep_depth=bool(e.get("keep_depth", False)),
                                                   pose_set=e.get("pose_set", "activities"))),
    "rendered-poses": (("poses", "cameras"), lambda e, v: RenderedPoses(
        e["poses"], e["cameras"], e.get("subjects"), e.get("every"), e.get("style", "plain"), e.get("seed", 0),
        e.get("cache_dir"), e.get("file_step"), image_size=e.get("image_size", 256))),
}
#: Formats whose records are rendered on demand (a map-style source, not a list of annotation records).
RENDERED_FORMATS = ("synthetic", "rendered-poses")


@dataclass
class DataConfig:
    root: str | None = None  # folder that relative paths of the entries start from (default: working directory)
    protocol: str = "synthetic"  # h36m-p1 | h36m-p2 | mupots | synthetic | h36m-actions
    datasets: list = field(default_factory=list)
    val_size: int = 0  # > 0: validate each epoch on this many evenly spaced samples of the val (or test) data

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"data.protocol must be one of {', '.join(PROTOCOLS)}; got {self.protocol!r}")
        if not isinstance(self.datasets, list):
            raise ValueError(f"data.datasets must be a list of entries; got {self.datasets!r}")


def resolve_entry(entry: dict, base: Path | None, where: str) -> dict:
    """Check an entry's format and required keys and make its paths absolute against ``base``."""
    if not isinstance(entry, dict):
        raise DataError(where, "-", "datasets", f"expected a mapping with a 'format', got {entry!r}")
    fmt = entry.get("format")
    if fmt not in FORMATS:
        raise DataError(where, "-", "format", f"expected one of {', '.join(FORMATS)}, got {fmt!r}")
    role = entry.get("role", "train")
    if role not in ROLES:
        raise DataError(where, fmt, "role", f"expected one of {', '.join(ROLES)}, got {role!r}")
    for key in FORMATS[fmt][0]:
        if key not in entry:
            raise DataError(where, fmt, key, "missing")
    out = dict(entry, role=role)
    for key in PATH_KEYS:
        if out.get(key) is not None and base is not None:
            out[key] = str(base / out[key])
    return out


def read_entry(entry: dict, validate: bool = True):
    """The records (a list, or a :class:`SyntheticHumans` / :class:`RenderedPoses`) of a resolved entry."""
    return FORMATS[entry["format"]][1](entry, validate)


def image_key(rec: dict) -> str:
    """The frame a record's person is in, as ``dataset/image id`` (people of one frame are matched together in
    the MuPoTS-3D evaluation)."""
    return f"{rec['dataset']}/{rec.get('image_id', rec.get('image_path', rec['sample_id']))}"


def dataset_records(ds) -> list:
    """The records behind a data set built by :func:`build_dataset` (a :class:`PoseDataset` or several)."""
    parts = ds.datasets if isinstance(ds, ConcatDataset) else [ds]
    return [r for d in parts for r in d.records]


class PoseDataset(Dataset):
    """Sample records (a list or a map-style source) through the shared crop/augment pipeline.

    Each item is the pipeline's output plus ``index``, ``sample_id``, ``dataset``, ``subject``, ``action`` and
    ``image_key`` (the frame the person is in).
    The augmentation of item ``i`` is drawn from a generator seeded by (seed, epoch, i), so it does not depend
    on the number of workers and is the same after resuming; call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, records, augment: CropAugment, seed: int = 0, name: str = "") -> None:
        self.records, self.augment, self.seed, self.name, self.epoch = records, augment, int(seed), name, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> dict:
        rec = self.records[index]
        if "image" not in rec:
            rec = dict(rec, image=readers.load_image(rec["image_path"]))
        rng = np.random.default_rng([self.seed, self.epoch, int(index)])
        out = self.augment(rec, rng=rng)
        out.update(index=int(index), sample_id=str(rec["sample_id"]), dataset=str(rec["dataset"]),
                   subject=str(rec["subject"]), action=str(rec["action"]), image_key=image_key(rec))
        return out


def collate(items: list[dict]) -> dict:
    """Stack tensors; strings become lists."""
    out = {}
    for k, v in items[0].items():
        vals = [it[k] for it in items]
        out[k] = torch.stack(vals) if isinstance(v, torch.Tensor) else (torch.tensor(vals) if isinstance(v, int) else vals)
    return out


def build_dataset(cfg: DataConfig, roles, augment: CropAugment, seed: int = 0, three_d: bool | None = None,
                  where: str = "config") -> Dataset | None:
    """One data set of every entry whose role is in ``roles`` (and, with ``three_d``, whose kind matches);
    ``None`` when no entry matches."""
    roles = (roles,) if isinstance(roles, str) else tuple(roles)
    base = Path(cfg.root) if cfg.root else None
    parts = []
    for k, raw in enumerate(cfg.datasets):
        e = resolve_entry(raw, base, f"{where}: data.datasets[{k}]")
        if e["role"] not in roles:
            continue
        if three_d is not None and (e["format"] in THREE_D_FORMATS) != three_d:
            continue
        records = read_entry(e)
        if len(records) == 0:
            raise DataError(f"{where}: data.datasets[{k}]", e["format"], "records", "the data set is empty")
        parts.append(PoseDataset(records, augment, seed, name=f"datasets[{k}] ({e['format']})"))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else _Concat(parts)


class _Concat(ConcatDataset):
    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            d.set_epoch(epoch)
