"""DataLoader worker settings shared by training and evaluation."""

from __future__ import annotations

import os

import torch

__all__ = ["available_cores", "worker_init"]


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one)."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def worker_init(_):
    # one torch thread per worker process. Not cv2.setNumThreads: in a worker forked from a process whose OpenCV
    # thread pool has run (a warp in the main process, e.g. an earlier workers=0 run), that call never returns
    torch.set_num_threads(1)
