"""The output folder: unique names per input, which existing files a run would replace that cdlpose did not
write for the same input (judged by :class:`cdlpose.outputs.OutputFolder`'s ledger: what is on disk now), and
checked writes whose failures name the file and the cause."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import cv2
import numpy as np

from ..checkpoint import describe_os_error
from ..errors import OutputError
from ..outputs import COMPLETE, LEDGER, OutputFolder, on_disk_as_recorded, read_ledger
from .options import COCO_IMAGE_IDS, COCO_RESULTS, MANIFEST, PredictOptions

__all__ = ["Names", "RUN", "outputs_for", "conflicts", "legacy_outputs", "own_outputs", "write_output", "input_key",
           "write_failed", "disk_full", "encode_image", "default_out_name", "new_folder", "earlier_predict_outputs"]

RUN = "<cdlpose predict runs>"  # the ledger's source of the combined results files


class Names:
    def __init__(self):
        # NAME.json must not be a combined file (the COCO results, the map of their image ids) nor the folder's
        # ledger or complete marker
        self.used = {Path(f).stem for f in (COCO_RESULTS, COCO_IMAGE_IDS, LEDGER, COMPLETE)}

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


def conflicts(folder: OutputFolder, planned: list[tuple[Path, str, str]], opts: PredictOptions) -> list[Path]:
    """Existing files that ``planned`` outputs would replace and that are not, on disk now, exactly what cdlpose
    wrote there for the same input (the combined files: for a ``predict`` run); a link is always one."""
    bad = folder.foreign((COCO_RESULTS, COCO_IMAGE_IDS), RUN)
    for path, kind, name in planned:
        bad += folder.foreign(outputs_for(opts, name, kind), input_key(path))
    return bad


def legacy_outputs(out: Path) -> set[str]:
    """The files an earlier cdlpose version listed in its ``.cdlpose-predict.jsonl``: no longer trusted as
    cdlpose's (a name is not what is on disk), only kept from being taken as inputs. A link there is not read."""
    path = out / MANIFEST
    names = set()
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return names
        text = path.read_text(errors="replace")
    except OSError:
        return names
    for line in text.splitlines():
        try:
            names.add(str(json.loads(line)["file"]))
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short by a killed run
    return names


def own_outputs(folder: OutputFolder) -> set[str]:
    """The input keys (:func:`input_key`) of every file cdlpose recorded writing into ``folder`` (also those an
    earlier version listed): not taken as inputs when the output folder is inside an input folder."""
    return {input_key(folder.path / n) for n in set(folder.ledger) | legacy_outputs(folder.path)}


def earlier_predict_outputs(paths) -> set[str]:
    """The input keys of those ``paths`` that an earlier ``predict`` run wrote into their folder (recorded in that
    folder's ledger for an input, and on disk as it wrote them): never inputs, wherever ``--out`` is now (a folder
    given as input holds the ``NAME-poses/`` folders of earlier runs with their defaults). Files other commands
    recorded (``synth``'s images: no input named) stay inputs."""
    ledgers, found = {}, set()
    for path in paths:
        folder = Path(path).parent
        if folder not in ledgers:
            ledgers[folder] = read_ledger(folder)
        entry = ledgers[folder].get(Path(path).name)
        if (isinstance(entry, list) and len(entry) > 3 and entry[3] != RUN
                and on_disk_as_recorded(Path(path), entry)):
            found.add(input_key(Path(path)))
    return found


_GLOB_CHARS = set("*?[")


def default_out_name(inputs, cameras=()) -> str:
    """The name of ``predict``'s default output folder: the input's name with ``-poses`` (``photo.jpg`` →
    ``photo-poses``, a folder ``shots/`` → ``shots-poses``, a pattern ``"shots/*.jpg"`` → ``shots-poses``, camera 0
    → ``camera0-poses``); several inputs: the first's and how many more (``photo-and-2-more-poses``)."""
    names = [str(x) for x in inputs] + [f"camera{int(c)}" for c in cameras]
    first = names[0] if names else ""
    if set(first) & _GLOB_CHARS and not Path(first).exists():
        parts = Path(first).parts
        cut = next((i for i, part in enumerate(parts) if set(part) & _GLOB_CHARS), len(parts))
        first = str(Path(*parts[:cut])) if cut else ""
    p = Path(first) if first else None
    if p is None:
        base = ""
    elif p.is_dir():
        base = p.resolve().name  # "." and ".." name the folder
    else:
        base = p.stem if p.suffix else p.name
    base = "".join(c if c.isprintable() and c not in "/\\:" else "_" for c in base).lstrip(".- ")
    if not base:
        return "cdlpose-predict"
    more = len(names) - 1
    return f"{base}-and-{more}-more-poses" if more else f"{base}-poses"


def new_folder(name: str, parent: Path | None = None) -> Path:
    """A new, empty folder ``name`` in ``parent`` (default: the current one), or ``name-2``, ``name-3`` … when that
    exists: created here (``mkdir`` without ``exist_ok``), so that it is never one that was already there, even
    when another run picks the same name at the same time."""
    parent = Path(".") if parent is None else Path(parent)
    k = 1
    while True:
        path = parent / (name if k == 1 else f"{name}-{k}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            k += 1
        except OSError as e:
            raise write_failed(path, e) from None


def write_output(folder: OutputFolder, name: str, data: bytes, source) -> Path:
    """Write ``name`` into the output folder for the input ``source`` (a path, or :data:`RUN`), atomically through
    a new temporary file, and record it in the folder's ledger (saved when due, and at the end of the run)."""
    key = source if isinstance(source, str) else input_key(source)
    target = folder.write_bytes(name, data, save=False, source=key)
    folder.save(due_only=True)
    return target


def input_key(path: Path) -> str:
    return os.path.normcase(os.path.abspath(path))


def write_failed(path: Path, e: OSError) -> OutputError:
    if isinstance(e, OutputError):
        return e
    return OutputError(e.errno, f"cannot write {path}: {describe_os_error(e)}")


def disk_full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def encode_image(path: Path, img_rgb: np.ndarray, params=()) -> bytes:
    """The image encoded in memory as ``path``'s type (written then through :func:`write_output`, whose failures
    raise :class:`OutputError` with the cause; ``cv2.imwrite`` would only return False)."""
    ok, buf = cv2.imencode(path.suffix, np.ascontiguousarray(img_rgb[..., ::-1]), list(params))
    if not ok:
        raise OutputError(f"cannot write {path}: OpenCV cannot encode {path.suffix} images")
    return buf.tobytes()
