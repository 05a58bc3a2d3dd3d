"""Readers on the real-format fixtures in ../shared/fixtures (skipped when absent)."""

import numpy as np
import pytest

from cdlpose.data.readers import (
    load_cameras_pkl, load_image, read_coco, read_h36m_mmpose, read_h36m_moon, read_mpii,
)
from cdlpose.data.sample import DataError, validate_sample
from cdlpose.geometry import Camera, project_distorted


@pytest.fixture(scope="module")
def fixtures(shared_dir):
    d = shared_dir / "fixtures"
    if not (d / "h36m" / "test_h36m_body3d.npz").is_file():
        pytest.skip("fixtures absent")
    return d


def test_h36m_mmpose_layout_projects_onto_its_2d_keypoints(fixtures):
    recs = read_h36m_mmpose(fixtures / "h36m" / "test_h36m_body3d.npz", fixtures / "h36m" / "cameras.pkl")
    assert [r["subject"] for r in recs] == ["S1", "S5", "S7", "S8"]
    assert [r["action"] for r in recs] == ["Directions", "SittingDown", "Greeting", "WalkDog"]
    for r in recs:
        # MMPose's 2D keypoints include Human3.6M's lens distortion (up to 2.2 px on these frames)
        uv = project_distorted(r["joints_3d"], r["f"], r["c"], r["k"], r["p"])
        assert np.abs(uv - r["joints_2d"]).max() < 0.05
        assert 3000 < r["joints_3d"][0, 2] < 7000  # mm
        validate_sample(dict(r, image=load_image(r["image_path"])), "test_h36m_body3d.npz")
    # subject filter and frame sampling
    only = read_h36m_mmpose(fixtures / "h36m" / "test_h36m_body3d.npz", fixtures / "h36m" / "cameras.pkl",
                            subjects=("S9", "S11"))
    assert only == []
    # `every` counts the 50 Hz video frames (frames 0, 2060, 395, 25 here; the file holds every 5th frame)
    every = read_h36m_mmpose(fixtures / "h36m" / "test_h36m_body3d.npz", fixtures / "h36m" / "cameras.pkl", every=10)
    assert [r["frame"] for r in every] == [0, 2060]
    # every 64th video frame (Moon et al.'s test set) cannot come from an every-5th file: a clear error, not
    # silently one frame in 320
    with pytest.raises(DataError, match=r"every: 64 counts 50 Hz video frames.*every 5th frame.*one frame in 320"):
        read_h36m_mmpose(fixtures / "h36m" / "test_h36m_body3d.npz", fixtures / "h36m" / "cameras.pkl", every=64)


def test_h36m_mmpose_frame_equals_the_real_pose_file(fixtures, shared_dir):
    base = shared_dir / "data" / "h36m-poses"
    if not (base / "cameras.npz").is_file():
        pytest.skip("h36m-poses absent")
    rec = read_h36m_mmpose(fixtures / "h36m" / "test_h36m_body3d.npz", fixtures / "h36m" / "cameras.pkl")[0]
    cams, poses = np.load(base / "cameras.npz"), np.load(base / "train_S1_S5_S6_S7_S8_every5.npz")
    k = "S1/54138969/"
    cam = Camera.from_center(cams[k + "R"], cams[k + "T"], cams[k + "f"], cams[k + "c"])
    X = cam.world_to_camera(poses["S1/Directions 1"][0].astype(np.float64))
    assert np.abs(X - rec["joints_3d"]).max() < 1.0  # mm
    assert np.allclose(cam.f, rec["f"]) and np.allclose(cam.c, rec["c"])


def test_cameras_pickle_refuses_code(tmp_path, fixtures):
    import pickle

    assert ("S1", "54138969") in load_cameras_pkl(fixtures / "h36m" / "cameras.pkl")
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps({("S1", "1"): {"R": print}}))
    with pytest.raises(DataError, match="refusing to load builtins.print"):
        load_cameras_pkl(bad)


