"""The recipe of cdlpose's shipped real-photo model (docs/model-card.md): trained only on redistributable data.

Rendered people (the ``realistic`` style: Anny bodies dressed in CC0 MakeHuman assets, posed by the synthetic
sampler, in procedural rooms) at 128², their rooms replaced by views into CC0 photographic panoramas for most
crops, with loose detector-like boxes, blur, noise, JPEG, colour randomisation and photo edges
(:class:`cdlpose.data.pipeline.AugmentConfig`; v1–v3 were trained before photo edges, ``edge_prob`` 0); with
``--varied-size``, images in the varied pose set too. The phases are the demo's (stage 1, the lifting block
pre-trained on exact and noisy synthetic 2.5D inputs, stage 2 on the frozen network's estimates, end-to-end
fine-tuning) with a wider network: the full variant on ResNet-18's first three stages (stride 16), 64-channel
heads, 32 depth bins.

Validation and test are the synthetic sampler's held-out subjects (``val`` and ``test`` splits) with the held-out
panoramas behind them (:func:`cdlpose.data.backgrounds.panoramas` ``"val"``): every choice is made on them, never
on the real photographs of the probe.

    python scripts/train_real_photo.py --cache /work/rcache --out runs/real-photo --steps 3600
    # render the cache first (2 processes, ~17 images/s on a 2-core CPU), e.g. by running this with --render-only

Then ``cdlpose export --format weights --half runs/real-photo/finetune/last.pt`` gives the shipped file. The shipped
cdlpose-photo-v4 is v1 (the above, 2,400 steps) continued three times on new images of the training subjects, v2:

    python scripts/train_real_photo.py --cache /work/rcache --train-size 16000 --train-seed 1 --render-only
    python scripts/train_real_photo.py --cache /work/rcache --out runs/v2 --train-size 16000 --train-seed 1 \
        --init-from cdlpose-photo-v1.pt --lr 1e-3 --steps 2200 --phases stage1,finetune,evaluate

then v3, the same from v2 with ``--train-seed 2 --steps 2600 --init-from cdlpose-photo-v2.pt``, then v4 from v3 on
v3's images, 12,000 in the varied pose set and 30% photo-edge crops (the ``edge_prob`` above):

    python scripts/train_real_photo.py --cache /work/rcache --train-size 16000 --train-seed 2 --varied-size 12000 \
        --varied-seed 3 --render-only
    python scripts/train_real_photo.py --cache /work/rcache --out runs/v4 --train-size 16000 --train-seed 2 \
        --varied-size 12000 --varied-seed 3 --init-from cdlpose-photo-v3.pt --lr 1e-3 --steps 3200 \
        --phases stage1,finetune,evaluate

(``--init-from shipped`` is now v4 itself; v1's file:
``git show 8f0366e:src/cdlpose/assets/models/cdlpose-photo-v1.pt``,
v2's: ``git show 188cb8a:src/cdlpose/assets/models/cdlpose-photo-v2.pt``,
v3's: ``git show 3ed859b:src/cdlpose/assets/models/cdlpose-photo-v3.pt``.)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from cdlpose.config import Config, TrainConfig
from cdlpose.data.datasets import DataConfig
from cdlpose.data.pipeline import AugmentConfig
from cdlpose.model import ModelConfig

INPUT = 128


def configs(out: Path, cache: str, train_size: int, val_size: int, test_size: int, steps: int, seed: int,
            augment: AugmentConfig | None = None, stage2_size: int = 6000, init_from: str | None = None,
            workers: int = 0, finetune_from: str = "stage2", lr: float = 2e-3, train_seed: int | None = None,
            varied_size: int = 0, varied_seed: int | None = None):
    """(stage 1, stage 2, fine-tuning) configs. ``init_from``: stage 1 starts from these weights (e.g. the shipped
    model's) instead of from scratch; ``workers``: stage 1's DataLoader processes, which render the training
    images the cache lacks while the main process trains; ``finetune_from``: the phase whose ``last.pt`` the
    fine-tuning starts from (``stage1`` when stage 1 was itself warm-started with a trained lifting block);
    ``train_seed``: the training images' seed (default ``seed``): another seed gives other images of the training
    subjects, e.g. new ones for a model warm-started from one trained on the first seed's; ``varied_size``:
    that many training images more from the ``varied`` pose set (:data:`cdlpose.data.synthetic.POSE_SETS`; seed
    ``varied_seed``, default the training seed), and then a second validation and test set of held-out subjects in
    varied poses (``val_size`` and ``test_size`` each)."""
    from cdlpose.codec import CodecConfig

    common = {"format": "synthetic", "seed": seed, "cache_dir": cache, "style": "realistic", "image_size": INPUT,
              "keep_depth": True}
    train = {} if train_seed is None else {"seed": train_seed}
    sets = [{**common, "split": "val", "size": val_size, "role": "val"},
            {**common, "split": "test", "size": test_size, "role": "test"}]
    varied = []
    if varied_size:
        vseed = varied_seed if varied_seed is not None else train.get("seed", seed)
        varied = [{**common, "split": "train", "size": varied_size, "role": "train", "seed": vseed,
                   "pose_set": "varied"}]
        sets += [dict(e, pose_set="varied") for e in sets]
    data1 = DataConfig(protocol="synthetic", val_size=val_size * (2 if varied_size else 1), datasets=[
        {**common, "split": "train", "size": train_size, "role": "train", **train}, *varied, *sets])
    # stage 2 caches one pass of the frozen network's estimates: a subset of the images is enough for the MLP
    data2 = dataclasses.replace(data1, datasets=[{**common, "split": "train", "size": min(stage2_size, train_size),
                                                  "role": "train", **train}, *sets])
    model = ModelConfig(variant="full", backbone="resnet18", lite=True, backbone_stages=3, head_width=64,
                        depth_bins=32, lift_blocks=2, lift_dropout=0.25, lift_input="crop+ray")
    aug = augment or AugmentConfig(
        input_size=INPUT, distribution="uniform", scale=0.25, rotation=20.0, rotation_prob=0.3, flip_prob=0.5,
        color_jitter=0.25, occlusion_prob=0.3, background_prob=0.8, shift=0.08, blur_prob=0.3, noise_prob=0.3,
        jpeg_prob=0.3, gray_prob=0.05, contrast=0.3, edge_prob=0.3)
    t1 = TrainConfig(stage=1, epochs=10**6, lr=lr, lr_milestones=(), lr_final_drop=0.2, batch_size=16,
                     workers=workers, init_from=init_from, channels_last_cpu=True, seed=seed, amp="none",
                     max_steps=steps, log_every=25, eval_batch_size=64, out_dir=str(out / "stage1"))
    n2, n3 = max(round(0.2 * steps), 1), max(round(0.15 * steps), 1)
    t2 = dataclasses.replace(t1, stage=2, lr=1e-3, lr_final_drop=0.3, batch_size=64, cache_passes=1, max_steps=n2,
                             log_every=50, init_from=str(out / "lifting" / "pretrained.pt"), out_dir=str(out / "stage2"))
    t3 = dataclasses.replace(t2, finetune=True, cache_passes=0, batch_size=16, lr=3e-4, max_steps=n3,
                             init_from=str(out / finetune_from / "last.pt"), out_dir=str(out / "finetune"))
    base = Config(model=model, codec=CodecConfig(depth_bins=32), augment=aug, data=data1)
    return (dataclasses.replace(base, train=t1), dataclasses.replace(base, train=t2, data=data2),
            dataclasses.replace(base, train=t3))


#: The probe's 12 limb joints (benchmarks/real_probe.py), by name.
LIMBS = ("L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Hip", "R_Hip", "L_Knee",
         "R_Knee", "L_Ankle", "R_Ankle")


def eval_augment(input_size: int, edges: bool = False) -> AugmentConfig:
    """Validation's crops: un-augmented, 80% of them before a held-out panorama (train False draws the views from
    the ``val`` panoramas, the same view for an index each time); ``edges``: every crop ends at a photo's edge on
    one or two sides (black past it, as a crop beyond an image's border is at inference; the same for an index
    each time)."""
    return AugmentConfig(input_size=input_size, train=False, background_prob=0.8, edge_prob=1.0 if edges else 0.0)


def validate_2d(checkpoint: Path, cfg: Config, role: str = "val", pose_set: str = "activities",
                edges: bool = False) -> dict:
    """The probe's 2D scores on the synthetic ``role`` entries of the ``pose_set`` (held-out subjects, held-out
    panoramas; ``edges``: cut by photo edges, :func:`eval_augment`), whatever the checkpoint's input size:
    PCK@0.2 of the box's larger side and the mean 2D error in % of that side over the 12 limb joints, and the
    lifted pose's MPJPE / PA-MPJPE (mm)."""
    import torch
    from torch.utils.data import DataLoader

    from cdlpose.data.datasets import build_dataset, collate
    from cdlpose.data.pipeline import CropAugment
    from cdlpose.evaluation.runner import predict_loader
    from cdlpose.loading import codec_for, load_model
    from cdlpose.metrics import mpjpe, pa_mpjpe
    from cdlpose.skeletons import get_skeleton

    net, saved, _ = load_model(checkpoint, torch.device("cpu"))
    S = saved.augment.input_size
    aug = CropAugment(saved.model.skeleton, eval_augment(S, edges))
    data = dataclasses.replace(cfg.data, datasets=_entries(cfg, role, pose_set))
    loader = DataLoader(build_dataset(data, "test", aug), batch_size=64, collate_fn=collate)
    pred = predict_loader(net, loader, torch.device("cpu"), True, "none", codec_for(saved).depth_range)
    sk = get_skeleton(saved.model.skeleton)
    idx = [sk.joints.index(n) for n in LIMBS]
    side = S / saved.augment.box_enlarge  # the box's larger side in crop pixels
    err = np.linalg.norm(pred["pred_uv"][:, idx] - pred["gt_uv"][:, idx], axis=-1) / side
    ok = pred["valid_2d"][:, idx]
    return {"pck@0.2": float((err[ok] < 0.2).mean() * 100), "error_2d_%": float(err[ok].mean() * 100),
            "MPJPE": float(mpjpe(pred["pred_3d"], pred["gt_3d"])),
            "PA-MPJPE": float(pa_mpjpe(pred["pred_3d"], pred["gt_3d"])), "n": int(len(err))}


