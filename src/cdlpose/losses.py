"""Training losses, each over the model's named outputs and the codec's targets, with masks.

2D-only samples (MPII, COCO) carry ``z`` weights of zero, so every depth term ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = [
    "heatmap_mse",
    "cube_mse",
    "ordinal_depth_loss",
    "ordinal_decode",
    "integral_l1",
    "pose_l1",
    "LossWeights",
    "compute_losses",
]


def _weighted_mean(err: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Sum of ``err * weight`` over the weight's mass (0 when nothing is weighted, keeping the graph)."""
    w = weight.to(err.dtype).expand_as(err)
    return (err * w).sum() / w.sum().clamp_min(1.0)


def heatmap_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Joint / bone heatmap loss (paper eq. 2): squared error per pixel, averaged over the pixels of the maps
    with weight 1. pred, target: (B, N, H, W); weight: (B, N)."""
    return _weighted_mean((pred.float() - target) ** 2, weight[..., None, None])


def cube_mse(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Depth-centric cube loss (paper eq. 3): squared error averaged over the cubes of weighted samples.
    pred, target: (B, C, H, W); weight: (B,)."""
    return _weighted_mean((pred.float() - target) ** 2, weight[:, None, None, None])


def ordinal_depth_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Ordinal depth loss (paper eqs. 4–5), averaged over labelled pixels.

    Logit c (0-based) gives ``P^c = sigmoid(logit_c) = P(d > c)`` for the pixel's depth bin d, so the loss of a
    pixel is ``-[sum_{c < d} log P^c + sum_{c >= d} log(1 - P^c)]`` (eq. 4's 1-based sums, shifted by one). Every
    threshold on the wrong side adds to the loss, so it grows with the distance between predicted and true bin.

    Args:
        logits: (B, C, H, W); labels: (B, H, W) long in [0, C); mask: (B, H, W) bool.
    """
    C = logits.shape[1]
    c = torch.arange(C, device=logits.device).view(1, C, 1, 1)
    target = (c < labels[:, None]).to(torch.float32)
    per_c = torch.nn.functional.binary_cross_entropy_with_logits(logits.float(), target, reduction="none")
    return _weighted_mean(per_c.sum(1), mask)


def ordinal_decode(logits: torch.Tensor) -> torch.Tensor:
    """Depth bin from ordinal logits: the number of thresholds with P(d > c) > 0.5. (B, C, H, W) → (B, H, W)."""
    return (logits > 0).sum(1)


def integral_l1(uvz: torch.Tensor, target_uv: torch.Tensor, target_z: torch.Tensor, weight_2d: torch.Tensor,
                weight_z: torch.Tensor) -> torch.Tensor:
    """Integral regression loss (PoseNet): L1 between soft-argmax (u, v, z) and the targets, in output-map
    pixels and depth-bin units; z is masked for 2D-only data.

    uvz: (B, J, 3); target_uv: (B, J, 2); target_z: (B, J) continuous depth index; weights: (B, J).
    """
    uv = _weighted_mean((uvz[..., :2] - target_uv).abs(), weight_2d[..., None])
    z = _weighted_mean((uvz[..., 2] - target_z).abs(), weight_z)
    return uv + z


def pose_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """3D pose loss (paper eq. 9): mean over valid joints of ``||J_gt - J_pred||_1`` in mm.
    pred, target: (B, J, 3) root-relative mm; weight: (B, J)."""
    return _weighted_mean((pred - target).abs().sum(-1), weight)


@dataclass
class LossWeights:
    joint: float = 1.0
    bone: float = 1.0
    cube: float = 1.0
    ordinal: float = 0.01
    integral: float = 1.0
    pose: float = 0.0  # stage 2 sets this and zeroes the rest


def compute_losses(outputs: dict, targets: dict, batch: dict, weights: LossWeights) -> dict:
    """Every loss term the outputs allow, weighted, and their sum as ``total``.

    ``targets``: :class:`cdlpose.codec.TargetEncoder` output. ``batch``: ``uv`` (B, J, 2) output-map pixels,
    ``pose_3d`` (B, J, 3) normalised root-relative mm, ``valid_2d``/``valid_3d`` (B, J). Terms whose weight is 0
    or whose output the variant lacks are left out. Returns ``{name: unweighted value, ..., "total": sum}``.
    """
    terms = {}
    if weights.joint and "joint_heatmaps" in outputs:
        terms["joint"] = heatmap_mse(outputs["joint_heatmaps"], targets["joint_heatmaps"], targets["joint_weight"])
    if weights.bone and "bone_heatmaps" in outputs:
        terms["bone"] = heatmap_mse(outputs["bone_heatmaps"], targets["bone_heatmaps"], targets["bone_weight"])
    if weights.cube and "cube" in outputs:
        terms["cube"] = cube_mse(outputs["cube"], targets["cube"], targets["cube_weight"])
    if weights.ordinal and "ordinal_logits" in outputs:
        terms["ordinal"] = ordinal_depth_loss(outputs["ordinal_logits"], targets["ordinal_labels"],
                                              targets["ordinal_mask"])
    if weights.integral:
        terms["integral"] = integral_l1(outputs["uvz"], batch["uv"], targets["depth_index"],
                                        targets["joint_weight"], targets["depth_weight"])
    if weights.pose:
        terms["pose"] = pose_l1(outputs["pose_3d"], batch["pose_3d"], batch["valid_3d"])
    total = sum(getattr(weights, k) * v for k, v in terms.items())
    terms["total"] = total
    return terms
