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
    p.set_defaults(func=_cmd_demo)
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

    report = run_demo(args.out, minutes=args.minutes, train_size=args.train_size, seed=args.seed)
    return 0 if report["passed"] else 1


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
    return args.func(args)
