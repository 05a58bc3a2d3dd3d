"""Evaluation metrics: pure numpy, millimetres in and out.

All functions take ``pred`` and ``gt`` of shape (N, J, 3) in mm and an optional joint-validity ``mask`` (N, J).
Means are taken over all valid joints of all poses (each valid joint counts once), the convention of MMPose's
``keypoint_mpjpe``; with every joint valid this is VideoPose3D's ``mpjpe``. The ``*_per_joint`` helpers return
the (N, J) errors for grouping.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Sequence

import numpy as np

from .geometry import procrustes_align

__all__ = [
    "align_root",
    "per_joint_error",
    "mpjpe",
    "pa_mpjpe",
    "n_mpjpe",
    "pck3d",
    "auc3d",
    "group_mean",
    "H36M_ACTIONS",
    "H36M_ACTION_ABBREV",
    "format_table",
]


def _prep(pred, gt, mask):
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred and gt must both be (N, J, 3); got {pred.shape} and {gt.shape}")
    if mask is None:
        mask = np.ones(pred.shape[:2], dtype=bool)
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != pred.shape[:2]:
        raise ValueError(f"mask must be (N, J) = {pred.shape[:2]}, got {mask.shape}")
    return pred, gt, mask


def align_root(pred, gt, root: int | None = 0):
    """Subtract each pose's root joint: ``p_j - p_root`` for pred and gt (no-op with ``root=None``)."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if root is None:
        return pred, gt
    return pred - pred[:, root : root + 1], gt - gt[:, root : root + 1]


def per_joint_error(pred, gt, alignment: str = "root", mask=None, root: int | None = 0) -> np.ndarray:
    """Euclidean error of every joint after alignment, (N, J) mm.

    ``alignment``: ``"none"``; ``"root"`` (translate so the roots coincide); ``"scale"`` (root, then the
    least-squares scale ``s = <gt, pred> / <pred, pred>`` over valid joints); ``"procrustes"`` (similarity
    transform: rotation, translation and scale fitted on valid joints, reflection excluded).
    """
    pred, gt, mask = _prep(pred, gt, mask)
    if alignment == "none":
        pass
    elif alignment in ("root", "scale"):
        pred, gt = align_root(pred, gt, root)
        if alignment == "scale":
            m = mask[..., None]
            s = (m * pred * gt).sum((1, 2)) / np.maximum((m * pred * pred).sum((1, 2)), 1e-12)
            pred = pred * s[:, None, None]
    elif alignment == "procrustes":
        pred = procrustes_align(pred, gt, mask)
    else:
        raise ValueError(f"alignment must be none, root, scale or procrustes; got {alignment!r}")
    return np.linalg.norm(pred - gt, axis=-1)


def _masked_mean(err: np.ndarray, mask: np.ndarray) -> float:
    n = mask.sum()
    if n == 0:
        raise ValueError("no valid joints to average over")
    return float(err[mask].sum() / n)


def mpjpe(pred, gt, mask=None, root: int | None = 0) -> float:
    """Mean per-joint position error (Protocol 1), mm.

    ``MPJPE = (1 / sum m) * sum_{n,j} m_nj || (p_nj - p_n,root) - (g_nj - g_n,root) ||_2``.
    ``root=None`` compares the poses as given (already root-relative).
    """
    pred, gt, mask = _prep(pred, gt, mask)
    return _masked_mean(per_joint_error(pred, gt, "root", mask, root), mask)


def pa_mpjpe(pred, gt, mask=None) -> float:
    """Procrustes-aligned MPJPE (Protocol 2), mm.

    Each predicted pose is aligned to its ground truth by the similarity transform (s, R, t) minimising
    ``sum_j m_j || s R p_j + t - g_j ||^2`` (R a proper rotation), then MPJPE is taken over valid joints.
    """
    pred, gt, mask = _prep(pred, gt, mask)
    return _masked_mean(per_joint_error(pred, gt, "procrustes", mask), mask)


