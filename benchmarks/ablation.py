"""The paper's Table 4 ablation on synthetic images: baseline, +JH, +BH (bj) and full, same data, budget and seed.

Each variant is trained through both stages on the same synthetic training set (the demo's configuration:
ResNet-18's first two stages with 64-channel heads, stage 2 on cached 2.5D estimates, at ``--input-size`` on a
CPU; ``--gpu`` uses ResNet-50 with default widths at 256×256), for the same number of steps per stage, with each
of the given seeds, and evaluated on held-out synthetic subjects: MPJPE, PA-MPJPE (mm) and the 2D joint error
(input pixels). The table gives the mean over seeds and the spread (max − min), next
to the paper's Table 4 (Human3.6M Protocol 1, mm). Whatever ordering comes out is the result.

    python benchmarks/ablation.py [--steps 300] [--steps-2 1000] [--seeds 0 1] [--variants baseline jh bj full] [--gpu]
    python benchmarks/ablation.py --variants full full-no-bone full-no-joint full-no-cube full-no-ordinal
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import time
from pathlib import Path

import torch

from cdlpose.data.synthetic import SyntheticHumans
from cdlpose.demo import _mean_pose, _render_all, demo_config
from cdlpose.engine import Trainer
from cdlpose.evaluation import evaluate_checkpoint
from cdlpose.evaluation import mean_pose_rows

PAPER_TABLE4 = {"baseline": 54.1, "jh": 52.0, "bj": 50.8, "full": 48.7}
NAMES = {"baseline": "baseline", "jh": "+JH", "bj": "+JH +BH", "full": "full (+JH +BH +depth-centric)"}
#: The supervision ablation: the ``full`` network with one loss weight set to zero (the head is still there and
#: feeds the next stage, unsupervised), next to the architecture ablation above.
SUPERVISION = {f"full-no-{t}": t for t in ("bone", "joint", "cube", "ordinal")}
NAMES.update({k: f"full, no {t} loss" for k, t in SUPERVISION.items()})


def configs(out: Path, variant: str, seed: int, args):
    c1, c2 = demo_config(out / "runs" / f"{variant}-seed{seed}", args.train_size, args.test_size, args.data_seed,
                         0, 0, args.style)
    # one shared, pre-rendered data set for every run
    datasets = [dict(e, cache_dir=str(out / "synthetic-cache")) for e in c1.data.datasets]
    data = dataclasses.replace(c1.data, datasets=datasets)
    # the lifting input and stage-2 cache of the measured runs in docs/benchmarks.md (the demo has moved on since)
    model = dataclasses.replace(c1.model, variant="full" if variant in SUPERVISION else variant, lift_input="crop")
    loss = dataclasses.replace(c1.loss, **{SUPERVISION[variant]: 0.0}) if variant in SUPERVISION else c1.loss
    aug = dataclasses.replace(c1.augment, input_size=args.input_size)
    if args.gpu:
        model = dataclasses.replace(model, backbone="resnet50", lite=False, head_width=None, depth_bins=64,
                                    backbone_stages=4)
        aug = dataclasses.replace(aug, input_size=256)
    codec = dataclasses.replace(c1.codec, depth_bins=model.depth_bins)
    big = 10**9  # the step budget ends the stage, not the epoch count or the clock
    t1 = dataclasses.replace(c1.train, seed=seed, max_minutes=0.0, epochs=big, batch_size=args.batch,
                             amp="bf16" if args.gpu else "none", workers=args.workers, channels_last_cpu=False)
    # stage 2 keeps the demo's batch of 64 on the cached 2.5D estimates (MLP steps cost milliseconds); it starts
    # from the stage-1 network alone at lr 1e-3 (the demo's stage 2 fine-tunes a pre-trained lifting block)
    t2 = dataclasses.replace(c2.train, seed=seed, max_minutes=0.0, epochs=big, lr=1e-3, cache_passes=2,
                             channels_last_cpu=False,
                             init_from=str(Path(c1.train.out_dir) / "last.pt"),
                             amp="bf16" if args.gpu else "none", workers=args.workers)
    base = dataclasses.replace(c1, data=data, model=model, augment=aug, codec=codec)
    return dataclasses.replace(base, train=t1, loss=loss), dataclasses.replace(base, train=t2, loss=c2.loss)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", nargs="+", default=["baseline", "jh", "bj", "full"],
                    choices=list(PAPER_TABLE4) + list(SUPERVISION),
                    help="architecture variants and/or the supervision ablation's full-no-{bone,joint,cube,ordinal}")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    ap.add_argument("--steps", type=int, default=300, help="stage-1 steps per run")
    ap.add_argument("--steps-2", type=int, default=1000, help="stage-2 steps per run (the MLP on cached inputs)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--input-size", type=int, default=128, help="input crop size on the CPU (multiple of 32)")
    ap.add_argument("--train-size", type=int, default=2700)
    ap.add_argument("--test-size", type=int, default=200)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--style", default="plain", choices=("plain", "full"))
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--gpu", action="store_true", help="ResNet-50, default widths, 256×256, bf16 (needs CUDA)")
    ap.add_argument("--work", default="ablation-runs", help="folder for data and checkpoints")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    device = "cuda" if args.gpu else "cpu"
    if args.gpu and not torch.cuda.is_available():
        raise SystemExit("--gpu: no CUDA device")
    work = Path(args.work)
    t0 = time.perf_counter()
    probe, _ = configs(work, "full", 0, args)
    sets = {e["split"]: SyntheticHumans(e["split"], e["size"], e["seed"], e["cache_dir"], style=e["style"])
            for e in probe.data.datasets}
    for ds in sets.values():
        _render_all(ds)
    mean = _mean_pose(sets["train"])
    runs = []
    for variant in args.variants:
        for seed in args.seeds:
            c1, c2 = configs(work, variant, seed, args)
            t1 = time.perf_counter()
            Trainer(c1, max_steps=args.steps, device=device, overwrite=True).fit()  # the benchmark's own folders
            Trainer(c2, max_steps=args.steps_2, device=device, overwrite=True).fit()
            result, pred = evaluate_checkpoint(Path(c2.train.out_dir) / "last.pt", c2, "synthetic", device=device,
                                               progress=False, out_dir=Path(c2.train.out_dir), stem="metrics")
            result = mean_pose_rows(result, pred, mean)
            s = result["summary"]
            runs.append({"variant": variant, "seed": seed, "mpjpe": s["cdlpose"]["MPJPE"],
                         "pa_mpjpe": s["cdlpose"]["PA-MPJPE"], "error_2d_px": s["error_2d_px"],
                         "mean_pose_mpjpe": s["training-set mean pose"]["MPJPE"],
                         "minutes": (time.perf_counter() - t1) / 60})
            print(f"{variant} seed {seed}: MPJPE {runs[-1]['mpjpe']:.1f} mm, PA-MPJPE {runs[-1]['pa_mpjpe']:.1f}, "
                  f"2D {runs[-1]['error_2d_px']:.2f} px ({runs[-1]['minutes']:.1f} min)", flush=True)
    size = 256 if args.gpu else args.input_size
    net = "ResNet-50, 256×256" if args.gpu else f"ResNet-18 stages 1-2 (stride 8), 64-channel heads, {size}×{size}"
    print(f"\nAblation on synthetic images ({args.style} style), {net}, {args.steps} steps of batch {args.batch} + "
          f"{args.steps_2} of 64 (stage 2, cached), seeds {' '.join(map(str, args.seeds))}: mean (spread max − min)")
    print(f"| variant | MPJPE mm | PA-MPJPE mm | 2D error px ({size}²) | paper Table 4 (H36M P1) mm |")
    print("|---|---:|---:|---:|---:|")
    summary = {}
    for variant in args.variants:
        rs = [r for r in runs if r["variant"] == variant]
        agg = {}
        for k in ("mpjpe", "pa_mpjpe", "error_2d_px"):
            vals = [r[k] for r in rs]
            agg[k] = {"mean": sum(vals) / len(vals), "spread": max(vals) - min(vals), "values": vals}
        summary[variant] = agg
        print(f"| {NAMES[variant]} | {agg['mpjpe']['mean']:.1f} ({agg['mpjpe']['spread']:.1f}) | "
              f"{agg['pa_mpjpe']['mean']:.1f} ({agg['pa_mpjpe']['spread']:.1f}) | "
              f"{agg['error_2d_px']['mean']:.2f} ({agg['error_2d_px']['spread']:.2f}) | "
              f"{PAPER_TABLE4.get(variant, '-')} |")
    print(f"training-set mean pose: {runs[0]['mean_pose_mpjpe']:.1f} mm")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "ablation.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "torch": torch.__version__, "device": device, "network": net,
        "steps": [args.steps, args.steps_2], "batch": [args.batch, 64], "seeds": args.seeds,
        "style": args.style, "train_size": args.train_size, "test_size": args.test_size, "runs": runs,
        "summary": summary, "paper_table4_mm": PAPER_TABLE4, "minutes": (time.perf_counter() - t0) / 60}, indent=1))


if __name__ == "__main__":
    main()
