"""cdlpose: monocular 3D human pose estimation by cascaded dimension-lifting.

An open implementation of Zhang, Zhan and Chang, "Deep Monocular 3D Human Pose Estimation via Cascaded
Dimension-Lifting" (AAAI 2021): a network lifts an image to 2D joint heatmaps, then to per-joint 2.5D volumes, and a
lifting block turns the 2.5D estimate into a root-relative 3D pose. Train and evaluate it on Human3.6M and
MuCo/MuPoTS-3D, or try it on a laptop on the embedded synthetic data set. One small model ships, trained on
rendered people only (cdlpose-photo-v4: predict's default, PCK@0.2 79% on the probe's real photos, docs/model-card.md);
there are no pretrained weights of the paper's model: start with `cdlpose demo`, which trains a small model on your
CPU in minutes, on rendered figures (for photos, import Moon et al.'s published PoseNet weights, below, or train on
real data).
"""

from __future__ import annotations



import argparse
import math
import os
import sys

from . import __version__
from .help_examples import EXAMPLES, add_examples


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cdlpose", description=__doc__, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cdlpose {__version__}",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("synth", help="write a browsable sample of the synthetic data set, or of given 3D poses "
                       "rendered from their cameras (--poses)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("-n", type=int, default=1000, help="number of samples (default 1000)")
    p.add_argument("--poses", metavar="FILE", default=None,
                   help="render these 3D poses instead of synthetic ones: a Human3.6M-layout .npz (keys "
                   "'S1/Walking 1', (N, 17, 3) world mm, z up), samples spread over its sequences and cameras")
    p.add_argument("--cameras", metavar="FILE", default=None,
                   help="with --poses: the cameras .npz (keys 'S1/54138969/R' … T, f, c)")
    p.add_argument("--subjects", nargs="+", default=None, metavar="S",
                   help="with --poses: only these subjects (e.g. S8; default all)")
    p.add_argument("--every", type=int, default=None,
                   help="with --poses: one pose every this many 50 Hz frames (default: every pose of the file)")
    p.add_argument("--split", default="train", choices=["train", "val", "test"],
                   help="which split's subjects (disjoint between splits; default train)")
    p.add_argument("--seed", type=int, default=0, help="data set seed: sample i of a split and seed is always the "
                   "same image (default 0)")
    p.add_argument("--style", choices=("full", "plain", "realistic"), default=None,
                   help="full (synthetic default): textured backgrounds, striped clothing, occluders; plain (--poses "
                   "default): smooth backgrounds, plain clothing, no occluders (what `cdlpose demo` trains on); "
                   "realistic: clothed, textured bodies in rendered rooms (needs pip install -e \".[realistic]\"; "
                   "MakeHuman assets from $CDLPOSE_ASSETS or ../shared/assets/makehuman-cc0)")
    p.add_argument("--pose-set", choices=("activities", "varied"), default="activities",
                   help="the synthetic poses: the eight activity families (default), or varied: those and seven more "
                   "(arms out, striding, kneeling, a leg raised, sitting on the floor, throwing, free) seen from "
                   "tilted cameras")
    p.add_argument("--sheet", type=int, default=64, help="images on the contact sheet (default 64)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    p.set_defaults(func=_cmd_synth)
    p = sub.add_parser("data", help="data set tools")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    c = dsub.add_parser("check", help="read every data set of a YAML file and report every problem")
    c.add_argument("config", help="a training config (its data.datasets, base: files merged in) or a YAML file "
                   "with a top-level 'datasets' list")
    c.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides of the data section, as "
                   "train takes them, e.g. data.root=/datasets data.datasets.1.subjects=[S9]")
    c.set_defaults(func=_cmd_data_check)

    p = sub.add_parser("train", help="train a configuration (stage 1 or 2); torchrun for several GPUs")
    p.add_argument("config", help="YAML config (see configs/)")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides, e.g. train.lr=5e-4")
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                   help="continue a run (default: last.pt in train.out_dir)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (saving last.pt)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: the local GPU if any)")
    p.add_argument("--overwrite", action="store_true",
                   help="start afresh in a train.out_dir that holds an earlier run (its checkpoints and logs are "
                        "deleted); without it such a folder is refused")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint by protocol; tables as JSON, CSV, Markdown")
    p.add_argument("config", nargs="?", default=None, help="YAML config whose 'test' data to use "
                   "(default: the checkpoint's own)")
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by cdlpose train (best.pt, last.pt) "
                   "or cdlpose export --format weights")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="overrides of the config (or, without one, of the checkpoint's own), e.g. data.root=/datasets "
                   "data.datasets.1.subjects=[S9] (a number picks a list entry)")
    p.add_argument("--protocol", choices=["h36m-p1", "h36m-p2", "mupots", "synthetic", "h36m-actions"], default=None,
                   help="how to score (default: the config's data.protocol): h36m-p1 MPJPE, h36m-p2 PA-MPJPE, "
                   "mupots 3DPCK and AUC, synthetic MPJPE per activity, h36m-actions MPJPE and PA-MPJPE per "
                   "Human3.6M action (rendered poses, a held-out subject; no published rows)")
    p.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None,
                   help="flip test: average with the mirrored crop (default: on for h36m-p1, h36m-p2 and mupots, as "
                   "the authors and Moon et al. evaluate; off for synthetic); --no-flip turns it off")
    p.add_argument("--detections", metavar="FILE", default=None,
                   help="mupots only: COCO results file of person boxes for the test images (image_id = the "
                   "MuPoTS-3D image id), the paper's top-down setting (default: the annotated boxes, labelled as such)")
    p.add_argument("--min-score", type=float, default=0.0, help="with --detections: minimum box score (default 0)")
    p.add_argument("--out", default=None, help="output folder (default: next to the checkpoint)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 … (default: the local GPU if any)")
    p.add_argument("--workers", type=int, default=None, help="data loading processes (default: the config's "
                   "train.workers, at most the CPU cores available)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser(
        "demo", help="start here: train and evaluate a small model on synthetic data on the CPU; an HTML report",
        description="Renders synthetic training images, trains a CPU-sized network through both of the paper's "
        "stages with a fixed amount of work (steps, seeded: the same result on a busy machine as on an idle one; "
        "about 9 minutes on an idle 2-core CPU), evaluates it on held-out synthetic subjects against the training "
        "set's mean pose and writes OUT/index.html. Exit status 0 when the model is at least --min-ratio times "
        "better than the mean pose, 1 when not.")
    p.add_argument("--out", default="cdlpose-demo", help="report folder (default: cdlpose-demo)")
    p.add_argument("--steps", type=int, default=None,
                   help="stage 1's training steps; the lifting block's and the fine-tuning's steps scale with it "
                   "(default 1900: the "
                   "measured run; fewer for a quicker, worse model)")
    p.add_argument("--train-size", type=int, default=None,
                   help="synthetic training images (default 4500, at least 64)")
    p.add_argument("--test-size", type=int, default=None, help="synthetic test images (default 200)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the synthetic data and of training (default 0); the same seed gives the same "
                   "metrics on the same kind of machine")
    p.add_argument("--style", choices=("plain", "full", "realistic"), default="plain",
                   help="synthetic image style: plain backgrounds (default), textures and occluders (full), or "
                   "clothed, textured bodies in rendered rooms (realistic: needs the realistic extra; ~15 min in all "
                   "on 2 cores, and its model stays below the 2x bar: 1.4x)")
    p.add_argument("--min-ratio", type=float, default=None,
                   help="how many times better than the mean pose's MPJPE the model must be for exit status 0 "
                   "(default 2; with --quick 1.5)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier demo in --out and files in the "
                   "way that cdlpose did not write (index.html, report.json …); without it they are refused")
    p.add_argument("--quick", action="store_true", help="a smaller run, every phase scaled (1,200 training and 100 "
                   "test images, 500 steps; 1.9 min measured on an idle 2-core CPU, 3.3–5.1 on a busy one) with "
                   "its own pass line: --min-ratio 1.5 (it reaches 1.68×; docs/demo.md)")
    p.add_argument("--keep-cache", dest="clean", action="store_false", default=False, help="keep the rendered "
                   "images in OUT/synthetic-cache for a later demo (default; the report says how big)")
    p.add_argument("--clean", dest="clean", action="store_true", help="remove OUT/synthetic-cache at the end")
    p.set_defaults(func=_elsewhere("demo_command", "demo_command"))

    p = sub.add_parser("predict", help="3D poses for images, folders and videos: JSON, pictures, MP4, HTML viewers",
                       description="Writes per input NAME.json (with the 3D poses), NAME_2d.jpg and NAME_3d.png "
                       "(images) or NAME.mp4 (H.264 videos and cameras), NAME.html (a viewer), and "
                       "predictions.coco.json (every person as COCO keypoint results: a list with integer image ids "
                       "and COCO's 17 joints, what pycocotools' loadRes and COCOeval read) with "
                       "predictions.coco.image_ids.json (each input's image_id). First it prints the model it runs "
                       "and what that was trained on. Exit status 0 when every input was processed, 3 when "
                       "some inputs could not be read (they are listed; the rest are written), 4 when some outputs "
                       "could not be written (disk full, permission), 2 for bad options. Files in --out that cdlpose "
                       "did not write for the same input are never replaced: the run is refused with the list of "
                       "them (or use --overwrite).")
    p.add_argument("inputs", nargs="*", metavar="INPUT",
                   help="images, videos, folders of them, or quoted glob patterns (\"shots/*.jpg\", ** recursive)")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="the model (default: the one cdlpose ships, cdlpose-photo-v4, trained on rendered people: "
                   "docs/model-card.md): a checkpoint written by cdlpose train or cdlpose demo "
                   "(cdlpose-demo/finetune/last.pt, not meant for photos), or PoseNet weights imported with "
                   "cdlpose import posenet (docs/posenet.md)")
    p.add_argument("--onnx", metavar="FILE", help="instead of --checkpoint: an ONNX file written by cdlpose export, run "
                   "in ONNX Runtime (crop, normalisation and skeleton from its metadata)")
    p.add_argument("--camera", type=int, action="append", metavar="INDEX",
                   help="a camera (OpenCV capture index, e.g. 0), written like a video as cameraINDEX.*; stops at "
                   "--max-frames or Ctrl-C")
    p.add_argument("--max-frames", type=int, default=None, help="a camera's frames to read (default: until Ctrl-C)")
    p.add_argument("--show", action="store_true", help="show a camera's frames in a window (needs OpenCV with a GUI)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: a new folder here named after the input: "
                   "photo.jpg → photo-poses/, shots/ → shots-poses/, several inputs → photo-and-2-more-poses/; "
                   "photo-poses-2/ … when that exists); a folder given again keeps cdlpose's earlier outputs for "
                   "other inputs")
    p.add_argument("--box", nargs=4, type=float, action="append", metavar=("X", "Y", "W", "H"),
                   help="a person box in pixels, for every input (repeat for several people)")
    p.add_argument("--detections", metavar="FILE",
                   help='COCO-format detections: [{"image_id" or "file_name", "bbox": [x, y, w, h], "score"}]; '
                        "a numeric image_id matches COCO's file names (785 ↔ 000000000785.jpg)")
    p.add_argument("--image-list", "--coco-annotations", metavar="FILE",
                   help="a COCO annotation file (or a JSON list of {id, file_name}): its image ids are the inputs' "
                        "image_id in predictions.coco.json (matched by file name; without it a COCO-style name's "
                        "number, else a numbering, see predictions.coco.image_ids.json), and map --detections' "
                        "image ids to file names")
    p.add_argument("--detector", action="store_true",
                   help="detect people with torchvision's Faster R-CNN (COCO weights, from torchvision's cache)")
    p.add_argument("--min-score", type=float, default=0.5, help="minimum detection score (default 0.5)")
    p.add_argument("--focal", nargs=2, type=float, metavar=("FX", "FY"),
                   help="focal length in pixels for the root-depth estimate (default 1.2 × the image's larger side)")
    p.add_argument("--flip", action="store_true", help="flip test: average with the mirrored image")
    p.add_argument("--no-lifting", action="store_true",
                   help="3D by back-projecting the 2.5D estimate at the root depth (PoseNet's way) instead of the "
                   "lifting block; networks without one (imported PoseNet weights) always do this")
    p.add_argument("--root-depth", type=float, action="append", metavar="MM",
                   help="with --box: the person's root (pelvis) depth in mm, camera Z, one per --box in order "
                   "(default: RootNet's k-value from the box as RootNet crops it and the focal length)")
    p.add_argument("--batch-size", type=int, default=16, help="crops per network call (default 16)")
    p.add_argument("--device", default=None, help="cpu, cuda … (default: the local GPU if any)")
    p.add_argument("--smooth", action="store_true", help="One-Euro smoothing of videos' 3D joints")
    p.add_argument("--smooth-min-cutoff", type=float, default=1.0, help="One-Euro min cut-off, Hz (default 1)")
    p.add_argument("--smooth-beta", type=float, default=0.01, help="One-Euro speed coefficient, 1/mm (default 0.01)")
    p.add_argument("--kpt-thr", type=float, default=0.3,
                   help="joints with a confidence under it are drawn faint (default 0.3; 0: all alike)")
    p.add_argument("--thickness", type=int, default=None, help="2D line thickness, px (default: by image size)")
    p.add_argument("--radius", type=int, default=None, help="2D joint radius, px (default thickness + 1; 0: none)")
    p.add_argument("--json-only", action="store_true", help="write JSON (and viewers) but no pictures or MP4s")
    p.add_argument("--no-viewer", action="store_true", help="do not write the HTML viewers")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files in --out that cdlpose did not write for the same input")
    p.set_defaults(func=_cmd_predict)

    p = sub.add_parser("export", help="export a checkpoint's network to ONNX, or its weights alone to a small file")
    p.add_argument("--checkpoint", help="a checkpoint written by cdlpose train (default: the shipped model, "
                   "written to ./cdlpose-photo-v4.onnx)")
    p.add_argument("--format", choices=("onnx", "weights"), default="onnx",
                   help="onnx (default): the whole network with soft-argmax and lifting, checked against ONNX "
                   "Runtime; weights: the weights and config without optimiser state (a fraction of the size), "
                   "loaded by predict, evaluate and Predictor")
    p.add_argument("--half", action="store_true", help="--format weights: store float16 weights (half the size)")
    p.add_argument("--out", default=None, help="output file (default: the checkpoint's name with .onnx, or "
                   "-weights.pt); replaced only when cdlpose wrote it, never the checkpoint itself")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out that cdlpose did not write")
    p.add_argument("--opset", type=int, default=18, help="ONNX opset version (default 18)")
    p.add_argument("--flip", action="store_true", help="--format onnx: the flip test inside the graph")
    p.add_argument("--no-check", action="store_true", help="skip the ONNX Runtime vs PyTorch comparison")
    p.set_defaults(func=_elsewhere("export", "export_command"))

    p = sub.add_parser("import", help="turn published weights of another implementation into a cdlpose checkpoint")
    isub = p.add_subparsers(dest="import_kind", metavar="KIND", required=True)
    c = isub.add_parser("posenet", help="Moon et al.'s PoseNet snapshot (3DMPPE_POSENET_RELEASE), e.g. "
                        "snapshot_24.pth.tar", description="Reads a PoseNet snapshot (loaded with weights_only=True), "
                        "maps its weights onto cdlpose's baseline network (no lifting block; 3D by back-projection) "
                        "with PoseNet's input and output conventions, and writes a cdlpose checkpoint that predict, "
                        "evaluate and export use like any other.")
    c.add_argument("snapshot", help="the downloaded snapshot file")
    c.add_argument("--joints", required=True, choices=("h36m", "muco"),
                   help="the snapshot's joint set: h36m (18 joints, the Human3.6M + MPII model) or muco (21 joints, "
                   "the MuCo-3DHP + COCO model for MuPoTS-3D)")
    c.add_argument("--out", required=True, help="the cdlpose checkpoint to write (e.g. posenet_h36m.pt)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing --out that cdlpose did not write")
    c.set_defaults(func=_elsewhere("posenet", "import_command"))
    add_examples(parser)  # every subcommand's --help ends with examples
    return parser


