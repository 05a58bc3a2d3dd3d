"""The output folder: unique names per input, the manifest of what cdlpose wrote for which input, and checked
writes whose failures name the file and the cause."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import cv2
import numpy as np

from ..checkpoint import describe_os_error, write_bytes_atomic
from ..errors import OutputError
from .options import COCO_IMAGE_IDS, COCO_RESULTS, MANIFEST, PredictOptions

__all__ = ["Names", "Manifest", "RUN", "outputs_for", "input_key", "write_failed", "disk_full", "write_image"]

RUN = "<cdlpose predict runs>"  # the manifest's input for the combined results file


class Names:
    def __init__(self):
        # NAME.json must not be a combined file (the COCO results, the map of their image ids)
        self.used = {Path(COCO_RESULTS).stem, Path(COCO_IMAGE_IDS).stem}

    def __call__(self, path: Path) -> str:
        base = name = path.stem
        k = 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return name


def outputs_for(opts: PredictOptions, name: str, kind: str) -> list[str]:
    """The files written for an input called ``name``."""
    files = [f"{name}.json"]
    if opts.images:
        files += [f"{name}_2d.jpg", f"{name}_3d.png"] if kind == "image" else [f"{name}.mp4"]  # video, camera
    if opts.viewer:
        files.append(f"{name}.html")
    return files


class Manifest:
    """What cdlpose wrote into the output folder, for which input (``.cdlpose-predict.jsonl``)."""

    def __init__(self, out: Path):
        self.path = out / MANIFEST
        self.owner: dict[str, str] = {}
        if self.path.is_file():
            for line in self.path.read_text(errors="replace").splitlines():
                try:
                    rec = json.loads(line)
                    self.owner[str(rec["file"])] = str(rec["input"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a killed run

    def conflicts(self, out: Path, planned: list[tuple[Path, str, str]], opts: PredictOptions) -> list[Path]:
        """Existing outputs that cdlpose did not write for the same input (the combined files: that no cdlpose
        run wrote)."""
        bad = []
        for f in (COCO_RESULTS, COCO_IMAGE_IDS):
            target = out / f
            if (target.exists() or target.is_symlink()) and not (target.is_file() and self.owner.get(f) == RUN):
                bad.append(target)
        for path, kind, name in planned:
            for f in outputs_for(opts, name, kind):
                target = out / f
                if (target.exists() or target.is_symlink()) and not (
                        target.is_file() and self.owner.get(f) == input_key(path)):
                    bad.append(target)
        return bad

    def record(self, file: Path, source: Path) -> None:
        """Note ``file`` as written for ``source`` (before it is written: a run killed in between leaves a file
        the next run may replace, never one it refuses)."""
        key = source if isinstance(source, str) else input_key(source)
        line = json.dumps({"file": file.name, "input": key}) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
        except OSError as e:
            raise write_failed(self.path, e) from None
        self.owner[file.name] = key

    def written(self, out: Path) -> set[str]:
        return {os.path.normcase(os.path.abspath(out / f)) for f in self.owner}

    def inputs(self) -> set[str]:
        return set(self.owner.values())


def input_key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def write_failed(path: Path, e: OSError) -> OutputError:
    if isinstance(e, OutputError):
        return e
    return OutputError(e.errno, f"cannot write {path}: {describe_os_error(e)}")


def disk_full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def write_image(path: Path, img_rgb: np.ndarray, params=()) -> None:
    """Encode in memory, then write atomically: a failed write raises :class:`OutputError` with the cause
    (``cv2.imwrite`` would only return False)."""
    ok, buf = cv2.imencode(path.suffix, np.ascontiguousarray(img_rgb[..., ::-1]), list(params))
    if not ok:
        raise OutputError(f"cannot write {path}: OpenCV cannot encode {path.suffix} images")
    write_bytes_atomic(path, buf.tobytes())
