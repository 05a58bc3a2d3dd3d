import pytest
import torch

from cdlpose import losses as L


def test_heatmap_and_cube_mse_zero_at_target_positive_away_and_masked():
    t = torch.rand(2, 3, 8, 8)
    w = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert L.heatmap_mse(t, t, w) == 0
    p = t.clone()
    p[0, 2] += 5.0  # a masked map does not count
    assert L.heatmap_mse(p, t, w) == 0
    p[0, 0, 0, 0] += 1.0
    assert L.heatmap_mse(p, t, w) == pytest.approx(1.0 / (3 * 64))
    cube = torch.rand(2, 4, 8, 8)
    assert L.cube_mse(cube, cube, torch.ones(2)) == 0
    assert L.cube_mse(cube + 0.5, cube, torch.tensor([1.0, 0.0])) == pytest.approx(0.25)
    # nothing weighted: zero, not NaN
    assert L.cube_mse(cube + 1, cube, torch.zeros(2)) == 0


def _ordinal_logits_for(bins, C, scale=30.0):
    c = torch.arange(C).view(1, C, 1, 1)
    return torch.where(c < bins[:, None], scale, -scale).float()


def test_ordinal_loss_near_zero_at_target_and_monotonic_in_class_error():
    C = 64
    true = torch.full((1, 4, 4), 20)
    mask = torch.ones(1, 4, 4, dtype=torch.bool)
    assert L.ordinal_depth_loss(_ordinal_logits_for(true, C), true, mask) < 1e-6
    assert torch.equal(L.ordinal_decode(_ordinal_logits_for(true, C)), true)
    values = [L.ordinal_depth_loss(_ordinal_logits_for(true + k, C, 3.0), true, mask).item() for k in range(0, 40)]
    assert all(b > a for a, b in zip(values, values[1:]))  # grows with every bin of error
    below = [L.ordinal_depth_loss(_ordinal_logits_for(true - k, C, 3.0), true, mask).item() for k in range(0, 20)]
    assert all(b > a for a, b in zip(below, below[1:]))
    # unlabelled pixels do not count
    mask[:] = False
    assert L.ordinal_depth_loss(_ordinal_logits_for(true + 10, C), true, mask) == 0


def test_integral_l1_masks_z_for_2d_data():
    tgt_uv = torch.rand(2, 17, 2) * 60
    tgt_z = torch.rand(2, 17) * 60
    uvz = torch.cat([tgt_uv, tgt_z[..., None]], -1)
    w2, wz = torch.ones(2, 17), torch.ones(2, 17)
    wz[1] = 0  # an MPII sample
    assert L.integral_l1(uvz, tgt_uv, tgt_z, w2, wz) == 0
    bad = uvz.clone()
    bad[1, :, 2] += 100.0  # wrong depth on the 2D-only sample: no loss
    assert L.integral_l1(bad, tgt_uv, tgt_z, w2, wz) == 0
    bad[0, :, 2] += 2.0
    assert L.integral_l1(bad, tgt_uv, tgt_z, w2, wz) == pytest.approx(2.0)
    bad = uvz.clone()
    bad[..., 0] += 1.0
    assert L.integral_l1(bad, tgt_uv, tgt_z, w2, wz) == pytest.approx(0.5)


def test_pose_l1_is_eq9():
    gt = torch.randn(3, 17, 3) * 300
    w = torch.ones(3, 17)
    assert L.pose_l1(gt, gt, w) == 0
    pred = gt.clone()
    pred[0, 4] += torch.tensor([3.0, -4.0, 12.0])
    assert L.pose_l1(pred, gt, w) == pytest.approx(19.0 / 51)
    w[0, 4] = 0
    assert L.pose_l1(pred, gt, w) == 0


def test_compute_losses_uses_only_what_the_variant_outputs():
    B, J = 2, 17
    uv = torch.rand(B, J, 2) * 7
    out = {"uvz": torch.cat([uv, torch.rand(B, J, 1) * 7], -1), "pose_3d": torch.zeros(B, J, 3)}
    targets = {"joint_weight": torch.ones(B, J), "depth_index": out["uvz"][..., 2], "depth_weight": torch.ones(B, J)}
    batch = {"uv": uv, "pose_3d": torch.zeros(B, J, 3), "valid_3d": torch.ones(B, J)}
    terms = L.compute_losses(out, targets, batch, L.LossWeights(pose=2.0))
    assert set(terms) == {"integral", "pose", "total"} and terms["total"] == 0
    batch["pose_3d"] = torch.ones(B, J, 3)
    terms = L.compute_losses(out, targets, batch, L.LossWeights(pose=2.0, integral=0.0))
    assert set(terms) == {"pose", "total"} and terms["total"].item() == pytest.approx(6.0)
