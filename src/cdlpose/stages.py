"""What each training stage runs: the network's forward for stage 1 (volumes) or stage 2 (the lifting block,
the rest frozen or fine-tuned), and stage 2's cached 2.5D inputs."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .data.datasets import collate
from .evaluation import crop_camera
from .model import CascadedLiftingNet
from .skeletons import geodesic_normalize, get_skeleton

__all__ = ["StageModel", "CachedInputs", "cache_inputs", "lifting_examples"]


class StageModel(nn.Module):
    """What one training step runs: stage 1 the volumes, stage 2 the lifting block on the (frozen) volumes."""

    def __init__(self, net: CascadedLiftingNet, stage: int, frozen: bool) -> None:
        super().__init__()
        self.net, self.stage, self.frozen = net, stage, frozen

    def forward(self, images: torch.Tensor | None = None, uvz: torch.Tensor | None = None,
                camera: torch.Tensor | None = None) -> dict:
        if uvz is not None:  # stage 2 on cached 2.5D estimates of the frozen network
            return {"uvz": uvz, "pose_3d": self.net.lifting(uvz, camera)}
        if self.stage == 1:
            return self.net.volumes(images)
        if self.frozen:
            with torch.no_grad():
                out = {"uvz": self.net.volumes(images)["uvz"]}
        else:
            out = self.net.volumes(images)
        out["pose_3d"] = self.net.lifting(out["uvz"].float(), camera)
        return out

    def train(self, mode: bool = True):
        super().train(mode)
        if self.stage == 2 and self.frozen:  # frozen BatchNorm statistics too
            self.net.eval()
            self.net.lifting.train(mode)
        return self


class CachedInputs(Dataset):
    """Stage 2 with a frozen network: its 2.5D estimates (``uvz`` (N, J, 3)) with the targets (``pose_3d``
    (N, J, 3) normalised mm, ``valid_3d`` (N, J)) and ``sample_id`` (N,), computed once by
    :meth:`Trainer._cache_inputs`."""

    def __init__(self, uvz: torch.Tensor, pose_3d: torch.Tensor, valid_3d: torch.Tensor, sample_id: list,
                 camera: torch.Tensor | None = None) -> None:
        self.uvz, self.pose_3d, self.valid_3d, self.sample_id = uvz, pose_3d, valid_3d, sample_id
        self.camera = camera  # (N, 4) the crops' (fx, fy, cx, cy): what a lift_input=camera block also sees

    def set_epoch(self, epoch: int) -> None:
        pass

    def __len__(self) -> int:
        return len(self.uvz)

    def __getitem__(self, i: int) -> dict:
        item = {"uvz": self.uvz[i], "pose_3d": self.pose_3d[i], "valid_3d": self.valid_3d[i],
                "sample_id": self.sample_id[i]}
        if self.camera is not None:
            item["camera"] = self.camera[i]
        return item


def cache_inputs(net: CascadedLiftingNet, images_3d, t, device, autocast, pin_memory: bool, worker_init_fn,
                 stop=lambda: False, progress: bool = False) -> CachedInputs:
    """The frozen network's 2.5D estimates of ``t.cache_passes`` augmented passes over the 3D training images
    ``images_3d`` (pass k augmented as epoch k would be), so that stage 2 trains only the MLP. ``t``: the train
    config; ``autocast``: the run's mixed-precision context; ``stop()`` true (Ctrl-C) raises KeyboardInterrupt
    (nothing to save: the cache is rebuilt, identically, on resume)."""
    from tqdm.auto import tqdm

    cols = {"uvz": [], "pose_3d": [], "valid_3d": [], "camera": [], "sample_id": []}
    net.eval()
    bar = tqdm(total=t.cache_passes * len(images_3d), desc="stage 2: caching 2.5D estimates", unit="img",
               disable=not progress, dynamic_ncols=True, leave=False)
    for k in range(t.cache_passes):
        images_3d.set_epoch(k)
        # its own generator: the run's RNG stream (dropout) is the same with and without the cache
        loader = DataLoader(images_3d, batch_size=t.eval_batch_size, num_workers=t.workers, collate_fn=collate,
                            worker_init_fn=worker_init_fn, pin_memory=pin_memory,
                            generator=torch.Generator().manual_seed(t.seed))
        for batch in loader:
            if stop():
                raise KeyboardInterrupt
            with torch.no_grad(), autocast():
                uvz = net.volumes(batch["image"].to(device, non_blocking=True))["uvz"]
            cols["uvz"].append(uvz.float().cpu())
            cols["pose_3d"].append(batch["pose_3d"])
            cols["valid_3d"].append(batch["valid_3d"])
            cols["camera"].append(crop_camera(batch))
            cols["sample_id"].extend(f"{sid}#pass{k}" for sid in batch["sample_id"])
            bar.update(len(batch["sample_id"]))
    bar.close()
    return CachedInputs(*(torch.cat(cols[k]) for k in ("uvz", "pose_3d", "valid_3d")), cols["sample_id"],
                        torch.cat(cols["camera"]))


def lifting_examples(joints_2d: np.ndarray, joints_3d: np.ndarray, boxes: np.ndarray, input_size: int,
                     depth_bins: int, depth_range: float, scale: np.ndarray | None = None,
                     flip: np.ndarray | None = None, skeleton="h36m17", f: np.ndarray | None = None,
                     c: np.ndarray | None = None):
    """The lifting block's exact inputs and targets for people seen in frames, as the crop pipeline
    (:class:`cdlpose.data.pipeline.CropAugment` without rotation) and soft-argmax would give them — no image.

    Args:
        joints_2d (N, J, 2) frame pixels; joints_3d (N, J, 3) camera mm; boxes (N, 4) tight person boxes (x, y, w, h);
        scale (N,) the crop's scale factor (default 1); flip (N,) bool mirrored crops (default none);
        f, c (N, 2) the frame camera's focal length and principal point, px (optional).
    Returns:
        ``uvz`` (N, J, 3) float32: u, v in the output map's pixels (``input_size / 4``), z the continuous depth index
        of the root-relative depth; ``pose_3d`` (N, J, 3) float32: root-relative mm normalised by eq. (10); with
        ``f`` and ``c`` also ``camera`` (N, 4) float32: the crop camera (fx, fy, cx, cy) in input-crop pixels, as the
        crop pipeline gives it (a mirrored crop's cx → S − 1 − cx).
    """
    sk = get_skeleton(skeleton)
    n = len(joints_2d)
    m = input_size // 4
    scale = np.ones(n) if scale is None else np.asarray(scale, np.float64)
    flip = np.zeros(n, bool) if flip is None else np.asarray(flip, bool)
    boxes = np.asarray(boxes, np.float64)
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    # the square crop box (×1.25 of the long side) scaled about its centre; map pixel centres at integers
    side = boxes[:, 2:].max(1) * 1.25 * scale
    uv = (np.asarray(joints_2d, np.float64) - centre[:, None]) / side[:, None, None] * m
    X = np.asarray(joints_3d, np.float64).copy()
    uv[flip, :, 0] *= -1
    X[flip, :, 0] *= -1
    uv += m / 2 - 0.5
    uv[flip] = uv[flip][:, sk.flip_index]
    X[flip] = X[flip][:, sk.flip_index]
    rel = X - X[:, sk.root : sk.root + 1]
    z = rel[..., 2] * (depth_bins / depth_range) + (depth_bins / 2 - 0.5)
    pose, _ = geodesic_normalize(rel, sk)
    uvz = np.concatenate([uv, z[..., None]], -1).astype(np.float32)
    if f is None or c is None:
        return uvz, pose.astype(np.float32)
    S = input_size
    k = (S / side)[:, None]
    cam = np.concatenate([np.asarray(f, np.float64) * k, (np.asarray(c, np.float64) - centre) * k + S / 2 - 0.5], 1)
    cam[flip, 2] = S - 1 - cam[flip, 2]
    return uvz, pose.astype(np.float32), cam.astype(np.float32)
