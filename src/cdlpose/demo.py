"""``cdlpose demo``: the whole system on a laptop, with nothing but the installed package.

Renders a small synthetic training set, trains a CPU-sized network through both of the paper's stages and its
end-to-end fine-tuning with a fixed, seeded amount of work (steps, never minutes: the result does not depend on the
machine's load), pre-trains the lifting block on exact and noisy 2.5D inputs of synthetic people (no images needed)
between the stages, evaluates on held-out synthetic subjects, and writes a report folder (``index.html`` with PNGs):
the verdict, training curves, the metric table, and predictions next to the ground truth for a dozen test images.
The trained model is compared with predicting the training set's mean pose; it must be at least ``MIN_RATIO`` (2)
times better.
"""

from __future__ import annotations

import dataclasses
import html
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .config import Config, TrainConfig
from .data.datasets import DataConfig
from .data.pipeline import AugmentConfig
from .data.synthetic import SyntheticHumans, sample_scene
from .model import ModelConfig
from .skeletons import geodesic_normalize, get_skeleton
from .stages import lifting_examples

__all__ = ["demo_config", "run_demo"]


#: The demo network's input size (px): a 64² crop trains ~6× faster per image than 128² on a CPU and, within the
#: demo's minutes, reaches a lower 2D error (measured: 16 vs 25 px of 256 after 5 min of stage 1).
DEMO_INPUT = 64


def demo_config(out: Path, train_size: int, test_size: int, seed: int, steps_1: int, steps_2: int,
                style: str = "plain"):
    """The two stage configs of the demo: the full variant on ResNet-18's first two stages (stride 8), heads 64
    channels wide, a ``DEMO_INPUT``² input, 32 depth bins, a 2-block lifting MLP; stage 1 runs ``steps_1`` steps
    (the last fifth at lr ÷ 10), stage 2 ``steps_2`` steps of the MLP on cached 2.5D estimates of the frozen
    network (0: no step budget)."""
    cache = str(out / "synthetic-cache")
    common = {"format": "synthetic", "seed": seed, "cache_dir": cache, "style": style}
    val_size = min(64, test_size)
    data = DataConfig(protocol="synthetic", val_size=val_size, datasets=[
        {**common, "split": "train", "size": train_size, "role": "train"},
        {**common, "split": "val", "size": val_size, "role": "val"},
        {**common, "split": "test", "size": test_size, "role": "test"},
    ])
    # a stride-8 trunk (ResNet-18's first two stages): trained from scratch for minutes, the full stride-32 trunk
    # stays at the mean pose for hundreds of steps, the shallower one starts to localise joints within ~100;
    # 64-channel heads run ~1.7× faster than 128 and learn as much per step
    model = ModelConfig(variant="full", backbone="resnet18", lite=True, backbone_stages=2, head_width=64,
                        depth_bins=32, lift_blocks=2, lift_dropout=0.25,
                        # the crop's 2.5D and the root's viewing ray (the crop alone cannot tell where in the image,
                        # so in which direction, the person is): 125.3 vs 129.0 mm on the same stage-1 network
                        lift_input="crop+ray")
    from .codec import CodecConfig

    codec = CodecConfig(depth_bins=32)
    # light augmentation: the synthetic images already vary in pose, view, scale and occluders, and a short
    # run learns faster without rotations and pasted occluders
    aug = AugmentConfig(input_size=DEMO_INPUT, rotation=0.0, occlusion_prob=0.0, scale=0.15, distribution="uniform")
    # the step budget ends each stage (epochs only bound it); no clock anywhere, so the result is the same on a
    # busy machine as on an idle one
    # no loader process: the images are cached, and on two cores a worker process takes a core from the network's
    # threads for little work; channels_last is faster on the CPU too for this network (docs/demo.md: the measured table)
    t1 = TrainConfig(stage=1, epochs=10**6, lr=2e-3, lr_milestones=(), lr_final_drop=0.2, batch_size=16,
                     workers=0, channels_last_cpu=True, seed=seed, amp="none", max_steps=steps_1, log_every=5,
                     eval_batch_size=64, out_dir=str(out / "stage1"))
    # stage 2: the frozen network runs once over an augmented pass of the training images; the MLP (already
    # trained on synthetic 2.5D inputs, see pretrain_lifting) then adapts to those 2.5D estimates
    t2 = dataclasses.replace(t1, stage=2, lr=DEMO_STAGE2_LR, lr_final_drop=0.3, batch_size=64, cache_passes=1,
                             max_steps=steps_2, log_every=50, init_from=str(out / "lifting" / "pretrained.pt"),
                             out_dir=str(out / "stage2"))
    base = Config(model=model, codec=codec, augment=aug, data=data)
    return dataclasses.replace(base, train=t1), dataclasses.replace(base, train=t2)


