"""``cdlpose predict``: 3D poses for images, folders and videos, written as JSON, pictures, MP4 and HTML viewers.

Per input ``NAME`` (a file's stem, made unique) the output folder gets:

- ``NAME.json`` (schema ``cdlpose-prediction/1``, see :func:`person_record`): per person the box, 2D joints in
  image pixels, per-joint confidences, the 2.5D estimate, the root-relative 3D pose in mm (camera axes) and the
  estimated camera-space placement; for videos one entry per frame;
- images: ``NAME_2d.jpg`` (the image with the 2D skeletons) and ``NAME_3d.png`` (the 3D skeletons, two views);
- videos: ``NAME.mp4`` with the 2D overlay and the 3D view side by side (optionally One-Euro smoothed);
- ``NAME.html``: a self-contained viewer (rotate, zoom, scrub frames).

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
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .checkpoint import OutputError, write_bytes_atomic, write_text_atomic
from .inference import InputError, Predictor
from .smoothing import OneEuroFilter
from .vis import draw_skeleton, render_3d_view

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "PredictOptions", "collect_inputs", "person_record", "run_predict",
           "match_tracks"]

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
SCHEMA = "cdlpose-prediction/1"
MANIFEST = ".cdlpose-predict.jsonl"  # in the output folder: one {"file", "input"} line per file written


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


def _outputs(opts: PredictOptions, name: str, kind: str) -> list[str]:
    """The files written for an input called ``name``."""
    files = [f"{name}.json"]
    if opts.images:
        files += [f"{name}_2d.jpg", f"{name}_3d.png"] if kind == "image" else [f"{name}.mp4"]
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
        """Existing outputs that cdlpose did not write for the same input."""
        bad = []
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
        line = json.dumps({"file": file.name, "input": _key(source)}) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as e:
            raise _write_failed(self.path, e) from None
        self.owner[file.name] = _key(source)

    def written(self, out: Path) -> set[str]:
        return {os.path.normcase(os.path.abspath(out / f)) for f in self.owner}


def _key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def _write_failed(path: Path, e: OSError) -> OutputError:
    from .checkpoint import describe_os_error

    if isinstance(e, OutputError):
        return e
    return OutputError(e.errno, f"cannot write {path}: {describe_os_error(e)}")


def _disk_full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _boxes_for(opts: PredictOptions, paths: list, images: list, frames=None) -> list:
    """Per image (or frame), its box list; ``None`` means the whole image."""
    if opts.boxes:
        return [list(opts.boxes) for _ in images]
    if opts.detections is not None:
        no_frames = frames is None
        frames = [None] * len(paths) if frames is None else frames
        boxes = [opts.detections.boxes_for(p, f) for p, f in zip(paths, frames)]
        if no_frames:
            opts.no_box += [str(p) for p, b in zip(paths, boxes) if not b]
        return boxes
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
                overlay = _overlay(pred, img, ps) if opts.images or opts.viewer else None
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
            done.append(name)
    return done


def _video(pred, opts, path, names, bar, checkpoint, manifest):
    """One video; an unreadable or truncated one raises :class:`InputError` (nothing is written for it), a failed
    write :class:`OutputError`."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot open video {path} (not a video, or a codec OpenCV lacks)")
    listed = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))  # what the container says it holds
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    fps = fps if 1.0 <= fps <= 1000.0 else 25.0
    W, H = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    name = names[path]
    mp4 = opts.out / f"{name}.mp4"
    tmp_mp4 = opts.out / f".{name}.tmp.mp4"  # OpenCV picks the container by the extension
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
                        writer = cv2.VideoWriter(str(tmp_mp4), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                                 (both.shape[1], both.shape[0]))
                        if not writer.isOpened():
                            raise OutputError(f"cannot write {mp4}: OpenCV cannot write MP4 (mp4v) there")
                    writer.write(np.ascontiguousarray(both[..., ::-1]))
                bar.update(1)
        if writer is not None:
            writer.release()
            _check_video_written(tmp_mp4, mp4, len(frames_out))
    except BaseException:
        tmp_mp4.unlink(missing_ok=True)
        raise
    finally:
        cap.release()
        if writer is not None:
            writer.release()
    if not frames_out:
        raise InputError(f"cannot read any frame of video {path}")
    if listed > 0 and index < listed:
        tmp_mp4.unlink(missing_ok=True)
        raise InputError(f"video {path} is truncated or damaged: {index} of the {listed} frames its container lists "
                         "could be decoded")
    data["frames"] = frames_out
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
    return name


def _check_video_written(tmp: Path, final: Path, frames: int) -> None:
    """OpenCV's VideoWriter reports no failed write: read the file back and count its frames."""
    cap = cv2.VideoCapture(str(tmp))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    if n != frames:
        import shutil

        try:
            full = shutil.disk_usage(tmp.parent).free < (1 << 20)
        except OSError:
            full = False
        if full:
            raise OutputError(errno.ENOSPC, f"cannot write {final}: no space left on device")
        raise OutputError(f"cannot write {final}: OpenCV wrote {n} of {frames} frames")


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
    "errors": [(path, message)], "write_errors": [(path, message)], "notes": [text], "frames": n, "seconds": s}``:
    unreadable inputs are in ``errors`` and outputs that could not be written in ``write_errors``, not raised;
    ``notes`` report detections that matched no input and images the detections gave no box. Raises
    :class:`InputError` (nothing written) when outputs would replace files cdlpose did not write for the same input
    and ``opts.overwrite`` is not set."""
    from tqdm import tqdm

    items = collect_inputs(inputs)
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
    total = sum(1 if k == "image" else _frame_count(p) for p, k in items)
    t0 = time.perf_counter()
    outputs = []
    with tqdm(total=total or None, unit="img", disable=not opts.progress, dynamic_ncols=True) as tq:
        bar = _Counter(tq)
        try:
            images = [p for p, k in items if k == "image"]
            if images:
                outputs += _images(pred, opts, images, names, bar, checkpoint, manifest)
            for p in (p for p, k in items if k == "video"):
                try:
                    outputs.append(_video(pred, opts, p, names, bar, checkpoint, manifest))
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
