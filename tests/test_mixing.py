import pytest
import torch

from cdlpose.data.mixing import MixedBatchSampler


def test_every_batch_is_half_3d_half_2d_and_epochs_are_deterministic():
    s = MixedBatchSampler(n_3d=100, n_2d=37, batch_size=8, seed=3)
    batches = list(s)
    assert len(batches) == len(s) == 25
    for b in batches:
        assert len(b) == 8 and sum(i < 100 for i in b) == 4
    seen3 = [i for b in batches for i in b if i < 100]
    assert sorted(seen3) == list(range(100))  # one pass over the 3D set
    assert list(MixedBatchSampler(100, 37, 8, seed=3)) == batches
    s.set_epoch(1)
    assert list(s) != batches
    assert all(sum(i < 100 for i in b) == 6 for b in MixedBatchSampler(100, 37, 8, ratio_3d=0.75))


def test_distributed_shards_are_disjoint():
    ranks = [list(MixedBatchSampler(64, 64, 8, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 8
    a = {i for b in ranks[0] for i in b}
    b = {i for b in ranks[1] for i in b}
    assert not a & b


def test_with_a_dataloader_and_bad_settings():
    data = torch.utils.data.ConcatDataset([torch.arange(10), torch.arange(100, 120)])
    loader = torch.utils.data.DataLoader(data, batch_sampler=MixedBatchSampler(10, 20, 4))
    for batch in loader:
        assert (batch[:2] < 100).all() and (batch[2:] >= 100).all()
    with pytest.raises(ValueError, match="ratio_3d"):
        MixedBatchSampler(10, 10, 4, ratio_3d=1.5)
    with pytest.raises(ValueError, match="non-empty 2D"):
        MixedBatchSampler(10, 0, 4)
