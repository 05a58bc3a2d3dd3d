"""Metrics against hand-computed cases and against independent re-statements of the definitions used by
VideoPose3D (mpjpe, p_mpjpe, n_mpjpe) and MMPose (keypoint_mpjpe with masks, keypoint_3d_pck/auc)."""

import numpy as np
import pytest

from cdlpose import metrics as m


def _poses(n=20, j=17, seed=0):
    rng = np.random.default_rng(seed)
    gt = rng.normal(scale=250, size=(n, j, 3))
    pred = gt * rng.uniform(0.8, 1.2, size=(n, 1, 1)) + rng.normal(scale=40, size=(n, j, 3))
    gt -= gt[:, :1]
    pred -= pred[:, :1]
    return pred, gt


# --- references, written from the published definitions --------------------------------------------------


def ref_videopose_p_mpjpe(pred, gt):
    """VideoPose3D: normalise both centred poses by their Frobenius norm, orthogonal Procrustes with the
    reflection removed, scale = trace * |X| / |Y|, error averaged over all joints."""
    out = []
    for p, g in zip(pred, gt):
        g0, p0 = g - g.mean(0), p - p.mean(0)
        ng, npd = np.sqrt((g0**2).sum()), np.sqrt((p0**2).sum())
        g0, p0 = g0 / ng, p0 / npd
        U, s, Vt = np.linalg.svd(g0.T @ p0)
        V = Vt.T
        R = V @ U.T
        if np.linalg.det(R) < 0:
            V[:, -1] *= -1
            s[-1] *= -1
            R = V @ U.T
        a = s.sum() * ng / npd
        t = g.mean(0) - a * p.mean(0) @ R
        out.append(np.linalg.norm(a * p @ R + t - g, axis=-1))
    return float(np.mean(out))


def ref_videopose_n_mpjpe(pred, gt):
    s = (gt * pred).sum(-1).mean(-1, keepdims=True) / (pred * pred).sum(-1).mean(-1, keepdims=True)
    return float(np.linalg.norm(s[..., None] * pred - gt, axis=-1).mean())


def ref_mmpose_masked_mpjpe(pred, gt, mask):
    return float(np.linalg.norm(pred - gt, axis=-1)[mask].mean())


# --- tests ---------------------------------------------------------------------------------------------------


def test_mpjpe_hand_computed():
    gt = np.zeros((1, 3, 3))
    pred = np.array([[[0, 0, 0], [3, 4, 0], [0, 0, 12]]], float)
    assert m.mpjpe(pred, gt) == pytest.approx((0 + 5 + 12) / 3)
    # root alignment removes a global offset
    assert m.mpjpe(pred + 1000.0, gt) == pytest.approx((0 + 5 + 12) / 3)
    assert m.mpjpe(pred + 1000.0, gt, root=None) > 1000
    # the mask drops joints; each valid joint counts once over the whole set
    assert m.mpjpe(pred, gt, mask=[[True, True, False]]) == pytest.approx(2.5)
    two = np.concatenate([pred, pred]), np.concatenate([gt, gt])
    assert m.mpjpe(*two, mask=[[True, True, True], [True, True, False]]) == pytest.approx(22 / 5)


def test_pck_and_auc_hand_computed():
    gt = np.zeros((1, 4, 3))
    pred = np.array([[[0, 0, 0], [100, 0, 0], [150, 0, 0], [151, 0, 0]]], float)
    assert m.pck3d(pred, gt, threshold=150) == pytest.approx(75.0)
    assert m.pck3d(pred, gt, threshold=100) == pytest.approx(50.0)
    # AUC over 0, 5, ..., 150: joint 0 is correct at all 31 thresholds, joint 1 at 11, joint 2 at 1, joint 3 never
    assert m.auc3d(pred, gt) == pytest.approx(100 * (31 + 11 + 1 + 0) / (4 * 31))


def test_pa_mpjpe_is_zero_for_similar_poses_and_matches_videopose3d():
    pred, gt = _poses()
    rng = np.random.default_rng(5)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    q *= np.sign(np.linalg.det(q))
    assert m.pa_mpjpe(2.5 * gt @ q.T + 100.0, gt) == pytest.approx(0.0, abs=1e-8)
    assert m.pa_mpjpe(pred, gt) == pytest.approx(ref_videopose_p_mpjpe(pred, gt), abs=1e-6)
    assert m.pa_mpjpe(pred, gt) < m.mpjpe(pred, gt)


def test_n_mpjpe_matches_videopose3d_and_mpjpe_matches_mmpose():
    pred, gt = _poses(seed=1)
    assert m.n_mpjpe(pred, gt) == pytest.approx(ref_videopose_n_mpjpe(pred, gt), abs=1e-6)
    assert m.mpjpe(pred, gt) == pytest.approx(float(np.linalg.norm(pred - gt, axis=-1).mean()), abs=1e-6)
    mask = np.random.default_rng(2).random(pred.shape[:2]) > 0.2
    assert m.mpjpe(pred, gt, mask) == pytest.approx(ref_mmpose_masked_mpjpe(pred, gt, mask), abs=1e-6)
    # MMPose's 3D PCK / AUC: share of masked joints under the threshold, AUC = mean over 31 thresholds
    err = np.linalg.norm(pred - gt, axis=-1)
    assert m.pck3d(pred, gt, mask, 150) == pytest.approx(100 * (err < 150)[mask].mean(), abs=1e-6)
    auc = np.mean([100 * (err <= t)[mask].mean() for t in np.linspace(0, 150, 31)])
    assert m.auc3d(pred, gt, mask) == pytest.approx(auc, abs=1e-6)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"\(N, J, 3\)"):
        m.mpjpe(np.zeros((2, 17, 2)), np.zeros((2, 17, 2)))
    with pytest.raises(ValueError, match="mask must be"):
        m.mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)), mask=np.ones((2, 16), bool))
    with pytest.raises(ValueError, match="alignment"):
        m.per_joint_error(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), alignment="rigid")


def test_group_table_like_the_paper():
    pred, gt = _poses(n=6)
    err = m.per_joint_error(pred, gt)
    actions = ["Walking", "Eating", "Walking", "Sitting", "Eating", "Walking"]
    table = m.group_mean(err, actions, order=m.H36M_ACTIONS)
    assert list(table) == ["Eating", "Sitting", "Walking", "Avg"]
    assert table["Walking"] == pytest.approx(err[[0, 2, 5]].mean())
    assert table["Avg"] == pytest.approx(np.mean([table["Eating"], table["Sitting"], table["Walking"]]))
    md = m.format_table({"cdlpose": table, "paper": {"Walking": 35.5, "Avg": 48.7}},
                        columns=list(m.H36M_ACTIONS) + ["Avg"], abbrev=m.H36M_ACTION_ABBREV)
    lines = md.splitlines()
    assert lines[0].startswith("| Method | Dir. | Dis. | Eat |") and lines[0].endswith("| Avg |")
    assert lines[3].startswith("| paper | - |") and "| 35.5 |" in lines[3] and lines[3].endswith("| 48.7 |")
