"""Given 3D poses rendered from calibrated cameras (the ``rendered-poses`` data entry): camera convention, exact
2D/3D annotations, where each camera's image shows the figure, orientations derived from joints, selection, bad
files, the per-action evaluation, the synth preview — on poses the test makes from the synthetic sampler."""

import json

import numpy as np
import pytest
import yaml

from cdlpose.cli import main as cli_main
from cdlpose.data.rendered import RenderedPoses, action_of, joint_frames, read_cameras
from cdlpose.data.sample import DataError, validate_sample
from cdlpose.data.synthetic import body_parts, make_subject, sample_pose
from cdlpose.evaluation import score
from cdlpose.geometry import apply_affine
from cdlpose.skeletons import H36M17

CAMS = ("54138969", "55011271", "58860488", "60457274")
# the sampler's body frame (x: left, y: up, z: forward) → a world with z up, the person facing −y
BODY_TO_WORLD = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])


def _yaw(a):
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _poses(subjects=("S1", "S2"), frames=4, actions=(("Walking", ""), ("Sitting", " 1"))) -> dict:
    """World poses (mm, z up): synthetic people walking about the room's centre, turning as they go."""
    out = {}
    for si, subj in enumerate(subjects):
        sub = make_subject(11 + si, 0)
        for ai, (action, take) in enumerate(actions):
            seq = []
            for t in range(frames):
                P, _ = sample_pose(sub, action, np.random.default_rng([si, ai, t]))
                P = P @ (_yaw(0.4 * t + si) @ BODY_TO_WORLD).T + np.array([100.0 * t - 150, 80.0 * si, 950.0])
                seq.append(P)
            out[f"{subj}/{action}{take}"] = np.array(seq, np.float32)
    return out


def _camera(angle: float, height: float = 1500.0, dist: float = 4500.0):
    """(R, T): a camera on a circle round the origin looking at (0, 0, 1000), image x right and y down;
    R's columns are its axes in world coordinates (``X_cam = R.T @ (X - T)``)."""
    T = np.array([dist * np.cos(angle), dist * np.sin(angle), height])
    z = np.array([0.0, 0.0, 1000.0]) - T
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], 1), T


def _cameras(subjects=("S1", "S2"), ids=CAMS) -> dict:
    out = {}
    for subj in subjects:
        for k, cid in enumerate(ids):
            R, T = _camera(np.deg2rad(20 + 90 * k))
            out.update({f"{subj}/{cid}/R": R, f"{subj}/{cid}/T": T[:, None], f"{subj}/{cid}/f": np.array([[1150.0], [1148.0]]),
                        f"{subj}/{cid}/c": np.array([[500.0 + k], [505.0 - k]]), f"{subj}/{cid}/k": np.zeros((3, 1)),
                        f"{subj}/{cid}/p": np.zeros((2, 1))})
    return out


@pytest.fixture
def files(tmp_path):
    poses, cams = tmp_path / "test_S1_S2_every5.npz", tmp_path / "cameras.npz"
    np.savez(poses, **_poses())
    np.savez(cams, **_cameras())
    return poses, cams


def test_annotations_are_the_poses_seen_by_each_camera(files):
    poses, cams = files
    ds = RenderedPoses(poses, cams)
    raw = np.load(poses)
    cam = np.load(cams)
    assert len(ds) == 2 * 2 * 4 * 4  # subjects × sequences × frames × cameras
    seen = set()
    for i in range(0, len(ds), 3):
        s = ds.scene(i)
        subj, cid = s["subject"], s["camera"]
        row = s["frame"] // 5  # the file holds every 5th frame: 50 Hz frame numbers are 0, 5, 10 …
        P = raw[s["sequence"]][row].astype(np.float64)
        R, T = cam[f"{subj}/{cid}/R"], cam[f"{subj}/{cid}/T"]
        X = (R.T @ (P.T - T)).T  # Martinez's convention, written out
        f, c = cam[f"{subj}/{cid}/f"][:, 0], cam[f"{subj}/{cid}/c"][:, 0]
        assert np.allclose(s["joints_3d"], X, atol=1e-6)
        assert np.allclose(s["joints_2d"], f * X[:, :2] / X[:, 2:] + c, atol=1e-6)
        assert np.allclose(s["f"], f) and np.allclose(s["c"], c)
        assert s["action"] == s["sequence"].split("/")[1].split(" ")[0] and s["sequence"].startswith(subj + "/")
        assert tuple(s["frame_size"]) == ((1000, 1002) if cid in ("54138969", "60457274") else (1000, 1000))
        assert s["sample_id"] == f"{s['sequence']}/{s['frame']:06d}/{cid}"
        seen.add((s["sequence"], s["frame"], cid))
    assert len(seen) == len(range(0, len(ds), 3))
    assert {k[2] for k in seen} == set(CAMS) and {k[1] for k in seen} == {0, 5, 10, 15}
    validate_sample(ds[5], "rendered")