def _elsewhere(module: str, name: str):
    """A command implemented as ``cdlpose.<module>.<name>(args)``, imported when it runs."""
    def run(args) -> int:
        import importlib

        return getattr(importlib.import_module(f"cdlpose.{module}"), name)(args)
    return run


def _cmd_train(args) -> int:
    from pathlib import Path

    from .config import load_config
    from .errors import ConfigError
    from .data.check import missing_data_paths
    from .engine import Trainer
    from .train_log import done_line, how_to_resume

    cfg = load_config(args.config, args.set)
    resume = args.resume
    if resume == "auto":
        resume = Path(cfg.train.out_dir) / "last.pt"
        if not resume.is_file():
            raise ConfigError(f"--resume: no {resume} to continue from")
    if args.resume and args.overwrite:
        raise ConfigError("give --resume (continue the run) or --overwrite (start afresh), not both")
    missing_data_paths(cfg.data, ("train", "val", "test"))
    try:
        trainer = Trainer(cfg, resume=resume, max_steps=args.max_steps, device=args.device, overwrite=args.overwrite)
        trainer.fit()
    except KeyboardInterrupt as e:
        raise KeyboardInterrupt(how_to_resume(e, cfg.train.out_dir, args.config, args.set, args.device,
                                              args.max_steps)) from None
    if trainer.is_main:
        print(done_line(trainer.step, trainer.epoch, trainer.step_in_epoch, trainer.out, trainer.best))
    return 0


