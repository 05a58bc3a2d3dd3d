"""Real-photo backgrounds for rendered people: perspective views into CC0 panoramas.

The shipped panoramas (``cdlpose/assets/panoramas``: 18 of Poly Haven's CC0 HDRIs as npm's ``@pmndrs/assets``
carries them, 512×256 equirectangular, tone-mapped to JPEG by ``scripts/convert_panoramas.py``) are photographs of
real places. A view is a pinhole camera at the panorama's centre: random heading, a pitch around the horizon and a
random field of view, sampled with one ``cv2.remap``. Every sixth panorama (by sorted name, from the third) is held
out for validation (:func:`panoramas` ``"val"``), so a validation score measures backgrounds never trained on.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

__all__ = ["PANORAMA_DIR", "panoramas", "panorama_view"]

PANORAMA_DIR = Path(__file__).resolve().parents[1] / "assets" / "panoramas"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@lru_cache(maxsize=8)
def _read_folder(folder: str) -> tuple:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{folder}: no .jpg/.png panoramas (equirectangular, width = 2 × height)")
    out = []
    for p in files:
        img = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"{p}: cannot read this image (expected an equirectangular JPEG or PNG)")
        out.append((p.name, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    return tuple(out)


def panoramas(which: str = "train", folder: str | Path | None = None) -> list:
    """The panoramas (H, W, 3) uint8 RGB of ``folder`` (default :data:`PANORAMA_DIR`): ``which`` ``"train"`` (all
    but every sixth by sorted name), ``"val"`` (every sixth from the third: the shipped ``city``, ``lobby``,
    ``warehouse``) or ``"all"``."""
    items = _read_folder(str(folder or PANORAMA_DIR))
    if which == "all":
        keep = items
    elif which in ("train", "val"):
        keep = [it for k, it in enumerate(items) if (k % 6 == 2) == (which == "val")]
    else:
        raise ValueError(f"panoramas: which must be 'train', 'val' or 'all'; got {which!r}")
    return [img for _, img in keep]


def panorama_view(pano: np.ndarray, size: int, r: np.random.Generator, fov=(45.0, 100.0), pitch=(-20.0, 10.0),
                  flip: bool | None = None) -> np.ndarray:
    """A (size, size, 3) uint8 perspective view into the equirectangular ``pano`` (H, W, 3): heading uniform over
    360°, pitch U(``pitch``) degrees (negative: looking down at the ground people stand on), horizontal field of
    view U(``fov``) degrees; mirrored with probability ½ unless ``flip`` says."""
    H, W = pano.shape[:2]
    yaw = r.uniform(-np.pi, np.pi)
    tilt = np.deg2rad(r.uniform(*pitch))
    f = size / 2 / np.tan(np.deg2rad(r.uniform(*fov)) / 2)
    flip = bool(r.random() < 0.5) if flip is None else flip
    u = np.arange(size, dtype=np.float32) - (size - 1) / 2
    x, y = np.meshgrid(u, u)  # camera axes: x right, y down, z forward
    z = np.full_like(x, f)
    # pitch about x (positive tilt looks up: the ray's y goes negative), then heading about y
    c, s = np.cos(tilt), np.sin(tilt)
    y, z = y * c - z * s, y * s + z * c
    lon = np.arctan2(x, z) + yaw
    lat = np.arctan2(-y, np.hypot(x, z))  # up is positive
    map_x = ((lon / (2 * np.pi) + 0.5) % 1.0) * W - 0.5
    map_y = (0.5 - lat / np.pi) * H - 0.5
    view = cv2.remap(pano, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REFLECT)
    return view[:, ::-1].copy() if flip else view
