"""Scoring predictions by protocol and writing tables in the paper's layout (pure numpy; see
:mod:`cdlpose.evaluation` for the protocols)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from .. import metrics
from ..geometry import procrustes_align
from ..skeletons import DERIVABLE, H36M17, MUPOTS17, get_skeleton

__all__ = ["score", "write_results", "PAPER_RESULTS", "PAPER_ROWS", "mean_pose_rows", "mupots_errors",
           "attach_mupots_ground_truth"]

_AVG = metrics.H36M_ACTIONS + ("Avg",)

# Labels of the published rows (the Zhang et al. ones are the paper's own tables).
_ZHANG_T1, _ZHANG_T2, _ZHANG_T3 = (f"Zhang et al. AAAI'21 (paper, Table {k})" for k in (1, 2, 3))
_MOON_T1 = "Moon et al. ICCV'19 PoseNet · detected boxes, RootNet root depth (paper, Table 1)"
_MOON_GT = "Moon et al. ICCV'19 PoseNet · ground-truth boxes and root depth (their paper)"
_MOON_T2 = "Moon et al. ICCV'19 PoseNet · detected boxes, RootNet root depth, rigid PA (paper, Table 2)"
_MOON_T3 = "Moon et al. ICCV'19 PoseNet · detected boxes, RootNet roots, all people (paper, Table 3)"

#: The paper's published numbers (Tables 1–4), and the ground-truth-box, ground-truth-root PoseNet number Moon et
#: al. publish, for comparison next to ours (how each was made: :data:`PAPER_ROWS`).
PAPER_RESULTS = {
    "h36m-p1": {_ZHANG_T1: dict(zip(_AVG, (
        43.2, 50.5, 42.7, 47.1, 50.7, 41.1, 45.2, 58.9, 61.6, 48.8, 60.1, 46.3, 35.5, 51.4, 41.0, 48.7))),
                # PoseNet, whose published weights `cdlpose import posenet` reads (their repository's "protocol 2")
                _MOON_T1: dict(zip(_AVG, (
        51.5, 56.8, 51.2, 52.2, 55.2, 47.7, 50.9, 63.3, 69.9, 54.2, 57.4, 50.4, 42.5, 57.5, 47.7, 54.4))),
                _MOON_GT: {"Avg": 53.3}},
    "h36m-p2": {_ZHANG_T2: dict(zip(_AVG, (
        27.3, 29.2, 37.2, 31.5, 33.1, 29.2, 30.7, 32.5, 42.0, 34.6, 36.9, 28.0, 23.3, 34.7, 27.5, 31.8))),
                _MOON_T2: dict(zip(_AVG, (
        32.5, 31.5, 41.5, 36.7, 36.3, 31.9, 33.2, 36.5, 44.4, 36.7, 38.7, 31.2, 25.6, 37.1, 30.5, 35.2)))},
    "mupots": {_ZHANG_T3: {"Avg": 83.3}, _MOON_T3: {"Avg": 81.8}},
    "ablation": {"baseline": 54.1, "jh": 52.0, "bj": 50.8, "full": 48.7},  # Table 4, Protocol 1 MPJPE
}

# How a row's 3D pose was placed: "none" a root-relative pose (the lifting block's): no root depth needed; "gt"
# the 2.5D estimate back-projected at the ground-truth root depth; "k-value" at RootNet's k-value estimate from
# the box (cdlpose.inference.root_depth_estimate); "rootnet" at RootNet's (the network's) estimate.
_ROOT_TEXT = {
    "none": "root-relative 3D from the lifting block: no root depth needed",
    "gt": "the 2.5D estimate back-projected at the ground-truth root depth",
    "k-value": ("the 2.5D estimate back-projected at RootNet's k-value root depth estimate from each box (sanitised "
                "to the image, squared, ×1.25: cdlpose.inference.root_depth_estimate)"),
    "rootnet": "the 2.5D estimate back-projected at RootNet's root depth estimate (the network)",
}
#: Moon et al.'s and the authors' Protocol-2 fit: rotation and translation only (their ``rigid_align``), on every
#: joint the network predicts — Moon et al.'s 18 (the shoulders' mid-point added, its ground truth the mid-point
#: of the true shoulders) — before the 18th is dropped and 17 are scored.
_RIGID_TEXT = ("rigid PA (rotation and translation, no scale: Moon et al.'s rigid_align), fitted on every joint the "
               "network predicts and scored on Human3.6M's 17")

#: How each published row was made: ``boxes``, ``root`` (as cdlpose's rows: "none", "gt", "rootnet"), ``PA``
#: (Protocol 2: "rigid" or "similarity"), ``people`` (MuPoTS-3D: "all", "matched" or None where not stated) and
#: ``text``, the caption's words, with where each fact comes from.
PAPER_ROWS = {
    _ZHANG_T1: {"boxes": "detected", "root": "none",
                "text": ("detected boxes (the authors' release tests on Moon et al.'s DetectNet boxes, "
                         "use_bbox_info = False; the paper does not say); " + _ROOT_TEXT["none"])},
    _MOON_T1: {"boxes": "detected", "root": "rootnet",
               "text": ("DetectNet boxes; " + _ROOT_TEXT["rootnet"] + " (their README: 'Bounding box and root "
                        "locations are obtained from DetectNet and RootNet')")},
    _MOON_GT: {"boxes": "ground truth", "root": "gt",
               "text": ("ground-truth boxes; " + _ROOT_TEXT["gt"] + " (their test configuration's "
                        "use_gt_info = True); the Avg Moon et al.'s paper gives for this setting, as quoted in "
                        "their repository's issues #10 and #34 (no per-action numbers)")},
    _ZHANG_T2: {"boxes": "detected", "root": "none", "PA": "rigid",
                "text": ("detected boxes (the authors' release, as Table 1); " + _ROOT_TEXT["none"] + "; "
                         + _RIGID_TEXT + " (the authors' release: 18 joints, rigid_align, thorax dropped after)")},
    _MOON_T2: {"boxes": "detected", "root": "rootnet", "PA": "rigid",
               "text": ("DetectNet boxes; " + _ROOT_TEXT["rootnet"] + "; " + _RIGID_TEXT
                        + " (their Human36M.evaluate: 18 joints)")},
    _ZHANG_T3: {"boxes": "detected", "root": "none", "people": None,
                "text": ("a top-down pipeline on detected boxes (which ones, and whether all annotated people or "
                         "the matched ones are averaged, the paper does not say); " + _ROOT_TEXT["none"])},
    _MOON_T3: {"boxes": "detected", "root": "rootnet", "people": "all",
               "text": ("DetectNet boxes; " + _ROOT_TEXT["rootnet"] + "; all annotated people (a missed person "
                        "scores 0)")},
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
    _place_published_rows(result, PAPER_RESULTS.get(protocol, {}))
    return result


def _same_way(ours: dict, published: dict) -> bool:
    """Whether a published row was computed as one of ours: the same root depth (or none), the same PA, the same
    people (where the published row says which)."""
    return (ours["root"] == published["root"] and ours.get("PA") == published.get("PA")
            and published.get("people", ours.get("people")) in (None, ours.get("people")))


def _place_published_rows(result: dict, published: dict) -> None:
    """Put each published row right after the first of our rows computed the same way (:func:`_same_way`; the
    rest after ours) and write every row's caption line, ``row <label>``: its boxes, root depth and alignment."""
    kinds = result.pop("_kinds")
    rows, placed = {}, {}
    for label, vals in result["rows"].items():
        rows[label] = vals
        for pl in published:
            if pl not in placed and label in kinds and _same_way(kinds[label], PAPER_ROWS[pl]):
                rows[pl], placed[pl] = published[pl], label
    for pl in published:
        if pl not in placed:
            rows[pl] = published[pl]
    result["rows"] = rows
    details = result["details"]
    for label in rows:
        if label in kinds:
            details[f"row {label}"] = kinds[label]["text"]
        elif label in PAPER_ROWS:
            info = PAPER_ROWS[label]
            if label in placed:
                ours = kinds[placed[label]]
                same = (f"computed as our row {placed[label]!r}" +
                        ("" if ours["boxes"] == info["boxes"] else
                         f", except the boxes ({info['boxes']} there, {ours['boxes']} here)"))
            else:
                same = "no row of this table is computed this way"
            details[f"row {label}"] = f"published: {info['text']}; {same}"


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
    """{row label: (key of ``pred``, how its 3D pose was placed: "none" | "gt" | "k-value")}: the 3D pose, and
    the 2.5D estimate back-projected with the ground-truth root depth — one row where the 3D pose is that
    back-projection (a network without a lifting block). Predictions from detected boxes
    (:func:`predict_detections`: ``det_pred_3d``) are one row, lifted or back-projected at RootNet's k-value
    root depth (``det_pose_3d_source``)."""
    if "det_pred_3d" in pred:
        if pred.get("det_pose_3d_source", pred.get("pose_3d_source")) == "back-projection":
            return {f"{name} 2.5D back-projected (RootNet k-value root depth)": ("det_pred_3d", "k-value")}
        return {name: ("det_pred_3d", "none")}
    backproj = f"{name} 2.5D back-projected (GT root depth)"
    if pred.get("pose_3d_source") == "back-projection":
        return {backproj: ("pred_3d", "gt")}
    out = {name: ("pred_3d", "none")}
    if "pred_3d_backproj" in pred:
        out[backproj] = ("pred_3d_backproj", "gt")
    return out


