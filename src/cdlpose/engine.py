"""The training engine: the paper's two stages, mixed 3D/2D batches, targets made on the device, mixed
precision, DistributedDataParallel, atomic checkpoints and exact resumption.

Stage 1 trains the network up to the volumetric heatmaps with the heatmap, cube, ordinal and integral losses on
batches that are half 3D and half 2D data. Stage 2 trains the 3D lifting block with the pose L1 loss on 3D data
only, the rest of the network frozen (``train.finetune`` trains it too, with every loss).

Resumption is exact: the checkpoint holds model, optimiser, grad scaler, epoch, step (also within the epoch),
the bone-σ schedule and the torch RNG states; batches are drawn from a sampler seeded per epoch and every
sample's augmentation from a generator seeded by (seed, epoch, index), so a resumed run sees the same batches.
The learning rate is a function of the epoch (÷10 at each milestone), so it needs no state of its own (a timed run
with ``train.lr_final_drop`` also drops it by the clock, which a resumed run cannot repeat step for step).

``train.cache_passes`` (stage 2, frozen network): the network runs once over that many augmented passes of the 3D
training data and the lifting block then trains on the cached 2.5D estimates, thousands of MLP steps in the time
one pass of the network takes; the cache is rebuilt, identically, on resume.

Several processes: ``torchrun --nproc_per_node N -m cdlpose train CONFIG``. Every process trains on its shard
of each epoch; only rank 0 logs, validates and saves.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import weakref
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import ConcatDataset, DataLoader, Subset

from . import __version__
from .checkpoint import save_checkpoint
from .codec import BoneSigmaSchedule, TargetEncoder
from .config import Config, config_from_dict, config_to_dict
from .data.check import check_val_disjoint
from .data.datasets import build_dataset, collate
from .data.mixing import MixedBatchSampler
from .data.pipeline import CropAugment
from .errors import CheckpointError, ConfigError, OutputError
from .evaluation import crop_camera, evaluate_checkpoint, predict_loader, score
from .loading import CHECKPOINT_FORMAT, build_model, codec_for, load_model, read_checkpoint
from .losses import LossWeights, compute_losses
from .outputs import OutputFolder
from .stages import CachedInputs, StageModel, cache_inputs
from .train_log import (RUN_FILES, StopOnCtrlC, TrainingInterrupted, TrainLog, claim_run_folder, config_changes,
                        epoch_line, phase_name, record_config_changes, startup_lines, training_data,
                        worker_init_quiet as _worker_init)

__all__ = ["Trainer", "NonFiniteLossError", "TrainingInterrupted", "lr_at", "RUN_FILES", "training_data",
           # kept here for code written before they moved (cdlpose.loading, cdlpose.evaluation); same objects
           "build_model", "codec_for", "load_model", "CHECKPOINT_FORMAT", "evaluate_checkpoint"]

#: What a checkpoint holds only to resume a run; ``best.pt`` and exported weights go without it.
RESUME_ONLY = ("optimizer", "scaler", "rng")


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or infinite; the message names the step, the term and the batch's sample ids."""


def lr_at(cfg, epoch: int) -> float:
    """The learning rate of ``epoch`` (0-based): ÷10 at every milestone reached (paper: epoch 17 of 20)."""
    return cfg.lr * 0.1 ** sum(epoch >= m for m in cfg.lr_milestones)


