"""``cdlpose data check CONFIG``: read every data set a YAML file lists and report all problems at once.

The file has a ``datasets`` list; each entry names a ``format`` and its paths::

    datasets:
      - {format: h36m-moon, root: data/Human36M, subjects: [S1, S5, S6, S7, S8]}
      - {format: h36m-mmpose, annotations: data/h36m/train.npz, cameras: data/h36m/cameras.pkl}
      - {format: mpii, annotations: data/mpii/train.json, images: data/mpii/images}
      - {format: coco, annotations: data/coco/person_keypoints_train2017.json, images: data/coco/train2017}
      - {format: muco, annotations: data/MuCo/MuCo-3DHP.json, images: data/MuCo}
      - {format: mupots, annotations: data/MuPoTS/MuPoTS-3D.json, images: data/MuPoTS}

Relative paths are relative to the YAML file.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from . import readers
from .sample import DataError

_FORMATS = {
    "h36m-moon": (("root",), lambda e: readers.read_h36m_moon(e["root"], e.get("subjects", ("S1",)), e.get("every", 1), validate=False)),
    "h36m-mmpose": (("annotations", "cameras"), lambda e: readers.read_h36m_mmpose(
        e["annotations"], e["cameras"], e.get("images"), e.get("subjects"), e.get("every", 1), validate=False)),
    "mpii": (("annotations",), lambda e: readers.read_mpii(e["annotations"], e.get("images"), validate=False)),
    "coco": (("annotations",), lambda e: readers.read_coco(e["annotations"], e.get("images"), validate=False)),
    "muco": (("annotations",), lambda e: readers.read_muco(e["annotations"], e.get("images"), validate=False)),
    "mupots": (("annotations",), lambda e: readers.read_mupots(e["annotations"], e.get("images"), validate=False)),
}


def check_config(path: str | Path) -> list[dict]:
    """Read every data set of the YAML file at ``path``; one report per entry (see :func:`readers.check_records`),
    with ``fatal`` set where the annotations could not be read at all."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data config not found: {path}")
    spec = yaml.safe_load(path.read_text()) or {}
    entries = spec.get("datasets")
    if not isinstance(entries, list) or not entries:
        raise DataError(str(path), "-", "datasets", "expected a non-empty list of data set entries")
    reports = []
    for k, e in enumerate(entries):
        fmt = e.get("format")
        if fmt not in _FORMATS:
            raise DataError(str(path), f"datasets[{k}]", "format", f"expected one of {', '.join(_FORMATS)}, got {fmt!r}")
        needed, read = _FORMATS[fmt]
        for field in needed:
            if field not in e:
                raise DataError(str(path), f"datasets[{k}] ({fmt})", field, "missing")
        e = {key: (str(path.parent / v) if key in ("root", "annotations", "cameras", "images") else v)
             for key, v in e.items()}
        name = f"datasets[{k}] ({fmt})"
        try:
            report = readers.check_records(read(e), name)
        except (DataError, FileNotFoundError, ValueError) as err:
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
