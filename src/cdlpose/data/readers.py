"""Annotation readers for the public releases' layouts. Each only reads annotations into the common sample
record (:mod:`cdlpose.data.sample`); images are read lazily with :func:`load_image`.

Implemented here: Human3.6M in MMPose's layout (``*.npz`` + ``cameras.pkl``), MPII (MMPose's JSON list) and
COCO person keypoints. Missing joints are invalid, never zero; every error names the file, record and field.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import cv2
import numpy as np

from ..geometry import Camera
from ..skeletons import COCO17, H36M17, MPII16
from .sample import DataError, validate_sample

__all__ = ["load_image", "load_cameras_pkl", "read_h36m_mmpose", "read_h36m_moon", "read_mpii", "read_coco",
           "read_muco", "read_mupots", "check_records", "H36M_PROTOCOLS", "H36M_CAMERA_IDS"]

#: Subject splits, with the paper's protocol names (Moon et al.'s code numbers them the other way round).
H36M_PROTOCOLS = {
    1: {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")},
    2: {"train": ("S1", "S5", "S6", "S7", "S8", "S9"), "test": ("S11",)},
}


def load_image(path: str | Path) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB; a clear error for a missing or unreadable file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
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
    cams = {}
    for key, p in raw.items():
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

    ``subjects``: keep only these (e.g. ``H36M_PROTOCOLS[1]["test"]``); ``every``: keep frames whose index is a
    multiple (5 for training, 64 for testing). Records carry ``image_path`` instead of ``image``.
    """
    npz = Path(npz)
    image_root = npz.parent if image_root is None else Path(image_root)
    if not npz.is_file():
        raise FileNotFoundError(f"annotation file not found: {npz}")
    z = np.load(npz)
    for field in ("imgname", "center", "scale", "part", "S"):
        if field not in z.files:
            raise DataError(str(npz), "-", field, "missing array")
    cams = load_cameras_pkl(cameras)
    out = []
    for i, name in enumerate(z["imgname"]):
        m = _H36M_NAME.fullmatch(Path(str(name)).name)
        if m is None:
            raise DataError(str(npz), str(name), "imgname", "expected S<subject>_<Action>.<camera>_<frame>.jpg")
        # file names count frames from 1; frame indices (Moon's frame_idx, the pose files) from 0
        subject, action, cam_id, frame = m.group(1), m.group(2), m.group(3), int(m.group(4)) - 1
        if subjects is not None and subject not in subjects:
            continue
        if frame % every:
            continue
        if (subject, cam_id) not in cams:
            raise DataError(str(cameras), f"{subject}/{cam_id}", "-", "no such camera in the camera file")
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
    out = []
    for k, r in enumerate(records):
        rid = f"{k} ({r.get('image', '?')})"
        for field in ("image", "joints", "joints_vis", "center", "scale"):
            if field not in r:
                raise DataError(str(path), rid, field, "missing")
        uv = np.asarray(r["joints"], np.float64)
        if uv.shape != (16, 2):
            raise DataError(str(path), rid, "joints", f"expected 16 × [u, v], got shape {uv.shape}")
        vis = np.asarray(r["joints_vis"], bool)
        if not np.isfinite(uv[vis]).all():
            raise DataError(str(path), rid, "joints", "NaN or infinite coordinates")
        size = float(r["scale"]) * 200.0
        cx, cy = (float(v) for v in r["center"])
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
    images = {im["id"]: im for im in data["images"]}
    out = []
    for a in data["annotations"]:
        rid = str(a.get("id", "?"))
        if a.get("iscrowd", 0) or a.get("num_keypoints", 1) < min_keypoints:
            continue
        for field in ("image_id", "keypoints", "bbox"):
            if field not in a:
                raise DataError(str(path), rid, field, "missing")
        kp = np.asarray(a["keypoints"], np.float64)
        if kp.size != 3 * J:
            raise DataError(str(path), rid, "keypoints", f"expected {J} × (u, v, visibility), got {kp.size} numbers")
        kp = kp.reshape(J, 3)
        im = images.get(a["image_id"])
        if im is None:
            raise DataError(str(path), rid, "image_id", f"no image with id {a['image_id']}")
        box = np.asarray(a["bbox"], np.float64)
        out.append(_frame_record(str(root / im["file_name"]), skeleton, dataset, f"{dataset}/{rid}", kp[:, :2], box,
                                 valid_2d=kp[:, 2] > 0, frame_size=(im.get("width", 0), im.get("height", 0))))
    return _finish(out, str(path), validate)


#: Moon et al.'s camera index (1-4) → Human3.6M camera id.
H36M_CAMERA_IDS = {1: "54138969", 2: "55011271", 3: "58860488", 4: "60457274"}


def _read_json(path: Path, what: str):
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(str(path), "-", "-", f"not valid JSON ({e})") from None


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
        boxes = {a["image_id"]: a for a in data.get("annotations", [])}
        for im in data.get("images", []):
            rid = str(im.get("file_name", im.get("id", "?")))
            for field in ("id", "file_name", "action_idx", "subaction_idx", "frame_idx", "cam_idx"):
                if field not in im:
                    raise DataError(str(data_path), rid, field, "missing")
            if im["frame_idx"] % every:
                continue
            try:
                X = np.asarray(joints[str(im["action_idx"])][str(im["subaction_idx"])][str(im["frame_idx"])], np.float64)
            except KeyError:
                raise DataError(str(joints_path), rid, "joints",
                                f"no entry for action {im['action_idx']}, subaction {im['subaction_idx']}, "
                                f"frame {im['frame_idx']}") from None
            if X.shape != (17, 3):
                raise DataError(str(joints_path), rid, "joints", f"expected 17 × [x, y, z], got shape {X.shape}")
            cam = cams.get(str(im["cam_idx"]))
            if cam is None:
                raise DataError(str(cams_path), rid, "cam_idx", f"no camera {im['cam_idx']}")
            if im["id"] not in boxes:
                raise DataError(str(data_path), rid, "bbox", "no annotation for this image")
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


