import math

import numpy as np
import pytest
import torch

from cdlpose import codec as c
from cdlpose.skeletons import H36M17


def _keypoints(B=4, J=17, seed=0, margin=8.0, size=64):
    g = torch.Generator().manual_seed(seed)
    uv = torch.rand(B, J, 2, generator=g, dtype=torch.float64) * (size - 2 * margin) + margin
    z = (torch.rand(B, J, 1, generator=g, dtype=torch.float64) - 0.5) * 1900
    z[:, 0] = 0.0  # root
    return torch.cat([uv, z], -1)


def test_gaussian_soft_argmax_round_trip_within_0_05_px():
    uvz = _keypoints(B=8, margin=7.0)
    hm = c.gaussian_heatmaps(uvz, None, (64, 64), sigma=2.0)
    assert hm.shape == (8, 17, 64, 64)
    err = (c.soft_argmax_2d(hm, normalize="sum") - uvz[..., :2]).abs().max()
    assert err < 0.05
    # as logits: log of the Gaussian is a quadratic, its softmax is the normalised Gaussian
    err = (c.soft_argmax_2d(torch.log(hm.clamp_min(1e-300))) - uvz[..., :2]).abs().max()
    assert err < 0.05
    # peak is 1 at integer keypoints, sigma sets the width
    hm1 = c.gaussian_heatmaps(torch.tensor([[[10.0, 20.0]]]), None, (64, 64), sigma=2.0)
    assert hm1[0, 0, 20, 10] == 1.0 and math.isclose(hm1[0, 0, 20, 12].item(), math.exp(-0.5), rel_tol=1e-6)


def test_invalid_joints_give_empty_maps():
    uvz = _keypoints(B=2)
    valid = torch.ones(2, 17, dtype=torch.bool)
    valid[1, 5] = False
    hm = c.gaussian_heatmaps(uvz, valid, (64, 64))
    assert hm[1, 5].abs().sum() == 0 and hm[0, 5].sum() > 0
    bones = c.bone_heatmaps(uvz, valid, H36M17.bones, (64, 64), 2.0)
    touching = [k for k, (p, ch) in enumerate(H36M17.bones) if 5 in (p, ch)]
    assert all(bones[1, k].abs().sum() == 0 for k in touching)
    assert all(bones[0, k].sum() > 0 for k in touching)


def _segment_distance_brute(p, a, b):
    ab = b - a
    t = np.clip(np.dot(p - a, ab) / max(np.dot(ab, ab), 1e-12), 0, 1)
    return np.linalg.norm(p - (a + t * ab))


def test_bone_heatmap_follows_eq1_distance_to_segment():
    uv = torch.tensor([[[10.0, 12.0], [40.5, 50.25], [40.5, 50.25]]], dtype=torch.float64)
    bones = [(0, 1), (1, 2)]  # the second bone has zero length: a Gaussian blob
    sigma = 3.0
    out = c.bone_heatmaps(uv, None, bones, (64, 64), sigma)
    rng = np.random.default_rng(0)
    for _ in range(200):
        x, y = rng.integers(0, 64, size=2)
        for k, (i, j) in enumerate(bones):
            d = _segment_distance_brute(np.array([x, y], float), uv[0, i].numpy(), uv[0, j].numpy())
            assert math.isclose(out[0, k, y, x].item(), math.exp(-(d**2) / (2 * sigma**2)), rel_tol=1e-9, abs_tol=1e-12)
    # on the segment the map is 1, beyond the end points it falls off like a joint Gaussian
    assert math.isclose(out[0, 0, 31, 25].item(), math.exp(-(_segment_distance_brute(np.array([25.0, 31.0]),
                        uv[0, 0].numpy(), uv[0, 1].numpy()) ** 2) / 18), rel_tol=1e-9)


def test_bone_heatmap_buffers_give_identical_maps():
    uvz = _keypoints(B=3).float()
    a = c.bone_heatmaps(uvz, None, H36M17.bones, (64, 64), 2.5)
    out, ws = torch.full_like(a, 7.0), torch.full_like(a, -3.0)
    b = c.bone_heatmaps(uvz, None, H36M17.bones, (64, 64), 2.5, out=out, workspace=ws)
    assert b.data_ptr() == out.data_ptr() and torch.equal(a, b)


def test_depth_discretisation():
    z = torch.tensor([-1000.0, -999.0, -1.0, 0.0, 15.6, 31.25, 999.9, 1000.0, 5000.0, -5000.0])
    bins = c.depth_to_bin(z, 64, 2000.0)
    assert bins.tolist() == [0, 0, 31, 32, 32, 33, 63, 63, 63, 0]
    idx = c.depth_to_index(z[:8], 64, 2000.0)
    # bin centres are integers: rounding the continuous index gives the bin (away from bin edges)
    inner = torch.tensor([-999.0, -1.0, 15.6, 999.9])
    assert torch.equal(torch.round(c.depth_to_index(inner)).long(), c.depth_to_bin(inner))
    assert torch.allclose(c.index_to_depth(idx), z[:8], atol=1e-3)
    # a bin's centre converts to the middle of its depth interval
    assert math.isclose(c.index_to_depth(torch.tensor(32.0)).item(), 2000 / 64 / 2)