def test_each_camera_shows_the_figure_where_it_sees_it(files):
    poses, cams = files
    ds = RenderedPoses(poses, cams, subjects=["S2"], keep_depth=True)
    assert ds[0]["image"].shape == (256, 256, 3)
    for i in range(0, 16, 1):  # the first pose of S2 from each camera, and the next frames
        s = ds[i]
        uv = apply_affine(s["frame_to_image"], s["joints_2d"])
        px = np.round(uv).astype(int)
        assert ((px >= 0) & (px < 256)).all()
        z = s["joints_3d"][:, 2]
        rendered = s["depth"][px[:, 1], px[:, 0]]
        trunk = [H36M17.index(n) for n in ("Pelvis", "Spine", "Thorax", "Head_top")]
        # the trunk's joints lie inside the figure this camera renders: a surface at most a torso's depth in front
        assert np.isfinite(rendered[trunk]).all(), i
        assert ((z[trunk] - rendered[trunk] > -1.0) & (z[trunk] - rendered[trunk] < 0.2 * s["stature"])).all(), i
        # most joints fall on the body; the crop's corners show the background
        assert np.isfinite(rendered).sum() >= 14
        assert np.isinf(s["depth"][[0, 0, -1, -1], [0, -1, 0, -1]]).all()


def test_orientations_from_joints_are_the_samplers_own():
    sub = make_subject(3, 0)
    for k, activity in enumerate(("Sitting", "Crouching", "Walking", "Phoning")):
        P, parts = sample_pose(sub, activity, np.random.default_rng(k))
        derived = body_parts(P, sub, *joint_frames(P, sub.stature))
        ellipsoids = [(p, q) for p, q in zip(parts, derived) if p[0] == "ellipsoid"]
        assert len(ellipsoids) == 4  # torso, pelvis, head, nose
        for p, q in ellipsoids:
            assert np.allclose(p[1], q[1], atol=1e-6) and np.allclose(p[2], q[2], atol=1e-9)
        if activity in ("Sitting", "Crouching"):  # knees bent well over 20°: the feet are the sampler's too
            feet = [(p, q) for p, q in zip(parts, derived) if p[0] == "capsule" and np.allclose(p[4], [0.12, 0.1, 0.09])]
            for p, q in feet:
                assert np.allclose(p[2], q[2], atol=1e-6)


def test_orientations_follow_the_body_not_the_world():
    sub = make_subject(4, 0)
    P, _ = sample_pose(sub, "Walking", np.random.default_rng(0))
    Q = _yaw(1.1) @ np.array([[1, 0, 0], [0, np.cos(0.7), -np.sin(0.7)], [0, np.sin(0.7), np.cos(0.7)]])
    t = np.array([300.0, -200.0, 900.0])
    a = body_parts(P, sub, *joint_frames(P, sub.stature))
    b = body_parts(P @ Q.T + t, sub, *joint_frames(P @ Q.T + t, sub.stature))
    for p, q in zip(a, b):
        assert np.allclose(Q @ p[1] + t, q[1], atol=1e-6)
        if p[0] == "capsule":
            assert np.allclose(Q @ p[2] + t, q[2], atol=1e-6)
        else:
            assert np.allclose(Q @ p[2], q[2], atol=1e-9)


def test_every_counts_capture_frames(files, tmp_path):
    poses, cams = files
    ds = RenderedPoses(poses, cams, every=10)
    assert sorted({ds.scene(i)["frame"] for i in range(len(ds))}) == [0, 10]
    assert len(ds) == 2 * 2 * 2 * 4
    with pytest.raises(DataError, match="every.*multiple of the file's step \\(5"):
        RenderedPoses(poses, cams, every=7)
    other = tmp_path / "my_poses.npz"  # no 'everyK' in the name: one row per capture frame
    other.write_bytes(poses.read_bytes())
    assert sorted({RenderedPoses(other, cams).scene(i)["frame"] for i in range(0, 64, 4)}) == [0, 1, 2, 3]
    assert RenderedPoses(other, cams, file_step=2, every=4).scene(4)["frame"] == 4


