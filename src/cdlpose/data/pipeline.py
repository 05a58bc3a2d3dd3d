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

    def __post_init__(self) -> None:
        if self.distribution not in ("normal", "uniform"):
            raise ValueError(f"augment.distribution must be 'normal' or 'uniform'; got {self.distribution!r}")


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
            return {"scale": 1.0, "rot": 0.0, "flip": False, "gain": np.ones(3, np.float32), "occlude": False}
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
        centre = box[:2] + box[2:] / 2
        size = box[2:] * p["scale"]
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
        img = img.astype(np.float32) / 255.0
        img *= p["gain"]
        if p["occlude"]:
            self._occlude(img, uv_crop[valid_2d] if valid_2d.any() else None, rng)
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


def _compose(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """2×3 affine A ∘ B."""
    return np.concatenate([A[:, :2] @ B[:, :2], (A[:, :2] @ B[:, 2] + A[:, 2])[:, None]], 1)
