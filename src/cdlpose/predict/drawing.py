"""What a run draws: the 2D overlay, the 3D figure and the live window."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from ..inference import Predictor
from ..vis import PERSON_COLOURS, draw_skeleton, render_3d_view
from .options import PredictOptions

__all__ = ["figure_3d", "draw_overlay", "show"]


def figure_3d(pred: Predictor, people: list, size: int = 320) -> np.ndarray:
    if len(people) > 1:
        poses, labels = [p["keypoints_3d_camera_estimate"] for p in people], [str(k) for k in range(len(people))]
        persons = list(range(len(people)))
    else:
        poses, labels, persons = [p["keypoints_3d"] for p in people], None, None
    views = [render_3d_view(poses, pred.skeleton, size, azim=a, labels=labels, persons=persons) for a in (-25.0, 65.0)]
    return np.concatenate(views, 1)


def draw_overlay(pred: Predictor, img: np.ndarray, people: list, opts: PredictOptions | None = None,
             persons=None) -> np.ndarray:
    """The 2D skeletons (joints under ``opts.kpt_thr`` faint) and boxes on the image; ``persons``: per person its
    colour index (``None``: left/right colours)."""
    out = img
    t = max(1, round(max(img.shape[:2]) / 300))
    thr = opts.kpt_thr if opts is not None else 0.0
    t = opts.thickness if opts is not None and opts.thickness else t
    radius = opts.radius if opts is not None else None
    if persons is None and len(people) > 1:
        persons = list(range(len(people)))
    for k, p in enumerate(people):
        who = None if persons is None else persons[k]
        out = draw_skeleton(out, p["keypoints_2d"], pred.skeleton, thickness=t, confidence=p["confidence"],
                            kpt_thr=thr, radius=radius, person=who)
        x, y, w, h = (int(round(v)) for v in p["box"])
        col = (255, 255, 0) if who is None else PERSON_COLOURS[who % len(PERSON_COLOURS)]
        cv2.rectangle(out, (x, y), (x + w, y + h), col, 1)
        if who is not None:
            cv2.putText(out, str(who), (x + 2, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, col, 1, cv2.LINE_AA)
    return out


def show(frame_rgb: np.ndarray, path: Path) -> None:
    """The live window (``--show``); needs an OpenCV build with GUI support."""
    try:
        cv2.imshow(f"cdlpose {path}", np.ascontiguousarray(frame_rgb[..., ::-1]))
        cv2.waitKey(1)
    except cv2.error:
        raise InputError("--show needs OpenCV with a GUI (pip install opencv-python instead of "
                         "opencv-python-headless); the output is written without it") from None
