"""Write a browsable sample of the synthetic data set: images, one JSON of annotations, a contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..geometry import apply_affine
from ..vis import contact_sheet, draw_skeleton
from .synthetic import SyntheticHumans


def export_synthetic(out: str | Path, n: int, split: str = "train", seed: int = 0, sheet: int = 64,
                     style: str = "full") -> Path:
    """Render ``n`` samples of ``split`` into ``out``: ``images/NNNNNN.jpg`` (the 256×256 crops),
    ``annotations.json`` (per image: frame-level 2D joints, camera-space 3D joints in mm, intrinsics, box, the
    frame→image affine, validity and visibility, subject and activity) and ``contact_sheet.png``. ``style``: the
    images' style (``full`` or ``plain``, see :mod:`cdlpose.data.synthetic`)."""
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    ds = SyntheticHumans(split, n, seed, style=style)
    records, tiles, labels = [], [], []
    for i in tqdm(range(n), desc="synth", unit="img"):
        s = ds[i]
        name = f"images/{i:06d}.jpg"
        cv2.imwrite(str(out / name), cv2.cvtColor(s["image"], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
        rec = {"file_name": name}
        for k, v in s.items():
            if k != "image":
                rec[k] = v.tolist() if isinstance(v, np.ndarray) else v
        records.append(rec)
        if i < sheet:
            uv = apply_affine(s["frame_to_image"], s["joints_2d"])
            tiles.append(draw_skeleton(s["image"], uv, s["skeleton"]))
            labels.append(s["action"])
    meta = {"dataset": "cdlpose synthetic", "split": split, "seed": seed, "style": style, "skeleton": "h36m17",
            "units": {"joints_2d": "frame pixels", "joints_3d": "camera mm", "box": "frame pixels (x, y, w, h)"},
            "images": records}
    (out / "annotations.json").write_text(json.dumps(meta))
    if tiles:
        img = contact_sheet(tiles, columns=8, tile=128, labels=labels)
        cv2.imwrite(str(out / "contact_sheet.png"), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return out