def test_bad_files_are_named(files, tmp_path):
    poses, cams = files
    good = _poses()
    cases = {
        "nan": ({**good, "S1/Walking": np.where(np.arange(17)[None, :, None] == 3, np.nan, good["S1/Walking"])},
                r"S1/Walking.*'poses'.*non-finite"),
        "joints": ({**good, "S1/Walking": good["S1/Walking"][:, :16]}, r"S1/Walking.*expected shape \(N, 17, 3\)"),
        "key": ({**good, "Walking": good["S1/Walking"]}, r"record Walking: field 'key'"),
    }
    for name, (content, pattern) in cases.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **content)
        with pytest.raises(DataError, match=pattern) as e:
            RenderedPoses(path, cams)
        assert str(path) in str(e.value)
    with pytest.raises(DataError, match="S7 not in the file"):
        RenderedPoses(poses, cams, subjects=["S7"])
    only_s1 = tmp_path / "cams_s1.npz"
    np.savez(only_s1, **_cameras(("S1",)))
    with pytest.raises(DataError, match=r"cams_s1.npz: record S2: field 'cameras': no camera of subject S2"):
        RenderedPoses(poses, only_s1)
    behind = tmp_path / "behind.npz"
    moved = {k: v.copy() for k, v in good.items()}
    moved["S2/Sitting 1"][2] += np.array([4500.0 * np.cos(np.deg2rad(20)), 4500.0 * np.sin(np.deg2rad(20)), 0.0])
    np.savez(behind, **moved)
    with pytest.raises(DataError, match=r"S2/Sitting 1 row 2.*camera 54138969"):
        RenderedPoses(behind, cams)
    with pytest.raises(DataError, match="file not found"):
        RenderedPoses(tmp_path / "absent.npz", cams)
    broken = tmp_path / "broken.npz"
    broken.write_bytes(poses.read_bytes()[:100])
    with pytest.raises(DataError, match="not a readable .npz"):
        RenderedPoses(broken, cams)


def test_cached_samples_are_the_rendered_ones(files, tmp_path):
    poses, cams = files
    a = RenderedPoses(poses, cams, cache_dir=tmp_path / "cache", style="full")
    first = a[9]
    files_written = list((tmp_path / "cache").rglob("*.npz"))
    assert len(files_written) == 1
    again = a[9]
    fresh = RenderedPoses(poses, cams, style="full")[9]
    for k in fresh:
        if isinstance(fresh[k], np.ndarray):
            assert np.array_equal(first[k], again[k]) and np.array_equal(fresh[k], again[k]), k
        else:
            assert fresh[k] == again[k] == first[k], k
    # named by what it shows: another selection of the same file reads the same cache entry
    b = RenderedPoses(poses, cams, subjects=["S1"], cache_dir=tmp_path / "cache", style="full")
    j = next(i for i in range(len(b)) if b.scene(i)["sample_id"] == first["sample_id"])
    assert np.array_equal(b[j]["image"], first["image"])
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1


def test_action_names():
    assert action_of("S1/Walking 1") == "Walking" and action_of("S8/WalkDog") == "WalkDog"
    assert action_of("S11/Photo 12") == "Photo" and action_of("S5/SittingDown") == "SittingDown"


def test_per_action_table_pools_frames_and_has_no_published_rows():
    rng = np.random.default_rng(0)
    n = {"Walking": 3, "Eating": 1, "Dancing": 2}  # a pose file may bring its own actions
    actions = [a for a, k in n.items() for _ in range(k)]
    gt = rng.normal(0, 300, (len(actions), 17, 3))
    gt -= gt[:, :1]
    offset = {"Walking": 10.0, "Eating": 40.0, "Dancing": 25.0}
    pred = gt.copy()
    for i, a in enumerate(actions):
        pred[i, 1:, 0] += offset[a]  # every joint but the root off by the action's offset
    valid = np.ones(gt.shape[:2], bool)
    result = score({"pred_3d": pred, "gt_3d": gt, "valid_3d": valid, "action": actions, "skeleton": "h36m17",
                    "pred_uv": np.zeros((6, 17, 2)), "gt_uv": np.zeros((6, 17, 2)), "valid_2d": valid},
                   "h36m-actions", "net")
    row = result["rows"]["net"]
    assert result["columns"] == ["Eating", "Walking", "Dancing", "Avg"]  # Human3.6M's order, then the file's own
    assert row["Walking"] == pytest.approx(10 * 16 / 17) and row["Eating"] == pytest.approx(40 * 16 / 17)
    # pooled over frames (3·10 + 40 + 2·25) / 6, not the mean of the action means (25)
    assert row["Avg"] == pytest.approx(120 / 6 * 16 / 17)
    assert "net · PA-MPJPE" in result["rows"] and result["rows"]["net · PA-MPJPE"]["Avg"] < row["Avg"]
    assert list(result["rows"]) == ["net", "net · PA-MPJPE"]  # no paper rows: not a paper protocol


