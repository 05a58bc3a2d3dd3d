"""Parameters (per block), FLOPs and latency of the `baseline` and `full` networks, default and lite widths.

Batch 8 at 256×256, eval mode, on the CPU and on CUDA when available (there also training images/s at batch 64
with bf16 autocast and channels_last). Reference (issue 4): the authors' network has 44.0 M parameters without the
lifting block and 3.8× PoseNet's latency (PoseNet: 34.3 M). Targets: default `full` no slower than 3.8× `baseline`;
`full-lite` at most 1.3× `baseline` (default widths).

The per-block parameter table groups the modules as the authors' release does (``cdlpose.model.BLOCKS``) next to
the release's own counts (fnzhan/Pose-Estimation, ResNet-50, 18 joints: 59.89 M). ``--no-latency`` measures only
the parameters and FLOPs (seconds instead of minutes on a CPU).

    python benchmarks/model_speed.py [--backbone resnet50] [--batch 8] [--repeats 3] [--no-latency]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from cdlpose.model import BLOCKS, CascadedLiftingNet, ModelConfig, block_parameters

CONFIGS = [("baseline", False), ("baseline", True), ("full", False), ("full", True)]
#: The authors' release per block, counted from the modules main/model.py builds (ResNet-50, 18 joints, 64 depth
#: bins): ``bone`` includes a 3×3 conv 128 → 128 + BatchNorm (147,712) that its forward never uses; ``depth`` is
#: Serial_Net (context bottlenecks, bone–joint block with three bottlenecks, ASPP with biases, depth-centric block;
#: no ordinal output); ``lifting`` has 90 inputs and 54 outputs (18 joints).
AUTHORS = {"backbone": 23_508_032, "context": 11_077_632, "bone": 4_885_520, "depth": 3_074_560,
           "final": 1_431_168, "lifting": 15_908_918}
AUTHORS["total"] = sum(AUTHORS.values())


def latency(net, x, repeats, device):
    def run():
        with torch.no_grad():
            net(x)
        if device.type == "cuda":
            torch.cuda.synchronize()

    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def train_rate(net, device, batch=64, steps=10):
    net.train().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(net.parameters(), 1e-4)
    x = torch.randn(batch, 3, 256, 256, device=device).to(memory_format=torch.channels_last)

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = net.volumes(x)
            loss = out["uvz"].sum() + sum(v.float().mean() for k, v in out.items() if k not in ("uvz", "volume_logits"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    return batch * steps / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="resnet50")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-latency", action="store_true", help="parameters and FLOPs only")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "model_speed.json")
    args = ap.parse_args()
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    if args.no_latency:
        devices = []
    rows = []
    for variant, lite in CONFIGS:
        name = variant + ("-lite" if lite else "")
        net = CascadedLiftingNet(ModelConfig(variant=variant, backbone=args.backbone, lite=lite)).eval()
        params = sum(p.numel() for p in net.parameters())
        lift = sum(p.numel() for p in net.lifting.parameters())
        x = torch.randn(args.batch, 3, 256, 256)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            net(x[:1])
        row = {"model": name, "layout": net.config.effective_layout, "params_m": params / 1e6,
               "params_wo_lifting_m": (params - lift) / 1e6, "gflops_per_image": fc.get_total_flops() / 1e9,
               "params_per_block": block_parameters(net)}
        for dev in devices:
            net = net.to(dev)
            row[f"latency_s_{dev.type}"] = latency(net, x.to(dev), args.repeats, dev)
            if dev.type == "cuda":
                row["train_images_per_s_cuda_bf16"] = train_rate(net, dev)
                net.eval()
        rows.append(row)
    print(f"\nparameters per block (M), {args.backbone}; the authors' release: ResNet-50, 18 joints\n")
    print("| model | layout | " + " | ".join(list(BLOCKS) + ["total"]) + " |")
    print("|" + "---|" * (len(BLOCKS) + 3))
    for r in rows:
        b = r["params_per_block"]
        print(f"| {r['model']} | {r['layout']} | " + " | ".join(f"{b[k] / 1e6:.2f}" for k in list(BLOCKS) + ["total"])
              + " |")
    print("| authors' release (full) | | " + " | ".join(f"{AUTHORS[k] / 1e6:.2f}" for k in list(BLOCKS) + ["total"])
          + " |")
    if args.backbone == "resnet50":
        full = next(r for r in rows if r["model"] == "full")["params_per_block"]
        print("\nfull vs the authors' release, per block (parameters): "
              + ", ".join(f"{k} {full[k] - AUTHORS[k]:+,}" for k in list(BLOCKS) + ["total"])
              + f" ({full['total'] / AUTHORS['total'] - 1:+.2%} in all)")
    if args.no_latency:
        print("\n| model | params_wo_lifting_m | params_m | gflops_per_image |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r['model']} | {r['params_wo_lifting_m']:.2f} | {r['params_m']:.2f} | "
                  f"{r['gflops_per_image']:.1f} |")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "benchmark": "model_speed", "backbone": args.backbone, "latency": False, "rows": rows,
            "authors_per_block": AUTHORS,
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__},
        }, indent=2))
        print(f"wrote {args.out}")
        return
    base = next(r for r in rows if r["model"] == "baseline")
    for r in rows:
        r["latency_vs_baseline_cpu"] = r["latency_s_cpu"] / base["latency_s_cpu"]
    print(f"\nbackbone {args.backbone}, batch {args.batch} at 256×256, eval mode, torch threads "
          f"{torch.get_num_threads()}; GFLOPs per image from torch.utils.flop_counter (2 per multiply-add), "
          f"latency in seconds per batch\n")
    cols = ["model", "params_wo_lifting_m", "params_m", "gflops_per_image", "latency_s_cpu", "latency_vs_baseline_cpu"]
    if torch.cuda.is_available():
        cols += ["latency_s_cuda", "train_images_per_s_cuda_bf16"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(r[c] if isinstance(r[c], str) else f"{r[c]:.2f}" for c in cols) + " |")
    full = next(r for r in rows if r["model"] == "full")
    lite = next(r for r in rows if r["model"] == "full-lite")
    checks = {
        "full <= 3.8x baseline latency (CPU)": full["latency_vs_baseline_cpu"] <= 3.8,
        "full-lite <= 1.3x baseline latency (CPU)": lite["latency_vs_baseline_cpu"] <= 1.3,
    }
    for k, v in checks.items():
        print(f"{k}: {'met' if v else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "model_speed", "backbone": args.backbone, "batch": args.batch, "rows": rows, "checks": checks,
        "authors_per_block": AUTHORS,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None},
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
