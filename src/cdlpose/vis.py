"""Drawing helpers: 2D skeletons over images and contact sheets."""

from __future__ import annotations

import cv2
import numpy as np

from .skeletons import get_skeleton

# left limbs blue, right limbs orange, centre green (BGR-agnostic: colours are given for RGB images)
_LEFT, _RIGHT, _CENTRE = (70, 130, 255), (255, 140, 40), (60, 220, 60)


def draw_skeleton(image: np.ndarray, uv: np.ndarray, skeleton, valid=None, thickness: int = 2) -> np.ndarray:
    """Draw the bones of ``skeleton`` with joints ``uv`` (J, 2) image pixels on a copy of RGB ``image``."""
    sk = get_skeleton(skeleton)
    out = np.ascontiguousarray(image).copy()
    valid = np.ones(sk.num_joints, bool) if valid is None else np.asarray(valid, bool)
    for p, c in sk.bones:
        if not (valid[p] and valid[c]):
            continue
        name = sk.joints[c]
        col = _LEFT if name.startswith("L_") else _RIGHT if name.startswith("R_") else _CENTRE
        a = tuple(int(round(v)) for v in uv[p])
        b = tuple(int(round(v)) for v in uv[c])
        cv2.line(out, a, b, col, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(valid):
        cv2.circle(out, tuple(int(round(v)) for v in uv[j]), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return out


def contact_sheet(images: list[np.ndarray], columns: int = 8, tile: int = 128, labels=None) -> np.ndarray:
    """Tile RGB images (resized to ``tile``²) into one RGB image, with optional text labels."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    rows = (len(images) + columns - 1) // columns
    sheet = np.zeros((rows * tile, columns * tile, 3), np.uint8)
    for i, img in enumerate(images):
        t = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        if labels is not None:
            cv2.putText(t, str(labels[i]), (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
        r, c = divmod(i, columns)
        sheet[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = t
    return sheet
