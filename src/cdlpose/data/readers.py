"""Annotation readers for the public releases' layouts. Each only reads annotations into the common sample
record (:mod:`cdlpose.data.sample`); images are read lazily with :func:`load_image`.

Implemented here: Human3.6M in MMPose's layout (``*.npz`` + ``cameras.pkl``), MPII (MMPose's JSON list) and
COCO person keypoints. Missing joints are invalid, never zero; every error names the file, record and field.
"""

from __future__ import annotations

import contextlib
import contextvars
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
           "read_muco", "read_mupots", "read_mupots_annot", "check_records", "H36M_PROTOCOLS", "H36M_CAMERA_IDS"]

#: Subject splits, with the paper's protocol names (Moon et al.'s code numbers them the other way round).
H36M_PROTOCOLS = {
    1: {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")},
    2: {"train": ("S1", "S5", "S6", "S7", "S8", "S9"), "test": ("S11",)},
}


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


def load_numpy_pickle(path: str | Path):
    """A pickle of plain containers and numpy arrays (MMPose's camera files), refusing anything else."""
    with open(path, "rb") as fh:
        try:
            return _NumpyOnlyUnpickler(fh, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError) as e:
            raise DataError(str(path), "-", "-", f"not a pickle of numpy arrays: {e}") from None


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

    ``subjects``: keep only these (e.g. ``H36M_PROTOCOLS[1]["test"]``); ``every``: keep the frames whose 50 Hz
    video frame index (the file number − 1) is a multiple (5 for training, 64 for testing, as Moon et al.); a
    :class:`DataError` when the file's own frame step cannot give that (MMPose's files hold every 5th frame).
    Records carry ``image_path`` instead of ``image``.
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


