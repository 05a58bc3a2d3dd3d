"""The crop and augmentation pipeline shared by every data set.

``CropAugment`` turns a sample record (:mod:`cdlpose.data.sample`) into network inputs and keypoint targets:
one affine warp of the image into the 256×256 crop of the person box (aspect ratio fixed, ×1.25), with scale,
rotation, horizontal flip, colour jitter and synthetic occlusion sampled once per sample and applied
consistently to the image, the 2D joints, the 3D joints and the camera. Heatmap-level targets are *not* made here:
the trainer makes them on its device from these keypoints (:class:`cdlpose.codec.TargetEncoder`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from ..geometry import apply_affine, crop_transform, fix_aspect_ratio, invert_affine, rescale_points
from ..skeletons import GEODESIC_MEAN_MM, convert_joints, geodesic_length, get_skeleton
from .backgrounds import panorama_view, panoramas

__all__ = ["AugmentConfig", "CropAugment", "IMAGENET_MEAN", "IMAGENET_STD"]

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)


@dataclass
class AugmentConfig:
    input_size: int = 256
    box_enlarge: float = 1.25
    # the draws of Moon et al.'s PoseNet and the authors' release ("normal"): box size × (1 + clip(N(0, 1), -1, 1)
    # · scale), rotation clip(N(0, 1), -2, 2) · rotation degrees; "uniform": U(1 ± scale) and U(±rotation)
    distribution: str = "normal"
    scale: float = 0.25
    rotation: float = 30.0  # degrees ...
    rotation_prob: float = 0.6  # ... applied with this probability
    flip_prob: float = 0.5
    color_jitter: float = 0.2  # per-channel gain U(1 - c, 1 + c)
    occlusion_prob: float = 0.5
    occluder_dir: str | None = None  # folder of object images (e.g. Pascal VOC crops); procedural shapes if None
    train: bool = True
    derive_joints: bool = False  # make joints a source lacks from others (pelvis from the hips for COCO)
    # domain randomisation for rendered people (records with a ``depth`` map: inf where no person or occluder is)
    background_prob: float = 0.0  # > 0: this share of crops get a real-photo background (a panorama view) behind
    # the person, and every crop's area outside the rendered image gets one; training views come from the "train"
    # panoramas, evaluation's (train False: the same view for an index each time) from the held-out "val" ones
    background_dir: str | None = None  # folder of equirectangular panoramas (default: the shipped CC0 ones)
    shift: float = 0.0  # box centre moved by clip(N(0, 1), ±1) × shift × the box side, per axis (a detector's box)
    blur_prob: float = 0.0  # Gaussian blur, sigma U(0.3, 1.2) px per 128 px of crop
    noise_prob: float = 0.0  # Gaussian pixel noise, std U(0.01, 0.05) of the range
    jpeg_prob: float = 0.0  # JPEG re-compression at quality U(20, 80)
    gray_prob: float = 0.0  # grey-level image
    contrast: float = 0.0  # contrast × U(1 ± contrast) about the crop's mean
    # this share of crops end at a photo's edge: black (what a crop beyond an image's border gets at inference)
    # past a line drawn between the crop's side and the person's joints (10% of the body into it at most), on one
    # side of the crop, on two for a third of them; with train False, the same edges for an index each time
    edge_prob: float = 0.0

    def __post_init__(self) -> None:
        if self.distribution not in ("normal", "uniform"):
            raise ValueError(f"augment.distribution must be 'normal' or 'uniform'; got {self.distribution!r}")
        for name in ("background_prob", "blur_prob", "noise_prob", "jpeg_prob", "gray_prob", "edge_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"augment.{name} must be a probability in [0, 1]; got {getattr(self, name)!r}")


class CropAugment:
    """Sample record → dict of tensors:

    - ``image`` (3, S, S) float, ImageNet-normalised RGB;
    - ``uv`` (J, 2) output-map pixels (S/4 maps); ``z`` (J,) root-relative depth, mm;
    - ``pose_3d`` (J, 3) root-relative camera-space joints normalised to the 1077 mm geodesic length (eq. 10),
      ``scale`` the factor applied (divide by it to get mm in the original size);
    - ``joints_3d`` (J, 3) augmented camera-space joints (mm), ``f``, ``c`` the augmented crop camera, so that
      projecting ``joints_3d`` with it gives the crop pixels ``uv_crop`` (J, 2);
    - ``valid_2d`` (J,) annotated and inside the crop; ``valid_3d`` (J,);
    - ``crop_to_frame`` (2, 3) affine from crop pixels back to frame pixels; ``flipped`` bool.
    """

    def __init__(self, skeleton, config: AugmentConfig | None = None, seed: int | None = None) -> None:
        self.skeleton = get_skeleton(skeleton)
        self.cfg = config or AugmentConfig()
        self.rng = np.random.default_rng(seed)
        self.occluders = []
        if self.cfg.occluder_dir:
            folder = Path(self.cfg.occluder_dir)
            files = sorted(p for p in folder.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
            if not files:
                raise FileNotFoundError(f"augment.occluder_dir: no .png/.jpg images in {folder}")
            self.occluders = files

    def sample_params(self, rng: np.random.Generator | None = None) -> dict:
        cfg, r = self.cfg, (self.rng if rng is None else rng)
        if not cfg.train:
            p = {"scale": 1.0, "rot": 0.0, "flip": False, "gain": np.ones(3, np.float32), "occlude": False}
            if cfg.background_prob > 0:
                p["background"] = bool(r.random() < cfg.background_prob)
                p["view_seed"] = int(r.integers(2**31))
            if cfg.edge_prob > 0:
                p["edges"] = _edge_draw(r, cfg.edge_prob)
            return p
        if cfg.distribution == "normal":
            scale = 1.0 + float(np.clip(r.standard_normal(), -1.0, 1.0)) * cfg.scale
            rot = float(np.clip(r.standard_normal(), -2.0, 2.0)) * cfg.rotation if r.random() < cfg.rotation_prob else 0.0
        else:  # (the draws in the order of earlier versions: a seed gives the same augmentation as before)
            scale = float(r.uniform(1 - cfg.scale, 1 + cfg.scale))
            rot = float(r.uniform(-cfg.rotation, cfg.rotation)) if r.random() < cfg.rotation_prob else 0.0
        return {
            "scale": scale,
            "rot": rot,
            "flip": bool(r.random() < cfg.flip_prob),
            "gain": r.uniform(1 - cfg.color_jitter, 1 + cfg.color_jitter, 3).astype(np.float32),
            "occlude": bool(r.random() < cfg.occlusion_prob),
            **(self._randomisation(r) if self._randomises else {}),
        }

    @property
    def _randomises(self) -> bool:
        c = self.cfg
        return any(v > 0 for v in (c.background_prob, c.shift, c.blur_prob, c.noise_prob, c.jpeg_prob, c.gray_prob,
                                   c.contrast, c.edge_prob))

    def _randomisation(self, r: np.random.Generator) -> dict:
        """The domain-randomisation draws (after the classic ones: a seed gives the classic draws as before)."""
        c = self.cfg
        background, view_seed = bool(r.random() < c.background_prob), int(r.integers(2**31))
        return {
            **({"background": background, "view_seed": view_seed} if c.background_prob > 0 else {}),
            "shift": (np.clip(r.standard_normal(2), -1, 1) * c.shift).astype(np.float64),
            "blur": float(r.uniform(0.3, 1.2)) if r.random() < c.blur_prob else 0.0,
            "noise": float(r.uniform(0.01, 0.05)) if r.random() < c.noise_prob else 0.0,
            "jpeg": int(r.integers(20, 81)) if r.random() < c.jpeg_prob else 0,
            "gray": bool(r.random() < c.gray_prob),
            "contrast": float(r.uniform(1 - c.contrast, 1 + c.contrast)),
            # drawn last, and only when asked for: a seed gives the draws above as before
            **({"edges": _edge_draw(r, c.edge_prob)} if c.edge_prob > 0 else {}),
        }

    def to_skeleton(self, sample: dict) -> dict:
        """The record with its joints mapped by name onto this pipeline's skeleton; joints the source lacks are
        invalid (zeros with validity False), never silently zero."""
        src = get_skeleton(sample["skeleton"])
        if src == self.skeleton:
            return sample
        derive = self.cfg.derive_joints
        j2, v2 = convert_joints(sample["joints_2d"], src, self.skeleton, sample["valid_2d"], derive)
        j3, v3 = convert_joints(sample["joints_3d"], src, self.skeleton, sample["valid_3d"], derive)
        _, vis = convert_joints(sample["joints_2d"], src, self.skeleton, sample["visible"], derive)
        return dict(sample, joints_2d=j2, valid_2d=v2, joints_3d=j3, valid_3d=v3, visible=vis,
                    skeleton=self.skeleton.name)

    def __call__(self, sample: dict, params: dict | None = None, rng: np.random.Generator | None = None) -> dict:
        """``rng``: the generator for this sample's augmentation (default: the pipeline's own). The trainer passes
        one seeded by (seed, epoch, index), so augmentation does not depend on worker count or resumption."""
        rng = self.rng if rng is None else rng
        sample = self.to_skeleton(sample)
        p = self.sample_params(rng) if params is None else params
        S = self.cfg.input_size
        box = fix_aspect_ratio(sample["box"], 1.0, self.cfg.box_enlarge)
        size = box[2:] * p["scale"]
        centre = box[:2] + box[2:] / 2 + p.get("shift", np.zeros(2)) * size
        M = crop_transform(centre, size, (S, S), p["rot"], p["flip"])  # frame → crop
        warp = _compose(M, invert_affine(np.asarray(sample["frame_to_image"], np.float64)))  # image → crop
        img = cv2.warpAffine(sample["image"], warp, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        sk = self.skeleton
        uv_crop = apply_affine(M, np.asarray(sample["joints_2d"], np.float64))
        valid_2d = np.asarray(sample["valid_2d"], bool).copy()
        valid_3d = np.asarray(sample["valid_3d"], bool).copy()
        X = np.asarray(sample["joints_3d"], np.float64).copy()
        # the same in-plane rotation (and mirror) of the camera-space pose about the optical axis
        a = np.deg2rad(p["rot"])
        R2 = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
        if p["flip"]:
            R2 = np.diag([-1.0, 1.0]) @ R2
        X[:, :2] = X[:, :2] @ R2.T
        if p["flip"]:
            perm = sk.flip_index
            uv_crop, X, valid_2d, valid_3d = uv_crop[perm], X[perm], valid_2d[perm], valid_3d[perm]
        f = np.asarray(sample["f"], np.float64)
        s = np.sqrt(abs(np.linalg.det(M[:, :2])))
        f_aug = f * s
        c_aug = np.full(2, np.nan)
        if valid_3d.any():
            # principal point of the augmented crop camera (exact for square pixels, f_x = f_y)
            proj = X[valid_3d, :2] / X[valid_3d, 2:3] * f_aug
            c_aug = (uv_crop[valid_3d] - proj).mean(0)
        inside = (uv_crop >= -0.5).all(1) & (uv_crop <= S - 0.5).all(1)
        valid_2d &= inside
        root = sk.root if sk.root is not None else 0
        rel = X - X[root]
        scale = 1.0
        if valid_3d.all() and sk.geodesic_chains:
            scale = float(GEODESIC_MEAN_MM / geodesic_length(rel, sk))
        if "view_seed" in p:
            img = self._background(img, sample, warp, p)
        img = img.astype(np.float32) / 255.0
        img *= p["gain"]
        if p.get("contrast", 1.0) != 1.0:
            img = (img - img.mean()) * p["contrast"] + img.mean()
        if p["occlude"]:
            self._occlude(img, uv_crop[valid_2d] if valid_2d.any() else None, rng)
        img = self._degrade(img, p, rng) if self._randomises and self.cfg.train else img
        if len(p.get("edges", ())):  # after the camera's effects: the photo's edge is the crop's padding
            photo_edges(img, uv_crop[valid_2d], p["edges"])
        img = (np.clip(img, 0, 1) - IMAGENET_MEAN) / IMAGENET_STD
        m = S // 4
        return {
            "image": torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))),
            "uv": torch.from_numpy(rescale_points(uv_crop, (S, S), (m, m))).float(),
            "uv_crop": torch.from_numpy(uv_crop).float(),
            "z": torch.from_numpy(rel[:, 2]).float(),
            "pose_3d": torch.from_numpy(rel * scale).float(),
            "scale": torch.tensor(scale, dtype=torch.float32),
            "joints_3d": torch.from_numpy(X).float(),
            "f": torch.from_numpy(f_aug).float(),
            "c": torch.from_numpy(c_aug).float(),
            "valid_2d": torch.from_numpy(valid_2d),
            "valid_3d": torch.from_numpy(valid_3d),
            "crop_to_frame": torch.from_numpy(invert_affine(M)).float(),
            "flipped": torch.tensor(p["flip"]),
        }

    def _background(self, img: np.ndarray, sample: dict, warp: np.ndarray, p: dict) -> np.ndarray:
        """(S, S, 3) uint8 crop with a panorama view behind the person: everywhere outside the source image and,
        when ``p["background"]``, wherever the record's ``depth`` is inf (no person, no occluder). Records without
        depth keep their own background."""
        depth = sample.get("depth")
        if depth is None:
            return img
        S = img.shape[0]
        which = "train" if self.cfg.train else "val"
        pool = panoramas(which, self.cfg.background_dir)
        r = np.random.default_rng(p["view_seed"])
        view = panorama_view(pool[int(r.integers(len(pool)))], S, r)
        keep = np.isfinite(np.asarray(depth)) if p["background"] else np.ones(np.shape(depth), bool)
        alpha = cv2.warpAffine(keep.astype(np.float32), warp, (S, S), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)[..., None]
        return (img * alpha + view * (1.0 - alpha)).astype(np.float32)

    def _degrade(self, img: np.ndarray, p: dict, r: np.random.Generator) -> np.ndarray:
        """Blur, grey level, noise and JPEG compression of the (S, S, 3) float [0, 1] crop, as ``p`` draws."""
        S = img.shape[0]
        if p.get("blur", 0) > 0:
            img = cv2.GaussianBlur(img, (0, 0), p["blur"] * S / 128)
        if p.get("gray", False):
            img = np.repeat(img @ np.array([0.299, 0.587, 0.114], np.float32), 3).reshape(img.shape)
        if p.get("noise", 0) > 0:
            img = img + r.normal(0, p["noise"], img.shape).astype(np.float32)
        if p.get("jpeg", 0):
            _, buf = cv2.imencode(".jpg", (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8),
                                   [cv2.IMWRITE_JPEG_QUALITY, p["jpeg"]])
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED).reshape(img.shape).astype(np.float32) / 255.0
        return img

    def _occlude(self, img: np.ndarray, joints_uv, r: np.random.Generator) -> None:
        """Paste one occluder over the person (Sárándi et al.): an object image from ``occluder_dir`` or a
        procedural textured shape, 10–40% of the crop, centred near a random joint."""
        S = img.shape[0]
        size = int(r.uniform(0.1, 0.4) * S)
        centre = joints_uv[r.integers(len(joints_uv))] if joints_uv is not None else r.uniform(0, S, 2)
        x0, y0 = (np.round(centre + r.normal(0, 0.05 * S, 2)).astype(int) - size // 2)
        xs, ys = slice(max(x0, 0), min(x0 + size, S)), slice(max(y0, 0), min(y0 + size, S))
        if xs.stop <= xs.start or ys.stop <= ys.start:
            return
        h, w = ys.stop - ys.start, xs.stop - xs.start
        if self.occluders:
            path = self.occluders[r.integers(len(self.occluders))]
            occ = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if occ is None:
                raise ValueError(f"augment.occluder_dir: cannot read image {path}")
            occ = cv2.resize(occ, (size, size))[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
            alpha = occ[..., 3:4] / 255.0 if occ.shape[2] == 4 else np.ones((h, w, 1))
            rgb = cv2.cvtColor(occ[..., :3], cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
        else:
            alpha = np.zeros((size, size), np.float32)
            cv2.ellipse(alpha, (size // 2, size // 2), (size // 2, int(size * r.uniform(0.25, 0.5))),
                        float(r.uniform(0, 180)), 0, 360, 1.0, -1)
            alpha = alpha[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0, None]
            rgb = r.uniform(0, 1, 3).astype(np.float32) + r.normal(0, 0.05, (h, w, 1)).astype(np.float32)
        region = img[ys, xs]
        img[ys, xs] = region * (1 - alpha) + rgb * alpha


def _edge_draw(r: np.random.Generator, prob: float) -> np.ndarray:
    """(k, 2) photo edges of a crop: rows (side 0 left, 1 right, 2 top, 3 bottom; position U(0, 1)); k = 0 for
    ``1 - prob`` of the crops, else 1, or 2 for a third of them."""
    if not r.random() < prob:
        return np.zeros((0, 2))
    sides = r.permutation(4)[: 2 if r.random() < 1 / 3 else 1]
    return np.stack([sides.astype(np.float64), r.uniform(0, 1, len(sides))], 1)


def photo_edges(img: np.ndarray, joints_uv: np.ndarray, edges: np.ndarray) -> None:
    """Black out, in place, the (S, S, 3) crop ``img`` past each of ``edges`` (:func:`_edge_draw`): an edge at
    position t lies t of the way from the crop's side to 10% of the joints' extent inside their bounding box
    (``joints_uv`` (n, 2) crop px), so t = 0 leaves the crop whole and t = 1 cuts a little into the body."""
    S = img.shape[0]
    if len(joints_uv):
        lo, hi = joints_uv.min(0), joints_uv.max(0)
    else:
        lo, hi = np.zeros(2), np.full(2, S - 1.0)
    inset = 0.1 * float(np.max(hi - lo))
    for side, t in edges:
        axis, far = int(side) // 2, int(side) % 2  # axis 0: x (columns), 1: y (rows); far: right / bottom
        if far:  # black from this column/row on
            span = slice(max(int(np.ceil(S - t * (S - (hi[axis] - inset)))), 0), None)
        else:  # black before this column/row
            span = slice(0, max(int(np.floor(t * (lo[axis] + inset))), 0))
        img[(slice(None), span) if axis == 0 else span] = 0.0


def _compose(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """2×3 affine A ∘ B."""
    return np.concatenate([A[:, :2] @ B[:, :2], (A[:, :2] @ B[:, 2] + A[:, 2])[:, None]], 1)
