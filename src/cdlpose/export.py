"""``cdlpose export``: the whole network as ONNX — backbone, both branches, soft-argmax and the lifting block.

The graph is exported with torch's ``torch.export``-based exporter (``dynamo=True``, needs ``onnxscript``). Inputs:

- ``images`` (N, 3, S, S) float32: square crops, RGB / 255, minus ``cdlpose.mean``, divided by ``cdlpose.std``
  (ImageNet's), with a dynamic batch N;
- ``camera`` (N, 4) float32 — only for a network whose lifting block takes the crop camera (``model.lift_input:
  camera`` or ``crop+ray``; metadata ``cdlpose.inputs`` lists the graph's inputs): each crop's
  ``(fx, fy, cx, cy)`` in crop pixels (pixel centres at integers), i.e. the image camera scaled and shifted by the
  crop (see ``cdlpose.intrinsics``).

Outputs: ``uvz`` (N, J, 3) output-map pixels (stride ``cdlpose.output_stride``) and depth-bin index, ``pose_3d``
(N, J, 3) mm root-relative (camera axes; absent for a network without a lifting block, whose 3D pose is the
back-projected 2.5D estimate), ``confidence`` (N, J) in [0, 1]. With ``flip`` the flip test is inside the
graph. Everything needed to crop and to map the outputs back is in the model's metadata (``cdlpose.*`` keys:
box enlargement, input size, pixel convention, output stride, mean and std, depth bins and range, joint names,
bones, and the formulas in ``cdlpose.preprocess`` / ``cdlpose.postprocess``);
:meth:`cdlpose.inference.Predictor.from_onnx` reads them and runs the graph in ONNX Runtime.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch

from .errors import InputError

__all__ = ["export_onnx", "export_weights", "compare_onnx", "OUTPUTS", "onnx_metadata", "outputs_of"]

OUTPUTS = ("uvz", "pose_3d", "confidence")
FORMAT = "cdlpose-onnx/2"


class _Graph(torch.nn.Module):
    """What the ONNX graph computes: :func:`cdlpose.inference.network_outputs` (the network's one call site)."""

    def __init__(self, net, flip_index=None, camera: bool = True):
        super().__init__()
        self.net, self.camera = net, camera
        self.register_buffer("flip_index", flip_index, persistent=False)
        self.flip = flip_index is not None

    def forward(self, images, camera=None):
        from .inference import network_outputs
        from .model import nominal_camera

        if camera is None:  # a network without the camera input: a nominal one, which it ignores
            camera = nominal_camera(images.shape[0], images.shape[-2:], images)
        uvz, pose, conf = network_outputs(self.net, images, camera, self.flip_index if self.flip else None)
        return (uvz, conf) if pose is None else (uvz, pose, conf)


def outputs_of(net) -> tuple[str, ...]:
    """The graph's outputs: :data:`OUTPUTS`, without ``pose_3d`` for a network without a lifting block (its 3D
    pose is the back-projected 2.5D estimate, which needs the root depth: :class:`cdlpose.inference.Predictor`
    computes it)."""
    return OUTPUTS if net.lifting is not None else ("uvz", "confidence")


def _takes_camera(cfg) -> bool:
    return getattr(cfg.model, "lift_input", "crop") != "crop"


def onnx_metadata(cfg, flip: bool, imported_from: dict | None = None, trained_on: list | None = None,
                  card: dict | None = None) -> dict:
    """The ``cdlpose.*`` metadata of an exported graph: what a deployment needs besides the graph;
    ``imported_from``: the checkpoint's record of imported weights (cdlpose.posenet); ``trained_on``: its record
    of its training data (``cdlpose.trained_on``, JSON; absent when the checkpoint has none); ``card``: a shipped
    model's name and what it scores on photos (``cdlpose.card``, JSON)."""
    from .data.pipeline import IMAGENET_MEAN, IMAGENET_STD
    from .model import OUTPUT_STRIDE
    from .skeletons import get_skeleton

    sk = get_skeleton(cfg.model.skeleton)
    S = cfg.augment.input_size
    inputs = {"images": f"(N, 3, {S}, {S}) float32, RGB/255 − mean, ÷ std"}
    if _takes_camera(cfg):
        inputs["camera"] = "(N, 4) float32 (fx, fy, cx, cy) of each crop, crop pixels"
    meta = {} if imported_from is None else {"cdlpose.imported_from": json.dumps(imported_from)}
    if trained_on is not None:
        meta["cdlpose.trained_on"] = json.dumps(trained_on)
    if card is not None:
        meta["cdlpose.card"] = json.dumps(card)
    if not cfg.model.lifting:
        meta["cdlpose.pose_3d"] = ("none: no lifting block; back-project the 2.5D estimate: image px → camera space at "
                                   "depth root_depth + z (mm), minus the root joint (PoseNet's demo)")
    return meta | {
        "cdlpose.format": FORMAT,
        "cdlpose.skeleton": cfg.model.skeleton,
        "cdlpose.joint_names": json.dumps(list(sk.joints)),
        "cdlpose.bones": json.dumps([list(b) for b in sk.bones]),
        "cdlpose.root_joint": str(sk.root),
        "cdlpose.input_size": str(S),
        "cdlpose.box_enlarge": repr(float(cfg.augment.box_enlarge)),
        "cdlpose.output_stride": str(OUTPUT_STRIDE),
        "cdlpose.mean": json.dumps([float(v) for v in IMAGENET_MEAN]),
        "cdlpose.std": json.dumps([float(v) for v in IMAGENET_STD]),
        "cdlpose.depth_bins": str(cfg.model.depth_bins),
        "cdlpose.depth_range_mm": json.dumps(cfg.codec.depth_range),
        "cdlpose.flip_test": "true" if flip else "false",
        "cdlpose.inputs": json.dumps(inputs),
        "cdlpose.outputs": json.dumps({"uvz": "(N, J, 3) output-map px u, v and depth-bin index",
                                       "pose_3d": "(N, J, 3) mm, root-relative, camera axes x right, y down, "
                                                  "z forward", "confidence": "(N, J) in [0, 1]"}),
        "cdlpose.pixel_convention": "pixel centres at integers: an image of width W spans [-0.5, W - 0.5]; boxes "
                                    "[x, y, w, h] are in COCO's edge convention (the image spans [0, W])",
        "cdlpose.preprocess": "box [x, y, w, h] → shift by (-0.5, -0.5); square about its centre with side "
                              "box_enlarge × max(w, h); affine A maps the square's edges onto the crop's [-0.5, S - 0.5] "
                              "(crop = s · image + t per axis, s = S / side); bilinear warp, black outside; "
                              "x = (RGB / 255 − mean) / std, NCHW",
        "cdlpose.intrinsics": "camera input (when the graph has one): fx_crop = s · fx, fy_crop = s · fy, "
                              "(cx, cy)_crop = s · (cx, cy)_image + t; image (cx, cy) default ((W − 1) / 2, (H − 1) / 2), "
                              "fx = fy default 1.2 × max(W, H) px",
        "cdlpose.postprocess": "crop px u = (uvz_u + 0.5) · output_stride − 0.5 (same for v); image px = A⁻¹ (crop px); "
                               "root-relative depth mm = (uvz_z + 0.5) / depth_bins · depth_range_mm − depth_range_mm / 2; "
                               "pose_3d is root-relative; RootNet's root depth estimate k = sqrt(fx · fy · 4e6 mm² / "
                               "(w · h))",
    }


def export_onnx(checkpoint: str | Path | None, out: str | Path | None = None, opset: int = 18, check: bool = True,
                flip: bool = False, overwrite: bool = False) -> dict:
    """Export ``checkpoint`` to ``out`` (default: next to it, ``.onnx``) with torch's ``torch.export``-based ONNX
    exporter (``dynamo=True``); the graph has a dynamic batch and the metadata of :func:`onnx_metadata`. ``flip``:
    the flip test inside the graph. With ``check``, run the file in ONNX Runtime on two batch sizes and compare with
    PyTorch. Returns a summary dict (path, input size, inputs, max differences).

    ``out`` is written under the output-folder policy (:mod:`cdlpose.outputs`): its folder is claimed for the
    export, an existing file there is replaced only when cdlpose wrote it (recorded in the folder's ledger, as it
    is on disk now) or with ``overwrite``, never the checkpoint itself; the file is written through a new
    temporary file under an unpredictable name and renamed over ``out``."""
    from .loading import load_model

    checkpoint, out = _source_and_target(checkpoint, out, ".onnx")
    _check_target(Path(checkpoint), out)
    net, cfg, ckpt = load_model(checkpoint, "cpu")
    net = net.float().eval()
    S = cfg.augment.input_size
    with claim_target(out, overwrite, "export", suffix=".onnx") as folder:
        data = _onnx_bytes(net, cfg, opset, flip, ckpt.get("imported_from"), ckpt.get("trained_on"), ckpt.get("card"))
        folder.write_bytes(out.name, data)
    summary = {"path": str(out), "input_size": S, "skeleton": cfg.model.skeleton, "opset": opset, "flip": flip,
               "inputs": ["images", "camera"] if _takes_camera(cfg) else ["images"], "lifting": net.lifting is not None}
    if check:
        summary.update(compare_onnx(out, net, S, flip=flip))
    return summary


def _source_and_target(checkpoint, out, suffix: str) -> tuple[Path, Path]:
    """The checkpoint (None: the shipped model) and the output file (default: beside the checkpoint with
    ``suffix``; for the shipped model, in the working folder — never inside the installed package)."""
    from .loading import DEFAULT_MODEL_NAME, model_path

    src = model_path(checkpoint)
    if out is not None:
        return src, Path(out)
    return src, (Path(f"{DEFAULT_MODEL_NAME}{suffix}") if checkpoint is None else src.with_name(src.stem + suffix))


def _check_target(checkpoint: Path, out: Path) -> None:
    """Refuse an ``out`` that is the checkpoint itself or a folder (also with ``--overwrite``)."""
    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give the file to write")
    if not (out.exists() or out.is_symlink()):
        return
    same = checkpoint.exists() and out.exists() and os.path.samefile(checkpoint, out)
    if same:
        raise InputError(f"--out {out} is the checkpoint itself; export would replace it: give another file name")


def claim_target(out: Path, overwrite: bool, command: str, wrote: str = "an earlier export", suffix: str = "",
                 error=InputError):
    """Claim ``out``'s folder (:class:`cdlpose.outputs.OutputFolder`) and refuse (``error``) an existing ``out``
    that cdlpose did not write there (judged by the folder's ledger: what cdlpose recorded writing, as it is on disk
    now; a link always counts as not cdlpose's) unless ``overwrite``. Returns the claimed folder (a context
    manager)."""
    from .outputs import OutputFolder

    folder = OutputFolder(out.parent, command)
    try:
        if not overwrite and folder.foreign([out.name]):
            kind = f", is not an {suffix} file," if suffix and out.suffix.lower() != suffix else ""
            raise error(f"--out {out} exists{kind} and cdlpose did not write it ({command} replaces only {wrote} "
                        "as it left it): give another file name, or --overwrite to replace it")
    except BaseException:
        folder.release()
        raise
    return folder


def _example(n: int, S: int, generator=None):
    x = torch.randn(n, 3, S, S, generator=generator)
    side = torch.rand(n, 1, generator=generator) * 2 * S + S / 2  # focal lengths of typical crops
    cam = torch.cat([side, side, (S - 1) / 2 + torch.randn(n, 2, generator=generator) * S / 4], 1)
    return x, cam


def _onnx_bytes(net, cfg, opset: int, flip: bool, imported_from: dict | None = None,
                trained_on: list | None = None, card: dict | None = None) -> bytes:
    """The exported graph with its metadata, serialised (written by the caller through the output folder)."""
    try:
        import onnxscript  # noqa: F401  (torch's dynamo exporter needs it)
    except ImportError:
            raise InputError("ONNX export needs onnx and onnxscript: pip install onnx onnxscript (or cdlpose[export])") \
            from None
    S = cfg.augment.input_size
    from .skeletons import get_skeleton

    fi = torch.as_tensor(get_skeleton(cfg.model.skeleton).flip_index) if flip else None
    graph = _Graph(net, fi, _takes_camera(cfg)).eval()
    x, cam = _example(2, S)
    batch = torch.export.Dim("batch", min=1, max=4096)
    if graph.camera:
        args, names, shapes = (x, cam), ["images", "camera"], {"images": {0: batch}, "camera": {0: batch}}
    else:
        args, names, shapes = (x,), ["images"], {"images": {0: batch}}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        # torch.onnx's dynamo path warns that the dynamic axis' name ("batch") is not kept in the graph, a note for
        # its developers: the axis is dynamic (checked against ONNX Runtime below), the user needs no warning
        warnings.filterwarnings("ignore", message=r"(# )?The axis name: .* will not be used", category=UserWarning)
        program = torch.onnx.export(graph, args, input_names=names, output_names=list(outputs_of(net)), opset_version=opset,
                                    dynamic_shapes=shapes, dynamo=True, external_data=False, verbose=False)
    model = program.model_proto
    for k, v in onnx_metadata(cfg, flip, imported_from, trained_on, card).items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    return model.SerializeToString()


def compare_onnx(path: str | Path, net, size: int, batches=(1, 3), seed: int = 0, flip: bool = False) -> dict:
    """Run the ONNX file in ONNX Runtime (CPU) and ``net`` in PyTorch on random inputs of each batch size;
    returns the largest and the mean absolute differences per output (``max_abs_<output>``, ``mean_abs_<output>``;
    pose in mm) and ``pose_ulp``, float32's spacing at the largest pose coordinate (differences of a few of it are
    rounding: the two runtimes sum convolutions in different orders)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    g = torch.Generator().manual_seed(seed)
    outputs = outputs_of(net)
    diffs = {f"{m}_abs_{k}": 0.0 for k in outputs for m in ("max", "mean")}
    biggest = 0.0
    from .skeletons import get_skeleton

    fi = torch.as_tensor(get_skeleton(net.config.skeleton).flip_index) if flip else None
    graph = _Graph(net.float().eval(), fi, "camera" in names).eval()
    for n in batches:
        x, cam = _example(n, size, g)
        with torch.no_grad():
            ref = graph(x, cam)
        feed = {"images": x.numpy(), "camera": cam.numpy()}
        got = sess.run(list(outputs), {k: feed[k] for k in names})
        for k, r, o in zip(outputs, ref, got):
            if o.shape != tuple(r.shape):
                raise RuntimeError(f"{path}: ONNX output {k} has shape {o.shape} for batch {n}, PyTorch {tuple(r.shape)}")
            d = np.abs(o - r.numpy())
            diffs[f"max_abs_{k}"] = max(diffs[f"max_abs_{k}"], float(d.max()))
            diffs[f"mean_abs_{k}"] += float(d.mean()) / len(batches)
            if k == "pose_3d":
                biggest = max(biggest, float(np.abs(r.numpy()).max()))
    diffs["batches"] = list(batches)
    diffs["pose_ulp"] = float(np.spacing(np.float32(biggest)))
    return diffs


def export_weights(checkpoint: str | Path | None, out: str | Path | None = None, half: bool = False,
                   overwrite: bool = False, card: dict | None = None) -> dict:
    """Write the network's weights and config alone (no optimiser, grad-scaler, RNG states or history) as a small
    cdlpose checkpoint that :func:`cdlpose.loading.load_model`, ``cdlpose predict``, ``cdlpose evaluate`` and
    :class:`cdlpose.inference.Predictor` load like any other. ``half``: floating-point tensors in float16 (half the
    size; loaded back into float32, which changes outputs by float16 rounding, ~1e-3 relative). Default ``out``:
    the checkpoint's name with ``-weights.pt`` (``-weights-fp16.pt``); an existing ``out`` is replaced only when
    cdlpose wrote it there or with ``overwrite`` (as :func:`export_onnx`). ``checkpoint`` None: the shipped model.
    ``card``: ``{"name", "summary"}`` of a model to ship (what ``cdlpose predict`` says of it). Returns ``{"path",
    "bytes", "source_bytes", "dtype"}``."""
    from .checkpoint import save_checkpoint
    from .loading import CHECKPOINT_FORMAT, read_checkpoint

    src, out = _source_and_target(checkpoint, out, f"-weights{'-fp16' if half else ''}.pt")
    _check_target(src, out)
    ckpt = read_checkpoint(src, "--checkpoint")
    model = {k: (v.half() if half and v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    state = {"format": CHECKPOINT_FORMAT, "version": ckpt.get("version"), "config": ckpt["config"],
             "model": model, "weights_only": True, "epoch": ckpt.get("epoch"), "step": ckpt.get("step"),
             # provenance travels with the weights: imported weights' origin, the training data
             **{k: ckpt[k] for k in ("imported_from", "trained_on", "card") if ckpt.get(k) is not None}}
    if card is not None:
        state["card"] = card
    with claim_target(out, overwrite, "export") as folder:
        save_checkpoint(state, out)
        folder.record(out.name)
    return {"path": str(out), "bytes": out.stat().st_size, "source_bytes": src.stat().st_size,
            "dtype": "float16" if half else "float32"}


def export_command(args) -> int:
    """``cdlpose export``: write the file and say what was written (and, for ONNX, how it compares)."""
    if args.format == "weights":
        w = export_weights(args.checkpoint, args.out, half=args.half, overwrite=args.overwrite)
        print(f"wrote {w['path']}: {w['dtype']} weights and config, {w['bytes'] / 1e6:.1f} MB (the checkpoint: "
              f"{w['source_bytes'] / 1e6:.1f} MB); no optimiser state, so it continues no training run: predict, "
              "evaluate, export and Predictor load it")
        return 0
    s = export_onnx(args.checkpoint, args.out, args.opset, check=not args.no_check, flip=args.flip,
                    overwrite=args.overwrite)
    from pathlib import Path

    print(f"wrote {s['path']}, {Path(s['path']).stat().st_size / 1e6:.1f} MB: the whole network with soft-argmax"
          f"{' and lifting block' if s['lifting'] else ''} (inputs {', '.join(s['inputs'])}; images (N, 3, {s['input_size']}, "
          f"{s['input_size']}), skeleton {s['skeleton']}, opset {s['opset']}{', flip test' if s['flip'] else ''})")
    if "max_abs_pose_3d" in s:
        print(f"ONNX Runtime vs PyTorch, batches {s['batches']}: pose max |Δ| {s['max_abs_pose_3d']:.2e} mm "
              f"(mean {s['mean_abs_pose_3d']:.1e} mm; float32 spacing there {s['pose_ulp']:.1e} mm), "
              f"uvz {s['max_abs_uvz']:.2e}, confidence {s['max_abs_confidence']:.2e}")
    elif "max_abs_uvz" in s:  # a network without a lifting block: no pose_3d output
        print(f"ONNX Runtime vs PyTorch, batches {s['batches']}: uvz max |Δ| {s['max_abs_uvz']:.2e}, confidence "
              f"{s['max_abs_confidence']:.2e} (no lifting block: 3D by back-projection, in Predictor)")
    return 0
