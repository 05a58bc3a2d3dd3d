"""``cdlpose predict``: 3D poses for images, folders and videos, written as JSON, pictures, MP4 and HTML viewers.

Per input ``NAME`` (a file's stem, made unique) the output folder gets:

- ``NAME.json`` (schema ``cdlpose-prediction/1``, see :func:`person_record`): per person the box, 2D joints in
  image pixels, per-joint confidences, the 2.5D estimate, the root-relative 3D pose in mm (camera axes) and the
  estimated camera-space placement; for videos one entry per frame;
- images: ``NAME_2d.jpg`` (the image with the 2D skeletons) and ``NAME_3d.png`` (the 3D skeletons, two views);
- videos: ``NAME.mp4`` with the 2D overlay and the 3D view side by side (optionally One-Euro smoothed);
- ``NAME.html``: a self-contained viewer (rotate, zoom, scrub frames).

A folder's unreadable images are reported and skipped; the rest are processed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .checkpoint import write_text_atomic
from .inference import InputError, Predictor
from .smoothing import OneEuroFilter
from .vis import draw_skeleton, render_3d_view

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "PredictOptions", "collect_inputs", "person_record", "run_predict",
           "match_tracks"]

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
SCHEMA = "cdlpose-prediction/1"


@dataclass
class PredictOptions:
    out: Path
    boxes: list | None = None  # --box: the same boxes for every image/frame
    detections: object = None  # a cdlpose.detection.Detections
    detector: object = None  # a callable: list of images → list of box lists
    focal: tuple | None = None
    batch_size: int = 16
    images: bool = True  # write overlays, 3D figures and MP4s (JSON and viewers are always written)
    viewer: bool = True
    smooth: bool = False
    min_cutoff: float = 1.0
    beta: float = 0.01
    progress: bool = True
    errors: list = field(default_factory=list)


def collect_inputs(paths) -> list[tuple[Path, str]]:
    """``(path, 'image'|'video')`` for every input: files as given, folders' images and videos (recursively, in
    sorted order). A path that does not exist raises :class:`InputError`."""
    items = []
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                ext = f.suffix.lower()
                if ext in IMAGE_EXTS:
                    items.append((f, "image"))
                elif ext in VIDEO_EXTS:
                    items.append((f, "video"))
        elif p.is_file():
            items.append((p, "video" if p.suffix.lower() in VIDEO_EXTS else "image"))
        else:
            raise InputError(f"input not found: {p}")
    if not items:
        raise InputError(f"no images or videos in {', '.join(map(str, paths))} (image types: "
                         f"{' '.join(sorted(IMAGE_EXTS))}; video types: {' '.join(sorted(VIDEO_EXTS))})")
    return items


def _r(a, nd=2):
    return np.round(np.asarray(a, np.float64), nd).tolist()


def person_record(p: dict, smoothed=None) -> dict:
    """One person of the JSON output. Units: ``box`` [x, y, w, h] and ``keypoints_2d`` image px; ``confidence``
    0..1 per joint; ``uvz`` u, v px and z mm (root-relative depth); ``keypoints_3d`` mm, root-relative, camera
    axes (x right, y down, z forward); ``root_depth_mm_estimate`` and ``keypoints_3d_camera_estimate`` place the
    pose at RootNet's k-value depth from the box area (an estimate)."""
    rec = {
        "box": _r(p["box"]),
        "keypoints_2d": _r(p["keypoints_2d"]),
        "confidence": _r(p["confidence"], 4),
        "uvz": _r(p["uvz"]),
        "keypoints_3d": _r(p["keypoints_3d"], 1),
        "root_depth_mm_estimate": round(float(p["root_depth_mm"]), 1),
        "keypoints_3d_camera_estimate": _r(p["keypoints_3d_camera"], 1),
    }
    if smoothed is not None:
        rec["keypoints_3d_smoothed"] = _r(smoothed, 1)
    return rec


def _header(pred: Predictor, path: Path, kind: str, size, checkpoint) -> dict:
    sk = pred.skeleton
    return {
        "schema": SCHEMA, "input": str(path), "kind": kind, "image_size": [int(size[0]), int(size[1])],
        "checkpoint": str(checkpoint), "skeleton": sk.name, "joint_names": list(sk.joints),
        "bones": [list(b) for b in sk.bones], "flip_test": bool(pred.flip),
        "units": {"keypoints_2d": "image px", "uvz": "u, v image px; z mm root-relative depth",
                  "keypoints_3d": "mm, root-relative, camera axes (x right, y down, z forward), geodesic-normalised "
                                  "scale (neck-knee 1077 mm)",
                  "keypoints_3d_camera_estimate": "mm, camera space, root depth estimated from the box area "
                                                  "(RootNet k-value)"},
    }


