"""``cdlpose predict``: 3D poses for images, folders and videos, written as JSON, pictures, MP4 and HTML viewers.

Per input ``NAME`` (a file's stem, made unique) the output folder gets:

- ``NAME.json`` (schema ``cdlpose-prediction/2``, see :func:`person_record`): per person the box and its detection
  score, 2D joints in image pixels, per-joint confidences, the 2.5D estimate, the root-relative 3D pose in mm
  (camera axes) and the estimated camera-space placement; for videos one entry per frame;
- images: ``NAME_2d.jpg`` (the image with the 2D skeletons) and ``NAME_3d.png`` (the 3D skeletons, two views);
- videos and cameras: ``NAME.mp4`` (H.264, yuv420p: plays in browsers) with the 2D overlay and the 3D view side by
  side (optionally One-Euro smoothed);
- ``NAME.html``: a self-contained viewer (rotate, zoom, scrub frames; a video's frames beside the 3D view).

and, for the whole run, ``predictions.coco.json`` (see :func:`coco_results`): every person in COCO's keypoint
results form (``image_id``, ``category_id``, ``keypoints`` [x, y, v]…, ``score``, ``bbox``) with the 3D fields
alongside, merged with the entries of earlier runs into the same folder for other inputs.

Inputs: image and video files, folders of them (recursively), quoted glob patterns (``"shots/*.jpg"``, ``**``
recursive) and cameras (``PredictOptions.cameras``: OpenCV capture indices, read until the stream ends,
``max_frames`` or Ctrl-C). URLs are refused: download the file first.

A folder's unreadable images (also truncated JPEG and PNG files, and videos with fewer frames than their
container lists) are reported and skipped; the rest are processed.

Nothing in the output folder is replaced unless cdlpose wrote it for the same input: before anything is written,
every output that would replace another file is listed and the run refused (``overwrite`` replaces them). What
was written for which input is recorded in ``.cdlpose-predict.jsonl`` in the output folder; files listed there are
not taken as inputs when the output folder is inside an input folder. Every write goes through a temporary file
and a rename and is checked: a failed one (disk full, permission, a folder of that name) is reported with the
file and the cause; a full disk stops the run.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import time
from fractions import Fraction
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .checkpoint import OutputError, write_bytes_atomic, write_text_atomic
from .inference import InputError, Predictor
from .smoothing import OneEuroFilter
from .vis import draw_skeleton, render_3d_view

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "PredictOptions", "collect_inputs", "person_record", "run_predict",
           "match_tracks", "Tracker", "coco_results", "COCO_RESULTS"]

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
SCHEMA = "cdlpose-prediction/2"
MANIFEST = ".cdlpose-predict.jsonl"  # in the output folder: one {"file", "input"} line per file written
COCO_RESULTS = "predictions.coco.json"  # in the output folder: every person of every input, COCO results form
_RUN = "<cdlpose predict runs>"  # the manifest's input for the combined results file


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
    overwrite: bool = False  # replace files in ``out`` that cdlpose did not write for the same input
    errors: list = field(default_factory=list)
    write_errors: list = field(default_factory=list)  # (path, message) of outputs that could not be written
    no_box: list = field(default_factory=list)  # images the detections gave no box
    cameras: list = field(default_factory=list)  # OpenCV capture indices (``--camera``), written like videos
    max_frames: int | None = None  # a camera's frames to read (default: until the stream ends or Ctrl-C)
    show: bool = False  # show a camera's frames in a window while predicting
    capture: object = None  # opens a camera: index → cv2.VideoCapture-like object (tests pass a fake one)
    kpt_thr: float = 0.3  # joints with a confidence under it are drawn faint (0: all drawn alike)
    thickness: int | None = None  # 2D lines, px (default: by the image size)
    radius: int | None = None  # 2D joint dots, px (default: thickness + 1; 0: none)
    max_missed: int = 5  # frames a track survives without a matching detection (its id and filter are kept)
    coco: list = field(default_factory=list)  # this run's COCO result entries (see coco_results)
    root_depths: list | None = None  # with ``boxes``: each box's root depth in mm (None: estimated)
    whole_image: list = field(default_factory=list)  # images taken as one person covering the whole frame


_GLOB = set("*?[")


def collect_inputs(paths, cameras=()) -> list[tuple[Path, str]]:
    """``(path, 'image'|'video'|'camera')`` for every input: files as given, folders' images and videos
    (recursively, in sorted order), the files a glob pattern matches (``*``, ``?``, ``[…]``; ``**`` recursive),
    and ``camera<N>`` for each camera index. A URL, a path that does not exist or a pattern that matches nothing
    raises :class:`InputError`."""
    items = []
    for raw in map(str, paths):
        if "://" in raw:
            raise InputError(f"{raw}: URLs are not supported as inputs; download the file and give its path")
        p = Path(raw)
        if not p.exists() and _GLOB & set(raw):
            found = sorted(Path(f) for f in glob.glob(raw, recursive=True))
            files = [f for f in found if f.is_file() and f.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS]
            if not files:
                raise InputError(f"no images or videos match the pattern {raw}")
            items += [(f, "video" if f.suffix.lower() in VIDEO_EXTS else "image") for f in files]
        elif p.is_dir():
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
    for c in cameras:
        items.append((Path(f"camera{int(c)}"), "camera"))
    if not items:
        raise InputError(f"no images or videos in {', '.join(map(str, paths))} (image types: "
                         f"{' '.join(sorted(IMAGE_EXTS))}; video types: {' '.join(sorted(VIDEO_EXTS))})")
    return items


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


def _coco_entry(rec: dict, path: Path, frame: int | None = None) -> dict:
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


def _header(pred: Predictor, path: Path, kind: str, size, checkpoint) -> dict:
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


class Tracker:
    """Track ids over a video's frames: each frame's boxes are matched (greedy IoU, :func:`match_tracks`) to every
    live track's last box. A track without a match survives ``max_missed`` frames (a person missed by the
    detector for a frame or two keeps their id, and their smoothing filter); a box matching no track starts one."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 5):
        self.min_iou, self.max_missed = min_iou, max_missed
        self.tracks: dict[int, list] = {}  # id → [last box, frames missed since]
        self.next_id = 0

    def update(self, boxes: list) -> list[int]:
        """The track id of each box of the next frame."""
        ids = list(self.tracks)
        match = match_tracks([self.tracks[t][0] for t in ids], boxes, self.min_iou)
        out = []
        for box, m in zip(boxes, match):
            if m is None:
                t, self.next_id = self.next_id, self.next_id + 1
            else:
                t = ids[m]
            self.tracks[t] = [box, -1]
            out.append(t)
        for t in list(self.tracks):
            self.tracks[t][1] += 1
            if self.tracks[t][1] > self.max_missed:
                del self.tracks[t]
        return out


