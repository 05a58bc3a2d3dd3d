"""Time to synthesise all training targets for one batch (joint maps, bone maps, depth cube, ordinal labels).

Default: batch 64 × 17 joints (Human3.6M skeleton, 16 bones) at 64×64 with C = 64, on the CPU, and on CUDA when
available. Rows: the encoder writing fresh tensors, the encoder reusing its buffers (what the trainer does), and a
straightforward dense implementation for comparison. Target: <= 40 ms per batch of 64 on a 2-core CPU.

    python benchmarks/targets.py [--batch 64] [--repeats 30] [--out benchmarks/results/targets.json]
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

from cdlpose.codec import CodecConfig, TargetEncoder, depth_to_bin
from cdlpose.skeletons import H36M17

TARGET_MS = 40.0


def dense_reference(uvz, valid, bones, cfg: CodecConfig, bone_sigma: float):
    """The straightforward version: every map from full (B, J, H, W) coordinate grids, cube by scatter."""
    H, W = cfg.heatmap_size
    ys, xs = torch.meshgrid(torch.arange(H, dtype=uvz.dtype), torch.arange(W, dtype=uvz.dtype), indexing="ij")
    ys, xs = ys.to(uvz.device), xs.to(uvz.device)
    u, v = uvz[..., 0, None, None], uvz[..., 1, None, None]
    hm = torch.exp(-((xs - u) ** 2 + (ys - v) ** 2) / (2 * cfg.sigma**2)) * valid[..., None, None]
    idx = torch.tensor(bones, device=uvz.device)
    a, b = uvz[:, idx[:, 0], :2], uvz[:, idx[:, 1], :2]
    ab = b - a
    px, py = xs - a[..., 0, None, None], ys - a[..., 1, None, None]
    t = ((px * ab[..., 0, None, None] + py * ab[..., 1, None, None]) / (ab**2).sum(-1)[..., None, None]).clamp(0, 1)
    d2 = (px - t * ab[..., 0, None, None]) ** 2 + (py - t * ab[..., 1, None, None]) ** 2
    bone = torch.exp(-d2 / (2 * bone_sigma**2))
    bins = depth_to_bin(uvz[..., 2], cfg.depth_bins, cfg.depth_range)
    cube = hm.new_zeros(uvz.shape[0], cfg.depth_bins, H, W)
    cube.scatter_reduce_(1, bins[..., None, None].expand_as(hm), hm, reduce="amax")
    peak, j = hm.max(1)
    labels = torch.gather(bins, 1, j.flatten(1)).view_as(j)
    return hm, bone, cube, labels, peak > cfg.ordinal_threshold


def time_ms(fn, repeats: int, device: torch.device) -> list[float]:
    fn()  # warm-up
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "targets.json")
    args = ap.parse_args()

    cfg = CodecConfig()
    B, J = args.batch, H36M17.num_joints
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = []
    for dev in devices:
        g = torch.Generator().manual_seed(0)
        uvz = torch.cat([torch.rand(B, J, 2, generator=g) * 56 + 4, (torch.rand(B, J, 1, generator=g) - 0.5) * 1900], -1)
        uvz = uvz.to(dev)
        valid = torch.ones(B, J, dtype=torch.bool, device=dev)
        z_valid = valid.clone()
        z_valid[B // 2 :] = False  # half 2D-only data, as in the paper's mixed batches
        fresh = TargetEncoder(H36M17, cfg)
        reuse = TargetEncoder(H36M17, cfg, reuse_buffers=True)
        cases = {
            "encoder, fresh tensors": lambda: fresh.encode(uvz, valid, z_valid, 3.0),
            "encoder, reused buffers (trainer)": lambda: reuse.encode(uvz, valid, z_valid, 3.0),
            "dense reference": lambda: dense_reference(uvz, valid, H36M17.bones, cfg, 3.0),
        }
        for name, fn in cases.items():
            t = time_ms(fn, args.repeats, dev)
            rows.append({
                "device": dev.type if dev.type == "cpu" else torch.cuda.get_device_name(dev),
                "case": name,
                "median_ms": statistics.median(t),
                "min_ms": min(t),
                "images_per_s": B / statistics.median(t) * 1000,
            })

    print(f"\nTarget synthesis, batch {B} × {J} joints, {cfg.heatmap_size[0]}×{cfg.heatmap_size[1]}, "
          f"C = {cfg.depth_bins}, torch threads {torch.get_num_threads()}\n")
    print("| device | case | median ms | min ms | samples/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['device']} | {r['case']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} | {r['images_per_s']:.0f} |")
    cpu_trainer = next(r for r in rows if r["device"] == "cpu" and "reused" in r["case"])
    ok = cpu_trainer["median_ms"] <= TARGET_MS
    print(f"\nCPU, as the trainer runs it: {cpu_trainer['median_ms']:.1f} ms per batch "
          f"(target <= {TARGET_MS:.0f} ms): {'met' if ok else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": "targets",
        "batch": B, "joints": J, "heatmap_size": list(cfg.heatmap_size), "depth_bins": cfg.depth_bins,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads()},
        "target_ms": TARGET_MS, "target_met_cpu": ok, "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
