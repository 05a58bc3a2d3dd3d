"""What every annotation reader shares: the record of a full frame, number parsing that names the field, image
lookup by id, and collecting problems instead of stopping at the first (``cdlpose data check``)."""

from __future__ import annotations

import contextlib
import contextvars
import json
from pathlib import Path

import numpy as np

from .sample import DataError, validate_sample


_PROBLEMS: contextvars.ContextVar = contextvars.ContextVar("cdlpose_reader_problems", default=None)


@contextlib.contextmanager
def collecting_problems():
    """Within this context the readers do not stop at a bad record: its :class:`DataError` message is appended
    to the yielded list and the record skipped (``cdlpose data check`` reports every problem at once)."""
    problems: list[str] = []
    token = _PROBLEMS.set(problems)
    try:
        yield problems
    finally:
        _PROBLEMS.reset(token)


def _problem(e: DataError) -> None:
    """Raise ``e``, or note it when :func:`collecting_problems` is active."""
    problems = _PROBLEMS.get()
    if problems is None:
        raise e
    problems.append(str(e))


def _floats(value, source, rid, field: str) -> np.ndarray:
    """``value`` as a float64 array, or a :class:`DataError` naming the field (``could not convert 'abc'`` alone
    names nothing)."""
    try:
        return np.asarray(value, np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(str(source), rid, field, f"expected numbers, got {str(value)[:60]} ({e})") from None


def _images_by_id(images, path, id_key: str = "id") -> dict:
    """An annotation file's ``images`` table by id; images without an id and duplicate ids are problems."""
    if not isinstance(images, list):
        raise DataError(str(path), "-", "images", f"expected a list, got {type(images).__name__}")
    out = {}
    for k, im in enumerate(images):
        try:
            if not isinstance(im, dict) or id_key not in im:
                raise DataError(str(path), f"images[{k}]", id_key, "missing")
            if not isinstance(im[id_key], (int, str)) or isinstance(im[id_key], bool):
                raise DataError(str(path), f"images[{k}]", id_key, f"expected a number, got {im[id_key]!r}")
            if im[id_key] in out:
                raise DataError(str(path), f"images[{k}]", id_key, f"duplicate image id {im[id_key]!r}")
        except DataError as e:
            _problem(e)
            continue
        out[im[id_key]] = im
    return out


def _finish(records: list[dict], source: str, validate: bool) -> list[dict]:
    """Validate every record's annotations on load (NaN, joint counts, depths …): the first bad one raises a
    :class:`DataError` naming the file, record and field. ``validate=False`` leaves that to :func:`check_records`."""
    if validate:
        for r in records:
            validate_sample(r, source, require_image=False)
    return records


def _frame_record(image_path, skeleton, dataset, sample_id, joints_2d, box, joints_3d=None, valid_2d=None,
                  valid_3d=None, visible=None, f=None, c=None, frame_size=(0, 0), subject="", action="", **extra):
    """A sample record for a full frame (``frame_to_image`` is the identity). Without 3D joints the record is
    2D-only: zero 3D joints marked invalid and NaN intrinsics."""
    J = skeleton.num_joints
    valid_2d = np.ones(J, bool) if valid_2d is None else np.asarray(valid_2d, bool)
    two_d_only = joints_3d is None
    return {
        "image_path": image_path,
        "frame_to_image": np.array([[1.0, 0, 0], [0, 1.0, 0]]),
        "frame_size": np.array(frame_size),
        "joints_2d": joints_2d,
        "joints_3d": np.zeros((J, 3)) if two_d_only else joints_3d,
        "valid_2d": valid_2d,
        "valid_3d": np.zeros(J, bool) if two_d_only else (np.ones(J, bool) if valid_3d is None else valid_3d),
        "visible": valid_2d.copy() if visible is None else np.asarray(visible, bool),
        "f": np.full(2, np.nan) if f is None else f,
        "c": np.full(2, np.nan) if c is None else c,
        "box": box,
        "skeleton": skeleton.name,
        "dataset": dataset,
        "sample_id": sample_id,
        "subject": subject,
        "action": action,
        **extra,
    }


def _image_of(images: dict, ann: dict, path, rid: str) -> dict:
    """The ``images`` entry an annotation's ``image_id`` names, with a ``file_name``; else a DataError."""
    im = images.get(ann["image_id"]) if isinstance(ann["image_id"], (int, str)) else None
    if im is None:
        raise DataError(str(path), rid, "image_id", f"no image with id {ann['image_id']!r}")
    if "file_name" not in im:
        raise DataError(str(path), rid, "file_name", f"image {ann['image_id']!r} has no file_name")
    return im


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(str(path), "-", "-", f"not valid JSON ({e})") from None
