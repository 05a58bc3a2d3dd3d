import json

import numpy as np
import pytest

from cdlpose.cli import main as cli_main
from cdlpose.data.sample import DataError, validate_sample
from cdlpose.data.datasets import FORMATS
from cdlpose.data.synthetic import (ACTIVITIES, VARIED_FAMILIES, SyntheticHumans, _scene, make_subject,
                                    render_sample, sample_scene)
from cdlpose.geometry import apply_affine, project
from cdlpose.skeletons import H36M17, geodesic_length


@pytest.fixture(scope="module")
def samples():
    return [render_sample(i, "train", seed=0) for i in range(40)]


def test_projection_of_3d_joints_gives_2d_joints(samples):
    for s in samples:
        assert np.abs(project(s["joints_3d"], s["f"], s["c"]) - s["joints_2d"]).max() < 1e-3
        assert (s["joints_3d"][:, 2] > 2500).all() and 2900 < s["joints_3d"][0, 2] < 7100
        assert abs(s["f"][0] - 1150) < 0.11 * 1150
        # the crop shows the frame-level box, made square and enlarged ×1.25
        x, y, w, h = s["box"]
        uv_box = apply_affine(s["frame_to_image"], np.array([[x, y], [x + w, y + h]]))
        cx, cy, side = x + w / 2, y + h / 2, 1.25 * max(w, h)
        corners = apply_affine(s["frame_to_image"], np.array([[cx - side / 2, cy - side / 2], [cx + side / 2, cy + side / 2]]))
        assert np.allclose(corners, [[-0.5, -0.5], [255.5, 255.5]])
        assert (uv_box >= -0.5).all() and (uv_box <= 255.5).all()


def test_rendered_depth_agrees_with_joint_depth(samples):
    n_visible = 0
    for s in samples:
        uv = apply_affine(s["frame_to_image"], s["joints_2d"])
        px = np.round(uv).astype(int)
        inside = ((px >= 0) & (px < 256)).all(1)
        rendered = s["depth"][px[inside, 1], px[inside, 0]]
        z = s["joints_3d"][inside, 2]
        # every joint lies inside a body primitive: the first surface along its ray is never behind it
        assert (rendered <= z + 1.0).all()
        vis = s["visible"][inside]
        # a visible joint's surface is within a body-part radius of the joint
        assert (z[vis] - rendered[vis] < 0.07 * s["stature"]).all()
        n_visible += vis.sum()
    assert n_visible > 0.6 * 17 * len(samples)  # most joints are visible, some are occluded


def test_determinism_by_seed_and_index():
    a, b = render_sample(7, "train", 3), render_sample(7, "train", 3)
    for k in a:
        if isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k
    assert not np.array_equal(a["image"], render_sample(7, "train", 4)["image"])
    assert not np.array_equal(a["image"], render_sample(8, "train", 3)["image"])


def test_splits_are_disjoint():
    subj = {sp: {render_sample(i, sp)["subject"] for i in range(25)} for sp in ("train", "val", "test")}
    assert not (subj["train"] & subj["val"]) and not (subj["train"] & subj["test"]) and not (subj["val"] & subj["test"])
    ids = {sp: render_sample(0, sp)["sample_id"] for sp in ("train", "val", "test")}
    assert len(set(ids.values())) == 3
    with pytest.raises(KeyError, match="unknown synthetic split"):
        render_sample(0, "validation")


def test_statures_bone_lengths_and_activities(samples):
    statures = [make_subject(i).stature for i in range(300)]
    assert 1500 <= min(statures) and max(statures) <= 1950 and max(statures) - min(statures) > 350
    geo = []
    for s in samples:
        x = s["joints_3d"]
        geo.append(geodesic_length(x))
        bones = np.array([np.linalg.norm(x[c] - x[p]) for p, c in H36M17.bones])
        assert (bones > 0.03 * s["stature"]).all() and (bones < 0.3 * s["stature"]).all()
    # the neck→knee geodesic length spans the range of real people around Human3.6M's 1077 mm
    assert 850 < min(geo) and max(geo) < 1350 and min(geo) < 1000 < 1100 < max(geo)
    # bone lengths are a property of the subject: the same in every pose
    subject_id = samples[0]["subject"]
    same = [s for s in render_sample_many(subject_id)]
    lengths = [[np.linalg.norm(s["joints_3d"][c] - s["joints_3d"][p]) for p, c in H36M17.bones] for s in same]
    assert len(same) >= 2 and np.allclose(lengths[0], lengths[1], rtol=1e-9)
    assert {s["action"] for s in samples} <= set(ACTIVITIES) and len({s["action"] for s in samples}) >= 6


def _body_pose(scene):
    """A scene's joints in its body frame (pelvis at the origin), in units of the subject's stature, and its
    family."""
    _, subject, family, _, _, _, R, t, cam, _ = scene
    return (cam - t) @ R / subject.stature, family


def test_varied_pose_set_reaches_poses_the_activities_do_not():
    """60% of the varied set comes from the added families, whose poses lie about twice as far from their nearest
    activity pose as a new activity pose does; its other 40% are the activities' own distribution."""
    ref = np.stack([_body_pose(_scene(i, "train", 0))[0] for i in range(300)])

    def nearest(p):  # mean joint distance to the closest activity pose
        return np.linalg.norm(ref - p, axis=-1).mean(-1).min()

    held_out = np.median([nearest(_body_pose(_scene(i, "train", 0))[0]) for i in range(300, 400)])
    varied = [_body_pose(_scene(i, "train", 0, "varied")) for i in range(300)]
    families = [f for _, f in varied]
    assert set(families) >= set(VARIED_FAMILIES) and set(families) <= set(VARIED_FAMILIES) | set(ACTIVITIES)
    assert 0.5 < np.mean([f in VARIED_FAMILIES for f in families]) < 0.7
    added = np.median([nearest(p) for p, f in varied if f in VARIED_FAMILIES])
    same = np.median([nearest(p) for p, f in varied if f not in VARIED_FAMILIES])
    assert added > 1.6 * held_out and same < 1.3 * held_out


