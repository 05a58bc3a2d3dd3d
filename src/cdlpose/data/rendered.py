"""Real human motion, rendered: given 3D poses seen by given cameras, through the synthetic renderer.

The input is the layout of Martinez et al.'s Human3.6M files (``../shared/data/h36m-poses``):

- a poses ``.npz`` with one array per sequence, key ``"S{subject}/{Action}"`` (``"S1/Walking 1"``), shape
  ``(N, 17, 3)``, **world millimetres, z up**, Human3.6M-17 joint order, every ``file_step``-th frame of a 50 Hz
  capture (``file_step`` defaults to the ``every{k}`` in the file name, else 1);
- a cameras ``.npz`` with keys ``"S{subject}/{camera id}/{R,T,f,c}"``: ``X_cam = R.T @ (X_world - T)``,
  ``u = f * (X/Z, Y/Z) + c`` (the distortion coefficients ``k``, ``p`` are not applied: the renderer is a pinhole
  camera, and the recorded 2D joints are the pinhole projections of the recorded 3D joints).

Each pose is rendered from each of its subject's cameras into the 256×256 crop of that camera's frame
(1000×1002 or 1000×1000 px: the person at their real distance and place in the frame, with the camera's
perspective), as the synthetic set's capsule-and-ellipsoid figure: the bone lengths are the poses' own, body widths
scale with the subject's stature (estimated from the poses) and clothing is fixed per subject. The orientations that
17 joints leave open are derived from the joints alone, the same way in every frame (so consistently over time):
the pelvis from the hips and the spine, the chest from the shoulders and the thorax, the face from the nose joint's
offset from the thorax, each foot from its leg's hip–knee–ankle plane (the pelvis' left–right axis when the knee
is straight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..geometry import project
from ..skeletons import H36M17
from .render_crop import person_crop
from .sample import DataError
from .synthetic import (CROP, STYLES, Subject, _rng, body_parts, cached_render, make_subject, parts_in_camera,
                        render_parts)

__all__ = ["Camera", "read_poses", "read_cameras", "action_of", "joint_frames", "RenderedPoses", "CAMERA_FRAMES"]

J = H36M17.num_joints
_IDX = {n: i for i, n in enumerate(H36M17.joints)}

#: Frame sizes (width, height) of the four Human3.6M cameras (as in VideoPose3D's camera table); other ids: 1000².
CAMERA_FRAMES = {"54138969": (1000, 1002), "55011271": (1000, 1000), "58860488": (1000, 1000),
                 "60457274": (1000, 1002)}
DEFAULT_FRAME = (1000, 1000)

# Bone lengths as fractions of stature, the synthetic set's proportions: thigh, shank, spine, chest, neck, head.
_STATURE_BONES = (("R_Hip", "R_Knee"), ("R_Knee", "R_Ankle"), ("Pelvis", "Spine"), ("Spine", "Thorax"),
                  ("Thorax", "Neck_Nose"), ("Neck_Nose", "Head_top"))
_STATURE_FRACTION = 0.262 + 0.250 + 0.135 + 0.148 + 0.068 + 0.068


@dataclass(frozen=True)
class Camera:
    """One calibrated camera: ``R`` (3, 3) whose columns are the camera's axes in world coordinates, ``T`` (3,)
    its centre (world mm), ``f``, ``c`` (2,) px, ``frame`` (width, height) px."""

    id: str
    R: np.ndarray
    T: np.ndarray
    f: np.ndarray
    c: np.ndarray
    frame: tuple

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """World points (..., 3) mm → camera coordinates (..., 3) mm: ``R.T @ (X - T)``."""
        return (np.asarray(X, np.float64) - self.T) @ self.R


def _load_npz(path: Path, what: str) -> dict:
    if not path.is_file():
        raise DataError(str(path), "-", what, "file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:  # BadZipFile, ValueError (pickled objects), EOFError … by how it is damaged
        raise DataError(str(path), "-", what, f"not a readable .npz of arrays ({type(e).__name__}: {e})") from None


def read_poses(path: str | Path) -> dict:
    """``{"S1/Walking 1": (N, 17, 3) float64 world mm, …}`` from a poses file; every key, shape and value checked."""
    path = Path(path)
    out = {}
    for key, arr in _load_npz(path, "poses").items():
        if key.count("/") != 1 or not all(key.split("/")):
            raise DataError(str(path), key, "key", "expected 'SUBJECT/ACTION' (e.g. 'S1/Walking 1')")
        if arr.ndim != 3 or arr.shape[1:] != (J, 3) or len(arr) == 0:
            raise DataError(str(path), key, "poses", f"expected shape (N, {J}, 3) with N ≥ 1 (Human3.6M-17 joints, "
                                                     f"world mm), got {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(np.asarray(arr, np.float64)).all((1, 2)))
            raise DataError(str(path), key, "poses", f"non-finite coordinates in {len(bad)} frames (first: row "
                                                     f"{bad[0] if len(bad) else '?'})")
        out[key] = np.asarray(arr, np.float64)
    if not out:
        raise DataError(str(path), "-", "poses", "the file holds no sequences")
    return out


def read_cameras(path: str | Path) -> dict:
    """``{subject: {camera id: Camera}}`` from a cameras file (keys ``S/ID/R``, ``…/T``, ``…/f``, ``…/c``)."""
    path = Path(path)
    raw = _load_npz(path, "cameras")
    shapes = {"R": (3, 3), "T": (3,), "f": (2,), "c": (2,)}
    out: dict = {}
    for key in raw:
        parts = key.split("/")
        if len(parts) != 3 or parts[2] not in ("R", "T", "f", "c", "k", "p"):
            raise DataError(str(path), key, "key", "expected 'SUBJECT/CAMERA/{R,T,f,c,k,p}'")
        out.setdefault(parts[0], {}).setdefault(parts[1], {})
    for subject, cams in out.items():
        for cid in cams:
            vals = {}
            for name, shape in shapes.items():
                k = f"{subject}/{cid}/{name}"
                if k not in raw:
                    raise DataError(str(path), f"{subject}/{cid}", name, "missing")
                v = np.asarray(raw[k], np.float64).reshape(-1) if name != "R" else np.asarray(raw[k], np.float64)
                if v.shape != shape or not np.isfinite(v).all():
                    raise DataError(str(path), f"{subject}/{cid}", name, f"expected {shape} finite values, got "
                                                                        f"shape {np.asarray(raw[k]).shape}")
                vals[name] = v
            if abs(np.linalg.det(vals["R"]) - 1) > 1e-3 or (vals["f"] <= 0).any():
                raise DataError(str(path), f"{subject}/{cid}", "R/f", "expected a rotation matrix and positive focal "
                                                                      "lengths")
            cams[cid] = Camera(cid, vals["R"], vals["T"], vals["f"], vals["c"], CAMERA_FRAMES.get(cid, DEFAULT_FRAME))
    return out


def action_of(sequence: str) -> str:
    """The action of a sequence name: ``"S1/Walking 1"`` → ``"Walking"`` (the take number dropped)."""
    return re.sub(r"\s+\d+$", "", sequence.split("/", 1)[-1])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def _frame(left: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Columns (left, up, forward), orthonormal, ``up`` kept; forward = left × up (a real body's handedness)."""
    y = _unit(up)
    x = _unit(left - (left @ y) * y)
    return np.stack([x, y, np.cross(x, y)], 1)