def demo_finetune_config(cfg2: Config, steps: int) -> Config:
    """The demo's last phase: the whole network fine-tuned end to end from the stage-2 checkpoint (every loss of
    stage 1 plus the 3D pose L1, images through the network each step; the paper's end-to-end fine-tuning),
    ``steps`` steps of 16 images at lr 3e-4, the last 30% at lr ÷ 10. Measured on the demo's networks: 120.5 →
    115.6 mm in 1.6 min (1e-4: 116.9; 1e-3: 125.1)."""
    out = Path(cfg2.train.out_dir).parent
    t3 = dataclasses.replace(cfg2.train, finetune=True, cache_passes=0, batch_size=16, lr=DEMO_FINETUNE_LR,
                             max_steps=steps, init_from=str(out / "stage2" / "last.pt"),
                             out_dir=str(out / "finetune"))
    return dataclasses.replace(cfg2, train=t3)


class _Scenes(torch.utils.data.Dataset):
    """Synthetic people without pictures (:func:`cdlpose.data.synthetic.sample_scene`), for worker processes."""

    def __init__(self, split: str, seed: int, start: int, n: int, pose_set: str = "activities") -> None:
        self.split, self.seed, self.start, self.n, self.pose_set = split, seed, start, n, pose_set

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int):
        s = sample_scene(self.start + i, self.split, self.seed, self.pose_set)
        return s["joints_2d"], s["joints_3d"], s["box"], s["f"], s["c"]


def sample_scenes(n: int, split: str = "train", seed: int = 0, start: int = 0, workers: int = 2,
                  pose_set: str = "activities"):
    """``joints_2d`` (n, J, 2), ``joints_3d`` (n, J, 3), ``box`` (n, 4), ``f`` and ``c`` (n, 2) of synthetic samples
    ``start`` … ``start + n - 1`` of ``split`` of the ``pose_set`` (poses and cameras as rendered, ~0.7 ms each
    per core)."""
    loader = DataLoader(_Scenes(split, seed, start, n, pose_set), batch_size=256, num_workers=workers,
                        collate_fn=lambda items: [np.stack(c) for c in zip(*items)])
    parts = list(loader)
    return tuple(np.concatenate([p[k] for p in parts]) for k in range(5))


def pretrain_lifting(lifting: torch.nn.Module, scenes: tuple, steps: int, input_size: int, depth_bins: int,
                     depth_range: float, seed: int = 0, batch_size: int = 256, lr: float = 1e-3,
                     noise: tuple = (1.0, 1.0, 1.5), augment_scale: float = 0.15, progress: bool = False,
                     log: list | None = None) -> torch.nn.Module:
    """Train the lifting block alone on exact and noisy 2.5D inputs of synthetic people (no images, no network).

    Each batch draws ``batch_size`` of the ``scenes`` (:func:`sample_scenes`), crops them as the training pipeline
    does (scale ×U(1 ± ``augment_scale``), half mirrored), and adds Gaussian noise of σ = k · ``noise`` (u, v in
    map pixels, z in depth bins) with k ~ U(0, 2) per sample: from exact inputs to twice the typical error of a
    trained network's estimates. The loss is the stage-2 pose L1; Adam at ``lr``, ÷10 for the last fifth.
    ``log``: a list that gets ``(step, loss)`` every 50 steps. Deterministic for a seed."""
    from tqdm.auto import tqdm

    from .losses import pose_l1

    j2, j3, boxes, focal, centre = scenes
    rng = np.random.default_rng([seed, 17])
    gen = torch.Generator().manual_seed(seed)
    sigma = torch.tensor(noise, dtype=torch.float32)
    opt = torch.optim.Adam([p for p in lifting.parameters()], lr=lr)
    lifting.train()
    for step in tqdm(range(steps), desc="lifting pre-training", disable=not progress, dynamic_ncols=True):
        if step == int(0.8 * steps):
            for g in opt.param_groups:
                g["lr"] = lr * 0.1
        i = rng.integers(len(j2), size=batch_size)
        scale = rng.uniform(1 - augment_scale, 1 + augment_scale, batch_size)
        uvz, pose, camera = lifting_examples(j2[i], j3[i], boxes[i], input_size, depth_bins, depth_range, scale,
                                             rng.random(batch_size) < 0.5, f=focal[i], c=centre[i])
        uvz, pose, camera = torch.from_numpy(uvz), torch.from_numpy(pose), torch.from_numpy(camera)
        k = 2 * torch.rand(batch_size, 1, 1, generator=gen)
        uvz = uvz + torch.randn(uvz.shape, generator=gen) * sigma * k
        loss = pose_l1(lifting(uvz, camera), pose, torch.ones(pose.shape[:2], dtype=torch.bool))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None and (step + 1) % 50 == 0:
            log.append((step + 1, float(loss.detach())))
    return lifting