def _cmd_evaluate(args) -> int:
    from .config import load_config
    from .errors import ConfigError
    from .evaluation import evaluate_checkpoint
    from .metrics import H36M_ACTION_ABBREV, format_table

    cfg = load_config(args.config) if args.config else None
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers must be ≥ 0, got {args.workers}")
    result, _ = evaluate_checkpoint(args.checkpoint, cfg, args.protocol, args.flip, args.out, args.device,
                                    workers=args.workers, detections=args.detections, min_score=args.min_score,
                                    overrides=args.set)
    abbrev = H36M_ACTION_ABBREV if result["protocol"].startswith("h36m") else None
    print(f"{result['protocol']}: {result['metric']} ({result['unit']}), {result['summary']['samples']} samples")
    for k, v in result.get("details", {}).items():
        print(f"  {k}: {v}")
    print(format_table(result["rows"], result["columns"], abbrev))
    print(f"summary ({result['summary']['samples']} samples, 2D error {result['summary']['error_2d_px']:.2f} px):")
    for label, values in result["summary"].items():  # every summary metric of the protocol, per row of the table
        if isinstance(values, dict):
            print(f"  {label}: " + ", ".join(
                f"{k} {v}" if isinstance(v, int) else f"{k} {v:.1f}" + (" %" if k.startswith(("3DPCK", "AUC")) else " mm")
                for k, v in values.items() if isinstance(v, (int, float))))
    return 0


