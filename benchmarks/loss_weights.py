"""End accuracy of stage-1 loss weightings at the demo's scale (issue: recipe fidelity, item 1).

Trains the demo's stage 1 (the full variant, 1,600 seeded steps of 16 on its 4,500 plain synthetic images) with the
loss weights given by ``--set`` and evaluates it like the demo (200 held-out test images, flip test): the 2D error
and the 2.5D estimate back-projected with the ground-truth root depth — the stage-1 network's own accuracy, before
any lifting block. ``benchmarks/loss_balance.py`` shows the gradient shares; this shows whether they matter.

    cdlpose demo --out demo-run          # renders (and caches) the images, and is the default-weights row
    python benchmarks/loss_weights.py --demo demo-run --name heat3 --set loss.joint=3 loss.bone=3 loss.cube=3
    python benchmarks/loss_weights.py --demo demo-run --name seed1 --set train.seed=1
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import torch

from cdlpose.config import apply_overrides
from cdlpose.demo import DEMO_STEPS, DEMO_TRAIN_SIZE, demo_config
from cdlpose.engine import Trainer
from cdlpose.evaluation import evaluate_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", required=True, help="a `cdlpose demo` run folder (its cached images; its stage 1 is "
                    "the default-weights row with --name default)")
    ap.add_argument("--name", required=True, help="the row's name (default: evaluate the demo's own stage 1)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides: loss.*, train.seed, …")
    ap.add_argument("--work", default="loss-weight-runs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    demo, work = Path(args.demo), Path(args.work) / args.name
    c1, _ = demo_config(demo, DEMO_TRAIN_SIZE, 200, 0, DEMO_STEPS, 1)
    c1 = dataclasses.replace(c1, train=dataclasses.replace(c1.train, out_dir=str(work / "stage1"), progress=False))
    c1 = apply_overrides(c1, args.set) if args.set else c1
    t0 = time.perf_counter()
    if args.name == "default" and not args.set:
        ckpt = demo / "stage1" / "last.pt"
    else:
        Trainer(c1, overwrite=True).fit()
        ckpt = work / "stage1" / "last.pt"
    minutes = (time.perf_counter() - t0) / 60
    res, _ = evaluate_checkpoint(ckpt, c1, "synthetic", flip=True, out_dir=work, progress=False, stem="metrics")
    s = res["summary"]["cdlpose 2.5D back-projected (GT root depth)"]
    row = {"name": args.name, "set": args.set, "weights": dataclasses.asdict(c1.loss), "seed": c1.train.seed,
           "backprojected_mpjpe": s["MPJPE"], "backprojected_pa_mpjpe": s["PA-MPJPE"],
           "error_2d_px": res["summary"]["error_2d_px"], "train_minutes": minutes, "torch": torch.__version__,
           "machine": platform.machine(), "threads": torch.get_num_threads(), "date": time.strftime("%Y-%m-%d")}
    print(f"{args.name}: 2D {row['error_2d_px']:.2f} px, back-projected MPJPE {row['backprojected_mpjpe']:.1f} mm "
          f"(PA {row['backprojected_pa_mpjpe']:.1f}); {minutes:.1f} min")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"loss_weights-{args.name}.json").write_text(json.dumps(row, indent=1))


if __name__ == "__main__":
    main()
