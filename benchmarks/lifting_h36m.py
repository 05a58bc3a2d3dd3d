"""The lifting block on real Human3.6M poses: how much does the depth estimate help? (paper, "3D Lifting block")

From ``../shared/data/h36m-poses`` (Martinez et al.'s layout: world poses every 5th frame, cameras with
``X_cam = Rᵀ (X − T)``), every pose is projected into each of the 4 cameras, the person box and the 256×256 crop are
made as the data pipeline makes them (tight joint box → square ×1.25), and each joint is expressed as the 2.5D
estimate soft-argmax yields: u, v in 64×64 output-map pixels and z the root-relative depth as a depth-bin index
(64 bins over 2 m). Targets are the root-relative camera-space poses normalised by eq. (10); errors are reported in
the original scale. The paper's lifting block (1024 wide, 5 residual blocks of 2 layers, dropout 0.5, L1 loss,
Adam) is trained on S1 S5 S6 S7 and evaluated per action on S8, for these inputs:

- ``exact 2.5D``: the exact u, v, z;
- ``2.5D, noise 1×`` / ``2×``: Gaussian noise of σ = 1 (2) output-map pixels in u and v and 1 (2) depth bins in z,
  fresh in every training epoch and fixed (seeded) for the test set — about the error of a real network;
- ``2D only, exact`` / ``2D only, noise 1×``: u, v with z replaced by a constant (the setting of Martinez et al.,
  who report 45.5 mm Protocol 1 from ground-truth 2D with a similar network).

The gap between the 2.5D and the 2D-only rows is the value of the depth estimate.

    python benchmarks/lifting_h36m.py [--epochs 2] [--inputs exact noise1 noise2 2d 2d-noise1]
    python benchmarks/lifting_h36m.py --inputs noise1 --checkpoint lift.pt           # also save the block
    python benchmarks/lifting_h36m.py --eval-only --checkpoint lift.pt --poses FILE --subjects S9 S11
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch

from cdlpose.checkpoint import load_checkpoint, save_checkpoint
from cdlpose.codec import depth_to_index
from cdlpose.geometry import Camera, project
from cdlpose.metrics import H36M_ACTION_ABBREV, H36M_ACTIONS, format_table, group_mean
from cdlpose.model import LiftingBlock
from cdlpose.skeletons import H36M17, geodesic_normalize

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "h36m-poses"
MAP, INPUT, BINS, DEPTH_RANGE = 64, 256, 64, 2000.0
INPUTS = {  # name → (label, σ u, v in map px, σ z in bins, use depth, lifting input form)
    "exact": ("exact 2.5D", 0.0, 0.0, True, "crop"),
    "noise1": ("2.5D, noise 1× (1 px, 1 bin)", 1.0, 1.0, True, "crop"),
    "noise2": ("2.5D, noise 2× (2 px, 2 bins)", 2.0, 2.0, True, "crop"),
    "2d": ("2D only, exact", 0.0, 0.0, False, "crop"),
    "2d-noise1": ("2D only, noise 1× (1 px)", 1.0, 0.0, False, "crop"),
    # the same with the crop camera: viewing rays ((u - cx)/fx, (v - cy)/fy) and the depth in metres
    # (model.lift_input: camera) instead of crop-normalised (u, v) and the depth index
    "exact-camera": ("exact 2.5D, camera rays", 0.0, 0.0, True, "camera"),
    "noise1-camera": ("2.5D, noise 1×, camera rays", 1.0, 1.0, True, "camera"),
}
FORMAT = "cdlpose-lifting-benchmark/1"


def load_cameras(path: Path) -> dict:
    z = np.load(path, allow_pickle=False)
    cams = {}
    for key in {k.rsplit("/", 1)[0] for k in z.files}:
        cams[tuple(key.split("/"))] = Camera.from_center(z[key + "/R"], z[key + "/T"].reshape(3),
                                                         z[key + "/f"].reshape(2), z[key + "/c"].reshape(2))
    return cams


def build_inputs(poses_file: Path, cameras: dict, subjects) -> dict:
    """Every pose of ``subjects`` seen from each of its cameras: ``uvz`` (N, J, 3) map px and depth index (exact),
    ``target`` (N, J, 3) normalised mm, ``scale`` (N,), ``action`` (N,)."""
    z = np.load(poses_file, allow_pickle=False)
    uvz, target, scale, action, camera = [], [], [], [], []
    for key in sorted(z.files):
        subject, seq = key.split("/", 1)
        if subject not in subjects:
            continue
        X = z[key].astype(np.float64)  # (T, J, 3) world mm
        if X.ndim != 3 or X.shape[1:] != (H36M17.num_joints, 3):
            sys.exit(f"{poses_file}: field {key!r} has shape {X.shape}, expected (frames, 17, 3) world mm")
        if not np.isfinite(X).all():
            sys.exit(f"{poses_file}: field {key!r} has non-finite joints")
        name = re.sub(r"[ _]?\d+$", "", seq).replace("TakingPhoto", "Photo").replace("WalkingDog", "WalkDog")
        cams = [c for (s, _), c in sorted(cameras.items()) if s == subject]
        if not cams:
            sys.exit(f"no cameras of {subject} in the camera file")
        for cam in cams:
            Xc = X @ cam.R.T + cam.t  # (T, J, 3)
            uv = project(Xc, cam.f, cam.c)
            lo, hi = uv.min(1), uv.max(1)
            # the pipeline's crop (fix_aspect_ratio(tight box, 1, 1.25)): a square of 1.25 × the longer side about
            # the tight joint box's centre, scaled to INPUT²; the output map is INPUT / 4
            side = 1.25 * (hi - lo).max(1, keepdims=True)
            corner = (lo + hi) / 2 - side / 2
            # crop_transform maps the box edge to -0.5 (pixel centres at integers); the same on the output map
            uv_map = (uv - corner[:, None]) / side[:, None] * MAP - 0.5
            # the crop camera in crop pixels (INPUT²), what a lift_input=camera block sees besides the 2.5D
            cam_crop = np.concatenate([np.broadcast_to(cam.f, (len(X), 2)) * INPUT / side,
                                       (cam.c - corner) / side * INPUT - 0.5], -1)
            rel = Xc - Xc[:, :1]
            zi = depth_to_index(torch.from_numpy(rel[..., 2]), BINS, DEPTH_RANGE).numpy()
            norm, s = geodesic_normalize(rel)
            uvz.append(np.concatenate([uv_map, zi[..., None]], -1))
            camera.append(cam_crop)
            target.append(norm)
            scale.append(np.asarray(s).reshape(-1))
            action += [name] * len(X)
    if not uvz:
        sys.exit(f"{poses_file}: no poses of subjects {' '.join(subjects)}")
    return {"uvz": np.concatenate(uvz).astype(np.float32), "target": np.concatenate(target).astype(np.float32),
            "scale": np.concatenate(scale), "action": np.array(action),
            "camera": np.concatenate(camera).astype(np.float32)}


def corrupt(uvz: torch.Tensor, sigma_uv: float, sigma_z: float, depth: bool, gen=None) -> torch.Tensor:
    out = uvz.clone()
    if sigma_uv:
        out[..., :2] += sigma_uv * torch.randn(out[..., :2].shape, generator=gen)
    if sigma_z and depth:
        out[..., 2] += sigma_z * torch.randn(out[..., 2].shape, generator=gen)
    if not depth:
        out[..., 2] = BINS / 2 - 0.5  # a constant: no depth information
    return out


def make_block(form: str = "crop") -> LiftingBlock:
    return LiftingBlock(H36M17.num_joints, H36M17.root, (MAP, MAP), BINS, hidden=1024, blocks=5, layers_per_block=2,
                        dropout=0.5, input_form=form, depth_range=DEPTH_RANGE)


def predict(block, uvz: torch.Tensor, camera: torch.Tensor, batch: int = 4096) -> np.ndarray:
    block.eval()
    with torch.no_grad():
        return torch.cat([block(uvz[i : i + batch], camera[i : i + batch])
                          for i in range(0, len(uvz), batch)]).numpy()


def errors(pred_norm: np.ndarray, data: dict) -> dict:
    """Per-action MPJPE and PA-MPJPE (mm, original scale)."""
    from cdlpose.metrics import per_joint_error

    s = data["scale"][:, None, None]
    pred, gt = pred_norm / s, data["target"] / s
    out = {}
    for name, align in (("MPJPE", "root"), ("PA-MPJPE", "procrustes")):
        pj = per_joint_error(pred, gt, alignment=align)
        order = [a for a in H36M_ACTIONS if a in set(data["action"].tolist())]
        out[name] = group_mean(pj, data["action"], order=order)
        out[name]["all"] = float(pj.mean())
    return out


def train(train_set: dict, spec, epochs: int, batch: int, lr: float, seed: int, log) -> LiftingBlock:
    _, su, sz, depth, form = spec
    torch.manual_seed(seed)
    block = make_block(form)
    camera = torch.from_numpy(train_set["camera"])
    opt = torch.optim.Adam(block.parameters(), lr=lr)
    uvz, target = torch.from_numpy(train_set["uvz"]), torch.from_numpy(train_set["target"])
    n = len(uvz)
    gen = torch.Generator().manual_seed(seed)
    steps = epochs * (n // batch)
    step = 0
    for epoch in range(epochs):
        x_all = corrupt(uvz, su, sz, depth, gen)
        perm = torch.randperm(n, generator=gen)
        block.train()
        t0, total = time.perf_counter(), 0.0
        for i in range(n // batch):
            for g in opt.param_groups:  # exponential decay to lr/10 over the run
                g["lr"] = lr * 0.1 ** (step / max(steps, 1))
            idx = perm[i * batch : (i + 1) * batch]
            loss = (block(x_all[idx], camera[idx]) - target[idx]).abs().sum(-1).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item()
            step += 1
        log(f"  epoch {epoch + 1}/{epochs}: train L1 {total / (n // batch):.1f} mm/joint, "
            f"{time.perf_counter() - t0:.0f} s")
    return block


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(SHARED), help="folder with cameras.npz and the poses file")
    ap.add_argument("--poses", default=None, help="poses file (default: DATA/train_S1_S5_S6_S7_S8_every5.npz)")
    ap.add_argument("--train-subjects", nargs="+", default=["S1", "S5", "S6", "S7"])
    ap.add_argument("--subjects", nargs="+", default=["S8"], help="evaluation subjects")
    ap.add_argument("--inputs", nargs="+", default=list(INPUTS), choices=list(INPUTS),
                    help="input forms (rows); *-camera: the lifting block sees the crop camera's viewing rays")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--checkpoint", default=None, help="save the trained block here (one input), or the block to "
                    "evaluate with --eval-only")
    ap.add_argument("--eval-only", action="store_true")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    data = Path(args.data)
    poses = Path(args.poses) if args.poses else data / "train_S1_S5_S6_S7_S8_every5.npz"
    if not (data / "cameras.npz").is_file() or not poses.is_file():
        print(f"skipped: {data / 'cameras.npz'} or {poses} is absent (real Human3.6M poses are not part of the "
              "project; see ../shared/data/h36m-poses)")
        return
    log = lambda m: print(m, flush=True)  # noqa: E731
    cams = load_cameras(data / "cameras.npz")
    t0 = time.perf_counter()
    test = build_inputs(poses, cams, args.subjects)
    log(f"test: {len(test['uvz'])} poses × cameras of {' '.join(args.subjects)}")
    results = {}
    if args.eval_only:
        if not args.checkpoint:
            sys.exit("--eval-only needs --checkpoint")
        ck = load_checkpoint(args.checkpoint)
        if not isinstance(ck, dict) or ck.get("format") != FORMAT:
            sys.exit(f"{args.checkpoint}: not a lifting block saved by this benchmark (format {FORMAT})")
        spec = INPUTS[ck["input"]]
        block = make_block(spec[4])
        block.load_state_dict(ck["model"])
        x = corrupt(torch.from_numpy(test["uvz"]), *spec[1:4], torch.Generator().manual_seed(1234))
        results[spec[0]] = errors(predict(block, x, torch.from_numpy(test["camera"])), test)
        runs = {"checkpoint": args.checkpoint, "trained_on": ck.get("trained_on")}
        args.train_subjects, args.epochs = ck.get("trained_on", ["?"]), ck.get("epochs", "?")
    else:
        if args.checkpoint and len(args.inputs) != 1:
            sys.exit("--checkpoint saves one block: give one --inputs")
        train_set = build_inputs(poses, cams, args.train_subjects)
        log(f"train: {len(train_set['uvz'])} poses × cameras of {' '.join(args.train_subjects)} "
            f"({time.perf_counter() - t0:.0f} s to build)")
        runs = {}
        for name in args.inputs:
            spec = INPUTS[name]
            log(f"{spec[0]}: training {args.epochs} epochs")
            t1 = time.perf_counter()
            block = train(train_set, spec, args.epochs, args.batch, args.lr, args.seed, log)
            x = corrupt(torch.from_numpy(test["uvz"]), *spec[1:4], torch.Generator().manual_seed(1234))
            results[spec[0]] = errors(predict(block, x, torch.from_numpy(test["camera"])), test)
            runs[name] = {"minutes": (time.perf_counter() - t1) / 60}
            log(f"  S8 MPJPE {results[spec[0]]['MPJPE']['Avg']:.1f} mm, PA-MPJPE "
                f"{results[spec[0]]['PA-MPJPE']['Avg']:.1f} mm ({runs[name]['minutes']:.1f} min)")
            if args.checkpoint:
                save_checkpoint({"format": FORMAT, "input": name, "model": block.state_dict(),
                                 "trained_on": args.train_subjects, "epochs": args.epochs}, args.checkpoint)
    cols = [a for a in H36M_ACTIONS if a in set(test["action"].tolist())] + ["Avg"]
    for metric in ("MPJPE", "PA-MPJPE"):
        print(f"\n{metric} (mm) on {' '.join(args.subjects)}, lifting block trained on "
              f"{' '.join(args.train_subjects)}, {args.epochs} epochs")
        print(format_table({k: v[metric] for k, v in results.items()}, cols, H36M_ACTION_ABBREV))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "lifting_h36m_eval.json" if args.eval_only else "lifting_h36m.json"
    (out / name).write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "torch": torch.__version__, "epochs": args.epochs, "batch": args.batch,
        "lr": args.lr, "train_subjects": args.train_subjects, "test_subjects": args.subjects, "runs": runs,
        "results": results, "minutes": (time.perf_counter() - t0) / 60}, indent=1))


if __name__ == "__main__":
    main()
