"""Camera geometry, person boxes, affine crops and Procrustes alignment.

Conventions (used everywhere in cdlpose):

- Camera space: X right, Y down, Z forward (away from the camera), millimetres.
- Extrinsics as in Moon et al.'s Human3.6M release: ``X_cam = R @ X_world + t``. Martinez et al.'s release
  (``../shared/data/h36m-poses``, MMPose's ``cameras.pkl``) stores ``R_m, T`` with ``X_cam = R_m.T @ (X_world - T)``;
  :meth:`Camera.from_center` converts.
- Pixels: ``u = f_x X / Z + c_x``; continuous coordinates with pixel *centres* at integers (OpenCV's
  convention for ``warpAffine``), so an image of width W spans u in [-0.5, W - 0.5].
- Boxes: ``(x, y, w, h)`` with ``(x, y)`` the top-left corner in the same continuous pixel coordinates.

Functions accept numpy arrays; projection, back-projection and rescaling also accept torch tensors where noted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Camera",
    "project",
    "project_distorted",
    "back_project",
    "box_from_joints",
    "fix_aspect_ratio",
    "crop_transform",
    "invert_affine",
    "apply_affine",
    "warp_crop",
    "rescale_points",
    "procrustes_align",
]


def project(points_cam, f, c):
    """Pinhole projection of camera-space points.

    Args:
        points_cam: (..., 3) mm, camera space (numpy or torch); Z must be positive.
        f, c: (2,) focal lengths and principal point in pixels (broadcastable to (..., 2)).
    Returns:
        (..., 2) pixel coordinates ``u = f * X / Z + c``.
    """
    return points_cam[..., :2] / points_cam[..., 2:3] * f + c


def project_distorted(points_cam, f, c, k, p):
    """Projection with Human3.6M's lens model (as in Martinez et al.'s release and MMPose's 2D keypoints).

    With normalised coordinates x = (X/Z, Y/Z) and r^2 = |x|^2: radial factor ``1 + k1 r^2 + k2 r^4 + k3 r^6``,
    tangential term ``p1 y + p2 x``; ``x_d = x (radial + tangential) + (p2, p1) r^2``; pixels ``f x_d + c``.
    points_cam: (..., 3) numpy; k: (3,); p: (2,).
    """
    X = np.asarray(points_cam, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64).reshape(3)
    p = np.asarray(p, dtype=np.float64).reshape(2)
    x = X[..., :2] / X[..., 2:3]
    r2 = (x**2).sum(-1, keepdims=True)
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tangential = p[0] * x[..., 1:2] + p[1] * x[..., 0:1]
    xd = x * (radial + tangential) + np.array([p[1], p[0]]) * r2
    return xd * np.asarray(f, dtype=np.float64).reshape(2) + np.asarray(c, dtype=np.float64).reshape(2)


def back_project(uv, depth, f, c):
    """Inverse of :func:`project`: pixels and camera-space depth Z (mm) to camera-space points.

    Args:
        uv: (..., 2) pixels; depth: (...) mm. Returns (..., 3) mm (numpy or torch, following ``uv``).
    """
    xy = (uv - c) / f * depth[..., None]
    if hasattr(xy, "new_tensor"):
        import torch

        return torch.cat([xy, depth[..., None]], dim=-1)
    return np.concatenate([xy, np.asarray(depth)[..., None]], axis=-1)


@dataclass
class Camera:
    """A pinhole camera with Human3.6M-style parameters.

    Attributes:
        R: (3, 3) world→camera rotation; t: (3,) mm, so that ``X_cam = R @ X_world + t``.
        f: (2,) focal lengths (px); c: (2,) principal point (px).
    """

    R: np.ndarray
    t: np.ndarray
    f: np.ndarray
    c: np.ndarray

    def __post_init__(self) -> None:
        self.R = np.asarray(self.R, dtype=np.float64).reshape(3, 3)
        self.t = np.asarray(self.t, dtype=np.float64).reshape(3)
        self.f = np.asarray(self.f, dtype=np.float64).reshape(2)
        self.c = np.asarray(self.c, dtype=np.float64).reshape(2)

    @classmethod
    def from_center(cls, R, T, f, c) -> "Camera":
        """Camera from Martinez/MMPose parameters where ``X_cam = R.T @ (X_world - T)`` (T: centre, mm)."""
        R = np.asarray(R, dtype=np.float64).reshape(3, 3)
        T = np.asarray(T, dtype=np.float64).reshape(3)
        return cls(R.T, -R.T @ T, f, c)

    @classmethod
    def intrinsics_only(cls, f, c) -> "Camera":
        """A camera whose world frame is its own frame (identity extrinsics)."""
        return cls(np.eye(3), np.zeros(3), f, c)

    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsic matrix."""
        return np.array([[self.f[0], 0, self.c[0]], [0, self.f[1], self.c[1]], [0, 0, 1.0]])

    def world_to_camera(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) world mm → (..., 3) camera mm."""
        return np.asarray(X) @ self.R.T + self.t

    def camera_to_world(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) camera mm → (..., 3) world mm."""
        return (np.asarray(X) - self.t) @ self.R

    def camera_to_pixel(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) camera mm → (..., 2) pixels."""
        return project(np.asarray(X), self.f, self.c)

    def pixel_to_camera(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """(..., 2) pixels and (...) depth Z in mm → (..., 3) camera mm."""
        return back_project(np.asarray(uv, dtype=np.float64), np.asarray(depth, dtype=np.float64), self.f, self.c)

    def world_to_pixel(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) world mm → (..., 2) pixels."""
        return self.camera_to_pixel(self.world_to_camera(X))


