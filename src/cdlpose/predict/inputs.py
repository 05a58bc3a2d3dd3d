"""Finding a run's inputs (files, folders, glob patterns, cameras) and telling damaged ones."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import cv2

from ..errors import InputError
from .options import IMAGE_EXTS, VIDEO_EXTS

__all__ = ["collect_inputs", "image_damage", "frame_count"]


_GLOB = set("*?[")


def collect_inputs(paths, cameras=()) -> list[tuple[Path, str]]:
    """``(path, 'image'|'video'|'camera')`` for every input: files as given, folders' images and videos
    (recursively, in sorted order), the files a glob pattern matches (``*``, ``?``, ``[…]``; ``**`` recursive),
    and ``camera<N>`` for each camera index. A URL, a path that does not exist or a pattern that matches nothing
    raises :class:`InputError`."""
    items = []
    for raw in map(str, paths):
        if "://" in raw:
            raise InputError(f"{raw}: URLs are not supported as inputs; download the file and give its path")
        p = Path(raw)
        if not p.exists() and _GLOB & set(raw):
            found = sorted(Path(f) for f in glob.glob(raw, recursive=True))
            files = [f for f in found if f.is_file() and f.suffix.lower() in IMAGE_EXTS | VIDEO_EXTS]
            if not files:
                raise InputError(f"no images or videos match the pattern {raw}")
            items += [(f, "video" if f.suffix.lower() in VIDEO_EXTS else "image") for f in files]
        elif p.is_dir():
            for f in sorted(x for x in p.rglob("*") if x.is_file()):
                ext = f.suffix.lower()
                if ext in IMAGE_EXTS:
                    items.append((f, "image"))
                elif ext in VIDEO_EXTS:
                    items.append((f, "video"))
        elif p.is_file():
            items.append((p, "video" if p.suffix.lower() in VIDEO_EXTS else "image"))
        else:
            raise InputError(f"input not found: {p}")
    for c in cameras:
        items.append((Path(f"camera{int(c)}"), "camera"))
    if not items:
        raise InputError(f"no images or videos in {', '.join(map(str, paths))} (image types: "
                         f"{' '.join(sorted(IMAGE_EXTS))}; video types: {' '.join(sorted(VIDEO_EXTS))})")
    return items


def image_damage(path: Path) -> str | None:
    """Why a JPEG or PNG file is incomplete (truncated: OpenCV decodes what is there with at most a warning),
    or ``None``. A JPEG must end with its end-of-image marker FFD9 and a PNG with its IEND chunk; a file that does
    not (some cameras append data after the image) is decoded in full by Pillow to decide."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            fh.seek(0, os.SEEK_END)
            fh.seek(max(fh.tell() - 64, 0))
            tail = fh.read()
    except OSError as e:
        return f"cannot read {path} ({e.strerror or e})"
    if head.startswith(b"\xff\xd8"):
        if tail.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
            return None
    elif head.startswith(b"\x89PNG"):
        if b"IEND" in tail:
            return None
    else:
        return None
    from PIL import Image

    try:
        im = Image.open(path)
    except Exception:  # not an image Pillow knows: OpenCV decoded it, let that stand
        return None
    try:
        with im:
            im.load()
    except Exception as e:  # Pillow raises OSError("image file is truncated …") and others by format
        return f"truncated or damaged image file {path} ({e})"
    return None


def frame_count(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
    cap.release()
    return max(n, 0)