def pretrain_from_stage1(cfg1: Config, scenes: tuple, steps: int, seed: int = 0, progress: bool = False,
                         folder=None) -> list:
    """The stage-1 run's ``last.pt`` (in ``cfg1.train.out_dir``) with its lifting block pre-trained on ``scenes``
    (:func:`pretrain_lifting`), written to ``<out_dir>/../lifting/pretrained.pt`` (weights only) for stage 2's
    ``init_from``; returns the pre-training log ``[(step, loss)]``. ``folder``: the demo folder's
    :class:`cdlpose.outputs.OutputFolder`, whose ledger records the file."""
    from .checkpoint import save_checkpoint
    from .loading import build_model, read_checkpoint

    run = Path(cfg1.train.out_dir)
    ckpt = read_checkpoint(run / "last.pt", "stage 1")
    net = build_model(cfg1)
    net.load_state_dict(ckpt["model"])
    torch.manual_seed(seed)
    log: list = []
    pretrain_lifting(net.lifting, scenes, steps, cfg1.augment.input_size, cfg1.model.depth_bins,
                     cfg1.codec.depth_range, seed=seed, progress=progress, log=log)
    (run.parent / "lifting").mkdir(exist_ok=True)
    # trained_on: stage 1's record (the images); the lifting block's synthetic 2.5D inputs are drawn, not rendered
    save_checkpoint({**{k: ckpt[k] for k in ("format", "version", "config")}, "model": net.state_dict(),
                     "weights_only": True, **({"trained_on": ckpt["trained_on"]} if "trained_on" in ckpt else {})},
                    run.parent / "lifting" / "pretrained.pt")
    if folder is not None:
        folder.record("lifting/pretrained.pt")
    return log


def _render_all(ds: SyntheticHumans, workers: int = 2, progress: bool = True) -> None:
    """Render (and cache) every sample of ``ds`` with ``workers`` processes, with a progress bar."""
    from tqdm.auto import tqdm

    loader = DataLoader(ds, batch_size=16, num_workers=workers, collate_fn=lambda items: len(items))
    with tqdm(total=len(ds), desc=f"rendering {ds.split} images", unit="img", disable=not progress,
              dynamic_ncols=True) as bar:
        for n in loader:
            bar.update(n)


def _mean_pose(ds: SyntheticHumans) -> np.ndarray:
    """The mean of the training set's root-relative, geodesic-normalised camera-space poses (J, 3) mm."""
    poses = np.stack([ds[i]["joints_3d"] for i in range(len(ds))])
    norm, _ = geodesic_normalize(poses - poses[:, :1])
    return norm.mean(0)


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x] if path.is_file() else []


def _png(fig, dpi: int) -> bytes:
    """A matplotlib figure as PNG bytes (written through :class:`cdlpose.outputs.OutputFolder`: atomically, never
    through a link)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    return buf.getvalue()


def _legend(ax, **kw) -> None:
    """A legend when ``ax`` has labelled artists (matplotlib warns "No artists with labels found" otherwise)."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)


