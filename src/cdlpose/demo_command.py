"""``cdlpose demo`` on the command line: its options checked, the quick mode's sizes and pass line, and where the
rendered images' cache is, how big, and whether it stays (``--keep-cache``, the default, or ``--clean``)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["QUICK", "demo_command"]

#: ``--quick``: every phase scaled — fewer training and test images to render, fewer steps in every stage — for a
#: run of ≤ 3 minutes on an idle 2-core CPU, and a pass line set for what that much work reaches (measured, with
#: the machine and its load, in docs/demo.md). Options given with --quick override these.
QUICK = {"steps": 500, "train_size": 1200, "test_size": 100, "min_ratio": 1.5}


def demo_command(args) -> int:
    """``cdlpose demo``: its options checked, the demo run; exit status 0 when it passed, 1 when not."""
    from .demo import run_demo
    from .errors import ConfigError

    quick = QUICK if args.quick else {}
    steps = args.steps if args.steps is not None else quick.get("steps")
    train_size = args.train_size if args.train_size is not None else quick.get("train_size")
    test_size = args.test_size if args.test_size is not None else quick.get("test_size", 200)
    min_ratio = args.min_ratio if args.min_ratio is not None else quick.get("min_ratio")
    # stage 2 takes batches of 64 cached estimates of one pass over the training images
    for name, value, least in (("--steps", steps, 1), ("--train-size", train_size, 64), ("--test-size", test_size, 1)):
        if value is not None and value < least:
            raise ConfigError(f"{name} must be at least {least}, got {value}")
    kw = {k: v for k, v in (("steps", steps), ("min_ratio", min_ratio)) if v is not None}
    cache = Path(args.out) / "synthetic-cache"
    try:
        report = run_demo(args.out, train_size=train_size, test_size=test_size, seed=args.seed,
                          style=args.style, overwrite=args.overwrite, clean=args.clean, **kw)
    except KeyboardInterrupt:
        raise KeyboardInterrupt("no report was written; run the same command with --overwrite to start over "
                                f"(the images rendered into {cache} are reused)") from None
    c = report["cache"]  # also in report.json and index.html
    if c["kept"]:
        print(f"image cache: {c['path']}, {c['bytes'] / 1e6:.0f} MB, kept: a later demo in {args.out} reuses it; "
              f"remove it with rm -r {c['path']} (or run with --clean)")
    else:
        print(f"image cache: {c['path']} ({c['bytes'] / 1e6:.0f} MB) removed (--clean); a later demo renders its "
              "images again")
    return 0 if report["passed"] else 1
