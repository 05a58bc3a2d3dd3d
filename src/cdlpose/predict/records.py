"""The JSON a run writes: per input its header and people (``cdlpose-prediction/2``), and the COCO results file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..inference import Predictor
from .options import SCHEMA

__all__ = ["person_record", "coco_results", "header", "json_text", "coco_entry"]


def _r(a, nd=2):
    return np.round(np.asarray(a, np.float64), nd).tolist()


def person_record(p: dict, smoothed=None) -> dict:
    """One person of the JSON output, with the keys of :meth:`Predictor.predict`. Units: ``box`` [x, y, w, h] and
    ``keypoints_2d`` image px; ``detection_score`` the box's score (``null``: a box given without one, or the whole
    image); ``score`` = detection score (1 without one) × mean joint confidence; ``confidence`` 0..1 per joint;
    ``uvz`` u, v px and z mm (root-relative depth); ``keypoints_3d`` mm, root-relative, camera axes (x right, y
    down, z forward), from ``pose_3d_source`` (``lifting`` or ``back-projection`` of the 2.5D estimate at
    ``root_depth_mm``); ``root_depth_mm_estimate`` RootNet's k-value depth from the box area; ``root_depth_mm``
    the root depth used (``root_depth_source``: ``given`` or ``estimate``), at which
    ``keypoints_3d_camera_estimate`` places the pose; ``keypoints_3d_smoothed`` (videos with smoothing)."""
    det = p.get("detection_score")
    rec = {
        "box": _r(p["box"]),
        "detection_score": None if det is None else round(float(det), 4),
        "score": round(float(p["score"]), 4),
        "keypoints_2d": _r(p["keypoints_2d"]),
        "confidence": _r(p["confidence"], 4),
        "uvz": _r(p["uvz"]),
        "keypoints_3d": _r(p["keypoints_3d"], 1),
        "pose_3d_source": p["pose_3d_source"],
        "root_depth_mm_estimate": round(float(p["root_depth_mm_estimate"]), 1),
        "root_depth_mm": round(float(p["root_depth_mm"]), 1),
        "root_depth_source": p["root_depth_source"],
        "keypoints_3d_camera_estimate": _r(p["keypoints_3d_camera_estimate"], 1),
    }
    if smoothed is not None:
        rec["keypoints_3d_smoothed"] = _r(smoothed, 1)
    return rec


def _image_id(path: Path):
    """COCO's ``image_id`` of an input: the number of a COCO-style name (``000000000785.jpg`` → 785), else the
    file's name."""
    return int(path.stem) if path.stem.isdigit() else path.name


def coco_entry(rec: dict, path: Path, frame: int | None = None) -> dict:
    """One person record as a COCO keypoint result (``keypoints``: [x, y, confidence] per joint, cdlpose's joint
    order), with the input's path, the frame of a video and the 3D fields."""
    xy, conf = np.asarray(rec["keypoints_2d"]), np.asarray(rec["confidence"])
    e = {"image_id": _image_id(path) if frame is None else frame, "category_id": 1,
         "keypoints": np.round(np.concatenate([xy, conf[:, None]], 1), 4).reshape(-1).tolist(),
         "score": rec["score"], "bbox": rec["box"], "file_name": str(path)}
    if frame is not None:
        e["frame"] = frame
    for k in ("detection_score", "keypoints_3d", "pose_3d_source", "keypoints_3d_smoothed",
              "keypoints_3d_camera_estimate", "root_depth_mm", "root_depth_mm_estimate", "track"):
        if k in rec:
            e[k] = rec[k]
    return e


def coco_results(pred: Predictor, entries: list) -> dict:
    """The combined results file: ``annotations`` is a list in COCO's keypoint results form (``image_id``: an
    image's COCO number or file name, a video frame's index with ``file_name`` the video; ``category_id`` 1;
    ``keypoints`` [x, y, v] per joint with v the joint's confidence; ``score``; ``bbox`` [x, y, w, h]) — pass it to
    ``pycocotools.COCO.loadRes`` — with cdlpose's 3D fields alongside; ``categories`` names the joints and bones
    (COCO style, bones 1-based) and ``info`` gives the units."""
    sk = pred.skeleton
    return {
        "info": {"schema": "cdlpose-coco-results/1", "description": "cdlpose predict, COCO keypoint results with "
                 "3D fields", "skeleton": sk.name, "joint_names": list(sk.joints),
                 "units": {"keypoints": "x, y image px; v the joint's confidence 0..1",
                           "bbox": "image px [x, y, w, h]", "score": "detection score × mean joint confidence",
                           "keypoints_3d": "mm, root-relative, camera axes (x right, y down, z forward)",
                           "keypoints_3d_camera_estimate": "mm, camera space, root depth estimated from the box "
                                                           "area (RootNet k-value)"}},
        "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": list(sk.joints),
                        "skeleton": [[a + 1, b + 1] for a, b in sk.bones]}],
        "annotations": entries,
    }


def header(pred: Predictor, path: Path, kind: str, size, checkpoint) -> dict:
    sk = pred.skeleton
    return {
        "schema": SCHEMA, "input": str(path), "kind": kind, "image_size": [int(size[0]), int(size[1])],
        "checkpoint": str(checkpoint), "skeleton": sk.name, "joint_names": list(sk.joints),
        "bones": [list(b) for b in sk.bones], "flip_test": bool(pred.flip),
        "backend": pred.backend, "pose_3d_source": pred.pose_3d_source,
        **({"imported_from": pred.origin} if pred.origin else {}),
        "units": {"keypoints_2d": "image px", "uvz": "u, v image px; z mm root-relative depth",
                  "score": "detection score (1 without one) × mean joint confidence",
                  "keypoints_3d": ("mm, root-relative, camera axes (x right, y down, z forward), geodesic-normalised "
                                   "scale (neck-knee 1077 mm)" if pred.pose_3d_source == "lifting" else
                                   "mm, root-relative, camera axes (x right, y down, z forward): the 2.5D estimate "
                                   "back-projected at root_depth_mm + z (its scale follows the root depth)"),
                  "keypoints_3d_camera_estimate": "mm, camera space, root depth estimated from the box area "
                                                  "(RootNet k-value)"},
    }


def json_text(data: dict, source) -> str:
    """JSON without NaN or infinity (``json`` would write them, and no JSON reader accepts them)."""
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:
        raise InputError(f"{source}: the prediction holds NaN or infinite values (a broken checkpoint?); "
                         "nothing written for it") from None