def _cmd_predict(args) -> int:
    from pathlib import Path

    from .errors import InputError
    from .inference import Predictor
    from .predict import (PredictOptions, collect_inputs, default_out_name, model_line, new_folder, recorded_training,
                          run_predict, whole_image_note)

    if sum(bool(x) for x in (args.box, args.detections, args.detector)) > 1:
        raise InputError("give at most one of --box, --detections and --detector")
    if args.checkpoint and args.onnx:
        raise InputError("give --checkpoint (PyTorch) or --onnx (ONNX Runtime), one of them, not both")
    if not args.inputs and not args.camera:
        raise InputError("give images, videos, folders or glob patterns as inputs, or --camera INDEX")
    for opt, v, lo in (("--max-frames", args.max_frames, 1), ("--thickness", args.thickness, 1),
                       ("--radius", args.radius, 0)):
        if v is not None and v < lo:
            raise InputError(f"{opt} must be >= {lo}, got {v}")
    if not (math.isfinite(args.kpt_thr) and 0 <= args.kpt_thr <= 1):
        raise InputError(f"--kpt-thr: expected a confidence in [0, 1], got {args.kpt_thr:g}")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {args.batch_size}")
    for opt, values, ok, want in (
            ("--focal", args.focal or (), lambda v: v > 0, "two focal lengths in pixels > 0"),
            ("--min-score", (args.min_score,), lambda v: 0 <= v <= 1, "a score in [0, 1]"),
            ("--smooth-min-cutoff", (args.smooth_min_cutoff,), lambda v: v > 0, "a cut-off frequency > 0 Hz"),
            ("--smooth-beta", (args.smooth_beta,), lambda v: v >= 0, "a coefficient >= 0"),
            ("--box", [v for b in (args.box or ()) for v in b], lambda v: True, "finite numbers x y w h")):
        if not all(math.isfinite(v) and ok(v) for v in values):
            raise InputError(f"{opt}: expected {want}, got {' '.join(f'{v:g}' for v in values)}")
    if args.root_depth and len(args.root_depth) != len(args.box or ()):
        raise InputError(f"--root-depth: give one per --box ({len(args.box or ())} boxes, {len(args.root_depth)} "
                         "root depths)")
    if not all(math.isfinite(v) and v > 0 for v in args.root_depth or ()):
        raise InputError(f"--root-depth: expected depths in mm > 0, got {' '.join(f'{v:g}' for v in args.root_depth)}")
    collect_inputs(args.inputs, args.camera or ())  # missing inputs fail before the model loads
    image_ids = None
    if args.image_list:
        from .predict import ImageList

        image_ids = ImageList(args.image_list)  # a bad file fails before the model loads
    if args.onnx:
        pred = Predictor.from_onnx(args.onnx, flip=True if args.flip else None, lifting=not args.no_lifting)
    else:
        pred = Predictor.from_checkpoint(args.checkpoint, device=args.device, flip=args.flip,
                                         lifting=not args.no_lifting)
    model = args.checkpoint or args.onnx or pred.source  # no model given: the shipped one
    trained_on = recorded_training(pred, model)
    print(model_line(model, pred, trained_on), flush=True)
    opts = PredictOptions(out=Path(args.out or "."), boxes=args.box, focal=tuple(args.focal) if args.focal else None,
                          batch_size=args.batch_size, images=not args.json_only, viewer=not args.no_viewer,
                          smooth=args.smooth, min_cutoff=args.smooth_min_cutoff, beta=args.smooth_beta,
                          progress=not args.no_progress, overwrite=args.overwrite, cameras=list(args.camera or ()),
                          max_frames=args.max_frames, show=args.show, kpt_thr=args.kpt_thr,
                          thickness=args.thickness, radius=args.radius, root_depths=args.root_depth,
                          image_ids=image_ids, trained_on=trained_on)
    if args.detections:
        from .detection import read_detections

        opts.detections = read_detections(args.detections, args.min_score, args.image_list)
    if args.detector:
        from .detection import PersonDetector

        opts.detector = PersonDetector(pred.device, args.min_score)
    if not args.out:  # made once the model (and detector) loaded: a new folder, never one that was there
        opts.out = new_folder(default_out_name(args.inputs, args.camera or ()))
    print(f"outputs: {opts.out}{os.sep}" + ("" if args.out else " (a new folder; --out DIR chooses another)"),
          flush=True)
    note = whole_image_note(opts)  # said before the run, not after it
    if note:
        print(f"note: {note}", file=sys.stderr, flush=True)
    try:
        res = run_predict(pred, args.inputs, opts, model)
    except BaseException:
        if not args.out:  # the new folder goes again when the run wrote nothing into it
            try:
                opts.out.rmdir()
            except OSError:
                pass
        raise
    rate = res["frames"] / max(res["seconds"], 1e-9)
    print(f"{len(res['outputs'])} inputs, {res['frames']} images/frames in {res['seconds']:.1f} s "
          f"({rate:.1f}/s) → {opts.out}")
    for note in res.get("notes", []):
        print(f"note: {note}", file=sys.stderr)
    for path, msg in res["errors"]:
        print(f"skipped {path}: {msg}", file=sys.stderr)
    for path, msg in res.get("write_errors", []):
        print(f"not written {path}: {msg}", file=sys.stderr)
    return 4 if res.get("write_errors") else (3 if res["errors"] else 0)


