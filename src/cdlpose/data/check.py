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
:mod:`cdlpose.data.datasets`; its ``base:`` file merged in) is accepted as well. Synthetic entries are generated, so there is nothing to check.
"""

from __future__ import annotations

from pathlib import Path

from ..config_files import read_config_file
from ..errors import ConfigError
from . import readers
from .datasets import RENDERED_FORMATS, read_entry, resolve_entry
from .sample import DataError


def apply_data_overrides(data: dict, overrides, where: str) -> dict:
    """``--set data.root=/datasets data.datasets.1.subjects=[S9]`` on a config's raw ``data`` mapping (values are
    YAML; a number after a list's key picks an entry). Only ``data.*`` keys: data check reads nothing else."""
    import copy

    import yaml

    data = copy.deepcopy(data)
    for item in overrides or ():
        key, eq, raw = item.partition("=")
        parts = key.strip().split(".")
        if not eq or len(parts) < 2 or parts[0] != "data" or not all(parts):
            raise ConfigError(f"--set {item!r}: data check takes data.KEY=VALUE overrides (e.g. data.root=/datasets, "
                              f"data.datasets.0.subjects=[S9]); {where} reads nothing else")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {item!r}: the value is not valid YAML ({e})") from None
        cur = data
        for k, p in enumerate(parts[1:-1], 1):
            if isinstance(cur, list):
                if not p.isdigit() or int(p) >= len(cur):
                    raise ConfigError(f"--set {item!r}: {'.'.join(parts[:k])} has {len(cur)} entries "
                                      f"(0 … {len(cur) - 1})")
                cur = cur[int(p)]
            else:
                cur = cur.setdefault(p, {})
            if not isinstance(cur, (dict, list)):
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:k + 1])} is not a mapping or a list")
        last = parts[-1]
        if isinstance(cur, list):
            if not last.isdigit() or int(last) >= len(cur):
                raise ConfigError(f"--set {item!r}: {'.'.join(parts[:-1])} has {len(cur)} entries")
            cur[int(last)] = value
        else:
            cur[last] = value
    return data


def check_config(path: str | Path, overrides=()) -> list[dict]:
    """Read every data set of the YAML file at ``path``; one report per entry (see :func:`readers.check_records`),
    with ``fatal`` set where the annotations could not be read at all.

    The file is either a data list (top-level ``datasets``, paths relative to the file) or a training config
    (``data.datasets``, paths relative to ``data.root`` or the working directory). ``overrides`` are ``--set``'s
    ``data.KEY=VALUE`` items, applied to the config's ``data`` section (a data list is its ``datasets`` with the
    file's folder as ``root``: ``data.root=DIR`` reads it from DIR instead)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data config not found: {path}")
    spec = read_config_file(path)  # a training config's ``base:`` file merged in
    if isinstance(spec.get("data"), dict):
        data = apply_data_overrides(spec["data"], overrides, "a training config's data section")
        entries, root = data.get("datasets"), data.get("root")
        base = Path(root) if root else None
    else:
        data = apply_data_overrides({"datasets": spec.get("datasets"), "root": None}, overrides, "a data list")
        entries, root = data.get("datasets"), data.get("root")
        base = Path(root) if root else path.parent
    if not isinstance(entries, list) or not entries:
        raise DataError(str(path), "-", "datasets", "expected a non-empty list of data set entries")
    reports = []
    for k, raw in enumerate(entries):
        try:
            e = resolve_entry(raw, base, f"{path}: datasets[{k}]")
        except DataError as err:  # the YAML entry itself is wrong: report it with the others
            fmt = raw.get("format") if isinstance(raw, dict) else None
            reports.append({"name": f"datasets[{k}] ({fmt})", "records": 0, "errors": [str(err)],
                            "missing_images": [], "fatal": True, "bad_entry": True})
            continue
        name = f"datasets[{k}] ({e['format']}, {e['role']})"
        try:
            # bad records are collected, not raised: every problem of every file at once
            with readers.collecting_problems() as problems:
                records = read_entry(e, validate=False)
            if e["format"] in RENDERED_FORMATS:  # read and checked when built; images made on demand
                report = {"records": len(records), "errors": [], "missing_images": []}
            else:
                report = readers.check_records(records, _source(e))
            report["errors"] = problems + report["errors"]
            report["records"] += len(problems)
        except (DataError, FileNotFoundError, ValueError, KeyError) as err:
            report = {"records": 0, "errors": [_named(err, e)], "missing_images": [], "fatal": True}
        report["name"] = name
        reports.append(report)
    return reports


def _source(entry: dict) -> str:
    """The file an entry's records come from (the messages of :func:`readers.check_records` name it)."""
    if entry.get("annotations"):
        return str(entry["annotations"])
    if entry["format"] == "h36m-moon":
        return str(Path(entry["root"]) / "annotations")
    return str(entry.get("root", entry["format"]))


