"""Moon et al.'s published PoseNet weights as a cdlpose checkpoint (``cdlpose import posenet``).

PoseNet (Moon, Chang, Lee, "Camera Distance-aware Top-down Approach for 3D Multi-person Pose Estimation from a
Single RGB Image", ICCV 2019; repository ``mks0601/3DMPPE_POSENET_RELEASE``) is the paper's baseline and cdlpose's
``baseline`` variant without the lifting block: a ResNet-50, three 4×4 stride-2 deconvolutions of 256 channels with
BatchNorm and ReLU, a 1×1 convolution to J × 64 depth bins, and soft-argmax. Its snapshots
(``snapshot_<epoch>.pth.tar``) are dicts with ``network`` (a state dict, keys with DataParallel's ``module.``
prefix), ``epoch`` and ``optimizer``.

What differs from cdlpose, and how the imported network accounts for it (``ModelConfig.input_range: byte``,
``output_convention: posenet``, ``lifting: false``; read from their ``main/model.py``, ``data/dataset.py``,
``common/base.py``, ``main/config.py`` and ``demo/demo.py``):

- input: their crops are RGB (OpenCV's BGR reversed after the warp) float32 in 0–255, and torchvision's
  ``ToTensor`` does not rescale a float array, so ``Normalize(ImageNet mean, std)`` is applied to 0–255 values;
  cdlpose feeds (RGB/255 − mean)/std and the network multiplies back;
- output: their soft-argmax index i (``arange(1, W + 1)`` weights, minus 1) means crop pixel 4·i (targets ``u/4``),
  cdlpose's means (i + 0.5)·4 − 0.5 (pixel centres); their depth index k means (k/64·2 − 1)·1000 mm, cdlpose's
  (k − 31.5)·31.25 mm: the network subtracts 3/8 map pixel and half a bin;
- 3D: no lifting block; the 3D pose is the 2.5D estimate back-projected at the root depth plus the relative depth,
  as their demo and evaluation do;
- flip test: cdlpose mirrors the estimate exactly (u → S/4 − 1 − u in map pixels); their ``test.py`` uses
  ``64 − 1 − u`` in their index, 3/4 map pixel off, which moves their flip-tested u by 1.5 crop pixels
  (a shift of the whole pose, which root-relative errors almost entirely cancel).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import torch

from .config import Config, config_to_dict
from .errors import InputError
from .skeletons import get_skeleton

__all__ = ["JOINT_SETS", "TRAINED_ON", "PoseNetImportError", "posenet_config", "map_posenet_state", "import_posenet"]

#: ``--joints`` → cdlpose skeleton: Human3.6M with Moon et al.'s 18th joint (their H36M + MPII model), MuCo-3DHP's
#: 21 joints (their MuCo + COCO model, for MuPoTS-3D)
JOINT_SETS = {"h36m": "h36m18", "muco": "muco21"}
DEPTH_BINS = 64
LABEL = "PoseNet (Moon et al., imported)"
#: What Moon et al. trained each snapshot on (their README and ``main/config.py``: ``trainset_3d`` and
#: ``trainset_2d``): Human3.6M in their layout with MPII, or MuCo-3DHP with COCO; recorded as the imported
#: checkpoint's ``trained_on`` (real photos: a model meant for photos)
TRAINED_ON = {"h36m": [{"format": "h36m-moon", "by": "Moon et al."}, {"format": "mpii", "by": "Moon et al."}],
              "muco": [{"format": "muco", "by": "Moon et al."}, {"format": "coco", "by": "Moon et al."}]}

# their ResNetBackbone's module names → the positions in cdlpose's trunk (torchvision's children, in order)
_BACKBONE = {"conv1": 0, "bn1": 1, "layer1": 4, "layer2": 5, "layer3": 6, "layer4": 7}
_BACKBONE_NAMES = {str(v): k for k, v in _BACKBONE.items()}
# their HeadNet's prefixes → cdlpose's
_HEAD = (("head.deconv_layers.", "context."), ("head.final_layer.", "head."))


class PoseNetImportError(InputError):
    """A file that is not a PoseNet snapshot of the requested joint set; the message says what differs."""


def posenet_config(joints: str) -> Config:
    """The cdlpose configuration of Moon et al.'s network for ``joints`` (``h36m`` or ``muco``): the baseline
    variant on ResNet-50 with 256-channel deconvolutions, 64 depth bins over 2000 mm, 256² crops of the box
    enlarged ×1.25, no lifting block, their input and output conventions."""
    if joints not in JOINT_SETS:
        raise PoseNetImportError(f"--joints must be one of {', '.join(JOINT_SETS)}; got {joints!r}")
    cfg = Config()
    model = dataclasses.replace(cfg.model, variant="baseline", backbone="resnet50", pretrained=None, lite=False,
                                backbone_stages=4, head_width=256, skeleton=JOINT_SETS[joints],
                                depth_bins=DEPTH_BINS, lifting=False, input_range="byte",
                                output_convention="posenet", layout="release")
    augment = dataclasses.replace(cfg.augment, input_size=256, box_enlarge=1.25)
    codec = dataclasses.replace(cfg.codec, depth_bins=DEPTH_BINS, depth_range=2000.0)
    return dataclasses.replace(cfg, model=model, augment=augment, codec=codec)


def _target_key(key: str) -> str | None:
    k = key.removeprefix("module.")
    if k.startswith("backbone."):
        first, _, tail = k[len("backbone."):].partition(".")
        return f"backbone.{_BACKBONE[first]}.{tail}" if first in _BACKBONE and tail else None
    for src, dst in _HEAD:
        if k.startswith(src):
            return dst + k[len(src):]
    return None


def _source_key(key: str) -> str:
    """The inverse of :func:`_target_key`: a cdlpose parameter's name in PoseNet's snapshot (for messages)."""
    if key.startswith("backbone."):
        idx, _, tail = key[len("backbone."):].partition(".")
        return f"backbone.{_BACKBONE_NAMES.get(idx, idx)}.{tail}"
    for src, dst in _HEAD:
        if key.startswith(dst):
            return src + key[len(dst):]
    return key


def _listing(items: list[str], n: int = 6) -> str:
    return ", ".join(items[:n]) + (f" … ({len(items)} in all)" if len(items) > n else "")


def map_posenet_state(state: dict, target: dict, where: str, joints: str) -> dict:
    """PoseNet's ``network`` state dict → the cdlpose baseline network's (``target``: its ``state_dict()``).

    Every source key must be used and every target entry filled with a tensor of its shape (BatchNorm's
    ``num_batches_tracked`` may be absent: snapshots of PyTorch < 0.4.1 have none); otherwise a
    :class:`PoseNetImportError` lists the differences."""
    out, unused, shapes = {}, [], []
    dsts = {key: _target_key(key) for key in state}
    for key, value in state.items():
        dst = dsts[key]
        if dst is None or dst not in target:
            unused.append(key)
        elif not torch.is_tensor(value) or tuple(value.shape) != tuple(target[dst].shape):
            shapes.append(f"{key} {tuple(getattr(value, 'shape', ()))} (cdlpose {dst} {tuple(target[dst].shape)})")
        else:
            out[dst] = value.to(target[dst].dtype)
    mapped = set(dsts.values())
    missing = [k for k in target if k not in mapped and not k.endswith("num_batches_tracked")]
    for k in target:  # PyTorch < 0.4.1 snapshots: no counters; they only matter for BatchNorm's momentum=None
        if k.endswith("num_batches_tracked") and k not in out:
            out[k] = torch.zeros_like(target[k])
    if not (unused or shapes or missing):
        return out
    hints = []
    keys = [k.removeprefix("module.") for k in state]
    if any(k.startswith("root.") for k in keys):
        hints.append("its keys root.* are RootNet's (3DMPPE_ROOTNET_RELEASE), which estimates the root depth, "
                     "not the pose")
    fl = next((v for k, v in state.items() if k.removeprefix("module.") == "head.final_layer.weight"), None)
    if torch.is_tensor(fl) and fl.ndim == 4 and fl.shape[0] % DEPTH_BINS == 0:
        n = fl.shape[0] // DEPTH_BINS
        for name, sk in JOINT_SETS.items():
            if get_skeleton(sk).num_joints == n and name != joints:
                hints.append(f"its final layer predicts {n} joints × {DEPTH_BINS} depth bins: --joints {name}")
    parts = [f"{where}: not a PoseNet snapshot of the {joints} joint set ({JOINT_SETS[joints]}) that cdlpose can "
             "import"]
    if unused:
        parts.append(f"keys cdlpose has no place for: {_listing(unused)}")
    if shapes:
        parts.append(f"shapes that differ: {_listing(shapes, 4)}")
    if missing:
        parts.append(f"network weights the file lacks: {_listing([_source_key(k) for k in missing])}")
    if hints:
        parts.append("; ".join(hints))
    raise PoseNetImportError(". ".join(parts))


def _unreadable_why(path: Path, e: Exception) -> str:
    """Why ``torch.load`` (tensors and plain data only) could not read ``path``, in cdlpose's words."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as err:
        return f"cannot open it: {err.strerror or err}".lower()
    text = str(e)
    if "Weights only load failed" in text or "weights_only" in text or "Unsupported global" in text:
        return ("it holds Python objects other than tensors and plain data, which cdlpose does not load: they "
                "could run code")
    if head.startswith(b"PK"):
        return "truncated or corrupt file (an incomplete PyTorch zip archive)"
    return "not a PyTorch file (unrecognised content)"


