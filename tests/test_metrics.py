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
    # the official scripts count a joint as correct when its error is strictly below the threshold
    assert m.pck3d(pred, gt, threshold=150) == pytest.approx(50.0)
    assert m.pck3d(pred, gt, threshold=100) == pytest.approx(25.0)
    assert m.pck3d(pred, gt, threshold=150.5) == pytest.approx(75.0)
    # AUC over 0, 5, ..., 150 with '<': joint 0 (error 0) is correct at 30 thresholds (not at 0), joint 1 (100 mm)
    # at 105 … 150 (10), joints 2 and 3 never
    assert m.auc3d(pred, gt) == pytest.approx(100 * (30 + 10 + 0 + 0) / (4 * 31))


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
    mask[:, 0] = True  # a valid root (poses with an invalid root are left out: test_invalid_root_...)
    assert m.mpjpe(pred, gt, mask) == pytest.approx(ref_mmpose_masked_mpjpe(pred, gt, mask), abs=1e-6)
    # MMPose's 3D PCK / AUC: share of masked joints under the threshold, AUC = mean over 31 thresholds
    err = np.linalg.norm(pred - gt, axis=-1)
    assert m.pck3d(pred, gt, mask, 150) == pytest.approx(100 * (err < 150)[mask].mean(), abs=1e-6)
    auc = np.mean([100 * (err < t)[mask].mean() for t in np.linspace(0, 150, 31)])
    assert m.auc3d(pred, gt, mask) == pytest.approx(auc, abs=1e-6)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match=r"\(N, J, 3\)"):
        m.mpjpe(np.zeros((2, 17, 2)), np.zeros((2, 17, 2)))
    with pytest.raises(ValueError, match="mask must be"):
        m.mpjpe(np.zeros((2, 17, 3)), np.zeros((2, 17, 3)), mask=np.ones((2, 16), bool))
    with pytest.raises(ValueError, match="alignment"):
        m.per_joint_error(np.zeros((1, 2, 3)), np.zeros((1, 2, 3)), alignment="affine")


def test_group_table_like_the_paper():
    pred, gt = _poses(n=6)
    err = m.per_joint_error(pred, gt)
    actions = ["Walking", "Eating", "Walking", "Sitting", "Eating", "Walking"]
    table = m.group_mean(err, actions, order=m.H36M_ACTIONS)
    assert list(table) == ["Eating", "Sitting", "Walking", "Avg"]
    assert table["Walking"] == pytest.approx(err[[0, 2, 5]].mean())
    # "Avg" pools every frame (the paper's, Moon et al.'s and MMPose's): with 3 Walking frames, 2 Eating and 1
    # Sitting it is not the mean of the three action means
    assert table["Avg"] == pytest.approx(err.mean())
    assert table["Avg"] != pytest.approx(np.mean([table["Eating"], table["Sitting"], table["Walking"]]))
    by_group = m.group_mean(err, actions, order=m.H36M_ACTIONS, average="groups")
    assert by_group["Avg"] == pytest.approx(np.mean([table["Eating"], table["Sitting"], table["Walking"]]))
    md = m.format_table({"cdlpose": table, "paper": {"Walking": 35.5, "Avg": 48.7}},
                        columns=list(m.H36M_ACTIONS) + ["Avg"], abbrev=m.H36M_ACTION_ABBREV)
    lines = md.splitlines()
    assert lines[0].startswith("| Method | Dir. | Dis. | Eat |") and lines[0].endswith("| Avg |")
    assert lines[3].startswith("| paper | - |") and "| 35.5 |" in lines[3] and lines[3].endswith("| 48.7 |")


def ref_moon_rigid_align(A, B):
    """Moon et al.'s rigid_align, restated: rotation from the SVD of the centred cross-covariance (reflection
    removed), translation between the centroids, no scale."""
    cA, cB = A.mean(0), B.mean(0)
    H = (A - cA).T @ (B - cB)
    U, s, Vt = np.linalg.svd(H)
    R = Vt.T @ U.T
    if np.linalg.det(R) < 0:
        Vt[2] *= -1
        R = Vt.T @ U.T
    return A @ R.T + (cB - cA @ R.T)


def test_pa_mpjpe_with_and_without_scale():
    # hand-computed: a pose twice the size of the truth is perfect after the similarity fit; the rigid fit cannot
    # rescale it, and every joint keeps the difference of distances to the centroid
    gt = np.array([[[100.0, 0, 0], [-100.0, 0, 0], [0, 50.0, 0], [0, -50.0, 0]]])
    assert m.pa_mpjpe(2 * gt, gt) == pytest.approx(0.0, abs=1e-9)
    assert m.pa_mpjpe(2 * gt, gt, scale=False) == pytest.approx((100 + 100 + 50 + 50) / 4)
    pred, gt = _poses(seed=3)
    ref = np.mean([np.linalg.norm(ref_moon_rigid_align(p, g) - g, axis=-1).mean() for p, g in zip(pred, gt)])
    assert m.pa_mpjpe(pred, gt, scale=False) == pytest.approx(ref, abs=1e-6)
    assert m.pa_mpjpe(pred, gt) < m.pa_mpjpe(pred, gt, scale=False)


