"""Track ids over a video's frames."""

from __future__ import annotations

import numpy as np

__all__ = ["match_tracks", "Tracker"]


def match_tracks(prev_boxes: list, boxes: list, min_iou: float = 0.3) -> list[int | None]:
    """Greedy IoU matching of this frame's boxes to the previous frame's: per box, the index of its previous box or
    ``None`` (a new track)."""
    if not prev_boxes or not boxes:
        return [None] * len(boxes)
    a, b = np.asarray(prev_boxes, np.float64), np.asarray(boxes, np.float64)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y1 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    iou = inter / (a[:, None, 2] * a[:, None, 3] + b[None, :, 2] * b[None, :, 3] - inter)
    out: list[int | None] = [None] * len(boxes)
    while True:
        i, j = np.unravel_index(np.argmax(iou), iou.shape)
        if iou[i, j] < min_iou:
            return out
        out[j] = int(i)
        iou[i, :] = -1
        iou[:, j] = -1


class Tracker:
    """Track ids over a video's frames: each frame's boxes are matched (greedy IoU, :func:`match_tracks`) to every
    live track's last box. A track without a match survives ``max_missed`` frames (a person missed by the
    detector for a frame or two keeps their id, and their smoothing filter); a box matching no track starts one."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 5):
        self.min_iou, self.max_missed = min_iou, max_missed
        self.tracks: dict[int, list] = {}  # id → [last box, frames missed since]
        self.next_id = 0

    def update(self, boxes: list) -> list[int]:
        """The track id of each box of the next frame."""
        ids = list(self.tracks)
        match = match_tracks([self.tracks[t][0] for t in ids], boxes, self.min_iou)
        out = []
        for box, m in zip(boxes, match):
            if m is None:
                t, self.next_id = self.next_id, self.next_id + 1
            else:
                t = ids[m]
            self.tracks[t] = [box, -1]
            out.append(t)
        for t in list(self.tracks):
            self.tracks[t][1] += 1
            if self.tracks[t][1] > self.max_missed:
                del self.tracks[t]
        return out