def _entries(cfg: Config, role: str, pose_set: str) -> list[dict]:
    """``cfg``'s synthetic ``role`` entries of the ``pose_set``, as test entries."""
    return [dict(e, role="test") for e in cfg.data.datasets
            if e["role"] == role and e.get("pose_set", "activities") == pose_set]


#: Stage-1 ablations of the levers, each against the recipe's augmentation at 128²: what it changes on the
#: synthetic validation set (held-out subjects before held-out panoramas).
ABLATIONS = {
    "recipe": {},
    "no-randomisation": {"augment": dict(background_prob=0.0, shift=0.0, blur_prob=0.0, noise_prob=0.0,
                                         jpeg_prob=0.0, gray_prob=0.0, contrast=0.0)},
    "input-64": {"augment": dict(input_size=64)},
    # the trunk's width: ResNet-18's first two stages (128 channels, stride 8) instead of three (256, stride 16)
    "trunk-2-stages": {"model": dict(backbone_stages=2)},
}


def render(entry: dict, workers: int = 2) -> None:
    """Render (and cache) the samples of a synthetic data entry (:func:`configs`') with ``workers`` processes."""
    from torch.utils.data import DataLoader

    from cdlpose.data.datasets import read_entry

    ds = read_entry(entry, validate=False)
    what = f"{ds.split} {ds.pose_set}"
    loader = DataLoader(_Touch(ds), batch_size=32, num_workers=workers, collate_fn=len)
    done, t0 = 0, time.perf_counter()
    for k in loader:
        done += k
        if done % 1024 < 32:
            print(f"rendered {what} {done}/{len(ds)} ({done / (time.perf_counter() - t0):.1f}/s)", flush=True)


