"""Samples/s per DataLoader worker for load (JPEG decode) + crop + augment on 1000×1000 frames.

Frames are made once: each synthetic person crop is warped back into a 1000×1000 frame over a textured background
and written as JPEG (quality 90), so the pipeline decodes real files of Human3.6M's size. Target: >= 150
samples/s per worker on the 2-core development machine. Use the rate to size ``num_workers`` for a GPU.

    python benchmarks/data_pipeline.py [-n 200] [--out benchmarks/results/data_pipeline.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from cdlpose.data.pipeline import AugmentConfig, CropAugment  # noqa: E402
from cdlpose.data.readers import load_image  # noqa: E402
from cdlpose.data.synthetic import render_sample  # noqa: E402
from cdlpose.geometry import invert_affine  # noqa: E402

TARGET = 150.0


def make_frames(folder: Path, n: int) -> list[dict]:
    records = []
    rng = np.random.default_rng(0)
    for i in range(n):
        s = render_sample(i, "train", seed=11)
        frame = cv2.GaussianBlur(rng.integers(0, 255, (1000, 1000, 3), dtype=np.uint8), (0, 0), 4)
        to_frame = invert_affine(s["frame_to_image"])
        person = cv2.warpAffine(s["image"], to_frame, (1000, 1000))
        mask = cv2.warpAffine(np.ones(s["image"].shape[:2], np.uint8), to_frame, (1000, 1000)) > 0
        frame[mask] = person[mask]
        path = folder / f"{i:05d}.jpg"
        cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
        rec = {k: v for k, v in s.items() if k not in ("image", "depth")}
        rec.update(image_path=str(path), frame_to_image=np.array([[1.0, 0, 0], [0, 1.0, 0]]))
        records.append(rec)
    return records


class FrameDataset(torch.utils.data.Dataset):
    def __init__(self, records, seed=0):
        self.records, self.seed, self.aug = records, seed, None

    def __len__(self):
        return len(self.records)

    def __getitem__(self, i):
        if self.aug is None:  # one augmenter per worker process
            info = torch.utils.data.get_worker_info()
            self.aug = CropAugment("h36m17", AugmentConfig(), seed=self.seed + (info.id if info else 0))
        rec = self.records[i]
        return self.aug(dict(rec, image=load_image(rec["image_path"])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "data_pipeline.json")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        records = make_frames(Path(tmp), args.n)
        ds = FrameDataset(records)
        ds[0]
        t_load = t_aug = 0.0
        for rep in range(2):
            for i in range(args.n):
                t0 = time.perf_counter()
                img = load_image(records[i]["image_path"])
                t1 = time.perf_counter()
                ds.aug(dict(records[i], image=img))
                t2 = time.perf_counter()
                t_load += t1 - t0
                t_aug += t2 - t1
        n = 2 * args.n
        per_worker = n / (t_load + t_aug)
        loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=2, shuffle=True)
        t0 = time.perf_counter()
        count = sum(len(b["image"]) for b in loader)
        two_workers = count / (time.perf_counter() - t0)
    rows = [
        {"case": "one worker: decode + crop + augment", "samples_per_s": per_worker,
         "decode_ms": 1000 * t_load / n, "crop_augment_ms": 1000 * t_aug / n},
        {"case": "DataLoader, 2 workers, batch 32 (includes start-up)", "samples_per_s": two_workers},
    ]
    print("\nData pipeline on 1000×1000 JPEG frames, 256×256 crops, training augmentation\n")
    print("| case | samples/s | decode ms | crop+augment ms |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['samples_per_s']:.0f} | {r.get('decode_ms', float('nan')):.2f} | "
              f"{r.get('crop_augment_ms', float('nan')):.2f} |")
    ok = per_worker >= TARGET
    print(f"\nper worker: {per_worker:.0f} samples/s (target >= {TARGET:.0f}): {'met' if ok else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "data_pipeline", "n": args.n, "target_per_worker": TARGET,
                                    "target_met": ok, "rows": rows,
                                    "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count()}},
                                   indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
