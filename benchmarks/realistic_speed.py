"""Speed of realistic bodies on one CPU core: a person posed to given joints and rendered into a 256×256 crop with
the record's fields (``cdlpose.data.anny_body.render_posed``), and its parts (retargeting, textured rendering).

Goal (issue 21): >= 10 images/s per core with full sample records (clothed; clothes are not in yet). Poses: the
synthetic sampler's people with their cameras, or, with ``--h36m``, Human3.6M's S8 poses and cameras from
``../shared/data/h36m-poses``. Skins from ``../shared/assets/makehuman-cc0/skins`` when there (else sampled
tones). Needs ``pip install -e ".[realistic]"``.

    python benchmarks/realistic_speed.py [-n 40] [--h36m] [--out benchmarks/results/realistic_speed.json]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: before numpy and torch load

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cdlpose.data.anny_body import AnnyBody, read_skin, render_mesh, render_posed  # noqa: E402
from cdlpose.data.synthetic import sample_scene  # noqa: E402

GOAL = 10.0
SHARED = Path(__file__).resolve().parents[2] / "shared"


def _scenes(n: int, h36m: bool) -> list[tuple]:
    """n (joints_cam (17, 3) mm, f, c) to render."""
    if not h36m:
        return [(s["joints_3d"], s["f"], s["c"]) for s in (sample_scene(i, "val", 0) for i in range(n))]
    from cdlpose.data.rendered import RenderedPoses

    d = SHARED / "data" / "h36m-poses"
    ds = RenderedPoses(d / "train_S1_S5_S6_S7_S8_every5.npz", d / "cameras.npz", ["S8"])
    recs = [ds.scene(int(i)) for i in np.linspace(0, len(ds) - 1, n).astype(int)]
    return [(r["joints_3d"], r["f"], r["c"]) for r in recs]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=40, help="images per run (3 runs)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--h36m", action="store_true", help="Human3.6M S8 poses and cameras from ../shared")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "realistic_speed.json"))
    args = ap.parse_args()
    t = time.perf_counter()
    body = AnnyBody()
    load_s = time.perf_counter() - t
    skins = [read_skin(p) for p in sorted((SHARED / "assets" / "makehuman-cc0" / "skins").glob("*/*.mhmat"))]
    scenes = _scenes(3 * args.n + 2, args.h36m)
    for j, f, c in scenes[:2]:  # warm-up: the EGL context, kernels
        render_posed(body, j, f, c, args.size, np.random.default_rng(0), skin=skins[0] if skins else None)
    rates, errors = [], []
    for rep in range(3):
        part = scenes[2 + rep * args.n: 2 + (rep + 1) * args.n]
        t = time.perf_counter()
        for k, (j, f, c) in enumerate(part):
            r = np.random.default_rng([rep, k])
            out = render_posed(body, j, f, c, args.size, r, skin=skins[k % len(skins)] if skins else None)
            errors.append(float(np.linalg.norm((out["joints_3d"] - out["joints_3d"][0]) - (j - j[0]), axis=1).mean()))
        rates.append(len(part) / (time.perf_counter() - t))
    # the parts, on one pose
    j, f, c = scenes[0]
    t = time.perf_counter()
    for _ in range(10):
        posed = body.retarget(np.asarray(j, np.float32)[None])
    retarget_ms = (time.perf_counter() - t) / 10 * 1000
    V = posed["vertices"][0].numpy().astype(np.float64)
    V = V - V.mean(0) + [0, 0, 3500.0]
    tex = next((s.texture for s in skins if s.texture is not None), None)
    timings = {}
    for name, kw in (("untextured", {}), ("textured", {"uv": body.uv, "texture": tex})):
        if name == "textured" and tex is None:
            continue
        t = time.perf_counter()
        for _ in range(10):
            render_mesh(V[body.uv_vertex], body.uv_faces, (600.0, 600.0), (127.5, 127.5), args.size, **kw)
        timings[name] = (time.perf_counter() - t) / 10 * 1000
    result = {
        "images_per_s": rates, "median_images_per_s": float(np.median(rates)), "goal": GOAL,
        "poses": "Human3.6M S8" if args.h36m else "synthetic sampler", "size": args.size, "skins": len(skins),
        "body_vs_source_pose_mm": {"median": float(np.median(errors)), "max": float(np.max(errors))},
        "retarget_ms": retarget_ms, "render_ms": timings, "anny_load_s": load_s,
        "torch": torch.__version__, "machine": platform.machine(), "threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%d"),
    }
    print(f"| what | value |\n|---|---:|")
    print(f"| person posed and rendered, {args.size}² with its record (images/s, one core; 3 runs of {args.n}) | "
          + " / ".join(f"{x:.1f}" for x in rates) + f" (goal ≥ {GOAL:g}, unclothed) |")
    print(f"| retargeting one pose (ms) | {retarget_ms:.0f} |")
    for k, v in timings.items():
        print(f"| rendering the body, {k} (ms) | {v:.0f} |")
    print(f"| body's joints vs the source pose, root-relative (mm, median / max) | {np.median(errors):.0f} / "
          f"{np.max(errors):.0f} |")
    print(f"| Anny load (s) | {load_s:.1f} |")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