def _kind(root: str, boxes: str, **extra) -> dict:
    """A row of ours: how it was made (``root``, ``boxes`` and the ``extra`` fields, for :func:`_same_way`) and
    its caption line (the boxes, the root depth, then every ``*_text`` of ``extra``)."""
    words = [_BOXES_TEXT.get(boxes, boxes), _ROOT_TEXT[root]] + [v for k, v in extra.items() if k.endswith("_text")]
    return {"root": root, "boxes": boxes, **{k: v for k, v in extra.items() if not k.endswith("_text")},
            "text": "; ".join(words)}


def _rigid_fit_set(pred: dict, sk, cols: np.ndarray, sel: np.ndarray):
    """The joints Moon et al.'s rigid fit uses for a network whose joints are more than the scored ones (their
    18 on Human3.6M's 17): every network joint, the ground truth of one the data lack (Moon et al.'s 18th, the
    shoulders' mid-point) made as their evaluation makes it, the mean of its :data:`DERIVABLE` joints. Returns
    ``(gt (n, J, 3), mask (n, J))`` over all the network's joints, or ``None`` when the network's joints are the
    scored ones."""
    if len(cols) == sk.num_joints:
        return None
    gt = np.array(pred["gt_3d"], np.float64)[sel]
    valid = np.array(pred["valid_3d"], bool)[sel]
    for j in sorted(set(range(sk.num_joints)) - set(cols.tolist())):
        parts = DERIVABLE.get(sk.joints[j], ())
        if parts and all(p in sk.joints for p in parts):
            idx = [sk.index(p) for p in parts]
            made = ~valid[:, j] & valid[:, idx].all(1)
            gt[made, j] = gt[made][:, idx].mean(1)
            valid[made, j] = True
    return gt, metrics.root_valid_mask(valid, sk.root if sk.root is not None else 0)