def _read_multi_person(path: Path, image_root: Path, skeleton, dataset: str, intrinsics) -> list[dict]:
    data = _read_json(path, "annotation file")
    for field in ("images", "annotations"):
        if field not in data:
            raise DataError(str(path), "-", field, "missing")
    images = _images_by_id(data["images"], path)
    J = skeleton.num_joints
    out = []
    for k, a in enumerate(data["annotations"]):
        rid = str(a.get("id", k)) if isinstance(a, dict) else str(k)
        try:
            if not isinstance(a, dict):
                raise DataError(str(path), rid, "-", f"expected an object, got {type(a).__name__}")
            for field in ("image_id", "bbox", "keypoints_img", "keypoints_cam"):
                if field not in a:
                    raise DataError(str(path), rid, field, "missing")
            im = _image_of(images, a, path, rid)
            uv = _floats(a["keypoints_img"], path, rid, "keypoints_img")
            X = _floats(a["keypoints_cam"], path, rid, "keypoints_cam")
            if uv.shape != (J, 2) or X.shape != (J, 3):
                raise DataError(str(path), rid, "keypoints_img/keypoints_cam",
                                f"expected {J} × [u, v] and {J} × [X, Y, Z], got {uv.shape} and {X.shape}")
            box = _floats(a["bbox"], path, rid, "bbox")
            f, c = intrinsics(im, str(path), rid)
        except DataError as e:
            _problem(e)
            continue
        rec = _frame_record(str(image_root / im["file_name"]), skeleton, dataset, f"{dataset}/{rid}", uv,
                            box, joints_3d=X, f=f, c=c,
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


def read_mupots(path: str | Path, image_root: str | Path | None = None, validate: bool = True,
                annot_dir: str | Path | None = None) -> list[dict]:
    """MuPoTS-3D (``MuPoTS-3D.json``): images {id, file_name, intrinsic [fx, fy, cx, cy]}, annotations
    {image_id, bbox, keypoints_img, keypoints_cam, is_valid}. People with ``is_valid = 0`` are skipped (they
    count in neither "all" nor "matched" evaluation); ``subject`` holds the sequence (TS1 … TS20).

    ``keypoints_cam`` of Moon et al.'s JSON is ``annot3`` (its projection is ``keypoints_img``), not the
    ``univ_annot3`` the official evaluation scores against. The universal ground truth is read from the
    release's ``TS<n>/annot.mat`` files under ``annot_dir`` (default: the image folder, ``MultiPersonTestSet``,
    where the release keeps them) when they are there, into ``joints_3d_univ`` (17, 3) mm, matched to the JSON's
    people by frame and 2D joints (:func:`read_mupots_annot`).
    """
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
        f = re.search(r"img_(\d+)\.\w+$", rec["image_path"])
        rec["frame"] = int(f.group(1)) if f else -1
        out.append(rec)
    adir = root if annot_dir is None else Path(annot_dir)
    seqs = sorted({r["subject"] for r in out if r["subject"]})
    have = [s for s in seqs if (adir / s / "annot.mat").is_file()]
    if annot_dir is not None and len(have) < len(seqs):
        missing = [str(adir / s / "annot.mat") for s in seqs if s not in have]
        raise DataError(str(adir), "-", "annot.mat", f"missing for {len(missing)} sequences: {', '.join(missing[:5])}")
    if have and len(have) == len(seqs):
        for s in seqs:
            _attach_univ(out, s, adir / s / "annot.mat")
    return _finish(out, str(path), validate)


def read_mupots_annot(path: str | Path) -> list[list[dict]]:
    """A MuPoTS-3D ``TS<n>/annot.mat`` (MATLAB v5: ``annotations``, a frames × people cell of structs with
    ``annot2`` (2, 17) px, ``annot3`` and ``univ_annot3`` (3, 17) mm, ``isValidFrame``).

    Returns per frame the list of people: ``{"annot2": (17, 2), "annot3": (17, 3), "univ_annot3": (17, 3),
    "valid": bool}``. Errors name the file, the cell and the field."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=False)
    except Exception as e:  # scipy raises several types for a damaged or foreign file
        raise DataError(str(path), "-", "-", f"not a readable MATLAB file ({e})") from None
    if "annotations" not in mat:
        raise DataError(str(path), "-", "annotations", "missing")
    cells = np.asarray(mat["annotations"], dtype=object)
    if cells.ndim != 2:
        raise DataError(str(path), "-", "annotations", f"expected a frames × people cell, got shape {cells.shape}")
    frames = []
    for i in range(cells.shape[0]):
        people = []
        for k in range(cells.shape[1]):
            st = np.asarray(cells[i, k]).reshape(-1)[0]
            rec = {}
            for field, rows in (("annot2", 2), ("annot3", 3), ("univ_annot3", 3)):
                v = np.asarray(getattr(st, field, None) if not isinstance(st, dict) else st.get(field), np.float64)
                if v.shape != (rows, 17):
                    raise DataError(str(path), f"frame {i} person {k}", field, f"expected {rows} × 17, got {v.shape}")
                rec[field] = v.T.copy()
            vf = getattr(st, "isValidFrame", None) if not isinstance(st, dict) else st.get("isValidFrame")
            rec["valid"] = bool(np.asarray(vf).reshape(-1)[0]) if vf is not None else True
            people.append(rec)
        frames.append(people)
    return frames


def _attach_univ(records: list[dict], sequence: str, mat_path: Path) -> None:
    frames = read_mupots_annot(mat_path)
    for r in records:
        if r["subject"] != sequence:
            continue
        if not 0 <= r["frame"] < len(frames):
            raise DataError(str(mat_path), r["sample_id"], "annotations", f"no frame {r['frame']} in the file")
        people = frames[r["frame"]]
        d = [np.abs(p["annot2"] - r["joints_2d"]).max() for p in people]
        k = int(np.argmin(d)) if d else -1
        if k < 0 or d[k] > 1.0:
            raise DataError(str(mat_path), r["sample_id"], "annot2",
                            f"no person of frame {r['frame']} has this annotation's 2D joints (closest: "
                            f"{min(d) if d else float('nan'):.1f} px)")
        r["joints_3d_univ"] = people[k]["univ_annot3"]


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
