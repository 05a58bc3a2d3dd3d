"""Target encoding and decoding: joint heatmaps, bone heatmaps, the depth-centric cube, ordinal labels,
soft-argmax.

Everything is batched torch, runs on the device of its inputs, and is built from keypoints; no Python loop
runs over pixels or samples. Coordinates are output-map pixels with pixel centres at integers (see
:mod:`cdlpose.geometry`); depth is root-relative camera-space Z in millimetres, positive away from the camera.

Depth discretisation (paper, "Depth-Centric Block"): a root-relative depth z (mm) in [-D/2, D/2] is scaled to
``z * C / D`` in [-C/2, C/2]; its bin is ``floor(z * C / D + C / 2)`` clamped to [0, C - 1]. The *continuous*
depth index used by integral regression puts bin centres at integers: ``z * C / D + C / 2 - 0.5``, so
``round(continuous) == bin``.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch

from .skeletons import Skeleton, get_skeleton

__all__ = [
    "CodecConfig",
    "TargetEncoder",
    "BoneSigmaSchedule",
    "gaussian_heatmaps",
    "bone_heatmaps",
    "depth_to_index",
    "depth_to_bin",
    "index_to_depth",
    "depth_cube",
    "ordinal_labels",
    "soft_argmax_2d",
    "soft_argmax_3d",
    "joint_confidence",
]


# --------------------------------------------------------------------------------------------- encoding


def _axes(size, like: torch.Tensor):
    H, W = size
    xs = torch.arange(W, device=like.device, dtype=like.dtype)
    ys = torch.arange(H, device=like.device, dtype=like.dtype)
    return xs, ys


def gaussian_heatmaps(uv: torch.Tensor, valid: torch.Tensor | None, size, sigma: float = 2.0) -> torch.Tensor:
    """2D Gaussian joint heatmaps, peak 1 at each keypoint.

    Separable: the map is the outer product of a 1D Gaussian in x and one in y, so the cost is one multiply
    per output pixel.

    Args:
        uv: (B, J, >=2) output-map pixels. valid: (B, J) bool or None. size: (H, W). sigma: px.
    Returns:
        (B, J, H, W) float, zero for invalid joints.
    """
    uv = uv.float() if not uv.is_floating_point() else uv
    xs, ys = _axes(size, uv)
    gx = torch.exp(-((xs - uv[..., 0:1]) ** 2) / (2 * sigma**2))  # (B, J, W)
    gy = torch.exp(-((ys - uv[..., 1:2]) ** 2) / (2 * sigma**2))  # (B, J, H)
    if valid is not None:
        gy = gy * valid[..., None].to(gy.dtype)
    return gy[..., :, None] * gx[..., None, :]


def bone_heatmaps(
    uv: torch.Tensor,
    valid: torch.Tensor | None,
    bones,
    size,
    sigma: float,
    out: torch.Tensor | None = None,
    workspace: torch.Tensor | None = None,
) -> torch.Tensor:
    """Bone heatmaps (paper eq. 1): ``exp(-d^2 / (2 sigma^2))``, d the distance to the parent–child segment.

    One map per bone; a bone is drawn only where both its joints are valid (other maps are zero). With
    ``q = p - a`` and ``s = q . (b - a)`` (separable in x and y) and ``t = clamp(s / |b - a|^2, 0, 1)``, the
    squared distance to the segment is ``|q|^2 + t (t |b - a|^2 - 2 s)``, evaluated with in-place passes over one
    output and one scratch tensor.

    Args:
        uv: (B, J, >=2) output-map pixels; valid: (B, J) bool or None; bones: sequence of (parent, child)
        indices; size: (H, W); sigma: px. ``out`` and ``workspace``: optional (B, K, H, W) buffers to reuse.
    Returns:
        (B, K, H, W), K = len(bones).
    """
    H, W = size
    uv = uv[..., :2] if uv.is_floating_point() else uv[..., :2].float()
    idx = torch.as_tensor(bones, device=uv.device, dtype=torch.long)
    a = uv[:, idx[:, 0]]  # (B, K, 2)
    ab = uv[:, idx[:, 1]] - a
    len2 = (ab**2).sum(-1).clamp_min(1e-12)[..., None, None]  # (B, K, 1, 1)
    xs, ys = _axes(size, uv)
    qx = xs - a[..., 0:1]  # (B, K, W)
    qy = ys - a[..., 1:2]  # (B, K, H)
    shape = (uv.shape[0], len(bones), H, W)
    out = uv.new_empty(shape) if out is None else out
    tmp = uv.new_empty(shape) if workspace is None else workspace
    torch.add((qy * ab[..., 1:2])[..., :, None], (qx * ab[..., 0:1])[..., None, :], out=out)  # s
    torch.div(out, len2, out=tmp).clamp_(0.0, 1.0)  # t
    out.mul_(-2.0).addcmul_(tmp, len2.expand_as(tmp)).mul_(tmp)  # t (t |ab|^2 - 2 s)
    out.add_((qy**2)[..., :, None]).add_((qx**2)[..., None, :])  # + |q|^2 = d^2
    out.mul_(-1.0 / (2 * sigma**2)).exp_()
    if valid is not None:
        bad = ~(valid[:, idx[:, 0]] & valid[:, idx[:, 1]])
        if bad.any():
            out[bad] = 0.0
    return out


def depth_to_index(z_mm: torch.Tensor, bins: int = 64, depth_range: float = 2000.0) -> torch.Tensor:
    """Continuous depth index, bin centres at integers: ``z * C / D + C / 2 - 0.5``."""
    return z_mm * (bins / depth_range) + (bins / 2 - 0.5)


def depth_to_bin(z_mm: torch.Tensor, bins: int = 64, depth_range: float = 2000.0) -> torch.Tensor:
    """Discrete depth bin in [0, C): ``floor(z * C / D + C / 2)`` clamped (paper, Depth-Centric block)."""
    return torch.floor(z_mm * (bins / depth_range) + bins / 2).clamp_(0, bins - 1).long()


def index_to_depth(index: torch.Tensor, bins: int = 64, depth_range: float = 2000.0) -> torch.Tensor:
    """Continuous (or integer) depth index back to root-relative depth in mm (inverse of depth_to_index)."""
    return (index - (bins / 2 - 0.5)) * (depth_range / bins)


def depth_cube(
    heatmaps: torch.Tensor, bins_idx: torch.Tensor, bins: int, select: torch.Tensor | None = None, out=None
) -> torch.Tensor:
    """The depth-centric cube: channel c holds the heatmaps of the joints whose depth bin is c (max-combined).

    Args:
        heatmaps: (B, J, H, W) joint heatmaps. bins_idx: (B, J) long depth bins.
        select: optional (B, J) bool, the joints that enter the cube (e.g. those with a valid depth).
        out: optional (B, C, H, W) buffer to reuse.
    Returns:
        (B, C, H, W): zeros, then one max-reduction of the joint maps into their channels.
    """
    B, J, H, W = heatmaps.shape
    cube = heatmaps.new_zeros(B, bins, H, W) if out is None else out.zero_()
    rows = (torch.arange(B, device=heatmaps.device)[:, None] * bins + bins_idx).flatten()
    src = heatmaps.reshape(B * J, H * W)
    if select is not None:
        keep = select.flatten()
        rows, src = rows[keep], src[keep]
    with warnings.catch_warnings():  # index_reduce_ warns that its API is in beta; the call here is pinned
        warnings.simplefilter("ignore", UserWarning)
        cube.view(B * bins, H * W).index_reduce_(0, rows, src, "amax", include_self=True)
    return cube


def ordinal_labels(heatmaps: torch.Tensor, bins_idx: torch.Tensor, threshold: float = 0.1):
    """Per-pixel ordinal depth labels for the ordinal loss (paper eqs. 4–5).

    The label of a pixel is the depth bin of the joint whose heatmap is largest there; pixels where no joint's
    heatmap exceeds ``threshold`` are masked out.

    Args:
        heatmaps: (B, J, H, W) joint heatmaps (zero for joints without a valid depth). bins_idx: (B, J) long.
    Returns:
        ``(labels (B, H, W) long, mask (B, H, W) bool)``.
    """
    peak, joint = heatmaps.max(dim=1)
    labels = torch.gather(bins_idx, 1, joint.flatten(1)).view_as(joint)
    return labels, peak > threshold


@dataclass
class CodecConfig:
    """Target settings. Sizes in output-map pixels; depth in mm."""

    heatmap_size: tuple[int, int] = (64, 64)  # (H, W) of the output maps
    input_size: tuple[int, int] = (256, 256)  # (H, W) of the network input crop
    sigma: float = 2.0  # joint heatmap std (px at heatmap_size)
    bone_sigma_start: float = 4.0  # bone heatmap std at epoch 0 (px)
    bone_sigma_end: float = 1.5  # bone heatmap std at the last epoch (px)
    depth_bins: int = 64  # C
    depth_range: float = 2000.0  # D, mm: root-relative depths in [-D/2, D/2]
    ordinal_threshold: float = 0.1  # min heatmap value for a pixel to get an ordinal label


class BoneSigmaSchedule:
    """Anneals the bone-heatmap σ from ``start`` to ``end`` over ``epochs`` (paper: the kernel shrinks as
    training goes). ``mode``: ``linear`` or ``cosine``. The trainer calls ``step()`` once per epoch;
    ``sigma`` is the value for the current epoch. Its state goes into checkpoints.
    """

    def __init__(self, start: float, end: float, epochs: int, mode: str = "linear") -> None:
        if mode not in ("linear", "cosine"):
            raise ValueError(f"bone sigma schedule mode must be 'linear' or 'cosine', got {mode!r}")
        if start <= 0 or end <= 0 or epochs < 1:
            raise ValueError("bone sigma schedule needs start > 0, end > 0 and epochs >= 1")
        self.start, self.end, self.epochs, self.mode = float(start), float(end), int(epochs), mode
        self.epoch = 0

    def value(self, epoch: int) -> float:
        frac = min(max(epoch / max(self.epochs - 1, 1), 0.0), 1.0)
        if self.mode == "cosine":
            frac = 0.5 * (1 - math.cos(math.pi * frac))
        return self.start + (self.end - self.start) * frac

    @property
    def sigma(self) -> float:
        return self.value(self.epoch)

    def step(self) -> float:
        self.epoch += 1
        return self.sigma

    def state_dict(self) -> dict:
        return {"start": self.start, "end": self.end, "epochs": self.epochs, "mode": self.mode, "epoch": self.epoch}

    def load_state_dict(self, state: dict) -> None:
        self.start, self.end = float(state["start"]), float(state["end"])
        self.epochs, self.mode, self.epoch = int(state["epochs"]), str(state["mode"]), int(state["epoch"])


class TargetEncoder:
    """Builds every training target of the network from keypoints, on their device.

    ``encode(uvz, valid, z_valid, bone_sigma)`` with ``uvz`` (B, J, 3): u, v in output-map pixels and z the
    root-relative depth in mm; ``valid`` (B, J) 2D validity; ``z_valid`` (B, J) depth validity (False for 2D-only
    data). Returns a dict:

    - ``joint_heatmaps`` (B, J, H, W), ``joint_weight`` (B, J);
    - ``bone_heatmaps`` (B, K, H, W), ``bone_weight`` (B, K);
    - ``depth_bins`` (B, J) long, ``depth_index`` (B, J) continuous, ``depth_weight`` (B, J);
    - ``cube`` (B, C, H, W), ``cube_weight`` (B,): 1 where every 2D-valid joint has a depth (the cube of any
      other sample is zero and must not be trained on);
    - ``ordinal_labels`` (B, H, W) long, ``ordinal_mask`` (B, H, W) bool (False for samples without depth).

    With ``reuse_buffers=True`` the large maps are written into buffers kept from the previous call of the same
    shape (no fresh allocation, which on CPU costs more than computing the maps): the returned tensors are
    then only valid until the next ``encode``. The trainer, which consumes them at once, uses this.
    """

    def __init__(self, skeleton: str | Skeleton, config: CodecConfig | None = None, reuse_buffers: bool = False):
        self.skeleton = get_skeleton(skeleton)
        self.config = config or CodecConfig()
        self.bones = self.skeleton.bones
        self.reuse_buffers = reuse_buffers
        self._buffers: dict[str, torch.Tensor] = {}

    def _buffer(self, name: str, shape, like: torch.Tensor) -> torch.Tensor | None:
        if not self.reuse_buffers:
            return None
        buf = self._buffers.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.device != like.device or buf.dtype != like.dtype:
            buf = self._buffers[name] = like.new_empty(shape)
        return buf

    def encode(self, uvz: torch.Tensor, valid: torch.Tensor, z_valid: torch.Tensor, bone_sigma: float | None = None):
        cfg = self.config
        sigma_b = cfg.bone_sigma_start if bone_sigma is None else bone_sigma
        uvz = uvz if uvz.is_floating_point() else uvz.float()
        B, J = uvz.shape[:2]
        if J != self.skeleton.num_joints:
            raise ValueError(f"TargetEncoder({self.skeleton.name}): expected {self.skeleton.num_joints} joints, got {J}")
        H, W = cfg.heatmap_size
        K = len(self.bones)
        valid = valid.bool()
        z_valid = z_valid.bool() & valid
        hm = gaussian_heatmaps(uvz, valid, (H, W), cfg.sigma)
        bones = bone_heatmaps(
            uvz, valid, self.bones, (H, W), sigma_b,
            out=self._buffer("bones", (B, K, H, W), uvz), workspace=self._buffer("bones_tmp", (B, K, H, W), uvz),
        )
        bidx = torch.as_tensor(self.bones, device=uvz.device, dtype=torch.long)
        bins = depth_to_bin(uvz[..., 2], cfg.depth_bins, cfg.depth_range)
        cube_ok = (z_valid == valid).all(1) & z_valid.any(1)
        cube = depth_cube(
            hm, bins, cfg.depth_bins, select=z_valid & cube_ok[:, None],
            out=self._buffer("cube", (B, cfg.depth_bins, H, W), uvz),
        )
        # Where cube_ok holds, every joint with a heatmap has a depth, so hm can label pixels directly.
        labels, mask = ordinal_labels(hm, bins, cfg.ordinal_threshold)
        mask &= cube_ok[:, None, None]
        return {
            "joint_heatmaps": hm,
            "joint_weight": valid.to(hm.dtype),
            "bone_heatmaps": bones,
            "bone_weight": (valid[:, bidx[:, 0]] & valid[:, bidx[:, 1]]).to(hm.dtype),
            "depth_bins": bins,
            "depth_index": depth_to_index(uvz[..., 2], cfg.depth_bins, cfg.depth_range),
            "depth_weight": z_valid.to(hm.dtype),
            "cube": cube,
            "cube_weight": cube_ok.to(hm.dtype),
            "ordinal_labels": labels,
            "ordinal_mask": mask,
        }


# --------------------------------------------------------------------------------------------- decoding


def _normalise(x: torch.Tensor, mode: str, beta: float) -> torch.Tensor:
    flat = x.flatten(2)
    if mode == "softmax":
        p = torch.softmax(flat * beta, dim=-1)
    elif mode == "sum":
        flat = flat.clamp_min(0)
        p = flat / flat.sum(-1, keepdim=True).clamp_min(1e-12)
    else:
        raise ValueError(f"soft-argmax normalisation must be 'softmax' or 'sum', got {mode!r}")
    return p.view_as(x)


def soft_argmax_2d(heatmaps: torch.Tensor, beta: float = 1.0, normalize: str = "softmax") -> torch.Tensor:
    """Integral regression (Sun et al. 2018; paper eqs. 7–8) over (B, J, H, W) maps.

    ``normalize='softmax'`` treats the maps as logits (the network's output, scaled by ``beta``);
    ``'sum'`` treats them as non-negative densities (e.g. encoded Gaussians). Returns (B, J, 2) (u, v) pixels.
    """
    p = _normalise(heatmaps, normalize, beta)
    xs, ys = _axes(heatmaps.shape[-2:], p)
    u = (p.sum(-2) * xs).sum(-1)
    v = (p.sum(-1) * ys).sum(-1)
    return torch.stack([u, v], dim=-1)


def soft_argmax_3d(volumes: torch.Tensor, beta: float = 1.0, normalize: str = "softmax") -> torch.Tensor:
    """Integral regression over (B, J, D, H, W) volumes. Returns (B, J, 3): u, v pixels and the continuous
    depth index z (convert with :func:`index_to_depth`)."""
    p = _normalise(volumes, normalize, beta)
    D, H, W = volumes.shape[-3:]
    zs = torch.arange(D, device=p.device, dtype=p.dtype)
    xs, ys = _axes((H, W), p)
    u = (p.sum((-3, -2)) * xs).sum(-1)
    v = (p.sum((-3, -1)) * ys).sum(-1)
    z = (p.sum((-2, -1)) * zs).sum(-1)
    return torch.stack([u, v, z], dim=-1)


def joint_confidence(volumes: torch.Tensor, uvz: torch.Tensor, beta: float = 1.0, radius: float = 1.5) -> torch.Tensor:
    """Per-joint confidence in [0, 1]: the probability mass of the softmax volume whose (u, v) lies within
    ``radius`` output-map pixels (a square window) of the soft-argmax estimate; a sharp, single peak gives
    values near 1, a spread or multi-modal volume small ones.

    volumes: (B, J, D, H, W) logits; uvz: (B, J, 3) from :func:`soft_argmax_3d`. Returns (B, J).
    """
    p = _normalise(volumes, "softmax", beta).sum(-3)  # (B, J, H, W)
    xs, ys = _axes(p.shape[-2:], p)
    mx = ((xs - uvz[..., 0:1]).abs() <= radius).to(p.dtype)  # (B, J, W)
    my = ((ys - uvz[..., 1:2]).abs() <= radius).to(p.dtype)  # (B, J, H)
    return (p * my[..., :, None] * mx[..., None, :]).sum((-2, -1))
