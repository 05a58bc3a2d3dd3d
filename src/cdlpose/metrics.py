"""Evaluation metrics: pure numpy, millimetres in and out.

All functions take ``pred`` and ``gt`` of shape (N, J, 3) in mm and an optional joint-validity ``mask`` (N, J).
Means are taken over all valid joints of all poses (each valid joint counts once), the convention of MMPose's
``keypoint_mpjpe``; with every joint valid this is VideoPose3D's ``mpjpe``. The ``*_per_joint`` helpers return
the (N, J) errors for grouping.
"""

from __future__ import annotations

import re
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
    "root_valid_mask",
    "rescale_to_gt_bones",
    "match_people_2d",
    "sequence_pck",
    "AUC_THRESHOLDS",
    "MUPOTS_PARENTS",
    "MUPOTS_BONE_ORDER",
    "MUPOTS_EVAL_JOINTS",
    "MUPOTS_MATCH_JOINTS",
    "MUPOTS_JOINT_GROUPS",
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


def root_valid_mask(mask, root: int | None) -> np.ndarray:
    """The joint mask (N, J) with every joint of a pose whose ``root`` joint is invalid cleared: a root-aligned
    error measured from an unannotated root would be meaningless, so such poses are left out."""
    mask = np.asarray(mask, dtype=bool)
    if root is None:
        return mask
    return mask & mask[:, root : root + 1]