def joint_frames(P: np.ndarray, stature: float):
    """The orientations 17 joints leave open, derived from the joints alone (any frame: world or camera).

    Args: ``P`` (17, 3) mm, Human3.6M-17 order; ``stature`` mm (foot length).
    Returns ``(R_pelvis, R_chest, R_head, toes)``: 3×3 with columns (left, up, forward) and ``{"L", "R"}`` toe tips
    (3,) — for :func:`cdlpose.data.synthetic.body_parts`. On the synthetic sampler's poses the three rotations are
    the sampler's own.
    """
    p = {n: P[i] for n, i in _IDX.items()}
    R_pelvis = _frame(p["L_Hip"] - p["R_Hip"], p["Spine"] - p["Pelvis"])
    R_chest = _frame(p["L_Shoulder"] - p["R_Shoulder"], p["Thorax"] - p["Spine"])
    # the face looks where the nose joint sits off the thorax → head-top line; the chest's forward keeps a
    # degenerate pose (nose on that line) continuous
    up = _unit(p["Head_top"] - p["Neck_Nose"])
    nose = p["Neck_Nose"] - p["Thorax"]
    nose_len = max(float(np.linalg.norm(nose)), 1e-9)
    fwd = (nose - (nose @ up) * up) / nose_len
    w = 0.2 * max(0.0, 1.0 - float(np.linalg.norm(fwd)) / 0.15)
    fwd = fwd + w * R_chest[:, 2]
    R_head = _frame(np.cross(up, fwd), up)
    toes = {}
    for s, sign in (("L", 1.0), ("R", -1.0)):
        hip, knee, ankle = p[f"{s}_Hip"], p[f"{s}_Knee"], p[f"{s}_Ankle"]
        # a bent knee's flexion axis is the leg's left; a straight leg falls back on the pelvis'
        axis = np.cross(_unit(ankle - knee), _unit(hip - knee))
        w = 0.2 * max(0.0, 1.0 - float(np.linalg.norm(axis)) / 0.3)
        shank = _frame(axis + w * R_pelvis[:, 0], knee - ankle)
        out = np.deg2rad(10.0)  # the foot turned out by 10°, as the synthetic sampler's
        fwd = np.cos(out) * shank[:, 2] + sign * np.sin(out) * shank[:, 0]
        toes[s] = ankle + (0.13 * fwd - 0.03 * shank[:, 1]) * stature
    return R_pelvis, R_chest, R_head, toes