def _read_multi_person(path: Path, image_root: Path, skeleton, dataset: str, intrinsics) -> list[dict]:
    data = _read_json(path, "annotation file")
    for field in ("images", "annotations"):
        if field not in data:
            raise DataError(str(path), "-", field, "missing")
    images = {im["id"]: im for im in data["images"]}
    J = skeleton.num_joints
    out = []
    for k, a in enumerate(data["annotations"]):
        rid = str(a.get("id", k))
        for field in ("image_id", "bbox", "keypoints_img", "keypoints_cam"):
            if field not in a:
                raise DataError(str(path), rid, field, "missing")
        im = images.get(a["image_id"])
        if im is None:
            raise DataError(str(path), rid, "image_id", f"no image with id {a['image_id']}")
        uv = np.asarray(a["keypoints_img"], np.float64)
        X = np.asarray(a["keypoints_cam"], np.float64)
        if uv.shape != (J, 2) or X.shape != (J, 3):
            raise DataError(str(path), rid, "keypoints_img/keypoints_cam",
                            f"expected {J} × [u, v] and {J} × [X, Y, Z], got {uv.shape} and {X.shape}")
        f, c = intrinsics(im, str(path), rid)
        rec = _frame_record(str(image_root / im["file_name"]), skeleton, dataset, f"{dataset}/{rid}", uv,
                            np.asarray(a["bbox"], np.float64), joints_3d=X, f=f, c=c,
                            frame_size=(im.get("width", 0), im.get("height", 0)), image_id=a["image_id"])
        out.append((rec, a))
    return out


def read_muco(path: str | Path, image_root: str | Path | None = None, min_root_distance: float | None = 500.0,
              validate: bool = True):
    """MuCo-3DHP (Moon et al.'s COCO-style ``MuCo-3DHP.json``): images {id, file_name, f, c}, one annotation
    per person {image_id, bbox, keypoints_img (21 × [u, v]), keypoints_cam (21 × [X, Y, Z] mm)}.

    With ``min_root_distance`` (mm), as Moon et al. train: per image the person closest to the camera, plus every
    other person whose root is at least that far (in 3D) from all other people of the image.
    """
    from ..skeletons import MUCO21

    path = Path(path)
    root = path.parent if image_root is None else Path(image_root)

    def intr(im, src, rid):
        if "f" not in im or "c" not in im:
            raise DataError(src, rid, "f/c", f"image {im.get('id')} has no intrinsics")
        return np.asarray(im["f"], np.float64), np.asarray(im["c"], np.float64)

    pairs = _read_multi_person(path, root, MUCO21, "muco", intr)
    recs = [r for r, _ in pairs]
    if min_root_distance is None:
        return _finish(recs, str(path), validate)
    by_image: dict = {}
    for r in recs:
        by_image.setdefault(r["image_id"], []).append(r)
    kept = []
    pelvis = MUCO21.root
    for people in by_image.values():
        roots = np.stack([p["joints_3d"][pelvis] for p in people])
        nearest = int(np.argmin(roots[:, 2]))
        for i, p in enumerate(people):
            others = np.delete(roots, i, axis=0)
            far = len(others) == 0 or np.linalg.norm(others - roots[i], axis=1).min() >= min_root_distance
            if i == nearest or far:
                kept.append(p)
    return _finish(kept, str(path), validate)


def read_mupots(path: str | Path, image_root: str | Path | None = None, validate: bool = True) -> list[dict]:
    """MuPoTS-3D (``MuPoTS-3D.json``): images {id, file_name, intrinsic [fx, fy, cx, cy]}, annotations
    {image_id, bbox, keypoints_img, keypoints_cam, is_valid}. People with ``is_valid = 0`` are skipped (they
    count in neither "all" nor "matched" evaluation); ``subject`` holds the sequence (TS1 … TS20)."""
    from ..skeletons import MUPOTS17

    path = Path(path)
    root = path.parent if image_root is None else Path(image_root)

    def intr(im, src, rid):
        k = im.get("intrinsic")
        if k is None or len(k) != 4:
            raise DataError(src, rid, "intrinsic", "expected [fx, fy, cx, cy] for the image")
        return np.asarray(k[:2], np.float64), np.asarray(k[2:], np.float64)

    out = []
    for rec, a in _read_multi_person(path, root, MUPOTS17, "mupots", intr):
        if not a.get("is_valid", 1):
            continue
        m = re.search(r"TS(\d+)", rec["image_path"])
        rec["subject"] = f"TS{m.group(1)}" if m else ""
        out.append(rec)
    return _finish(out, str(path), validate)


def check_records(records: list[dict], source: str) -> dict:
    """Validate every record's annotations and look for every image file, without stopping at the first
    problem: returns ``{"records": n, "errors": [messages], "missing_images": [paths]}``."""
    import os

    errors, missing = [], []
    for r in records:
        try:
            validate_sample(r, source, require_image=False)
        except DataError as e:
            errors.append(str(e))
        p = r.get("image_path")
        if p is not None and not os.path.isfile(p):
            missing.append(p)
    return {"records": len(records), "errors": errors, "missing_images": missing}
