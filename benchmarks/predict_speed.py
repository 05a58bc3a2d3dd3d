"""End-to-end images/s of ``cdlpose predict`` on a folder of 256×256 crops against the bare network's forward time.

The pipeline overhead — decoding, cropping, writing the JSON, the 2D overlay, the 3D figure and the viewer —
is ``(end-to-end time − forward time) / forward time`` per image; the target is under 20%. Measured at batch 1
and 16 on the CPU with a freshly initialised network (speed does not depend on the weights) of the given size.
Then the network alone per crop, PyTorch against ONNX Runtime (the graph ``cdlpose export`` writes, run through
``Predictor.from_onnx``), at batch 1 and 8, on the same crops (``--no-onnx`` skips it).

    python benchmarks/predict_speed.py [--backbone resnet18 --lite] [--images 32] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import torch

from cdlpose.checkpoint import save_checkpoint
from cdlpose.config import config_to_dict, load_config
from cdlpose.data.synthetic import render_sample
from cdlpose.loading import CHECKPOINT_FORMAT, build_model
from cdlpose.inference import Predictor
from cdlpose.predict import PredictOptions, run_predict

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic.yaml"


def make_checkpoint(path: Path, backbone: str, lite: bool) -> None:
    cfg = load_config(CONFIG, [f"model.backbone={backbone}", f"model.lite={str(lite).lower()}",
                               "augment.input_size=256"])
    torch.manual_seed(0)
    net = build_model(cfg)
    save_checkpoint({"format": CHECKPOINT_FORMAT, "config": config_to_dict(cfg), "model": net.state_dict()}, path)


def forward_seconds_per_image(pred: Predictor, batch: int, repeats: int) -> float:
    x = torch.randn(batch, 3, 256, 256)
    pred._run(x)  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        pred._run(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times) / batch


def onnx_rows(ck: Path, work: Path, repeats: int) -> list[dict]:
    """Median network latency per crop, PyTorch vs ONNX Runtime (CPU), batches 1 and 8; and the largest pose
    difference between the two on those crops (mm)."""
    import numpy as np

    from cdlpose.export import export_onnx

    onnx_path = work / "net.onnx"
    export_onnx(ck, onnx_path, check=False)
    backends = {"PyTorch": Predictor.from_checkpoint(ck, device="cpu"), "ONNX Runtime": Predictor.from_onnx(onnx_path)}
    rows = []
    for batch in (1, 8):
        x = torch.randn(batch, 3, 256, 256, generator=torch.Generator().manual_seed(batch))
        outs = {}
        for name, pred in backends.items():
            outs[name] = pred._run(x)  # warm-up, and the outputs to compare
            times = []
            for _ in range(max(repeats, 5)):
                t0 = time.perf_counter()
                pred._run(x)
                times.append(time.perf_counter() - t0)
            rows.append({"backend": name, "batch": batch, "ms_per_crop": statistics.median(times) / batch * 1e3})
        diff = float(np.abs(outs["PyTorch"]["pose_3d"] - outs["ONNX Runtime"]["pose_3d"]).max())
        rows[-1]["max_pose_diff_mm"] = rows[-2]["max_pose_diff_mm"] = diff
    return rows


def predict_seconds_per_image(pred: Predictor, folder: Path, batch: int, json_only: bool, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        out = Path(tempfile.mkdtemp(prefix="cdlpose-bench-out-"))
        opts = PredictOptions(out=out, batch_size=batch, images=not json_only, viewer=not json_only, progress=False)
        t0 = time.perf_counter()
        res = run_predict(pred, [folder], opts)
        times.append((time.perf_counter() - t0) / res["frames"])
        shutil.rmtree(out)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="resnet18")
    ap.add_argument("--lite", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--images", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-onnx", action="store_true", help="skip the ONNX Runtime vs PyTorch rows")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cdlpose-bench-"))
    try:
        ck = work / "net.pt"
        make_checkpoint(ck, args.backbone, args.lite)
        folder = work / "crops"
        folder.mkdir()
        for i in range(args.images):
            cv2.imwrite(str(folder / f"{i:04d}.jpg"), render_sample(i, "test")["image"][..., ::-1])
        pred = Predictor.from_checkpoint(ck, device="cpu")
        rows = []
        for batch in (1, 16):
            fwd = forward_seconds_per_image(pred, batch, args.repeats)
            for json_only in (False, True):
                e2e = predict_seconds_per_image(pred, folder, batch, json_only, args.repeats)
                rows.append({"batch": batch, "outputs": "JSON only" if json_only else "JSON + pictures + viewer",
                             "forward_ms": fwd * 1e3, "end_to_end_ms": e2e * 1e3, "images_per_s": 1.0 / e2e,
                             "overhead": (e2e - fwd) / fwd})
        onnx = [] if args.no_onnx else onnx_rows(ck, work, args.repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    net = f"{args.backbone}{' lite' if args.lite else ''}, 256×256"
    print(f"cdlpose predict on {args.images} 256×256 JPEG crops, CPU ({os.cpu_count()} cores, "
          f"{torch.get_num_threads()} threads), {net}")
    print("| batch | outputs | forward ms/img | end-to-end ms/img | images/s | overhead |")
    print("|---:|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['batch']} | {r['outputs']} | {r['forward_ms']:.1f} | {r['end_to_end_ms']:.1f} | "
              f"{r['images_per_s']:.1f} | {100 * r['overhead']:.0f}% |")
    worst = max(r["overhead"] for r in rows)
    print(f"largest overhead {100 * worst:.0f}% (target < 20%): {'met' if worst < 0.2 else 'NOT met'}")
    if onnx:
        print("\nThe network per crop (crop → uvz, pose, confidence), PyTorch vs ONNX Runtime, CPU:")
        print("| backend | batch | ms/crop | max pose difference, mm |")
        print("|---|---:|---:|---:|")
        for r in onnx:
            print(f"| {r['backend']} | {r['batch']} | {r['ms_per_crop']:.1f} | {r['max_pose_diff_mm']:.1e} |")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "predict_speed.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
        "cores": os.cpu_count(), "torch": torch.__version__, "network": net, "images": args.images,
        "rows": rows, "target_overhead": 0.2, "met": worst < 0.2, "onnx_vs_pytorch": onnx,
        "onnxruntime": _version("onnxruntime")}, indent=1))


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


if __name__ == "__main__":
    main()