def fix_aspect_ratio(box, aspect_ratio: float = 1.0, enlarge: float = 1.25) -> np.ndarray:
    """Grow the short side of ``box`` (x, y, w, h) to the aspect ratio w/h, then scale it about its centre.

    Returns (4,) float64 ``(x, y, w, h)``. This is Moon et al.'s and MMPose's top-down box processing.
    """
    x, y, w, h = (float(v) for v in box)
    if not (w > 0 and h > 0):
        raise ValueError(f"box must have positive width and height, got (x, y, w, h) = {tuple(box)}")
    cx, cy = x + w / 2, y + h / 2
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    w, h = w * enlarge, h * enlarge
    return np.array([cx - w / 2, cy - h / 2, w, h])


def box_from_joints(uv, valid=None, aspect_ratio: float | None = 1.0, enlarge: float = 1.25) -> np.ndarray:
    """Person box around the valid 2D joints, aspect ratio fixed, enlarged by ``enlarge``
    (``aspect_ratio=None``: the tight box, no enlargement).

    Args:
        uv: (J, 2) pixels; valid: optional (J,) bool.
    Returns:
        (4,) ``(x, y, w, h)``.
    """
    uv = np.asarray(uv, dtype=np.float64)
    if valid is not None:
        uv = uv[np.asarray(valid, dtype=bool)]
    if len(uv) < 2:
        raise ValueError("box_from_joints needs at least two valid joints")
    lo, hi = uv.min(0), uv.max(0)
    size = np.maximum(hi - lo, 1.0)  # a degenerate (collinear) pose still gets a box
    if aspect_ratio is None:  # the tight box
        return np.array([lo[0], lo[1], size[0], size[1]])
    return fix_aspect_ratio((lo[0], lo[1], size[0], size[1]), aspect_ratio, enlarge)


def crop_transform(
    center, size, out_size, rotation_deg: float = 0.0, flip: bool = False, inverse: bool = False
) -> np.ndarray:
    """2×3 affine matrix mapping an image region to an output crop.

    The region is the box of width and height ``size = (w, h)`` centred at ``center`` (pixels), rotated by
    ``rotation_deg`` (counter-clockwise in the image as displayed), and mirrored horizontally when ``flip``.
    Its edges map exactly onto the edges of the ``out_size = (W, H)`` crop (with pixel centres at integers,
    the box edge ``cx - w/2`` goes to ``-0.5``).

    Returns the image→crop matrix, or crop→image with ``inverse=True``.
    """
    cx, cy = (float(v) for v in center)
    w, h = (float(v) for v in np.broadcast_to(np.asarray(size, dtype=np.float64), (2,)))
    W, H = (float(v) for v in np.broadcast_to(np.asarray(out_size, dtype=np.float64), (2,)))
    if w <= 0 or h <= 0:
        raise ValueError(f"crop size must be positive, got {(w, h)}")
    sx, sy = W / w, H / h
    a = np.deg2rad(rotation_deg)
    # Image y points down, so a counter-clockwise rotation as displayed is a clockwise one in (u, v).
    cos, sin = np.cos(a), np.sin(a)
    rot = np.array([[cos, sin], [-sin, cos]])
    A = np.diag([sx, sy]) @ rot
    if flip:
        A = np.diag([-1.0, 1.0]) @ A
    out_c = np.array([W / 2 - 0.5, H / 2 - 0.5])
    b = out_c - A @ np.array([cx, cy])
    M = np.concatenate([A, b[:, None]], axis=1)
    return invert_affine(M) if inverse else M


