"""The ``cdlpose`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
import math
import sys

from . import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdlpose", description=__doc__)
    parser.add_argument("--version", action="version", version=f"cdlpose {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("synth", help="write a browsable sample of the synthetic data set")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("-n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sheet", type=int, default=64, help="images on the contact sheet (default 64)")
    p.set_defaults(func=_cmd_synth)
    p = sub.add_parser("data", help="data set tools")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    c = dsub.add_parser("check", help="read every data set of a YAML file and report every problem")
    c.add_argument("config", help="YAML file with a 'datasets' list")
    c.set_defaults(func=_cmd_data_check)

    p = sub.add_parser("train", help="train a configuration (stage 1 or 2); torchrun for several GPUs")
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides, e.g. train.lr=5e-4")
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                   help="continue a run (default: last.pt in train.out_dir)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (saving last.pt)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: the local GPU if any)")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint by protocol; tables as JSON, CSV, Markdown")
    p.add_argument("config", nargs="?", default=None, help="YAML config whose 'test' data to use "
                   "(default: the checkpoint's own)")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE")
    p.add_argument("--protocol", choices=["h36m-p1", "h36m-p2", "mupots", "synthetic"], default=None)
    p.add_argument("--flip", action="store_true", help="flip test")
    p.add_argument("--out", default=None, help="output folder (default: next to the checkpoint)")
    p.add_argument("--device", default=None)
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("demo", help="train and evaluate a small model on synthetic data; write an HTML report")
    p.add_argument("--out", default="cdlpose-demo", help="report folder (default: cdlpose-demo)")
    p.add_argument("--minutes", type=float, default=9.0, help="total time budget (default 9)")
    p.add_argument("--train-size", type=int, default=None, help="synthetic training images (default: by budget)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--style", choices=("plain", "full"), default="plain",
                   help="synthetic image style: plain backgrounds (default) or textures and occluders")
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("predict", help="3D poses for images, folders and videos: JSON, pictures, MP4, HTML viewers",
                       description="Writes per input NAME.json, NAME_2d.jpg and NAME_3d.png (images) or NAME.mp4 "
                       "(videos), and NAME.html (a viewer). Exit status 0 when every input was processed, 3 when "
                       "some failed (they are listed; the rest are written).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="images, videos or folders of them")
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by cdlpose train")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--box", nargs=4, type=float, action="append", metavar=("X", "Y", "W", "H"),
                   help="a person box in pixels, for every input (repeat for several people)")
    p.add_argument("--detections", metavar="FILE",
                   help='COCO-format detections: [{"image_id" or "file_name", "bbox": [x, y, w, h], "score"}]')
    p.add_argument("--detector", action="store_true",
                   help="detect people with torchvision's Faster R-CNN (COCO weights, from torchvision's cache)")
    p.add_argument("--min-score", type=float, default=0.5, help="minimum detection score (default 0.5)")
    p.add_argument("--focal", nargs=2, type=float, metavar=("FX", "FY"),
                   help="focal length in pixels for the root-depth estimate (default 1.2 × the image's larger side)")
    p.add_argument("--flip", action="store_true", help="flip test: average with the mirrored image")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--device", default=None, help="cpu, cuda … (default: the local GPU if any)")
    p.add_argument("--smooth", action="store_true", help="One-Euro smoothing of videos' 3D joints")
    p.add_argument("--smooth-min-cutoff", type=float, default=1.0, help="One-Euro min cut-off, Hz (default 1)")
    p.add_argument("--smooth-beta", type=float, default=0.01, help="One-Euro speed coefficient, 1/mm (default 0.01)")
    p.add_argument("--json-only", action="store_true", help="write JSON (and viewers) but no pictures or MP4s")
    p.add_argument("--no-viewer", action="store_true", help="do not write the HTML viewers")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="export a checkpoint's network (with soft-argmax and lifting) to ONNX")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--format", choices=("onnx",), default="onnx")
    p.add_argument("--out", default=None, help="output file (default: the checkpoint's name with .onnx)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison")
    p.set_defaults(func=_cmd_export)
    return parser


def _cmd_train(args) -> int:
    from pathlib import Path

    from .config import load_config
    from .engine import Trainer

    cfg = load_config(args.config, args.set)
    resume = args.resume
    if resume == "auto":
        resume = Path(cfg.train.out_dir) / "last.pt"
        if not resume.is_file():
            raise SystemExit(f"--resume: no {resume} to continue from")
    trainer = Trainer(cfg, resume=resume, max_steps=args.max_steps, device=args.device)
    history = trainer.fit()
    if trainer.is_main:
        best = f"best val MPJPE {trainer.best:.1f} mm" if math.isfinite(trainer.best) else "no validation data"
        print(f"done: {trainer.step} steps, {trainer.epoch} epochs, {len(history)} summaries; checkpoints in "
              f"{trainer.out} ({best})")
    return 0


def _cmd_evaluate(args) -> int:
    from .config import load_config
    from .engine import evaluate_checkpoint
    from .metrics import H36M_ACTION_ABBREV, format_table

    cfg = load_config(args.config, args.set) if (args.config or args.set) else None
    result, _ = evaluate_checkpoint(args.checkpoint, cfg, args.protocol, args.flip, args.out, args.device)
    abbrev = H36M_ACTION_ABBREV if result["protocol"].startswith("h36m") else None
    print(f"{result['protocol']}: {result['metric']} ({result['unit']}), {result['summary']['samples']} samples"
          f"{', flip test' if args.flip else ''}")
    print(format_table(result["rows"], result["columns"], abbrev))
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    report = run_demo(args.out, minutes=args.minutes, train_size=args.train_size, seed=args.seed, style=args.style)
    return 0 if report["passed"] else 1


def _cmd_predict(args) -> int:
    from pathlib import Path

    from .inference import InputError, Predictor
    from .predict import PredictOptions, collect_inputs, run_predict

    if sum(bool(x) for x in (args.box, args.detections, args.detector)) > 1:
        raise InputError("give at most one of --box, --detections and --detector")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    collect_inputs(args.inputs)  # missing inputs fail before the model loads
    pred = Predictor.from_checkpoint(args.checkpoint, device=args.device, flip=args.flip)
    opts = PredictOptions(out=Path(args.out), boxes=args.box, focal=tuple(args.focal) if args.focal else None,
                          batch_size=args.batch_size, images=not args.json_only, viewer=not args.no_viewer,
                          smooth=args.smooth, min_cutoff=args.smooth_min_cutoff, beta=args.smooth_beta,
                          progress=not args.no_progress)
    if args.detections:
        from .detection import read_detections

        opts.detections = read_detections(args.detections, args.min_score)
    if args.detector:
        from .detection import PersonDetector

        opts.detector = PersonDetector(pred.device, args.min_score)
    res = run_predict(pred, args.inputs, opts, args.checkpoint)
    rate = res["frames"] / max(res["seconds"], 1e-9)
    print(f"{len(res['outputs'])} inputs, {res['frames']} images/frames in {res['seconds']:.1f} s "
          f"({rate:.1f}/s) → {opts.out}")
    for path, msg in res["errors"]:
        print(f"skipped {path}: {msg}", file=sys.stderr)
    return 3 if res["errors"] else 0


def _cmd_export(args) -> int:
    from .export import export_onnx

    s = export_onnx(args.checkpoint, args.out, args.opset, check=not args.no_check)
    print(f"wrote {s['path']} (input (N, 3, {s['input_size']}, {s['input_size']}), skeleton {s['skeleton']}, "
          f"opset {s['opset']})")
    if "max_abs_pose_3d" in s:
        print(f"ONNX Runtime vs PyTorch, batches {s['batches']}: pose max |Δ| {s['max_abs_pose_3d']:.2e} mm "
              f"(mean {s['mean_abs_pose_3d']:.1e} mm; float32 spacing there {s['pose_ulp']:.1e} mm), "
              f"uvz {s['max_abs_uvz']:.2e}, confidence {s['max_abs_confidence']:.2e}")
    return 0


def _cmd_data_check(args) -> int:
    from .data.check import check_config, print_reports

    return 0 if print_reports(check_config(args.config)) else 1


def _cmd_synth(args) -> int:
    from .data.synth_export import export_synthetic

    out = export_synthetic(args.out, args.n, args.split, args.seed, args.sheet)
    print(f"wrote {args.n} samples to {out}: images/, annotations.json, contact_sheet.png")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    from .config import ConfigError
    from .inference import InputError

    try:
        return args.func(args)
    except (InputError, ConfigError) as e:
        print(f"cdlpose {args.command}: error: {e}", file=sys.stderr)
        return 2
