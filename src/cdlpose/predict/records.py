"""The JSON a run writes: per input its header and people (``cdlpose-prediction/2``, with the 3D fields), and
the COCO keypoint results file (COCO-17 joints, integer image ids) with the map of its image ids."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..data.datasets import RENDERED_FORMATS
from ..errors import InputError
from ..inference import Predictor
from ..skeletons import SKELETONS, coco17_index
from .options import COCO_IMAGE_IDS, SCHEMA

__all__ = ["person_record", "coco_results", "coco_entry", "coco_keypoints", "ImageList", "assign_image_ids",
           "image_id_map", "header", "json_text", "recorded_training", "model_line", "figures_only", "FIGURE_STYLES"]


def _r(a, nd=2):
    return np.round(np.asarray(a, np.float64), nd).tolist()


def person_record(p: dict, smoothed=None) -> dict:
    """One person of the JSON output, with the keys of :meth:`Predictor.predict`. Units: ``box`` [x, y, w, h] and
    ``keypoints_2d`` image px; ``detection_score`` the box's score (``null``: a box given without one, or the whole
    image); ``score`` = detection score (1 without one) × mean joint confidence; ``confidence`` 0..1 per joint;
    ``uvz`` u, v px and z mm (root-relative depth); ``keypoints_3d`` mm, root-relative, camera axes (x right, y
    down, z forward), from ``pose_3d_source`` (``lifting`` or ``back-projection`` of the 2.5D estimate at
    ``root_depth_mm``); ``root_depth_mm_estimate`` RootNet's k-value depth from the box (as RootNet crops it); ``root_depth_mm``
    the root depth used (``root_depth_source``: ``given`` or ``estimate``), at which
    ``keypoints_3d_camera_estimate`` places the pose; ``keypoints_3d_smoothed`` (videos with smoothing)."""
    det = p.get("detection_score")
    rec = {
        "box": _r(p["box"]),
        "detection_score": None if det is None else round(float(det), 4),
        "score": round(float(p["score"]), 4),
        "keypoints_2d": _r(p["keypoints_2d"]),
        "confidence": _r(p["confidence"], 4),
        "uvz": _r(p["uvz"]),
        "keypoints_3d": _r(p["keypoints_3d"], 1),
        "pose_3d_source": p["pose_3d_source"],
        "root_depth_mm_estimate": round(float(p["root_depth_mm_estimate"]), 1),
        "root_depth_mm": round(float(p["root_depth_mm"]), 1),
        "root_depth_source": p["root_depth_source"],
        "keypoints_3d_camera_estimate": _r(p["keypoints_3d_camera_estimate"], 1),
    }
    if smoothed is not None:
        rec["keypoints_3d_smoothed"] = _r(smoothed, 1)
    return rec


# ----------------------------------------------------------------------------------------------- COCO results


def coco_keypoints(keypoints_2d, confidence, skeleton) -> list:
    """COCO's 51 numbers for one person: ``x, y, v`` per COCO-17 joint in COCO's order, the joints of ``skeleton``
    matched by name (:func:`cdlpose.skeletons.coco17_index`; x, y image px as ``keypoints_2d``, v the joint's
    confidence); a COCO joint the skeleton lacks (Human3.6M: eyes and ears) is ``0, 0, 0``."""
    idx = coco17_index(skeleton)
    xy, conf = np.asarray(keypoints_2d, np.float64), np.asarray(confidence, np.float64)
    kp = np.zeros((len(idx), 3))
    have = idx >= 0
    kp[have, :2] = xy[idx[have]]
    kp[have, 2] = conf[idx[have]]
    return np.round(kp, 4).reshape(-1).tolist()


def coco_entry(rec: dict, skeleton, image_id: int | None = None) -> dict:
    """One person record (:func:`person_record`'s keys) as a COCO keypoint result: ``category_id`` 1,
    ``keypoints`` (:func:`coco_keypoints`), ``score`` (detection score × mean joint confidence), ``bbox`` the box
    [x, y, w, h]; ``image_id`` when given (a run sets it when it writes the file)."""
    e = {} if image_id is None else {"image_id": int(image_id)}
    return {**e, "category_id": 1, "keypoints": coco_keypoints(rec["keypoints_2d"], rec["confidence"], skeleton),
            "score": rec["score"], "bbox": rec["box"]}


def coco_results(skeleton, people) -> list:
    """COCO's keypoint results, the list ``pycocotools.COCO.loadRes`` and ``COCOeval(…, "keypoints")`` read:
    ``people`` is ``[(image_id, person record), …]`` (records with :func:`person_record`'s keys, or
    :meth:`Predictor.predict`'s people); ``skeleton`` the network's joint set (``Predictor.skeleton``)."""
    out = []
    for image_id, p in people:
        if not _is_int(image_id):
            raise InputError(f"COCO results need integer image ids (COCO's tools compare them with the annotation "
                             f"file's), got {image_id!r}")
        out.append(coco_entry({"keypoints_2d": p["keypoints_2d"], "confidence": p["confidence"],
                               "score": round(float(p["score"]), 4), "box": _r(p["box"])}, skeleton, image_id))
    return out


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _name_keys(name: str) -> list[str]:
    """How an image is matched by file name, most specific first: its path, its last two components, its name."""
    p = Path(name)
    return list(dict.fromkeys([p.as_posix(), "/".join(p.parts[-2:]), p.name]))


class ImageList:
    """COCO image ids by file name, from a COCO annotation file (its ``images``) or a JSON list of ``{id,
    file_name}`` (``--image-list``): an input is found by its path's trailing components or its name (a name the
    list holds twice, in two folders, matches by more of its path only). Ids that are not integers are not used
    (COCO's tools need integers)."""

    def __init__(self, path: str | Path):
        from ..detection import _image_names  # the same reading as --detections' --image-list

        self.source = str(path)
        found: dict[str, set] = {}
        for key, name in _image_names(path).items():
            i = key if _is_int(key) else (int(key) if isinstance(key, str) and key.isdigit() else None)
            if i is None:
                continue
            for k in _name_keys(name):
                found.setdefault(k, set()).add(int(i))
        self.by_name = {k: next(iter(v)) for k, v in found.items() if len(v) == 1}

    def __call__(self, name: str) -> int | None:
        for k in _name_keys(name):
            if k in self.by_name:
                return self.by_name[k]
        return None


def assign_image_ids(inputs: dict, image_list=None, earlier: dict | None = None) -> dict:
    """COCO ``image_id``s for ``inputs`` (``str(path)`` → ``None`` for an image, the frame count of a video or
    camera), the map written next to the results (:data:`COCO_IMAGE_IDS`):

    1. an image in ``image_list`` (:class:`ImageList`, ``--image-list``) gets its id there;
    2. else an image with a COCO-style name gets its number (``000000000785.jpg`` → 785);
    3. else — and every video — is numbered: a video takes one id per frame, consecutive (frame f is
       ``first_image_id + f``); an input numbered by an earlier run into the folder (``earlier``, the map that run
       wrote) keeps its ids while they are free, new ones take the numbers after the largest id in use.

    Returns ``{"images": {name: id}, "videos": {name: {"first_image_id", "frames"}}}``."""
    earlier = earlier or {}
    images, videos, numbered = {}, {}, []
    for name, frames in inputs.items():
        i = image_list(name) if (image_list is not None and frames is None) else None
        if i is None and frames is None and Path(name).stem.isdigit():
            i = int(Path(name).stem)
        if i is None:
            numbered.append(name)
        else:
            images[name] = i
    taken = set(images.values())

    def span(name):
        if inputs[name] is None:
            old = earlier.get("images", {}).get(name)
            return (old, 1) if _is_int(old) else None
        old = earlier.get("videos", {}).get(name)
        first = old.get("first_image_id") if isinstance(old, dict) else None
        return (first, max(inputs[name], 1)) if _is_int(first) else None

    fresh = []
    for name in numbered:  # earlier numbers first, in the order of the inputs
        s = span(name)
        if s is not None and s[0] > 0 and not taken.intersection(range(s[0], s[0] + s[1])):
            taken.update(range(s[0], s[0] + s[1]))
            _place(name, s[0], inputs, images, videos)
        else:
            fresh.append(name)
    for name in fresh:
        first = max(taken, default=0) + 1
        n = 1 if inputs[name] is None else max(inputs[name], 1)
        taken.update(range(first, first + n))
        _place(name, first, inputs, images, videos)
    return {"images": images, "videos": videos}


def _place(name, first, inputs, images, videos):
    if inputs[name] is None:
        images[name] = first
    else:
        videos[name] = {"first_image_id": first, "frames": inputs[name]}


def image_id_map(ids: dict, image_list=None) -> dict:
    """The JSON written as :data:`COCO_IMAGE_IDS` next to the results."""
    return {"schema": "cdlpose-coco-image-ids/1",
            "description": "image_id of predictions.coco.json per input: an image's id in the --image-list file "
                           f"({image_list.source if image_list is not None else 'none given'}), else the number of "
                           "a COCO-style name (000000000785.jpg -> 785), else numbered after the largest id in use "
                           "(kept by later runs into this folder while free); a video frame f is first_image_id + f",
            "images": ids["images"], "videos": ids["videos"]}


def read_image_id_map(text: str) -> dict | None:
    """The map an earlier run wrote (:func:`image_id_map`), or None when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not (isinstance(data, dict) and data.get("schema") == "cdlpose-coco-image-ids/1"
            and isinstance(data.get("images"), dict) and isinstance(data.get("videos"), dict)):
        return None
    return data


def earlier_results(text: str, ids: dict | None) -> tuple[list, str | None]:
    """The entries of an earlier run's results file as ``(input, frame or None, entry without image_id)``, and a
    note when some could not be kept. The file is this version's list (each entry's input found through the map
    ``ids`` that run wrote), or the dict of cdlpose before COCO-17 results (``cdlpose-coco-results/1``: entries
    with ``file_name``, ``frame`` and keypoints in the network's joint order, converted here)."""
    try:
        data = json.loads(text)
    except ValueError:
        return [], "the earlier predictions.coco.json is not JSON (damaged): its entries were dropped"
    kept, lost = [], 0
    if isinstance(data, dict):  # before COCO-17 results: {"info", "categories", "annotations"}
        names = (data.get("info") or {}).get("joint_names") if isinstance(data.get("info"), dict) else None
        skeleton = next((sk for sk in SKELETONS.values() if list(sk.joints) == names), None)
        anns = data.get("annotations") if isinstance(data.get("annotations"), list) else []
        for a in anns if skeleton is not None else ():
            try:
                kp = np.asarray(a["keypoints"], np.float64).reshape(-1, 3)
                frame = a.get("frame")
                kept.append((str(a["file_name"]), None if frame is None else int(frame), coco_entry(
                    {"keypoints_2d": kp[:, :2], "confidence": kp[:, 2], "score": a["score"], "box": a.get("bbox")},
                    skeleton)))
            except (KeyError, TypeError, ValueError, IndexError, AttributeError):
                lost += 1
        lost = lost if skeleton is not None else len(anns)  # joints of no known skeleton: not convertible
        note = ("the earlier predictions.coco.json (written by an older cdlpose, a dict) was rewritten as a COCO "
                "results list")
        return kept, note + (f"; {lost} of its entries could not be read and were dropped" if lost else "")
    if not isinstance(data, list):
        return [], ("the earlier predictions.coco.json is neither a COCO results list nor cdlpose's older dict: "
                    "its entries were dropped")
    owner = {}
    if ids is not None:
        owner = {i: (name, None) for name, i in ids["images"].items() if _is_int(i)}
        for name, v in ids["videos"].items():
            if isinstance(v, dict) and _is_int(v.get("first_image_id")) and _is_int(v.get("frames")):
                owner.update({v["first_image_id"] + f: (name, f) for f in range(v["frames"])})
    for e in data:
        who = owner.get(e.get("image_id")) if isinstance(e, dict) else None
        if who is None:
            lost += 1
            continue
        kept.append((*who, {k: v for k, v in e.items() if k != "image_id"}))
    if lost:
        return kept, (f"{lost} entries of the earlier predictions.coco.json name no input of the map "
                      f"{COCO_IMAGE_IDS} (missing or damaged): they were dropped")
    return kept, None


def header(pred: Predictor, path: Path, kind: str, size, checkpoint, trained_on=None) -> dict:
    """An input's JSON header: the input, the model (checkpoint, skeleton, ``trained_on``: the checkpoint's record
    of its training data, null when it has none), the backend and the units."""
    sk = pred.skeleton
    return {
        "schema": SCHEMA, "input": str(path), "kind": kind, "image_size": [int(size[0]), int(size[1])],
        "checkpoint": str(checkpoint), "skeleton": sk.name, "joint_names": list(sk.joints),
        "bones": [list(b) for b in sk.bones], "flip_test": bool(pred.flip),
        "backend": pred.backend, "pose_3d_source": pred.pose_3d_source,
        **({"imported_from": pred.origin} if pred.origin else {}),
        "trained_on": trained_on,
        "units": {"keypoints_2d": "image px", "uvz": "u, v image px; z mm root-relative depth",
                  "score": "detection score (1 without one) × mean joint confidence",
                  "keypoints_3d": ("mm, root-relative, camera axes (x right, y down, z forward), geodesic-normalised "
                                   "scale (neck-knee 1077 mm)" if pred.pose_3d_source == "lifting" else
                                   "mm, root-relative, camera axes (x right, y down, z forward): the 2.5D estimate "
                                   "back-projected at root_depth_mm + z (its scale follows the root depth)"),
                  "keypoints_3d_camera_estimate": "mm, camera space, root depth estimated from the box "
                                                  "(RootNet's k-value on its enlarged square crop box)"},
    }


def json_text(data: dict, source) -> str:
    """JSON without NaN or infinity (``json`` would write them, and no JSON reader accepts them)."""
    try:
        return json.dumps(data, allow_nan=False)
    except ValueError:
        raise InputError(f"{source}: the prediction holds NaN or infinite values (a broken checkpoint?); "
                         "nothing written for it") from None


# ------------------------------------------------------------------------------------------ the model's record

#: The synthetic styles that draw figures (cdlpose.data.figure_render), not people: not meant for photos.
FIGURE_STYLES = ("plain", "full")


def recorded_training(pred: Predictor, source) -> list | None:
    """The model's record of what it was trained on (a checkpoint's ``trained_on``, an ONNX file's
    ``cdlpose.trained_on``; for imported PoseNet weights without one, Moon et al.'s data as
    :data:`cdlpose.posenet.TRAINED_ON` knows them), or None when nothing is recorded."""
    value = _recorded(pred, source, "trained_on")
    if value is None and isinstance(pred.origin, dict) and pred.origin.get("kind") == "posenet":
        from ..posenet import TRAINED_ON

        value = TRAINED_ON.get(pred.origin.get("joints"))
    return value if isinstance(value, list) else None


def _recorded(pred: Predictor, source, key: str):
    """What the model's file records under ``key``: a checkpoint's entry, or an ONNX file's ``cdlpose.<key>``
    metadata (JSON); None when absent or unreadable."""
    if pred.backend == "onnxruntime":
        session = getattr(getattr(pred, "_forward", None), "session", None)  # the loaded graph's metadata
        raw = session.get_modelmeta().custom_metadata_map.get(f"cdlpose.{key}") if session is not None else None
        try:
            return json.loads(raw) if raw else None
        except ValueError:
            return None
    return _checkpoint_field(source, key) if source else None


def _checkpoint_field(path, key: str):
    """One entry of a checkpoint, read without reading its tensors (memory-mapped; the Predictor has loaded it)."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # an old (non-zip) file cannot be mapped: read it in full
        from ..checkpoint import load_checkpoint

        try:
            ckpt = load_checkpoint(path)
        except (OSError, ValueError):
            return None
    return ckpt.get(key) if isinstance(ckpt, dict) else None


def _describe_entry(e) -> str:
    if not isinstance(e, dict):
        return str(e)
    text = str(e.get("format", "?"))
    if e.get("via"):
        text += f" ({e['via']})"
    if e.get("style"):
        text += f" ({e['style']})"
    if isinstance(e.get("subjects"), list):
        text += " " + " ".join(map(str, e["subjects"]))
    if e.get("by"):
        text += f", {e['by']}"
    return text


def figures_only(trained_on) -> bool:
    """True when every data set the model was trained on is rendered figures (``plain``, ``full``)."""
    return bool(trained_on) and all(isinstance(e, dict) and e.get("format") in RENDERED_FORMATS
                                    and e.get("style") in FIGURE_STYLES for e in trained_on)


def model_card(pred: Predictor, source) -> dict | None:
    """A shipped model's card, ``{"name", "summary"}`` (a checkpoint's ``card``, an ONNX file's ``cdlpose.card``),
    or None."""
    value = _recorded(pred, source, "card")
    return value if isinstance(value, dict) and {"name", "summary"} <= set(value) else None


def model_line(source, pred: Predictor, trained_on) -> str:
    """The one line ``cdlpose predict`` prints before a run: the model (its name when it is a shipped model with a
    card, the file, skeleton, imported weights' label) and what it was trained on; a model trained only on the
    figure styles is said not to be meant for photos; a shipped model's card says what it scores on photos."""
    sk = pred.skeleton
    label = f", {pred.origin['label']}" if isinstance(pred.origin, dict) and pred.origin.get("label") else ""
    card = model_card(pred, source)
    name = f"{card['name']}, " if card else ""
    head = f"model: {name}{source} ({sk.name}, {sk.num_joints} joints{label}"
    if trained_on is None:
        return f"{head}); training data not recorded (a checkpoint from before cdlpose recorded it)"
    text = f"{head}); trained on " + "; ".join(dict.fromkeys(_describe_entry(e) for e in trained_on))
    if figures_only(trained_on):
        styles = ", ".join(dict.fromkeys(e["style"] for e in trained_on))
        text += (f" — only rendered figures ({styles}), which are not meant for photos: on a photo its poses are "
                 "unrelated to the people (for photos use a model trained on real images, e.g. imported PoseNet "
                 "weights: docs/posenet.md)")
    elif card:
        text += f" — {card['summary']}"
    elif all(isinstance(e, dict) and e.get("format") in RENDERED_FORMATS for e in trained_on):
        text += " — only rendered images: untested on photos"
    return text