def _curves(out: Path, pretrain_log: list) -> bytes:
    """Training curves (PNG): stage 1's loss terms and total, the lifting block's losses (pre-training, stage 2 and
    the end-to-end fine-tuning), and the validation MPJPE of every stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    log1 = _read_jsonl(out / "stage1" / "log.jsonl")
    if log1:
        steps = [r["step"] for r in log1]
        for k in ("total", "integral", "ordinal", "joint", "bone", "cube"):
            if k in log1[0]:
                axes[0].plot(steps, [r[k] for r in log1], label=k, lw=2.0 if k == "total" else 1.0)
        axes[0].set_yscale("log")
    axes[0].set_title("stage 1 losses (the network up to the volumes)")
    axes[0].set_xlabel("step")
    _legend(axes[0], fontsize=7)
    if pretrain_log:
        axes[1].plot(*zip(*pretrain_log), label="pre-training on synthetic 2.5D inputs")
    log2 = _read_jsonl(out / "stage2" / "log.jsonl")
    if log2:
        offset = pretrain_log[-1][0] if pretrain_log else 0
        axes[1].plot([offset + r["step"] for r in log2], [r["pose"] for r in log2],
                     label="stage 2: on the network's cached 2.5D estimates")
    log3 = _read_jsonl(out / "finetune" / "log.jsonl")
    if log3:
        offset = (pretrain_log[-1][0] if pretrain_log else 0) + (log2[-1]["step"] if log2 else 0)
        axes[1].plot([offset + r["step"] for r in log3], [r["pose"] for r in log3],
                     label="fine-tuned end to end (on the network's estimates of new images)")
    axes[1].set_title("lifting block: pose L1 (mm per coordinate)")
    axes[1].set_xlabel("step")
    _legend(axes[1], fontsize=7)
    for run, label in (("stage1", "stage 1 (2.5D back-projected, GT root depth)"), ("stage2", "stage 2 (lifted)"),
                       ("finetune", "fine-tuned end to end (lifted)")):
        val = [(r["step"], r["val_mpjpe"]) for r in _read_jsonl(out / run / "epochs.jsonl")
               if r.get("val_mpjpe") is not None]
        if val:
            axes[2].plot(*zip(*val), "o-", label=label)
    axes[2].set_title("validation MPJPE (mm)")
    axes[2].set_xlabel("step of the stage")
    _legend(axes[2], fontsize=7)
    fig.tight_layout()
    data = _png(fig, 90)
    plt.close(fig)
    return data


def _skeleton_3d(ax, pose, sk, colour, label):
    for p, c in sk.bones:
        ax.plot(*[[pose[p, i], pose[c, i]] for i in (0, 2, 1)], color=colour, lw=2)
    ax.plot([], [], color=colour, label=label)


def _prediction_figures(test: SyntheticHumans, pred: dict, indices, sk, folder, input_size: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .vis import draw_skeleton

    names = []
    for k, i in enumerate(indices):
        s = test[i]
        img = s["image"]  # the synthetic image is the 256² crop of the frame
        # predictions are in the input crop's pixels of the same box: scale to the 256² image
        scale = img.shape[0] / input_size
        uv_pred = (pred["pred_uv"][i] + 0.5) * scale - 0.5
        uv_gt = (pred["gt_uv"][i] + 0.5) * scale - 0.5
        # the 3D view gets twice the width of each picture
        fig = plt.figure(figsize=(12, 4.2))
        grid = fig.add_gridspec(1, 4)
        ax = fig.add_subplot(grid[0, 0])
        ax.imshow(draw_skeleton(img, uv_gt, sk, thickness=1))
        ax.set_title("ground truth 2D", fontsize=9)
        ax.axis("off")
        ax = fig.add_subplot(grid[0, 1])
        ax.imshow(draw_skeleton(img, uv_pred, sk))
        ax.set_title("prediction 2D", fontsize=9)
        ax.axis("off")
        ax = fig.add_subplot(grid[0, 2:], projection="3d")
        gt, p = pred["gt_3d"][i], pred["pred_3d"][i]
        _skeleton_3d(ax, gt, sk, "tab:green", "ground truth")
        _skeleton_3d(ax, p, sk, "tab:red", "prediction")
        err = np.linalg.norm(p - gt, axis=-1).mean()
        ax.set_title(f"3D (camera axes), MPJPE {err:.0f} mm", fontsize=9)
        lim = 900
        ax.set_xlim(-lim, lim), ax.set_ylim(-lim, lim), ax.set_zlim(lim, -lim)
        ax.set_xlabel("x"), ax.set_ylabel("z"), ax.set_zlabel("y")
        ax.view_init(elev=10, azim=-70)
        _legend(ax, fontsize=8, loc="upper left")
        fig.tight_layout()
        name = f"prediction_{k:02d}.png"
        folder.write_bytes(name, _png(fig, 80))
        plt.close(fig)
        names.append(name)
    return names


def _html(report: dict, table_md: str, figures: list[str]) -> str:
    rows = table_md.strip().splitlines()
    head = [c.strip() for c in rows[0].strip("|").split("|")]
    body = [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]
    table = "<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in body) + "</table>"
    verdict = "PASSED" if report["passed"] else "FAILED"
    colour = "#1a7f37" if report["passed"] else "#c62828"
    imgs = "".join(f'<img src="{f}" alt="{f}">' for f in figures)
    st = report["steps"]
    cache_note = ("reused by a later demo in this folder; <code>cdlpose demo --clean</code> removes it at the end, or "
                  "delete the folder" if report["cache"]["kept"] else "removed at the end (--clean)")
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>cdlpose demo: {verdict}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}}img{{max-width:100%;display:block;margin:8px 0}}
.verdict{{color:{colour};font-size:2em;margin:0.3em 0}}</style>
</head><body>
<h1>cdlpose demo</h1>
<p class="verdict"><b>{verdict}</b>: {report['ratio']:.2f}× better than the training set's mean pose
(at least {report['min_ratio']:g}× required)</p>
<p><b>MPJPE {report['mpjpe']:.1f} mm</b> (PA-MPJPE {report['pa_mpjpe']:.1f} mm) against
{report['mean_pose_mpjpe']:.1f} mm for the training set's mean pose, over all {report['test_size']} test images
(every joint of every image pooled; the table's Avg column is the same number). 2D error
{report['error_2d_px']:.1f} px in the {report['input_size']}² input crop.</p>
<p>The rendered images are cached in <code>{html.escape(report['cache']['path'])}</code>
({report['cache']['bytes'] / 1e6:.0f} MB), {cache_note}.</p>
<p>A {html.escape(report['model'])}, trained on {report['train_size']} synthetic images ({html.escape(report['style'])}
style, seed {report['seed']}) in a fixed budget: stage 1 {st['stage1']} steps; the lifting block
{st['lifting_pretrain']} steps on exact and noisy 2.5D inputs of {report['lifting_scenes']} synthetic people (no
images), stage 2 {st['stage2']} steps on the frozen network's 2.5D estimates, then the whole network
{st['finetune']} steps end to end. {report['minutes_total']:.1f}
minutes in all on {html.escape(report['device'])}; evaluated on {report['test_size']} images of held-out synthetic
subjects.</p>
<h2>Training</h2><img src="curves.png" alt="training curves">
<h2>Metrics (mm, per activity; Avg over all frames)</h2>{table}
<h2>Predictions on test images</h2>{imgs}
</body></html>
"""


