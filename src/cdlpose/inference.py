"""Inference on people's own images: ``Predictor`` turns images and person boxes into 2D, 2.5D and 3D poses.

Top-down, as in the paper's MuPoTS-3D experiments: each person box is enlarged ×1.25 to a square, cropped to the
network's input size, and the network's outputs are mapped back to the image. Without boxes the whole image is
one person.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from .codec import index_to_depth
from .data.pipeline import IMAGENET_MEAN, IMAGENET_STD
from .data.readers import load_image
from .geometry import apply_affine, crop_transform, fix_aspect_ratio, invert_affine, rescale_points
from .skeletons import get_skeleton

__all__ = ["Predictor", "InputError", "check_box", "root_depth_estimate"]

#: RootNet's assumed real-world area of a person box (2 m × 2 m), mm².
ROOTNET_AREA_MM2 = 2000.0 * 2000.0


class InputError(ValueError):
    """Bad input for inference (image, box, checkpoint); the message names it."""


def check_box(box, image_size, where: str) -> np.ndarray:
    """A person box ``[x, y, w, h]`` (pixels) as float64, or :class:`InputError` naming ``where`` when it has no
    area, is not finite, or lies entirely outside the ``(width, height)`` image."""
    b = np.asarray(box, np.float64).reshape(-1)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise InputError(f"{where}: box must be 4 finite numbers [x, y, w, h], got {box!r}")
    if b[2] <= 0 or b[3] <= 0:
        raise InputError(f"{where}: box {b.tolist()} has zero area (width and height must be > 0)")
    W, H = image_size
    if b[0] >= W or b[1] >= H or b[0] + b[2] <= 0 or b[1] + b[3] <= 0:
        raise InputError(f"{where}: box {b.tolist()} lies outside the {W}×{H} image")
    # a box reaching far beyond the image is a broken detection (and its pixel coordinates overflow OpenCV's
    # drawing): at most 10 image sizes out on any side
    if b[0] < -10 * W or b[1] < -10 * H or b[0] + b[2] > 11 * W or b[1] + b[3] > 11 * H:
        raise InputError(f"{where}: box {b.tolist()} reaches far beyond the {W}×{H} image (at most 10 image sizes "
                         "out on any side)")
    return b


def root_depth_estimate(box, focal) -> float:
    """RootNet's k-value (Moon et al. 2019): the root depth (mm) at which a 2 m × 2 m person fills the box,
    ``k = sqrt(fx · fy · A_real / A_box)``. An estimate: it ignores the person's real size and pose."""
    fx, fy = focal
    return float(np.sqrt(fx * fy * ROOTNET_AREA_MM2 / (box[2] * box[3])))