def match_tracks(prev_boxes: list, boxes: list, min_iou: float = 0.3) -> list[int | None]:
    """Greedy IoU matching of this frame's boxes to the previous frame's: per box, the index of its previous box or
    ``None`` (a new track)."""
    if not prev_boxes or not boxes:
        return [None] * len(boxes)
    a, b = np.asarray(prev_boxes, np.float64), np.asarray(boxes, np.float64)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y1 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    iou = inter / (a[:, None, 2] * a[:, None, 3] + b[None, :, 2] * b[None, :, 3] - inter)
    out: list[int | None] = [None] * len(boxes)
    while True:
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        if iou[i, j] < min_iou:
            return out
        out[j] = int(i)
        iou[i, :] = -1
        iou[:, j] = -1


class _Names:
    def __init__(self):
        self.used = set()

    def __call__(self, path: Path) -> str:
        base = name = path.stem
        k = 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name


def _boxes_for(opts: PredictOptions, paths: list, images: list, frames=None) -> list:
    """Per image (or frame), its box list; ``None`` means the whole image."""
    if opts.boxes:
        return [list(opts.boxes) for _ in images]
    if opts.detections is not None:
        frames = [None] * len(paths) if frames is None else frames
        return [opts.detections.boxes_for(p, f) for p, f in zip(paths, frames)]
    if opts.detector is not None:
        return opts.detector(images)
    return [None for _ in images]


def _predict_batch(pred: Predictor, opts: PredictOptions, paths: list, images: list, names: list, frames=None):
    """People per image; ``paths`` (per image) and ``frames`` (video frame indices) find detections."""
    boxes = _boxes_for(opts, paths, images, frames)
    # an image with no detected person gets no prediction (not the whole image)
    run = [i for i, b in enumerate(boxes) if b is None or len(b) > 0]
    people = [[] for _ in images]
    if run:
        out = pred.predict([images[i] for i in run], [boxes[i] for i in run], focal=opts.focal,
                           batch_size=opts.batch_size, names=[names[i] for i in run])
        for i, ps in zip(run, out):
            people[i] = ps
    return people


def _figure_3d(pred: Predictor, people: list, size: int = 320) -> np.ndarray:
    if len(people) > 1:
        poses, labels = [p["keypoints_3d_camera"] for p in people], [str(k) for k in range(len(people))]
    else:
        poses, labels = [p["keypoints_3d"] for p in people], None
    views = [render_3d_view(poses, pred.skeleton, size, azim=a, labels=labels) for a in (-25.0, 65.0)]
    return np.concatenate(views, 1)


def _overlay(pred: Predictor, img: np.ndarray, people: list) -> np.ndarray:
    out = img
    t = max(1, round(max(img.shape[:2]) / 300))
    for k, p in enumerate(people):
        out = draw_skeleton(out, p["keypoints_2d"], pred.skeleton, thickness=t)
        x, y, w, h = (int(round(v)) for v in p["box"])
        cv2.rectangle(out, (x, y), (x + w, y + h), (255, 255, 0), 1)
        if len(people) > 1:
            cv2.putText(out, str(k), (x + 2, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 0), 1, cv2.LINE_AA)
    return out


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data))


