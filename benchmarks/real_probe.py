"""A real-image probe: networks trained on synthetic images, run on the real photographs in ``../shared/fixtures``.

The frames with ground truth there are few (MMPose's test samples: 4 Human3.6M and 4 MPI-INF-3DHP frames with 3D
joints, 4 COCO images and 5 MPII images with 2D joints) — a probe, not a benchmark: it tells a network that
transfers to photos from one that does not, nothing finer. Each person is cropped from its ground-truth box (as
``cdlpose predict --box`` does) and scored on the 12 limb joints the joint sets share (shoulders, elbows, wrists,
hips, knees, ankles):

- **PCK@0.2** (%): a joint is correct when its 2D error is below 0.2 × the larger side of the person's box;
- **2D error** (% of the box side): the mean over joints of the 2D error over the larger side of the box;
- **MPJPE / PA-MPJPE** (mm) on the frames with 3D joints: the pelvis and the 12 limb joints (the joints both
  Human3.6M and MPI-INF-3DHP define alike), root-aligned at the pelvis / Procrustes-aligned, the network's pose
  against the ground truth in its own scale (as cdlpose's evaluation compares).

Baseline row ``mean pose``: the training images' mean 2D pose (in crop coordinates) placed in each box, and their
mean 3D pose — what a network that learnt nothing from the image scores.

Each network also gets 95% bootstrap intervals over the people (PCK@0.2 of all 25, PA-MPJPE of the Human3.6M
frames): with 25 people, differences inside them are noise. ``CHECKPOINT`` ``shipped``: the model cdlpose ships.
``--flip``: the networks run with the flip test (as ``cdlpose predict --flip``); without it, as ``predict`` does
by default.

    python benchmarks/real_probe.py NAME=CHECKPOINT [NAME=CHECKPOINT ...] [--mean-pose-from CHECKPOINT] [--flip]
        [--out benchmarks/results/real_probe.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
LIMBS = ("L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Hip", "R_Hip", "L_Knee",
         "R_Knee", "L_Ankle", "R_Ankle")


#: MPI-INF-3DHP's 17 joints in MMPose's order (its fixture README), by cdlpose's names where they agree
_3DHP = {"R_Shoulder": 2, "R_Elbow": 3, "R_Wrist": 4, "L_Shoulder": 5, "L_Elbow": 6, "L_Wrist": 7, "R_Hip": 8,
         "R_Knee": 9, "R_Ankle": 10, "L_Hip": 11, "L_Knee": 12, "L_Ankle": 13, "Pelvis": 14}
SCORED_3D = ("Pelvis",) + LIMBS


def _read_3dhp(folder: Path) -> list[dict]:
    """MPI-INF-3DHP frames in MMPose's npz layout (``imgname``, ``center``, ``scale`` = 1.2 × box side / 200,
    ``part`` (N, 17, 3) px + inside-image flag, ``S`` (N, 17, 4) camera metres + flag), intrinsics from its
    ``cameras_{train,test}.pkl`` (``S4_Seq2_Cam0`` / ``TS1`` keys from the image name)."""
    from cdlpose.data.readers import load_numpy_pickle

    people = []
    for split in ("train", "test"):
        cams = load_numpy_pickle(folder / f"cameras_{split}.pkl")
        with np.load(folder / f"test_3dhp_{split}.npz", allow_pickle=False) as z:
            names, centre, scale, part, S = (z[k] for k in ("imgname", "center", "scale", "part", "S"))
        for i, name in enumerate(names):
            key = str(name).rsplit("_", 1)[0]
            if part.shape[1:] != (17, 3) or S.shape[1:] != (17, 4) or key not in cams:
                raise ValueError(f"{folder}: {name}: expected part (17, 3), S (17, 4) and camera {key!r}")
            side = float(scale[i]) * 200.0 / 1.2
            box = np.array([centre[i][0] - side / 2, centre[i][1] - side / 2, side, side])
            idx = [_3DHP[n] for n in LIMBS]
            people.append({"image": str(folder / str(name)), "box": box, "gt_2d": part[i, idx, :2],
                           "valid": part[i, idx, 2] > 0, "dataset": "MPI-INF-3DHP",
                           "gt_3d": S[i, [_3DHP[n] for n in SCORED_3D], :3] * 1000.0,
                           "f": np.asarray(cams[key]["f"], np.float64).ravel(),
                           "c": np.asarray(cams[key]["c"], np.float64).ravel()})
    return people


def read_people() -> list[dict]:
    """Every person with ground truth in the fixtures: ``image`` (path), ``box`` [x, y, w, h], ``gt_2d`` (12, 2) px,
    ``valid`` (12,), ``dataset``; frames with 3D also ``gt_3d`` (13, 3) mm camera axes (:data:`SCORED_3D`), ``f``,
    ``c``."""
    from cdlpose.data.readers import read_coco, read_h36m_mmpose, read_mpii
    from cdlpose.skeletons import H36M17, get_skeleton

    people = []
    h = FIXTURES / "h36m"
    for r in read_h36m_mmpose(h / "test_h36m_body3d.npz", h / "cameras.pkl", h):
        idx = [H36M17.joints.index(n) for n in LIMBS]
        people.append({"image": r["image_path"], "box": r["box"], "gt_2d": r["joints_2d"][idx],
                       "valid": r["valid_2d"][idx], "dataset": "Human3.6M",
                       "gt_3d": r["joints_3d"][[H36M17.joints.index(n) for n in SCORED_3D]],
                       "f": r["f"], "c": r["c"]})
    people += _read_3dhp(FIXTURES / "mpi_inf_3dhp")
    for name, reader, path in (("coco", read_coco, FIXTURES / "coco" / "test_coco.json"),
                               ("mpii", read_mpii, FIXTURES / "mpii" / "test_mpii.json")):
        for r in reader(path, path.parent):
            sk = get_skeleton(r["skeleton"])  # cdlpose names the joints alike in every joint set
            idx = [sk.joints.index(n) for n in LIMBS]
            valid = r["valid_2d"][idx]
            if valid.sum() < 6:  # a person with most limbs unlabelled says little
                continue
            people.append({"image": r["image_path"], "box": r["box"], "gt_2d": r["joints_2d"][idx], "valid": valid,
                           "dataset": name.upper()})
    return people


def _side(box) -> float:
    return float(max(box[2], box[3]))


def _errors(people: list[dict], pred_2d: list) -> list:
    """Per person, the 2D errors of its valid limb joints over the larger side of its box."""
    return [np.linalg.norm(uv - p["gt_2d"], axis=1)[p["valid"]] / _side(p["box"]) for p, uv in zip(people, pred_2d)]


def score(people: list[dict], pred_2d: list, pred_3d: list) -> dict:
    """PCK@0.2 and 2D error (% of box side) per data set and overall; MPJPE / PA-MPJPE on the 3D frames."""
    from cdlpose.metrics import mpjpe, pa_mpjpe

    rows, by = {}, {}
    for p, e in zip(people, _errors(people, pred_2d)):
        for key in (p["dataset"], "all"):
            by.setdefault(key, []).append(e)
    for key, es in by.items():
        e = np.concatenate(es)
        rows[key] = {"people": len(es), "joints": int(e.size), "pck@0.2": 100.0 * float(np.mean(e < 0.2)),
                     "error_2d_pct": 100.0 * float(np.mean(e))}
    for key in ("Human3.6M", "MPI-INF-3DHP"):
        three = [(p["gt_3d"], q) for p, q in zip(people, pred_3d) if p["dataset"] == key and q is not None]
        if three:
            gt, pr = np.stack([g for g, _ in three]), np.stack([q for _, q in three])
            rows[key].update({"mpjpe": mpjpe(pr, gt), "pa_mpjpe": pa_mpjpe(pr, gt)})
    return rows


def bootstrap(people: list[dict], pred_2d: list, pred_3d: list, draws: int = 2000, seed: int = 0) -> dict:
    """95% percentile intervals over people resampled with replacement (``draws`` times, seeded): PCK@0.2 of all
    people (joints pooled, as :func:`score`), and PA-MPJPE (mm) over the Human3.6M frames' people."""
    from cdlpose.metrics import pa_mpjpe

    errors = _errors(people, pred_2d)
    hits = np.array([np.sum(e < 0.2) for e in errors], float)
    counts = np.array([e.size for e in errors], float)
    r = np.random.default_rng(seed)
    idx = r.integers(len(people), size=(draws, len(people)))
    pck = 100.0 * hits[idx].sum(1) / counts[idx].sum(1)
    out = {"pck@0.2": [float(np.percentile(pck, 2.5)), float(np.percentile(pck, 97.5))], "draws": draws}
    h36m = [k for k, p in enumerate(people) if p["dataset"] == "Human3.6M" and pred_3d[k] is not None]
    if h36m:
        # per-person PA-MPJPE is what a resample averages (pa_mpjpe's mean over people, each aligned alone)
        per = np.array([pa_mpjpe(pred_3d[k][None], people[k]["gt_3d"][None]) for k in h36m])
        j = r.integers(len(h36m), size=(draws, len(h36m)))
        pa = per[j].mean(1)
        out["h36m_pa_mpjpe"] = [float(np.percentile(pa, 2.5)), float(np.percentile(pa, 97.5))]
    return out


