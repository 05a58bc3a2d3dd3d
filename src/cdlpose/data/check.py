"""``cdlpose data check CONFIG``: read every data set a YAML file lists and report all problems at once.

The file has a ``datasets`` list; each entry names a ``format`` and its paths::

    datasets:
      - {format: h36m-moon, root: data/Human36M, subjects: [S1, S5, S6, S7, S8]}
      - {format: h36m-mmpose, annotations: data/h36m/train.npz, cameras: data/h36m/cameras.pkl}
      - {format: mpii, annotations: data/mpii/train.json, images: data/mpii/images}
      - {format: coco, annotations: data/coco/person_keypoints_train2017.json, images: data/coco/train2017}
      - {format: muco, annotations: data/MuCo/MuCo-3DHP.json, images: data/MuCo}
      - {format: mupots, annotations: data/MuPoTS/MuPoTS-3D.json, images: data/MuPoTS}

Relative paths are relative to the YAML file. A training config (``data.datasets``, see
:mod:`cdlpose.data.datasets`) is accepted as well. Synthetic entries are generated, so there is nothing to check.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import readers
from .datasets import read_entry, resolve_entry
from .sample import DataError


def check_config(path: str | Path) -> list[dict]:
    """Read every data set of the YAML file at ``path``; one report per entry (see :func:`readers.check_records`),
    with ``fatal`` set where the annotations could not be read at all.

    The file is either a data list (top-level ``datasets``, paths relative to the file) or a training config
    (``data.datasets``, paths relative to ``data.root`` or the working directory)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data config not found: {path}")
    spec = yaml.safe_load(path.read_text()) or {}
    if isinstance(spec.get("data"), dict):
        entries, root = spec["data"].get("datasets"), spec["data"].get("root")
        base = Path(root) if root else None
    else:
        entries, base = spec.get("datasets"), path.parent
    if not isinstance(entries, list) or not entries:
        raise DataError(str(path), "-", "datasets", "expected a non-empty list of data set entries")
    reports = []
    for k, raw in enumerate(entries):
        e = resolve_entry(raw, base, f"{path}: datasets[{k}]")
        name = f"datasets[{k}] ({e['format']}, {e['role']})"
        try:
            records = read_entry(e, validate=False)
            if e["format"] == "synthetic":
                report = {"records": len(records), "errors": [], "missing_images": []}
            else:
                report = readers.check_records(records, name)
        except (DataError, FileNotFoundError, ValueError, KeyError) as err:
            report = {"records": 0, "errors": [str(err)], "missing_images": [], "fatal": True}
        report["name"] = name
        reports.append(report)
    return reports


def print_reports(reports: list[dict], limit: int = 10) -> bool:
    """Print a summary; True when every data set is clean."""
    ok = True
    for r in reports:
        problems = len(r["errors"]) + len(r["missing_images"])
        ok &= problems == 0
        status = "ok" if problems == 0 else f"{len(r['errors'])} bad records, {len(r['missing_images'])} missing images"
        print(f"{r['name']}: {r['records']} records: {status}")
        for msg in r["errors"][:limit]:
            print(f"  error: {msg}")
        for p in r["missing_images"][:limit]:
            print(f"  missing image: {p}")
        hidden = max(len(r["errors"]) - limit, 0) + max(len(r["missing_images"]) - limit, 0)
        if hidden:
            print(f"  … and {hidden} more")
    return ok
