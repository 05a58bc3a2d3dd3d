"""Drawing helpers: 2D skeletons over images and contact sheets."""

from __future__ import annotations

import cv2
import numpy as np

from .skeletons import get_skeleton

# left limbs blue, right limbs orange, centre green (BGR-agnostic: colours are given for RGB images)
_LEFT, _RIGHT, _CENTRE = (70, 130, 255), (255, 140, 40), (60, 220, 60)


def bone_colour(joint_name: str) -> tuple:
    """RGB colour of the bone ending at ``joint_name``: left limbs blue, right limbs orange, centre green."""
    return _LEFT if joint_name.startswith("L_") else _RIGHT if joint_name.startswith("R_") else _CENTRE


def draw_skeleton(image: np.ndarray, uv: np.ndarray, skeleton, valid=None, thickness: int = 2) -> np.ndarray:
    """Draw the bones of ``skeleton`` with joints ``uv`` (J, 2) image pixels on a copy of RGB ``image``."""
    sk = get_skeleton(skeleton)
    out = np.ascontiguousarray(image).copy()
    valid = np.ones(sk.num_joints, bool) if valid is None else np.asarray(valid, bool)
    for p, c in sk.bones:
        if not (valid[p] and valid[c]):
            continue
        col = bone_colour(sk.joints[c])
        a = tuple(int(round(v)) for v in uv[p])
        b = tuple(int(round(v)) for v in uv[c])
        cv2.line(out, a, b, col, thickness, cv2.LINE_AA)
    for j in np.flatnonzero(valid):
        cv2.circle(out, tuple(int(round(v)) for v in uv[j]), thickness + 1, (255, 255, 255), -1, cv2.LINE_AA)
    return out


def contact_sheet(images: list[np.ndarray], columns: int = 8, tile: int = 128, labels=None) -> np.ndarray:
    """Tile RGB images (resized to ``tile``²) into one RGB image, with optional text labels."""
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    rows = (len(images) + columns - 1) // columns
    sheet = np.zeros((rows * tile, columns * tile, 3), np.uint8)
    for i, img in enumerate(images):
        t = cv2.resize(img, (tile, tile), interpolation=cv2.INTER_AREA)
        if labels is not None:
            cv2.putText(t, str(labels[i]), (3, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
        r, c = divmod(i, columns)
        sheet[r * tile : (r + 1) * tile, c * tile : (c + 1) * tile] = t
    return sheet


def render_3d_view(poses, skeleton, size: int = 384, azim: float = -35.0, elev: float = 15.0, extent=None,
                   labels=None) -> np.ndarray:
    """Draw 3D skeletons (a list of (J, 3) mm arrays in camera axes: x right, y down, z forward) as seen from a
    camera turned ``azim`` degrees about the vertical axis and ``elev`` degrees down; orthographic, painter's order,
    with a floor grid under the lowest joint. Returns an RGB uint8 (size, size, 3) image. ``extent``: half the
    shown width in mm (default: fits every pose)."""
    sk = get_skeleton(skeleton)
    img = np.full((size, size, 3), 250, np.uint8)
    poses = [np.asarray(p, np.float64) for p in poses]
    if not poses:
        return img
    allp = np.concatenate(poses)
    centre = (allp.max(0) + allp.min(0)) / 2
    if extent is None:
        extent = max(float(np.abs(allp - centre).max()) * 1.15, 300.0)
    a, e = np.deg2rad(azim), np.deg2rad(elev)
    Ry = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(e), -np.sin(e)], [0, np.sin(e), np.cos(e)]])
    R = Rx @ Ry
    px = lambda p: ((p - centre) @ R.T)  # noqa: E731
    s = size / (2 * extent)
    to_img = lambda q: (q[..., :2] * s + size / 2)  # noqa: E731
    # floor grid (y = lowest joint), 500 mm squares
    floor = allp[:, 1].max()
    g = np.arange(-2, 3) * 500.0
    for t in g:
        for p0, p1 in (((t, floor, -1000), (t, floor, 1000)), ((-1000, floor, t), (1000, floor, t))):
            q = to_img(px(np.array([p0, p1]) + np.array([centre[0], 0, centre[2]])))
            cv2.line(img, tuple(int(v) for v in q[0]), tuple(int(v) for v in q[1]), (215, 215, 215), 1, cv2.LINE_AA)
    segs = []
    for k, pose in enumerate(poses):
        q = px(pose)
        for p, c in sk.bones:
            segs.append(((q[p, 2] + q[c, 2]) / 2, to_img(q[p]), to_img(q[c]), bone_colour(sk.joints[c])))
        if labels is not None:
            top = to_img(q[np.argmin(q[:, 1])])
            cv2.putText(img, str(labels[k]), (int(top[0]) + 4, int(top[1]) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (40, 40, 40), 1, cv2.LINE_AA)
    for _, a0, a1, col in sorted(segs, key=lambda t: -t[0]):  # far first
        cv2.line(img, tuple(int(round(v)) for v in a0), tuple(int(round(v)) for v in a1), col, 3, cv2.LINE_AA)
    return img
