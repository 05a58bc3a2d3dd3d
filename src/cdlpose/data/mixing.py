"""Mixed 3D/2D batches (paper: "each minibatch consists of half Human3.6M and half MPII data")."""

from __future__ import annotations

import numpy as np

__all__ = ["MixedBatchSampler"]


class MixedBatchSampler:
    """A batch sampler over ``ConcatDataset([data_3d, data_2d])`` whose every batch holds
    ``round(batch_size * ratio_3d)`` samples of the 3D set and the rest from the 2D set.

    An epoch is one pass over the 3D set (its ``len(data_3d) // k3d`` full batches, per process); the 2D set is
    drawn from a fresh permutation, repeated as needed. Deterministic under ``seed`` and the epoch
    (``set_epoch``, as with ``DistributedSampler``); with ``world_size > 1`` every process gets a disjoint shard
    of each permutation, so no two ranks see the same sample in an epoch.

    Yields lists of indices into the concatenation (2D indices are offset by ``len(data_3d)``).
    """

    def __init__(self, n_3d: int, n_2d: int, batch_size: int, ratio_3d: float = 0.5, seed: int = 0,
                 rank: int = 0, world_size: int = 1) -> None:
        if not 0.0 <= ratio_3d <= 1.0:
            raise ValueError(f"ratio_3d must be in [0, 1], got {ratio_3d}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.n_3d, self.n_2d, self.batch_size = int(n_3d), int(n_2d), int(batch_size)
        self.k3d = int(round(batch_size * ratio_3d))
        self.k2d = batch_size - self.k3d
        if self.k3d and self.n_3d < world_size * self.k3d:
            raise ValueError(f"3D set of {n_3d} samples is too small for {world_size} × {self.k3d} per batch")
        if self.k2d and self.n_2d == 0:
            raise ValueError("ratio_3d < 1 needs a non-empty 2D data set")
        self.seed, self.rank, self.world_size, self.epoch = int(seed), int(rank), int(world_size), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if self.k3d == 0:
            return max(self.n_2d // self.world_size // self.k2d, 1)
        return self.n_3d // self.world_size // self.k3d

    def __iter__(self):
        rng = np.random.default_rng([self.seed, self.epoch])
        n_batches = len(self)
        idx3 = rng.permutation(self.n_3d)[self.rank :: self.world_size]
        need = n_batches * self.k2d
        idx2 = np.empty(0, dtype=np.int64)
        while len(idx2) < need:  # fresh permutations of the 2D set, sharded the same way
            idx2 = np.concatenate([idx2, rng.permutation(self.n_2d)[self.rank :: self.world_size]])
        for b in range(n_batches):
            three = idx3[b * self.k3d : (b + 1) * self.k3d]
            two = idx2[b * self.k2d : (b + 1) * self.k2d] + self.n_3d
            yield [int(i) for i in np.concatenate([three, two])]
