"""Write a browsable sample of a rendered data set (synthetic people, or given poses rendered from their cameras):
images, one JSON of annotations, a contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..geometry import apply_affine
from ..vis import contact_sheet, draw_skeleton
from .rendered import RenderedPoses
from .synthetic import SyntheticHumans

_UNITS = {"joints_2d": "frame pixels", "joints_3d": "camera mm", "box": "frame pixels (x, y, w, h)"}


def _export(ds, indices, out: str | Path, meta: dict, sheet: int, overwrite: bool) -> Path:
    """Items ``indices`` of ``ds`` into ``out``: ``images/NNNNNN.jpg``, ``annotations.json`` (``meta`` and per image
    every field of the record but the image) and ``contact_sheet.png``. An earlier export there is not replaced
    unless ``overwrite``."""
    out = Path(out)
    if (out / "annotations.json").exists() and not overwrite:
        raise FileExistsError(f"{out} already holds an export (annotations.json); choose another --out or pass "
                              "--overwrite")
    (out / "images").mkdir(parents=True, exist_ok=True)
    records, tiles, labels = [], [], []
    for k, i in enumerate(tqdm(indices, desc="synth", unit="img")):
        s = ds[int(i)]
        name = f"images/{k:06d}.jpg"
        cv2.imwrite(str(out / name), cv2.cvtColor(s["image"], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        rec = {"file_name": name}
        for key, v in s.items():
            if key != "image":
                rec[key] = v.tolist() if isinstance(v, np.ndarray) else v
        records.append(rec)
        if k < sheet:
            uv = apply_affine(s["frame_to_image"], s["joints_2d"])
            tiles.append(draw_skeleton(s["image"], uv, s["skeleton"]))
            labels.append(s["action"] if "camera" not in s else f"{s['subject']} {s['action']} {s['camera'][-4:]}")
    tmp = out / "annotations.json.tmp"
    tmp.write_text(json.dumps({**meta, "skeleton": "h36m17", "units": _UNITS, "images": records}))
    tmp.replace(out / "annotations.json")
    if tiles:
        img = contact_sheet(tiles, columns=8, tile=128, labels=labels)
        cv2.imwrite(str(out / "contact_sheet.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return out


def export_synthetic(out: str | Path, n: int, split: str = "train", seed: int = 0, sheet: int = 64,
                     style: str = "full", overwrite: bool = False) -> Path:
    """Render ``n`` samples of ``split`` into ``out``: ``images/NNNNNN.jpg`` (the 256×256 crops),
    ``annotations.json`` (per image: frame-level 2D joints, camera-space 3D joints in mm, intrinsics, box, the
    frame→image affine, validity and visibility, subject and activity) and ``contact_sheet.png``. ``style``: the
    images' style (``full`` or ``plain``, see :mod:`cdlpose.data.synthetic`)."""
    ds = SyntheticHumans(split, n, seed, style=style)
    meta = {"dataset": "cdlpose synthetic", "split": split, "seed": seed, "style": style}
    return _export(ds, range(n), out, meta, sheet, overwrite)


def export_rendered(out: str | Path, poses: str | Path, cameras: str | Path, n: int, subjects=None,
                    every: int | None = None, style: str = "plain", seed: int = 0, sheet: int = 64,
                    overwrite: bool = False) -> Path:
    """Render ``n`` samples of given poses (:class:`cdlpose.data.rendered.RenderedPoses`), spread evenly over the
    selected subjects' sequences, frames and cameras, into ``out`` (the layout of :func:`export_synthetic`; each
    record also names its ``sequence``, 50 Hz ``frame`` and ``camera``)."""
    ds = RenderedPoses(poses, cameras, subjects, every, style, seed)
    idx = np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int))
    meta = {"dataset": "cdlpose rendered poses", "poses": str(poses), "cameras": str(cameras),
            "subjects": list(ds.subjects), "every": ds.every, "seed": seed, "style": style,
            "samples_in_selection": len(ds)}
    return _export(ds, idx, out, meta, sheet, overwrite)