def per_joint_error(pred, gt, alignment: str = "root", mask=None, root: int | None = 0) -> np.ndarray:
    """Euclidean error of every joint after alignment, (N, J) mm.

    ``alignment``: ``"none"``; ``"root"`` (translate so the roots coincide); ``"scale"`` (root, then the
    least-squares scale ``s = <gt, pred> / <pred, pred>`` over valid joints); ``"procrustes"`` (similarity
    transform: rotation, translation and scale fitted on valid joints, reflection excluded); ``"rigid"``
    (rotation and translation fitted on valid joints, no scale: Moon et al.'s ``rigid_align``). Errors of
    joints outside ``mask`` are returned too, but no fit uses them.
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
    elif alignment in ("procrustes", "rigid"):
        pred = procrustes_align(pred, gt, mask, scale=alignment == "procrustes")
    else:
        raise ValueError(f"alignment must be none, root, scale, procrustes or rigid; got {alignment!r}")
    return np.linalg.norm(pred - gt, axis=-1)


def _masked_mean(err: np.ndarray, mask: np.ndarray) -> float:
    n = mask.sum()
    if n == 0:
        raise ValueError("no valid joints to average over")
    return float(err[mask].sum() / n)


def mpjpe(pred, gt, mask=None, root: int | None = 0) -> float:
    """Mean per-joint position error (Protocol 1), mm.

    ``MPJPE = (1 / sum m) * sum_{n,j} m_nj || (p_nj - p_n,root) - (g_nj - g_n,root) ||_2``.
    ``root=None`` compares the poses as given (already root-relative); poses whose root is invalid are left out.
    """
    pred, gt, mask = _prep(pred, gt, mask)
    mask = root_valid_mask(mask, root)
    return _masked_mean(per_joint_error(pred, gt, "root", mask, root), mask)


def pa_mpjpe(pred, gt, mask=None, scale: bool = True) -> float:
    """Procrustes-aligned MPJPE (Protocol 2), mm.

    Each predicted pose is aligned to its ground truth by the similarity transform (s, R, t) minimising
    ``sum_j m_j || s R p_j + t - g_j ||^2`` (R a proper rotation, fitted on valid joints only), then MPJPE is
    taken over valid joints: VideoPose3D's ``p_mpjpe`` and MMPose's ``keypoint_mpjpe(alignment="procrustes")``.
    ``scale=False``: the rigid fit (s = 1) of Moon et al.'s ``rigid_align``, behind PoseNet's published
    Protocol-2 numbers; it is never smaller than the similarity version.
    """
    pred, gt, mask = _prep(pred, gt, mask)
    return _masked_mean(per_joint_error(pred, gt, "procrustes" if scale else "rigid", mask), mask)


def n_mpjpe(pred, gt, mask=None, root: int | None = 0) -> float:
    """Scale-normalised MPJPE (Rhodin et al. 2018), mm: root-aligned pred scaled by
    ``s = sum_j m_j <p_j, g_j> / sum_j m_j <p_j, p_j>`` per pose, then MPJPE."""
    pred, gt, mask = _prep(pred, gt, mask)
    mask = root_valid_mask(mask, root)
    return _masked_mean(per_joint_error(pred, gt, "scale", mask, root), mask)


def pck3d(pred, gt, mask=None, threshold: float = 150.0, root: int | None = 0, alignment: str = "root") -> float:
    """3D percentage of correct keypoints, in % (MPI-INF-3DHP / MuPoTS-3D): share of valid joints whose
    error after root alignment is strictly below ``threshold`` mm (the official scripts' ``<``):
    ``100 * sum m [e < thr] / sum m``."""
    pred, gt, mask = _prep(pred, gt, mask)
    mask = root_valid_mask(mask, root) if alignment in ("root", "scale") else mask
    err = per_joint_error(pred, gt, alignment, mask, root)
    return 100.0 * _masked_mean((err < threshold).astype(np.float64), mask)


#: 3DPCK thresholds of the AUC (MPI-INF-3DHP and MuPoTS-3D scripts): 0, 5, …, 150 mm.
AUC_THRESHOLDS = np.linspace(0.0, 150.0, 31)


def auc3d(
    pred, gt, mask=None, thresholds: Sequence[float] | None = None, root: int | None = 0, alignment: str = "root"
) -> float:
    """Area under the 3DPCK curve, in %: the mean of 3DPCK (strict ``<``) over ``thresholds`` (default
    :data:`AUC_THRESHOLDS`, 0, 5, …, 150 mm — 31 values, the MPI-INF-3DHP convention)."""
    pred, gt, mask = _prep(pred, gt, mask)
    mask = root_valid_mask(mask, root) if alignment in ("root", "scale") else mask
    thr = AUC_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    err = per_joint_error(pred, gt, alignment, mask, root)
    return float(np.mean([100.0 * _masked_mean((err < t).astype(np.float64), mask) for t in thr]))


def group_mean(per_joint: np.ndarray, groups: Iterable, mask=None, order: Sequence | None = None,
               average: str = "pooled") -> dict:
    """Average per-joint values by group (action, sequence …).

    Args:
        per_joint: (N, J) values (errors in mm, or 0/1 correctness). groups: (N,) labels. mask: (N, J).
        order: the groups to report, in order (default: sorted labels present).
        average: how ``"Avg"`` is formed: ``"pooled"`` — the mean over every valid joint of every sample of the
            reported groups (each frame counts once: the Human3.6M "Avg" of the paper, Moon et al. and MMPose);
            ``"groups"`` — the mean of the group means (each group counts once: the MuPoTS-3D sequence average).
    Returns:
        ``{group: mean over the group's valid joints, ..., "Avg": ...}``.
    """
    per_joint = np.asarray(per_joint, dtype=np.float64)
    groups = np.asarray(list(groups))
    mask = np.ones(per_joint.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    labels = sorted(set(groups.tolist())) if order is None else list(order)
    if average not in ("pooled", "groups"):
        raise ValueError(f"average must be 'pooled' or 'groups'; got {average!r}")
    out = {}
    used = np.zeros(len(groups), dtype=bool)
    for g in labels:
        sel = groups == g
        if sel.any() and mask[sel].any():
            out[g] = _masked_mean(per_joint[sel], mask[sel])
            used |= sel
    if not out:
        out["Avg"] = float("nan")
    elif average == "pooled":
        out["Avg"] = _masked_mean(per_joint[used], mask[used])
    else:
        out["Avg"] = float(np.mean(list(out.values())))
    return out


# --- MuPoTS-3D: the official MATLAB evaluation (mpii_mupots_multiperson_eval.m and its helpers) ---------------
# Indices are 0-based in the MuPoTS-17 order (cdlpose.skeletons.MUPOTS17): 0 Head_top, 1 Thorax (neck),
# 2-4 right arm, 5-7 left arm, 8-10 right leg, 11-13 left leg, 14 Pelvis, 15 Spine, 16 Head.

#: The official script's parent of every joint (``mpii_get_joints('relevant')``'s o1); the pelvis is the root.
MUPOTS_PARENTS = (1, 15, 1, 2, 3, 1, 5, 6, 14, 8, 9, 14, 11, 12, 14, 14, 1)
#: The order in which bones are rescaled (parents before children), the script's ``safe_traversal_order``
#: without the pelvis.
MUPOTS_BONE_ORDER = (15, 1, 0, 16, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
#: Joints scored (head top, neck, shoulders, elbows, wrists, hips, knees, ankles; not pelvis, spine, head).
MUPOTS_EVAL_JOINTS = tuple(range(14))
#: Joints used to match predicted to annotated people in 2D (the script's ``matching_joints = 2:14``).
MUPOTS_MATCH_JOINTS = tuple(range(1, 14))
#: ``mpii_get_pck_auc_joint_groups``: name → joints.
MUPOTS_JOINT_GROUPS = {"Head": (0,), "Neck": (1,), "Shou": (2, 5), "Elbow": (3, 6), "Wrist": (4, 7),
                       "Hip": (8, 11), "Knee": (9, 12), "Ankle": (10, 13)}


def rescale_to_gt_bones(pred, gt, parents: Sequence[int] = MUPOTS_PARENTS,
                        order: Sequence[int] = MUPOTS_BONE_ORDER) -> np.ndarray:
    """Give the predicted skeleton the ground truth's bone lengths, keeping its bone directions
    (``mpii_map_to_gt_bone_lengths.m``): walking ``order`` (every parent before its children),
    ``p'_j = p'_parent + (p_j - p_parent) * |g_j - g_parent| / |p_j - p_parent|``.

    Args: pred, gt (N, J, 3) mm, pelvis-relative. Returns the rescaled pred, (N, J, 3) mm; the root is unchanged.
    """
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    out = pred.copy()
    for j in order:
        p = parents[j]
        bone = pred[:, j] - pred[:, p]
        length = np.linalg.norm(gt[:, j] - gt[:, p], axis=-1)
        out[:, j] = out[:, p] + bone * (length / np.maximum(np.linalg.norm(bone, axis=-1), 1e-12))[:, None]
    return out


def match_people_2d(gt_uv, pred_uv, threshold: float = 40.0, joints: Sequence[int] = MUPOTS_MATCH_JOINTS,
                    pred_visible=None) -> np.ndarray:
    """Match predicted people to annotated people of one image (``mpii_multiperson_get_identity_matching.m``).

    Greedily over the annotated people in order: a prediction's score is the number of ``joints`` with both
    ``|dx| < threshold`` and ``|dy| < threshold`` px (and visible in the prediction); the unused prediction with
    the highest score (the first on ties) is taken when its score is above 0.

    Args:
        gt_uv: (G, J, 2) image px; pred_uv: (P, J, 2) image px; pred_visible: (P, J) bool (default: joints not
        at exactly (0, 0), the script's convention for a missing joint).
    Returns:
        (G,) int: the matched prediction's index, or -1.
    """
    gt_uv = np.asarray(gt_uv, dtype=np.float64)
    pred_uv = np.asarray(pred_uv, dtype=np.float64)
    match = np.full(len(gt_uv), -1, dtype=np.int64)
    if len(pred_uv) == 0 or len(gt_uv) == 0:
        return match
    js = list(joints)
    vis = (~np.all(pred_uv == 0, axis=-1)) if pred_visible is None else np.asarray(pred_visible, bool)
    close = np.all(np.abs(gt_uv[:, None, js] - pred_uv[None, :, js]) < threshold, axis=-1)  # (G, P, J')
    score = (close & vis[None, :, js]).sum(-1)
    used = np.zeros(len(pred_uv), dtype=bool)
    for g in range(len(gt_uv)):
        s = np.where(used, 0, score[g])
        best = int(np.argmax(s))
        if s[best] > 0:
            match[g] = best
            used[best] = True
    return match


def sequence_pck(per_joint: np.ndarray, sequences: Iterable, joints: Sequence[int] = MUPOTS_EVAL_JOINTS,
                 groups: Mapping[str, Sequence[int]] | None = None, threshold: float = 150.0,
                 thresholds: Sequence[float] | None = None, order: Sequence | None = None) -> dict:
    """3DPCK and AUC per sequence, as ``mpii_evaluate_multiperson_errors.m`` / ``mpii_compute_3d_pck.m``.

    Within a sequence every (person, frame, joint) error of ``joints`` is pooled: ``PCK = 100 * mean [e < thr]``,
    ``AUC = mean over thresholds of PCK(t)``; per joint group the same over the group's joints. The summary value
    of each is the mean over sequences (every sequence counts once).

    Args:
        per_joint: (N, J) errors in mm (a missed person: errors of +inf); sequences: (N,) labels.
    Returns:
        ``{"pck": {seq: %, ..., "Avg": %}, "auc": {...}, "groups_pck": {group: %}, "groups_auc": {group: %}}`` —
        the group values are means over sequences as well.
    """
    err = np.asarray(per_joint, dtype=np.float64)
    seqs = np.asarray(list(sequences))
    thr = AUC_THRESHOLDS if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    groups = MUPOTS_JOINT_GROUPS if groups is None else groups
    labels = sorted(set(seqs.tolist()), key=_natural_key) if order is None else [s for s in order if s in set(seqs)]
    js = list(joints)
    pck, auc, gp, ga = {}, {}, {g: [] for g in groups}, {g: [] for g in groups}
    for s in labels:
        e = err[seqs == s]
        pck[s] = 100.0 * float(np.mean(e[:, js] < threshold))
        auc[s] = float(np.mean([100.0 * np.mean(e[:, js] < t) for t in thr]))
        for g, gj in groups.items():
            gp[g].append(100.0 * float(np.mean(e[:, list(gj)] < threshold)))
            ga[g].append(float(np.mean([100.0 * np.mean(e[:, list(gj)] < t) for t in thr])))
    pck["Avg"] = float(np.mean([pck[s] for s in labels])) if labels else float("nan")
    auc["Avg"] = float(np.mean([auc[s] for s in labels])) if labels else float("nan")
    return {"pck": pck, "auc": auc, "groups_pck": {g: float(np.mean(v)) for g, v in gp.items()},
            "groups_auc": {g: float(np.mean(v)) for g, v in ga.items()}}


def _natural_key(label) -> tuple:
    """TS2 before TS10."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(label)))


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