def _cmd_data_check(args) -> int:
    from .data.check import check_config, print_reports

    reports = check_config(args.config, args.set)
    ok = print_reports(reports)
    # 2: entries of the YAML file itself are wrong (unknown format, missing key); 1: the data have problems
    return 0 if ok else (2 if any(r.get("bad_entry") for r in reports) else 1)


def _cmd_synth(args) -> int:
    from .data.synth_export import export_rendered, export_synthetic
    from .errors import InputError

    if (args.poses is None) != (args.cameras is None):
        raise InputError("synth: --poses and --cameras go together (the poses and the cameras that see them)")
    if args.poses is None and (args.subjects or args.every):
        raise InputError("synth: --subjects and --every select poses of --poses")
    if args.poses is not None and args.pose_set != "activities":
        raise InputError("synth: --pose-set chooses synthetic poses; --poses renders the file's own")
    style = args.style or ("plain" if args.poses else "full")
    if args.n < 1:
        raise InputError(f"synth: -n must be at least 1 (the number of samples to write), got {args.n}")
    try:
        if args.poses:
            out = export_rendered(args.out, args.poses, args.cameras, args.n, args.subjects, args.every, style,
                                  args.seed, args.sheet, args.overwrite)
        else:
            out = export_synthetic(args.out, args.n, args.split, args.seed, args.sheet, style, args.overwrite,
                                   args.pose_set)
    except FileExistsError as e:  # an earlier export, not replaced unasked
        raise InputError(str(e)) from None
    import json

    n = len(json.loads((out / "annotations.json").read_text())["images"])  # not a count of the folder's files
    print(f"wrote {n} {style}-style samples to {out}: images/, annotations.json, contact_sheet.png")
    return 0


