"""``cdlpose predict``: 3D poses for images, folders and videos, written as JSON, pictures, MP4 and HTML viewers.

Per input ``NAME`` (a file's stem, made unique) the output folder gets:

- ``NAME.json`` (schema ``cdlpose-prediction/2``, see :func:`person_record`): per person the box and its detection
  score, 2D joints in image pixels, per-joint confidences, the 2.5D estimate, the root-relative 3D pose in mm
  (camera axes) and the estimated camera-space placement; for videos one entry per frame;
- images: ``NAME_2d.jpg`` (the image with the 2D skeletons) and ``NAME_3d.png`` (the 3D skeletons, two views);
- videos and cameras: ``NAME.mp4`` (H.264, yuv420p: plays in browsers) with the 2D overlay and the 3D view side by
  side (optionally One-Euro smoothed);
- ``NAME.html``: a self-contained viewer (rotate, zoom, scrub frames; a video's frames beside the 3D view).

and, for the whole run, ``predictions.coco.json`` (see :func:`coco_results`): every person as COCO's keypoint
results, the JSON list that ``pycocotools``' ``COCO.loadRes`` and ``COCOeval`` read (``image_id`` an integer,
``category_id`` 1, ``keypoints`` x, y, v for COCO's 17 joints in COCO's order, mapped by name from the network's
skeleton, ``0, 0, 0`` for a joint it lacks; ``score``; ``bbox``), merged with the entries of earlier runs into
the same folder for other inputs; the 3D fields are in the per-input JSON. Next to it
``predictions.coco.image_ids.json`` maps every input to its ``image_id`` (see :func:`assign_image_ids`: the
``--image-list`` file's id, a COCO-style name's number, else a numbering; a video's frames consecutive ids).

Inputs: image and video files, folders of them (recursively), quoted glob patterns (``"shots/*.jpg"``, ``**``
recursive) and cameras (``PredictOptions.cameras``: OpenCV capture indices, read until the stream ends,
``max_frames`` or Ctrl-C). URLs are refused: download the file first.

A folder's unreadable images (also truncated JPEG and PNG files, and videos with fewer frames than their
container lists) are reported and skipped; the rest are processed.

The output folder is under the policy of :mod:`cdlpose.outputs`: a run claims it (a second run into it at the
same time is refused), and nothing in it is replaced unless it is, on disk now, exactly what cdlpose wrote there
for the same input (size, modification time and inode, recorded with the input in the folder's ledger
``.cdlpose-files.json``): before anything is written, every output that would replace another file is listed and
the run refused (``overwrite`` replaces them). Files in the ledger (and in ``.cdlpose-predict.jsonl``, the record
of earlier versions, no longer trusted as cdlpose's) are not taken as inputs when the output folder is inside an
input folder. Every write goes into a new temporary file under an unpredictable name and is renamed into place
and checked: a failed one (disk full, permission, a folder of that name) is reported with the file and the
cause; a full disk stops the run. ``.cdlpose-complete.json`` is removed when a run starts and written when it
ends with every output written; Ctrl-C keeps the inputs finished so far.
"""

from .inputs import collect_inputs
from .options import COCO_IMAGE_IDS, COCO_RESULTS, IMAGE_EXTS, MANIFEST, SCHEMA, VIDEO_EXTS, PredictOptions
from .records import (ImageList, assign_image_ids, coco_entry, coco_keypoints, coco_results, model_line,
                      person_record, recorded_training)
from .files import default_out_name, new_folder
from .run import run_predict, whole_image_note
from .tracking import Tracker, match_tracks

__all__ = ["IMAGE_EXTS", "VIDEO_EXTS", "PredictOptions", "collect_inputs", "person_record", "run_predict",
           "match_tracks", "Tracker", "coco_results", "coco_entry", "coco_keypoints", "ImageList",
           "assign_image_ids", "model_line", "recorded_training", "COCO_RESULTS", "COCO_IMAGE_IDS", "SCHEMA",
           "MANIFEST", "default_out_name", "new_folder", "whole_image_note"]