def test_synth_previews_given_poses(files, tmp_path, capsys):
    poses, cams = files
    out = tmp_path / "preview"
    args = ["synth", "--poses", str(poses), "--cameras", str(cams), "--subjects", "S2", "-n", "6", "--out", str(out)]
    assert cli_main(args) == 0
    ann = json.loads((out / "annotations.json").read_text())
    assert len(ann["images"]) == 6 and ann["subjects"] == ["S2"] and (out / "contact_sheet.png").is_file()
    assert len(list((out / "images").glob("*.jpg"))) == 6
    recs = ann["images"]
    assert all(r["subject"] == "S2" and r["sequence"].startswith("S2/") for r in recs)
    assert len({(r["sequence"], r["frame"], r["camera"]) for r in recs}) == 6
    assert len({r["sequence"] for r in recs}) == 2  # spread over the sequences, not the first frames of one
    before = (out / "annotations.json").read_bytes()
    assert cli_main(args) == 2  # an earlier export is not replaced unasked
    assert "already holds an export" in capsys.readouterr().err
    assert (out / "annotations.json").read_bytes() == before
    assert cli_main(args + ["--overwrite", "-n", "3"]) == 0
    assert len(json.loads((out / "annotations.json").read_text())["images"]) == 3


def test_train_then_evaluate_on_another_pose_file(files, tmp_path, capsys):
    """The recipe's data entry trains, and `evaluate --set` points its test entry at another file (a subject
    the training never saw, cameras of their own) for the per-action table."""
    from cdlpose.config import config_to_dict, load_config

    from pathlib import Path

    poses, cams = files
    configs = Path(__file__).resolve().parents[1] / "configs"
    entries = (f"[{{format: rendered-poses, poses: {poses}, cameras: {cams}, subjects: [S1], image_size: 128, "
               f"role: train}}, {{format: rendered-poses, poses: {poses}, cameras: {cams}, subjects: [S2], every: 10, "
               f"image_size: 128, role: test}}]")
    cfg = load_config(configs / "h36m_rendered_cpu.yaml", [
        f"data.datasets={entries}", "data.root=null", "train.max_steps=2", "train.batch_size=4", "train.workers=0",
        "train.progress=false", f"train.out_dir={tmp_path / 'run'}", "data.val_size=0"])
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    assert cli_main(["train", str(path), "--device", "cpu"]) == 0
    other, other_cams = tmp_path / "other_every5.npz", tmp_path / "other_cameras.npz"
    np.savez(other, **_poses(("S9",), frames=2, actions=(("Greeting", ""), ("Dancing", " 2"))))
    np.savez(other_cams, **_cameras(("S9",), ids=("cam-a", "cam-b")))
    capsys.readouterr()
    assert cli_main(["evaluate", "--checkpoint", str(tmp_path / "run" / "last.pt"), "--device", "cpu", "--set",
                     f"data.datasets.1.poses={other}", f"data.datasets.1.cameras={other_cams}",
                     "data.datasets.1.subjects=[S9]", "data.datasets.1.every=5", "--out", str(tmp_path / "ev")]) == 0
    res = json.loads((tmp_path / "ev" / "eval-h36m-actions.json").read_text())
    assert res["columns"] == ["Greeting", "Dancing", "Avg"] and res["summary"]["samples"] == 2 * 2 * 2
    assert any(k.endswith("· PA-MPJPE") for k in res["rows"]) and not any("paper" in k for k in res["rows"])
    assert tuple(read_cameras(other_cams)["S9"]["cam-a"].frame) == (1000, 1000)


def test_real_human36m_poses_and_cameras(shared_dir):
    root = shared_dir / "data" / "h36m-poses"
    if not (root / "cameras.npz").is_file():
        pytest.skip("h36m-poses absent")
    ds = RenderedPoses(root / "train_S1_S5_S6_S7_S8_every5.npz", root / "cameras.npz", subjects=["S1", "S8"])
    i = next(i for i in range(len(ds)) if ds.scene(i)["sample_id"] == "S1/Walking/000000/54138969")
    s = ds.scene(i)
    # the data's README: S1 Walking frame 0 in camera 54138969, pelvis ≈ (−165, −365, 5295) mm at ≈ (477, 437) px
    assert np.allclose(s["joints_3d"][0], [-165, -365, 5295], atol=1.0)
    assert np.allclose(s["joints_2d"][0], [477, 437], atol=1.0)
    assert tuple(s["frame_size"]) == (1000, 1002)
    assert ds.scene(i + 1)["camera"] == "55011271" and tuple(ds.scene(i + 1)["frame_size"]) == (1000, 1000)
    assert len(ds) == 4 * (12433 + 12946)
    assert all(1600 < sub.stature < 1900 for sub in ds.subjects.values())
    img = ds[i]
    uv = apply_affine(img["frame_to_image"], img["joints_2d"])
    assert img["visible"].sum() >= 9 and ((uv > 0) & (uv < 256)).all()  # trunk joints sit deep in the torso