def _named(err: Exception, entry: dict) -> str:
    """An error's message that names a file (a KeyError's alone names only the key)."""
    if isinstance(err, KeyError):
        return f"{_source(entry)}: record -: field {err}: missing"
    return str(err)


def _entry_paths(entry: dict) -> list[tuple[str, Path]]:
    """(what, path) of every file or folder a resolved entry's reader opens."""
    fmt, out = entry["format"], []
    if fmt == "synthetic":
        return out
    if fmt == "rendered-poses":
        return [("poses", Path(entry["poses"])), ("cameras", Path(entry["cameras"]))]
    if fmt == "h36m-moon":
        root = Path(entry["root"])
        out.append(("root", root))
        for subject in entry.get("subjects", ("S1",)):
            n = str(subject).lstrip("S")
            for part in ("data", "camera", "joint_3d"):
                out.append((f"root (subject {subject})", root / "annotations" / f"Human36M_subject{n}_{part}.json"))
    for key in ("annotations", "cameras", "images"):
        if entry.get(key):
            out.append((key, Path(entry[key])))
    return out


def missing_data_paths(data, roles=("train", "val", "test")) -> None:
    """Raise one :class:`cdlpose.errors.ConfigError` listing every missing file or folder of the ``data`` section's
    entries with one of ``roles`` (before a run starts, not the first one a reader meets)."""
    base = Path(data.root) if data.root else None
    missing = []
    for k, raw in enumerate(data.datasets):
        try:
            e = resolve_entry(raw, base, f"data.datasets[{k}]")
        except DataError as err:
            raise ConfigError(str(err)) from None
        if e["role"] not in roles:
            continue
        missing += [f"data.datasets[{k}].{what}: {p}" for what, p in _entry_paths(e) if not p.exists()]
    if missing:
        # one short line: the first missing path, how many more, and the fix (``cdlpose data check`` lists all)
        more = f", and {len(missing) - 1} more data path{'s' if len(missing) > 2 else ''}" if len(missing) > 1 else ""
        where = (f"relative to data.root {data.root}" if data.root else
                 "relative paths start from the working directory")
        raise ConfigError(f"{len(missing)} data path{'s' if len(missing) > 1 else ''} not found: {missing[0]}{more} "
                          f"({where}); point data.root at the folder holding the data sets (--set "
                          "data.root=/path/to/data) or fix the paths; 'cdlpose data check CONFIG' lists every one")


def check_val_disjoint(data) -> None:
    """Refuse a ``val`` entry that reads the same data as a ``test`` entry (same format and files, and for
    Human3.6M or rendered poses an overlapping subject): validation selects ``best.pt``, and selecting on test data
    is not allowed."""
    def ident(e):
        return (e.get("format"),) + tuple(str(e.get(k)) for k in ("root", "annotations", "poses", "split", "seed"))

    entries = [e for e in data.datasets if isinstance(e, dict)]
    tests = [e for e in entries if e.get("role") == "test"]
    for v in entries:
        if v.get("role") != "val":
            continue
        for t in tests:
            if ident(v) != ident(t):
                continue
            sv, st = v.get("subjects"), t.get("subjects")
            if sv is None or st is None or set(map(str, sv)) & set(map(str, st)):
                raise ConfigError(f"data.datasets: the 'val' entry {v} reads the test data of {t}; validation "
                                  "selects best.pt and must use data disjoint from the test set (e.g. other "
                                  "subjects, or a slice of the training subjects' frames)")


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
