"""Rendering speed of the synthetic data set on one CPU core (256×256 crops, full sample records).

Target: >= 100 images/s on one core. Also reports the DataLoader rate with 2 workers, and the rate of rendering
given 3D poses from calibrated cameras (Human3.6M's 1000×1002 frames into the 256×256 crop, ``rendered-poses``)
when ``../shared/data/h36m-poses`` is there.

    python benchmarks/synthetic_speed.py [-n 400] [--out benchmarks/results/synthetic_speed.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: before numpy and torch load

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import torch  # noqa: E402

from cdlpose.data.rendered import RenderedPoses  # noqa: E402
from cdlpose.data.synthetic import SyntheticHumans, render_sample  # noqa: E402

TARGET = 100.0
POSES = Path(__file__).resolve().parents[2] / "shared" / "data" / "h36m-poses"


def _rendered_rate(style: str, n: int) -> list[float]:
    """Images/s of rendering Human3.6M poses (S8, spread over its sequences and cameras) on one core, 3 runs."""
    ds = RenderedPoses(POSES / "train_S1_S5_S6_S7_S8_every5.npz", POSES / "cameras.npz", ["S8"], style=style)
    idx = [int(i) for i in range(0, len(ds), max(len(ds) // (3 * n + 5), 1))]
    for i in idx[:5]:
        ds[i]
    rates = []
    for rep in range(3):
        part = idx[5 + rep * n : 5 + (rep + 1) * n]
        t0 = time.perf_counter()
        for i in part:
            ds[i]
        rates.append(len(part) / (time.perf_counter() - t0))
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=400)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "synthetic_speed.json")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    for i in range(5):
        render_sample(i)
    rates = []
    for rep in range(3):
        t0 = time.perf_counter()
        for i in range(args.n):
            render_sample(rep * args.n + i)
        rates.append(args.n / (time.perf_counter() - t0))
    one_core = max(rates)
    loader = torch.utils.data.DataLoader(SyntheticHumans("train", args.n), batch_size=32, num_workers=2,
                                         collate_fn=list)
    t0 = time.perf_counter()
    n = sum(len(b) for b in loader)
    loader_rate = n / (time.perf_counter() - t0)
    rows = [
        {"case": "render_sample, one core (best of 3 runs)", "images_per_s": one_core,
         "all_runs": rates},
        {"case": "DataLoader, 2 workers (includes worker start-up)", "images_per_s": loader_rate},
    ]
    if (POSES / "cameras.npz").is_file():
        for style in ("plain", "full"):
            r = _rendered_rate(style, args.n)
            rows.append({"case": f"rendered Human3.6M poses ({style}), frame → 256² crop, one core (best of 3)",
                         "images_per_s": max(r), "all_runs": r})
    else:
        print(f"(no rendered-poses rows: {POSES} is absent)")
    print("\nSynthetic rendering, 256×256, full sample records\n")
    print("| case | images/s |")
    print("|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['images_per_s']:.0f} |")
    ok = all(r["images_per_s"] >= TARGET for r in rows if "one core" in r["case"])
    posed = ", ".join(f"{r['images_per_s']:.0f}" for r in rows[2:]) or "no"
    print(f"\none core: {one_core:.0f} images/s synthetic, {posed} rendered poses (target >= {TARGET:.0f} each): "
          f"{'met' if ok else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "benchmark": "synthetic_speed", "n": args.n, "target_images_per_s": TARGET, "target_met": ok,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()}, "rows": rows,
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
