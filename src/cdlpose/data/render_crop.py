"""What the plain and the realistic renderers share: the crop a rendered person is drawn into (as the crop
pipeline makes it from a data set's box) and which joints that picture shows."""

from __future__ import annotations

import numpy as np

from ..geometry import apply_affine, box_from_joints, crop_transform, fix_aspect_ratio

__all__ = ["person_crop", "joint_visibility"]


def person_crop(uv: np.ndarray, size: int):
    """(tight joint box, frame → crop affine): the record's box is the tight box of the joints, like a data set's
    annotation; the crop shows it enlarged ×1.25 with a square aspect ratio, as the crop pipeline makes it."""
    box = box_from_joints(uv, aspect_ratio=None)
    crop_box = fix_aspect_ratio(box, 1.0, 1.25)
    return box, crop_transform(crop_box[:2] + crop_box[2:] / 2, crop_box[2:], (size, size))


def joint_visibility(depth: np.ndarray, M: np.ndarray, uv: np.ndarray, cam: np.ndarray, margin: float,
                     occluders: np.ndarray | None = None) -> np.ndarray:
    """(J,) bool: the joints (``uv`` frame px, ``cam`` (J, 3) mm) that the crop (frame → crop affine ``M``, its
    ``depth`` (S, S) mm) shows: inside the crop, no surface more than ``margin`` mm in front of the joint at its
    pixel, and not under a nonzero pixel of the ``occluders`` mask (S, S)."""
    size = depth.shape[0]
    crop_uv = apply_affine(M, uv)
    pi = np.clip(np.round(crop_uv).astype(int), 0, size - 1)
    inside = (crop_uv >= -0.5).all(1) & (crop_uv <= size - 0.5).all(1)
    visible = inside & (depth[pi[:, 1], pi[:, 0]] > cam[:, 2] - margin)
    if occluders is not None:
        visible &= occluders[pi[:, 1], pi[:, 0]] == 0
    return visible
