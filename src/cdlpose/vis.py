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


#: per-person colours (RGB) when several people are drawn: person k (or track k) gets PERSON_COLOURS[k % 10]
PERSON_COLOURS = ((230, 25, 75), (0, 130, 200), (60, 180, 75), (245, 130, 48), (145, 30, 180), (70, 200, 200),
                  (240, 50, 230), (128, 128, 0), (0, 128, 128), (170, 110, 40))


def person_bone_colour(joint_name: str, person: int | None) -> tuple:
    """RGB colour of a bone: :func:`bone_colour` for ``person=None``; else the person's colour (right limbs
    darker, so that left and right stay apart)."""
    if person is None:
        return bone_colour(joint_name)
    c = PERSON_COLOURS[person % len(PERSON_COLOURS)]
    return tuple(int(v * 0.55) for v in c) if joint_name.startswith("R_") else c


def draw_skeleton(image: np.ndarray, uv: np.ndarray, skeleton, valid=None, thickness: int = 2, confidence=None,
                  kpt_thr: float = 0.0, radius: int | None = None, person: int | None = None,
                  faint: float = 0.25) -> np.ndarray:
    """Draw the bones of ``skeleton`` with joints ``uv`` (J, 2) image pixels on a copy of RGB ``image``.

    ``confidence`` (J,) with ``kpt_thr``: a joint under the threshold, and the bones that end at it, are drawn at
    ``faint`` opacity (0: not drawn). ``radius``: joint dots in px (default ``thickness + 1``; 0: none).
    ``person``: draw in that person's colour (:func:`person_bone_colour`)."""
    sk = get_skeleton(skeleton)
    out = np.ascontiguousarray(image).copy()
    valid = np.ones(sk.num_joints, bool) if valid is None else np.asarray(valid, bool)
    low = np.zeros(sk.num_joints, bool) if confidence is None else np.asarray(confidence, np.float64) < kpt_thr
    radius = thickness + 1 if radius is None else int(radius)

    def draw(canvas, joints):  # the bones with an end in ``joints`` (and both ends valid), then their dots
        for p, c in sk.bones:
            if valid[p] and valid[c] and (joints[p] or joints[c]) and not (canvas is out and (low[p] or low[c])):
                a = tuple(int(round(v)) for v in uv[p])
                b = tuple(int(round(v)) for v in uv[c])
                cv2.line(canvas, a, b, person_bone_colour(sk.joints[c], person), thickness, cv2.LINE_AA)
        if radius > 0:
            for j in np.flatnonzero(valid & joints):
                cv2.circle(canvas, tuple(int(round(v)) for v in uv[j]), radius, (255, 255, 255), -1, cv2.LINE_AA)

    draw(out, ~low)  # confident joints and the bones between them
    weak = None
    if low.any() and faint > 0:  # the rest on a copy, blended in at ``faint`` opacity
        weak = out.copy()
        draw(weak, low)
    if weak is not None:
        out = cv2.addWeighted(weak, faint, out, 1.0 - faint, 0.0)
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
                   labels=None, persons=None, scale_bar: bool = True) -> np.ndarray:
    """Draw 3D skeletons (a list of (J, 3) mm arrays in camera axes: x right, y down, z forward) as seen from a
    camera turned ``azim`` degrees about the vertical axis and ``elev`` degrees down; orthographic, painter's order,
    with a floor grid under the lowest joint and a scale bar (``scale_bar``). Returns an RGB uint8 (size, size, 3)
    image. ``extent``: half the shown width in mm; every joint is kept inside the frame whatever the view (the
    extent grows when a pose does not fit; default: fits every pose). ``persons``: per pose its person (colour)
    index, or ``None`` for left/right colours."""
    sk = get_skeleton(skeleton)
    img = np.full((size, size, 3), 250, np.uint8)
    poses = [np.asarray(p, np.float64) for p in poses]
    if not poses:
        return img
    allp = np.concatenate(poses)
    centre = (allp.max(0) + allp.min(0)) / 2
    # an orthographic view of a point within radius r of the centre lands within r of the image centre
    fit = float(np.linalg.norm(allp - centre, axis=1).max()) * 1.08 + 1e-6
    extent = max(fit, 300.0) if extent is None else max(float(extent), fit)
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
    if scale_bar:  # a round length near a fifth of the width, bottom left
        mm = float(extent) * 2 / 5
        step = 10 ** np.floor(np.log10(mm))
        mm = max(v * step for v in (1, 2, 5) if v * step <= mm)
        x0, y0, L = 8, size - 10, int(round(mm * s))
        cv2.line(img, (x0, y0), (x0 + L, y0), (60, 60, 60), 2)
        for x in (x0, x0 + L):
            cv2.line(img, (x, y0 - 4), (x, y0 + 2), (60, 60, 60), 1)
        text = f"{mm / 1000:g} m" if mm >= 1000 else f"{mm:g} mm"
        cv2.putText(img, text, (x0 + L + 5, y0 + 3), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (60, 60, 60), 1, cv2.LINE_AA)
    segs = []
    for k, pose in enumerate(poses):
        q = px(pose)
        person = None if persons is None else persons[k]
        for p, c in sk.bones:
            segs.append(((q[p, 2] + q[c, 2]) / 2, to_img(q[p]), to_img(q[c]), person_bone_colour(sk.joints[c], person)))
        if labels is not None:
            top = to_img(q[np.argmin(q[:, 1])])
            cv2.putText(img, str(labels[k]), (int(top[0]) + 4, int(top[1]) - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (40, 40, 40), 1, cv2.LINE_AA)
    for _, a0, a1, col in sorted(segs, key=lambda t: -t[0]):  # far first
        cv2.line(img, tuple(int(round(v)) for v in a0), tuple(int(round(v)) for v in a1), col, 3, cv2.LINE_AA)
    return img
