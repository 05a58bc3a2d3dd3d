"""A real-image probe: networks trained on synthetic images, run on the real photographs in ``../shared/fixtures``.

The frames with ground truth there are few (MMPose's test samples: 4 Human3.6M frames with 3D joints, 4 COCO images
and 5 MPII images with 2D joints) — a probe, not a benchmark: it tells a network that transfers to photos from one
that does not, nothing finer. Each person is cropped from its ground-truth box (as ``cdlpose predict --box`` does)
and scored on the 12 limb joints the three joint sets share (shoulders, elbows, wrists, hips, knees, ankles):

- **PCK@0.2** (%): a joint is correct when its 2D error is below 0.2 × the larger side of the person's box;
- **2D error** (% of the box side): the mean over joints of the 2D error over the larger side of the box;
- **MPJPE / PA-MPJPE** (mm) on the Human3.6M frames: the 17 joints, root-aligned / Procrustes-aligned.

Baseline row ``mean pose``: the training images' mean 2D pose (in crop coordinates) placed in each box, and their
mean 3D pose — what a network that learnt nothing from the image scores.

    python benchmarks/real_probe.py NAME=CHECKPOINT [NAME=CHECKPOINT ...] [--mean-pose-from CHECKPOINT]
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


def read_people() -> list[dict]:
    """Every person with ground truth in the fixtures: ``image`` (path), ``box`` [x, y, w, h], ``gt_2d`` (12, 2) px,
    ``valid`` (12,), ``dataset``; Human3.6M also ``gt_3d`` (17, 3) mm camera axes, ``f``, ``c``."""
    from cdlpose.data.readers import read_coco, read_h36m_mmpose, read_mpii
    from cdlpose.skeletons import H36M17, get_skeleton

    people = []
    h = FIXTURES / "h36m"
    for r in read_h36m_mmpose(h / "test_h36m_body3d.npz", h / "cameras.pkl", h):
        idx = [H36M17.joints.index(n) for n in LIMBS]
        people.append({"image": r["image_path"], "box": r["box"], "gt_2d": r["joints_2d"][idx],
                       "valid": r["valid_2d"][idx], "dataset": "Human3.6M", "gt_3d": r["joints_3d"],
                       "f": r["f"], "c": r["c"]})
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


def score(people: list[dict], pred_2d: list, pred_3d: list) -> dict:
    """PCK@0.2 and 2D error (% of box side) per data set and overall; MPJPE / PA-MPJPE on the 3D frames."""
    from cdlpose.metrics import mpjpe, pa_mpjpe

    rows, by = {}, {}
    for p, uv in zip(people, pred_2d):
        e = np.linalg.norm(uv - p["gt_2d"], axis=1)[p["valid"]] / _side(p["box"])
        for key in (p["dataset"], "all"):
            by.setdefault(key, []).append(e)
    for key, es in by.items():
        e = np.concatenate(es)
        rows[key] = {"people": len(es), "joints": int(e.size), "pck@0.2": 100.0 * float(np.mean(e < 0.2)),
                     "error_2d_pct": 100.0 * float(np.mean(e))}
    three = [(p["gt_3d"], q) for p, q in zip(people, pred_3d) if "gt_3d" in p and q is not None]
    if three:
        gt, pr = np.stack([g for g, _ in three]), np.stack([q for _, q in three])
        rows["Human3.6M"].update({"mpjpe": mpjpe(pr, gt), "pa_mpjpe": pa_mpjpe(pr, gt)})
    return rows


def run_network(path: str, people: list[dict]) -> tuple[list, list]:
    from cdlpose.inference import Predictor

    pred = Predictor.from_checkpoint(path, device="cpu")
    uv, xyz = [], []
    for p in people:
        kw = {"focal": p["f"], "centre": p["c"]} if "f" in p else {}
        out = pred.predict([p["image"]], boxes=[[list(map(float, p["box"]))]], **kw)[0][0]
        k2d = np.asarray(out["keypoints_2d"])
        idx = [pred.skeleton.joints.index(n) for n in LIMBS]
        uv.append(k2d[idx])
        xyz.append(np.asarray(out["keypoints_3d"]) if "gt_3d" in p else None)
    return uv, xyz


def mean_pose(path: str, people: list[dict]) -> tuple[list, list]:
    """The training set's mean pose (of the checkpoint's training data: its synthetic config) in each box."""
    from cdlpose.data.synthetic import SyntheticHumans
    from cdlpose.engine import load_model
    from cdlpose.geometry import box_from_joints, fix_aspect_ratio
    from cdlpose.skeletons import H36M17

    _, cfg, _ = load_model(path, "cpu")
    entry = next(e for e in cfg.data.datasets if e.get("role", "train") == "train")
    ds = SyntheticHumans("train", min(int(entry["size"]), 500), int(entry.get("seed", 0)),
                         entry.get("cache_dir"), style=entry.get("style", "full"))
    idx = [H36M17.joints.index(n) for n in LIMBS]
    unit, poses = [], []
    for i in range(len(ds)):
        s = ds[i]
        b = fix_aspect_ratio(box_from_joints(s["joints_2d"], aspect_ratio=None), 1.0, 1.0)  # square, tight
        unit.append((s["joints_2d"] - b[:2]) / b[2])  # in units of the box side, from its corner
        poses.append(s["joints_3d"] - s["joints_3d"][:1])
    mean_unit, mean_3d = np.mean(unit, 0)[idx], np.mean(poses, 0)
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
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "real_probe.json"))
    args = ap.parse_args()
    if not FIXTURES.is_dir():
        raise SystemExit(f"{FIXTURES} is absent: the probe reads the real frames there")
    nets = dict(a.split("=", 1) for a in args.networks)
    people = read_people()
    results = {}
    for name, path in nets.items():
        results[name] = score(people, *run_network(path, people))
    results["mean pose"] = score(people, *mean_pose(args.mean_pose_from or next(iter(nets.values())), people))
    sets = [k for k in ("Human3.6M", "COCO", "MPII", "all") if k in results["mean pose"]]
    print("| trained on | " + " | ".join(f"{k} PCK@0.2 (%)" for k in sets)
          + " | all: 2D error (% of box) | Human3.6M MPJPE / PA-MPJPE (mm) |")
    print("|---|" + "---:|" * (len(sets) + 2))
    for name, rows in results.items():
        h = rows.get("Human3.6M", {})
        print(f"| {name} | " + " | ".join(f"{rows[k]['pck@0.2']:.0f}" for k in sets)
              + f" | {rows['all']['error_2d_pct']:.1f} | "
              + (f"{h['mpjpe']:.0f} / {h['pa_mpjpe']:.0f}" if "mpjpe" in h else "—") + " |")
    counts = {k: (results["mean pose"][k]["people"], results["mean pose"][k]["joints"]) for k in sets}
    print("people / joints scored: " + ", ".join(f"{k} {p} / {j}" for k, (p, j) in counts.items()))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"networks": nets, "results": results, "machine": platform.machine(),
                               "date": time.strftime("%Y-%m-%d")}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
