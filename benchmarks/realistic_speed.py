"""Speed of the realistic style: clothed people posed to given joints and rendered in rooms into 256×256 crops with
their full sample records (``cdlpose.data.realistic.render_person``), on one CPU core, and its parts.

Goal (issue 21): >= 10 images/s per core. The process is pinned to one core (``sched_setaffinity``) with one
thread for torch and numpy; Mesa's llvmpipe rasterises in the calling thread (``cdlpose.data.realistic`` sets
``LP_NUM_THREADS=0``: fork-safe). Poses: the synthetic sampler's people with
their cameras, or, with ``--h36m``, Human3.6M's S8 poses and cameras from ``../shared/data/h36m-poses``. Assets:
the MakeHuman folder (``$CDLPOSE_ASSETS`` or ``../shared/assets/makehuman-cc0``). Needs
``pip install -e ".[realistic]"``.

The rendering alone, anywhere pyrender runs (a GPU's EGL needs no Anny): ``--save-scenes FILE`` writes the
scenes it rendered (meshes, textures, cameras, lights: ~30 MB for 16) and ``--replay FILE [--processes N]``
renders them again, N processes at once.

    python benchmarks/realistic_speed.py [-n 40] [--h36m] [--save-scenes scenes.npz]
    python benchmarks/realistic_speed.py --replay scenes.npz [--processes 8] [--all-cores]
"""

from __future__ import annotations

import os
import sys