def test_cube_argmax_channel_recovers_every_depth_bin():
    uvz = _keypoints(B=6, seed=3).float()
    hm = c.gaussian_heatmaps(uvz, None, (64, 64), 2.0)
    bins = c.depth_to_bin(uvz[..., 2])
    cube = c.depth_cube(hm, bins, 64)
    assert cube.shape == (6, 64, 64, 64)
    # at each joint's (rounded) location, the channel with the largest value is its depth bin
    u, v = uvz[..., 0].round().long(), uvz[..., 1].round().long()
    b = torch.arange(6)[:, None].expand(6, 17)
    column = cube[b, :, v, u]  # (B, J, C)
    shared = (bins[:, :, None] == bins[:, None, :]).sum(-1) > 1
    peaks = column.argmax(-1)
    assert torch.equal(peaks[~shared], bins[~shared])
    # joints sharing a channel are max-combined, nothing is lost or summed
    assert cube.max() <= 1.0 + 1e-6
    ref = torch.zeros_like(cube)
    for bi in range(6):
        for j in range(17):
            ref[bi, bins[bi, j]] = torch.maximum(ref[bi, bins[bi, j]], hm[bi, j])
    assert torch.equal(cube, ref)


def test_soft_argmax_3d_of_an_encoded_volume():
    uvz = _keypoints(B=2, margin=8).float()
    hm = c.gaussian_heatmaps(uvz, None, (64, 64), 2.0)
    zi = c.depth_to_index(uvz[..., 2])
    zs = torch.arange(64, dtype=torch.float32)
    gz = torch.exp(-((zs - zi[..., None]) ** 2) / (2 * 2.0**2))
    vol = gz[..., :, None, None] * hm[..., None, :, :]  # (B, J, D, H, W)
    inner = (zi > 8) & (zi < 55)
    est = c.soft_argmax_3d(vol, normalize="sum")
    assert (est[..., :2] - uvz[..., :2]).abs().max() < 0.05
    assert (est[..., 2] - zi)[inner].abs().max() < 0.05
    assert (c.index_to_depth(est[..., 2]) - uvz[..., 2])[inner].abs().max() < 2.0  # mm


def test_ordinal_labels_follow_the_dominant_joint():
    uv = torch.tensor([[[10.0, 10.0, 0.0], [50.0, 50.0, 500.0]]])
    hm = c.gaussian_heatmaps(uv, None, (64, 64), 2.0)
    bins = c.depth_to_bin(uv[..., 2])
    labels, mask = c.ordinal_labels(hm, bins, threshold=0.1)
    assert labels[0, 10, 10] == 32 and labels[0, 50, 50] == 48
    assert mask[0, 10, 10] and mask[0, 50, 50] and not mask[0, 30, 30]
    # only near the joints: exp(-d^2 / 8) > 0.1 within d < 4.29 px, about 58 px per joint
    assert 2 * 45 < mask.sum() < 2 * 70


def test_target_encoder_masks_2d_only_samples_and_reuses_buffers():
    uvz = _keypoints(B=4).float()
    valid = torch.ones(4, 17, dtype=torch.bool)
    z_valid = valid.clone()
    z_valid[2:] = False  # MPII-like samples
    z_valid[1, 3] = False  # one joint without depth: its cube would be incomplete
    enc = c.TargetEncoder("h36m17")
    t = enc.encode(uvz, valid, z_valid, bone_sigma=3.0)
    assert t["cube_weight"].tolist() == [1, 0, 0, 0]
    assert not t["ordinal_mask"][1:].any() and t["ordinal_mask"][0].any()
    assert t["cube"][1:].abs().sum() == 0
    assert t["bone_heatmaps"].shape == (4, 16, 64, 64) and t["bone_weight"].all()
    assert t["depth_weight"][2:].sum() == 0
    reuse = c.TargetEncoder("h36m17", reuse_buffers=True)
    r1 = reuse.encode(uvz, valid, z_valid, 3.0)
    for k in t:
        assert torch.equal(t[k], r1[k]), k
    ptr = r1["cube"].data_ptr()
    r2 = reuse.encode(uvz.flip(0), valid, z_valid.flip(0), 3.0)
    assert r2["cube"].data_ptr() == ptr and torch.equal(r2["cube"][3], t["cube"][0])
    with pytest.raises(ValueError, match="expected 17 joints"):
        enc.encode(uvz[:, :16], valid[:, :16], z_valid[:, :16])


def test_bone_sigma_schedule_anneals_and_restores():
    s = c.BoneSigmaSchedule(4.0, 1.0, epochs=4)
    vals = [s.sigma] + [s.step() for _ in range(4)]
    assert vals == [4.0, 3.0, 2.0, 1.0, 1.0]
    cos = c.BoneSigmaSchedule(4.0, 1.0, epochs=3, mode="cosine")
    assert cos.value(0) == 4.0 and math.isclose(cos.value(1), 2.5) and cos.value(2) == 1.0
    t = c.BoneSigmaSchedule(9.0, 9.0, 1)
    t.load_state_dict(s.state_dict())
    assert t.sigma == s.sigma and t.epoch == 4
    with pytest.raises(ValueError, match="linear"):
        c.BoneSigmaSchedule(4, 1, 3, mode="step")


def test_codec_runs_on_the_device_of_its_inputs():
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    uvz = _keypoints(B=2).float().to(dev)
    ones = torch.ones(2, 17, dtype=torch.bool, device=dev)
    t = c.TargetEncoder("h36m17").encode(uvz, ones, ones)
    assert all(v.device.type == torch.device(dev).type for v in t.values())