class Predictor:
    """Poses from images with a trained network.

    Use :meth:`from_checkpoint`; then :meth:`predict` with a list of images (RGB uint8 arrays or paths) and,
    per image, a list of person boxes ``[x, y, w, h]`` (or ``None`` for the whole image).
    """

    def __init__(self, net, config, device="cpu", flip: bool = False) -> None:
        self.net = net.to(device).eval()
        self.cfg = config
        self.device = torch.device(device)
        self.flip = flip
        self.skeleton = get_skeleton(config.model.skeleton)
        self.size = config.augment.input_size
        self.enlarge = config.augment.box_enlarge
        self.depth_range = config.codec.depth_range
        self._flip_index = torch.as_tensor(self.skeleton.flip_index, device=self.device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | None = None, flip: bool = False,
                        skeleton: str | None = None) -> "Predictor":
        """Rebuild the network from a checkpoint's own config. ``skeleton``: refuse a checkpoint of another one."""
        from .engine import load_model

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            net, cfg, _ = load_model(path, device)
        except (FileNotFoundError, ValueError) as e:  # missing, unreadable or not a cdlpose checkpoint
            raise InputError(str(e)) from None
        if skeleton is not None and get_skeleton(skeleton).name != cfg.model.skeleton:
            raise InputError(f"{path}: the checkpoint predicts the {cfg.model.skeleton} skeleton, not {skeleton}")
        return cls(net, cfg, device, flip)

    def _crop(self, image: np.ndarray, box: np.ndarray):
        # boxes are in COCO's edge convention (the image spans [0, W]); joints and warps in the pixel-centre one
        # (pixel i is centred on i, the image spans [-0.5, W - 0.5]): shift by half a pixel, so that the crops of
        # an image and of its mirror are exact mirrors
        box = np.asarray(box, np.float64) - np.array([0.5, 0.5, 0.0, 0.0])
        sq = fix_aspect_ratio(box, 1.0, self.enlarge)
        M = crop_transform(sq[:2] + sq[2:] / 2, sq[2:], (self.size, self.size))
        crop = cv2.warpAffine(image, M, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        x = (crop.astype(np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), M, sq

    @torch.no_grad()
    def _run(self, crops: torch.Tensor) -> dict:
        x = crops.to(self.device)
        out = self.net.predict(x)
        uvz, conf = out["uvz"].float(), out["confidence"].float()
        if self.flip:
            f = self.net.predict(x.flip(-1))
            uvz_f = f["uvz"].float()[:, self._flip_index]
            uvz_f[..., 0] = x.shape[-1] // 4 - 1 - uvz_f[..., 0]
            uvz = 0.5 * (uvz + uvz_f)
            conf = 0.5 * (conf + f["confidence"].float()[:, self._flip_index])
        pose = self.net.lifting(uvz).float()
        return {"uvz": uvz.cpu().numpy(), "pose_3d": pose.cpu().numpy(), "confidence": conf.cpu().numpy()}

    def predict(self, images, boxes=None, focal=None, batch_size: int = 16, names=None) -> list[list[dict]]:
        """Per image, a list of people, each a dict:

        - ``box`` [x, y, w, h] image pixels (as given); ``keypoints_2d`` (J, 2) image pixels;
        - ``confidence`` (J,) in [0, 1] (:func:`cdlpose.codec.joint_confidence`);
        - ``uvz`` (J, 3) the 2.5D estimate: u, v image pixels and z the root-relative depth in mm;
        - ``keypoints_3d`` (J, 3) mm, root-relative, camera axes (x right, y down, z forward), in the
          geodesic-normalised scale of the paper's eq. (10);
        - ``root_depth_mm`` RootNet's k-value estimate from the box area and ``focal`` (default: 1.2 × the image's
          larger side, a typical field of view), and ``keypoints_3d_camera`` (J, 3) the pose placed at that
          estimated root position — both estimates, for a shared 3D view of several people.

        ``images``: RGB uint8 arrays or paths; ``boxes``: per image ``None`` (whole image) or a list of boxes;
        ``focal``: (fx, fy) px or ``None``; ``names``: labels for error messages.
        """
        if isinstance(images, (str, Path, np.ndarray)):
            images = [images]
        n = len(images)
        boxes = [None] * n if boxes is None else list(boxes)
        if len(boxes) != n:
            raise InputError(f"got {n} images but {len(boxes)} box lists")
        names = names or [str(im) if isinstance(im, (str, Path)) else f"image {i}" for i, im in enumerate(images)]
        jobs = []  # (image index, box, crop tensor, M)
        loaded = []
        for i, im in enumerate(images):
            img = load_image(im) if isinstance(im, (str, Path)) else im
            if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8):
                raise InputError(f"{names[i]}: expected an RGB uint8 image (H, W, 3), got "
                                 f"{getattr(img, 'shape', type(img))} {getattr(img, 'dtype', '')}")
            H, W = img.shape[:2]
            loaded.append(img)
            bs = boxes[i] if boxes[i] is not None else [[0.0, 0.0, float(W), float(H)]]
            for k, b in enumerate(bs):
                b = check_box(b, (W, H), f"{names[i]} box {k}")
                crop, M, _ = self._crop(img, b)
                jobs.append((i, b, crop, M))
        results: list[list[dict]] = [[] for _ in range(n)]
        S, m = self.size, self.size // 4
        C = self.cfg.model.depth_bins
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            out = self._run(torch.stack([j[2] for j in chunk]))
            for k, (i, b, _, M) in enumerate(chunk):
                H, W = loaded[i].shape[:2]
                f = np.asarray(focal if focal is not None else (1.2 * max(W, H),) * 2, np.float64)
                uv_img = apply_affine(invert_affine(M), rescale_points(out["uvz"][k, :, :2].astype(np.float64), (m, m), (S, S)))
                z_mm = index_to_depth(torch.from_numpy(out["uvz"][k, :, 2]), C, self.depth_range).numpy()
                pose = out["pose_3d"][k].astype(np.float64)
                root = self.skeleton.root
                k_depth = root_depth_estimate(b, f)
                c = np.array([W, H], np.float64) / 2 - 0.5
                root_xyz = np.append((uv_img[root] - c) / f * k_depth, k_depth)
                results[i].append({
                    "box": b.tolist(),
                    "keypoints_2d": uv_img,
                    "confidence": out["confidence"][k].astype(np.float64),
                    "uvz": np.concatenate([uv_img, z_mm[:, None]], 1),
                    "keypoints_3d": pose,
                    "root_depth_mm": k_depth,
                    "keypoints_3d_camera": pose + root_xyz,
                })
        return results