class _Names:
    def __init__(self):
        self.used = {Path(COCO_RESULTS).stem}  # NAME.json must not be the combined results file

    def __call__(self, path: Path) -> str:
        base = name = path.stem
        k = 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name


def _outputs(opts: PredictOptions, name: str, kind: str) -> list[str]:
    """The files written for an input called ``name``."""
    files = [f"{name}.json"]
    if opts.images:
        files += [f"{name}_2d.jpg", f"{name}_3d.png"] if kind == "image" else [f"{name}.mp4"]  # video, camera
    if opts.viewer:
        files.append(f"{name}.html")
    return files


class _Manifest:
    """What cdlpose wrote into the output folder, for which input (``.cdlpose-predict.jsonl``)."""

    def __init__(self, out: Path):
        self.path = out / MANIFEST
        self.owner: dict[str, str] = {}
        if self.path.is_file():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                    self.owner[str(rec["file"])] = str(rec["input"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a killed run

    def conflicts(self, out: Path, planned: list[tuple[Path, str, str]], opts: PredictOptions) -> list[Path]:
        """Existing outputs that cdlpose did not write for the same input (the combined results file: that no
        cdlpose run wrote)."""
        bad = []
        target = out / COCO_RESULTS
        if (target.exists() or target.is_symlink()) and not (target.is_file() and self.owner.get(COCO_RESULTS) == _RUN):
            bad.append(target)
        for path, kind, name in planned:
            for f in _outputs(opts, name, kind):
                target = out / f
                if (target.exists() or target.is_symlink()) and not (
                        target.is_file() and self.owner.get(f) == _key(path)):
                    bad.append(target)
        return bad

    def record(self, file: Path, source: Path) -> None:
        """Note ``file`` as written for ``source`` (before it is written: a run killed in between leaves a file
        the next run may replace, never one it refuses)."""
        key = source if isinstance(source, str) else _key(source)
        line = json.dumps({"file": file.name, "input": key}) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as e:
            raise _write_failed(self.path, e) from None
        self.owner[file.name] = key

    def written(self, out: Path) -> set[str]:
        return {os.path.normcase(os.path.abspath(out / f)) for f in self.owner}

    def inputs(self) -> set[str]:
        return set(self.owner.values())


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _write_failed(path: Path, e: OSError) -> OutputError:
    from .checkpoint import describe_os_error

    if isinstance(e, OutputError):
        return e
    return OutputError(e.errno, f"cannot write {path}: {describe_os_error(e)}")


def _disk_full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _boxes_for(opts: PredictOptions, paths: list, images: list, frames=None) -> tuple[list, list]:
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


def _predict_batch(pred: Predictor, opts: PredictOptions, paths: list, images: list, names: list, frames=None):
    """People per image; ``paths`` (per image) and ``frames`` (video frame indices) find detections."""
    boxes, scores = _boxes_for(opts, paths, images, frames)
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


def _figure_3d(pred: Predictor, people: list, size: int = 320) -> np.ndarray:
    if len(people) > 1:
        poses, labels = [p["keypoints_3d_camera_estimate"] for p in people], [str(k) for k in range(len(people))]
        persons = list(range(len(people)))
    else:
        poses, labels, persons = [p["keypoints_3d"] for p in people], None, None
    views = [render_3d_view(poses, pred.skeleton, size, azim=a, labels=labels, persons=persons) for a in (-25.0, 65.0)]
    return np.concatenate(views, 1)


def _overlay(pred: Predictor, img: np.ndarray, people: list, opts: PredictOptions | None = None,
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
        from .vis import PERSON_COLOURS

        col = (255, 255, 0) if who is None else PERSON_COLOURS[who % len(PERSON_COLOURS)]
        cv2.rectangle(out, (x, y), (x + w, y + h), col, 1)
        if who is not None:
            cv2.putText(out, str(who), (x + 2, y + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.5, col, 1, cv2.LINE_AA)
    return out


def _json_text(data: dict, source) -> str:
    """JSON without NaN or infinity (``json`` would write them, and no JSON reader accepts them)."""
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:
        raise InputError(f"{source}: the prediction holds NaN or infinite values (a broken checkpoint?); "
                         "nothing written for it") from None


def _write_image(path: Path, img_rgb: np.ndarray, params=()) -> None:
    """Encode in memory, then write atomically: a failed write raises :class:`OutputError` with the cause
    (``cv2.imwrite`` would only return False)."""
    ok, buf = cv2.imencode(path.suffix, np.ascontiguousarray(img_rgb[..., ::-1]), list(params))
    if not ok:
        raise OutputError(f"cannot write {path}: OpenCV cannot encode {path.suffix} images")
    write_bytes_atomic(path, buf.tobytes())


def _image_damage(path: Path) -> str | None:
    """Why a JPEG or PNG file is incomplete (truncated: OpenCV decodes what is there with at most a warning),
    or ``None``. A JPEG must end with its end-of-image marker FFD9 and a PNG with its IEND chunk; a file that does
    not (some cameras append data after the image) is decoded in full by Pillow to decide."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 64, 0))
            tail = fh.read()
    except OSError as e:
        return f"cannot read {path} ({e.strerror or e})"
    if head.startswith(b"\xff\xd8"):
        if tail.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
            return None
    elif head.startswith(b"\x89PNG"):
        if b"IEND" in tail:
            return None
    else:
        return None
    from PIL import Image

    try:
        im = Image.open(path)
    except Exception:  # not an image Pillow knows: OpenCV decoded it, let that stand
        return None
    try:
        with im:
            im.load()
    except Exception as e:  # Pillow raises OSError("image file is truncated …") and others by format
        return f"truncated or damaged image file {path} ({e})"
    return None


def _images(pred, opts, items, names, bar, checkpoint, manifest):
    """Images in batches of ``opts.batch_size``; unreadable ones are recorded in ``opts.errors``, outputs that could
    not be written in ``opts.write_errors`` (a full disk stops the run: :class:`OutputError`)."""
    from .data.readers import load_image

    done = []
    for start in range(0, len(items), opts.batch_size):
        chunk = items[start : start + opts.batch_size]
        imgs, paths = [], []
        for path in chunk:
            try:
                img = load_image(path)
                damage = _image_damage(path)  # OpenCV decodes what there is of a truncated file, with a warning
                if damage:
                    raise InputError(damage)
                imgs.append(img)
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
            name = names[path]
            data = _header(pred, path, "image", img.shape[1::-1], checkpoint)
            data["people"] = [person_record(p) for p in ps]
            coco = [_coco_entry(r, path) for r in data["people"]]
            try:
                text = _json_text(data, path)
            except InputError as e:
                opts.errors.append((str(path), str(e)))
                continue
            target = None
            try:
                target = opts.out / f"{name}.json"
                manifest.record(target, path)
                write_text_atomic(target, text)
                overlay = _overlay(pred, img, ps, opts) if opts.images or opts.viewer else None
                if opts.images:
                    target = opts.out / f"{name}_2d.jpg"
                    manifest.record(target, path)
                    _write_image(target, overlay, [cv2.IMWRITE_JPEG_QUALITY, 90])
                    target = opts.out / f"{name}_3d.png"
                    manifest.record(target, path)
                    _write_image(target, _figure_3d(pred, ps))
                if opts.viewer:
                    from .viewer import write_viewer

                    target = opts.out / f"{name}.html"
                    manifest.record(target, path)
                    write_viewer(target, data, image=overlay)
            except OSError as e:
                err = _write_failed(target, e)
                opts.write_errors.append((str(target), str(err)))
                if _disk_full(err):
                    raise err from None
                continue
            opts.coco += coco
            done.append(name)
    return done


class _H264Writer:
    """An MP4 with H.264 video in yuv420p (what browsers, notebooks and chat previews play) through PyAV, FFmpeg's
    maintained Python binding. Odd frame sizes are padded by a pixel (yuv420p needs even ones)."""

    def __init__(self, path: Path, fps: float, width: int, height: int):
        import av

        self.path, self.frames = path, 0
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        codec = "libx264" if "libx264" in av.codecs_available else "h264"
        self.stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        self.stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self.stream.options = {"crf": "20", "preset": "veryfast"}
        self._av = av

    def write(self, rgb: np.ndarray) -> None:
        H, W = self.stream.height, self.stream.width
        if rgb.shape[:2] != (H, W):
            rgb = np.pad(rgb, ((0, H - rgb.shape[0]), (0, W - rgb.shape[1]), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self.container is None:
            return
        try:
            for packet in self.stream.encode():  # flush the encoder's delayed frames
                self.container.mux(packet)
        finally:
            c, self.container = self.container, None
            c.close()


def _ffmpeg_error(target: Path, e: Exception) -> OSError:
    """PyAV's errors as :class:`OutputError` (a full disk keeps its errno)."""
    if isinstance(e, OutputError):
        return e
    code = getattr(e, "errno", None)
    if code is not None and code < 0:
        code = -code
    return OutputError(code, f"cannot write {target}: FFmpeg: {e}")


def _open_source(opts: PredictOptions, path: Path, kind: str):
    """A cv2.VideoCapture-like object for a video file or a camera (``camera<N>``)."""
    if kind == "camera":
        index = int(path.name[len("camera"):])
        cap = (opts.capture or cv2.VideoCapture)(index)
        if not cap.isOpened():
            raise InputError(f"--camera {index}: cannot open camera {index} (no such device, or it is in use)")
        return cap
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot open video {path} (not a video, or a codec OpenCV lacks)")
    return cap


def _video(pred, opts, path, names, bar, checkpoint, manifest, kind="video"):
    """One video or camera; an unreadable or truncated video raises :class:`InputError` (nothing is written for
    it), a failed write :class:`OutputError`. A camera is read until it ends, ``opts.max_frames`` or Ctrl-C."""
    cap = _open_source(opts, path, kind)
    live = kind == "camera"
    listed = 0 if live else int(cap.get(cv2.CAP_PROP_FRAME_COUNT))  # what the container says it holds
    fps = cap.get(cv2.CAP_PROP_FPS) or (30.0 if live else 25.0)
    fps = fps if 1.0 <= fps <= 1000.0 else 25.0
    W, H = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    name = names[path]
    mp4 = opts.out / f"{name}.mp4"
    tmp_mp4 = opts.out / f".{name}.tmp.mp4"
    data = _header(pred, path, kind, (W, H), checkpoint)
    data["fps"] = fps
    data["smoothing"] = ({"filter": "one-euro", "min_cutoff_hz": opts.min_cutoff, "beta": opts.beta}
                         if opts.smooth else None)
    data["tracking"] = {"method": "greedy IoU over live tracks", "min_iou": 0.3, "max_missed_frames": opts.max_missed}
    frames_out, coco = [], []
    writer = None
    filters: dict[int, OneEuroFilter] = {}
    tracker = Tracker(max_missed=opts.max_missed)
    many = False  # several people seen: each gets a colour of their own
    extent = 1100.0  # half the 3D panel's width, mm; grows (never shrinks) when a pose does not fit
    index = 0
    stopped = False
    try:
        while not stopped:
            batch, ids = [], []
            size = 1 if live else opts.batch_size  # a camera: one frame at a time, shown as it comes
            try:
                while len(batch) < size:
                    if opts.max_frames is not None and index >= opts.max_frames:
                        stopped = True
                        break
                    ok, frame = cap.read()
                    if not ok:
                        stopped = live
                        break
                    batch.append(np.ascontiguousarray(frame[..., ::-1]))
                    ids.append(index)
                    index += 1
            except KeyboardInterrupt:  # Ctrl-C ends a camera's recording; what was read is written
                if not live:
                    raise
                stopped = True
            if not batch:
                break
            if live and W <= 0:
                H, W = batch[0].shape[:2]
                data["image_size"] = [W, H]
            people = _predict_batch(pred, opts, [path] * len(batch), batch, [f"{path} frame {i}" for i in ids],
                                    frames=ids)
            for fid, img, ps in zip(ids, batch, people):
                tracks = tracker.update([p["box"] for p in ps])
                for t in list(filters):
                    if t not in tracker.tracks:
                        del filters[t]
                many = many or len(ps) > 1 or any(t > 0 for t in tracks)
                recs, shown = [], []  # shown: the 3D poses drawn (smoothed when asked for)
                for p, t in zip(ps, tracks):
                    sm = None
                    if opts.smooth:
                        sm = filters.setdefault(t, OneEuroFilter(fps, opts.min_cutoff, opts.beta))(p["keypoints_3d"])
                    pose = p["keypoints_3d"] if sm is None else sm
                    if many:  # placed at the estimated root, so that people stand apart
                        pose = pose + (p["keypoints_3d_camera_estimate"] - p["keypoints_3d"])
                    shown.append(pose)
                    recs.append({**person_record(p, sm), "track": t})
                coco += [_coco_entry(r, path, fid) for r in recs]
                frames_out.append({"frame": fid, "time_s": round(fid / fps, 4), "people": recs})
                if opts.images or opts.show:
                    persons = tracks if many else None
                    left = _overlay(pred, img, ps, opts, persons)
                    h = img.shape[0]
                    if shown:
                        allp = np.concatenate(shown)
                        c = (allp.max(0) + allp.min(0)) / 2
                        extent = max(extent, float(np.linalg.norm(allp - c, axis=1).max()) * 1.08)
                    right = render_3d_view(shown, pred.skeleton, min(h, 480), extent=extent, persons=persons)
                    if right.shape[0] != h:
                        right = cv2.resize(right, (h, h), interpolation=cv2.INTER_LINEAR)
                    both = np.concatenate([left, right], 1)
                    if opts.show:
                        _show(both, path)
                    if opts.images:
                        if writer is None:
                            try:
                                writer = _H264Writer(tmp_mp4, fps, both.shape[1], both.shape[0])
                            except Exception as e:
                                raise _ffmpeg_error(mp4, e) from None
                        try:
                            writer.write(both)
                        except Exception as e:
                            raise _ffmpeg_error(mp4, e) from None
                bar.update(1)
        if writer is not None:
            try:
                writer.close()
            except Exception as e:
                raise _ffmpeg_error(mp4, e) from None
            _check_video_written(tmp_mp4, mp4, len(frames_out))
    except BaseException:
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass
        tmp_mp4.unlink(missing_ok=True)
        raise
    finally:
        cap.release()
    if not frames_out:
        raise InputError(f"cannot read any frame of {'camera' if live else 'video'} {path}")
    if listed > 0 and index < listed:
        tmp_mp4.unlink(missing_ok=True)
        raise InputError(f"video {path} is truncated or damaged: {index} of the {listed} frames its container lists "
                         "could be decoded")
    data["frames"] = frames_out
    if writer is not None:
        data["video"] = {"file": mp4.name, "overlay_width": int(W), "width": int(W + H), "height": int(H)}
    try:
        text = _json_text(data, path)
    except InputError:
        tmp_mp4.unlink(missing_ok=True)
        raise
    target = mp4
    try:
        if writer is not None:
            manifest.record(mp4, path)
            os.replace(tmp_mp4, mp4)
        target = opts.out / f"{name}.json"
        manifest.record(target, path)
        write_text_atomic(target, text)
        if opts.viewer:
            from .viewer import write_viewer

            target = opts.out / f"{name}.html"
            manifest.record(target, path)
            write_viewer(target, data)
    except OSError as e:
        tmp_mp4.unlink(missing_ok=True)
        raise _write_failed(target, e) from None
    opts.coco += coco
    return name


def _show(frame_rgb: np.ndarray, path: Path) -> None:
    """The live window (``--show``); needs an OpenCV build with GUI support."""
    try:
        cv2.imshow(f"cdlpose {path}", np.ascontiguousarray(frame_rgb[..., ::-1]))
        cv2.waitKey(1)
    except cv2.error:
        raise InputError("--show needs OpenCV with a GUI (pip install opencv-python instead of "
                         "opencv-python-headless); the output is written without it") from None


def _check_video_written(tmp: Path, final: Path, frames: int) -> None:
    """Read the written file back with FFmpeg and count its frames: a short file (a failed write) is reported."""
    import av

    try:
        with av.open(str(tmp)) as c:
            n = sum(1 for _ in c.decode(video=0))
    except Exception:  # unreadable: as good as no frame written
        n = 0
    if n != frames:
        import shutil

        try:
            full = shutil.disk_usage(tmp.parent).free < (1 << 20)
        except OSError:
            full = False
        if full:
            raise OutputError(errno.ENOSPC, f"cannot write {final}: no space left on device")
        raise OutputError(f"cannot write {final}: FFmpeg wrote {n} of {frames} frames")


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


def _write_coco(pred: Predictor, opts: PredictOptions, manifest: _Manifest, inputs: list) -> None:
    """Write ``predictions.coco.json``: this run's people, and an earlier run's entries for inputs not in this run
    (a re-run of an input replaces its entries)."""
    target = opts.out / COCO_RESULTS
    keep = []
    if target.is_file() and manifest.owner.get(COCO_RESULTS) == _RUN:
        try:
            old = json.loads(target.read_text())
            done = {str(p) for p in inputs}
            keep = [e for e in old.get("annotations", []) if isinstance(e, dict) and e.get("file_name") not in done]
        except (OSError, ValueError, AttributeError):
            keep = []  # damaged: this run's entries only
    if not opts.coco and not keep and not target.exists():
        return
    text = _json_text(coco_results(pred, keep + opts.coco), target)
    manifest.record(target, _RUN)
    write_text_atomic(target, text)


def run_predict(pred: Predictor, inputs, opts: PredictOptions, checkpoint="") -> dict:
    """Predict every input (see :func:`collect_inputs`) into ``opts.out``. Returns ``{"outputs": [names],
    "errors": [(path, message)], "write_errors": [(path, message)], "notes": [text], "frames": n, "seconds": s}``:
    unreadable inputs are in ``errors`` and outputs that could not be written in ``write_errors``, not raised;
    ``notes`` report detections that matched no input and images the detections gave no box. Raises
    :class:`InputError` (nothing written) when outputs would replace files cdlpose did not write for the same input
    and ``opts.overwrite`` is not set."""
    from tqdm import tqdm

    items = collect_inputs(inputs, opts.cameras)
    if opts.out.exists() and not opts.out.is_dir():
        raise InputError(f"--out {opts.out} is a file, not a folder")
    manifest = _Manifest(opts.out)
    written = manifest.written(opts.out)
    items = [(p, k) for p, k in items if _key(p) not in written]  # an earlier run's outputs are not inputs
    if not items:
        raise InputError(f"no inputs left: every image in {', '.join(map(str, inputs))} is an output of an earlier "
                         f"run into {opts.out}")
    # names are fixed before anything is written: images first, then videos, as they are processed
    unique = _Names()
    names = {p: unique(p) for p, k in sorted(items, key=lambda pk: pk[1] != "image")}
    planned = [(p, k, names[p]) for p, k in items]
    if not opts.overwrite:
        clash = manifest.conflicts(opts.out, planned, opts)
        if clash:
            shown = ", ".join(str(c) for c in clash[:10]) + (f" and {len(clash) - 10} more" if len(clash) > 10 else "")
            raise InputError(f"--out {opts.out}: {len(clash)} file{'s' if len(clash) > 1 else ''} there would be "
                             f"replaced that cdlpose did not write for the same input: {shown}; choose another "
                             "--out, or give --overwrite to replace them")
    try:
        opts.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _write_failed(opts.out, e) from None
    total = sum(1 if k == "image" else (opts.max_frames or 0) if k == "camera" else _frame_count(p) for p, k in items)
    t0 = time.perf_counter()
    outputs = []
    with tqdm(total=total or None, unit="img", disable=not opts.progress, dynamic_ncols=True) as tq:
        bar = _Counter(tq)
        try:
            images = [p for p, k in items if k == "image"]
            if images:
                outputs += _images(pred, opts, images, names, bar, checkpoint, manifest)
            for p, k in ((p, k) for p, k in items if k in ("video", "camera")):
                try:
                    outputs.append(_video(pred, opts, p, names, bar, checkpoint, manifest, k))
                except InputError as e:
                    opts.errors.append((str(p), str(e)))
                except OSError as e:
                    err = _write_failed(opts.out / f"{names[p]}.mp4", e)
                    opts.write_errors.append((str(p), str(err)))
                    if _disk_full(err):
                        break
        except OutputError as e:  # a full disk: the remaining inputs would fail the same way
            if not any(str(e) == m for _, m in opts.write_errors):
                opts.write_errors.append((str(opts.out), str(e)))
        frames = bar.n
    notes = []
    try:
        _write_coco(pred, opts, manifest, [p for p, _ in items])
    except OSError as e:
        err = _write_failed(opts.out / COCO_RESULTS, e)
        opts.write_errors.append((str(opts.out / COCO_RESULTS), str(err)))
    if opts.whole_image:
        n = len(set(opts.whole_image))
        notes.append(f"no person boxes were given (--box, --detections or --detector): {n} input(s) were each taken "
                     "as one person covering the whole frame; for photos and videos of people give boxes")
    if opts.detections is not None:
        src = getattr(opts.detections, "source", "the detections")
        no_box = list(dict.fromkeys(opts.no_box))  # an image retried alone after a bad box is listed once
        if no_box:
            shown = ", ".join(no_box[:10]) + (" …" if len(no_box) > 10 else "")
            notes.append(f"{len(no_box)} image(s) got no person box from {src}: {shown}")
        unmatched = opts.detections.unmatched() if hasattr(opts.detections, "unmatched") else []
        if unmatched:
            shown = ", ".join(unmatched[:10]) + (" …" if len(unmatched) > 10 else "")
            notes.append(f"{len(unmatched)} image(s) of {src} match no input: {shown} (COCO ids match file names "
                         "like 000000000785.jpg; --image-list maps other names)")
    return {"outputs": outputs, "errors": list(opts.errors), "write_errors": list(opts.write_errors),
            "notes": notes, "frames": frames, "seconds": time.perf_counter() - t0}
