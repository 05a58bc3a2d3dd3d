"""The plain and full styles' renderer: a body of capsules and ellipsoids ray-cast into the crop (vectorised over
pixels), lit, striped, over a procedural background, with flat occluders in the full style."""

from __future__ import annotations

import cv2
import numpy as np

from ..geometry import invert_affine, project
from .render_crop import joint_visibility

__all__ = ["render_parts"]


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


def render_parts(cam_parts: list, subject, f, c, M: np.ndarray, light: np.ndarray,
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