#: The demo's fixed amount of work at the default ``steps`` (stage 1's optimiser steps of 16 images); the other
#: phases scale with it. Chosen so the demo takes ≤ 10 minutes on an idle 2-core CPU (docs/demo.md: measured table).
DEMO_STEPS = 1900
#: Per stage-1 step: the lifting block's pre-training steps (batches of 256 synthetic 2.5D inputs), the synthetic
#: people they are drawn from, stage 2's steps on the cached estimates (batches of 64) and the end-to-end
#: fine-tuning's steps (batches of 16): 399, 9,975, 640 and 500 at the default 1,900.
PRETRAIN_PER_STEP, SCENES_PER_STEP, STAGE2_PER_STEP, FINETUNE_PER_STEP = 0.21, 5.25, 0.337, 0.263
DEMO_TRAIN_SIZE = 4500
DEMO_STAGE2_LR = 1e-3
DEMO_FINETUNE_LR = 3e-4
#: The demo passes when its MPJPE is at least this many times better than the training set's mean pose. 2×: the
#: default run reaches 2.50× (seeded, the same on any load), so a first run passes with a 25% margin, also on a
#: machine type whose float rounding moves the result by the ±1 mm seen between schedule variants (docs/demo.md)
MIN_RATIO = 2.0


#: What the demo writes into its folder besides the stage runs (``stage1/``, ``stage2/``, ``finetune/``, each a
#: training run folder) and the rendered images' cache (``synthetic-cache/``, reused by a later demo).
REPORT_FILES = ("index.html", "report.json", "curves.png", *(f"prediction_{k:02d}.png" for k in range(12)),
                "metrics.json", "metrics.csv", "metrics.md", "lifting/pretrained.pt")
