"""Stage 2 frozen vs fine-tuned end to end, at the demo's scale (issue: recipe fidelity, item 5).

Starts from the folder of a finished ``cdlpose demo`` run (its stage-1 network, its pre-trained lifting block and
its frozen stage 2) and trains the variants the paper's recipe could mean, each evaluated like the demo (200
held-out synthetic test images, flip test):

- ``frozen``: the demo's stage 2 itself (the lifting block on cached 2.5D estimates of the frozen network);
- ``finetune``: every layer, every loss plus the 3D pose L1, images through the network each step, from the
  pre-trained lifting block instead of the frozen stage (``--steps`` steps of ``--batch``);
- ``frozen+finetune``: the same fine-tuning after the frozen stage;
- ``finetune-from-stage1``: fine-tuning straight from the stage-1 checkpoint (an untrained lifting block), the
  recipe's single stage 2 with ``train.finetune: true``, at stage 1's learning rate.

    cdlpose demo --out demo-run
    python benchmarks/stage2_finetune.py --demo demo-run [--steps 400] [--batch 16] [--variants ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import time
from pathlib import Path

import torch

from cdlpose.demo import DEMO_STEPS, demo_config
from cdlpose.engine import Trainer
from cdlpose.evaluation import evaluate_checkpoint

VARIANTS = ("frozen", "finetune", "frozen+finetune", "finetune-from-stage1")


def run(demo: Path, name: str, work: Path, steps: int, batch: int, lr: float, seed: int, train_size: int) -> dict:
    init = {"finetune": demo / "lifting" / "pretrained.pt", "frozen+finetune": demo / "stage2" / "last.pt",
            "finetune-from-stage1": demo / "stage1" / "last.pt"}
    _, c2 = demo_config(demo, train_size, 200, seed, DEMO_STEPS, steps)
    t0 = time.perf_counter()
    if name == "frozen":
        ckpt = demo / "stage2" / "last.pt"
    else:
        c2 = dataclasses.replace(c2, train=dataclasses.replace(
            c2.train, out_dir=str(work / name), progress=False, finetune=True, cache_passes=0, init_from=str(init[name]),
            batch_size=batch, lr=lr, max_steps=steps))
        Trainer(c2, overwrite=True).fit()
        ckpt = work / name / "last.pt"
    minutes = (time.perf_counter() - t0) / 60
    res, _ = evaluate_checkpoint(ckpt, c2, "synthetic", flip=True, out_dir=work, progress=False, stem=f"metrics-{name}")
    s, b = res["summary"]["cdlpose"], res["summary"]["cdlpose 2.5D back-projected (GT root depth)"]
    return {"variant": name, "steps": 0 if name == "frozen" else steps, "batch": batch, "lr": lr,
            "mpjpe": s["MPJPE"], "pa_mpjpe": s["PA-MPJPE"], "backprojected_mpjpe": b["MPJPE"],
            "error_2d_px": res["summary"]["error_2d_px"], "train_minutes": minutes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--demo", required=True, help="the folder of a finished `cdlpose demo` run (default settings)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--steps", type=int, default=400, help="fine-tuning steps (default 400)")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-4, help="fine-tuning learning rate after a trained lifting block")
    ap.add_argument("--stage1-lr", type=float, default=1e-3, help="learning rate of finetune-from-stage1")
    ap.add_argument("--seed", type=int, default=0, help="the demo run's seed")
    ap.add_argument("--work", default="stage2-finetune-runs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    demo, work = Path(args.demo), Path(args.work)
    for f in ("stage1/last.pt", "lifting/pretrained.pt", "stage2/last.pt", "report.json"):
        if not (demo / f).is_file():
            raise SystemExit(f"--demo {demo}: no {f}; run `cdlpose demo --out {demo}` first")
    report = json.loads((demo / "report.json").read_text())
    rows = []
    for v in args.variants:
        lr = args.stage1_lr if v == "finetune-from-stage1" else args.lr
        rows.append(run(demo, v, work, args.steps, args.batch, lr, args.seed, report["train_size"]))
        r = rows[-1]
        print(f"{v:22s} steps {r['steps']:4d}  MPJPE {r['mpjpe']:6.1f} mm  PA {r['pa_mpjpe']:5.1f}  "
              f"2.5D back-projected {r['backprojected_mpjpe']:6.1f}  2D {r['error_2d_px']:.2f} px  "
              f"{r['train_minutes']:.1f} min", flush=True)
    frozen_min = report["minutes"]["stage2"]
    print(f"\n(the demo's frozen stage 2 took {frozen_min:.1f} min; mean pose {report['mean_pose_mpjpe']:.1f} mm)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stage2_finetune.json").write_text(json.dumps({
        "rows": rows, "demo": str(demo), "demo_stage2_minutes": frozen_min, "mean_pose_mpjpe": report["mean_pose_mpjpe"],
        "torch": torch.__version__, "machine": platform.machine(), "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d")}, indent=1))


if __name__ == "__main__":
    main()
