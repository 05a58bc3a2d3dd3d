import numpy as np
import pytest
import torch

from cdlpose import skeletons as sk


@pytest.mark.parametrize("skel", list(sk.SKELETONS.values()), ids=lambda s: s.name)
def test_skeleton_is_a_tree_with_consistent_flips(skel):
    # exactly one joint without parent, and following parents always reaches it
    assert sum(p < 0 for p in skel.parents) == 1
    for j in range(skel.num_joints):
        seen, k = set(), j
        while skel.parents[k] >= 0:
            assert k not in seen
            seen.add(k)
            k = skel.parents[k]
    assert skel.num_bones == skel.num_joints - 1
    perm = skel.flip_index
    assert sorted(perm) == list(range(skel.num_joints))
    assert np.array_equal(perm[perm], np.arange(skel.num_joints))
    for a, b in skel.flip_pairs:
        assert skel.joints[a].startswith("L_") and skel.joints[b] == "R_" + skel.joints[a][2:]


def test_joint_counts_and_standard_orders():
    assert [s.num_joints for s in (sk.H36M17, sk.H36M18, sk.MPII16, sk.COCO17, sk.MUCO21, sk.MUPOTS17)] == [
        17, 18, 16, 17, 21, 17,
    ]
    # VideoPose3D / MMPose parents of the Human3.6M-17 order
    assert list(sk.H36M17.parents) == [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
    assert sk.H36M17.root == 0 and sk.MUCO21.root == 14 and sk.MPII16.root == 6 and sk.COCO17.root is None
    assert len(sk.H36M17.bones) == 16
    assert set(sk.H36M17.flip_pairs) == {(4, 1), (5, 2), (6, 3), (11, 14), (12, 15), (13, 16)}
    # Moon et al.'s names are kept as source names
    assert sk.H36M18.source_names[7:11] == ("Torso", "Neck", "Nose", "Head") and sk.H36M18.source_names[17] == "Thorax"
    assert sk.MUPOTS17.joints == sk.MUCO21.joints[:17]


def test_flip_twice_is_identity_and_swaps_sides():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 17, 3))
    f = sk.flip_joints(x, "h36m17")
    assert np.allclose(sk.flip_joints(f, "h36m17"), x)
    # the flipped left wrist is the mirrored right wrist
    lw, rw = sk.H36M17.index("L_Wrist"), sk.H36M17.index("R_Wrist")
    assert np.allclose(f[:, lw, 0], -x[:, rw, 0]) and np.allclose(f[:, lw, 1:], x[:, rw, 1:])
    # image coordinates mirror about the frame centre, torch too
    uv = torch.tensor(rng.uniform(0, 63, size=(2, 17, 2)))
    fu = sk.flip_joints(uv, "h36m17", width=64)
    assert torch.allclose(fu[:, rw, 0], 63 - uv[:, lw, 0])
    assert torch.allclose(sk.flip_joints(fu, "h36m17", width=64), uv)


def test_mapping_by_name_marks_missing_joints_invalid():
    m = sk.joint_mapping("mpii16", "h36m17")
    names = [sk.H36M17.joints[j] for j in np.flatnonzero(~m.valid)]
    assert names == ["Spine", "Neck_Nose"]
    x = np.arange(16 * 2, dtype=float).reshape(1, 16, 2)
    out, valid = sk.convert_joints(x, "mpii16", "h36m17")
    assert np.array_equal(out[0, sk.H36M17.index("R_Ankle")], x[0, 0])
    assert np.array_equal(out[0, sk.H36M17.index("Head_top")], x[0, sk.MPII16.index("Head_top")])
    assert not valid[0, sk.H36M17.index("Spine")] and np.all(out[0, sk.H36M17.index("Spine")] == 0)
    # a source joint marked invalid stays invalid
    v = np.ones((1, 16), bool)
    v[0, 0] = False
    _, valid = sk.convert_joints(x, "mpii16", "h36m17", valid=v)
    assert not valid[0, sk.H36M17.index("R_Ankle")]


def test_mapping_round_trip_and_derived_joints():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 17, 3))
    y, v = sk.convert_joints(x, "h36m17", "h36m18")
    assert v[0, :17].all() and not v[0, 17]
    back, vb = sk.convert_joints(y, "h36m18", "h36m17")
    assert vb.all() and np.allclose(back, x)
    y, v = sk.convert_joints(x, "h36m17", "h36m18", derive=True)
    assert v[:, 17].all()
    assert np.allclose(y[:, 17], (x[:, 11] + x[:, 14]) / 2)
    # COCO has no pelvis: invalid, or the mid-hip when derived
    c = rng.normal(size=(2, 17, 2))
    out, v = sk.convert_joints(c, "coco17", "h36m17")
    assert not v[:, 0].any()
    out, v = sk.convert_joints(c, "coco17", "h36m17", derive=True)
    assert v[:, 0].all() and np.allclose(out[:, 0], (c[:, 11] + c[:, 12]) / 2)
    # MuPoTS joints map onto MuCo and back exactly
    m = sk.joint_mapping("mupots17", "muco21")
    assert list(m.index[:17]) == list(range(17)) and not m.valid[17:].any()


def test_convert_rejects_wrong_joint_count():
    with pytest.raises(ValueError, match="expected 16 joints of mpii16"):
        sk.convert_joints(np.zeros((1, 17, 2)), "mpii16", "h36m17")
    with pytest.raises(KeyError, match="unknown skeleton"):
        sk.get_skeleton("smpl24")


def test_geodesic_length_and_normalisation():
    # a straight vertical chain: thorax 0, spine 300, pelvis 500, hips 100 aside, knees 450 below
    x = np.zeros((17, 3))
    x[8] = [0, -500, 0]
    x[7] = [0, -200, 0]
    x[1] = [-100, 0, 0]
    x[4] = [100, 0, 0]
    x[2] = [-100, 450, 0]
    x[5] = [100, 450, 0]
    assert np.isclose(sk.geodesic_length(x), 300 + 200 + 100 + 450)
    y, s = sk.geodesic_normalize(torch.tensor(x)[None])
    assert torch.isclose(sk.geodesic_length(y)[0], torch.tensor(1077.0, dtype=y.dtype))
    assert torch.isclose(s[0], torch.tensor(1077.0 / 1050, dtype=s.dtype))


def test_geodesic_mean_on_real_h36m_training_poses(h36m_poses):
    g = np.concatenate([sk.geodesic_length(h36m_poses[k].astype(np.float64)) for k in h36m_poses.files])
    assert abs(g.mean() - sk.GEODESIC_MEAN_MM) / sk.GEODESIC_MEAN_MM < 0.005