def _images(pred, opts, items, names, bar, checkpoint):
    """Images in batches of ``opts.batch_size``; unreadable ones are recorded in ``opts.errors``."""
    from .data.readers import load_image

    done = []
    for start in range(0, len(items), opts.batch_size):
        chunk = items[start : start + opts.batch_size]
        imgs, paths = [], []
        for path in chunk:
            try:
                imgs.append(load_image(path))
                paths.append(path)
            except (OSError, ValueError) as e:
                opts.errors.append((str(path), str(e)))
                bar.update(1)
        if not imgs:
            continue
        try:
            people = _predict_batch(pred, opts, paths, imgs, [str(p) for p in paths])
        except InputError:
            # a bad box in one image: fall back to one image at a time so that the others still get processed
            people = []
            for p, im in zip(paths, imgs):
                try:
                    people.append(_predict_batch(pred, opts, [p], [im], [str(p)])[0])
                except InputError as e:
                    opts.errors.append((str(p), str(e)))
                    people.append(None)
        for path, img, ps in zip(paths, imgs, people):
            bar.update(1)
            if ps is None:
                continue
            name = names(path)
            data = _header(pred, path, "image", img.shape[1::-1], checkpoint)
            data["people"] = [person_record(p) for p in ps]
            _write_json(opts.out / f"{name}.json", data)
            overlay = _overlay(pred, img, ps) if opts.images or opts.viewer else None
            if opts.images:
                cv2.imwrite(str(opts.out / f"{name}_2d.jpg"), overlay[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
                cv2.imwrite(str(opts.out / f"{name}_3d.png"), _figure_3d(pred, ps)[..., ::-1])
            if opts.viewer:
                from .viewer import write_viewer

                write_viewer(opts.out / f"{name}.html", data, image=overlay)
            done.append(name)
    return done


def _video(pred, opts, path, names, bar, checkpoint):
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot open video {path} (not a video, or a codec OpenCV lacks)")
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    fps = fps if 1.0 <= fps <= 1000.0 else 25.0
    W, H = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    name = names(path)
    data = _header(pred, path, "video", (W, H), checkpoint)
    data["fps"] = fps
    data["smoothing"] = ({"filter": "one-euro", "min_cutoff_hz": opts.min_cutoff, "beta": opts.beta}
                         if opts.smooth else None)
    frames_out = []
    writer = None
    filters: dict[int, OneEuroFilter] = {}
    prev_boxes, prev_tracks, next_track = [], [], 0
    index = 0
    try:
        while True:
            batch, ids = [], []
            while len(batch) < opts.batch_size:
                ok, frame = cap.read()
                if not ok:
                    break
                batch.append(np.ascontiguousarray(frame[..., ::-1]))
                ids.append(index)
                index += 1
            if not batch:
                break
            people = _predict_batch(pred, opts, [path] * len(batch), batch, [f"{path} frame {i}" for i in ids],
                                    frames=ids)
            for fid, img, ps in zip(ids, batch, people):
                boxes = [p["box"] for p in ps]
                match = match_tracks(prev_boxes, boxes)
                tracks = []
                for m in match:
                    if m is None:
                        tracks.append(next_track)
                        next_track += 1
                    else:
                        tracks.append(prev_tracks[m])
                prev_boxes, prev_tracks = boxes, tracks
                recs, shown = [], []  # shown: the 3D poses drawn (smoothed when asked for)
                for p, t in zip(ps, tracks):
                    sm = None
                    if opts.smooth:
                        sm = filters.setdefault(t, OneEuroFilter(fps, opts.min_cutoff, opts.beta))(p["keypoints_3d"])
                    shown.append(p["keypoints_3d"] if sm is None else sm)
                    recs.append({**person_record(p, sm), "track": t})
                frames_out.append({"frame": fid, "time_s": round(fid / fps, 4), "people": recs})
                if opts.images:
                    left = _overlay(pred, img, ps)
                    size = min(H, 480)
                    right = render_3d_view(shown, pred.skeleton, size, extent=1100.0)  # blank when nobody
                    if right.shape[0] != H:
                        right = cv2.resize(right, (H, H), interpolation=cv2.INTER_LINEAR)
                    both = np.concatenate([left, right], 1)
                    if writer is None:
                        writer = cv2.VideoWriter(str(opts.out / f"{name}.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                                 (both.shape[1], both.shape[0]))
                        if not writer.isOpened():
                            raise InputError(f"{opts.out / (name + '.mp4')}: OpenCV cannot write MP4 (mp4v) here")
                    writer.write(np.ascontiguousarray(both[..., ::-1]))
                bar.update(1)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if not frames_out:
        raise InputError(f"cannot read any frame of video {path}")
    data["frames"] = frames_out
    _write_json(opts.out / f"{name}.json", data)
    if opts.viewer:
        from .viewer import write_viewer

        write_viewer(opts.out / f"{name}.html", data)
    return name


class _Counter:
    """Counts images and frames (a disabled tqdm does not) and forwards to the progress bar."""

    def __init__(self, bar):
        self.bar, self.n = bar, 0

    def update(self, k: int = 1) -> None:
        self.n += k
        self.bar.update(k)


def _frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    return max(n, 0)


def run_predict(pred: Predictor, inputs, opts: PredictOptions, checkpoint="") -> dict:
    """Predict every input (see :func:`collect_inputs`) into ``opts.out``. Returns ``{"outputs": [names],
    "errors": [(path, message)], "frames": n, "seconds": s}``; bad inputs are in ``errors``, not raised."""
    from tqdm import tqdm

    items = collect_inputs(inputs)
    opts.out.mkdir(parents=True, exist_ok=True)
    total = sum(1 if k == "image" else _frame_count(p) for p, k in items)
    names = _Names()
    t0 = time.perf_counter()
    outputs = []
    with tqdm(total=total or None, unit="img", disable=not opts.progress, dynamic_ncols=True) as tq:
        bar = _Counter(tq)
        images = [p for p, k in items if k == "image"]
        if images:
            outputs += _images(pred, opts, images, names, bar, checkpoint)
        for p in (p for p, k in items if k == "video"):
            try:
                outputs.append(_video(pred, opts, p, names, bar, checkpoint))
            except InputError as e:
                opts.errors.append((str(p), str(e)))
        frames = bar.n
    return {"outputs": outputs, "errors": list(opts.errors), "frames": frames, "seconds": time.perf_counter() - t0}