def _rigid_errors(p_full: np.ndarray, cols: np.ndarray, gt: np.ndarray, mask: np.ndarray, fit) -> np.ndarray:
    """(n, 17) joint errors after Moon et al.'s rigid fit (no scale): fitted on the scored joints, or with
    ``fit = (gt_full, mask_full)`` on every network joint, then applied to the scored ones."""
    if fit is None:
        return metrics.per_joint_error(p_full[:, cols], gt, "rigid", mask)
    gt_full, mask_full = fit
    _, (_, R, t) = procrustes_align(p_full, gt_full, mask_full, return_transform=True, scale=False)
    aligned = np.einsum("nab,njb->nja", R, p_full[:, cols]) + t[:, None]
    return np.linalg.norm(aligned - gt, axis=-1)


#: The boxes' words in captions.
_BOXES_TEXT = {"ground truth": "ground-truth boxes", "detected": "detected boxes"}

_SIMILARITY = " · similarity PA, with scale (VideoPose3D, MMPose)"


def _score_h36m(pred: dict, protocol: str, name: str, details: dict) -> dict:
    sk_net = sk = _skeleton_of(pred)
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
    # Moon et al.'s rigid fit uses every joint the network predicts (their 18), then scores the 17
    fit = None if protocol == "synthetic" else _rigid_fit_set(pred, sk_net, cols, sel)
    how = _sources(pred, name)
    sources = {label: np.asarray(pred[key], np.float64)[sel] for label, (key, _) in how.items()}
    main = next(iter(sources))
    boxes = "ground truth"  # predict_loader crops the data set's own boxes
    order = metrics.H36M_ACTIONS if protocol != "synthetic" else sorted(set(actions))
    if protocol == "h36m-actions":  # a pose file's own actions after Human3.6M's
        order = metrics.H36M_ACTIONS + tuple(sorted(set(actions) - set(metrics.H36M_ACTIONS)))
    rows, kinds, summary = {}, {}, {"samples": int(len(sel)), "error_2d_px": _error_2d(pred)}
    for label, p_full in sources.items():
        p, root_kind = p_full[:, cols], how[label][1]
        rigid = _rigid_errors(p_full, cols, gt, mask, fit)
        if protocol == "h36m-p2":
            # the published rows (Moon et al.'s evaluation, the authors' release) fit rigidly: ours without a suffix
            rows[label] = metrics.group_mean(rigid, actions, mask, order)
            kinds[label] = _kind(root_kind, boxes, PA="rigid", pa_text=_RIGID_TEXT)
            rows[label + _SIMILARITY] = metrics.group_mean(
                metrics.per_joint_error(p, gt, "procrustes", mask), actions, mask, order)
            kinds[label + _SIMILARITY] = _kind(root_kind, boxes, PA="similarity", pa_text=(
                "similarity PA (rotation, translation and scale), fitted on the 17 scored joints"))
        else:
            rows[label] = metrics.group_mean(metrics.per_joint_error(p, gt, "root", mask, root), actions, mask, order)
            kinds[label] = _kind(root_kind, boxes)
        if protocol == "h36m-actions":
            rows[label + " · PA-MPJPE"] = metrics.group_mean(
                metrics.per_joint_error(p, gt, "procrustes", mask), actions, mask, order)
            kinds[label + " · PA-MPJPE"] = _kind(root_kind, boxes, PA="similarity",
                                                 pa_text="similarity PA, fitted on the scored joints")
        summary[label] = {"MPJPE": metrics.mpjpe(p, gt, mask, root), "PA-MPJPE": metrics.pa_mpjpe(p, gt, mask),
                          "PA-MPJPE rigid": float(rigid[mask].sum() / mask.sum()),
                          "N-MPJPE": metrics.n_mpjpe(p, gt, mask, root)}
    metric = {"h36m-p2": "PA-MPJPE", "h36m-actions": "MPJPE; PA-MPJPE rows"}.get(protocol, "MPJPE")
    details.setdefault("boxes", f"{_BOXES_TEXT[boxes]} for every {name} row")
    details.setdefault("joints", f"{sk.num_joints} ({sk.name}), root-aligned on {sk.joints[root]}")
    details["Avg"] = "mean over all test frames (pooled), not the mean of the action means"
    if protocol == "h36m-actions":
        details["protocol"] = ("not a paper protocol (other subjects or images than the published numbers'), so no "
                               "published row; MPJPE root-aligned, PA-MPJPE after a similarity Procrustes fit")
    fitted_on = (f"the network's {sk_net.num_joints} joints ({sk_net.name}: the shoulders' mid-point's ground truth "
                 "made as Moon et al.'s evaluation makes it, the mid-point of the true shoulders), then the 17 "
                 "scored, as Moon et al.'s evaluation and the authors' release do" if fit is not None else
                 f"the {sk.num_joints} scored joints")
    if protocol == "h36m-p2":
        details["PA"] = ("rows without a suffix: Moon et al.'s rigid fit (rotation and translation, no scale: "
                         "rigid_align), the alignment of the published rows (PoseNet's numbers, and the authors' "
                         f"release behind the paper's 31.8 mm), fitted on {fitted_on}; the '{_SIMILARITY[3:]}' "
                         "rows: similarity Procrustes with scale, fitted on the 17 scored joints")
    elif protocol != "synthetic":
        details["PA"] = f"the summary's 'PA-MPJPE rigid' is Moon et al.'s rigid fit on {fitted_on}"
    columns = [c for c in order if c in rows[main]] + ["Avg"]
    return {"protocol": protocol, "metric": metric, "unit": "mm", "columns": columns, "rows": rows,
            "summary": summary, "details": details, "_kinds": kinds}


