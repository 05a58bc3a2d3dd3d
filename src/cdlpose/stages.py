"""What each training stage runs: the network's forward for stage 1 (volumes) or stage 2 (the lifting block,
the rest frozen or fine-tuned), and stage 2's cached 2.5D inputs."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import Dataset

from .model import CascadedLiftingNet

__all__ = ["StageModel", "CachedInputs"]


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
