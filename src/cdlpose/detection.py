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

from .errors import InputError, lacks_torchvision, needs_torchvision

__all__ = ["Detections", "PersonDetector", "read_detections"]

COCO_PERSON = 1


class Detections:
    """Boxes by image: :meth:`boxes_for` an image path (and frame index for videos). Remembers which images of
    the file were asked for, so that :meth:`unmatched` can list the file's images that matched no input."""

    def __init__(self, by_name: dict, by_id: dict, source: str, labels: dict | None = None):
        self.by_name, self.by_id, self.source = by_name, by_id, source
        # ("name", key) / ("id", key) → the image as the file names it (one image is stored under several keys)
        self.labels = labels if labels is not None else {**{("name", k): str(k) for k in by_name},
                                                        **{("id", str(k)): f"image_id {k}" for k in by_id}}
        self.used: set = set()  # keys of labels that matched an input

    def boxes_for(self, path: str | Path, frame: int | None = None) -> list:
        """The ``[x, y, w, h]`` boxes of ``path`` (frame ``frame`` of a video), best score first. An image is
        found by its path's trailing components or name, or — by ``image_id`` — by its file stem, also COCO's
        zero-padded number (``000000000785.jpg`` is image 785); a video's frame by its index."""
        return [b for _, b in self.scored_for(path, frame)]

    def scored_for(self, path: str | Path, frame: int | None = None) -> list:
        """``(score, box)`` pairs of ``path`` (see :meth:`boxes_for`), best score first."""
        p = Path(path)
        # the path as given, then its trailing components from the most to the fewest: ``cam1/0001.jpg`` is
        # found under ``cam1/0001.jpg`` before ``0001.jpg`` (a name that several files of the detections share
        # is not a key at all, see read_detections)
        tails = ["/".join(p.parts[-n:]) for n in range(len(p.parts), 0, -1)]
        for key in dict.fromkeys([p.as_posix()] + tails):
            k = key if frame is None else (key, frame)
            if k in self.by_name:
                self.used.add(("name", k))
                return self._best_first(self.by_name[k])
        ids = (p.stem,) if frame is None else (frame, str(frame))
        if frame is None and p.stem.isdigit():
            ids += (int(p.stem), str(int(p.stem)))
        for key in ids:
            if key in self.by_id:
                self.used.add(("id", str(key)))
                return self._best_first(self.by_id[key])
        return []

    @staticmethod
    def _best_first(found: list) -> list:
        return sorted(found, key=lambda sb: -sb[0])

    def unmatched(self) -> list[str]:
        """The images of the file (file names, ``image_id N``, with ``frame F`` for videos) that no input asked
        for: a detection file made for other images, or ids that follow another numbering."""
        used = {self.labels[k] for k in self.used}
        return sorted(set(self.labels.values()) - used)


def _load_json(path: Path, what: str):
    """The parsed JSON file, or :class:`InputError` saying it is missing or not JSON."""
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a JSON {what} ({e})") from None
    except RecursionError:
        raise InputError(f"{path}: not a {what}: its JSON is nested too deeply (a list of boxes is 2 levels "
                         "deep)") from None


def _image_names(path: str | Path) -> dict:
    """``image_id`` → ``file_name`` from a COCO annotation file (its ``images``) or a JSON list of
    ``{id, file_name}``."""
    path = Path(path)
    data = _load_json(path, "image list")
    images = data.get("images") if isinstance(data, dict) else data
    if not isinstance(images, list):
        raise InputError(f"{path}: expected a COCO annotation file with 'images' or a list of {{id, file_name}}")
    names = {}
    for i, im in enumerate(images):
        if not (isinstance(im, dict) and _is_id(im.get("id")) and isinstance(im.get("file_name"), str)):
            raise InputError(f"{path}: images[{i}]: expected {{'id': number or text, 'file_name': text}}, "
                             f"got {_short(im)}")
        names[im["id"]] = names[str(im["id"])] = im["file_name"]
    return names


def _is_id(v) -> bool:
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, str) and v != "")


def _short(v) -> str:
    text = repr(v)
    return text if len(text) <= 80 else text[:77] + "..."


