"""Evaluation: run a network over a data set, score it by protocol, write tables in the paper's layout
(:mod:`.runner` runs networks and whole checkpoint evaluations, :mod:`.scoring` scores and writes tables).

Protocols (the paper's names; Moon et al.'s code numbers Human3.6M's the other way round):

- ``h36m-p1``: MPJPE (mm, root-aligned on the pelvis) per action over the 17 joints; the paper tests on S9 and
  S11. "Avg" is the mean over all test frames (pooled), as in the paper, Moon et al. and MMPose.
- ``h36m-p2``: PA-MPJPE (mm) per action, similarity Procrustes (rotation, translation, scale: VideoPose3D,
  MMPose); the rigid fit without scale of Moon et al.'s ``rigid_align`` (behind PoseNet's published numbers) is
  reported next to it. The paper tests on S11.
- ``mupots``: the official MuPoTS-3D procedure (``mpii_mupots_multiperson_eval.m``): predicted people matched
  to annotated people in 2D, predicted bones rescaled to the ground truth's lengths, 14 joints, 3DPCK@150 mm
  (strict ``<``) and AUC pooled within each sequence and averaged over the 20 sequences, for all annotated
  people (a missed person scores 0) and for matched people only, against the ``univ_annot3`` ground truth when
  the sequences' ``annot.mat`` files are given.
- ``synthetic``: MPJPE per activity of the synthetic set (pooled Avg; PA-MPJPE in the summary).
- ``h36m-actions``: MPJPE and PA-MPJPE rows per Human3.6M action (pooled Avg) for any data with Human3.6M's
  actions — rendered Human3.6M poses, a held-out training subject: not a paper protocol, so no published row.

The network's 3D pose is in the geodesic-normalised scale of eq. (10); on Human3.6M it is compared with the
ground truth in its original scale, as in the paper (no scale is known at inference).
"""

from .runner import PAPER_PROTOCOLS, crop_camera, evaluate_checkpoint, predict_detections, predict_loader
from .scoring import (PAPER_RESULTS, attach_mupots_ground_truth, mean_pose_rows, mupots_errors, score,
                      write_results)

__all__ = ["predict_loader", "score", "write_results", "PAPER_RESULTS", "mean_pose_rows", "mupots_errors",
           "attach_mupots_ground_truth", "predict_detections", "crop_camera", "evaluate_checkpoint",
           "PAPER_PROTOCOLS"]
