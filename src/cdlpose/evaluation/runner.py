"""Running a network over a data set (``predict_loader``), over detected boxes (``predict_detections``), and a
whole checkpoint evaluation (``evaluate_checkpoint``, what ``cdlpose evaluate`` runs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..codec import index_to_depth
from ..config import Config, apply_overrides
from ..data.check import missing_data_paths
from ..data.datasets import build_dataset, collate
from ..data.pipeline import CropAugment
from ..data.workers import available_cores, worker_init
from ..errors import ConfigError
from ..geometry import rescale_points
from ..loading import codec_for, load_model
from ..skeletons import get_skeleton
from .scoring import attach_mupots_ground_truth, score, write_results

__all__ = ["predict_loader", "crop_camera", "predict_detections", "evaluate_checkpoint", "PAPER_PROTOCOLS"]

#: The per-sample label fields predict_loader passes through as lists.
_LIST_KEYS = ("sample_id", "subject", "action", "dataset", "image_key")


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

    - ``pred_3d`` (N, J, 3) mm, root-relative: the lifting block's pose (normalised scale, eq. 10); for a
      network without one (imported PoseNet weights) the back-projected estimate below, as PoseNet is evaluated;
    - ``pred_3d_backproj`` (N, J, 3) mm: the 2.5D estimate back-projected with the crop camera and the
      *ground-truth* root depth (PoseNet's evaluation; the lifting-free reference);
    - ``gt_3d`` (N, J, 3) mm root-relative, original scale; ``valid_3d`` (N, J);
    - ``pred_uv`` / ``gt_uv`` (N, J, 2) crop pixels; ``valid_2d`` (N, J);
    - ``uvz`` (N, J, 3) the 2.5D estimate (map pixels, depth index); ``scale`` (N,) the eq. (10) factor;
    - ``pred_uv_frame`` / ``gt_uv_frame`` (N, J, 2) the same in frame (full image) pixels;
    - ``sample_id``, ``subject``, ``action``, ``dataset``, ``image_key`` (the frame a person is in) lists;
    - ``skeleton``: the network's joint set (name).
    """
    from tqdm.auto import tqdm

    net.eval()
    sk = get_skeleton(net.config.skeleton)
    root = sk.root
    C = net.config.depth_bins
    flip_index = torch.as_tensor(sk.flip_index, device=device)
    cols = {k: [] for k in ("pred_3d", "pred_3d_backproj", "gt_3d", "valid_3d", "pred_uv", "gt_uv", "valid_2d",
                            "pred_uv_frame", "gt_uv_frame", "uvz", "scale") + _LIST_KEYS}
    use_amp = device.type == "cuda" and amp != "none"
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    for batch in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
        images = batch["image"].to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=dtype, enabled=use_amp):
            uvz = net.volumes(images)["uvz"].float()
            if flip:
                uvz_f = net.volumes(images.flip(-1))["uvz"].float()
                uvz = 0.5 * (uvz + _flip_uvz(uvz_f, images.shape[-1] // 4, flip_index))
        # the crop camera (fx, fy, cx, cy in crop pixels) for a lifting block that sees viewing rays
        camera = crop_camera(batch).to(device)
        pose = net.lifting(uvz, camera).float() if net.lifting is not None else None
        S = images.shape[-1]
        m = S // 4
        uv_crop = rescale_points(uvz[..., :2].cpu().numpy().astype(np.float64), (m, m), (S, S))
        z_mm = index_to_depth(uvz[..., 2], C, depth_range).cpu().numpy().astype(np.float64)
        X = batch["joints_3d"].numpy().astype(np.float64)
        f, c = batch["f"].numpy()[:, None], batch["c"].numpy()[:, None]
        Z = X[:, root : root + 1, 2] + z_mm  # ground-truth root depth + predicted relative depth
        bp = np.concatenate([(uv_crop - c) / f * Z[..., None], Z[..., None]], -1)
        cols["pred_3d_backproj"].append(bp - bp[:, root : root + 1])
        cols["pred_3d"].append(cols["pred_3d_backproj"][-1] if pose is None else pose.cpu().numpy().astype(np.float64))
        cols["gt_3d"].append(X - X[:, root : root + 1])
        cols["valid_3d"].append(batch["valid_3d"].numpy())
        gt_crop = batch["uv_crop"].numpy().astype(np.float64)
        cols["pred_uv"].append(uv_crop)
        cols["gt_uv"].append(gt_crop)
        cols["valid_2d"].append(batch["valid_2d"].numpy())
        # the frame (full image) pixels of both, for matching people in the frame (MuPoTS-3D): each sample's own
        # crop → frame affine (N, 2, 3)
        A = batch["crop_to_frame"].numpy().astype(np.float64)
        for key, uv in (("pred_uv_frame", uv_crop), ("gt_uv_frame", gt_crop)):
            cols[key].append(np.einsum("nab,njb->nja", A[:, :, :2], uv) + A[:, None, :, 2])
        cols["uvz"].append(uvz.cpu().numpy())
        cols["scale"].append(batch["scale"].numpy())
        for k in _LIST_KEYS:
            cols[k].extend(batch[k] if k in batch else batch["sample_id"])
    if not cols["gt_3d"]:
        raise ValueError("evaluation data set is empty")
    out = {k: (np.concatenate(v) if k not in _LIST_KEYS else v) for k, v in cols.items()}
    out["skeleton"] = sk.name
    out["pose_3d_source"] = "lifting" if net.lifting is not None else "back-projection"
    return out


def crop_camera(batch: dict) -> torch.Tensor:
    """The crops' cameras (B, 4) = (fx, fy, cx, cy) in crop pixels, from a batch of the crop pipeline (its ``f``
    and ``c``: the augmented crop camera; NaN for 2D-only samples)."""
    return torch.cat([batch["f"], batch["c"]], -1).float()


def predict_detections(predictor, records: list, detections: str | Path, min_score: float = 0.0,
                       progress: bool = False) -> dict:
    """Top-down predictions from detected boxes for every image of ``records`` (the annotated test people).

    ``detections``: a COCO results file (``[{"image_id", "bbox": [x, y, w, h], "score", "category_id"?}]``) whose
    ``image_id`` are the test set's image ids (as RootNet's MuPoTS-3D box files); ``predictor``: a
    :class:`cdlpose.inference.Predictor`. Returns ``det_pred_3d`` (M, J, 3) mm root-relative, ``det_uv_frame``
    (M, J, 2) image px, ``det_image_key`` (M,), ``det_score`` (M,), ``det_images_without_boxes``, and
    ``det_pose_3d_source``: the predictor's ``pose_3d_source`` — ``"lifting"`` (root-relative, no root depth) or
    ``"back-projection"`` (the 2.5D estimate back-projected at RootNet's k-value root depth from each box: no
    ground truth is given to the predictor).
    """
    from tqdm.auto import tqdm

    from ..data.datasets import image_key
    from ..detection import read_detections

    dets = read_detections(detections, min_score)
    images: dict = {}
    for r in records:
        images.setdefault(image_key(r), (r["image_path"], r.get("image_id"), r.get("f"), r.get("c")))
    jobs, empty = [], []
    for key, (path, iid, f, c) in images.items():
        found = dets.by_id.get(iid, dets.by_id.get(str(iid), [])) if iid is not None else []
        if not found:
            found = [(1.0, b) for b in dets.boxes_for(path)]
        if found:
            found = sorted(found, key=lambda sb: -sb[0])
            jobs.append((key, path, [b for _, b in found], [sc for sc, _ in found], f, c))
        else:
            empty.append(key)
    out = {"det_pred_3d": [], "det_uv_frame": [], "det_image_key": [], "det_score": []}
    for key, path, boxes, scores, f, c in tqdm(jobs, desc="detections", disable=not progress, leave=False):
        # the test set's own intrinsics: the crop cameras the lifting block sees, as in the ground-truth-box path
        known = f is not None and c is not None and np.isfinite(f).all() and np.isfinite(c).all()
        kw = {"focal": tuple(map(float, f)), "centre": tuple(map(float, c))} if known else {}
        people = predictor.predict([path], [boxes], **kw)
        for ps in people:
            for p, sc in zip(ps, scores):
                out["det_pred_3d"].append(p["keypoints_3d"])
                out["det_uv_frame"].append(p["keypoints_2d"])
                out["det_image_key"].append(key)
                out["det_score"].append(sc)
    J = predictor.skeleton.num_joints
    res = {"det_pred_3d": np.asarray(out["det_pred_3d"], np.float64).reshape(-1, J, 3),
           "det_uv_frame": np.asarray(out["det_uv_frame"], np.float64).reshape(-1, J, 2),
           "det_image_key": out["det_image_key"], "det_score": np.asarray(out["det_score"], np.float64),
           "det_images_without_boxes": empty, "det_pose_3d_source": getattr(predictor, "pose_3d_source", None)}
    return res


#: Protocols of the paper's tables: ``cdlpose evaluate`` uses the flip test for them unless told otherwise.
PAPER_PROTOCOLS = ("h36m-p1", "h36m-p2", "mupots")


def evaluate_checkpoint(checkpoint: str | Path, cfg: Config | None = None, protocol: str | None = None,
                        flip: bool | None = None, out_dir: str | Path | None = None, device=None,
                        progress: bool = True, stem: str | None = None, workers: int | None = None,
                        detections: str | Path | None = None, min_score: float = 0.0,
                        overrides=()) -> tuple[dict, dict]:
    """Evaluate a checkpoint on the ``test`` entries of ``cfg.data`` (default: the checkpoint's own config).
    ``workers``: DataLoader worker processes (default: ``train.workers``, at most the CPU cores available).

    ``flip``: the flip test (default: on for the paper's protocols, as the authors' and Moon et al.'s test
    configurations, off for ``synthetic``). ``detections``: MuPoTS-3D only, a COCO results file of person boxes
    for the test images (the paper's top-down setting); without it the annotated boxes are used, and the table
    says so. Writes ``eval-<protocol>[-flip][-det].{json,csv,md}`` into ``out_dir`` (default: the checkpoint's
    folder). Returns (result of :func:`cdlpose.evaluation.score`, predictions)."""
    from ..data.datasets import dataset_records
    from ..inference import Predictor

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    net, saved, ckpt = load_model(checkpoint, device)
    # ``overrides`` (``--set``) change the given config, or the checkpoint's own
    cfg = apply_overrides(saved if cfg is None else cfg, list(overrides))
    missing_data_paths(cfg.data, ("test",))
    # the config gives the test data; the network is the checkpoint's, and the data are read into its joint set
    # (an 18-joint PoseNet on Human3.6M's 17: the 18th has no ground truth and is not scored)
    protocol = protocol or cfg.data.protocol
    flip = protocol in PAPER_PROTOCOLS if flip is None else flip
    if detections is not None and protocol != "mupots":
        raise ConfigError(f"--detections: evaluation with detected boxes is the MuPoTS-3D protocol's, not {protocol}'s")
    aug = CropAugment(saved.model.skeleton, dataclasses.replace(saved.augment, train=False))
    test = build_dataset(cfg.data, "test", aug)
    if test is None:
        raise ConfigError("data.datasets has no entry with role 'test' to evaluate on")
    t = cfg.train
    # a recipe's worker count is the training host's (8 on a GPU server); more workers than cores only contend
    workers = min(t.workers, available_cores()) if workers is None else workers
    loader = DataLoader(test, batch_size=t.eval_batch_size, num_workers=workers, collate_fn=collate,
                        worker_init_fn=worker_init, pin_memory=device.type == "cuda")
    amp = saved.train.amp if device.type == "cuda" else "none"
    pred = predict_loader(net, loader, device, flip, amp, codec_for(saved).depth_range, progress)
    details = {"flip test": "on" if flip else "off"}
    if cfg.model.skeleton != saved.model.skeleton:
        details["network joints"] = (f"{saved.model.skeleton} (the checkpoint's; the config's model.skeleton "
                                     f"{cfg.model.skeleton} is not used)")
    if net.lifting is None and detections is not None:
        details["3D"] = ("the 2.5D estimate back-projected at RootNet's k-value root depth estimate from each "
                         "detected box (no lifting block; no ground truth at inference)")
    elif net.lifting is None:
        details["3D"] = ("the 2.5D estimate back-projected with the ground-truth root depth (no lifting block: "
                         "PoseNet's evaluation with ground-truth boxes and root)")
    else:
        details["3D"] = ("the lifting block's root-relative pose (no root depth needed)" +
                         ("" if detections is not None else "; the back-projected rows use the ground-truth root "
                                                            "depth"))
    if protocol == "mupots":
        records = dataset_records(test)
        attach_mupots_ground_truth(pred, records)
        if detections is not None:
            pred.update(predict_detections(Predictor(net, saved, device, flip), records, detections, min_score,
                                           progress=progress))
            details["boxes"] = (f"detections from {detections} (score ≥ {min_score}); "
                                f"{len(pred['det_images_without_boxes'])} test images had none")
        else:
            details["boxes"] = "ground-truth boxes (the annotated people's; not the paper's detected boxes)"
    origin = ckpt.get("imported_from")
    result = score(pred, protocol, name=origin["label"] if isinstance(origin, dict) and "label" in origin else "cdlpose",
                   details=details)
    result["checkpoint"] = str(checkpoint)
    result["flip_test"] = flip
    result["stage"] = saved.train.stage
    if saved.train.stage == 1 and net.lifting is not None:
        result["note"] = ("stage-1 checkpoint: its lifting block is untrained; the back-projected row is the "
                          "meaningful one")
    out_dir = Path(checkpoint).parent if out_dir is None else Path(out_dir)
    write_results(result, out_dir, stem or f"eval-{protocol}{'-flip' if flip else ''}{'-det' if detections else ''}")
    return result, pred
