"""What a ``cdlpose predict`` run is asked to do (:class:`PredictOptions`), and the names of what it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PredictOptions", "IMAGE_EXTS", "VIDEO_EXTS", "SCHEMA", "MANIFEST", "COCO_RESULTS", "COCO_IMAGE_IDS"]

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}
VIDEO_EXTS = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
SCHEMA = "cdlpose-prediction/2"
MANIFEST = ".cdlpose-predict.jsonl"  # earlier versions' record of what they wrote (read only, not trusted)
COCO_RESULTS = "predictions.coco.json"  # in the output folder: every person of every input, COCO results form
COCO_IMAGE_IDS = "predictions.coco.image_ids.json"  # next to it: the image_id of every input (and video frame)


@dataclass
class PredictOptions:
    out: Path
    boxes: list | None = None  # --box: the same boxes for every image/frame
    detections: object = None  # a cdlpose.detection.Detections
    detector: object = None  # a callable: list of images → list of box lists
    focal: tuple | None = None
    batch_size: int = 16
    images: bool = True  # write overlays, 3D figures and MP4s (JSON and viewers are always written)
    viewer: bool = True
    smooth: bool = False
    min_cutoff: float = 1.0
    beta: float = 0.01
    progress: bool = True
    overwrite: bool = False  # replace files in ``out`` that cdlpose did not write for the same input
    errors: list = field(default_factory=list)
    write_errors: list = field(default_factory=list)  # (path, message) of outputs that could not be written
    no_box: list = field(default_factory=list)  # images the detections gave no box
    cameras: list = field(default_factory=list)  # OpenCV capture indices (``--camera``), written like videos
    max_frames: int | None = None  # a camera's frames to read (default: until the stream ends or Ctrl-C)
    show: bool = False  # show a camera's frames in a window while predicting
    capture: object = None  # opens a camera: index → cv2.VideoCapture-like object (tests pass a fake one)
    kpt_thr: float = 0.3  # joints with a confidence under it are drawn faint (0: all drawn alike)
    thickness: int | None = None  # 2D lines, px (default: by the image size)
    radius: int | None = None  # 2D joint dots, px (default: thickness + 1; 0: none)
    max_missed: int = 5  # frames a track survives without a matching detection (its id and filter are kept)
    coco: list = field(default_factory=list)  # this run's COCO results: (input, frame or None, coco_entry)
    coco_inputs: dict = field(default_factory=dict)  # inputs done: str(path) → None (image) or frames (video)
    image_ids: object = None  # --image-list: a records.ImageList giving inputs their COCO image ids
    trained_on: object = None  # the model's record of its training data (written into each input's JSON)
    root_depths: list | None = None  # with ``boxes``: each box's root depth in mm (None: estimated)
    whole_image: list = field(default_factory=list)  # images taken as one person covering the whole frame