def invert_affine(M: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine matrix."""
    M = np.asarray(M, dtype=np.float64)
    A_inv = np.linalg.inv(M[:, :2])
    return np.concatenate([A_inv, -(A_inv @ M[:, 2])[:, None]], axis=1)


def crop_camera(M: np.ndarray, focal, centre) -> np.ndarray:
    """The camera ``(fx, fy, cx, cy)`` of a crop in crop pixels, from the image camera (``focal`` (fx, fy) px,
    ``centre`` (cx, cy) px, pixel centres at integers) and the image→crop affine ``M`` (2×3, no rotation)."""
    f = np.asarray(focal, np.float64) * np.array([M[0, 0], M[1, 1]])
    c = M[:, :2] @ np.asarray(centre, np.float64) + M[:, 2]
    return np.concatenate([f, c])


def apply_affine(M: np.ndarray, points) -> np.ndarray:
    """Apply a 2×3 affine matrix to (..., 2) points (extra trailing columns, e.g. visibility, are kept)."""
    points = np.asarray(points, dtype=np.float64)
    out = points.copy()
    out[..., :2] = points[..., :2] @ M[:, :2].T + M[:, 2]
    return out


def warp_crop(image: np.ndarray, M: np.ndarray, out_size, border_value=0) -> np.ndarray:
    """Crop ``image`` (H, W[, C]) with the image→crop matrix ``M`` into ``out_size = (W, H)`` by one warp."""
    W, H = (int(v) for v in np.broadcast_to(np.asarray(out_size), (2,)))
    return cv2.warpAffine(
        image, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=border_value
    )


def rescale_points(points, in_size, out_size):
    """Map pixel coordinates between two resolutions of the same frame, pixel centres at integers.

    E.g. 256×256 crop → 64×64 output map: ``u' = (u + 0.5) * 64 / 256 - 0.5``. Works on numpy and torch.
    """
    s = np.asarray(out_size, dtype=np.float64) / np.asarray(in_size, dtype=np.float64)
    if hasattr(points, "new_tensor"):
        s = points.new_tensor(s)
    out = points.clone() if hasattr(points, "clone") else np.array(points, dtype=np.float64, copy=True)
    out[..., :2] = (points[..., :2] + 0.5) * s - 0.5
    return out


def procrustes_align(pred, gt, mask=None, return_transform: bool = False, scale: bool = True):
    """Similarity Procrustes alignment of ``pred`` onto ``gt``, per pose (numpy).

    Finds s, R, t minimising ``sum_j m_j |s R p_j + t - g_j|^2`` over the valid joints, with R a proper
    rotation (det +1; the reflection is removed as in VideoPose3D and MMPose). With ``scale=False`` s is fixed
    to 1: the rigid fit (rotation and translation only) of Moon et al.'s ``rigid_align``.

    Args:
        pred, gt: (N, J, 3) or (J, 3). mask: optional (N, J) / (J,) bool, joints used in the fit.
    Returns:
        aligned pred, same shape; with ``return_transform``, also ``(s (N,), R (N, 3, 3), t (N, 3))`` such that
        ``aligned = s * pred @ R.T + t``.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
    m = np.ones(pred.shape[:2]) if mask is None else np.asarray(mask, dtype=np.float64).reshape(pred.shape[:2])
    w = m / np.maximum(m.sum(1, keepdims=True), 1e-12)
    mu_p = (w[..., None] * pred).sum(1, keepdims=True)
    mu_g = (w[..., None] * gt).sum(1, keepdims=True)
    p0, g0 = pred - mu_p, gt - mu_g
    cov = np.einsum("nj,nja,njb->nab", w, g0, p0)  # sum_j w g p^T
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.ones_like(S)
    D[:, -1] = d
    R = U @ (D[..., None] * Vt)
    var_p = (w * (p0**2).sum(-1)).sum(1)
    s = (S * D).sum(1) / np.maximum(var_p, 1e-12) if scale else np.ones(len(pred))
    t = mu_g[:, 0] - s[:, None] * np.einsum("nab,nb->na", R, mu_p[:, 0])
    aligned = s[:, None, None] * np.einsum("nab,njb->nja", R, pred) + t[:, None]
    if single:
        aligned = aligned[0]
    if return_transform:
        return aligned, (s, R, t)
    return aligned