ALL_CORES = "--all-cores" in sys.argv
if not ALL_CORES:
    # one core: before numpy, torch and Mesa start their threads
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(k, "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import argparse  # noqa: E402
import json  # noqa: E402
import multiprocessing as mp  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

GOAL = 10.0
SHARED = Path(__file__).resolve().parents[2] / "shared"


def _scenes(n: int, h36m: bool) -> list[tuple]:
    """n (joints_cam (17, 3) mm, f, c, up (3,) camera axes, stature mm) to render."""
    if not h36m:
        from cdlpose.data import synthetic

        out = []
        for i in range(n):
            _, subject, _, _, f, c, R, _, cam, _ = synthetic._scene(i, "val", 0)
            out.append((cam, f, c, R @ np.array([0.0, 1.0, 0.0]), subject.stature))
        return out
    from cdlpose.data.rendered import RenderedPoses

    d = SHARED / "data" / "h36m-poses"
    ds = RenderedPoses(d / "train_S1_S5_S6_S7_S8_every5.npz", d / "cameras.npz", ["S8"])
    out = []
    for i in np.linspace(0, len(ds) - 1, n).astype(int):
        key, _, _, subject, cam = ds._where(int(i))
        rec = ds.scene(int(i))
        out.append((rec["joints_3d"], rec["f"], rec["c"], cam.R.T @ np.array([0.0, 0.0, 1.0]),
                    ds.subjects[subject].stature))
    return out


class _Recorder:
    """Wraps ``Renderer.render`` to keep what it was asked to draw (for --save-scenes and the parts' timings)."""

    def __init__(self, realistic):
        self.calls = []
        self._orig = realistic.Renderer.render
        recorder = self

        def render(renderer, parts, f, c, lights=(), ambient=(0.3,) * 3, background=(0.5,) * 3):
            recorder.calls.append((renderer.width, parts, f, c, lights, ambient, background))
            return recorder._orig(renderer, parts, f, c, lights, ambient, background)

        realistic.Renderer.render = render


def _save(path: Path, calls: list) -> None:
    arrays, meta, textures = {}, [], {}
    for i, (size, parts, f, c, lights, ambient, background) in enumerate(calls):
        pm = []
        for k, p in enumerate(parts):
            name = f"s{i}p{k}"
            arrays[f"{name}v"] = np.asarray(p.vertices, np.float32)
            arrays[f"{name}f"] = np.asarray(p.faces, np.int32)
            arrays[f"{name}n"] = np.asarray(p.normals, np.float32) if p.normals is not None else np.zeros((0, 3))
            if p.texture is not None:
                arrays[f"{name}uv"] = np.asarray(p.uv, np.float32)
                textures.setdefault(p.key, p.texture)
            pm.append({"name": name, "key": p.key if p.texture is not None else None,
                       "colour": [float(x) for x in p.colour], "cutout": p.cutout, "roughness": p.roughness})
        meta.append({"size": size, "parts": pm, "f": [float(x) for x in f], "c": [float(x) for x in c],
                     "lights": [([float(x) for x in d], float(s), [float(x) for x in col]) for d, s, col in lights],
                     "ambient": [float(x) for x in ambient], "background": [float(x) for x in background]})
    keys = sorted(textures)
    for j, k in enumerate(keys):
        arrays[f"tex{j}"] = textures[k]
    np.savez_compressed(path, meta=json.dumps({"scenes": meta, "textures": keys}), **arrays)


def _load(path: Path) -> list:
    from cdlpose.data.realistic import MeshPart

    z = np.load(path, allow_pickle=False)
    meta = json.loads(str(z["meta"]))
    tex = {k: z[f"tex{j}"] for j, k in enumerate(meta["textures"])}
    scenes = []
    for s in meta["scenes"]:
        parts = []
        for p in s["parts"]:
            n = z[p["name"] + "n"]
            parts.append(MeshPart(z[p["name"] + "v"], z[p["name"] + "f"],
                                  uv=z[p["name"] + "uv"] if p["key"] else None,
                                  texture=tex[p["key"]] if p["key"] else None, key=p["key"],
                                  colour=tuple(p["colour"]), cutout=p["cutout"], normals=n if len(n) else None,
                                  roughness=p["roughness"]))
        scenes.append((s["size"], parts, s["f"], s["c"], s["lights"], s["ambient"], s["background"]))
    return scenes


def _replay_worker(args) -> float:
    path, repeats = args
    from cdlpose.data.realistic import renderer

    scenes = _load(Path(path))
    for size, parts, f, c, lights, ambient, bg in scenes[:2]:  # warm-up: context, textures
        renderer(size, size).render(parts, f, c, lights, ambient, bg)
    t = time.perf_counter()
    for _ in range(repeats):
        for size, parts, f, c, lights, ambient, bg in scenes:
            renderer(size, size).render(parts, f, c, lights, ambient, bg)
    return repeats * len(scenes) / (time.perf_counter() - t)


def replay(args) -> None:
    rates = []
    if args.processes <= 1:
        rates = [_replay_worker((args.replay, args.repeats)) for _ in range(3)]
        total = float(np.median(rates))
    else:
        with mp.get_context("spawn").Pool(args.processes) as pool:
            per = pool.map(_replay_worker, [(args.replay, args.repeats)] * args.processes)
        rates, total = per, float(np.sum(per))
    renderer_info = _gl_renderer()
    result = {"mode": "replay", "scenes": args.replay, "processes": args.processes, "images_per_s": rates,
              "total_images_per_s": total, "gl_renderer": renderer_info, "machine": platform.machine(),
              "all_cores": ALL_CORES, "date": time.strftime("%Y-%m-%d")}
    print(f"| rendering recorded scenes (GL: {renderer_info}) | images/s |\n|---|---:|")
    print(f"| {args.processes} process(es), {'all cores' if ALL_CORES else 'one core'} | "
          + " / ".join(f"{x:.1f}" for x in rates) + f" (total {total:.1f}) |")
    _write(args.out, result)


def _gl_renderer() -> str:
    try:
        from OpenGL.GL import GL_RENDERER, glGetString

        from cdlpose.data.realistic import renderer

        renderer(64, 64)
        return glGetString(GL_RENDERER).decode()
    except Exception as e:  # the name only labels the table
        return f"unknown ({type(e).__name__})"


def _write(path, result) -> None:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=40, help="images per run (3 runs)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--h36m", action="store_true", help="Human3.6M S8 poses and cameras from ../shared")
    ap.add_argument("--save-scenes", default=None, help="write the first 16 rendered scenes here (.npz)")
    ap.add_argument("--replay", default=None, help="render the scenes of this file (no Anny needed)")
    ap.add_argument("--processes", type=int, default=1, help="with --replay: processes rendering at once")
    ap.add_argument("--repeats", type=int, default=5, help="with --replay: passes over the scenes per run")
    ap.add_argument("--all-cores", action="store_true", help="do not pin to one core (GPU machines)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "realistic_speed.json"))
    args = ap.parse_args()
    if args.replay:
        return replay(args)

    import torch

    from cdlpose.data import realistic

    torch.set_num_threads(1)
    t = time.perf_counter()
    state = realistic.person_state()
    load_s = time.perf_counter() - t
    scenes = _scenes(3 * args.n + 2, args.h36m)
    wardrobe = state["wardrobe"]
    # warm-up: the EGL context, and every asset read once (as a long-running data loader has them)
    for k, (j, f, c, up, st) in enumerate(scenes[:2]):
        realistic.render_person(j, f, c, args.size, np.random.default_rng(k), up=up, stature=st, state=state)
    for p in wardrobe.suits + wardrobe.shoes + wardrobe.hats + wardrobe.hair:
        wardrobe.proxy(p)
    for p in wardrobe.skins:
        wardrobe.material(p)
    rec = _Recorder(realistic)
    rates, errors = [], []
    for rep in range(3):
        part = scenes[2 + rep * args.n: 2 + (rep + 1) * args.n]
        t = time.perf_counter()
        for k, (j, f, c, up, st) in enumerate(part):
            out = realistic.render_person(j, f, c, args.size, np.random.default_rng([rep, k]), up=up, stature=st,
                                          state=state)
            errors.append(float(np.linalg.norm((out["joints_3d"] - out["joints_3d"][0]) - (j - j[0]),
                                               axis=1).mean()))
        rates.append(len(part) / (time.perf_counter() - t))
    # the parts, over the first 10 scenes
    body = state["body"]
    t = time.perf_counter()
    for j, f, c, up, st in scenes[:10]:
        posed = body.retarget(np.asarray(j, np.float32)[None])
    retarget_ms = (time.perf_counter() - t) / 10 * 1000
    V = posed["vertices"][0].numpy().astype(np.float64)
    t = time.perf_counter()
    for k in range(10):
        outfit = wardrobe.outfit(np.random.default_rng(k), male=k % 2 == 0)
        realistic.dress(state, V, posed["rest"]["rest_vertices"], outfit, np.random.default_rng(k))
    dress_ms = (time.perf_counter() - t) / 10 * 1000
    calls = rec.calls[:16]
    t = time.perf_counter()
    for size, parts, f, c, lights, ambient, bg in calls[:10]:
        realistic.renderer(size, size).render(parts, f, c, lights, ambient, bg)
    render_ms = (time.perf_counter() - t) / len(calls[:10]) * 1000
    if args.save_scenes:
        _save(Path(args.save_scenes), calls)
        print(f"wrote {len(calls)} scenes to {args.save_scenes}")
    triangles = float(np.mean([sum(len(p.faces) for p in call[1]) for call in calls]))
    result = {
        "images_per_s": rates, "median_images_per_s": float(np.median(rates)), "goal": GOAL,
        "poses": "Human3.6M S8" if args.h36m else "synthetic sampler", "size": args.size,
        "assets": None if wardrobe.root is None else str(wardrobe.root),
        "body_vs_source_pose_mm": {"median": float(np.median(errors)), "max": float(np.max(errors))},
        "retarget_ms": retarget_ms, "dress_ms": dress_ms, "render_ms": render_ms, "triangles": triangles,
        "state_load_s": load_s, "gl_renderer": _gl_renderer(), "torch": torch.__version__,
        "machine": platform.machine(), "date": time.strftime("%Y-%m-%d"),
    }
    print("| what | value |\n|---|---:|")
    print(f"| clothed person in a room, {args.size}² with its record (images/s, one core; 3 runs of {args.n}) | "
          + " / ".join(f"{x:.1f}" for x in rates) + f" (goal ≥ {GOAL:g}) |")
    print(f"| retargeting one pose (ms) | {retarget_ms:.0f} |")
    print(f"| dressing the posed body: garments fitted, skin under them removed (ms) | {dress_ms:.0f} |")
    print(f"| rendering a scene, {triangles / 1000:.0f}k triangles, textured (ms) | {render_ms:.0f} |")
    print(f"| body's joints vs the source pose, root-relative (mm, median / max) | {np.median(errors):.0f} / "
          f"{np.max(errors):.0f} |")
    print(f"| body, asset map and stature model load (s) | {load_s:.1f} |")
    _write(args.out, result)


if __name__ == "__main__":
    main()
