"""People per image: boxes from the options (given, a detections file, a detector, or the whole image), then the
network."""

from __future__ import annotations

from ..inference import Predictor
from .options import PredictOptions

__all__ = ["boxes_for", "predict_batch"]


def boxes_for(opts: PredictOptions, paths: list, images: list, frames=None) -> tuple[list, list]:
    """Per image (or frame), its box list (``None``: the whole image) and their detection scores (``None``: none)."""
    if opts.boxes:
        return [list(opts.boxes) for _ in images], [None for _ in images]
    if opts.detections is not None:
        no_frames = frames is None
        frames = [None] * len(paths) if frames is None else frames
        found = [opts.detections.scored_for(p, f) for p, f in zip(paths, frames)]
        if no_frames:
            opts.no_box += [str(p) for p, b in zip(paths, found) if not b]
        return [[b for _, b in sb] for sb in found], [[sc for sc, _ in sb] for sb in found]
    if opts.detector is not None:
        if hasattr(opts.detector, "detect"):
            return opts.detector.detect(images)
        return opts.detector(images), [None for _ in images]
    opts.whole_image += [str(p) for p in paths]
    return [None for _ in images], [None for _ in images]


def predict_batch(pred: Predictor, opts: PredictOptions, paths: list, images: list, names: list, frames=None):
    """People per image; ``paths`` (per image) and ``frames`` (video frame indices) find detections."""
    boxes, scores = boxes_for(opts, paths, images, frames)
    # an image with no detected person gets no prediction (not the whole image)
    run = [i for i, b in enumerate(boxes) if b is None or len(b) > 0]
    people = [[] for _ in images]
    if run:
        depths = None if not (opts.boxes and opts.root_depths) else [list(opts.root_depths) for _ in run]
        out = pred.predict([images[i] for i in run], [boxes[i] for i in run], focal=opts.focal,
                           batch_size=opts.batch_size, names=[names[i] for i in run],
                           scores=[scores[i] for i in run], root_depths=depths)
        for i, ps in zip(run, out):
            people[i] = ps
    return people
