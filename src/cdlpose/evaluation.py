"""Evaluation: run a network over a data set, score it by protocol, write tables in the paper's layout.

Protocols (the paper's names; Moon et al.'s code numbers Human3.6M's the other way round):

- ``h36m-p1``: MPJPE (root-aligned, mm) per action over the 17 joints; the paper tests on S9 and S11.
- ``h36m-p2``: PA-MPJPE (similarity Procrustes, mm) per action; the paper tests on S11.
- ``mupots``: 3DPCK@150 mm (root-aligned, %) per sequence for all annotated people and for the matched ones,
  and AUC over 0–150 mm.
- ``synthetic``: MPJPE and PA-MPJPE per activity of the synthetic set.

The network's 3D pose is in the geodesic-normalised scale of eq. (10); as in the paper it is compared with the
ground truth in its original scale (no scale is known at inference).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from . import metrics
from .codec import index_to_depth
from .geometry import rescale_points
from .skeletons import get_skeleton

__all__ = ["predict_loader", "score", "write_results", "PAPER_RESULTS", "mean_pose_rows"]

_AVG = metrics.H36M_ACTIONS + ("Avg",)

#: The paper's published numbers (Tables 1–4), for comparison next to ours.
PAPER_RESULTS = {
    "h36m-p1": {"Zhang et al. AAAI'21 (paper, Table 1)": dict(zip(_AVG, (
        43.2, 50.5, 42.7, 47.1, 50.7, 41.1, 45.2, 58.9, 61.6, 48.8, 60.1, 46.3, 35.5, 51.4, 41.0, 48.7)))},
    "h36m-p2": {"Zhang et al. AAAI'21 (paper, Table 2)": dict(zip(_AVG, (
        27.3, 29.2, 37.2, 31.5, 33.1, 29.2, 30.7, 32.5, 42.0, 34.6, 36.9, 28.0, 23.3, 34.7, 27.5, 31.8)))},
    "mupots": {"Zhang et al. AAAI'21 (paper, Table 3)": {"Avg": 83.3}},
    "ablation": {"baseline": 54.1, "jh": 52.0, "bj": 50.8, "full": 48.7},  # Table 4, Protocol 1 MPJPE
}


def _flip_uvz(uvz: torch.Tensor, width: int, flip_index) -> torch.Tensor:
    """The 2.5D estimate on a mirrored image mapped back to the original: u → W − 1 − u, left ↔ right."""
    out = uvz[:, flip_index].clone()
    out[..., 0] = width - 1 - out[..., 0]
    return out


@torch.no_grad()
def predict_loader(net, loader, device, flip: bool = False, amp: str = "none", depth_range: float = 2000.0,
                   progress: bool = False) -> dict:
    """Run ``net`` (a :class:`cdlpose.model.CascadedLiftingNet`) over ``loader`` (batches of
    :class:`cdlpose.data.datasets.PoseDataset` items, evaluation mode). ``depth_range``: the codec's D (mm).

    Returns numpy arrays (N = samples):

    - ``pred_3d`` (N, J, 3) mm, root-relative: the lifting block's pose (normalised scale, eq. 10);
    - ``pred_3d_backproj`` (N, J, 3) mm: the 2.5D estimate back-projected with the crop camera and the
      *ground-truth* root depth (PoseNet's evaluation; the lifting-free reference);
    - ``gt_3d`` (N, J, 3) mm root-relative, original scale; ``valid_3d`` (N, J);
    - ``pred_uv`` / ``gt_uv`` (N, J, 2) crop pixels; ``valid_2d`` (N, J);
    - ``uvz`` (N, J, 3) the 2.5D estimate (map pixels, depth index); ``scale`` (N,) the eq. (10) factor;
    - ``sample_id``, ``subject``, ``action``, ``dataset`` lists.
    """
    from tqdm.auto import tqdm

    net.eval()
    sk = get_skeleton(net.config.skeleton)
    root = sk.root
    C = net.config.depth_bins
    flip_index = torch.as_tensor(sk.flip_index, device=device)
    cols = {k: [] for k in ("pred_3d", "pred_3d_backproj", "gt_3d", "valid_3d", "pred_uv", "gt_uv", "valid_2d",
                            "uvz", "scale", "sample_id", "subject", "action", "dataset")}
    use_amp = device.type == "cuda" and amp != "none"
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        images = batch["image"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
            uvz = net.volumes(images)["uvz"].float()
            if flip:
                uvz_f = net.volumes(images.flip(-1))["uvz"].float()
                uvz = 0.5 * (uvz + _flip_uvz(uvz_f, images.shape[-1] // 4, flip_index))
        pose = net.lifting(uvz).float()
        S = images.shape[-1]
        m = S // 4
        uv_crop = rescale_points(uvz[..., :2].cpu().numpy().astype(np.float64), (m, m), (S, S))
        z_mm = index_to_depth(uvz[..., 2], C, depth_range).cpu().numpy().astype(np.float64)
        X = batch["joints_3d"].numpy().astype(np.float64)
        f, c = batch["f"].numpy()[:, None], batch["c"].numpy()[:, None]
        Z = X[:, root : root + 1, 2] + z_mm  # ground-truth root depth + predicted relative depth
        bp = np.concatenate([(uv_crop - c) / f * Z[..., None], Z[..., None]], -1)
        cols["pred_3d"].append(pose.cpu().numpy().astype(np.float64))
        cols["pred_3d_backproj"].append(bp - bp[:, root : root + 1])
        cols["gt_3d"].append(X - X[:, root : root + 1])
        cols["valid_3d"].append(batch["valid_3d"].numpy())
        cols["pred_uv"].append(uv_crop)
        cols["gt_uv"].append(batch["uv_crop"].numpy().astype(np.float64))
        cols["valid_2d"].append(batch["valid_2d"].numpy())
        cols["uvz"].append(uvz.cpu().numpy())
        cols["scale"].append(batch["scale"].numpy())
        for k in ("sample_id", "subject", "action", "dataset"):
            cols[k].extend(batch[k])
    if not cols["gt_3d"]:
        raise ValueError("evaluation data set is empty")
    return {k: (np.concatenate(v) if k not in ("sample_id", "subject", "action", "dataset") else v)
            for k, v in cols.items()}


def _error_2d(pred: dict) -> float:
    err = np.linalg.norm(pred["pred_uv"] - pred["gt_uv"], axis=-1)
    m = pred["valid_2d"]
    return float(err[m].mean()) if m.any() else float("nan")


def score(pred: dict, protocol: str, name: str = "cdlpose") -> dict:
    """Score predictions (from :func:`predict_loader`) by ``protocol``.

    Returns ``{"protocol", "metric", "unit", "columns", "rows": {method: {column: value}}, "summary": {...}}``
    with this model's rows (the lifting block, and the back-projection reference) and the paper's rows.
    """
    gt, mask = pred["gt_3d"], pred["valid_3d"]
    has_3d = mask.any(1)
    if not has_3d.any():
        raise ValueError("no evaluation sample has 3D ground truth")
    sel = np.flatnonzero(has_3d)
    gt, mask = gt[sel], mask[sel]
    actions = [pred["action"][i] for i in sel]
    subjects = [pred["subject"][i] for i in sel]
    sources = {name: pred["pred_3d"][sel],
               f"{name} 2.5D back-projected (GT root depth)": pred["pred_3d_backproj"][sel]}
    rows, summary = {}, {"samples": int(len(sel)), "error_2d_px": _error_2d(pred)}
    if protocol in ("h36m-p1", "h36m-p2", "synthetic"):
        alignment = "procrustes" if protocol == "h36m-p2" else "root"
        metric = "PA-MPJPE" if protocol == "h36m-p2" else "MPJPE"
        order = metrics.H36M_ACTIONS if protocol != "synthetic" else sorted(set(actions))
        for label, p in sources.items():
            err = metrics.per_joint_error(p, gt, alignment, mask)
            rows[label] = metrics.group_mean(err, actions, mask, order)
            summary[label] = {"MPJPE": metrics.mpjpe(p, gt, mask), "PA-MPJPE": metrics.pa_mpjpe(p, gt, mask)}
        columns = [c for c in order if c in rows[name]] + ["Avg"]
        unit = "mm"
    elif protocol == "mupots":
        metric, unit = "3DPCK@150mm", "%"
        matched = np.asarray([True] * len(sel))  # ground-truth boxes: every annotated person is matched
        for label, p in sources.items():
            err = metrics.per_joint_error(p, gt, "root", mask)
            correct = (err <= 150.0).astype(np.float64) * 100.0
            rows[label] = metrics.group_mean(correct, subjects, mask)
            m2 = mask & matched[:, None]
            rows[label + " (matched)"] = metrics.group_mean(correct, subjects, m2)
            summary[label] = {"3DPCK": metrics.pck3d(p, gt, mask), "AUC": metrics.auc3d(p, gt, mask),
                              "MPJPE": metrics.mpjpe(p, gt, mask)}
        columns = list(rows[name].keys())
    else:
        raise ValueError(f"unknown protocol {protocol!r}; expected h36m-p1, h36m-p2, mupots or synthetic")
    for label, vals in PAPER_RESULTS.get(protocol, {}).items():
        rows[label] = vals
    return {"protocol": protocol, "metric": metric, "unit": unit, "columns": columns, "rows": rows,
            "summary": summary}


def mean_pose_rows(result: dict, pred: dict, mean_pose: np.ndarray, label: str = "training-set mean pose") -> dict:
    """Add the row of a constant prediction (the training set's mean normalised pose, (J, 3) mm) to ``result``."""
    const = np.broadcast_to(mean_pose, pred["gt_3d"].shape).copy()
    r = score(dict(pred, pred_3d=const, pred_3d_backproj=const), result["protocol"], label)
    result["rows"][label] = r["rows"][label]
    result["summary"][label] = r["summary"][label]
    return result


def write_results(result: dict, out_dir: str | Path, stem: str = "eval") -> dict:
    """Write ``{stem}.json``, ``{stem}.csv`` and ``{stem}.md`` (the paper-layout table) into ``out_dir``;
    returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cols = result["columns"]
    abbrev = metrics.H36M_ACTION_ABBREV if result["protocol"].startswith("h36m") else None
    table = metrics.format_table(result["rows"], cols, abbrev)
    md = f"## {result['protocol']}: {result['metric']} ({result['unit']})\n\n{table}\n"
    paths = {"json": out_dir / f"{stem}.json", "csv": out_dir / f"{stem}.csv", "md": out_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(result, indent=1))
    with open(paths["csv"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method"] + list(cols))
        for label, vals in result["rows"].items():
            w.writerow([label] + [("" if c not in vals else f"{vals[c]:.4f}") for c in cols])
    paths["md"].write_text(md)
    return paths