def _stature(poses: list) -> float:
    """A subject's stature (mm) from their poses: median bone lengths over the synthetic set's proportions."""
    P = np.concatenate(poses)
    total = sum(float(np.median(np.linalg.norm(P[:, _IDX[a]] - P[:, _IDX[b]], axis=-1))) for a, b in _STATURE_BONES)
    return total / _STATURE_FRACTION


def _subject(name: str, stature: float, seed: int) -> Subject:
    """Clothing and skin fixed per subject name and seed; body widths scaled to ``stature``."""
    base = make_subject(int(_rng("rendered-subject", seed, name).integers(10**6, 10**9)), seed)
    k = stature / base.stature
    widths = {key: v * k for key, v in base.widths.items()}
    return replace(base, stature=stature, widths=widths, lengths={})


def _file_step(path: Path) -> int:
    m = re.search(r"every(\d+)", path.stem)
    return int(m.group(1)) if m else 1


class RenderedPoses:
    """A map-style data set: every kept pose of ``poses`` rendered from each camera of its subject in ``cameras``.

    Args:
        poses, cameras: the files (see the module).
        subjects: the subjects to use (``["S1", "S5"]`` or numbers; default all in the poses file).
        every: keep a pose every this many 50 Hz frames (a multiple of ``file_step``; default: every pose).
        style: ``plain``, ``full`` or ``realistic`` (the synthetic set's styles; ``realistic``: the annotation is
        the rendered body's joints, tens of mm from the given pose where its bone lengths differ); seed:
        backgrounds, lighting, clothing.
        cache_dir: rendered samples are cached there (``.npz``); file_step: capture frames between the file's rows;
        image_size: the rendered crop's side (px).

    Item ``i`` is the sample record of :mod:`cdlpose.data.sample` plus ``sequence`` (``"S1/Walking 1"``),
    ``frame`` (the 50 Hz frame number), ``camera`` (its id), ``stature`` and, with ``keep_depth``, ``depth``.
    Items run over sequences (file order), their kept frames, then cameras (sorted ids).
    """

    def __init__(self, poses: str | Path, cameras: str | Path, subjects=None, every: int | None = None,
                 style: str = "plain", seed: int = 0, cache_dir: str | Path | None = None,
                 file_step: int | None = None, keep_depth: bool = False, image_size: int = CROP) -> None:
        if style not in STYLES:
            raise ValueError(f"unknown style {style!r}; expected one of {', '.join(STYLES)}")
        self.poses_path, self.cameras_path = Path(poses), Path(cameras)
        self.style, self.seed, self.keep_depth, self.size = style, int(seed), keep_depth, int(image_size)
        self.file_step = int(file_step) if file_step is not None else _file_step(self.poses_path)
        src = str(self.poses_path)
        if self.file_step < 1:
            raise DataError(src, "-", "file_step", f"expected a positive number of frames, got {self.file_step}")
        every = self.file_step if every is None else int(every)
        if every < 1 or every % self.file_step:
            raise DataError(src, "-", "every", f"counts 50 Hz frames and must be a positive multiple of the file's "
                                               f"step ({self.file_step} frames between rows), got {every}")
        self.every = every
        all_poses = read_poses(self.poses_path)
        cams = read_cameras(self.cameras_path)
        by_subject: dict = {}
        for key in all_poses:
            by_subject.setdefault(key.split("/")[0], []).append(key)
        if subjects is None:
            wanted = list(by_subject)
        else:
            wanted = [s if str(s).startswith("S") else f"S{s}" for s in map(str, subjects)]
            missing = [s for s in wanted if s not in by_subject]
            if missing:
                raise DataError(src, "-", "subjects", f"{', '.join(missing)} not in the file (it has "
                                                      f"{', '.join(by_subject)})")
        for s in wanted:
            if s not in cams:
                raise DataError(str(self.cameras_path), s, "cameras", f"no camera of subject {s} in the file (it "
                                                                      f"has {', '.join(cams) or 'none'})")
        self.sequences = [k for k in all_poses if k.split("/")[0] in wanted]
        self.poses = {k: all_poses[k] for k in self.sequences}
        self.cameras = {s: [cams[s][c] for c in sorted(cams[s])] for s in wanted}
        self.subjects = {s: _subject(s, _stature([all_poses[k] for k in by_subject[s]]), self.seed) for s in wanted}
        stride = every // self.file_step
        index = []
        for q, key in enumerate(self.sequences):
            s = key.split("/")[0]
            rows = np.arange(0, len(self.poses[key]), stride)
            # every kept joint must be in front of every camera that renders it
            for cam in self.cameras[s]:
                z = cam.to_camera(self.poses[key][rows])[..., 2]
                if (z <= 100).any():
                    r = int(rows[np.flatnonzero((z <= 100).any(1))[0]])
                    raise DataError(src, f"{key} row {r}", "poses", f"a joint is less than 10 cm in front of (or "
                                                                    f"behind) camera {cam.id}")
            rr, kk = np.meshgrid(rows, np.arange(len(self.cameras[s])), indexing="ij")  # frame-major
            index.append(np.stack([np.full(rr.size, q), rr.ravel(), kk.ravel()], 1))
        self.index = np.concatenate(index) if index else np.zeros((0, 3), np.int64)
        tag = f"{self.poses_path.stem}-{self.style}-{self.seed}-{self.size}"
        if self.style == "realistic":  # the garments and skins it is dressed from change its pictures
            from .mh_assets import asset_tag

            tag += f"-{asset_tag()}"
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / tag

    def __len__(self) -> int:
        return len(self.index)

    def _where(self, i: int):
        """(sequence key, file row, 50 Hz frame, subject, camera) of item ``i``."""
        if not 0 <= i < len(self.index):
            raise IndexError(f"{self.poses_path}: {len(self.index)} rendered samples, asked for {i}")
        q, row, k = (int(v) for v in self.index[i])
        key = self.sequences[q]
        subject = key.split("/")[0]
        return key, row, row * self.file_step, subject, self.cameras[subject][k]

    def _view(self, where) -> tuple:
        """The record of ``where`` (:meth:`_where`) without a picture, and the world pose (17, 3) mm."""
        key, row, frame, subject, cam = where
        P = self.poses[key][row]
        X = cam.to_camera(P)
        uv = project(X, cam.f, cam.c)
        box, M = person_crop(uv, self.size)
        rec = {
            "image": np.zeros((1, 1, 3), np.uint8), "frame_to_image": M, "frame_size": np.array(cam.frame),
            "joints_2d": uv, "joints_3d": X, "valid_2d": np.ones(J, bool), "valid_3d": np.ones(J, bool),
            "visible": np.ones(J, bool), "f": cam.f.copy(), "c": cam.c.copy(), "box": box, "skeleton": H36M17.name,
            "dataset": "h36m-rendered", "sample_id": f"{key}/{frame:06d}/{cam.id}", "subject": subject,
            "action": action_of(key), "sequence": key, "frame": frame, "camera": cam.id,
            "stature": self.subjects[subject].stature,
        }
        return rec, P

    def scene(self, i: int) -> dict:
        """Item ``i`` without its picture (``image`` a 1×1 placeholder, no depth, all joints visible): what training
        the lifting block on exact or noisy 2.5D inputs needs, ~100× cheaper than rendering."""
        return self._view(self._where(i))[0]

    def _render(self, where) -> dict:
        rec, P = self._view(where)
        key, row, _, subject, cam = where
        sub = self.subjects[subject]
        if self.style == "realistic":
            from .realistic import render_person

            r = _rng("rendered", self.seed, key, row, cam.id)
            # world z is up; a subject looks the same in every frame and camera
            p = render_person(rec["joints_3d"], cam.f, cam.c, self.size, r, up=cam.R.T @ np.array([0.0, 0.0, 1.0]),
                              stature=sub.stature, look=_rng("realistic-look", self.seed, subject))
            for k in ("joints_3d", "joints_2d", "box", "frame_to_image", "image", "depth", "visible", "stature"):
                rec[k] = p[k]
            return rec
        # the figure is built in world coordinates, then turned into the camera's: X_cam = R.T @ (X - T)
        rot = cam.R.T
        parts = parts_in_camera(body_parts(P, sub, *joint_frames(P, sub.stature)), rot, -rot @ cam.T)
        r = _rng("rendered", self.seed, key, row, cam.id)
        # towards the light: from above, from any side (world z is up)
        th = r.uniform(0, 2 * np.pi)
        light = rot @ np.array([np.cos(th) * r.uniform(0.2, 1.0), np.sin(th) * r.uniform(0.2, 1.0),
                                r.uniform(0.3, 1.0)])
        rec["image"], rec["depth"], rec["visible"] = render_parts(
            parts, sub, cam.f, cam.c, rec["frame_to_image"], light, r, rec["joints_3d"], rec["joints_2d"], self.size,
            self.style == "plain")
        return rec

    def __getitem__(self, i: int) -> dict:
        where = self._where(i)
        key, _, frame, _, cam = where
        # named by what it shows, so a cache serves any selection of subjects and frames
        name = f"{key.replace(' ', '_')}/{frame:06d}_{cam.id}.npz"
        path = None if self.cache_dir is None else self.cache_dir / name
        sample = cached_render(path, lambda: self._render(where), self.keep_depth,
                               f"{key} frame {frame} camera {cam.id}")
        if not self.keep_depth:
            sample.pop("depth", None)
        return sample