def test_numpy_pickles_refuse_code(tmp_path):
    """Any pickle of numpy arrays (MPI-INF-3DHP's camera files), nothing else."""
    import pickle

    from cdlpose.data.readers import load_numpy_pickle

    good = tmp_path / "cams.pkl"
    good.write_bytes(pickle.dumps({"TS1": {"f": np.array([[1500.0], [1501.0]])}}))
    assert load_numpy_pickle(good)["TS1"]["f"][1, 0] == 1501.0
    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps({"TS1": {"f": print}}))
    with pytest.raises(DataError, match=r"evil\.pkl.*refusing to load builtins\.print"):
        load_numpy_pickle(bad)


def test_mpii_and_coco_2d_readers(fixtures):
    mp = read_mpii(fixtures / "mpii" / "test_mpii.json")
    assert len(mp) == 5 and all(r["joints_2d"].shape == (16, 2) and not r["valid_3d"].any() for r in mp)
    for r in mp:
        img = load_image(r["image_path"])
        validate_sample(dict(r, image=img), "test_mpii.json")
        x, y, w, h = r["box"]
        inside = r["joints_2d"][r["valid_2d"]]
        assert (inside[:, 0] > x - 1).all() and (inside[:, 0] < x + w + 1).all()
    co = read_coco(fixtures / "coco" / "test_coco.json")
    assert len(co) >= 4 and all(r["skeleton"] == "coco17" for r in co)
    for r in co:
        validate_sample(dict(r, image=load_image(r["image_path"])), "test_coco.json")
        assert r["valid_2d"].sum() > 0 and not np.isnan(r["joints_2d"]).any()


