"""``cdlpose export``: the whole network as ONNX — backbone, both branches, soft-argmax and the lifting block.

The exported graph takes ``images`` (N, 3, S, S) float32, normalised as the data pipeline does (ImageNet mean and
std on 0..1 RGB), with a dynamic batch N, and returns ``uvz`` (N, J, 3) (output-map pixels and depth-bin index),
``pose_3d`` (N, J, 3) mm root-relative, and ``confidence`` (N, J). Cropping, flip test and mapping back to image
pixels stay in :class:`cdlpose.inference.Predictor`, which runs on either backend.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from .checkpoint import OutputError, _output_error, describe_os_error

__all__ = ["export_onnx", "export_weights", "compare_onnx", "OUTPUTS"]

OUTPUTS = ("uvz", "pose_3d", "confidence")


class _Graph(torch.nn.Module):
    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, images):
        out = self.net.predict(images)
        return tuple(out[k].float() for k in OUTPUTS)


def export_onnx(checkpoint: str | Path, out: str | Path | None = None, opset: int = 17, check: bool = True) -> dict:
    """Export ``checkpoint`` to ``out`` (default: next to it, ``.onnx``); with ``check``, run ONNX Runtime on two
    batch sizes and compare with PyTorch. Returns a summary dict (path, input size, max differences)."""
    from .engine import load_model

    out = Path(out) if out is not None else Path(checkpoint).with_suffix(".onnx")
    _check_target(Path(checkpoint), out)
    net, cfg, _ = load_model(checkpoint, "cpu")
    net = net.float().eval()
    S = cfg.augment.input_size
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(e.errno, f"cannot write {out}: {describe_os_error(e)}") from None
    x = torch.randn(2, 3, S, S)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        _write_onnx(net, cfg, x, tmp, opset)
        tmp.replace(out)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _output_error(out, e) from None
        raise
    summary = {"path": str(out), "input_size": S, "skeleton": cfg.model.skeleton, "opset": opset}
    if check:
        summary.update(compare_onnx(out, net, S))
    return summary


def _check_target(checkpoint: Path, out: Path) -> None:
    """Refuse an ``out`` that is the checkpoint itself, a folder, or an existing file that is not an ONNX model:
    export never replaces a file it did not make."""
    from .inference import InputError

    if out.is_dir():
        raise InputError(f"--out {out} is a folder; give the .onnx file to write")
    if not out.exists():
        return
    same = checkpoint.exists() and os.path.samefile(checkpoint, out)
    if same:
        raise InputError(f"--out {out} is the checkpoint itself; export would replace it: give another file name")
    if out.suffix.lower() != ".onnx":
        raise InputError(f"--out {out} exists and is not an .onnx file; export replaces only an earlier export: "
                         "give another file name")


def _write_onnx(net, cfg, x, tmp: Path, opset: int) -> None:
    S = cfg.augment.input_size
    # the TorchScript exporter: it handles the network as is (the torch.export one needs onnxscript and traces
    # the input checks); its deprecation and tracer warnings are about code paths this graph does not use
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        torch.onnx.export(
            _Graph(net), (x,), str(tmp), input_names=["images"], output_names=list(OUTPUTS), opset_version=opset,
            dynamic_axes={"images": {0: "batch"}, **{k: {0: "batch"} for k in OUTPUTS}}, dynamo=False,
        )
    import onnx

    model = onnx.load(str(tmp))
    meta = {"cdlpose.skeleton": cfg.model.skeleton, "cdlpose.input_size": str(S),
            "cdlpose.depth_bins": str(cfg.model.depth_bins), "cdlpose.depth_range_mm": json.dumps(cfg.codec.depth_range),
            "cdlpose.input_normalisation": "RGB/255, minus ImageNet mean, divided by ImageNet std"}
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    onnx.save(model, str(tmp))


def compare_onnx(path: str | Path, net, size: int, batches=(1, 3), seed: int = 0) -> dict:
    """Run the ONNX file in ONNX Runtime (CPU) and ``net`` in PyTorch on random inputs of each batch size;
    returns the largest and the mean absolute differences per output (``max_abs_<output>``, ``mean_abs_<output>``;
    pose in mm) and ``pose_ulp``, float32's spacing at the largest pose coordinate (differences of a few of it are
    rounding: the two runtimes sum convolutions in different orders)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(seed)
    diffs = {f"{m}_abs_{k}": 0.0 for k in OUTPUTS for m in ("max", "mean")}
    biggest = 0.0
    for n in batches:
        x = torch.randn(n, 3, size, size, generator=g)
        with torch.no_grad():
            ref = _Graph(net.float().eval())(x)
        got = sess.run(list(OUTPUTS), {"images": x.numpy()})
        for k, r, o in zip(OUTPUTS, ref, got):
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


def export_weights(checkpoint: str | Path, out: str | Path | None = None, half: bool = False) -> dict:
    """Write the network's weights and config alone (no optimiser, grad-scaler, RNG states or history) as a small
    cdlpose checkpoint that :func:`cdlpose.engine.load_model`, ``cdlpose predict``, ``cdlpose evaluate`` and
    :class:`cdlpose.inference.Predictor` load like any other. ``half``: floating-point tensors in float16 (half the
    size; loaded back into float32, which changes outputs by float16 rounding, ~1e-3 relative). Default ``out``:
    the checkpoint's name with ``-weights.pt`` (``-weights-fp16.pt``). Returns ``{"path", "bytes", "source_bytes",
    "dtype"}``."""
    from .checkpoint import save_checkpoint
    from .engine import CHECKPOINT_FORMAT, _read_checkpoint

    ckpt = _read_checkpoint(checkpoint, "--checkpoint")
    src = Path(checkpoint)
    out = Path(out) if out is not None else src.with_name(f"{src.stem}-weights{'-fp16' if half else ''}.pt")
    from .inference import InputError

    if out.resolve() == src.resolve():
        raise InputError(f"--out {out} is the checkpoint itself; export would replace it: give another file name")
    if out.exists():  # replace only an earlier weights export, never another file
        try:
            earlier = _read_checkpoint(out, "--out").get("weights_only") is True
        except (ValueError, FileNotFoundError):
            earlier = False
        if not earlier:
            raise InputError(f"--out {out} exists and is not a weights file written by cdlpose export; export "
                             "replaces only an earlier export: give another file name or remove it")
    model = {k: (v.half() if half and v.is_floating_point() else v) for k, v in ckpt["model"].items()}
    state = {"format": CHECKPOINT_FORMAT, "version": ckpt.get("version"), "config": ckpt["config"], "model": model,
             "weights_only": True, "epoch": ckpt.get("epoch"), "step": ckpt.get("step")}
    save_checkpoint(state, out)
    return {"path": str(out), "bytes": out.stat().st_size, "source_bytes": src.stat().st_size,
            "dtype": "float16" if half else "float32"}
