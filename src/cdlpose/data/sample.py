"""The one sample record every data set adapter produces, and its validation.

A record is a plain dict (cheap to pass through DataLoader workers) with these fields:

=================  ===========================  =====================================================
field              form                         meaning
=================  ===========================  =====================================================
``image``          (H, W, 3) uint8 RGB          the image (a full frame, or a crop for synthetic data)
``frame_to_image`` (2, 3) float                 affine from frame pixels to ``image`` pixels
``frame_size``     (2,) int                     (width, height) of the frame
``joints_2d``      (J, 2) float                 joints in frame pixels (pixel centres at integers)
``joints_3d``      (J, 3) float                 joints in camera space, mm (zeros where not valid)
``valid_2d``       (J,) bool                    2D joint annotated
``valid_3d``       (J,) bool                    3D joint annotated (all False for 2D-only data)
``visible``        (J,) bool                    joint seen in the image (not occluded)
``f``, ``c``       (2,) float                   intrinsics, px (NaN for 2D-only data)
``box``            (4,) float                   person box (x, y, w, h) in frame pixels
``skeleton``       str                          joint set name (see :mod:`cdlpose.skeletons`)
``dataset``        str                          data set name
``sample_id``      str                          unique id within the data set
``subject``        str                          subject label (for per-group metrics)
``action``         str                          activity label (for per-group metrics)
=================  ===========================  =====================================================
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..skeletons import get_skeleton

__all__ = ["DataError", "validate_sample", "RECORD_FIELDS"]

RECORD_FIELDS = (
    "image", "frame_to_image", "frame_size", "joints_2d", "joints_3d", "valid_2d", "valid_3d", "visible",
    "f", "c", "box", "skeleton", "dataset", "sample_id", "subject", "action",
)  # fmt: skip


def _shape(sample, name, shape, source, rid):
    arr = np.asarray(sample[name])
    if arr.shape != shape:
        raise DataError(source, rid, name, f"expected shape {shape}, got {arr.shape}")
    return arr


def validate_sample(sample: dict, source: str = "<memory>", require_image: bool = True) -> dict:
    """Check a record; raise :class:`DataError` naming ``source``, the record id and the field.

    Checks: every field present; joint counts match the skeleton; no NaN or infinite coordinate in a valid
    joint; positive depth of every valid 3D joint; a (H, W, 3) uint8 image; a positive-area box; positive
    focal lengths where 3D joints are given. With ``require_image=False`` (annotations read before their
    images), an ``image_path`` may stand for the image. Returns the sample unchanged.
    """
    rid = str(sample.get("sample_id", "?"))
    for k in RECORD_FIELDS:
        if k not in sample and not (k == "image" and not require_image and "image_path" in sample):
            raise DataError(source, rid, k, "missing")
    try:
        sk = get_skeleton(sample["skeleton"])
    except KeyError as e:
        raise DataError(source, rid, "skeleton", str(e)) from None
    J = sk.num_joints
    j2 = _shape(sample, "joints_2d", (J, 2), source, rid).astype(np.float64)
    j3 = _shape(sample, "joints_3d", (J, 3), source, rid).astype(np.float64)
    v2 = _shape(sample, "valid_2d", (J,), source, rid).astype(bool)
    v3 = _shape(sample, "valid_3d", (J,), source, rid).astype(bool)
    _shape(sample, "visible", (J,), source, rid)
    _shape(sample, "frame_to_image", (2, 3), source, rid)
    box = _shape(sample, "box", (4,), source, rid).astype(np.float64)
    f = _shape(sample, "f", (2,), source, rid).astype(np.float64)
    _shape(sample, "c", (2,), source, rid)
    if not np.isfinite(j2[v2]).all():
        bad = [sk.joints[j] for j in np.flatnonzero(v2 & ~np.isfinite(j2).all(1))]
        raise DataError(source, rid, "joints_2d", f"NaN or infinite coordinates in valid joints {bad}")
    if not np.isfinite(j3[v3]).all():
        bad = [sk.joints[j] for j in np.flatnonzero(v3 & ~np.isfinite(j3).all(1))]
        raise DataError(source, rid, "joints_3d", f"NaN or infinite coordinates in valid joints {bad}")
    if v3.any():
        if (j3[v3, 2] <= 0).any():
            bad = [sk.joints[j] for j in np.flatnonzero(v3 & (j3[:, 2] <= 0))]
            raise DataError(source, rid, "joints_3d", f"non-positive depth (Z <= 0 mm) for joints {bad}")
        if not (np.isfinite(f).all() and (f > 0).all()):
            raise DataError(source, rid, "f", f"expected positive focal lengths with 3D joints, got {f.tolist()}")
    if not (np.isfinite(box).all() and box[2] > 0 and box[3] > 0):
        raise DataError(source, rid, "box", f"expected (x, y, w, h) with w, h > 0, got {box.tolist()}")
    if "image" not in sample:
        return sample
    img = sample["image"]
    if not (isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3):
        form = f"{type(img).__name__} {getattr(img, 'dtype', '')} {getattr(img, 'shape', '')}"
        raise DataError(source, rid, "image", f"expected a (H, W, 3) uint8 RGB array, got {form}")
    return sample
