"""The ``cdlpose`` command line: a thin layer over the library."""

from __future__ import annotations

import argparse
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
    return parser


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