def _mupots_arrays(pred: dict):
    """(per annotated person) gt 3D pelvis-relative (N, 17, 3), gt 2D (N, 17, 2), image keys, sequences; and the
    predicted people's sources {label suffix: (pred 3D (M, 17, 3), 2D (M, 17, 2), image keys, how the 3D pose was
    placed)}, all in MuPoTS-17 order."""
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
    how = _sources(pred, "")
    if "det_pred_3d" in pred:
        sources = {label: (np.asarray(pred["det_pred_3d"], np.float64)[:, idx],
                           np.asarray(pred["det_uv_frame"], np.float64)[:, idx],
                           [str(k) for k in pred["det_image_key"]], kind) for label, (_, kind) in how.items()}
    else:
        uv = np.asarray(pred["pred_uv_frame"], np.float64)[:, idx]
        sources = {label: (np.asarray(pred[key], np.float64)[:, idx], uv, keys, kind)
                   for label, (key, kind) in how.items()}
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
    rows, kinds, summary = {}, {}, {"samples": int(len(gt)), "error_2d_px": _error_2d(pred)}
    order = sorted(set(seqs), key=metrics._natural_key)
    boxes = "detected" if "det_pred_3d" in pred else "ground truth"
    for suffix, (p3, puv, pkeys, root_kind) in sources.items():
        label = name + suffix
        err, matched = mupots_errors(gt, gt_uv, keys, p3, puv, pkeys)
        all_ = metrics.sequence_pck(err, seqs, order=order)
        rows[label + " · all annotated people"] = all_["pck"]
        kinds[label + " · all annotated people"] = _kind(root_kind, boxes, people="all",
                                                         people_text="all annotated people (a missed one scores 0)")
        s = {"3DPCK": all_["pck"]["Avg"], "AUC": all_["auc"]["Avg"], "groups_3DPCK": all_["groups_pck"],
             "annotated_people": int(len(gt)), "matched_people": int(matched.sum())}
        if matched.any():
            sel = [i for i in range(len(gt)) if matched[i]]
            mt = metrics.sequence_pck(err[sel], [seqs[i] for i in sel], order=order)
            rows[label + " · matched people only"] = mt["pck"]
            kinds[label + " · matched people only"] = _kind(root_kind, boxes, people="matched",
                                                            people_text="the matched people only")
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
            "summary": summary, "details": details, "_kinds": kinds}


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
            result["details"][f"row {k}"] = ("a constant prediction, the training set's mean normalised pose: no "
                                             "image, box or root depth")
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
