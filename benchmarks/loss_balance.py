"""How much each stage-1 loss term pushes the shared trunk: the gradient norm of every weighted term (bone, joint,
cube, ordinal, integral) on the backbone's parameters, at initialisation and after some training.

A term whose gradient on the shared layers is a small fraction of the others' supervises them little, whatever
its loss value. Two scales: ``demo`` (the CPU demo's network: ResNet-18 stages 1-2, 64-channel heads, 64×64
input, 32 depth bins) and ``recipe`` (the paper's: ResNet-50, 256×256, 64 bins; slow on a CPU). Losses use the
weights of ``LossWeights`` unless ``--set loss.joint=...`` overrides them.

    python benchmarks/loss_balance.py [--scale demo|recipe] [--steps 562] [--batch 16] [--set loss.joint=30 ...]

After the second measurement the run is validated on held-out synthetic subjects (2D error, back-projected
MPJPE): the balance is judged by that end accuracy, not by the loss values.
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

from cdlpose.config import apply_overrides
from cdlpose.data.datasets import collate
from cdlpose.demo import demo_config
from cdlpose.engine import Trainer
from cdlpose.losses import compute_losses

TERMS = ("bone", "joint", "cube", "ordinal", "integral")


def config(scale: str, work: Path, batch: int, overrides, train_size: int = 2000):
    c1, _ = demo_config(work, train_size, 64, 0, 0, 0, "plain")
    data = dataclasses.replace(c1.data, datasets=[e for e in c1.data.datasets if e["role"] in ("train", "val")])
    cfg = dataclasses.replace(c1, data=data, train=dataclasses.replace(
        c1.train, batch_size=batch, out_dir=str(work / f"run-{scale}"), max_steps=0, workers=0, progress=False,
        lr_final_drop=0.0))
    if scale == "recipe":
        model = dataclasses.replace(cfg.model, backbone="resnet50", lite=False, head_width=None, depth_bins=64,
                                    backbone_stages=4, lift_blocks=5, lift_dropout=0.5)
        cfg = dataclasses.replace(cfg, model=model, codec=dataclasses.replace(cfg.codec, depth_bins=64),
                                  augment=dataclasses.replace(cfg.augment, input_size=256))
    return apply_overrides(cfg, overrides) if overrides else cfg


def grad_norms(tr: Trainer, batch: dict) -> dict:
    """Per weighted term: ``|d(w_k L_k)/d trunk|`` (L2 over the backbone's parameters) and the term's value."""
    net = tr.net
    trunk = [p for p in net.backbone.parameters() if p.requires_grad]
    b = {k: batch[k] for k in ("uv", "z", "pose_3d", "valid_2d", "valid_3d")}
    targets = tr.encoder.encode(torch.cat([b["uv"], b["z"][..., None]], -1), b["valid_2d"], b["valid_3d"],
                                tr.sigma.sigma)
    net.train()
    out = net(batch["image"])
    losses = compute_losses(out, targets, b, tr.weights)
    res = {}
    for k in TERMS:
        if k not in losses:
            continue
        w = getattr(tr.weights, k)
        g = torch.autograd.grad(w * losses[k], trunk, retain_graph=True, allow_unused=True)
        norm = torch.sqrt(sum((x.float() ** 2).sum() for x in g if x is not None))
        res[k] = {"grad_norm": float(norm), "loss": float(losses[k].detach()), "weight": w}
    total = sum(v["grad_norm"] for v in res.values())
    for v in res.values():
        v["share"] = v["grad_norm"] / total
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", choices=("demo", "recipe"), default="demo")
    ap.add_argument("--steps", type=int, default=562, help="training steps between the two measurements")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--probes", type=int, default=4, help="batches averaged per measurement")
    ap.add_argument("--train-size", type=int, default=2000, help="synthetic training images")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides (loss.* weights)")
    ap.add_argument("--work", default="loss-balance-runs")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    torch.manual_seed(0)
    work = Path(args.work)
    cfg = config(args.scale, work, args.batch, args.set, args.train_size)
    tr = Trainer(cfg, device="cpu", overwrite=True)
    gen = torch.Generator().manual_seed(1)
    idx = torch.randperm(len(tr.train_set), generator=gen)[: args.probes * args.batch].tolist()
    probes = [collate([tr.train_set[i] for i in idx[k * args.batch:(k + 1) * args.batch]]) for k in range(args.probes)]

    def measure():
        rs = [grad_norms(tr, p) for p in probes]
        return {k: {f: sum(r[k][f] for r in rs) / len(rs) for f in ("grad_norm", "loss", "share", "weight")}
                for k in rs[0]}

    t0 = time.perf_counter()
    at_init = measure()
    tr.max_steps = args.steps
    tr.fit()
    trained = measure()
    # the end accuracy is the judge, not the loss values: 2D error and the back-projected 2.5D estimate on the
    # synthetic val subjects
    val = tr.validate() or {}
    minutes = (time.perf_counter() - t0) / 60
    print(f"\nLoss balance, {args.scale} scale, batch {args.batch}, weights {dataclasses.asdict(cfg.loss)}")
    print("| term | weight | grad norm on the trunk, init | share, init | after "
          f"{args.steps} steps | share, after |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in at_init:
        a, b = at_init[k], trained[k]
        print(f"| {k} | {a['weight']:g} | {a['grad_norm']:.3g} | {100 * a['share']:.1f}% | {b['grad_norm']:.3g} | "
              f"{100 * b['share']:.1f}% |")
    if val:
        print(f"after {args.steps} steps: val 2D error {val['val_error_2d_px']:.2f} px (of {cfg.augment.input_size}), "
              f"back-projected MPJPE {val['val_mpjpe']:.1f} mm, PA-MPJPE {val['val_pa_mpjpe']:.1f} mm "
              f"({val['val_samples']} val samples; {minutes:.1f} min)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = f"loss_balance_{args.scale}" + ("_" + "_".join(s.replace("loss.", "").replace("=", "") for s in args.set)
                                          if args.set else "")
    (out / f"{name}.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "torch": torch.__version__, "scale": args.scale, "batch": args.batch,
        "steps": args.steps, "weights": dataclasses.asdict(cfg.loss), "init": at_init, "trained": trained,
        "val": val, "train_size": args.train_size,
        "minutes": minutes}, indent=1))


if __name__ == "__main__":
    main()
