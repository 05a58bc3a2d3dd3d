"""Scoring predictions by protocol and writing tables in the paper's layout (pure numpy; see
:mod:`cdlpose.evaluation` for the protocols)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .. import metrics
from ..skeletons import H36M17, MUPOTS17, get_skeleton

__all__ = ["score", "write_results", "PAPER_RESULTS", "mean_pose_rows", "mupots_errors",
           "attach_mupots_ground_truth"]

_AVG = metrics.H36M_ACTIONS + ("Avg",)

#: The paper's published numbers (Tables 1–4), for comparison next to ours.
PAPER_RESULTS = {
    "h36m-p1": {"Zhang et al. AAAI'21 (paper, Table 1)": dict(zip(_AVG, (
        43.2, 50.5, 42.7, 47.1, 50.7, 41.1, 45.2, 58.9, 61.6, 48.8, 60.1, 46.3, 35.5, 51.4, 41.0, 48.7))),
                # PoseNet, whose published weights `cdlpose import posenet` reads (their repository's "protocol 2")
                "Moon et al. ICCV'19 PoseNet (paper, Table 1)": dict(zip(_AVG, (
        51.5, 56.8, 51.2, 52.2, 55.2, 47.7, 50.9, 63.3, 69.9, 54.2, 57.4, 50.4, 42.5, 57.5, 47.7, 54.4)))},
    "h36m-p2": {"Zhang et al. AAAI'21 (paper, Table 2)": dict(zip(_AVG, (
        27.3, 29.2, 37.2, 31.5, 33.1, 29.2, 30.7, 32.5, 42.0, 34.6, 36.9, 28.0, 23.3, 34.7, 27.5, 31.8))),
                "Moon et al. ICCV'19 PoseNet (paper, Table 2; rigid PA)": dict(zip(_AVG, (
        32.5, 31.5, 41.5, 36.7, 36.3, 31.9, 33.2, 36.5, 44.4, 36.7, 38.7, 31.2, 25.6, 37.1, 30.5, 35.2)))},
    "mupots": {"Zhang et al. AAAI'21 (paper, Table 3)": {"Avg": 83.3},
               "Moon et al. ICCV'19 PoseNet (paper, Table 3)": {"Avg": 81.8}},
    "ablation": {"baseline": 54.1, "jh": 52.0, "bj": 50.8, "full": 48.7},  # Table 4, Protocol 1 MPJPE
}


def _error_2d(pred: dict) -> float:
    err = np.linalg.norm(pred["pred_uv"] - pred["gt_uv"], axis=-1)
    m = pred["valid_2d"]
    return float(err[m].mean()) if m.any() else float("nan")


def score(pred: dict, protocol: str, name: str = "cdlpose", details: dict | None = None) -> dict:
    """Score predictions (from :func:`predict_loader`) by ``protocol``.

    ``pred`` is the dict of arrays :func:`predict_loader` returns (its ``skeleton`` names the joint order; the
    root is that skeleton's pelvis). For ``mupots`` it may also hold ``gt_3d_univ`` (N, 17, 3) mm, the
    ``univ_annot3`` ground truth in the MuPoTS-17 order (:func:`attach_mupots_ground_truth`), and predictions
    from detected boxes (:func:`predict_detections`): ``det_pred_3d`` (M, J, 3), ``det_uv_frame`` (M, J, 2) and
    ``det_image_key`` (M,), which then replace the one-per-annotated-person predictions.
    ``details``: how the predictions were made (``flip_test``, ``boxes``), copied into the result's caption.

    Returns ``{"protocol", "metric", "unit", "columns", "rows": {method: {column: value}}, "summary": {...},
    "details": {...}}`` with this model's rows and the paper's rows.
    """
    details = dict(details or {})
    if protocol in ("h36m-p1", "h36m-p2", "synthetic", "h36m-actions"):
        result = _score_h36m(pred, protocol, name, details)
    elif protocol == "mupots":
        result = _score_mupots(pred, name, details)
    else:
        raise ValueError(f"unknown protocol {protocol!r}; expected h36m-p1, h36m-p2, mupots, synthetic or "
                         "h36m-actions")
    for label, vals in PAPER_RESULTS.get(protocol, {}).items():
        result["rows"][label] = vals
    return result


def _skeleton_of(pred: dict):
    return get_skeleton(pred.get("skeleton", "h36m17"))


def _columns(pred: dict, target, protocol: str, data_set: str) -> np.ndarray:
    """Where each joint of the ``target`` skeleton (``data_set``'s joints) sits in the predictions' joint order,
    matched by name."""
    sk = _skeleton_of(pred)
    try:
        return np.array([sk.index(n) for n in target.joints])
    except KeyError as e:
        raise ValueError(f"{protocol}: the predictions' skeleton {sk.name} lacks a {data_set} joint ({e})") from None


def _sources(pred: dict, name: str) -> dict:
    """{row label: key of ``pred``}: the 3D pose, and the 2.5D estimate back-projected with the ground-truth root
    depth — one row where the 3D pose is that back-projection (a network without a lifting block)."""
    backproj = f"{name} 2.5D back-projected (GT root depth)"
    if pred.get("pose_3d_source") == "back-projection":
        return {backproj: "pred_3d"}
    return {name: "pred_3d", **({backproj: "pred_3d_backproj"} if "pred_3d_backproj" in pred else {})}


def _score_h36m(pred: dict, protocol: str, name: str, details: dict) -> dict:
    sk = _skeleton_of(pred)
    cols = np.arange(sk.num_joints)
    if protocol != "synthetic" and sk.name != H36M17.name:
        # the published numbers score Human3.6M's 17 joints (Moon et al.'s 18th, the shoulders' mid-point, is left
        # out by their evaluation): pick them by name
        cols, sk = _columns(pred, H36M17, protocol, "Human3.6M"), H36M17
    root = sk.root if sk.root is not None else 0
    gt, mask = pred["gt_3d"][:, cols], metrics.root_valid_mask(np.asarray(pred["valid_3d"])[:, cols], root)
    sel = np.flatnonzero(mask.any(1))
    if not len(sel):
        raise ValueError("no evaluation sample has 3D ground truth with a valid root joint")
    gt, mask = gt[sel], mask[sel]
    actions = [pred["action"][i] for i in sel]
    sources = {label: np.asarray(pred[key])[sel][:, cols] for label, key in _sources(pred, name).items()}
    main = next(iter(sources))
    order = metrics.H36M_ACTIONS if protocol != "synthetic" else sorted(set(actions))
    if protocol == "h36m-actions":  # a pose file's own actions after Human3.6M's
        order = metrics.H36M_ACTIONS + tuple(sorted(set(actions) - set(metrics.H36M_ACTIONS)))
    rows, summary = {}, {"samples": int(len(sel)), "error_2d_px": _error_2d(pred)}
    for label, p in sources.items():
        if protocol == "h36m-p2":
            rows[label] = metrics.group_mean(metrics.per_joint_error(p, gt, "procrustes", mask), actions, mask, order)
            rows[label + " · rigid PA, no scale (Moon et al.)"] = metrics.group_mean(
                metrics.per_joint_error(p, gt, "rigid", mask), actions, mask, order)
        else:
            rows[label] = metrics.group_mean(metrics.per_joint_error(p, gt, "root", mask, root), actions, mask, order)
        if protocol == "h36m-actions":
            rows[label + " · PA-MPJPE"] = metrics.group_mean(
                metrics.per_joint_error(p, gt, "procrustes", mask), actions, mask, order)
        summary[label] = {"MPJPE": metrics.mpjpe(p, gt, mask, root), "PA-MPJPE": metrics.pa_mpjpe(p, gt, mask),
                          "PA-MPJPE rigid": metrics.pa_mpjpe(p, gt, mask, scale=False),
                          "N-MPJPE": metrics.n_mpjpe(p, gt, mask, root)}
    metric = {"h36m-p2": "PA-MPJPE", "h36m-actions": "MPJPE; PA-MPJPE rows"}.get(protocol, "MPJPE")
    details.setdefault("joints", f"{sk.num_joints} ({sk.name}), root-aligned on {sk.joints[root]}")
    details["Avg"] = "mean over all test frames (pooled), not the mean of the action means"
    if protocol == "h36m-actions":
        details["protocol"] = ("not a paper protocol (other subjects or images than the published numbers'), so no "
                               "published row; MPJPE root-aligned, PA-MPJPE after a similarity Procrustes fit")
    if protocol == "h36m-p2":
        details["PA"] = ("similarity Procrustes with scale (VideoPose3D, MMPose); the 'rigid PA' rows fit rotation "
                         "and translation only (Moon et al.'s rigid_align, PoseNet's published numbers)")
    columns = [c for c in order if c in rows[main]] + ["Avg"]
    return {"protocol": protocol, "metric": metric, "unit": "mm", "columns": columns, "rows": rows,
            "summary": summary, "details": details}


def _mupots_arrays(pred: dict):
    """(per annotated person) gt 3D pelvis-relative (N, 17, 3), gt 2D (N, 17, 2), image keys, sequences; and the
    predicted people's sources {label: (pred 3D (M, 17, 3), 2D (M, 17, 2), image keys)}, all in MuPoTS-17 order."""
    idx = _columns(pred, MUPOTS17, "mupots", "MuPoTS-3D")
    valid = np.asarray(pred["valid_3d"], bool)[:, idx]
    if not valid[:, list(metrics.MUPOTS_EVAL_JOINTS) + [MUPOTS17.root]].all():
        bad = int((~valid[:, list(metrics.MUPOTS_EVAL_JOINTS) + [MUPOTS17.root]].all(1)).sum())
        raise ValueError(f"mupots: {bad} annotated people lack 3D ground truth for some scored joint or the pelvis")
    if "gt_3d_univ" in pred:
        gt = np.asarray(pred["gt_3d_univ"], np.float64)
        if gt.shape != (len(valid), 17, 3):
            raise ValueError(f"mupots: gt_3d_univ must be (N, 17, 3) in the MuPoTS-17 order, got {gt.shape}")
    else:
        gt = np.asarray(pred["gt_3d"], np.float64)[:, idx]
    r = MUPOTS17.root
    gt = gt - gt[:, r : r + 1]
    gt_uv = np.asarray(pred["gt_uv_frame"], np.float64)[:, idx]
    keys = [str(k) for k in pred.get("image_key", pred["sample_id"])]
    if "det_pred_3d" in pred:
        sources = {"": (np.asarray(pred["det_pred_3d"], np.float64)[:, idx],
                        np.asarray(pred["det_uv_frame"], np.float64)[:, idx],
                        [str(k) for k in pred["det_image_key"]])}
    else:
        uv = np.asarray(pred["pred_uv_frame"], np.float64)[:, idx]
        sources = {label: (np.asarray(pred[key], np.float64)[:, idx], uv, keys)
                   for label, key in _sources(pred, "").items()}
    return gt, gt_uv, keys, [str(s) for s in pred["subject"]], sources


def _indices_by_key(keys) -> dict:
    """``{key: [positions of key in keys]}``, in order."""
    out: dict = {}
    for i, k in enumerate(keys):
        out.setdefault(k, []).append(i)
    return out


def mupots_errors(gt, gt_uv, gt_keys, pred_3d, pred_uv, pred_keys, threshold_px: float = 40.0):
    """Per annotated person the official MuPoTS-3D joint errors: predictions matched per image in 2D
    (:func:`cdlpose.metrics.match_people_2d`), pelvis-aligned, bones rescaled to the ground truth's
    (:func:`cdlpose.metrics.rescale_to_gt_bones`). Arrays in the MuPoTS-17 order, mm and px.

    Returns ``(errors (N, 17) mm — +inf for every joint of a person no prediction matched, matched (N,) bool)``.
    """
    r = MUPOTS17.root
    by_image, gt_by_image = _indices_by_key(pred_keys), _indices_by_key(gt_keys)
    match = np.full(len(gt), -1, dtype=np.int64)
    for k, g_idx in gt_by_image.items():
        p_idx = by_image.get(k, [])
        m = metrics.match_people_2d(gt_uv[g_idx], pred_uv[p_idx] if p_idx else np.zeros((0, 17, 2)), threshold_px)
        for gi, mi in zip(g_idx, m):
            if mi >= 0:
                match[gi] = p_idx[mi]
    matched = match >= 0
    err = np.full(gt.shape[:2], np.inf)
    if matched.any():
        p = pred_3d[match[matched]]
        p = p - p[:, r : r + 1]
        p = metrics.rescale_to_gt_bones(p, gt[matched])
        err[matched] = np.linalg.norm(p - gt[matched], axis=-1)
    return err, matched


def _score_mupots(pred: dict, name: str, details: dict) -> dict:
    gt, gt_uv, keys, seqs, sources = _mupots_arrays(pred)
    rows, summary = {}, {"samples": int(len(gt)), "error_2d_px": _error_2d(pred)}
    order = sorted(set(seqs), key=metrics._natural_key)
    for suffix, (p3, puv, pkeys) in sources.items():
        label = name + suffix
        err, matched = mupots_errors(gt, gt_uv, keys, p3, puv, pkeys)
        all_ = metrics.sequence_pck(err, seqs, order=order)
        rows[label + " · all annotated people"] = all_["pck"]
        s = {"3DPCK": all_["pck"]["Avg"], "AUC": all_["auc"]["Avg"], "groups_3DPCK": all_["groups_pck"],
             "annotated_people": int(len(gt)), "matched_people": int(matched.sum())}
        if matched.any():
            sel = [i for i in range(len(gt)) if matched[i]]
            mt = metrics.sequence_pck(err[sel], [seqs[i] for i in sel], order=order)
            rows[label + " · matched people only"] = mt["pck"]
            js = list(metrics.MUPOTS_EVAL_JOINTS)
            s.update({"3DPCK matched": mt["pck"]["Avg"], "AUC matched": mt["auc"]["Avg"],
                      "MPJPE matched (bones rescaled)": float(err[matched][:, js].mean())})
        summary[label] = s
    details["joints"] = "14 (MuPoTS-3D: head top … ankles; not pelvis, spine, head), pelvis-aligned"
    details["ground truth"] = ("univ_annot3 (annot.mat; the official evaluation's)" if "gt_3d_univ" in pred else
                               "the annotation file's keypoints_cam (annot3; NOT the official univ_annot3: give the "
                               "sequences' annot.mat files for official numbers)")
    details.setdefault("boxes", "detections" if "det_pred_3d" in pred else "ground-truth boxes")
    details["procedure"] = ("predictions matched to annotated people in 2D (|dx|, |dy| < 40 px on 13 joints), "
                            "predicted bones rescaled to the ground truth's lengths, 3DPCK@150 mm (<) pooled per "
                            "sequence, Avg = mean of the sequences")
    return {"protocol": "mupots", "metric": "3DPCK@150mm", "unit": "%", "columns": order + ["Avg"], "rows": rows,
            "summary": summary, "details": details}


def attach_mupots_ground_truth(pred: dict, records: list) -> dict:
    """Add ``gt_3d_univ`` (N, 17, 3) mm, MuPoTS-17 order, to ``pred`` when every evaluated record carries the
    ``univ_annot3`` ground truth (``joints_3d_univ``, read from the sequences' ``annot.mat``); returns ``pred``."""
    by_id = {str(r["sample_id"]): r for r in records}
    univ = [by_id.get(str(i), {}).get("joints_3d_univ") for i in pred["sample_id"]]
    if univ and all(u is not None for u in univ):
        pred["gt_3d_univ"] = np.stack(univ).astype(np.float64)
    return pred


def mean_pose_rows(result: dict, pred: dict, mean_pose: np.ndarray, label: str = "training-set mean pose") -> dict:
    """Add the row of a constant prediction (the training set's mean normalised pose, (J, 3) mm) to ``result``."""
    const = np.broadcast_to(mean_pose, pred["gt_3d"].shape).copy()
    # one source: a constant has no separate 2.5D back-projection row
    alone = {k: v for k, v in pred.items() if k not in ("pred_3d_backproj", "pose_3d_source")}
    r = score(dict(alone, pred_3d=const), result["protocol"], label)
    for k, v in r["rows"].items():
        if k.startswith(label):
            result["rows"][k] = v
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
    caption = "".join(f"- {k}: {v}\n" for k, v in result.get("details", {}).items())
    md = f"## {result['protocol']}: {result['metric']} ({result['unit']})\n\n{caption}\n{table}\n"
    paths = {"json": out_dir / f"{stem}.json", "csv": out_dir / f"{stem}.csv", "md": out_dir / f"{stem}.md"}
    paths["json"].write_text(json.dumps(result, indent=1))
    with open(paths["csv"], "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["method"] + list(cols))
        for label, vals in result["rows"].items():
            w.writerow([label] + [("" if c not in vals else f"{vals[c]:.4f}") for c in cols])
    paths["md"].write_text(md)
    return paths