def test_varied_pose_set_tilts_the_camera_further():
    """The angle between the body's up and the camera's up: at most arccos(cos 10° cos 10°) = 14.1° for the
    activities (pitch and roll ±10°), up to arccos(cos 35° cos 20°) = 39.7° for the varied set."""

    def tilt(scene):
        up = scene[6] @ np.array([0.0, 1.0, 0.0])  # the body's up in camera axes (image y points down)
        return np.degrees(np.arccos(-up[1]))

    act = [tilt(_scene(i, "val", 0)) for i in range(200)]
    var = [tilt(_scene(i, "val", 0, "varied")) for i in range(200)]
    assert max(act) < 14.2 and 30 < max(var) < 39.8 and np.median(var) > 1.5 * np.median(act)


def test_pose_set_keeps_the_default_and_separates_caches_and_ids(tmp_path):
    # the default set is what every cache and published number was made with: pinned
    first = [sample_scene(i, "train", 0)["action"] for i in range(8)]
    assert first == ["Standing", "Walking", "SittingDown", "Bending", "SittingDown", "Bending", "Standing", "Walking"]
    assert np.allclose(sample_scene(0, "train", 0)["joints_3d"][0], [915.4865, 302.1058, 3456.6880], atol=1e-3)
    a, v = SyntheticHumans("val", 4, 0, tmp_path), SyntheticHumans("val", 4, 0, tmp_path, pose_set="varied")
    assert a.cache_dir != v.cache_dir and a.cache_dir.parent == v.cache_dir.parent
    assert sample_scene(1, "val", 0)["sample_id"] != sample_scene(1, "val", 0, "varied")["sample_id"]
    # a config entry's pose_set reaches the data set
    ds = FORMATS["synthetic"][1]({"format": "synthetic", "split": "val", "size": 3, "pose_set": "varied"}, True)
    assert ds.pose_set == "varied" and ds[0]["sample_id"].startswith("synthetic-varied/val/")
    with pytest.raises(ValueError, match="unknown synthetic pose set 'wild'"):
        SyntheticHumans("val", 4, 0, pose_set="wild")


def render_sample_many(subject_id, limit=2, tries=2000):
    found = []
    for i in range(tries):
        s = render_sample(i, "train")
        if s["subject"] == subject_id:
            found.append(s)
            if len(found) == limit:
                break
    return found


def test_record_passes_the_common_validation_and_bad_records_fail(samples):
    s = dict(samples[0])
    validate_sample(s, "synthetic")
    bad = dict(s, joints_2d=s["joints_2d"].copy())
    bad["joints_2d"][3, 0] = np.nan
    with pytest.raises(DataError, match=r"synthetic: record synthetic/train/0/0: field 'joints_2d': NaN .*R_Ankle"):
        validate_sample(bad, "synthetic")
    bad = dict(s, joints_3d=s["joints_3d"][:16])
    with pytest.raises(DataError, match=r"field 'joints_3d': expected shape \(17, 3\)"):
        validate_sample(bad, "x.json")
    bad = dict(s, joints_3d=s["joints_3d"] * np.array([1, 1, -1]))
    with pytest.raises(DataError, match="non-positive depth"):
        validate_sample(bad)
    bad = {k: v for k, v in s.items() if k != "box"}
    with pytest.raises(DataError, match="field 'box': missing"):
        validate_sample(bad)
    with pytest.raises(DataError, match="field 'image'"):
        validate_sample(dict(s, image=s["image"].astype(np.float32)))


def test_dataset_in_dataloader_workers_and_disk_cache(tmp_path):
    import torch

    ds = SyntheticHumans("val", size=6, seed=1, cache_dir=tmp_path)
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, collate_fn=list)
    got = [s for batch in loader for s in batch]
    assert [s["sample_id"] for s in got] == [f"synthetic/val/1/{i}" for i in range(6)]
    assert len(list((tmp_path / "val-1").glob("*.npz"))) == 6 and not list(tmp_path.rglob("*.tmp.npz"))
    for i, s in enumerate(got):
        cached = ds[i]  # read back from the cache
        direct = render_sample(i, "val", 1)
        assert np.array_equal(cached["image"], direct["image"]) and np.array_equal(s["joints_3d"], direct["joints_3d"])
        assert cached["action"] == direct["action"] and "depth" not in cached
        validate_sample(cached, "cache")
    with pytest.raises(IndexError):
        ds[6]


def test_cli_synth_writes_a_browsable_sample(tmp_path):
    assert cli_main(["synth", "--out", str(tmp_path), "-n", "5"]) == 0
    ann = json.loads((tmp_path / "annotations.json").read_text())
    assert len(ann["images"]) == 5 and (tmp_path / "contact_sheet.png").is_file()
    rec = ann["images"][0]
    assert (tmp_path / rec["file_name"]).is_file()
    assert np.array(rec["joints_3d"]).shape == (17, 3) and rec["skeleton"] == "h36m17"
    varied = tmp_path / "varied"
    assert cli_main(["synth", "--out", str(varied), "-n", "12", "--pose-set", "varied", "--split", "val"]) == 0
    ann = json.loads((varied / "annotations.json").read_text())
    assert {r["action"] for r in ann["images"]} & set(VARIED_FAMILIES)