def test_reader_errors_name_file_record_and_field(tmp_path):
    import json

    p = tmp_path / "mpii.json"
    p.write_text(json.dumps([{"image": "a.jpg", "joints": [[0, 0]] * 15, "joints_vis": [1] * 15,
                              "center": [1, 1], "scale": 1.0}]))
    with pytest.raises(DataError, match=r"mpii.json: record 0 \(a.jpg\): field 'joints': expected 16"):
        read_mpii(p)
    p.write_text(json.dumps([{"image": "a.jpg"}]))
    with pytest.raises(DataError, match="field 'joints': missing"):
        read_mpii(p)
    with pytest.raises(FileNotFoundError, match="image file not found"):
        load_image(tmp_path / "none.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="cannot decode image file"):
        load_image(tmp_path / "bad.jpg")


def _write_moon_layout(root, shared_dir, fixtures):
    """Moon et al.'s layout for one frame (S1 Directions 1, camera 1, frame 0), made from the real pose and
    camera files, with the fixture's image: what a researcher holding that release has on disk."""
    import json
    import shutil

    base = shared_dir / "data" / "h36m-poses"
    if not (base / "cameras.npz").is_file():
        pytest.skip("h36m-poses absent")
    cams, poses = np.load(base / "cameras.npz"), np.load(base / "train_S1_S5_S6_S7_S8_every5.npz")
    k = "S1/54138969/"
    cam = Camera.from_center(cams[k + "R"], cams[k + "T"], cams[k + "f"], cams[k + "c"])
    (root / "annotations").mkdir(parents=True)
    name = "s_01_act_02_subact_01_ca_01/s_01_act_02_subact_01_ca_01_000001.jpg"
    (root / "images" / name).parent.mkdir(parents=True)
    shutil.copy(fixtures / "h36m" / "S1" / "S1_Directions_1.54138969" / "S1_Directions_1.54138969_000001.jpg",
                root / "images" / name)
    X = poses["S1/Directions 1"][0].astype(np.float64)
    uv = cam.world_to_pixel(X)
    lo, hi = uv.min(0), uv.max(0)
    data = {"images": [{"id": 7, "file_name": name, "width": 1000, "height": 1002, "subject": 1,
                        "action_name": "Directions", "action_idx": 2, "subaction_idx": 1, "cam_idx": 1,
                        "frame_idx": 0}],
            "annotations": [{"id": 7, "image_id": 7, "bbox": [*lo, *(hi - lo)], "keypoints_vis": [1] * 17}]}
    ann = root / "annotations"
    (ann / "Human36M_subject1_data.json").write_text(json.dumps(data))
    (ann / "Human36M_subject1_camera.json").write_text(json.dumps(
        {"1": {"R": cam.R.tolist(), "t": cam.t.tolist(), "f": cam.f.tolist(), "c": cam.c.tolist()}}))
    (ann / "Human36M_subject1_joint_3d.json").write_text(json.dumps({"2": {"1": {"0": X.tolist()}}}))


def test_same_frame_through_both_h36m_layouts(tmp_path, fixtures, shared_dir):
    _write_moon_layout(tmp_path, shared_dir, fixtures)
    moon = read_h36m_moon(tmp_path, subjects=("S1",))
    mm = read_h36m_mmpose(fixtures / "h36m" / "test_h36m_body3d.npz", fixtures / "h36m" / "cameras.pkl")[0]
    assert len(moon) == 1
    a = moon[0]
    assert (a["subject"], a["action"], a["camera"], a["frame"]) == (mm["subject"], mm["action"], mm["camera"], mm["frame"])
    assert np.abs(a["joints_3d"] - mm["joints_3d"]).max() < 1.0  # mm
    assert np.allclose(a["f"], mm["f"]) and np.allclose(a["c"], mm["c"])
    # Moon projects without lens distortion; MMPose's 2D includes it
    assert np.abs(project_distorted(a["joints_3d"], mm["f"], mm["c"], mm["k"], mm["p"]) - mm["joints_2d"]).max() < 0.05
    assert np.abs(a["joints_2d"] - mm["joints_2d"]).max() < 2.5
    validate_sample(dict(a, image=load_image(a["image_path"])), "moon layout")
    assert np.array_equal(load_image(a["image_path"]), load_image(mm["image_path"]))


def test_moon_layout_errors(tmp_path, fixtures, shared_dir):
    import json

    _write_moon_layout(tmp_path, shared_dir, fixtures)
    p = tmp_path / "annotations" / "Human36M_subject1_joint_3d.json"
    p.write_text(json.dumps({"2": {"1": {"0": [[0, 0, 0]] * 16}}}))
    with pytest.raises(DataError, match=r"joint_3d.json: record .*000001.jpg: field 'joints': expected 17"):
        read_h36m_moon(tmp_path)
    with pytest.raises(FileNotFoundError, match="annotation file not found"):
        read_h36m_moon(tmp_path, subjects=("S9",))


def test_mpii_in_moon_coco_style_layout(tmp_path):
    import json

    from cdlpose.data.readers import read_mpii
    from cdlpose.skeletons import MPII16

    kp = np.zeros((16, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = np.arange(16) * 10.0 + 5, 50.0, 1
    kp[9, 2] = 0  # Head_top not labelled
    data = {"images": [{"id": 7, "file_name": "a.jpg", "width": 640, "height": 480}],
            "annotations": [{"id": 3, "image_id": 7, "keypoints": kp.ravel().tolist(), "bbox": [0, 0, 200, 100]}]}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(data))
    (rec,) = read_mpii(path, tmp_path / "images")
    assert rec["skeleton"] == MPII16.name and rec["sample_id"] == "mpii/3"
    assert np.allclose(rec["joints_2d"][:, 0], np.arange(16) * 10.0 + 5) and not rec["valid_2d"][9]
    assert rec["image_path"] == str(tmp_path / "images" / "a.jpg") and not rec["valid_3d"].any()
    data["annotations"][0]["keypoints"] = kp.ravel().tolist()[:45]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"train.json: record 3: field 'keypoints': expected 16 × \(u, v, visibility\)"):
        read_mpii(path)