def _one_line(e: BaseException) -> str:
    """The message of ``e`` for the terminal. An exception re-raised from a DataLoader worker carries the worker's
    traceback in its message: keep its last line, the original message."""
    text = str(e)
    if isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
        text = e.args[0]
    if "Original Traceback" in text:
        last = [ln for ln in text.splitlines() if ln.strip()][-1]
        head, _, rest = last.partition(": ")
        text = rest if rest and head.rsplit(".", 1)[-1].endswith("Error") else last
    return text


def main(argv: list[str] | None = None) -> int:
    """Run a command. Exit status: 0 done; 1 the command ran and found a problem (``data check``: the data have
    problems; ``demo``: the target was missed; ``train``: a non-finite loss stopped it); 2 bad input (a missing,
    malformed or foreign file, a bad option or config value, a folder that would be overwritten, a device this
    machine does not have); 3 ``predict``: some inputs could not be read; 4 an output could not be written (disk
    full, permission); 130 interrupted (Ctrl-C: one line saying what was left, for ``train`` the command that
    continues the run). Errors are one line on stderr, without a traceback."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return _run(args)
    except KeyboardInterrupt as e:  # Ctrl-C anywhere; a command's own KeyboardInterrupt says what it left
        detail = e.args[0] if e.args and isinstance(e.args[0], str) and e.args[0] else ""
        sys.stdout.flush()
        print(f"cdlpose {args.command}: interrupted" + (f"; {detail}" if detail else ""), file=sys.stderr, flush=True)
        return 130


def _run(args) -> int:
    if args.command == "demo":
        # before torch loads OpenMP: waiting threads spin briefly, then sleep. With the default (long) spinning,
        # on a laptop whose cores are also busy, threads wait for descheduled ones: measured 4–6 images/s in stage 1
        # with another 2-thread job running; OMP_WAIT_POLICY=PASSIVE gave 42 busy but cost ~25% idle, a short
        # spin keeps both (docs/demo.md: the measured table). It changes no result, only the speed
        if "OMP_WAIT_POLICY" not in os.environ:
            os.environ.setdefault("GOMP_SPINCOUNT", "1000")
    from .checkpoint import describe_os_error
    from .errors import CheckpointError, ConfigError, DataError, InputError, OutputError

    def fail(msg: str, status: int) -> int:
        print(f"cdlpose {args.command}: error: {msg}", file=sys.stderr)
        return status

    if getattr(args, "device", None) is not None:  # before any work
        from .loading import device_problem

        problem = device_problem(args.device)
        if problem:
            return fail(problem, 2)
    try:
        return args.func(args)
    except (InputError, ConfigError, DataError, CheckpointError, FileNotFoundError) as e:
        return fail(_one_line(e), 2)
    except OSError as e:  # OutputError and other failed writes: disk full, permission, read-only
        if not isinstance(e, OutputError) and e.errno is None:
            raise
        msg = _one_line(e) if isinstance(e, OutputError) else f"{e.filename or 'a file'}: {describe_os_error(e)}"
        return fail(msg, 4)
    except Exception as e:
        from .engine import NonFiniteLossError

        text = str(e)
        if isinstance(e, NonFiniteLossError):
            return fail(_one_line(e), 1)
        if "Original Traceback" in text:  # raised in a DataLoader worker
            last = [ln for ln in text.splitlines() if ln.strip()][-1]
            if any(n in last for n in ("DataError", "InputError", "ConfigError", "CheckpointError")):
                return fail(_one_line(e), 2)
        raise