class _Touch:
    def __init__(self, ds) -> None:
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> int:
        self.ds[i]
        return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", required=True, help="the rendered images' cache folder")
    ap.add_argument("--out", default="runs/real-photo")
    ap.add_argument("--steps", type=int, default=3600, help="stage-1 steps (the other phases scale with it)")
    ap.add_argument("--train-size", type=int, default=24000)
    ap.add_argument("--val-size", type=int, default=400)
    ap.add_argument("--test-size", type=int, default=400)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--init-from", help="stage 1 starts from this checkpoint ('shipped': the model in the package) "
                    "instead of from scratch; with a trained lifting block, run --phases stage1,finetune,evaluate")
    ap.add_argument("--train-seed", type=int, help="the training images' seed (default --seed; validation and test "
                    "keep --seed's)")
    ap.add_argument("--varied-size", type=int, default=0, help="this many training images more from the varied "
                    "pose set (more pose families, wider camera tilts), and validation and test sets of it")
    ap.add_argument("--varied-seed", type=int, help="the varied training images' seed (default: the training seed)")
    ap.add_argument("--lr", type=float, default=2e-3, help="stage 1's learning rate")
    ap.add_argument("--workers", type=int, default=0, help="stage 1's and fine-tuning's DataLoader processes: they "
                    "render (and cache) the training images the cache lacks while training goes on")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--phases", default="render,stage1,lifting,stage2,finetune,evaluate")
    ap.add_argument("--ablation", choices=sorted(ABLATIONS), help="stage 1 only, with this lever changed, then "
                    "its validation scores (--out: the ablation's folder)")
    a = ap.parse_args(argv)
    phases = set(a.phases.split(","))
    out = Path(a.out)
    init = a.init_from
    if init == "shipped":
        from cdlpose.loading import DEFAULT_MODEL

        init = str(DEFAULT_MODEL)
    cfg1, cfg2, cfg3 = configs(out, a.cache, a.train_size, a.val_size, a.test_size, a.steps, a.seed,
                               init_from=init, workers=a.workers, lr=a.lr, train_seed=a.train_seed,
                               finetune_from="stage2" if "stage2" in phases else "stage1",
                               varied_size=a.varied_size, varied_seed=a.varied_seed)
    pose_sets = ("activities", "varied") if a.varied_size else ("activities",)
    if a.ablation:
        from cdlpose.engine import Trainer

        change = ABLATIONS[a.ablation]
        cfg = dataclasses.replace(cfg1, augment=dataclasses.replace(cfg1.augment, **change.get("augment", {})),
                                  model=dataclasses.replace(cfg1.model, **change.get("model", {})))
        t = time.perf_counter()
        Trainer(cfg).fit()
        scores = validate_2d(out / "stage1" / "last.pt", cfg1)
        scores.update(ablation=a.ablation, steps=a.steps, minutes=(time.perf_counter() - t) / 60)
        print(json.dumps(scores))
        (out / "ablation.json").write_text(json.dumps(scores, indent=1))
        return 0
    times = {}
    t = time.perf_counter()
    if "render" in phases or a.render_only:
        for e in cfg1.data.datasets:
            render(e)
        times["render"] = time.perf_counter() - t
        if a.render_only:
            return 0
    from cdlpose.demo import pretrain_from_stage1, sample_scenes
    from cdlpose.engine import Trainer

    def lifting() -> None:  # the demo's lifting pre-training, scaled to the stage-1 steps as the demo scales it
        n = max(round(5.25 * a.steps), 256)
        if a.varied_size:  # the varied set's share of the training images, and its poses
            nv = round(n * a.varied_size / (a.varied_size + a.train_size))
            parts = [sample_scenes(n - nv, "train", a.seed, start=10**7),
                     sample_scenes(nv, "train", a.seed, start=10**7, pose_set="varied")]
            scenes = tuple(np.concatenate(k) for k in zip(*parts))
        else:
            scenes = sample_scenes(n, "train", a.seed, start=10**7)
        pretrain_from_stage1(cfg1, scenes, max(round(0.21 * a.steps), 1), a.seed, progress=True)

    for name, run in (("stage1", lambda: Trainer(cfg1).fit()), ("lifting", lifting),
                      ("stage2", lambda: Trainer(cfg2).fit()), ("finetune", lambda: Trainer(cfg3).fit())):
        if name in phases:
            t = time.perf_counter()
            run()
            times[name] = time.perf_counter() - t
    if "evaluate" in phases:
        from cdlpose.evaluation import evaluate_checkpoint, write_results

        summary = {}
        for stage in ("stage1", "stage2", "finetune"):
            ckpt = out / stage / "last.pt"
            if not ckpt.is_file():
                continue
            for pose_set in pose_sets:  # the selection's scores: both pose sets' validation images
                name = "val" if pose_set == "activities" else f"val {pose_set}"
                summary[f"{stage}/{name} 2D"] = validate_2d(ckpt, cfg3, "val", pose_set)
            summary[f"{stage}/val photo-edges 2D"] = validate_2d(ckpt, cfg3, "val", edges=True)
            if stage == "stage1":
                continue
            for role in ("val", "test"):
                for pose_set in pose_sets:
                    name = role if pose_set == "activities" else f"{role}-{pose_set}"
                    entries = _entries(cfg3, role, pose_set)
                    cfg = dataclasses.replace(cfg3, data=dataclasses.replace(cfg3.data, datasets=entries))
                    result, _ = evaluate_checkpoint(ckpt, cfg, "synthetic", flip=True, out_dir=out / f"eval-{stage}",
                                                    progress=False, stem=name)
                    write_results(result, out / f"eval-{stage}", name)
                    s = result["summary"]
                    summary[f"{stage}/{name}"] = {"MPJPE": s["cdlpose"]["MPJPE"],
                                                  "PA-MPJPE": s["cdlpose"]["PA-MPJPE"],
                                                  "error_2d_px": s.get("error_2d_px")}
        print(json.dumps(summary, indent=1))
        (out / "summary.json").write_text(json.dumps({"synthetic": summary, "seconds": times}, indent=1))
    print({k: round(v / 60, 1) for k, v in times.items()}, "minutes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