def n_mpjpe(pred, gt, mask=None, root: int | None = 0) -> float:
    """Scale-normalised MPJPE (Rhodin et al. 2018), mm: root-aligned pred scaled by
    ``s = sum_j m_j <p_j, g_j> / sum_j m_j <p_j, p_j>`` per pose, then MPJPE."""
    pred, gt, mask = _prep(pred, gt, mask)
    return _masked_mean(per_joint_error(pred, gt, "scale", mask, root), mask)


def pck3d(pred, gt, mask=None, threshold: float = 150.0, root: int | None = 0, alignment: str = "root") -> float:
    """3D percentage of correct keypoints, in % (MPI-INF-3DHP / MuPoTS-3D): share of valid joints whose
    error after root alignment is at most ``threshold`` mm: ``100 * sum m [e <= thr] / sum m``."""
    pred, gt, mask = _prep(pred, gt, mask)
    err = per_joint_error(pred, gt, alignment, mask, root)
    return 100.0 * _masked_mean((err <= threshold).astype(np.float64), mask)


def auc3d(
    pred, gt, mask=None, thresholds: Sequence[float] | None = None, root: int | None = 0, alignment: str = "root"
) -> float:
    """Area under the 3DPCK curve, in %: the mean of 3DPCK over ``thresholds`` (default 0, 5, …, 150 mm —
    31 values, the MPI-INF-3DHP convention)."""
    pred, gt, mask = _prep(pred, gt, mask)
    thr = np.linspace(0.0, 150.0, 31) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    err = per_joint_error(pred, gt, alignment, mask, root)
    return float(np.mean([100.0 * _masked_mean((err <= t).astype(np.float64), mask) for t in thr]))


def group_mean(per_joint: np.ndarray, groups: Iterable, mask=None, order: Sequence | None = None) -> dict:
    """Average per-joint values by group (action, sequence …).

    Args:
        per_joint: (N, J) values (errors in mm, or 0/1 correctness). groups: (N,) labels. mask: (N, J).
        order: the groups to report, in order (default: sorted labels present).
    Returns:
        ``{group: mean over the group's valid joints, ..., "Avg": mean of the group means}``. The average over
        groups weights every group equally, as the per-action tables of the literature do; the mean over all
        joints regardless of group is :func:`mpjpe` on the whole set.
    """
    per_joint = np.asarray(per_joint, dtype=np.float64)
    groups = np.asarray(list(groups))
    mask = np.ones(per_joint.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    labels = sorted(set(groups.tolist())) if order is None else list(order)
    out = {}
    for g in labels:
        sel = groups == g
        if sel.any():
            out[g] = _masked_mean(per_joint[sel], mask[sel])
    out["Avg"] = float(np.mean(list(out.values()))) if out else float("nan")
    return out


#: Human3.6M actions in the column order of the paper's Tables 1–2, with their abbreviations.
H36M_ACTIONS = (
    "Directions", "Discussion", "Eating", "Greeting", "Phoning", "Posing", "Purchases", "Sitting",
    "SittingDown", "Smoking", "Photo", "Waiting", "Walking", "WalkDog", "WalkTogether",
)  # fmt: skip
H36M_ACTION_ABBREV = dict(
    zip(H36M_ACTIONS, ("Dir.", "Dis.", "Eat", "Gre.", "Phon.", "Pose", "Pur.", "Sit", "SitD.", "Smo.", "Phot.",
                       "Wait", "Walk", "WalkD.", "WalkP."))
)  # fmt: skip


def format_table(
    rows: Mapping[str, Mapping[str, float]], columns: Sequence[str] | None = None,
    abbrev: Mapping[str, str] | None = None, digits: int = 1,
) -> str:
    """A Markdown table with groups as columns, like the paper's Tables 1–3.

    Args:
        rows: ``{method name: {group: value}}``; missing values print as ``-``.
        columns: group order (default: the first row's keys); abbrev: column header abbreviations.
    """
    if columns is None:
        columns = list(next(iter(rows.values())).keys()) if rows else []
    abbrev = abbrev or {}
    head = ["Method"] + [abbrev.get(c, c) for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, vals in rows.items():
        cells = [f"{vals[c]:.{digits}f}" if c in vals and vals[c] == vals[c] else "-" for c in columns]
        lines.append("| " + " | ".join([name] + cells) + " |")
    return "\n".join(lines)