def _dist_info() -> tuple[int, int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0"))


class Trainer:
    """Train ``cfg`` (a :class:`cdlpose.config.Config`); ``fit()`` runs to the end (or to ``max_steps`` /
    ``train.max_minutes``) and returns the history.

    Args:
        resume: a checkpoint to continue from (``last.pt`` of the run), restoring everything.
        max_steps: stop after this many optimiser steps in total (saving ``last.pt``), for tests and debugging
            (``train.max_steps`` is the run's own length; this only interrupts it).
        device: default CUDA (the local rank's GPU) when available, else CPU.
        clock: the time source (seconds) for ``train.max_minutes`` and its lr drop; tests inject a fake one.
        overwrite: start afresh in a ``train.out_dir`` that holds an earlier run (deleting its checkpoints and
            logs); without it (and without ``resume``) such a folder is refused with a :class:`ConfigError`.
    """

    def __init__(self, cfg: Config, resume: str | Path | None = None, max_steps: int | None = None,
                 device: str | torch.device | None = None, clock=time.perf_counter, overwrite: bool = False) -> None:
        self.cfg, t = cfg, cfg.train
        self.clock = clock
        self.rank, self.world, local_rank = _dist_info()
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() and device is None else "gloo")
        if device is None:
            device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            if self.device.index is None:
                self.device = torch.device("cuda", torch.cuda.current_device())
            torch.cuda.set_device(self.device)
        self.is_main = self.rank == 0
        self.out = Path(t.out_dir)
        self.folder: OutputFolder | None = None  # rank 0's claim on train.out_dir (cdlpose.outputs)
        created = not self.out.exists()
        try:
            self._setup(cfg, resume, max_steps, overwrite)
        except BaseException:
            self.close()
            if created and self.is_main:
                try:
                    self.out.rmdir()  # made for this run and left empty: gone again
                except OSError:
                    pass
            raise

    def _setup(self, cfg: Config, resume, max_steps, overwrite: bool) -> None:
        t = cfg.train
        # the run folder: claimed, checked and written by rank 0 only (cdlpose.train_log.claim_run_folder)
        self.folder = claim_run_folder(self.out, overwrite, resume, self.is_main, self.world)
        if self.folder is not None:
            weakref.finalize(self, self.folder.release)  # a trainer dropped without fit() lets go of it
        self.max_steps = max_steps
        self.codec = codec_for(cfg)
        self.cuda = self.device.type == "cuda"
        self.amp = t.amp if self.cuda else "none"
        torch.manual_seed(t.seed)
        self.net = build_model(cfg)
        if t.stage == 2 and self.net.lifting is None:
            raise ConfigError("stage 2 trains the lifting block, and model.lifting is false (a network without one, "
                              "e.g. imported PoseNet weights): train stage 1 only, or set model.lifting: true")
        if t.stage == 2 and not t.finetune and not t.init_from and resume is None:
            raise ConfigError("stage 2 trains the lifting block on a trained stage-1 network: set train.init_from "
                              "to the stage-1 checkpoint (or train.finetune=true to train everything)")
        self.trained_on = training_data(cfg, None, t.init_from)  # what every checkpoint records it was trained on
        if t.init_from and resume is None:
            self._init_weights(t.init_from)
        frozen = t.stage == 2 and not t.finetune
        self.caches = frozen and t.cache_passes > 0  # stage 2 on cached 2.5D estimates
        for name, p in self.net.named_parameters():
            is_lift = name.startswith("lifting.")
            p.requires_grad_(is_lift if frozen else (t.stage == 2 or not is_lift))
        self.net.to(self.device)
        self.channels_last = t.channels_last and (self.cuda or t.channels_last_cpu)
        if self.channels_last:
            self.net.to(memory_format=torch.channels_last)
        self.module = StageModel(self.net, t.stage, frozen)
        self.step_fn = self.module
        if self.world > 1:
            self.step_fn = nn.parallel.DistributedDataParallel(
                self.module, device_ids=[self.device.index] if self.cuda else None)
        if t.compile:
            self.step_fn = torch.compile(self.step_fn)
        params = [p for p in self.net.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=lr_at(t, 0), weight_decay=t.weight_decay)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp == "fp16")
        self.sigma = BoneSigmaSchedule(self.codec.bone_sigma_start, self.codec.bone_sigma_end, t.epochs)
        self.encoder = TargetEncoder(cfg.model.skeleton, self.codec, reuse_buffers=True)
        if t.stage == 1:
            self.weights = dataclasses.replace(cfg.loss, pose=0.0)
        elif frozen:
            self.weights = LossWeights(joint=0, bone=0, cube=0, ordinal=0, integral=0, pose=1.0)
        else:
            self.weights = dataclasses.replace(cfg.loss, pose=cfg.loss.pose or 1.0)
        self._build_data()
        self.epoch = self.step = self.step_in_epoch = 0
        self.best = math.inf
        self.history: list[dict] = []
        self.config_changes: dict[str, list] = {}
        if resume is not None:
            self._load(resume)
        if self.is_main:
            import yaml

            self.folder.write_text("config.yaml", yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
            if self.config_changes:
                record_config_changes(self.folder, self.config_changes, self.step, self.epoch, Path(resume))
        self.log = TrainLog(self.out, self.is_main, self.step if resume is not None else None, self.folder)
        self.saved_step: int | None = self.step if resume is not None else None

    # ----------------------------------------------------------------------------------------------- setup

    def _init_weights(self, path) -> None:
        ckpt = read_checkpoint(path, "train.init_from")
        src = config_from_dict(ckpt["config"], str(path)).model
        mine = self.cfg.model
        for k in ("variant", "backbone", "lite", "backbone_stages", "head_width", "skeleton", "depth_bins",
                  "effective_layout", "input_range", "output_convention"):
            if getattr(src, k) != getattr(mine, k):
                raise ConfigError(f"train.init_from: {path} has model.{k}={getattr(src, k)!r}, this config "
                                  f"{getattr(mine, k)!r}")
        missing, unexpected = self.net.load_state_dict(ckpt["model"], strict=False)
        if unexpected or [k for k in missing if not k.startswith("lifting.")]:
            raise ValueError(f"train.init_from: {path} does not fit the model (missing {missing[:5]}, "
                             f"unexpected {unexpected[:5]})")
        self.trained_on = training_data(self.cfg, ckpt.get("trained_on"), path)

    def _build_data(self) -> None:
        cfg, t = self.cfg, self.cfg.train
        sk = cfg.model.skeleton
        aug = CropAugment(sk, cfg.augment)
        self.train_3d = build_dataset(cfg.data, "train", aug, t.seed, three_d=True)
        self.train_2d = None if t.stage == 2 else build_dataset(cfg.data, "train", aug, t.seed, three_d=False)
        if self.train_3d is None and self.train_2d is None:
            raise ConfigError("data.datasets has no entry with role 'train' for this stage (stage 2 needs 3D data)")
        ratio = 1.0 if self.train_2d is None else (0.0 if self.train_3d is None else t.ratio_3d)
        n3 = 0 if self.train_3d is None else len(self.train_3d)
        n2 = 0 if self.train_2d is None else len(self.train_2d)
        self.train_set = ConcatDataset([d for d in (self.train_3d, self.train_2d) if d is not None])
        # with a stage-2 cache the batches are drawn from the cached passes (made by _cache_inputs)
        self.sampler = None if self.caches else MixedBatchSampler(n3, n2, t.batch_size, ratio, t.seed, self.rank,
                                                                  self.world)
        eval_aug = CropAugment(sk, dataclasses.replace(cfg.augment, train=False))
        # validation (and best.pt) only ever on an explicit 'val' entry: selecting on the test data would make the
        # reported test numbers optimistic (the paper and both reference code bases evaluate a fixed final epoch)
        check_val_disjoint(cfg.data)
        val = build_dataset(cfg.data, "val", eval_aug, t.seed)
        if val is not None and cfg.data.val_size and cfg.data.val_size < len(val):
            val = Subset(val, np.linspace(0, len(val) - 1, cfg.data.val_size).round().astype(int).tolist())
        self.val_set = val

    def _cache_inputs(self, progress: bool = False) -> None:
        """Stage 2 on the frozen network's 2.5D estimates (:func:`cdlpose.stages.cache_inputs`)."""
        t = self.cfg.train
        cache = cache_inputs(self.net, self.train_3d, t, self.device, self._autocast, self.cuda, _worker_init,
                             lambda: self._stop.requested, progress)
        self.module.train()
        self.images_3d, self.train_3d, self.train_set = self.train_3d, cache, cache
        self.sampler = MixedBatchSampler(len(cache), 0, t.batch_size, 1.0, t.seed, self.rank, self.world)

    def _loader(self, epoch: int, skip: int) -> DataLoader:
        for d in (self.train_3d, self.train_2d):
            if d is not None:
                d.set_epoch(epoch)
        self.sampler.set_epoch(epoch)
        batches = list(self.sampler)[skip:]
        t = self.cfg.train
        # its own generator: making the loader must not draw from the torch RNG that dropout uses, or a resumed
        # run would draw once more than the uninterrupted one
        gen = torch.Generator().manual_seed(t.seed * 100003 + epoch)
        if isinstance(self.train_set, CachedInputs):  # in memory: worker processes would only add latency
            return DataLoader(self.train_set, batch_sampler=batches, num_workers=0, collate_fn=collate, generator=gen)
        return DataLoader(self.train_set, batch_sampler=batches, num_workers=t.workers, collate_fn=collate,
                          pin_memory=self.cuda, worker_init_fn=_worker_init, generator=gen)

    # ------------------------------------------------------------------------------------------ checkpoints

    def state_dict(self) -> dict:
        rng = {"torch": torch.get_rng_state()}
        if self.cuda:
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {
            "format": CHECKPOINT_FORMAT,
            "version": __version__,
            "config": config_to_dict(self.cfg),
            "model": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "step_in_epoch": self.step_in_epoch,
            "bone_sigma": self.sigma.state_dict(),
            "rng": rng,
            "best": self.best,
            "history": self.history,
            "trained_on": self.trained_on,
        }

    def _load(self, path) -> None:
        ckpt = read_checkpoint(path, "--resume")
        if any(k not in ckpt for k in RESUME_ONLY):
            raise CheckpointError(f"--resume: {path} holds the weights only (no optimiser state, like best.pt); "
                                  "resume from the run's last.pt")
        saved = config_from_dict(ckpt["config"], str(path))
        for section in ("model", "codec"):
            if config_to_dict(getattr(saved, section)) != config_to_dict(getattr(self.cfg, section)):
                raise ConfigError(f"--resume: {path} was trained with a different '{section}' section")
        if saved.train.stage != self.cfg.train.stage:
            raise ConfigError(f"--resume: {path} is a stage-{saved.train.stage} checkpoint, this run is stage "
                              f"{self.cfg.train.stage}")
        # other keys may change (more epochs, another lr): said, and recorded beside config.yaml
        self.config_changes = config_changes(config_to_dict(saved), config_to_dict(self.cfg))
        self.net.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scaler.load_state_dict(ckpt["scaler"])
        self.sigma.load_state_dict(ckpt["bone_sigma"])
        self.epoch, self.step, self.step_in_epoch = ckpt["epoch"], ckpt["step"], ckpt["step_in_epoch"]
        self.best, self.history = ckpt["best"], list(ckpt["history"])
        if isinstance(ckpt.get("trained_on"), list):  # with what its train.init_from had seen
            self.trained_on = ckpt["trained_on"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        if self.cuda and "cuda" in ckpt["rng"]:
            torch.cuda.set_rng_state(ckpt["rng"]["cuda"], self.device)

    def save(self, name: str = "last.pt", weights_only: bool = False) -> Path | None:
        """Write a checkpoint into the run folder; ``weights_only``: without the optimiser, grad-scaler and RNG
        states (``best.pt``: for evaluation, inference and ``init_from``; a run resumes from ``last.pt``). The
        file is recorded in the folder's ledger; a file there that cdlpose did not write is not replaced."""
        if not self.is_main:
            return None
        if self.folder is not None and self.folder.foreign([name]):
            raise OutputError(f"cannot write {self.out / name}: a file cdlpose did not write appeared there during "
                              "the run; it is kept (move it away and continue with --resume)")
        state = self.state_dict()
        if weights_only:
            for k in RESUME_ONLY:
                state.pop(k)
        try:
            path = save_checkpoint(state, self.out / name)
            if self.folder is not None:
                self.folder.record(name)
        except OSError as e:
            raise OutputError(e.errno, f"{e.strerror or e}; the previous {name} (if any) is intact: free space and "
                              "continue with --resume") from None
        if name == "last.pt":
            self.saved_step = self.step
        return path

    def close(self) -> None:
        """Let go of the run folder (its lock); :meth:`fit` does this when it ends."""
        if self.folder is not None:
            self.folder.release()

    # ------------------------------------------------------------------------------------------------ train

    def _autocast(self):
        """The run's mixed-precision context (``train.amp`` on CUDA; a no-op otherwise)."""
        dtype = torch.bfloat16 if self.amp == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype, enabled=self.amp != "none")

    def _step(self, batch: dict) -> dict:
        dev = self.device
        keys = ("uv", "z", "pose_3d", "valid_2d", "valid_3d")
        b = {k: batch[k].to(dev, non_blocking=True) for k in keys if k in batch}
        camera = batch["camera"] if "camera" in batch else crop_camera(batch) if "f" in batch else None
        if "uvz" in batch:
            inputs = {"uvz": batch["uvz"].to(dev, non_blocking=True)}
        else:
            images = batch["image"].to(dev, non_blocking=True)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            inputs = {"images": images}
        if self.cfg.train.stage == 2 and camera is not None:
            inputs["camera"] = camera.to(dev, non_blocking=True).float()
        targets = {}
        if self.weights.joint or self.weights.bone or self.weights.cube or self.weights.ordinal or self.weights.integral:
            uvz = torch.cat([b["uv"], b["z"][..., None]], -1)
            targets = self.encoder.encode(uvz, b["valid_2d"], b["valid_3d"], self.sigma.sigma)
        with self._autocast():
            out = self.step_fn(**inputs)
        losses = compute_losses(out, targets, b, self.weights)
        names = list(losses)
        values = torch.stack([losses[k].detach().float() for k in names])
        bad = (~torch.isfinite(values)).any().float()
        if self.world > 1:
            dist.all_reduce(bad)
        if bad.item():
            vals = values.tolist()
            which = [f"'{k}' = {v}" for k, v in zip(names, vals) if not math.isfinite(v)] or ["on another rank"]
            ids = batch["sample_id"]
            raise NonFiniteLossError(
                f"non-finite loss at step {self.step + 1} (epoch {self.epoch + 1}, rank {self.rank}): loss term "
                f"{', '.join(which)}; the batch's sample ids: {', '.join(ids[:16])}{' …' if len(ids) > 16 else ''}")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["total"]).backward()
        if self.cfg.train.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            torch.nn.utils.clip_grad_norm_([p for p in self.net.parameters() if p.requires_grad],
                                           self.cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return dict(zip(names, values.tolist()))

    def validate(self) -> dict | None:
        """Score the val data (never the test data) with the data section's protocol; rank 0 only."""
        if self.val_set is None or not self.is_main:
            return None
        t = self.cfg.train
        # its own generator: validating (also when a run is stopped) must not draw from the run's torch RNG
        loader = DataLoader(self.val_set, batch_size=t.eval_batch_size, num_workers=t.workers, collate_fn=collate,
                            worker_init_fn=_worker_init, generator=torch.Generator().manual_seed(t.seed))
        pred = predict_loader(self.net, loader, self.device, t.flip_test, self.amp, self.codec.depth_range)
        self.module.train()
        result = score(pred, self.cfg.data.protocol)
        key = "cdlpose" if t.stage == 2 else "cdlpose 2.5D back-projected (GT root depth)"
        s = result["summary"][key]
        # stage 1 has no trained lifting block: its 3D error is the 2.5D estimate back-projected
        main = s.get("MPJPE", s.get("MPJPE matched (bones rescaled)"))  # mupots: errors of the matched people
        return {"val_mpjpe": main, "val_pa_mpjpe": s.get("PA-MPJPE"), "val_error_2d_px": result["summary"]["error_2d_px"],
                "val_metric_source": "lifting" if t.stage == 2 else "back-projection", "val_samples": len(pred["gt_3d"])}

    def fit(self) -> list[dict]:
        """Train to the end (or to ``max_steps`` / the run's budget) and return the history. Ctrl-C (a single
        process) stops after the step in progress, saves ``last.pt`` and raises :class:`TrainingInterrupted`
        (a second Ctrl-C stops at once, from the last checkpoint saved before); the run folder is let go of at the
        end either way."""
        self._stop = StopOnCtrlC(self.world == 1)
        try:
            with self._stop:
                history = self._fit()
        except KeyboardInterrupt as e:
            if isinstance(e, TrainingInterrupted):
                raise
            last = self.out / "last.pt"
            raise TrainingInterrupted(last if self.saved_step is not None and last.is_file() else None,
                                      self.saved_step, saved=False) from None
        finally:
            self.log.close()
            self.close()
        t = self.cfg.train
        finished = (self.epoch >= t.epochs or bool(t.max_steps) and self.step >= t.max_steps
                    or self.max_steps is not None and self.step >= self.max_steps)
        if self._stop.requested and not finished:
            raise TrainingInterrupted(self.out / "last.pt" if self.saved_step is not None else None,
                                      self.saved_step, saved=True)
        return history

    _stop = StopOnCtrlC(False)

    def _fit(self) -> list[dict]:
        from tqdm.auto import tqdm

        t = self.cfg.train
        clock = self.clock
        start = clock()
        stopped = False
        show = self.is_main and t.progress
        if show and self.step == 0:  # a summary before the first step (not again on resume)
            n3 = 0 if self.train_3d is None else len(self.train_3d)
            n2 = 0 if self.train_2d is None else len(self.train_2d)
            spe = (max(n3 * t.cache_passes // self.world // t.batch_size, 1) if self.caches else len(self.sampler))
            for line in startup_lines(self.cfg, n3, n2, 0 if self.val_set is None else len(self.val_set), spe,
                                      self.max_steps, self.device, self.out, self.caches):
                tqdm.write(line)
        if self.caches and not isinstance(self.train_set, CachedInputs):
            self._cache_inputs(show)  # counted in the time budget
        self.module.train()
        budget = 60 * t.max_minutes
        # the final low-lr share: of the step budget when there is one, else of the time left for steps after the
        # cache is built
        drop_step = round((1 - t.lr_final_drop) * t.max_steps) if t.max_steps and t.lr_final_drop else None
        setup = clock() - start
        drop_at = setup + (1 - t.lr_final_drop) * max(budget - setup, 0.0)
        # a step budget gets one bar over the whole run (its ETA is the run's); otherwise one bar per epoch
        run_bar = (tqdm(total=t.max_steps, initial=self.step, desc=phase_name(t), disable=not show,
                        dynamic_ncols=True) if t.max_steps else None)
        while self.epoch < t.epochs and not stopped:
            lr = lr_at(t, self.epoch)
            for g in self.optimizer.param_groups:
                g["lr"] = lr
            loader = self._loader(self.epoch, self.step_in_epoch)
            bar = run_bar or tqdm(total=len(self.sampler), initial=self.step_in_epoch,
                                  desc=f"{phase_name(t)}, epoch {self.epoch + 1}/{t.epochs}", disable=not show, dynamic_ncols=True)
            sums: dict[str, float] = {}
            n_steps, window_t, window_n = 0, clock(), 0
            for batch in loader:
                late = (self.step >= drop_step if drop_step is not None
                        else bool(budget and t.lr_final_drop) and clock() - start > drop_at)
                if late and lr == lr_at(t, self.epoch):
                    lr = lr_at(t, self.epoch) * 0.1
                    for g in self.optimizer.param_groups:
                        g["lr"] = lr
                vals = self._step(batch)
                self.step += 1
                self.step_in_epoch += 1
                n_steps += 1
                window_n += len(batch["pose_3d"]) * self.world
                for k, v in vals.items():
                    sums[k] = sums.get(k, 0.0) + v
                if self.step % t.log_every == 0 or self.step_in_epoch == len(self.sampler):
                    now = clock()
                    ips = window_n / max(now - window_t, 1e-9)
                    window_t, window_n = now, 0
                    self.log.write({"step": self.step, "epoch": self.epoch + 1, "lr": lr,
                                    "bone_sigma": self.sigma.sigma, "images_per_s": ips, **vals})
                    bar.set_postfix(loss=f"{vals['total']:.4g}", img_s=f"{ips:.1f}")
                bar.update(1)
                if t.checkpoint_every and self.step % t.checkpoint_every == 0:
                    self.save()
                over_time = budget > 0 and (clock() - start) > budget
                out_of_steps = bool(t.max_steps) and self.step >= t.max_steps
                if (self.max_steps is not None and self.step >= self.max_steps) or over_time or out_of_steps \
                        or self._stop.requested:
                    stopped = True
                    break
            if run_bar is None:
                bar.close()
            epoch_done = self.step_in_epoch >= len(self.sampler)
            if epoch_done:
                self.epoch += 1
                self.step_in_epoch = 0
                self.sigma.step()
            if epoch_done or stopped:
                record = {"step": self.step, "epoch": self.epoch if epoch_done else self.epoch + 1,
                          "complete": epoch_done, "lr": lr, "minutes": (clock() - start) / 60}
                record.update({f"train_{k}": v / max(n_steps, 1) for k, v in sums.items()})
                val = None if self._stop.requested else self.validate()  # Ctrl-C: save, do not validate
                if val:
                    record.update(val)
                    if val["val_mpjpe"] is not None and val["val_mpjpe"] < self.best:
                        self.best = val["val_mpjpe"]
                        record["best"] = True
                self.history.append(record)
                self.log.write(record, epoch_summary=True)
                self.save()
                if record.get("best"):
                    self.save("best.pt", weights_only=True)
                if self.is_main and t.progress:
                    tqdm.write(epoch_line(record))
        if run_bar is not None:
            run_bar.close()
        if self.world > 1:
            dist.barrier()
        return self.history
