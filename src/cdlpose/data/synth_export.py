"""Write a browsable sample of a rendered data set (synthetic people, or given poses rendered from their cameras):
images, one JSON of annotations, a contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from ..checkpoint import describe_os_error
from ..errors import OutputError
from ..geometry import apply_affine
from ..outputs import OutputFolder
from ..vis import contact_sheet, draw_skeleton
from .rendered import RenderedPoses
from .synthetic import SyntheticHumans

_UNITS = {"joints_2d": "frame pixels", "joints_3d": "camera mm", "box": "frame pixels (x, y, w, h)"}


def _export(ds, indices, out: str | Path, meta: dict, sheet: int, overwrite: bool) -> Path:
    """Items ``indices`` of ``ds`` into ``out``: ``images/NNNNNN.jpg``, ``annotations.json`` (``meta`` and per image
    every field of the record but the image) and ``contact_sheet.png``, under the output-folder policy of
    :mod:`cdlpose.outputs`: the folder is locked for the run; an earlier export there, or any file in the way that
    cdlpose did not write, is not replaced unless ``overwrite``; ``annotations.json`` (and the folder's complete
    marker) is removed before the first image is written and written after the last, so a killed run never looks
    complete; images an earlier, larger export of cdlpose's left behind are removed. A write that fails raises
    :class:`~cdlpose.errors.OutputError` naming the file."""
    if len(indices) < 1:
        raise ValueError(f"synth: the number of samples must be at least 1, got {len(indices)}")
    names = [f"images/{k:06d}.jpg" for k in range(len(indices))]
    with OutputFolder(out, "synth") as folder:
        out = folder.path
        if not overwrite:
            if (out / "annotations.json").exists() or (out / "annotations.json").is_symlink():
                raise FileExistsError(f"{out} already holds an export (annotations.json); choose another --out or "
                                      "pass --overwrite")
            folder.refuse_foreign(names + ["contact_sheet.png"], overwrite, "synth --out")
        if getattr(ds, "style", None) == "realistic":
            # the body before the bar (the first time on a machine Anny builds its cache, minutes, and says so in
            # one line), so that the bar's rate and ETA count images only; before the folder is touched
            from .realistic import person_state

            person_state()
        folder.start()
        try:
            (out / "annotations.json").unlink()  # the old annotations must not describe the new images
        except FileNotFoundError:
            pass
        except OSError as e:
            raise OutputError(f"cannot remove {out / 'annotations.json'}: {describe_os_error(e)}") from None
        # a smaller export over a larger one of cdlpose's: its extra images go (a user's files stay)
        planned = set(names)
        for old in sorted(n for n in folder.ledger if n.startswith("images/") and n not in planned):
            folder.remove_own(old)
        records, tiles, labels = [], [], []
        for k, i in enumerate(tqdm(indices, desc="synth", unit="img")):
            s = ds[int(i)]
            name = names[k]
            ok, buf = cv2.imencode(".jpg", cv2.cvtColor(s["image"], cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
            if not ok:
                raise OutputError(f"cannot write {out / name}: OpenCV could not encode the image")
            folder.write_bytes(name, buf.tobytes(), save=(k + 1) % 64 == 0)
            rec = {"file_name": name}
            for key, v in s.items():
                if key != "image":
                    rec[key] = v.tolist() if isinstance(v, np.ndarray) else v
            records.append(rec)
            if k < sheet:
                uv = apply_affine(s["frame_to_image"], s["joints_2d"])
                tiles.append(draw_skeleton(s["image"], uv, s["skeleton"]))
                labels.append(s["action"] if "camera" not in s else f"{s['subject']} {s['action']} {s['camera'][-4:]}")
        if tiles:
            img = contact_sheet(tiles, columns=8, tile=128, labels=labels)
            ok, buf = cv2.imencode(".png", cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            if ok:
                folder.write_bytes("contact_sheet.png", buf.tobytes())
        folder.write_text("annotations.json", json.dumps({**meta, "skeleton": "h36m17", "units": _UNITS,
                                                          "images": records}))
        folder.finish({"images": len(records)})
    return out


def export_synthetic(out: str | Path, n: int, split: str = "train", seed: int = 0, sheet: int = 64,
                     style: str = "full", overwrite: bool = False, pose_set: str = "activities") -> Path:
    """Render ``n`` samples of ``split`` into ``out``: ``images/NNNNNN.jpg`` (the 256×256 crops),
    ``annotations.json`` (per image: frame-level 2D joints, camera-space 3D joints in mm, intrinsics, box, the
    frame→image affine, validity and visibility, subject and activity) and ``contact_sheet.png``. ``style``: the
    images' style (``full`` or ``plain``, see :mod:`cdlpose.data.synthetic`); ``pose_set``: its
    :data:`~cdlpose.data.synthetic.POSE_SETS` entry."""
    ds = SyntheticHumans(split, n, seed, style=style, pose_set=pose_set)
    meta = {"dataset": "cdlpose synthetic", "split": split, "seed": seed, "style": style, "pose_set": pose_set}
    return _export(ds, range(n), out, meta, sheet, overwrite)


def export_rendered(out: str | Path, poses: str | Path, cameras: str | Path, n: int, subjects=None,
                    every: int | None = None, style: str = "plain", seed: int = 0, sheet: int = 64,
                    overwrite: bool = False) -> Path:
    """Render ``n`` samples of given poses (:class:`cdlpose.data.rendered.RenderedPoses`), spread evenly over the
    selected subjects' sequences, frames and cameras, into ``out`` (the layout of :func:`export_synthetic`; each
    record also names its ``sequence``, 50 Hz ``frame`` and ``camera``)."""
    ds = RenderedPoses(poses, cameras, subjects, every, style, seed)
    idx = np.unique(np.linspace(0, len(ds) - 1, min(n, len(ds))).round().astype(int))
    meta = {"dataset": "cdlpose rendered poses", "poses": str(poses), "cameras": str(cameras),
            "subjects": list(ds.subjects), "every": ds.every, "seed": seed, "style": style,
            "samples_in_selection": len(ds)}
    return _export(ds, idx, out, meta, sheet, overwrite)