@pytest.mark.parametrize("metric", ["pa", "rigid", "n", "mpjpe", "pck"])
def test_masked_joints_take_no_part_in_any_fit(metric):
    pred, gt = _poses(seed=4)
    keep = np.ones(17, bool)
    keep[[5, 11, 16]] = False
    mask = np.broadcast_to(keep, pred.shape[:2])
    wild = pred.copy()
    wild[:, ~keep] = 1e5  # garbage where the mask says "no annotation"
    f = {"pa": m.pa_mpjpe, "rigid": lambda p, g, k=None: m.pa_mpjpe(p, g, k, scale=False), "n": m.n_mpjpe,
         "mpjpe": m.mpjpe, "pck": m.pck3d}[metric]
    assert f(wild, gt, mask) == pytest.approx(f(pred[:, keep], gt[:, keep]), abs=1e-6)


def test_invalid_root_leaves_the_pose_out():
    pred, gt = _poses(n=2, seed=6)
    pred = pred + np.array([0.0, 0.0, 1000.0])  # root alignment has work to do
    mask = np.ones((2, 17), bool)
    mask[1, 0] = False  # pose 1's root is not annotated: no root-aligned error can be measured for it
    assert m.mpjpe(pred, gt, mask) == pytest.approx(m.mpjpe(pred[:1], gt[:1]))
    assert m.pck3d(pred, gt, mask) == pytest.approx(m.pck3d(pred[:1], gt[:1]))
    assert m.n_mpjpe(pred, gt, mask) == pytest.approx(m.n_mpjpe(pred[:1], gt[:1]))


# --- MuPoTS-3D, in the MuPoTS-17 order (0 Head_top, 1 neck, …, 14 pelvis, 15 spine, 16 head) ----------------


def mupots_pose(height=1.0):
    """A standing person, pelvis-relative, mm (x right, y down)."""
    p = np.array([
        [0, -700, 0], [0, -500, 0], [-180, -480, 0], [-200, -250, 0], [-210, -20, 0], [180, -480, 0],
        [200, -250, 0], [210, -20, 0], [-100, 0, 0], [-110, 420, 0], [-120, 850, 0], [100, 0, 0], [110, 420, 0],
        [120, 850, 0], [0, 0, 0], [0, -250, 0], [0, -600, 0]], float)
    return p * height


def test_bone_rescaling_makes_a_scaled_pose_perfect_and_keeps_directions():
    gt = mupots_pose()[None]
    small = 0.8 * gt
    # without rescaling the ankles are 170 mm off; with it the scaled pose is exact
    assert np.linalg.norm(small - gt, axis=-1).max() > 150
    assert np.allclose(m.rescale_to_gt_bones(small, gt), gt, atol=1e-9)
    # a bent elbow keeps its direction and takes the ground truth's length
    bent = gt.copy()
    bent[0, 4] = bent[0, 3] + np.array([0, 0, -300.0])  # forearm pointing at the camera, 300 mm
    out = m.rescale_to_gt_bones(bent, gt)
    L = np.linalg.norm(gt[0, 4] - gt[0, 3])
    assert np.allclose(out[0, 4], gt[0, 3] + np.array([0, 0, -L]))
    # the official parent of the head top is the neck (not cdlpose's Head joint)
    assert m.MUPOTS_PARENTS[0] == 1 and m.MUPOTS_PARENTS[16] == 1 and m.MUPOTS_PARENTS[14] == 14


def test_matching_people_in_2d():
    a = np.zeros((17, 2))
    a[:] = [100, 100]
    b = a + [300, 0]
    gt = np.stack([a, b])
    # prediction 0 is near person b, prediction 1 near person a (39 px: within 40), prediction 2 far from both
    preds = np.stack([b + 10, a + [39.0, -39.0], a + 500])
    assert m.match_people_2d(gt, preds).tolist() == [1, 0]
    # 40 px is not "under 40": no match
    assert m.match_people_2d(gt[:1], (a + [40.0, 0])[None]).tolist() == [-1]
    # greedy over the annotated people in order: the first takes the prediction they both match best
    both = np.stack([a, a + [5, 0]])
    assert m.match_people_2d(both, (a + [2, 0])[None]).tolist() == [0, -1]
    # only joints 1-13 count: a prediction right on the head top, pelvis, spine and head alone does not match
    only = a + 100
    only[[0, 14, 15, 16]] = a[[0, 14, 15, 16]]
    assert m.match_people_2d(a[None], only[None]).tolist() == [-1]
    assert m.match_people_2d(a[None], np.zeros((0, 17, 2))).tolist() == [-1]


def test_sequence_average_differs_from_pooling():
    # TS1: one person, every joint right; TS2: three people, every joint wrong
    err = np.concatenate([np.zeros((1, 17)), np.full((3, 17), 500.0)])
    r = m.sequence_pck(err, ["TS1", "TS2", "TS2", "TS2"])
    assert r["pck"]["TS1"] == 100.0 and r["pck"]["TS2"] == 0.0
    assert r["pck"]["Avg"] == pytest.approx(50.0)  # pooled over people it would be 25
    assert r["auc"]["TS1"] == pytest.approx(100 * 30 / 31)  # error 0 is not < threshold 0
    assert list(r["pck"]) == ["TS1", "TS2", "Avg"]
    assert m.sequence_pck(err, ["TS10", "TS2", "TS2", "TS2"])["pck"].keys().__iter__().__next__() == "TS2"
