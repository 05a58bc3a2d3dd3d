"""Inference on people's own images: ``Predictor`` turns images and person boxes into 2D, 2.5D and 3D poses.

Top-down, as in the paper's MuPoTS-3D experiments: each person box is enlarged ×1.25 to a square, cropped to the
network's input size, and the network's outputs are mapped back to the image. Without boxes the whole image is
one person.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch

from .codec import index_to_depth
from .data.pipeline import IMAGENET_MEAN, IMAGENET_STD
from .data.readers import load_image
from .errors import InputError
from .geometry import (apply_affine, back_project, crop_camera, crop_transform, fix_aspect_ratio, invert_affine,
                       rescale_points)
from .loading import load_model, model_path
from .model import OUTPUT_STRIDE, nominal_camera
from .skeletons import get_skeleton

__all__ = ["Predictor", "InputError", "check_box", "rootnet_box", "root_depth_estimate", "network_outputs"]

#: RootNet's assumed real-world size of the box it crops (their ``bbox_real``: 2 m × 2 m for Human3.6M, MuCo-3DHP
#: and MuPoTS-3D), mm, and its area, mm².
ROOTNET_BOX_MM = (2000.0, 2000.0)
ROOTNET_AREA_MM2 = ROOTNET_BOX_MM[0] * ROOTNET_BOX_MM[1]
#: The aspect ratio (width / height) of RootNet's network input, 256 × 256 px: before the k-value is computed the
#: box's shorter side is grown to it about the centre. It is RootNet's, not the loaded network's — the k-value is
#: defined on the box RootNet crops, whatever crop the pose network takes.
ROOTNET_INPUT_ASPECT = 1.0
#: RootNet's enlargement of the aspect-fixed box, both sides about the centre: the box it crops.
ROOTNET_ENLARGE = 1.25


def check_box(box, image_size, where: str) -> np.ndarray:
    """A person box ``[x, y, w, h]`` (pixels) as float64, or :class:`InputError` naming ``where`` when it has no
    area, is not finite, or lies entirely outside the ``(width, height)`` image."""
    b = np.asarray(box, np.float64).reshape(-1)
    if b.shape != (4,) or not np.isfinite(b).all():
        raise InputError(f"{where}: box must be 4 finite numbers [x, y, w, h], got {box!r}")
    if b[2] <= 0 or b[3] <= 0:
        raise InputError(f"{where}: box {b.tolist()} has zero area (width and height must be > 0)")
    W, H = image_size
    if b[0] >= W or b[1] >= H or b[0] + b[2] <= 0 or b[1] + b[3] <= 0:
        raise InputError(f"{where}: box {b.tolist()} lies outside the {W}×{H} image")
    # a box reaching far beyond the image is a broken detection (and its pixel coordinates overflow OpenCV's
    # drawing): at most 10 image sizes out on any side
    if b[0] < -10 * W or b[1] < -10 * H or b[0] + b[2] > 11 * W or b[1] + b[3] > 11 * H:
        raise InputError(f"{where}: box {b.tolist()} reaches far beyond the {W}×{H} image (at most 10 image sizes "
                         "out on any side)")
    return b


def rootnet_box(box, image_size) -> np.ndarray:
    """The box RootNet crops, and computes its k-value on, for a person box ``[x, y, w, h]`` (px, COCO's
    convention) in a ``(width, height)`` image: their ``process_bbox`` (``data/dataset.py``, ``demo/demo.py`` of
    Moon et al.'s 3DMPPE_ROOTNET_RELEASE), step by step —

    1. sanitised to the image: the near corner clamped to ``(0, 0)``, the far corner at the near one plus
       ``max(0, w − 1)``, ``max(0, h − 1)`` clamped to ``(W − 1, H − 1)``. As in their code the far corner is
       measured from the *clamped* near corner, so a box hanging off the left or top edge is moved in (keeping its
       size less a pixel), and one hanging off the right or bottom edge is cut at the image;
    2. its aspect ratio fixed to :data:`ROOTNET_INPUT_ASPECT` about its centre, the shorter side grown;
    3. enlarged ×:data:`ROOTNET_ENLARGE` on both sides about its centre.

    Returns (4,) float64 ``[x, y, w, h]``; :class:`InputError` where the box keeps no area (RootNet skips such a
    box)."""
    given = [float(v) for v in np.asarray(box, np.float64).reshape(4)]
    x, y, w, h = given
    W, H = (float(v) for v in image_size)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2, y2 = min(W - 1, x1 + max(0.0, w - 1)), min(H - 1, y1 + max(0.0, h - 1))
    if not (w * h > 0 and x2 >= x1 and y2 >= y1):
        raise InputError(f"box {given} keeps nothing of the {W:g}×{H:g} image after RootNet's sanitising")
    w, h = x2 - x1, y2 - y1
    cx, cy = x1 + w / 2, y1 + h / 2
    if w > ROOTNET_INPUT_ASPECT * h:
        h = w / ROOTNET_INPUT_ASPECT
    elif w < ROOTNET_INPUT_ASPECT * h:
        w = h * ROOTNET_INPUT_ASPECT
    w, h = w * ROOTNET_ENLARGE, h * ROOTNET_ENLARGE
    if not (w > 0 and h > 0):
        raise InputError(f"box {given} is under a pixel wide and high after RootNet's sanitising: no k-value")
    return np.array([cx - w / 2, cy - h / 2, w, h])


def root_depth_estimate(box, focal, image_size) -> float:
    """RootNet's k-value (Moon et al. 2019), as their code computes it: the root depth (mm) at which a
    2 m × 2 m person fills the box RootNet crops (:func:`rootnet_box`: ``box`` sanitised to the ``(width,
    height)`` image, its aspect ratio fixed, ×1.25), ``k = sqrt(fx · fy · A_real / A_crop)``. An estimate: it
    ignores the person's real size and pose."""
    fx, fy = (float(v) for v in focal)
    crop = rootnet_box(box, image_size)
    return float(np.sqrt(fx * fy * ROOTNET_AREA_MM2 / (crop[2] * crop[3])))


def _positive_mm(value, where: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = float("nan")
    if not (np.isfinite(v) and v > 0):
        raise InputError(f"{where} must be a positive number of mm, got {value!r}")
    return v



def network_outputs(net, images: torch.Tensor, camera: torch.Tensor, flip_index=None):
    """Run the network on crops — the one place where inference (:class:`Predictor`) and the ONNX graph
    (:mod:`cdlpose.export`) call it.

    ``images`` (N, 3, S, S) normalised crops; ``camera`` (N, 4) each crop's camera ``(fx, fy, cx, cy)`` in crop
    pixels (pixel centres at integers); ``flip_index``: the skeleton's left/right permutation (LongTensor (J,))
    for the flip test (the mirrored crops run in the same batch; the 2.5D estimates and confidences are averaged
    before lifting), or ``None``. Returns ``uvz`` (N, J, 3) output-map pixels and depth-bin index, ``pose_3d``
    (N, J, 3) mm root-relative (``None`` for a network without a lifting block), ``confidence`` (N, J), all
    float32.
    """
    S = images.shape[-1]
    x, cam = images, camera
    if flip_index is not None:  # the mirrored crop's camera: cx → S − 1 − cx
        mirrored = torch.cat([camera[:, :2], (S - 1) - camera[:, 2:3], camera[:, 3:4]], 1)
        x, cam = torch.cat([images, images.flip(-1)]), torch.cat([camera, mirrored])
    out = net.predict(x, cam)
    uvz, conf = out["uvz"].float(), out["confidence"].float()
    if flip_index is None:
        return uvz, (out["pose_3d"].float() if "pose_3d" in out else None), conf
    n = images.shape[0]
    uvz_f = uvz[n:][:, flip_index]
    uvz_f = torch.cat([(S // OUTPUT_STRIDE - 1) - uvz_f[..., :1], uvz_f[..., 1:]], -1)
    uvz, conf = 0.5 * (uvz[:n] + uvz_f), 0.5 * (conf[:n] + conf[n:][:, flip_index])
    return uvz, (net.lifting(uvz, camera).float() if net.lifting is not None else None), conf


class _TorchBackend:
    def __init__(self, net, device, flip_index):
        self.net, self.device, self.flip_index = net, device, flip_index

    @torch.no_grad()
    def __call__(self, crops: torch.Tensor, camera: torch.Tensor) -> dict:
        dtype = next(self.net.parameters()).dtype  # float32; float64 where a caller made the network double
        out = network_outputs(self.net, crops.to(self.device, dtype), camera.to(self.device, dtype), self.flip_index)
        return {k: v.cpu().numpy() for k, v in zip(("uvz", "pose_3d", "confidence"), out) if v is not None}


class _OnnxBackend:
    """An ONNX Runtime session of a graph written by :func:`cdlpose.export.export_onnx`; feeds the inputs the graph
    declares (``images``, and ``camera`` for a network whose lifting block takes the crop camera)."""

    def __init__(self, session):
        self.session = session
        self.inputs = [i.name for i in session.get_inputs()]
        self.outputs = [o.name for o in session.get_outputs()]  # no pose_3d: a network without a lifting block

    def __call__(self, crops: torch.Tensor, camera: torch.Tensor) -> dict:
        given = {"images": crops.numpy().astype(np.float32), "camera": camera.numpy().astype(np.float32)}
        out = self.session.run(self.outputs, {k: given[k] for k in self.inputs})
        return dict(zip(self.outputs, out))


class Predictor:
    """Poses from images with a trained network, run by PyTorch or ONNX Runtime.

    Use :meth:`from_checkpoint` or :meth:`from_onnx`; then :meth:`predict` with a list of images (RGB uint8 arrays
    or paths) and, per image, a list of person boxes ``[x, y, w, h]`` (or ``None`` for the whole image).
    """

    def __init__(self, net, config, device="cpu", flip: bool = False, lifting: bool = True,
                 origin: dict | None = None) -> None:
        self.net = net.to(device).eval()
        # where the 3D pose comes from: the lifting block, or the 2.5D estimate back-projected with the root depth
        # (a network without a lifting block — imported PoseNet weights — or ``lifting=False``, ``--no-lifting``)
        self.pose_3d_source = "lifting" if lifting and net.lifting is not None else "back-projection"
        self.origin = origin  # a checkpoint's record of imported weights (cdlpose.posenet), or None
        self.source = None  # the file the model was read from (from_checkpoint, from_onnx)
        self.cfg = config
        self.device = torch.device(device)
        self.flip = flip
        self.backend = "pytorch"
        self.skeleton = get_skeleton(config.model.skeleton)
        self.size = config.augment.input_size
        self.enlarge = config.augment.box_enlarge
        self.depth_range = config.codec.depth_range
        self.depth_bins = config.model.depth_bins
        self.mean, self.std = IMAGENET_MEAN, IMAGENET_STD
        flip_index = torch.as_tensor(self.skeleton.flip_index, device=self.device) if flip else None
        self._forward = _TorchBackend(self.net, self.device, flip_index)

    @classmethod
    def from_checkpoint(cls, path: str | Path | None = None, device: str | None = None, flip: bool = False,
                        skeleton: str | None = None, lifting: bool = True) -> "Predictor":
        """Rebuild the network from a checkpoint's own config; ``path`` None: the model cdlpose ships
        (:data:`cdlpose.loading.DEFAULT_MODEL`, docs/model-card.md). ``skeleton``: refuse a checkpoint of another
        one. ``lifting=False``: 3D by back-projecting the 2.5D estimate even where the network has a lifting
        block."""
        if path is None and not model_path(None).is_file():
            raise InputError(f"the shipped model {model_path(None)} is missing from this install of cdlpose: install "
                             "it again, or give --checkpoint FILE (a checkpoint from cdlpose train or cdlpose demo, "
                             "or PoseNet weights imported with cdlpose import posenet: docs/posenet.md)")
        path = model_path(path)
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            net, cfg, ckpt = load_model(path, device)
        except (FileNotFoundError, ValueError) as e:  # missing, unreadable or not a cdlpose checkpoint
            raise InputError(str(e)) from None
        if skeleton is not None and get_skeleton(skeleton).name != cfg.model.skeleton:
            raise InputError(f"{path}: the checkpoint predicts the {cfg.model.skeleton} skeleton, not {skeleton}")
        self = cls(net, cfg, device, flip, lifting, ckpt.get("imported_from"))
        self.source = str(path)
        return self

    @classmethod
    def from_onnx(cls, path: str | Path, flip: bool | None = None, providers=None, lifting: bool = True) -> "Predictor":
        """Run an ONNX file written by ``cdlpose export`` in ONNX Runtime (``providers``: default the CPU). The crop
        (box enlargement, input size), normalisation, depth range and skeleton come from the file's metadata; the
        flip test is part of the graph (``cdlpose export --flip``): ``flip=True`` with a graph without it, or
        ``False`` with one that has it, raises :class:`InputError`."""
        path = Path(path)
        if not path.is_file():
            raise InputError(f"--onnx {path}: file not found")
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError("--onnx needs onnxruntime: pip install onnxruntime (or cdlpose[export])") from None
        try:
            session = ort.InferenceSession(str(path), providers=providers or ["CPUExecutionProvider"])
        except Exception as e:  # ORT raises its own Fail/InvalidGraph types
            raise InputError(f"--onnx {path}: ONNX Runtime cannot load it ({type(e).__name__}: {e})") from None
        meta = session.get_modelmeta().custom_metadata_map
        need = ("cdlpose.skeleton", "cdlpose.input_size", "cdlpose.box_enlarge", "cdlpose.depth_bins",
                "cdlpose.depth_range_mm", "cdlpose.mean", "cdlpose.std", "cdlpose.flip_test")
        missing = [k for k in need if k not in meta]
        if missing:
            raise InputError(f"--onnx {path}: not a graph written by this version of cdlpose export (metadata lacks "
                             f"{', '.join(missing)}): export it again")
        graph_flip = meta["cdlpose.flip_test"] == "true"
        if flip is not None and bool(flip) != graph_flip:
            raise InputError(f"--onnx {path}: the graph was exported {'with' if graph_flip else 'without'} the flip "
                             f"test; export it {'without' if graph_flip else 'with'} --flip to change that")
        self = cls.__new__(cls)
        self.net, self.cfg, self.device, self.flip, self.backend = None, None, torch.device("cpu"), graph_flip, "onnxruntime"
        self.source = str(path)
        self.skeleton = get_skeleton(meta["cdlpose.skeleton"])
        self.size = int(meta["cdlpose.input_size"])
        self.enlarge = float(meta["cdlpose.box_enlarge"])
        self.depth_bins = int(meta["cdlpose.depth_bins"])
        self.depth_range = float(meta["cdlpose.depth_range_mm"])
        self.mean = np.asarray(json.loads(meta["cdlpose.mean"]), np.float32)
        self.std = np.asarray(json.loads(meta["cdlpose.std"]), np.float32)
        self._forward = _OnnxBackend(session)
        has_lifting = "pose_3d" in self._forward.outputs
        self.pose_3d_source = "lifting" if lifting and has_lifting else "back-projection"
        self.origin = json.loads(meta["cdlpose.imported_from"]) if "cdlpose.imported_from" in meta else None
        return self

    def _crop(self, image: np.ndarray, box: np.ndarray):
        # boxes are in COCO's edge convention (the image spans [0, W]); joints and warps in the pixel-centre one
        # (pixel i is centred on i, the image spans [-0.5, W - 0.5]): shift by half a pixel, so that the crops of
        # an image and of its mirror are exact mirrors
        box = np.asarray(box, np.float64) - np.array([0.5, 0.5, 0.0, 0.0])
        sq = fix_aspect_ratio(box, 1.0, self.enlarge)
        M = crop_transform(sq[:2] + sq[2:] / 2, sq[2:], (self.size, self.size))
        crop = cv2.warpAffine(image, M, (self.size, self.size), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT)
        x = (crop.astype(np.float32) / 255.0 - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1))), M, sq

    def _run(self, crops: torch.Tensor, camera: torch.Tensor | None = None) -> dict:
        """The network on (N, 3, S, S) crops with their (N, 4) cameras (default: a centred crop camera of focal
        length S): ``uvz``, ``pose_3d``, ``confidence`` as numpy."""
        if camera is None:
            camera = nominal_camera(crops.shape[0], (self.size, self.size), crops)
        return self._forward(crops.float(), camera.float())

    crop_camera = staticmethod(crop_camera)  # cdlpose.geometry.crop_camera

    def predict(self, images, boxes=None, focal=None, batch_size: int = 16, names=None,
                scores=None, centre=None, root_depths=None) -> list[list[dict]]:
        """Per image, a list of people, each a dict with the keys (and units) of ``cdlpose predict``'s JSON:

        - ``box`` [x, y, w, h] image pixels (as given); ``keypoints_2d`` (J, 2) image pixels;
        - ``confidence`` (J,) in [0, 1] (:func:`cdlpose.codec.joint_confidence`);
        - ``detection_score``: the box's score (``scores``) or ``None`` (a box given without one, the whole image);
          ``score``: ``detection_score`` (1 without one) × the mean joint confidence, COCO's person score;
        - ``uvz`` (J, 3) the 2.5D estimate: u, v image pixels and z the root-relative depth in mm;
        - ``keypoints_3d`` (J, 3) mm, root-relative, camera axes (x right, y down, z forward): with
          ``pose_3d_source`` ``"lifting"`` the lifting block's pose, in the geodesic-normalised scale of the
          paper's eq. (10); with ``"back-projection"`` (a network without a lifting block, or ``lifting=False``)
          the 2.5D estimate back-projected through the image camera at depths ``root_depth_mm`` + z, as PoseNet's
          demo does (its scale follows the root depth);
        - ``root_depth_mm_estimate`` RootNet's k-value estimate (:func:`root_depth_estimate`: from the area of the
          box RootNet would crop — sanitised to the image, squared, ×1.25 — and ``focal``, default 1.2 × the
          image's larger side, a typical field of view); ``root_depth_mm`` the root depth used — the given one
          (``root_depths``) or that estimate — and ``root_depth_source`` (``"given"`` or ``"estimate"``);
          ``keypoints_3d_camera_estimate`` (J, 3) the pose placed at that root depth, for a shared 3D view of
          several people.

        ``images``: RGB uint8 arrays or paths; ``boxes``: per image ``None`` (whole image) or a list of boxes;
        ``scores``: per image ``None`` or a list of the boxes' detection scores; ``focal``: (fx, fy) px or
        ``None`` and ``centre``: the principal point (cx, cy) px, pixel centres at integers, or ``None`` (the image
        centre) — together the image camera, from which each crop's camera is made for a network whose lifting
        block takes it (and the root placement); ``root_depths``: per image ``None`` or a list of the people's
        root (pelvis) depths in mm, camera Z, ``None`` entries estimated; ``names``: labels for error messages.
        """
        if isinstance(images, (str, Path, np.ndarray)):
            images = [images]
        n = len(images)
        boxes = [None] * n if boxes is None else list(boxes)
        scores = [None] * n if scores is None else list(scores)
        depths = [None] * n if root_depths is None else list(root_depths)
        if len(boxes) != n or len(scores) != n or len(depths) != n:
            raise InputError(f"got {n} images but {len(boxes)} box lists, {len(scores)} score lists and "
                             f"{len(depths)} root depth lists")
        names = names or [str(im) if isinstance(im, (str, Path)) else f"image {i}" for i, im in enumerate(images)]
        jobs = []  # (image index, box, score, crop tensor, M, crop camera, f, c, given depth, k-value)
        loaded = []
        for i, im in enumerate(images):
            img = load_image(im) if isinstance(im, (str, Path)) else im
            if not (isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8):
                raise InputError(f"{names[i]}: expected an RGB uint8 image (H, W, 3), got "
                                 f"{getattr(img, 'shape', type(img))} {getattr(img, 'dtype', '')}")
            H, W = img.shape[:2]
            loaded.append(img)
            f = np.asarray(focal if focal is not None else (1.2 * max(W, H),) * 2, np.float64)
            c = np.asarray(centre if centre is not None else (W / 2 - 0.5, H / 2 - 0.5), np.float64)
            bs = boxes[i] if boxes[i] is not None else [[0.0, 0.0, float(W), float(H)]]
            ss = scores[i] if scores[i] is not None else [None] * len(bs)
            ds = depths[i] if depths[i] is not None else [None] * len(bs)
            if len(ss) != len(bs) or len(ds) != len(bs):
                raise InputError(f"{names[i]}: {len(bs)} boxes but {len(ss)} scores and {len(ds)} root depths")
            for k, (b, sc, d) in enumerate(zip(bs, ss, ds)):
                b = check_box(b, (W, H), f"{names[i]} box {k}")
                if d is not None:
                    d = _positive_mm(d, f"{names[i]} box {k}: root depth")
                try:  # RootNet's k-value needs this image's size (it sanitises the box to the image)
                    k_depth = root_depth_estimate(b, f, (W, H))
                except InputError as e:
                    raise InputError(f"{names[i]} box {k}: {e}") from None
                crop, M, _ = self._crop(img, b)
                jobs.append((i, b, sc, crop, M, self.crop_camera(M, f, c), f, c, d, k_depth))
        results: list[list[dict]] = [[] for _ in range(n)]
        S, m = self.size, self.size // OUTPUT_STRIDE
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start : start + batch_size]
            out = self._run(torch.stack([j[3] for j in chunk]), torch.from_numpy(np.stack([j[5] for j in chunk])))
            for k, (i, b, sc, _, M, _, f, c, d, k_depth) in enumerate(chunk):
                uv_img = apply_affine(invert_affine(M), rescale_points(out["uvz"][k, :, :2].astype(np.float64),
                                                                       (m, m), (S, S)))
                z_mm = index_to_depth(torch.from_numpy(out["uvz"][k, :, 2]), self.depth_bins, self.depth_range).numpy()
                conf = out["confidence"][k].astype(np.float64)
                depth = k_depth if d is None else d
                r = self.skeleton.root
                if self.pose_3d_source == "lifting":
                    pose = out["pose_3d"][k].astype(np.float64)
                    placed = pose + np.append((uv_img[r] - c) / f * depth, depth)
                else:  # PoseNet's demo: pixel → camera space at the root depth plus the relative depth
                    placed = back_project(uv_img, depth + z_mm.astype(np.float64), f, c)
                    pose = placed - placed[r]
                det = None if sc is None else float(sc)
                results[i].append({
                    "box": b.tolist(),
                    "detection_score": det,
                    "score": (1.0 if det is None else det) * float(conf.mean()),
                    "keypoints_2d": uv_img,
                    "confidence": conf,
                    "uvz": np.concatenate([uv_img, z_mm[:, None]], 1),
                    "keypoints_3d": pose,
                    "pose_3d_source": self.pose_3d_source,
                    "root_depth_mm_estimate": k_depth,
                    "root_depth_mm": depth,
                    "root_depth_source": "estimate" if d is None else "given",
                    "keypoints_3d_camera_estimate": placed,
                })
        return results
