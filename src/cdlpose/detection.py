"""Person boxes for top-down inference: COCO-format detection files and torchvision's Faster R-CNN.

A detection file is what COCO-style detectors write: a JSON list ``[{"image_id" | "file_name", "bbox": [x, y, w, h],
"score", "category_id"?}]``, or a COCO dict with ``images`` (``id`` → ``file_name``) and ``annotations`` in that
form. An entry names its image by ``file_name`` (a path, matched by its trailing components, or a bare name) or by
``image_id``, which is matched against the ``images`` table, an input's file stem, or — for a video — the frame
index (``"frame"`` may also be given next to a video's ``file_name``).
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from .inference import InputError

__all__ = ["Detections", "PersonDetector", "read_detections"]

COCO_PERSON = 1


class Detections:
    """Boxes by image: :meth:`boxes_for` an image path (and frame index for videos)."""

    def __init__(self, by_name: dict, by_id: dict, source: str):
        self.by_name, self.by_id, self.source = by_name, by_id, source

    def boxes_for(self, path: str | Path, frame: int | None = None) -> list:
        """The ``[x, y, w, h]`` boxes of ``path`` (frame ``frame`` of a video), best score first."""
        p = Path(path)
        found = []
        for key in (p.as_posix(), p.name, "/".join(p.parts[-2:])):
            if frame is None and key in self.by_name:
                found = self.by_name[key]
                break
            if frame is not None and (key, frame) in self.by_name:
                found = self.by_name[(key, frame)]
                break
        if not found:
            for key in ((p.stem,) if frame is None else (frame, str(frame))):
                if key in self.by_id:
                    found = self.by_id[key]
                    break
        return [b for _, b in sorted(found, key=lambda sb: -sb[0])]


def read_detections(path: str | Path, min_score: float = 0.0) -> Detections:
    """Read a COCO-format detection file (see the module); keeps person boxes (category 1 when a category is
    given) with ``score >= min_score``. Bad entries raise :class:`InputError` naming the file, entry and field."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: detection file not found")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a JSON detection file ({e})") from None
    names = {}
    if isinstance(data, dict):
        names = {im.get("id"): im.get("file_name") for im in data.get("images", []) if isinstance(im, dict)}
        data = data.get("annotations")
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of detections [{{'image_id' or 'file_name', 'bbox', 'score'}}] "
                         "or a COCO dict with 'annotations'")
    by_name, by_id = defaultdict(list), defaultdict(list)
    for i, d in enumerate(data):
        where = f"{path}: entry {i}"
        if not isinstance(d, dict):
            raise InputError(f"{where}: expected an object with 'bbox' and 'image_id' or 'file_name'")
        bbox = d.get("bbox")
        try:
            b = np.asarray(bbox, np.float64).reshape(-1)
        except (TypeError, ValueError):
            b = np.zeros(0)
        if b.shape != (4,) or not np.isfinite(b).all():
            raise InputError(f"{where}: field 'bbox' must be 4 finite numbers [x, y, w, h], got {bbox!r}")
        score = float(d.get("score", 1.0))
        if d.get("category_id", COCO_PERSON) != COCO_PERSON or score < min_score:
            continue
        name = d.get("file_name") or names.get(d.get("image_id"))
        item = (score, b.tolist())
        if name is not None:
            key = Path(name).as_posix()
            frame = d.get("frame")
            for k in {key, Path(key).name, "/".join(Path(key).parts[-2:])}:
                by_name[k if frame is None else (k, int(frame))].append(item)
        elif "image_id" in d:
            for k in {d["image_id"], str(d["image_id"])}:  # 7 and "7" both match
                by_id[k].append(item)
        else:
            raise InputError(f"{where}: needs 'image_id' or 'file_name' to name its image")
    return Detections(dict(by_name), dict(by_id), str(path))


class PersonDetector:
    """Person boxes from torchvision's Faster R-CNN (ResNet-50 FPN, COCO weights).

    The weights come from torchvision's cache (``$TORCH_HOME/hub/checkpoints``); offline without them, creating the
    detector raises :class:`InputError` that says how to get them.
    """

    def __init__(self, device="cpu", min_score: float = 0.7):
        import torch
        from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights, fasterrcnn_resnet50_fpn

        weights = FasterRCNN_ResNet50_FPN_Weights.COCO_V1
        try:
            model = fasterrcnn_resnet50_fpn(weights=weights, weights_backbone=None)
        except Exception as e:  # no network and no cached file: urllib/OSError/RuntimeError by torch version
            cache = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
            raise InputError(
                f"--detector: cannot load torchvision's Faster R-CNN COCO weights ({type(e).__name__}: {e}). "
                f"On a machine with internet access run\n  python -c \"import torchvision; "
                f"torchvision.models.detection.fasterrcnn_resnet50_fpn(weights='COCO_V1')\"\n"
                f"and copy {weights.url.rsplit('/', 1)[-1]} to {cache} here (or set TORCH_HOME), "
                f"or give boxes with --detections FILE or --box x y w h instead.") from None
        self.model = model.to(device).eval()
        self.device = device
        self.min_score = min_score

    def __call__(self, images: list[np.ndarray]) -> list[list]:
        """Per RGB uint8 image, the ``[x, y, w, h]`` person boxes with score ≥ ``min_score``, best first."""
        import torch

        x = [torch.from_numpy(im).permute(2, 0, 1).float().div(255).to(self.device) for im in images]
        with torch.no_grad():
            outs = self.model(x)
        res = []
        for o in outs:
            keep = (o["labels"] == COCO_PERSON) & (o["scores"] >= self.min_score)
            b = o["boxes"][keep].cpu().numpy()
            res.append([[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in b])
        return res