def _checkpoint(path: str) -> str | None:
    """A checkpoint argument: ``shipped`` is the model cdlpose ships (None to the loaders)."""
    return None if path == "shipped" else path


def run_network(path: str, people: list[dict], flip: bool = False) -> tuple[list, list]:
    """A network's 2D limb joints (px) and 3D scored joints (mm) per person; ``path`` ``shipped``: the model cdlpose
    ships (``cdlpose.loading.DEFAULT_MODEL``); ``flip``: with the flip test."""
    from cdlpose.inference import Predictor

    pred = Predictor.from_checkpoint(_checkpoint(path), device="cpu", flip=flip)
    uv, xyz = [], []
    for p in people:
        kw = {"focal": p["f"], "centre": p["c"]} if "f" in p else {}
        out = pred.predict([p["image"]], boxes=[[list(map(float, p["box"]))]], **kw)[0][0]
        k2d = np.asarray(out["keypoints_2d"])
        idx = [pred.skeleton.joints.index(n) for n in LIMBS]
        uv.append(k2d[idx])
        idx3 = [pred.skeleton.joints.index(n) for n in SCORED_3D]
        xyz.append(np.asarray(out["keypoints_3d"])[idx3] if "gt_3d" in p else None)
    return uv, xyz


def mean_pose(path: str, people: list[dict]) -> tuple[list, list]:
    """The training set's mean pose (of the checkpoint's training data: its synthetic config) in each box."""
    from cdlpose.data.datasets import read_entry
    from cdlpose.geometry import box_from_joints, fix_aspect_ratio
    from cdlpose.loading import load_model, model_path
    from cdlpose.skeletons import H36M17

    _, cfg, _ = load_model(model_path(_checkpoint(path)), "cpu")
    entry = next(e for e in cfg.data.datasets if e.get("role", "train") == "train")
    # the entry as the training read it (pose set, style, size of crop …), its first 500 samples
    ds = read_entry(dict(entry, size=min(int(entry["size"]), 500)), validate=False)
    idx = [H36M17.joints.index(n) for n in LIMBS]
    unit, poses = [], []
    for i in range(len(ds)):
        s = ds[i]
        b = fix_aspect_ratio(box_from_joints(s["joints_2d"], aspect_ratio=None), 1.0, 1.0)  # square, tight
        unit.append((s["joints_2d"] - b[:2]) / b[2])  # in units of the box side, from its corner
        poses.append(s["joints_3d"] - s["joints_3d"][:1])
    mean_unit = np.mean(unit, 0)[idx]
    mean_3d = np.mean(poses, 0)[[H36M17.joints.index(n) for n in SCORED_3D]]
    uv, xyz = [], []
    for p in people:
        b = fix_aspect_ratio(np.asarray(p["box"], np.float64), 1.0, 1.0)
        uv.append(b[:2] + mean_unit * b[2])
        xyz.append(mean_3d if "gt_3d" in p else None)
    return uv, xyz


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("networks", nargs="+", metavar="NAME=CHECKPOINT")
    ap.add_argument("--mean-pose-from", default=None, help="a checkpoint whose synthetic training set gives the "
                    "mean-pose row (default: the first)")
    ap.add_argument("--flip", action="store_true", help="run the networks with the flip test (the mirrored crop "
                    "averaged in), as cdlpose predict --flip")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "real_probe.json"))
    args = ap.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"{FIXTURES} is absent: the probe reads the real frames there")
    nets = dict(a.split("=", 1) for a in args.networks)
    people = read_people()
    results = {}
    intervals = {}
    for name, path in nets.items():
        preds = run_network(path, people, args.flip)
        results[name] = score(people, *preds)
        intervals[name] = bootstrap(people, *preds)
    results["mean pose"] = score(people, *mean_pose(args.mean_pose_from or next(iter(nets.values())), people))
    sets = [k for k in ("Human3.6M", "MPI-INF-3DHP", "COCO", "MPII", "all") if k in results["mean pose"]]
    three = ("Human3.6M", "MPI-INF-3DHP")
    print("| trained on | " + " | ".join(f"{k} PCK@0.2 (%)" for k in sets) + " | all: 2D error (% of box) | "
          + " | ".join(f"{k} MPJPE / PA-MPJPE (mm)" for k in three) + " |")
    print("|---|" + "---:|" * (len(sets) + 3))
    for name, rows in results.items():
        cells = [f"{rows[k]['mpjpe']:.0f} / {rows[k]['pa_mpjpe']:.0f}" if "mpjpe" in rows.get(k, {}) else "—"
                 for k in three]
        print(f"| {name} | " + " | ".join(f"{rows[k]['pck@0.2']:.0f}" for k in sets)
              + f" | {rows['all']['error_2d_pct']:.1f} | " + " | ".join(cells) + " |")
    for name, ci in intervals.items():
        line = f"{name}: 95% interval over people (bootstrap, {ci['draws']} draws): PCK@0.2 {ci['pck@0.2'][0]:.0f}–" \
               f"{ci['pck@0.2'][1]:.0f}%"
        if "h36m_pa_mpjpe" in ci:
            line += f", Human3.6M PA-MPJPE {ci['h36m_pa_mpjpe'][0]:.0f}–{ci['h36m_pa_mpjpe'][1]:.0f} mm"
        print(line)
    counts = {k: (results["mean pose"][k]["people"], results["mean pose"][k]["joints"]) for k in sets}
    print("people / joints scored: " + ", ".join(f"{k} {p} / {j}" for k, (p, j) in counts.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"networks": nets, "flip_test": args.flip, "results": results, "intervals": intervals,
                               "machine": platform.machine(),
                               "date": time.strftime("%Y-%m-%d")}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
