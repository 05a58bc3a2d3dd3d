"""A procedural data set of rendered human figures with exact ground truth.

Each sample: a subject (stature 1.50–1.95 m, anthropometric bone lengths, clothing), a pose on the Human3.6M
17-joint skeleton from one of eight activity families, a Human3.6M-like camera (1000×1000 frame, f ≈ 1150 px)
with the person 3–7 m away anywhere in the frame, and a 256×256 image rendered straight into the person's crop
by ray casting shaded 3D primitives (capsules for limbs, ellipsoids for torso, pelvis and head) with a depth
test, over a textured background, with occluding objects in front of the body.

Sample ``i`` of a split with a seed is always the same image; the splits use disjoint subjects and disjoint
random streams.

Three styles: ``full`` (the default: textured backgrounds, striped clothing, occluders), ``plain`` (a smooth colour
gradient behind the figure, plain clothing, no occluders), which the CPU demo uses so that a network trained from
scratch for minutes learns the task rather than fighting clutter, and ``realistic`` (:mod:`cdlpose.data.realistic`:
a clothed, textured Anny body posed onto the sample's joints in a rendered room; needs ``.[realistic]``). Poses,
cameras and subjects are the same in all three; in ``realistic`` the annotated joints are the body's own (its bone
lengths, not the subject's: tens of mm apart), so :func:`sample_scene` gives the sampler's joints, not those.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..geometry import apply_affine, box_from_joints, crop_transform, fix_aspect_ratio, invert_affine, project
from ..skeletons import H36M17
from .sample import DataError

__all__ = [
    "ACTIVITIES",
    "SPLITS",
    "Subject",
    "make_subject",
    "sample_pose",
    "render_sample",
    "sample_scene",
    "STYLES",
    "SyntheticHumans",
]

ACTIVITIES = (
    "Standing", "Walking", "Sitting", "SittingDown", "Crouching", "Bending", "ArmsRaised", "Phoning",
)  # fmt: skip

#: Subject pools per split (disjoint) and the code that separates their random streams.
SPLITS = {"train": (0, 400, 1), "val": (400, 450, 2), "test": (450, 500, 3)}

FRAME = (1000, 1000)
CROP = 256
J = H36M17.num_joints
_IDX = {n: i for i, n in enumerate(H36M17.joints)}

# Bone lengths as fractions of stature (rounded from Human3.6M subjects' averages and Winter's tables).
_PROPORTIONS = {
    "hip": 0.077, "thigh": 0.262, "shank": 0.250, "spine": 0.135, "chest": 0.148, "neck": 0.068, "head": 0.068,
    "shoulder": 0.087, "upper_arm": 0.163, "forearm": 0.147,
}  # fmt: skip


def _rng(*key) -> np.random.Generator:
    digest = hashlib.blake2b(repr(key).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


@dataclass
class Subject:
    """Body proportions (mm) and appearance of one synthetic person."""

    id: int
    stature: float
    lengths: dict
    widths: dict
    top: np.ndarray  # RGB 0..1
    bottom: np.ndarray
    skin: np.ndarray
    stripe_freq: float
    stripe_amp: float


def make_subject(subject_id: int, seed: int = 0) -> Subject:
    r = _rng("subject", seed, subject_id)
    stature = r.uniform(1500.0, 1950.0)
    lengths = {k: v * stature * r.uniform(0.95, 1.05) for k, v in _PROPORTIONS.items()}
    build = r.uniform(0.85, 1.2)
    widths = {
        "limb_upper": 0.038 * stature * build, "limb_lower": 0.030 * stature * build,
        "arm_upper": 0.026 * stature * build, "arm_lower": 0.021 * stature * build,
        "torso": np.array([0.095, 0.155, 0.065]) * stature * np.array([build, 1.0, build]),
        "pelvis": np.array([0.095, 0.065, 0.062]) * stature * build, "head": np.array([0.056, 0.068, 0.062]) * stature,
    }  # fmt: skip
    skin = np.array([0.95, 0.76, 0.62]) * r.uniform(0.35, 1.0)
    return Subject(
        subject_id, stature, lengths, widths, r.uniform(0.05, 0.95, 3), r.uniform(0.05, 0.95, 3), skin,
        r.uniform(0.02, 0.08), r.uniform(0.0, 0.35),
    )


def _rx(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def _ry(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def _rz(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _activity_angles(activity: str, r: np.random.Generator) -> dict:
    """Joint angles in degrees: flexion (forward), abduction (sideways out), twist; per activity family."""
    u = r.uniform
    a = {
        "lumbar": u(-5, 10), "chest": u(-5, 10), "chest_side": u(-8, 8), "chest_twist": u(-15, 15),
        "neck": u(-15, 25), "neck_twist": u(-35, 35),
        "hip_l": u(-10, 15), "hip_r": u(-10, 15), "hip_abd_l": u(0, 12), "hip_abd_r": u(0, 12),
        "hip_tw_l": u(-15, 15), "hip_tw_r": u(-15, 15), "knee_l": u(0, 15), "knee_r": u(0, 15),
        "sh_l": u(-15, 30), "sh_r": u(-15, 30), "sh_abd_l": u(5, 30), "sh_abd_r": u(5, 30),
        "sh_tw_l": u(-30, 30), "sh_tw_r": u(-30, 30), "elb_l": u(0, 40), "elb_r": u(0, 40),
    }  # fmt: skip
    lead = "l" if r.random() < 0.5 else "r"
    back = "r" if lead == "l" else "l"
    if activity == "Walking":
        a[f"hip_{lead}"], a[f"hip_{back}"] = u(15, 35), u(-25, -5)
        a[f"knee_{lead}"], a[f"knee_{back}"] = u(0, 25), u(10, 60)
        a[f"sh_{back}"], a[f"sh_{lead}"] = u(10, 35), u(-30, -5)
    elif activity == "Sitting":
        for s in "lr":
            a[f"hip_{s}"], a[f"knee_{s}"] = u(75, 100), u(70, 105)
            a[f"sh_{s}"], a[f"elb_{s}"] = u(10, 45), u(30, 90)
    elif activity == "SittingDown":
        a["lumbar"], a["chest"] = u(15, 35), u(5, 20)
        for s in "lr":
            a[f"hip_{s}"], a[f"knee_{s}"] = u(40, 85), u(45, 100)
            a[f"sh_{s}"] = u(0, 50)
    elif activity == "Crouching":
        a["lumbar"], a["chest"] = u(20, 45), u(5, 25)
        for s in "lr":
            a[f"hip_{s}"], a[f"knee_{s}"], a[f"hip_abd_{s}"] = u(95, 125), u(115, 145), u(5, 25)
            a[f"sh_{s}"], a[f"elb_{s}"] = u(20, 70), u(20, 90)
    elif activity == "Bending":
        a["lumbar"], a["chest"] = u(40, 70), u(10, 30)
        for s in "lr":
            a[f"hip_{s}"], a[f"knee_{s}"] = u(-5, 25), u(0, 25)
            a[f"sh_{s}"] = u(40, 100)  # arms hang towards the floor
    elif activity == "ArmsRaised":
        for s in "lr":
            if s == lead or r.random() < 0.6:
                a[f"sh_{s}"], a[f"sh_abd_{s}"], a[f"elb_{s}"] = u(90, 170), u(10, 80), u(0, 50)
    elif activity == "Phoning":
        a[f"sh_{lead}"], a[f"sh_abd_{lead}"], a[f"elb_{lead}"] = u(10, 50), u(10, 40), u(110, 145)
        a[f"sh_tw_{lead}"] = u(-60, -20)
        if r.random() < 0.4:  # eating-like: both hands up
            a[f"sh_{back}"], a[f"elb_{back}"] = u(10, 50), u(90, 140)
    return a


def sample_pose(subject: Subject, activity: str, r: np.random.Generator):
    """A pose in the body frame (x: subject's left, y: up, z: forward), pelvis at the origin.

    Returns ``(joints (17, 3) mm, parts)`` where ``parts`` lists render primitives.
    """
    d = np.deg2rad
    ang = {k: d(v) for k, v in _activity_angles(activity, r).items()}
    L = subject.lengths
    down, up = np.array([0.0, -1.0, 0.0]), np.array([0.0, 1.0, 0.0])
    P = np.zeros((J, 3))
    # trunk: lumbar flexion tilts the spine segment, chest flexion/twist the upper trunk
    R_lumbar = _rx(ang["lumbar"])
    P[_IDX["Spine"]] = R_lumbar @ up * L["spine"]
    R_chest = R_lumbar @ _rx(ang["chest"]) @ _rz(d(0) + ang["chest_side"]) @ _ry(ang["chest_twist"])
    P[_IDX["Thorax"]] = P[_IDX["Spine"]] + R_chest @ up * L["chest"]
    R_neck = R_chest @ _rx(ang["neck"]) @ _ry(ang["neck_twist"])
    P[_IDX["Neck_Nose"]] = P[_IDX["Thorax"]] + R_neck @ (up * L["neck"] + np.array([0, 0, 0.3 * L["neck"]]))
    P[_IDX["Head_top"]] = P[_IDX["Neck_Nose"]] + R_neck @ up * L["head"]
    for s, sign in (("l", 1.0), ("r", -1.0)):
        S = s.upper()
        hip = np.array([sign * L["hip"], 0.0, 0.0])
        P[_IDX[f"{S}_Hip"]] = hip
        R_hip = _rx(-ang[f"hip_{s}"]) @ _rz(sign * ang[f"hip_abd_{s}"]) @ _ry(ang[f"hip_tw_{s}"])
        P[_IDX[f"{S}_Knee"]] = hip + R_hip @ down * L["thigh"]
        R_knee = R_hip @ _rx(ang[f"knee_{s}"])
        P[_IDX[f"{S}_Ankle"]] = P[_IDX[f"{S}_Knee"]] + R_knee @ down * L["shank"]
        sh = P[_IDX["Thorax"]] + R_chest @ np.array([sign * L["shoulder"], -0.02 * L["chest"], 0.0])
        P[_IDX[f"{S}_Shoulder"]] = sh
        R_sh = R_chest @ _rx(-ang[f"sh_{s}"]) @ _rz(sign * ang[f"sh_abd_{s}"]) @ _ry(sign * ang[f"sh_tw_{s}"])
        P[_IDX[f"{S}_Elbow"]] = sh + R_sh @ down * L["upper_arm"]
        R_elb = R_sh @ _rx(-ang[f"elb_{s}"])
        P[_IDX[f"{S}_Wrist"]] = P[_IDX[f"{S}_Elbow"]] + R_elb @ down * L["forearm"]
    feet = {}
    for s, sign in (("l", 1.0), ("r", -1.0)):
        # the foot points forward from the ankle (in the shank's frame), slightly turned out
        R_shank = _rx(-ang[f"hip_{s}"]) @ _rz(sign * ang[f"hip_abd_{s}"]) @ _ry(ang[f"hip_tw_{s}"]) @ _rx(ang[f"knee_{s}"])
        toe = R_shank @ _ry(sign * d(10)) @ np.array([0.0, -0.03, 0.13]) * subject.stature
        feet[s.upper()] = P[_IDX[f"{s.upper()}_Ankle"]] + toe
    return P, body_parts(P, subject, R_lumbar, R_chest, R_neck, feet)


def body_parts(P: np.ndarray, subject: Subject, R_pelvis: np.ndarray, R_chest: np.ndarray, R_head: np.ndarray,
               toes: dict) -> list:
    """The render primitives of a body: joints ``P`` (17, 3) mm, the pelvis', chest's and head's orientations
    (3×3, columns: the part's left, up and forward axes in ``P``'s frame) and the toe tips ``{"L": (3,), "R": (3,)}``.

    Returns ``[("capsule", a, b, radius, rgb) | ("ellipsoid", centre, R, radii, rgb), …]`` in ``P``'s frame.
    """
    Wd, sub = subject.widths, subject
    parts = []
    shoe = np.array([0.12, 0.1, 0.09])
    for s in "LR":
        parts += [
            ("capsule", P[_IDX[f"{s}_Ankle"]], toes[s], Wd["limb_lower"] * 0.8, shoe),
            ("capsule", P[_IDX[f"{s}_Hip"]], P[_IDX[f"{s}_Knee"]], Wd["limb_upper"], sub.bottom),
            ("capsule", P[_IDX[f"{s}_Knee"]], P[_IDX[f"{s}_Ankle"]], Wd["limb_lower"], sub.bottom),
            ("capsule", P[_IDX[f"{s}_Shoulder"]], P[_IDX[f"{s}_Elbow"]], Wd["arm_upper"], sub.top),
            ("capsule", P[_IDX[f"{s}_Elbow"]], P[_IDX[f"{s}_Wrist"]], Wd["arm_lower"], sub.skin),
        ]
    torso_c = (P[_IDX["Spine"]] + P[_IDX["Thorax"]]) / 2
    head_c = (P[_IDX["Neck_Nose"]] + P[_IDX["Head_top"]]) / 2
    parts += [
        ("ellipsoid", torso_c, R_chest, Wd["torso"], sub.top),
        ("ellipsoid", P[_IDX["Pelvis"]] + R_pelvis @ np.array([0, 0.02, 0]) * sub.stature, R_pelvis, Wd["pelvis"],
         sub.bottom),
        ("ellipsoid", head_c, R_head, Wd["head"], sub.skin),
        # a nose: the face's direction, without which front and back views (and so left and right) look alike
        ("ellipsoid", head_c + R_head @ np.array([0.0, -0.15 * Wd["head"][1], 0.95 * Wd["head"][2]]), R_head,
         Wd["head"] * np.array([0.2, 0.25, 0.3]), sub.skin * 0.8),
    ]
    return parts


# ------------------------------------------------------------------------------------------------ rendering


def _background(r: np.random.Generator, size: int, plain: bool = False) -> np.ndarray:
    """A textured background: a colour gradient, two random sinusoid gratings and value noise (``plain``: the
    gradient alone).

    Drawn at half resolution with separable gratings (sin(a x + b y) = sin(a x) cos(b y) + cos(a x) sin(b y)) and
    upsampled: cheap enough to keep rendering above 100 images/s on one core.
    """
    n = size // 2
    ax = np.arange(n, dtype=np.float32) / n
    c0, c1 = r.uniform(0, 1, 3).astype(np.float32), r.uniform(0, 1, 3).astype(np.float32)
    th = r.uniform(0, 2 * np.pi)
    t = (ax[:, None] * np.sin(th) + ax[None, :] * np.cos(th))[..., None]
    img = c0 * (1 - t) + c1 * t
    for _ in range(0 if plain else 2):
        k, th, ph = r.uniform(3, 30), r.uniform(0, np.pi), r.uniform(0, 2 * np.pi)
        gx = 2 * np.pi * k * np.cos(th) * ax
        gy = 2 * np.pi * k * np.sin(th) * ax + ph
        g = np.sin(gx)[None, :] * np.cos(gy)[:, None] + np.cos(gx)[None, :] * np.sin(gy)[:, None]
        img += (r.uniform(0.02, 0.15) * g)[..., None] * r.uniform(-1, 1, 3).astype(np.float32)
    if not plain:
        img += cv2.resize(r.uniform(-0.12, 0.12, (8, 8)).astype(np.float32), (n, n), interpolation=cv2.INTER_CUBIC)[..., None]
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_LINEAR)


def _ray_capsule(d, a, b, rad):
    """Ray (origin 0, unit directions d: (N, 3)) against a capsule; returns (t (N,), normals (N, 3),
    position along the axis in metres (N,))."""
    ba = b - a
    oa = -a
    baba = ba @ ba
    bard = d @ ba
    baoa = ba @ oa
    rdoa = d @ oa
    oaoa = oa @ oa
    qa = baba - bard * bard
    qb = baba * rdoa - baoa * bard
    qc = baba * oaoa - baoa * baoa - rad * rad * baba
    h = qb * qb - qa * qc
    t = np.full(len(d), np.inf, dtype=d.dtype)
    ok = h >= 0
    tb = (-qb[ok] - np.sqrt(h[ok])) / np.where(qa[ok] > 1e-9, qa[ok], 1e-9)
    y = baoa + tb * bard[ok]
    body = (y > 0) & (y < baba)
    idx = np.flatnonzero(ok)
    t[idx[body]] = tb[body]
    # end caps: spheres at a (y <= 0) or b (y >= baba)
    rest = idx[~body]
    cen = np.where((y[~body] <= 0)[:, None], a, b)
    dr = d[rest]
    bb = np.einsum("ij,ij->i", dr, -cen)
    cc = np.einsum("ij,ij->i", cen, cen) - rad * rad
    hh = bb * bb - cc
    hit = hh > 0
    t[rest[hit]] = -bb[hit] - np.sqrt(hh[hit])
    p = d * t[:, None]
    hitm = np.isfinite(t)
    w = np.zeros(len(d), dtype=d.dtype)
    w[hitm] = np.clip(((p[hitm] - a) @ ba) / baba, 0, 1)
    n = np.zeros_like(d)
    n[hitm] = (p[hitm] - (a + w[hitm, None] * ba)) / rad
    # stripes run around the limb every few cm, whatever its length
    return t, n, w * np.sqrt(baba) / 1000.0


def _ray_ellipsoid(d, centre, R, radii):
    """Ray (origin 0, directions d) against an ellipsoid ``R diag(radii)`` about ``centre``."""
    o_l = (R.T @ (-centre)) / radii
    d_l = (d @ R) / radii
    qa = np.einsum("ij,ij->i", d_l, d_l)
    qb = d_l @ o_l
    qc = o_l @ o_l - 1.0
    h = qb * qb - qa * qc
    t = np.full(len(d), np.inf, dtype=d.dtype)
    ok = h > 0
    t[ok] = (-qb[ok] - np.sqrt(h[ok])) / qa[ok]
    p_l = o_l + d_l * np.where(np.isfinite(t), t, 0)[:, None]
    n = (p_l / radii) @ R.T
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-9
    return t, n, p_l[:, 1] * radii[1] / 1000.0


def _render(parts, f, c, image_to_frame, size, stripes, light):
    """Ray-cast the parts into a ``size``² crop; returns (rgb float (S, S, 3), depth (S, S) mm, inf where no part
    is hit). ``stripes``: (period m, amplitude) of the clothing texture."""
    depth = np.full((size, size), np.inf, dtype=np.float64)
    rgb = np.zeros((size, size, 3), dtype=np.float32)
    A, b = image_to_frame[:, :2], image_to_frame[:, 2]
    # unit ray direction of every crop pixel, computed once: frame pixel = A @ crop pixel + b
    ax = np.arange(size, dtype=np.float64)
    rays = np.empty((size, size, 3))
    rays[..., 0] = ((A[0, 0] * ax[None, :] + A[0, 1] * ax[:, None] + b[0]) - c[0]) / f[0]
    rays[..., 1] = ((A[1, 0] * ax[None, :] + A[1, 1] * ax[:, None] + b[1]) - c[1]) / f[1]
    rays[..., 2] = 1.0
    rays /= np.sqrt(np.einsum("ijk,ijk->ij", rays, rays))[..., None]
    A_inv = np.linalg.inv(A)
    pad_scale = np.abs(A_inv).max()
    for kind, *geo, colour in parts:
        # bounding box of the part in crop pixels (culling): project its bounding sphere's extent
        if kind == "capsule":
            a, bb, rad = geo
            pts = np.stack([a, bb])
            ext = rad
        else:
            centre, Rm, radii = geo
            pts = centre[None]
            ext = radii.max()
        if (pts[:, 2] - ext <= 10).any():
            continue  # behind or at the camera: never for sampled cameras
        uv = project(pts, f, c)
        pad = ext * f.max() / (pts[:, 2].min() - ext)
        img_uv = (uv - b) @ A_inv.T
        padc = pad * pad_scale + 1
        x0 = int(max(np.floor(img_uv[:, 0].min() - padc), 0))
        x1 = int(min(np.ceil(img_uv[:, 0].max() + padc) + 1, size))
        y0 = int(max(np.floor(img_uv[:, 1].min() - padc), 0))
        y1 = int(min(np.ceil(img_uv[:, 1].max() + padc) + 1, size))
        if x1 <= x0 or y1 <= y0:
            continue
        d = rays[y0:y1, x0:x1].reshape(-1, 3)
        if kind == "capsule":
            t, n, along = _ray_capsule(d, *geo)
        else:
            t, n, along = _ray_ellipsoid(d, *geo)
        z = t * d[:, 2]  # depth along the optical axis
        sub = depth[y0:y1, x0:x1].ravel()
        win = z < sub
        if not win.any():
            continue
        sub[win] = z[win]
        depth[y0:y1, x0:x1] = sub.reshape(y1 - y0, x1 - x0)
        shade = 0.35 + 0.65 * np.clip(-(n[win] @ light), 0, 1)
        texture = 1.0 - _stripes(along[win], stripes)
        col = colour[None, :] * (shade * texture)[:, None]
        block = rgb[y0:y1, x0:x1].reshape(-1, 3)
        block[win] = col
        rgb[y0:y1, x0:x1] = block.reshape(y1 - y0, x1 - x0, 3)
    return rgb, depth


def _stripes(along_m, params):
    """Clothing texture: stripes of period ``freq`` metres along a part, darkening by up to ``amp``."""
    freq, amp = params
    return amp * (0.5 + 0.5 * np.sin(along_m * (2 * np.pi / freq)))


STYLES = ("full", "plain", "realistic")


def _scene(index: int, split: str, seed: int):
    """Subject, pose and camera of sample ``index``: everything but the picture (the generator ``r`` continues
    with the lighting and background draws, so the rendered sample is the same with or without this split)."""
    if split not in SPLITS:
        raise KeyError(f"unknown synthetic split {split!r}; expected one of {', '.join(SPLITS)}")
    lo, hi, code = SPLITS[split]
    r = _rng("sample", seed, code, index)
    subject = make_subject(int(r.integers(lo, hi)), seed)
    activity = ACTIVITIES[int(r.integers(len(ACTIVITIES)))]
    body, parts = sample_pose(subject, activity, r)
    # camera: Human3.6M-like intrinsics; body turned by yaw, small pitch and roll, then into camera axes
    f = np.array([1150.0, 1150.0]) * r.uniform(0.9, 1.1) * np.array([1.0, r.uniform(0.995, 1.005)])
    c = np.array(FRAME, float) / 2 + r.normal(0, 8, 2)
    R = np.diag([1.0, -1.0, -1.0]) @ _ry(r.uniform(-np.pi, np.pi)) @ _rx(np.deg2rad(r.uniform(-10, 10))) @ _rz(
        np.deg2rad(r.uniform(-10, 10))
    )
    depth_root = r.uniform(3000, 7000)
    X0 = R @ body.T  # (3, J) rotated, pelvis at origin
    # place the root so that the whole body projects inside the frame (with a margin)
    for _ in range(20):
        u0 = r.uniform(0.15, 0.85, 2) * np.array(FRAME)
        t = np.append((u0 - c) / f * depth_root, depth_root)
        cam = X0.T + t
        uv = project(cam, f, c)
        if (uv.min(0) > 10).all() and (uv.max(0) < np.array(FRAME) - 10).all():
            break
    return r, subject, activity, parts, f, c, R, t, cam, uv


def _crop(uv: np.ndarray, size: int):
    """(tight joint box, frame → crop affine): the record's box is the tight box of the joints, like a data set's
    annotation; the crop shows it enlarged ×1.25 with a square aspect ratio, as the crop pipeline makes it."""
    box = box_from_joints(uv, aspect_ratio=None)
    crop_box = fix_aspect_ratio(box, 1.0, 1.25)
    return box, crop_transform(crop_box[:2] + crop_box[2:] / 2, crop_box[2:], (size, size))


def sample_scene(index: int, split: str = "train", seed: int = 0) -> dict:
    """Sample ``index`` of ``split`` without its picture: the record :func:`render_sample` gives (same joints,
    camera and box) except ``image`` (a 1×1 placeholder), ``depth`` and ``visible`` (all True). ~50× cheaper than
    rendering: what training the lifting block on exact or noisy 2.5D inputs needs."""
    _, subject, activity, _, f, c, _, _, cam, uv = _scene(index, split, seed)
    box, M = _crop(uv, CROP)
    return {
        "image": np.zeros((1, 1, 3), np.uint8), "frame_to_image": M, "frame_size": np.array(FRAME),
        "joints_2d": uv, "joints_3d": cam, "valid_2d": np.ones(J, bool), "valid_3d": np.ones(J, bool),
        "visible": np.ones(J, bool), "f": f, "c": c, "box": box, "skeleton": H36M17.name, "dataset": "synthetic",
        "sample_id": f"synthetic/{split}/{seed}/{index}", "subject": f"P{subject.id}", "action": activity,
        "stature": subject.stature,
    }


def parts_in_camera(parts: list, rot: np.ndarray, shift: np.ndarray) -> list:
    """:func:`body_parts` moved into camera coordinates ``X_cam = rot @ X + shift`` (mm): capsule ends and
    ellipsoid centres moved, ellipsoid orientations turned."""
    out = []
    for kind, g0, g1, g2, colour in parts:
        g1 = rot @ g1 + shift if kind == "capsule" else rot @ g1
        out.append((kind, rot @ g0 + shift, g1, g2, colour))
    return out


def render_parts(cam_parts: list, subject: Subject, f, c, M: np.ndarray, light: np.ndarray,
                 r: np.random.Generator, cam: np.ndarray, uv: np.ndarray, size: int, plain: bool):
    """The picture of a posed body: ``cam_parts`` (:func:`body_parts` in camera mm) ray-cast into the crop that
    the frame → crop affine ``M`` (2×3) makes of a camera with focal ``f`` and centre ``c`` (frame px), lit from
    ``light`` (camera axes, pointing from the scene towards the light), over a background drawn from ``r``, with
    occluders unless ``plain``. ``cam`` (17, 3) mm and ``uv`` (17, 2) frame px: the joints, for visibility.

    Returns ``(image (S, S, 3) uint8, depth (S, S) mm — inf where no body part or occluder is hit, visible (17,))``.
    """
    light = -light / np.linalg.norm(light)  # direction the light travels
    stripes = (subject.stripe_freq, 0.0 if plain else subject.stripe_amp)
    rgb_body, depth = _render(cam_parts, f, c, invert_affine(M), size, stripes, light)
    img = _background(r, size, plain)
    body_mask = np.isfinite(depth)
    np.copyto(img, rgb_body, where=body_mask[..., None])
    # occluders: flat shapes in front of the body (their depth is 300 mm before the nearest body point)
    occ = np.zeros((size, size), np.uint8)
    for _ in range(0 if plain else int(r.choice([0, 0, 1, 1, 2]))):
        col = tuple(float(v) for v in r.uniform(0, 1, 3))
        centre = tuple(int(v) for v in r.uniform(0.15, 0.85, 2) * size)
        axes = tuple(int(v) for v in r.uniform(0.06, 0.2, 2) * size)
        shape = np.zeros_like(occ)
        if r.random() < 0.5:
            cv2.ellipse(shape, centre, axes, float(r.uniform(0, 180)), 0, 360, 1, -1)
        else:
            cv2.rectangle(shape, (centre[0] - axes[0], centre[1] - axes[1]), (centre[0] + axes[0], centre[1] + axes[1]), 1, -1)
        img[shape > 0] = col
        occ |= shape
    if occ.any():
        depth[occ > 0] = np.minimum(depth[occ > 0], np.nanmin(cam[:, 2]) - 300.0)
    img *= 255.0
    img += r.normal(0, 3, 3).astype(np.float32)  # a global colour cast
    img = np.clip(img, 0, 255, out=img).astype(np.uint8)
    return img, depth, joint_visibility(depth, M, uv, cam, 0.06 * subject.stature, occ)


def joint_visibility(depth: np.ndarray, M: np.ndarray, uv: np.ndarray, cam: np.ndarray, margin: float,
                     occluders: np.ndarray | None = None) -> np.ndarray:
    """(J,) bool: the joints (``uv`` frame px, ``cam`` (J, 3) mm) that the crop (frame → crop affine ``M``, its
    ``depth`` (S, S) mm) shows: inside the crop, no surface more than ``margin`` mm in front of the joint at its
    pixel, and not under a nonzero pixel of the ``occluders`` mask (S, S)."""
    size = depth.shape[0]
    crop_uv = apply_affine(M, uv)
    pi = np.clip(np.round(crop_uv).astype(int), 0, size - 1)
    inside = (crop_uv >= -0.5).all(1) & (crop_uv <= size - 0.5).all(1)
    visible = inside & (depth[pi[:, 1], pi[:, 0]] > cam[:, 2] - margin)
    if occluders is not None:
        visible &= occluders[pi[:, 1], pi[:, 0]] == 0
    return visible


def render_sample(index: int, split: str = "train", seed: int = 0, size: int = CROP, style: str = "full") -> dict:
    """Render synthetic sample ``index`` of ``split``: the common sample record plus ``depth`` (size, size), the
    rendered depth in mm (inf where the background shows). ``style``: ``full``, ``plain`` or ``realistic`` (see the
    module)."""
    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; expected one of {', '.join(STYLES)}")
    plain = style == "plain"
    r, subject, activity, parts, f, c, R, t, cam, uv = _scene(index, split, seed)
    stature = subject.stature
    if style == "realistic":
        from .realistic import render_person

        # the body frame's up (+y) in camera axes: the floor's normal
        p = render_person(cam, f, c, size, r, up=R @ np.array([0.0, 1.0, 0.0]), stature=subject.stature,
                          look=_rng("realistic-look", seed, subject.id))
        img, depth, visible, M, box = p["image"], p["depth"], p["visible"], p["frame_to_image"], p["box"]
        cam, uv, stature = p["joints_3d"], p["joints_2d"], p["stature"]
    else:
        box, M = _crop(uv, size)
        light = R @ np.array([r.uniform(-0.6, 0.6), -r.uniform(0.3, 1.0), -r.uniform(0.2, 1.0)])
        img, depth, visible = render_parts(parts_in_camera(parts, R, t), subject, f, c, M, light, r, cam, uv, size,
                                           plain)
    return {
        "image": img,
        "frame_to_image": M,
        "frame_size": np.array(FRAME),
        "joints_2d": uv,
        "joints_3d": cam,
        "valid_2d": np.ones(J, bool),
        "valid_3d": np.ones(J, bool),
        "visible": visible,
        "f": f,
        "c": c,
        "box": box,
        "skeleton": H36M17.name,
        "dataset": "synthetic",
        "sample_id": f"synthetic/{split}/{seed}/{index}",
        "subject": f"P{subject.id}",
        "action": activity,
        "stature": stature,
        "depth": depth,
    }


#: The record fields a render cache stores as JSON text (the rest are arrays).
_META_KEYS = ("skeleton", "dataset", "sample_id", "subject", "action", "sequence", "frame", "camera")


def cached_render(path: Path | None, render, keep_depth: bool, what: str) -> dict:
    """The record ``render()`` makes, read from the cache file ``path`` (``.npz``) when it is there and written
    to it (atomically: temp file + rename) when not; ``path`` None: no cache. The depth map (0.5 MB in float64) is
    cached only with ``keep_depth``. ``what`` names the sample in the error a damaged cache file raises."""
    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as z:
                if "depth" in z.files or not keep_depth:  # else: cached without depth, render again
                    sample = {k: z[k] for k in z.files}
                    sample.update(json.loads(str(sample.pop("meta"))))
                    return sample
        except Exception as e:  # zipfile.BadZipFile, ValueError, EOFError, KeyError … by how it is damaged
            why = f"{type(e).__name__}: {str(e).splitlines()[0]}" if str(e) else type(e).__name__
            raise DataError(str(path), what, "cache file",
                            f"corrupt synthetic-cache file ({why}); delete it and it is rendered again") from None
    sample = render()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {k: sample[k] for k in _META_KEYS if k in sample}
        drop = ("stature",) if keep_depth else ("stature", "depth")
        arrays = {k: v for k, v in sample.items() if k not in meta and k not in drop}
        # a name of this process's own: two loader processes may render the same sample at once
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp.npz")
        np.savez(tmp, meta=json.dumps(meta), stature=sample["stature"], **arrays)
        tmp.replace(path)
    return sample


class SyntheticHumans:
    """A map-style data set (usable with ``torch.utils.data.DataLoader``) of synthetic samples.

    Samples are rendered on the fly in the worker that asks for them; with ``cache_dir`` each rendered sample
    is also written there (``.npz``, atomically; the depth map only with ``keep_depth``) and read back next time.
    """

    def __init__(self, split: str = "train", size: int = 10000, seed: int = 0, cache_dir: str | Path | None = None,
                 keep_depth: bool = False, style: str = "full", image_size: int = CROP):
        if split not in SPLITS:
            raise KeyError(f"unknown synthetic split {split!r}; expected one of {', '.join(SPLITS)}")
        if style not in STYLES:
            raise ValueError(f"unknown synthetic style {style!r}; expected one of {', '.join(STYLES)}")
        self.split, self.size, self.seed, self.keep_depth, self.style = split, int(size), int(seed), keep_depth, style
        self.image_size = int(image_size)
        tag = f"{split}-{seed}" if style == "full" else f"{split}-{seed}-{style}"
        tag += "" if self.image_size == CROP else f"-{self.image_size}px"
        if style == "realistic":  # the garments and skins it is dressed from change its pictures
            from .mh_assets import asset_tag

            tag += f"-{asset_tag()}"
        self.cache_dir = None if cache_dir is None else Path(cache_dir) / tag

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.size:
            raise IndexError(f"synthetic {self.split} split has {self.size} samples, asked for {index}")
        path = None if self.cache_dir is None else self.cache_dir / f"{index:07d}.npz"
        sample = cached_render(path, lambda: render_sample(index, self.split, self.seed, self.image_size, self.style),
                               self.keep_depth, f"{self.split} sample {index}")
        if not self.keep_depth:
            sample.pop("depth", None)
        return sample