def _read_snapshot(path: Path) -> dict:
    if not path.is_file():
        raise PoseNetImportError(f"{path}: no such file (a PoseNet snapshot, e.g. snapshot_24.pth.tar)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, a pickle of other objects, not a torch file at all
        # cdlpose's own words: torch's message advises reloading with weights_only=False, which would run code
        # from the file; never pass that on
        raise PoseNetImportError(f"{path}: cannot read it as a PoseNet snapshot ({_unreadable_why(path, e)}); a "
                                 "truncated download gives this too") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("network"), dict):
        have = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise PoseNetImportError(f"{path}: expected Moon et al.'s snapshot layout, a dict with 'network' (the state "
                                 f"dict), 'epoch' and 'optimizer'; found {have}")
    return ckpt


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def import_posenet(snapshot: str | Path, joints: str, out: str | Path, overwrite: bool = False) -> dict:
    """Read a PoseNet snapshot (``weights_only`` load), map its weights onto a cdlpose network of
    :func:`posenet_config` and write a cdlpose checkpoint to ``out`` (atomically). The checkpoint's
    ``imported_from`` records the source file, its SHA-256, its epoch and the joint set; its ``trained_on`` Moon et
    al.'s training data (:data:`TRAINED_ON`). ``out`` is under the output-folder policy (:mod:`cdlpose.outputs`):
    its folder is claimed for the import, and an existing file there is replaced only when cdlpose wrote it (an
    earlier import, as it left it) or with ``overwrite``. Returns ``{"path", "skeleton", "epoch", "parameters",
    "sha256"}``."""
    from . import __version__
    from .checkpoint import save_checkpoint
    from .loading import CHECKPOINT_FORMAT
    from .export import claim_target
    from .model import CascadedLiftingNet

    src, out = Path(snapshot), Path(out)
    cfg = posenet_config(joints)
    if out.is_dir():
        raise PoseNetImportError(f"--out {out} is a folder; give the checkpoint file to write")
    if out.exists() and src.exists() and os.path.samefile(out, src):
        raise PoseNetImportError(f"--out {out} is the snapshot itself: give another file name")
    with claim_target(out, overwrite, "import", "an earlier import", error=PoseNetImportError) as folder:
        ckpt = _read_snapshot(src)
        net = CascadedLiftingNet(cfg.model, (cfg.augment.input_size,) * 2, cfg.codec.depth_range)
        target = net.state_dict()
        state = map_posenet_state(ckpt["network"], target, str(src), joints)
        net.load_state_dict(state)  # every entry present and shaped: map_posenet_state checked
        epoch = ckpt.get("epoch")
        origin = {"kind": "posenet", "label": LABEL, "source": str(src), "sha256": _sha256(src),
                  "epoch": int(epoch) if isinstance(epoch, int) else None, "joints": joints,
                  "reference": "Moon et al., ICCV 2019 (github.com/mks0601/3DMPPE_POSENET_RELEASE)"}
        save_checkpoint({"format": CHECKPOINT_FORMAT, "version": __version__, "config": config_to_dict(cfg),
                         "model": net.state_dict(), "weights_only": True, "epoch": origin["epoch"], "step": None,
                         "imported_from": origin, "trained_on": [dict(e) for e in TRAINED_ON[joints]]}, out)
        folder.record(out.name)
    return {"path": str(out), "skeleton": cfg.model.skeleton, "epoch": origin["epoch"],
            "parameters": sum(p.numel() for p in net.parameters()), "sha256": origin["sha256"]}


def import_command(args) -> int:
    """``cdlpose import posenet``: import the snapshot and say what was written."""
    r = import_posenet(args.snapshot, args.joints, args.out, overwrite=args.overwrite)
    print(f"wrote {r['path']}: PoseNet ({r['skeleton']}, {r['parameters'] / 1e6:.2f} M parameters, epoch "
          f"{r['epoch']}; sha256 {r['sha256'][:12]}…). Try: cdlpose predict --checkpoint {r['path']} IMAGE --out DIR")
    return 0
