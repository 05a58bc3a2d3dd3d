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

import numpy as np

from ..geometry import project
from ..skeletons import H36M17
from .figure_render import render_parts
from .render_crop import person_crop
from .sample import DataError

__all__ = [
    "ACTIVITIES",
    "SPLITS",
    "VARIED_FAMILIES",
    "POSE_SETS",
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

#: The families ``pose_set="varied"`` adds to :data:`ACTIVITIES`: the limb configurations of photos of sport, play
#: and everyday life that the eight activities never reach (arms out or overhead, long strides, kneeling, a leg
#: lifted, sitting on the floor, throwing) and ``Free``, every angle drawn over its whole anatomical range.
VARIED_FAMILIES = ("Free", "ArmsOut", "Striding", "Kneeling", "LegRaised", "FloorSitting", "Throwing")

#: The pose sets a synthetic data set draws from: the eight activities (the default, what every published
#: cdlpose number used), or those and :data:`VARIED_FAMILIES` (60% of the samples), seen from a wider range of
#: camera pitch and roll (±35° and ±20° instead of ±10°).
POSE_SETS = ("activities", "varied")

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
    elif activity in VARIED_FAMILIES:
        _varied_angles(activity, a, r, lead, back)
    return a


def _varied_angles(family: str, a: dict, r: np.random.Generator, lead: str, back: str) -> None:
    """:data:`VARIED_FAMILIES`' joint angles (degrees, as :func:`_activity_angles`), written into ``a``."""
    u = r.uniform
    if family == "Free":  # every joint anywhere in its range, independently
        a.update(lumbar=u(-15, 60), chest=u(-10, 30), chest_side=u(-25, 25), chest_twist=u(-40, 40),
                 neck=u(-30, 45), neck_twist=u(-60, 60))
        for s in "lr":
            a.update({f"hip_{s}": u(-30, 110), f"hip_abd_{s}": u(0, 50), f"hip_tw_{s}": u(-30, 30),
                      f"knee_{s}": u(0, 140), f"sh_{s}": u(-60, 180), f"sh_abd_{s}": u(0, 170),
                      f"sh_tw_{s}": u(-60, 60), f"elb_{s}": u(0, 150)})
    elif family == "ArmsOut":  # T-pose, waving, stretching, hands on the head
        for s in "lr":
            if s == lead or r.random() < 0.7:
                a[f"sh_{s}"], a[f"sh_abd_{s}"], a[f"elb_{s}"] = u(-30, 60), u(45, 170), u(0, 130)
                a[f"sh_tw_{s}"] = u(-60, 60)
        a["chest_side"] = u(-20, 20)
    elif family == "Striding":  # running, lunging, jumping forward
        a["lumbar"], a["chest"] = u(0, 30), u(0, 15)
        a[f"hip_{lead}"], a[f"knee_{lead}"] = u(40, 95), u(20, 100)
        a[f"hip_{back}"], a[f"knee_{back}"] = u(-45, -10), u(20, 120)
        a[f"sh_{back}"], a[f"sh_{lead}"] = u(20, 80), u(-60, -10)
        a[f"elb_{lead}"], a[f"elb_{back}"] = u(50, 120), u(50, 120)
    elif family == "Kneeling":  # one knee down, the other foot planted
        a["lumbar"] = u(-5, 25)
        a[f"hip_{lead}"], a[f"knee_{lead}"] = u(60, 100), u(70, 110)
        a[f"hip_{back}"], a[f"knee_{back}"] = u(-20, 20), u(80, 130)
        a[f"sh_{lead}"], a[f"elb_{lead}"] = u(-10, 70), u(0, 110)
    elif family == "LegRaised":  # kicking, stretching, balancing on one foot
        a[f"hip_{lead}"], a[f"hip_abd_{lead}"], a[f"knee_{lead}"] = u(20, 100), u(0, 60), u(0, 110)
        a[f"knee_{back}"] = u(0, 30)
        for s in "lr":
            a[f"sh_abd_{s}"], a[f"elb_{s}"] = u(10, 90), u(0, 90)
    elif family == "FloorSitting":  # legs out in front, or crossed
        a["lumbar"], a["chest"] = u(-10, 30), u(-5, 20)
        crossed = r.random() < 0.5
        for s in "lr":
            if crossed:
                a[f"hip_{s}"], a[f"hip_abd_{s}"], a[f"knee_{s}"] = u(60, 95), u(30, 60), u(100, 145)
                a[f"hip_tw_{s}"] = u(-40, 0)
            else:
                a[f"hip_{s}"], a[f"hip_abd_{s}"], a[f"knee_{s}"] = u(70, 100), u(0, 30), u(0, 60)
            a[f"sh_{s}"], a[f"elb_{s}"] = u(-40, 50), u(0, 100)
    elif family == "Throwing":  # one arm back and up, the trunk turned and leaning
        a["chest_twist"], a["chest_side"], a["lumbar"] = u(-45, 45), u(-25, 25), u(-10, 30)
        a[f"sh_{lead}"], a[f"sh_abd_{lead}"], a[f"elb_{lead}"] = u(90, 180), u(20, 120), u(20, 140)
        a[f"sh_tw_{lead}"] = u(-60, 60)
        a[f"sh_{back}"], a[f"sh_abd_{back}"], a[f"elb_{back}"] = u(-20, 90), u(10, 80), u(0, 90)
        a[f"hip_{back}"], a[f"hip_{lead}"], a[f"knee_{back}"] = u(-30, 0), u(10, 50), u(10, 60)


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


STYLES = ("full", "plain", "realistic")


def _check_poses(pose_set: str) -> None:
    if pose_set not in POSE_SETS:
        raise ValueError(f"unknown synthetic pose set {pose_set!r}; expected one of {', '.join(POSE_SETS)}")


def _scene(index: int, split: str, seed: int, pose_set: str = "activities"):
    """Subject, pose and camera of sample ``index``: everything but the picture (the generator ``r`` continues
    with the lighting and background draws, so the rendered sample is the same with or without this split).
    ``pose_set``: one of :data:`POSE_SETS`; the varied set draws from its own random stream."""
    if split not in SPLITS:
        raise KeyError(f"unknown synthetic split {split!r}; expected one of {', '.join(SPLITS)}")
    _check_poses(pose_set)
    lo, hi, code = SPLITS[split]
    varied = pose_set == "varied"
    r = _rng("sample", seed, code, index) if not varied else _rng("sample-varied", seed, code, index)
    subject = make_subject(int(r.integers(lo, hi)), seed)
    activity = ACTIVITIES[int(r.integers(len(ACTIVITIES)))]
    if varied and r.random() < 0.6:
        activity = VARIED_FAMILIES[int(r.integers(len(VARIED_FAMILIES)))]
    body, parts = sample_pose(subject, activity, r)
    # camera: Human3.6M-like intrinsics; body turned by yaw, small pitch and roll (wider for the varied set: photos
    # are taken from above and below, and tilted), then into camera axes
    pitch, roll = (35.0, 20.0) if varied else (10.0, 10.0)
    f = np.array([1150.0, 1150.0]) * r.uniform(0.9, 1.1) * np.array([1.0, r.uniform(0.995, 1.005)])
    c = np.array(FRAME, float) / 2 + r.normal(0, 8, 2)
    R = np.diag([1.0, -1.0, -1.0]) @ _ry(r.uniform(-np.pi, np.pi)) @ _rx(np.deg2rad(r.uniform(-pitch, pitch))) @ _rz(
        np.deg2rad(r.uniform(-roll, roll))
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


def sample_scene(index: int, split: str = "train", seed: int = 0, pose_set: str = "activities") -> dict:
    """Sample ``index`` of ``split`` without its picture: the record :func:`render_sample` gives (same joints,
    camera and box) except ``image`` (a 1×1 placeholder), ``depth`` and ``visible`` (all True). ~50× cheaper than
    rendering: what training the lifting block on exact or noisy 2.5D inputs needs."""
    _, subject, activity, _, f, c, _, _, cam, uv = _scene(index, split, seed, pose_set)
    box, M = person_crop(uv, CROP)
    return {
        "image": np.zeros((1, 1, 3), np.uint8), "frame_to_image": M, "frame_size": np.array(FRAME),
        "joints_2d": uv, "joints_3d": cam, "valid_2d": np.ones(J, bool), "valid_3d": np.ones(J, bool),
        "visible": np.ones(J, bool), "f": f, "c": c, "box": box, "skeleton": H36M17.name, "dataset": "synthetic",
        "sample_id": _sample_id(split, seed, index, pose_set), "subject": f"P{subject.id}", "action": activity,
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


def _sample_id(split: str, seed: int, index: int, pose_set: str) -> str:
    # the varied set's ids differ from the activities' so that the two can train side by side
    prefix = "synthetic" if pose_set == "activities" else f"synthetic-{pose_set}"
    return f"{prefix}/{split}/{seed}/{index}"


def render_sample(index: int, split: str = "train", seed: int = 0, size: int = CROP, style: str = "full",
                  pose_set: str = "activities") -> dict:
    """Render synthetic sample ``index`` of ``split``: the common sample record plus ``depth`` (size, size), the
    rendered depth in mm (inf where the background shows). ``style``: ``full``, ``plain`` or ``realistic`` (see the
    module); ``pose_set``: one of :data:`POSE_SETS`."""
    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; expected one of {', '.join(STYLES)}")
    plain = style == "plain"
    r, subject, activity, parts, f, c, R, t, cam, uv = _scene(index, split, seed, pose_set)
    stature = subject.stature
    if style == "realistic":
        from .realistic import render_person

        # the body frame's up (+y) in camera axes: the floor's normal
        p = render_person(cam, f, c, size, r, up=R @ np.array([0.0, 1.0, 0.0]), stature=subject.stature,
                          look=_rng("realistic-look", seed, subject.id))
        img, depth, visible, M, box = p["image"], p["depth"], p["visible"], p["frame_to_image"], p["box"]
        cam, uv, stature = p["joints_3d"], p["joints_2d"], p["stature"]
    else:
        box, M = person_crop(uv, size)
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
        "sample_id": _sample_id(split, seed, index, pose_set),
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
                 keep_depth: bool = False, style: str = "full", image_size: int = CROP, pose_set: str = "activities"):
        if split not in SPLITS:
            raise KeyError(f"unknown synthetic split {split!r}; expected one of {', '.join(SPLITS)}")
        if style not in STYLES:
            raise ValueError(f"unknown synthetic style {style!r}; expected one of {', '.join(STYLES)}")
        _check_poses(pose_set)
        self.split, self.size, self.seed, self.keep_depth, self.style = split, int(size), int(seed), keep_depth, style
        self.image_size, self.pose_set = int(image_size), pose_set
        tag = f"{split}-{seed}" if style == "full" else f"{split}-{seed}-{style}"
        tag += "" if self.image_size == CROP else f"-{self.image_size}px"
        tag += "" if pose_set == "activities" else f"-{pose_set}"
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
        sample = cached_render(path, lambda: render_sample(index, self.split, self.seed, self.image_size, self.style,
                                                           self.pose_set),
                               self.keep_depth, f"{self.split} sample {index}")
        if not self.keep_depth:
            sample.pop("depth", None)
        return sample
