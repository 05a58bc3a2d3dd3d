"""Annotation readers for the public releases' layouts. Each only reads annotations into the common sample
record (:mod:`cdlpose.data.sample`); images are read lazily with :func:`load_image`.

Implemented here: Human3.6M in MMPose's layout (``*.npz`` + ``cameras.pkl``), MPII (MMPose's JSON list) and
COCO person keypoints. Missing joints are invalid, never zero; every error names the file, record and field.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import cv2
import numpy as np

from ..geometry import Camera
from ..skeletons import COCO17, H36M17, MPII16
from .read_common import (_finish, _floats, _frame_record, _image_of, _images_by_id, _problem, _read_json,
                          collecting_problems)
from .read_multiperson import read_muco, read_mupots, read_mupots_annot
from .sample import DataError, validate_sample

__all__ = ["load_image", "load_cameras_pkl", "read_h36m_mmpose", "read_h36m_moon", "read_mpii", "read_coco",
           "read_muco", "read_mupots", "read_mupots_annot", "check_records", "collecting_problems", "H36M_PROTOCOLS",
           "H36M_CAMERA_IDS"]

#: Subject splits, with the paper's protocol names (Moon et al.'s code numbers them the other way round).
H36M_PROTOCOLS = {
    1: {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")},
    2: {"train": ("S1", "S5", "S6", "S7", "S8", "S9"), "test": ("S11",)},
}


#: The most pixels an input image may have (Pillow's decompression-bomb limit, about 179 megapixels: a
#: 13,000 × 13,000 photo): a small file claiming more (a "decompression bomb") is refused before it is decoded.
MAX_IMAGE_PIXELS = 2 * 89_478_485


def _image_pixels(path: Path) -> int | None:
    """Width × height from the file's header (nothing decoded), or ``None`` when Pillow cannot tell."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except Image.DecompressionBombError as e:  # Pillow's own check fired on the header: far over the limit
        sizes = [int(v) for v in re.findall(r"\d+", str(e))]
        return sizes[0] if sizes and sizes[0] > MAX_IMAGE_PIXELS else MAX_IMAGE_PIXELS + 1
    except Exception:  # Pillow does not know the format: OpenCV decides below
        return None
    return int(w) * int(h)


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; a clear error (``ValueError`` naming the file) for a missing,
    unreadable or oversized file (more than :data:`MAX_IMAGE_PIXELS`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    n = _image_pixels(path)
    if n is not None and n > MAX_IMAGE_PIXELS:
        raise ValueError(f"image file {path} claims {n / 1e6:.0f} megapixels, more than cdlpose decodes "
                         f"({MAX_IMAGE_PIXELS / 1e6:.0f}): a decompression bomb or a scan far beyond a photo")
    try:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    except cv2.error as e:
        raise ValueError(f"cannot decode image file {path} ({str(e).strip().splitlines()[-1]})") from None
    if img is None:
        raise ValueError(f"cannot decode image file {path} (corrupt or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only: ``cameras.pkl`` comes from outside."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return getattr(__import__(module, fromlist=[name]), name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are allowed")


def load_numpy_pickle(path: str | Path):
    """A pickle of plain containers and numpy arrays (MMPose's camera files), refusing anything else."""
    with open(path, "rb") as fh:
        try:
            return _NumpyOnlyUnpickler(fh, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError) as e:
            raise DataError(str(path), "-", "-", f"not a pickle of numpy arrays: {e}") from None


def _read_npz(path: Path, fields) -> dict:
    """The arrays ``fields`` of an ``.npz`` file (no pickles), or a :class:`DataError` naming the file and the
    array for a missing array or a truncated or damaged file."""
    import zipfile
    import zlib

    out = {}
    field = "-"
    try:
        with np.load(path, allow_pickle=False) as z:
            for field in fields:
                if field not in z.files:
                    raise DataError(str(path), "-", field, "missing array")
                out[field] = z[field]
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as e:
        raise DataError(str(path), "-", field, f"cannot read the .npz file (truncated or damaged: {e})") from None
    return out


def load_cameras_pkl(path: str | Path) -> dict:
    """MMPose's ``cameras.pkl``: ``{(subject, camera_id): Camera}`` (stored R, T with X_cam = R^T (X - T)).
    The distortion coefficients are kept as ``camera.k`` (3,) and ``camera.p`` (2,) attributes when present."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"camera file not found: {path}")
    with open(path, "rb") as fh:
        try:
            raw = _NumpyOnlyUnpickler(fh).load()
        except (pickle.UnpicklingError, EOFError) as e:
            raise DataError(str(path), "-", "-", f"not a camera pickle: {e}") from None
    if not isinstance(raw, dict):
        raise DataError(str(path), "-", "-", f"expected a mapping {{(subject, camera id): {{R, T, f, c, …}}}}, "
                        f"got a {type(raw).__name__}")
    cams = {}
    for key, p in raw.items():
        if not isinstance(p, dict) or not isinstance(key, tuple):
            raise DataError(str(path), str(key), "-", "expected (subject, camera id) → {R, T, f, c, …}, got "
                            f"{type(key).__name__} → {type(p).__name__}")
        for field in ("R", "T", "f", "c"):
            if field not in p:
                raise DataError(str(path), str(key), field, "missing")
        cam = Camera.from_center(p["R"], p["T"], p["f"], p["c"])
        cam.k = np.asarray(p.get("k", np.zeros(3)), np.float64).reshape(3)
        cam.p = np.asarray(p.get("p", np.zeros(2)), np.float64).reshape(2)
        cams[tuple(str(k) for k in key)] = cam
    return cams


_H36M_NAME = re.compile(r"(S\d+)_(.+)\.(\d+)_(\d+)\.jpg")


def read_h36m_mmpose(npz: str | Path, cameras: str | Path, image_root: str | Path | None = None,
                     subjects=None, every: int = 1, validate: bool = True) -> list[dict]:
    """Human3.6M in MMPose's layout: ``npz`` with ``imgname``, ``center``, ``scale`` (box size / 200 px),
    ``part`` (N, 17, 3) and ``S`` (N, 17, 4) camera-frame metres + validity; intrinsics from ``cameras.pkl``.

    ``subjects``: keep only these (e.g. ``H36M_PROTOCOLS[1]["test"]``); ``every``: keep the frames whose 50 Hz
    video frame index (the file number − 1) is a multiple (5 for training, 64 for testing, as Moon et al.); a
    :class:`DataError` when the file's own frame step cannot give that (MMPose's files hold every 5th frame).
    Records carry ``image_path`` instead of ``image``.
    """
    npz = Path(npz)
    image_root = npz.parent if image_root is None else Path(image_root)
    if not npz.is_file():
        raise FileNotFoundError(f"annotation file not found: {npz}")
    z = _read_npz(npz, ("imgname", "center", "scale", "part", "S"))
    cams = load_cameras_pkl(cameras)
    if every > 1:
        # `every` counts the original 50 Hz video frames (frame index % every == 0, as Moon et al.); a file that
        # holds every s-th frame can give that only when s divides `every` (MMPose's npz holds every 5th: with
        # every 64 it would keep one frame in 320)
        frames = [int(m.group(4)) - 1 for m in (_H36M_NAME.fullmatch(Path(str(n)).name) for n in z["imgname"]) if m]
        step = int(np.gcd.reduce(np.asarray(frames, np.int64))) if frames else 0
        if step > 1 and every % step:
            raise DataError(str(npz), "-", "every",
                            f"every: {every} counts 50 Hz video frames (index % {every} == 0), but this file holds "
                            f"only every {step}th frame, so it would keep one frame in {np.lcm(every, step)}; read "
                            f"the test set from a layout with every frame (format h36m-moon) or give every as a "
                            f"multiple of {step}")
    out = []
    for i, name in enumerate(z["imgname"]):
        m = _H36M_NAME.fullmatch(Path(str(name)).name)
        if m is None:
            _problem(DataError(str(npz), str(name), "imgname", "expected S<subject>_<Action>.<camera>_<frame>.jpg"))
            continue
        # file names count frames from 1; frame indices (Moon's frame_idx, the pose files) from 0
        subject, action, cam_id, frame = m.group(1), m.group(2), m.group(3), int(m.group(4)) - 1
        if subjects is not None and subject not in subjects:
            continue
        if frame % every:
            continue
        if (subject, cam_id) not in cams:
            _problem(DataError(str(cameras), f"{subject}/{cam_id}", "-", "no such camera in the camera file"))
            continue
        cam = cams[(subject, cam_id)]
        part, S = z["part"][i], z["S"][i]
        if part.shape != (17, 3) or S.shape != (17, 4):
            raise DataError(str(npz), str(name), "part/S", f"expected (17, 3) and (17, 4), got {part.shape}, {S.shape}")
        size = float(z["scale"][i]) * 200.0
        cx, cy = z["center"][i]
        out.append(_frame_record(
            str(image_root / str(name)), H36M17, "h36m", str(name), part[:, :2].astype(np.float64),
            np.array([cx - size / 2, cy - size / 2, size, size]), joints_3d=S[:, :3].astype(np.float64) * 1000.0,
            valid_2d=part[:, 2] > 0, valid_3d=S[:, 3] > 0, f=cam.f.copy(), c=cam.c.copy(), frame_size=(1000, 1000),
            subject=subject, action=action.replace("_", " ").split(" ")[0], k=cam.k.copy(), p=cam.p.copy(),
            camera=cam_id, frame=frame,
            # the release's sequence name ("Directions 1"); how it maps to Moon's subaction_idx is not recorded
            sequence=action.replace("_", " "),
        ))
    return _finish(out, str(npz), validate)


def read_mpii(path: str | Path, image_root: str | Path | None = None, validate: bool = True) -> list[dict]:
    """MPII in MMPose's JSON layout: a list of ``{image, joints (16 × [u, v]), joints_vis (16), center, scale}``
    (scale = box height / 200 px; MPII's coordinates are 1-based, converted here to 0-based); or in Moon et al.'s
    COCO-style layout (``images`` + ``annotations`` with 16 × (u, v, visible) ``keypoints`` and ``bbox``, taken as
    0-based like COCO's)."""
    path = Path(path)
    root = path.parent if image_root is None else Path(image_root)
    records = _read_json(path, "annotation file")
    if isinstance(records, dict):
        return _read_coco_style(path, image_root, MPII16, "mpii", 1, validate)
    if not isinstance(records, list):
        raise DataError(str(path), "-", "-", "expected a list of records or a COCO-style object")
    out = []
    for k, r in enumerate(records):
        rid = f"{k} ({r.get('image', '?')})" if isinstance(r, dict) else str(k)
        try:
            if not isinstance(r, dict):
                raise DataError(str(path), rid, "-", f"expected an object, got {type(r).__name__}")
            for field in ("image", "joints", "joints_vis", "center", "scale"):
                if field not in r:
                    raise DataError(str(path), rid, field, "missing")
            uv = _floats(r["joints"], path, rid, "joints")
            if uv.shape != (16, 2):
                raise DataError(str(path), rid, "joints", f"expected 16 × [u, v], got shape {uv.shape}")
            vis = _floats(r["joints_vis"], path, rid, "joints_vis").astype(bool)
            if vis.shape != (16,):
                raise DataError(str(path), rid, "joints_vis", f"expected 16 flags, got shape {vis.shape}")
            if not np.isfinite(uv[vis]).all():
                raise DataError(str(path), rid, "joints", "NaN or infinite coordinates")
            size = float(_floats(r["scale"], path, rid, "scale")) * 200.0
            center = _floats(r["center"], path, rid, "center")
            if center.shape != (2,):
                raise DataError(str(path), rid, "center", f"expected [x, y], got shape {center.shape}")
            cx, cy = center
        except DataError as e:
            _problem(e)
            continue
        box = np.array([cx - size / 2, cy - size / 2, size, size])
        out.append(_frame_record(str(root / r["image"]), MPII16, "mpii", f"mpii/{k}", uv - 1.0, box, valid_2d=vis))
    return _finish(out, str(path), validate)


def read_coco(path: str | Path, image_root: str | Path | None = None, min_keypoints: int = 1,
              validate: bool = True) -> list[dict]:
    """COCO person keypoints: one record per non-crowd person with at least ``min_keypoints`` labelled joints.
    COCO's visibility 1 (labelled, occluded) and 2 (visible) are both valid; 0 is invalid."""
    return _read_coco_style(path, image_root, COCO17, "coco", min_keypoints, validate)


def _read_coco_style(path, image_root, skeleton, dataset: str, min_keypoints: int, validate: bool) -> list[dict]:
    path = Path(path)
    root = path.parent if image_root is None else Path(image_root)
    data = _read_json(path, "annotation file")
    J = skeleton.num_joints
    if not isinstance(data, dict):
        raise DataError(str(path), "-", "images", "expected a COCO-style object with 'images' and 'annotations'")
    for field in ("images", "annotations"):
        if field not in data:
            raise DataError(str(path), "-", field, "missing")
    images = _images_by_id(data["images"], path)
    out = []
    for k, a in enumerate(data["annotations"]):
        rid = str(a.get("id", f"annotations[{k}]")) if isinstance(a, dict) else f"annotations[{k}]"
        try:
            if not isinstance(a, dict):
                raise DataError(str(path), rid, "-", f"expected an object, got {type(a).__name__}")
            if a.get("iscrowd", 0) or a.get("num_keypoints", 1) < min_keypoints:
                continue
            if "id" not in a:
                raise DataError(str(path), rid, "id", "missing")
            for field in ("image_id", "keypoints", "bbox"):
                if field not in a:
                    raise DataError(str(path), rid, field, "missing")
            kp = _floats(a["keypoints"], path, rid, "keypoints")
            if kp.size != 3 * J:
                raise DataError(str(path), rid, "keypoints", f"expected {J} × (u, v, visibility), got {kp.size} "
                                "numbers")
            kp = kp.reshape(J, 3)
            im = _image_of(images, a, path, rid)
            box = _floats(a["bbox"], path, rid, "bbox")
        except DataError as e:
            _problem(e)
            continue
        out.append(_frame_record(str(root / im["file_name"]), skeleton, dataset, f"{dataset}/{rid}", kp[:, :2], box,
                                 valid_2d=kp[:, 2] > 0, frame_size=(im.get("width", 0), im.get("height", 0))))
    return _finish(out, str(path), validate)


#: Moon et al.'s camera index (1-4) → Human3.6M camera id.
H36M_CAMERA_IDS = {1: "54138969", 2: "55011271", 3: "58860488", 4: "60457274"}


def read_h36m_moon(root: str | Path, subjects=("S1",), every: int = 1, validate: bool = True) -> list[dict]:
    """Human3.6M in Moon et al.'s preprocessed layout (PoseNet, I2L-MeshNet, Pose2Mesh):
    ``root/annotations/Human36M_subject{N}_{data,camera,joint_3d}.json`` and images under ``root/images``.

    World joints (mm) go to camera space with ``X_cam = R X_world + t`` and to pixels without lens distortion,
    as in Moon's code. ``subjects``: names like ``"S9"``; ``every``: keep frames whose index is a multiple.
    """
    root = Path(root)
    out = []
    for subject in subjects:
        n = int(str(subject).lstrip("S"))
        ann = root / "annotations"
        data_path = ann / f"Human36M_subject{n}_data.json"
        data = _read_json(data_path, "annotation file")
        cams_path = ann / f"Human36M_subject{n}_camera.json"
        cams_raw = _read_json(cams_path, "camera file")
        joints_path = ann / f"Human36M_subject{n}_joint_3d.json"
        joints = _read_json(joints_path, "joint file")
        cams = {}
        for idx, p in cams_raw.items():
            for field in ("R", "t", "f", "c"):
                if field not in p:
                    raise DataError(str(cams_path), f"camera {idx}", field, "missing")
            cams[str(idx)] = Camera(p["R"], p["t"], p["f"], p["c"])
        boxes = {a["image_id"]: a for a in data.get("annotations", []) if isinstance(a, dict) and "image_id" in a}
        for k, im in enumerate(data.get("images", [])):
            rid = str(im.get("file_name", im.get("id", f"images[{k}]"))) if isinstance(im, dict) else f"images[{k}]"
            try:
                if not isinstance(im, dict):
                    raise DataError(str(data_path), rid, "-", f"expected an object, got {type(im).__name__}")
                for field in ("id", "file_name", "action_idx", "subaction_idx", "frame_idx", "cam_idx"):
                    if field not in im:
                        raise DataError(str(data_path), rid, field, "missing")
                if not isinstance(im["frame_idx"], int):
                    raise DataError(str(data_path), rid, "frame_idx", f"expected an integer, got {im['frame_idx']!r}")
                if im["frame_idx"] % every:
                    continue
                try:
                    X = joints[str(im["action_idx"])][str(im["subaction_idx"])][str(im["frame_idx"])]
                except (KeyError, TypeError):
                    raise DataError(str(joints_path), rid, "joints",
                                    f"no entry for action {im['action_idx']}, subaction {im['subaction_idx']}, "
                                    f"frame {im['frame_idx']}") from None
                X = _floats(X, joints_path, rid, "joints")
                if X.shape != (17, 3):
                    raise DataError(str(joints_path), rid, "joints", f"expected 17 × [x, y, z], got shape {X.shape}")
                cam = cams.get(str(im["cam_idx"]))
                if cam is None:
                    raise DataError(str(cams_path), rid, "cam_idx", f"no camera {im['cam_idx']}")
                if im["id"] not in boxes:
                    raise DataError(str(data_path), rid, "bbox", "no annotation for this image")
                _floats(boxes[im["id"]].get("bbox"), data_path, rid, "bbox")
            except DataError as e:
                _problem(e)
                continue
            Xc = cam.world_to_camera(X)
            out.append(_frame_record(
                str(root / "images" / im["file_name"]), H36M17, "h36m", str(im["file_name"]),
                cam.camera_to_pixel(Xc), np.asarray(boxes[im["id"]]["bbox"], np.float64), joints_3d=Xc,
                visible=np.asarray(boxes[im["id"]].get("keypoints_vis", [1] * 17), bool)[:17],
                f=cam.f.copy(), c=cam.c.copy(), frame_size=(im.get("width", 1000), im.get("height", 1000)),
                subject=f"S{n}", action=str(im.get("action_name", im["action_idx"])),
                camera=H36M_CAMERA_IDS.get(int(im["cam_idx"]), str(im["cam_idx"])),
                subaction=int(im["subaction_idx"]), frame=int(im["frame_idx"]),
            ))
    return _finish(out, str(root / "annotations"), validate)


def check_records(records: list[dict], source: str) -> dict:
    """Validate every record's annotations and look for every image file, without stopping at the first
    problem: returns ``{"records": n, "errors": [messages], "missing_images": [paths]}``."""
    import os

    errors, missing = [], []
    seen: dict[str, int] = {}
    for k, r in enumerate(records):
        try:
            validate_sample(r, source, require_image=False)
        except DataError as e:
            errors.append(str(e))
        sid = str(r.get("sample_id", "?"))
        if sid in seen:  # ids name samples in logs, errors and evaluation tables: they must be unique
            errors.append(str(DataError(source, sid, "sample_id", f"duplicate id: records {seen[sid]} and {k} have it")))
        else:
            seen[sid] = k
        p = r.get("image_path")
        if p is not None and not os.path.isfile(p):
            missing.append(p)
    return {"records": len(records), "errors": errors, "missing_images": missing}