STAGE_FOLDERS = ("stage1", "stage2", "finetune")


def run_demo(out: str | Path = "cdlpose-demo", steps: int = DEMO_STEPS, train_size: int | None = None,
             test_size: int = 200, seed: int = 0, device: str | None = None, verbose: bool = True,
             style: str = "plain", min_ratio: float = MIN_RATIO, overwrite: bool = False, clean: bool = False) -> dict:
    """Run the demo into ``out``; returns the report dict (also written as ``report.json``).

    The work is fixed by ``steps`` (stage 1's steps; the other phases scale with it) and ``seed``: no phase is
    budgeted by the clock, so the same arguments give the same metrics on a busy machine as on an idle one.
    ``style``: the synthetic images' style (``plain`` by default: a network trained from scratch on two cores for
    minutes learns figures on plain backgrounds; ``full`` adds textures and occluders). ``report["passed"]``: the
    MPJPE is at least ``min_ratio`` times better than the training set's mean pose's.

    The folder is under cdlpose's output-folder policy (:func:`cdlpose.train_log.claim_report_folder`): an
    earlier demo there, or a file in the way that cdlpose did not write, is refused before any work unless
    ``overwrite``; the report files are written atomically and recorded; the complete marker is written last.
    ``clean``: remove the rendered images' cache (``out/synthetic-cache``) at the end; the report says where it is
    and how big (``report["cache"]``) either way."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    from .train_log import claim_report_folder

    with claim_report_folder(out, "demo", REPORT_FILES, STAGE_FOLDERS, overwrite) as folder:
        return _run_demo(folder, steps, train_size, test_size, seed, device, verbose, style, min_ratio, overwrite,
                         clean)


def _run_demo(folder, steps, train_size, test_size, seed, device, verbose, style, min_ratio, overwrite,
              clean=False) -> dict:
    from .engine import Trainer
    from .train_log import remove_run_file
    from .evaluation import evaluate_checkpoint, mean_pose_rows, write_results
    from .metrics import format_table

    t0 = time.perf_counter()
    out = folder.path
    folder.start()  # not complete until the report is written
    for name in REPORT_FILES:  # an earlier report (asked to be replaced) must not describe the new runs
        remove_run_file(folder, name)
    folder.save()
    train_size = DEMO_TRAIN_SIZE if train_size is None else train_size
    n_pre = max(round(PRETRAIN_PER_STEP * steps), 1)
    n_scenes = max(round(SCENES_PER_STEP * steps), 256)
    n2 = max(round(STAGE2_PER_STEP * steps), 1)
    n3 = max(round(FINETUNE_PER_STEP * steps), 1)
    say = print if verbose else (lambda *a, **k: None)
    minutes = {}

    def lap(name, since):
        minutes[name] = (time.perf_counter() - since) / 60
        return time.perf_counter()

    # from per-step rates measured on an idle 2-core CPU (stage 1 ~99 images/s); a busy machine takes longer
    est = 8.2 * steps / DEMO_STEPS + 0.6
    say(f"cdlpose demo: a fixed amount of work (stage 1 {steps} steps, lifting block {n_pre} + {n2} steps, "
        f"fine-tuning {n3} steps, seed {seed}): roughly {est:.0f} minutes on an idle 2-core CPU, longer on a busy "
        f"one, with the same result",
        flush=True)
    say(f"rendering {train_size} training and {test_size} test images …", flush=True)
    cfg1, cfg2 = demo_config(out, train_size, test_size, seed, steps, n2, style)
    sets = {e["split"]: SyntheticHumans(e["split"], e["size"], e["seed"], e["cache_dir"], style=style)
            for e in cfg1.data.datasets}
    for ds in sets.values():
        _render_all(ds, progress=verbose)
    t = lap("render", t0)
    say(f"stage 1: the network up to the volumetric heatmaps, {steps} steps of {cfg1.train.batch_size} images",
        flush=True)
    Trainer(cfg1, device=device, overwrite=overwrite).fit()
    t = lap("stage1", t)
    say(f"the lifting block on exact and noisy 2.5D inputs of {n_scenes} synthetic people: {n_pre} steps",
        flush=True)
    # people of the training subjects, other samples than the rendered ones (no images needed)
    scenes = sample_scenes(n_scenes, "train", seed, start=10**7)
    pre_log = pretrain_from_stage1(cfg1, scenes, n_pre, seed, verbose, folder)
    t = lap("lifting_pretrain", t)
    say(f"stage 2: the lifting block on the frozen network's 2.5D estimates, {n2} steps", flush=True)
    Trainer(cfg2, device=device, overwrite=overwrite).fit()
    t = lap("stage2", t)
    say(f"the whole network fine-tuned end to end: {n3} steps of 16 images", flush=True)
    cfg3 = demo_finetune_config(cfg2, n3)
    Trainer(cfg3, device=device, overwrite=overwrite).fit()
    t = lap("finetune", t)
    say("evaluating on held-out synthetic subjects …", flush=True)
    final = out / "finetune" / "last.pt"
    # with the flip test (the mirrored image's estimate averaged in): measured 1.6 mm better, 200 more forwards
    result, pred = evaluate_checkpoint(final, cfg3, "synthetic", flip=True, out_dir=out, device=device,
                                       progress=verbose, stem="metrics")
    mean = _mean_pose(sets["train"])
    result = mean_pose_rows(result, pred, mean)
    write_results(result, out, "metrics")
    for ext in ("json", "csv", "md"):
        folder.record(f"metrics.{ext}")
    s, sm = result["summary"]["cdlpose"], result["summary"]["training-set mean pose"]
    sk = get_skeleton(cfg1.model.skeleton)
    folder.write_bytes("curves.png", _curves(out, pre_log))
    idx = np.linspace(0, len(pred["gt_3d"]) - 1, 12).round().astype(int)
    size, m = cfg1.augment.input_size, cfg1.model
    figures = _prediction_figures(sets["test"], pred, idx, sk, folder, size)
    report = {
        "model": f"{m.variant}-variant network ({m.backbone} stages 1–{m.backbone_stages}, {m.head_width}-channel "
                 f"heads, {size}×{size} input, {m.depth_bins} depth bins)",
        "input_size": size,
        "device": str(device or ("cuda" if torch.cuda.is_available() else "cpu")),
        "train_size": train_size, "test_size": test_size, "seed": seed, "style": style,
        "steps": {"stage1": steps, "lifting_pretrain": n_pre, "stage2": n2, "finetune": n3}, "lifting_scenes": n_scenes,
        "mpjpe": s["MPJPE"], "pa_mpjpe": s["PA-MPJPE"], "error_2d_px": result["summary"]["error_2d_px"],
        "mpjpe_backprojected_gt_root": result["summary"]["cdlpose 2.5D back-projected (GT root depth)"]["MPJPE"],
        "mean_pose_mpjpe": sm["MPJPE"], "mean_pose_pa_mpjpe": sm["PA-MPJPE"], "min_ratio": min_ratio,
    }
    cache = out / "synthetic-cache"  # where the rendered images stay (cdlpose demo --clean removes it)
    report["cache"] = {"path": str(cache), "bytes": sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()),
                       "kept": not clean}
    report["ratio"] = report["mean_pose_mpjpe"] / report["mpjpe"]
    report["passed"] = bool(report["ratio"] >= min_ratio)
    lap("evaluation_and_report", t)
    report["minutes"] = minutes
    report["minutes_total"] = (time.perf_counter() - t0) / 60
    table = format_table(result["rows"], result["columns"])
    folder.write_text("report.json", json.dumps(report, indent=1))
    folder.write_text("index.html", _html(report, table, figures))
    folder.finish({"passed": report["passed"], "ratio": report["ratio"]})
    if clean:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
    verdict = "PASSED" if report["passed"] else "FAILED"
    say(f"{verdict}: MPJPE {report['mpjpe']:.1f} mm (PA-MPJPE {report['pa_mpjpe']:.1f}) vs the mean pose's "
        f"{report['mean_pose_mpjpe']:.1f} mm: {report['ratio']:.2f}× better (≥ {min_ratio:g}× required); "
        f"{report['minutes_total']:.1f} min in all")
    say(f"report: {out / 'index.html'}")
    return report
