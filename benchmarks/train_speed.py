"""Training images/s of one optimiser step (targets made on the device, every stage-1 loss, backward, Adam) for
the `baseline` and `full` networks, next to the data pipeline's images/s per DataLoader worker.

Batches come from the real pipeline: JPEG frames of 1000×1000 (see data_pipeline.py) decoded, cropped and augmented
by ``PoseDataset``. The step is timed on a batch already on the device, so the two rates can be compared: the
loader keeps up when ``workers × per-worker rate ≥ step rate``.

    python benchmarks/train_speed.py                       # CPU: ResNet-18, batch 8, 256×256, fp32
    python benchmarks/train_speed.py --device cuda         # GPU: ResNet-50, batch 64, bf16, channels_last
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_pipeline import make_frames  # noqa: E402

from cdlpose.config import load_config  # noqa: E402
from cdlpose.data.datasets import PoseDataset, collate  # noqa: E402
from cdlpose.data.pipeline import AugmentConfig, CropAugment  # noqa: E402
from cdlpose.engine import Trainer  # noqa: E402


def step_rate(variant, backbone, batch_cpu, device, amp, steps, out_dir):
    cfg = load_config(None, [
        f"model.variant={variant}", f"model.backbone={backbone}", f"train.batch_size={len(batch_cpu['image'])}",
        f"train.amp={amp}", "train.workers=0", "train.progress=false", f"train.out_dir={out_dir}",
        "data.datasets=[{format: synthetic, size: 64, role: train}]",
    ])
    tr = Trainer(cfg, device=device)
    tr.module.train()
    for _ in range(2):  # warm-up (allocator, cuDNN autotuning)
        tr._step(batch_cpu)
    times = []
    for _ in range(steps):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        tr._step(batch_cpu)  # includes the host→device copy and the loss read-back the trainer does
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    mem = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return len(batch_cpu["image"]) / statistics.median(times), statistics.median(times), mem


def loader_rate(ds, batch, n_batches):
    loader = DataLoader(ds, batch_size=batch, num_workers=1, collate_fn=collate, shuffle=False)
    it = iter(loader)
    next(it)  # worker start-up
    t0 = time.perf_counter()
    n = 0
    for _ in range(n_batches):
        n += len(next(it)["image"])
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--backbone", default=None, help="default resnet18 on CPU, resnet50 on CUDA")
    ap.add_argument("--batch", type=int, default=None, help="default 8 on CPU, 64 on CUDA")
    ap.add_argument("--amp", default=None, help="default none on CPU, bf16 on CUDA")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/train_speed.json")
    args = ap.parse_args()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    backbone = args.backbone or ("resnet50" if cuda else "resnet18")
    batch = args.batch or (64 if cuda else 8)
    amp = args.amp or ("bf16" if cuda else "none")
    steps = args.steps or (20 if cuda else 3)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_frames = max(batch * 3, 48)
        records = make_frames(tmp, n_frames)
        ds = PoseDataset(records, CropAugment("h36m17", AugmentConfig()), seed=0)
        batch_cpu = collate([ds[i] for i in range(batch)])
        per_worker = loader_rate(ds, min(batch, 16), max(n_frames // min(batch, 16) - 1, 1))
        rows = []
        for variant in ("baseline", "full"):
            ips, sec, mem = step_rate(variant, backbone, batch_cpu, device, amp, steps, tmp / variant)
            rows.append({"variant": variant, "backbone": backbone, "batch": batch, "amp": amp,
                         "step_s": sec, "images_per_s": ips, "max_memory_gib": mem,
                         "workers_needed": ips / per_worker})
    name = torch.cuda.get_device_name(device) if cuda else platform.processor() or platform.machine()
    print(f"\n{name}, torch {torch.__version__}, {torch.get_num_threads()} threads; data pipeline "
          f"{per_worker:.0f} images/s per worker (1000×1000 JPEG decode + crop + augment)\n")
    print("| variant | backbone | batch | amp | step (s) | train images/s | peak GPU mem (GiB) | workers to keep up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        mem = f"{r['max_memory_gib']:.1f}" if r["max_memory_gib"] is not None else "-"
        print(f"| {r['variant']} | {r['backbone']} | {r['batch']} | {r['amp']} | {r['step_s']:.3f} | "
              f"{r['images_per_s']:.1f} | {mem} | {r['workers_needed']:.1f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"device": name, "torch": torch.__version__, "threads": torch.get_num_threads(),
                               "loader_images_per_s_per_worker": per_worker, "rows": rows}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