def read_detections(path: str | Path, min_score: float = 0.0, image_list: str | Path | None = None) -> Detections:
    """Read a COCO-format detection file (see the module); keeps person boxes (category 1 when a category is
    given) with ``score >= min_score``. ``image_list``: a COCO annotation file (or list of ``{id, file_name}``)
    that maps the entries' ``image_id`` to file names. Bad entries raise :class:`InputError` naming the file,
    entry and field."""
    path = Path(path)
    data = _load_json(path, "detection file")
    names = {}
    if isinstance(data, dict):
        if isinstance(data.get("images"), list):
            names = _image_names_from(data["images"], path)
        data = data.get("annotations")
    if image_list is not None:
        names.update(_image_names(image_list))
    if not isinstance(data, list):
        raise InputError(f"{path}: expected a list of detections [{{'image_id' or 'file_name', 'bbox', 'score'}}] "
                         "or a COCO dict with 'annotations'")
    by_name, by_id, labels = defaultdict(list), defaultdict(list), {}
    origins = defaultdict(set)  # a trailing part of a file name → the file names that end with it
    for i, d in enumerate(data):
        where = f"{path}: entry {i}"
        if not isinstance(d, dict):
            raise InputError(f"{where}: expected an object with 'bbox' and 'image_id' or 'file_name'")
        bbox = d.get("bbox")
        ok = isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(_is_number(v) for v in bbox)
        b = np.asarray(bbox, np.float64) if ok else np.zeros(0)
        if not ok or not np.isfinite(b).all():
            raise InputError(f"{where}: field 'bbox' must be 4 finite numbers [x, y, w, h], got {_short(bbox)}")
        score = d.get("score", 1.0)
        if not _is_number(score) or not np.isfinite(score):
            raise InputError(f"{where}: field 'score' must be a number, got {_short(score)}")
        category = d.get("category_id", COCO_PERSON)
        if not _is_number(category):
            raise InputError(f"{where}: field 'category_id' must be a number, got {_short(category)}")
        for field in ("image_id", "frame"):
            if field in d and not _is_id(d[field]):
                raise InputError(f"{where}: field '{field}' must be a number or a text, got {_short(d[field])}")
        if "frame" in d and not str(d["frame"]).lstrip("-").isdigit():
            raise InputError(f"{where}: field 'frame' must be a frame index, got {_short(d['frame'])}")
        name = d.get("file_name")
        if name is not None and not (isinstance(name, str) and name):
            raise InputError(f"{where}: field 'file_name' must be a text, got {_short(name)}")
        if name is None and "image_id" not in d:
            raise InputError(f"{where}: needs 'image_id' or 'file_name' to name its image")
        name = name or names.get(d.get("image_id"))
        keep = category == COCO_PERSON and float(score) >= min_score
        item = [(float(score), b.tolist())] if keep else []  # an image whose boxes are all dropped still matches
        if name is not None:
            key = Path(name).as_posix()
            frame = d.get("frame")
            label = key if frame is None else f"{key} frame {int(frame)}"
            parts = Path(key).parts
            for k in {key} | {"/".join(parts[-n:]) for n in range(1, len(parts) + 1)}:
                k = k if frame is None else (k, int(frame))
                by_name[k].extend(item)
                labels[("name", k)] = label
                origins[k].add(key)
        else:
            for k in {d["image_id"], str(d["image_id"])}:  # 7 and "7" both match
                by_id[k].extend(item)
            labels[("id", str(d["image_id"]))] = f"image_id {d['image_id']}"
    # ``cam1/0001.jpg`` and ``cam2/0001.jpg``: ``0001.jpg`` would give either image both cameras' boxes
    for k, files in origins.items():
        if len(files) > 1 and (k if isinstance(k, str) else k[0]) not in files:
            del by_name[k]
    return Detections(dict(by_name), dict(by_id), str(path), labels)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _image_names_from(images: list, path: Path) -> dict:
    names = {}
    for i, im in enumerate(images):
        if isinstance(im, dict) and _is_id(im.get("id")) and isinstance(im.get("file_name"), str):
            names[im["id"]] = names[str(im["id"])] = im["file_name"]
    return names


class PersonDetector:
    """Person boxes from torchvision's Faster R-CNN (ResNet-50 FPN, COCO weights).

    The weights come from torchvision's cache (``$TORCH_HOME/hub/checkpoints``); offline without them, creating the
    detector raises :class:`InputError` that says how to get them.
    """

    def __init__(self, device="cpu", min_score: float = 0.7):
        import torch
        try:
            from torchvision.models.detection import FasterRCNN_ResNet50_FPN_Weights, fasterrcnn_resnet50_fpn
        except ImportError as e:
            if not lacks_torchvision(e):
                raise
            raise InputError(needs_torchvision("--detector (torchvision's Faster R-CNN)")) from None

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
        return self.detect(images)[0]

    def detect(self, images: list[np.ndarray]) -> tuple[list[list], list[list]]:
        """Per RGB uint8 image, its person boxes (as :meth:`__call__`) and their scores."""
        import torch

        x = [torch.from_numpy(im).permute(2, 0, 1).float().div(255).to(self.device) for im in images]
        with torch.no_grad():
            outs = self.model(x)
        res, scores = [], []
        for o in outs:
            keep = (o["labels"] == COCO_PERSON) & (o["scores"] >= self.min_score)
            b = o["boxes"][keep].cpu().numpy()
            sc = o["scores"][keep].cpu().numpy()
            order = np.argsort(-sc, kind="stable")
            res.append([[float(x0), float(y0), float(x1 - x0), float(y1 - y0)] for x0, y0, x1, y1 in b[order]])
            scores.append([float(v) for v in sc[order]])
        return res, scores
