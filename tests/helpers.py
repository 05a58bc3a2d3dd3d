"""Test helpers: turn synthetic sample records into a network batch (images, map coordinates, targets)."""

import cv2
import numpy as np
import torch

from cdlpose.geometry import apply_affine, rescale_points
from cdlpose.skeletons import geodesic_normalize


def synthetic_batch(samples, input_size=128):
    """Images (B, 3, S, S) normalised, ``uv`` (B, J, 2) map pixels, ``uvz`` with z root-relative mm,
    ``pose_3d`` normalised root-relative mm, validity masks."""
    imgs, uvs, poses = [], [], []
    m = input_size // 4
    for s in samples:
        img = cv2.resize(s["image"], (input_size, input_size), interpolation=cv2.INTER_AREA)
        imgs.append(torch.from_numpy(img).permute(2, 0, 1).float() / 255.0 - 0.5)
        uv = apply_affine(s["frame_to_image"], s["joints_2d"])
        uvs.append(rescale_points(uv, s["image"].shape[1::-1], (m, m)))
        poses.append(s["joints_3d"] - s["joints_3d"][:1])
    uv = torch.tensor(np.stack(uvs), dtype=torch.float32)
    rel = torch.tensor(np.stack(poses), dtype=torch.float32)
    norm, _ = geodesic_normalize(rel)
    B, J = uv.shape[:2]
    ones = torch.ones(B, J, dtype=torch.bool)
    return {
        "images": torch.stack(imgs),
        "uv": uv,
        "uvz": torch.cat([uv, rel[..., 2:3]], -1),
        "pose_3d": norm,
        "valid_2d": ones,
        "valid_3d": ones.clone(),
    }
