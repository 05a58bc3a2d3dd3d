"""``cdlpose predict`` / ``export``, the viewer, smoothing and detections, with a checkpoint trained inside the test."""

import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from cdlpose.checkpoint import save_checkpoint
from cdlpose.codec import TargetEncoder
from cdlpose.data.datasets import collate
from cdlpose.data.pipeline import AugmentConfig, CropAugment
from cdlpose.data.synthetic import render_sample
from cdlpose.engine import Trainer
from cdlpose.loading import codec_for, load_model
from cdlpose.geometry import apply_affine
from cdlpose.inference import InputError, Predictor
from cdlpose.losses import LossWeights, compute_losses, pose_l1
from cdlpose.predict import match_tracks
from cdlpose.skeletons import geodesic_normalize
from cdlpose.smoothing import OneEuroFilter, smooth_sequence
from cdlpose.vis import PERSON_COLOURS

from .test_engine import tiny

N_FIT = 4


def _fit_samples():
    return [render_sample(i, "train", seed=11) for i in range(N_FIT)]


def _image_box(s):
    """The record's tight joint box mapped into the 256² synthetic image: [x, y, w, h] image px."""
    x, y, w, h = s["box"]
    corners = apply_affine(s["frame_to_image"], np.array([[x, y], [x + w, y + h]]))
    return [*corners[0], *(corners[1] - corners[0])]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny network (ResNet-18 lite, 64² input) fitted to 4 synthetic images through both stages, saved in the
    trainer's checkpoint format; plus an untrained one for comparison."""
    tmp = tmp_path_factory.mktemp("predict")
    # a lifting block that takes the crop camera (model.lift_input: camera): the inference path that has the most
    # to get right (crop cameras from the image camera, the mirrored one for the flip pass, the ONNX input)
    cfg = tiny(tmp, epochs=1, extra=("model.lift_dropout=0.0", "model.lift_input=camera"))
    Trainer(cfg, max_steps=1, device="cpu").fit()
    path = tmp / "run" / "last.pt"
    untrained = tmp / "untrained.pt"
    shutil.copy(path, untrained)
    net, cfg, ckpt = load_model(path, "cpu")
    crop = CropAugment(cfg.model.skeleton, AugmentConfig(input_size=cfg.augment.input_size, train=False))
    batch = collate([crop(s) for s in _fit_samples()])
    enc = TargetEncoder(cfg.model.skeleton, codec_for(cfg))
    batch["uvz"] = torch.cat([batch["uv"], batch["z"][..., None]], -1)
    targets = enc.encode(batch["uvz"], batch["valid_2d"], batch["valid_3d"], bone_sigma=2.0)
    torch.manual_seed(0)
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(160):
        if step == 120:  # ÷10 for the last steps, like the paper's schedule
            for g in opt.param_groups:
                g["lr"] = 3e-4
        losses = compute_losses(net.volumes(batch["image"]), targets, batch, LossWeights())
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
    # stage 2 on the fitted volumes (BatchNorm in eval mode, as at inference)
    net.eval()
    with torch.no_grad():
        uvz = net.volumes(batch["image"])["uvz"]
    # 16 jittered copies of each input: BatchNorm statistics of 4 samples would not carry over to eval mode
    uvz_rep, pose_rep, valid_rep = uvz.repeat(16, 1, 1), batch["pose_3d"].repeat(16, 1, 1), batch["valid_3d"].repeat(16, 1)
    cam_rep = torch.cat([batch["f"], batch["c"]], -1).float().repeat(16, 1)  # the crop cameras (lift_input camera)
    net.lifting.train()
    opt = torch.optim.Adam(net.lifting.parameters(), lr=1e-3)
    for _ in range(300):
        loss = pose_l1(net.lifting(uvz_rep + 0.05 * torch.randn_like(uvz_rep), cam_rep), pose_rep, valid_rep)
        opt.zero_grad()
        loss.backward()
        opt.step()
    ckpt["model"] = net.state_dict()
    save_checkpoint(ckpt, path)
    return {"path": path, "untrained": untrained, "cfg": cfg}


def test_predictions_near_ground_truth_on_images_it_was_fitted_to(trained):
    """The whole inference path (box → crop → network → image pixels / mm) against the ground truth: a network
    fitted to 4 images predicts them far better than an untrained one, in 2D, depth and 3D."""
    samples = _fit_samples()
    imgs = [s["image"] for s in samples]
    boxes = [[_image_box(s)] for s in samples]
    errs = {}
    for name in ("path", "untrained"):
        pred = Predictor.from_checkpoint(trained[name], device="cpu")
        # each image with its own camera (the frame's, mapped into the image), as a lifting block that takes
        # the crop camera needs
        out = []
        for s, img, b in zip(samples, imgs, boxes):
            M = s["frame_to_image"]
            cam = dict(focal=np.asarray(s["f"]) * [M[0, 0], M[1, 1]], centre=apply_affine(M, np.asarray(s["c"])[None])[0])
            out += pred.predict([img], [b], **cam)
        e2d, ez, e3d = [], [], []
        for s, (p,) in zip(samples, out):
            uv = apply_affine(s["frame_to_image"], s["joints_2d"])
            e2d.append(np.linalg.norm(p["keypoints_2d"] - uv, axis=-1).mean())
            rel = s["joints_3d"] - s["joints_3d"][:1]
            ez.append(np.abs(p["uvz"][:, 2] - rel[:, 2]).mean())
            e3d.append(np.linalg.norm(p["keypoints_3d"] - geodesic_normalize(rel)[0], axis=-1).mean())
        errs[name] = (np.mean(e2d), np.mean(ez), np.mean(e3d))
    fit, raw = errs["path"], errs["untrained"]
    # 2D within one output-map pixel (16 px of 256 at 64² input); a wrong crop or mapping back would miss by far
    # more (the untrained network: ~65 px, ~490 mm). 3D after a few hundred steps on 4 images: within 250 mm.
    assert fit[0] < 16 and fit[0] < raw[0] / 3, errs
    assert fit[1] < raw[1] / 1.5, errs
    assert fit[2] < 250 and fit[2] < raw[2] / 2, errs


def test_no_lifting_back_projects_at_the_given_root_depth(trained):
    """``lifting=False`` (``--no-lifting``): the 3D pose is the 2.5D estimate back-projected through the image
    camera at the given root depth plus each joint's relative depth — near the real pose (real scale, not the
    lifting block's normalised one), and placed where the person is."""
    pred = Predictor.from_checkpoint(trained["path"], device="cpu", lifting=False)
    assert pred.pose_3d_source == "back-projection"
    lifted = Predictor.from_checkpoint(trained["path"], device="cpu")
    errs, raw = [], []
    for s in _fit_samples():
        M = s["frame_to_image"]
        cam = dict(focal=np.asarray(s["f"]) * [M[0, 0], M[1, 1]], centre=apply_affine(M, np.asarray(s["c"])[None])[0])
        root = float(s["joints_3d"][0, 2])
        (p,), = pred.predict([s["image"]], [[_image_box(s)]], root_depths=[[root]], **cam)
        (q,), = lifted.predict([s["image"]], [[_image_box(s)]], root_depths=[[root]], **cam)
        assert p["pose_3d_source"] == "back-projection" and p["root_depth_source"] == "given"
        assert q["pose_3d_source"] == "lifting"
        # the same back-projection written out: pixels → rays at the root depth + relative depth
        z = root + p["uvz"][:, 2]
        xyz = np.c_[(p["keypoints_2d"] - cam["centre"]) / cam["focal"] * z[:, None], z]
        np.testing.assert_allclose(p["keypoints_3d"], xyz - xyz[0], atol=1e-6)
        np.testing.assert_allclose(p["keypoints_3d_camera_estimate"], xyz, atol=1e-6)
        errs.append(np.linalg.norm(xyz - s["joints_3d"], axis=-1).mean())
        raw.append(np.linalg.norm(p["keypoints_3d"] - q["keypoints_3d"], axis=-1).mean())
    assert np.mean(errs) < 150, errs  # camera space, mm: the fitted 2.5D estimate at the true root depth
    assert np.mean(raw) > 1, raw  # a different path from the lifting block's


def test_flip_test_is_mirror_consistent(trained):
    pred = Predictor.from_checkpoint(trained["path"], device="cpu", flip=True)
    img = render_sample(1, "test")["image"]
    a = pred.predict(img)[0][0]
    b = pred.predict(np.ascontiguousarray(img[:, ::-1]))[0][0]
    fi = pred.skeleton.flip_index
    mirrored = b["keypoints_2d"][fi].copy()
    mirrored[:, 0] = img.shape[1] - 1 - mirrored[:, 0]
    assert np.allclose(a["keypoints_2d"], mirrored, atol=1e-3)
    assert np.allclose(a["uvz"][:, 2], b["uvz"][fi, 2], atol=1e-3)


def _write_video(path, frames, fps=10):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for f in frames:
        w.write(np.ascontiguousarray(f[..., ::-1]))
    w.release()


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "cdlpose", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def test_predict_cli_images_folder_video_and_a_corrupt_image(trained, tmp_path):
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    samples = _fit_samples()[:2]
    cv2.imwrite(str(folder / "a.jpg"), samples[0]["image"][..., ::-1])
    cv2.imwrite(str(folder / "sub" / "b.png"), samples[1]["image"][..., ::-1])
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    frames = [render_sample(i, "test")["image"] for i in range(6)]
    _write_video(tmp_path / "clip.mp4", frames)
    out = tmp_path / "out"
    r = _cli("predict", "--checkpoint", trained["path"], folder, tmp_path / "clip.mp4", "--out", out, "--smooth",
             "--no-progress")
    assert r.returncode == 3, r.stderr  # one bad input, the rest written
    assert "broken.jpg" in r.stderr and "cannot decode" in r.stderr
    for name in ("a", "b"):
        data = json.loads((out / f"{name}.json").read_text())
        assert data["schema"] == "cdlpose-prediction/2" and data["kind"] == "image"
        assert data["image_size"] == [256, 256] and len(data["joint_names"]) == 17 and data["skeleton"] == "h36m17"
        (p,) = data["people"]
        assert p["box"] == [0.0, 0.0, 256.0, 256.0]
        assert np.array(p["keypoints_2d"]).shape == (17, 2) and np.array(p["keypoints_3d"]).shape == (17, 3)
        assert np.array(p["confidence"]).shape == (17,) and np.array(p["uvz"]).shape == (17, 3)
        assert np.array(p["keypoints_3d_camera_estimate"]).shape == (17, 3) and p["root_depth_mm_estimate"] > 0
        assert cv2.imread(str(out / f"{name}_2d.jpg")).shape == (256, 256, 3)
        assert cv2.imread(str(out / f"{name}_3d.png")) is not None
        assert (out / f"{name}.html").is_file()
    assert not (out / "broken.json").exists()
    video = json.loads((out / "clip.json").read_text())
    assert video["kind"] == "video" and [f["frame"] for f in video["frames"]] == list(range(6))
    assert video["smoothing"]["filter"] == "one-euro"
    first = video["frames"][0]["people"][0]
    assert first["keypoints_3d_smoothed"] == first["keypoints_3d"]  # the filter starts at the first sample
    assert all(len(f["people"]) == 1 and f["people"][0]["track"] == 0 for f in video["frames"])
    cap = cv2.VideoCapture(str(out / "clip.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, frame = cap.read()
    assert ok and frame.shape == (256, 512, 3)  # the overlay and the 3D view side by side
    cap.release()


def test_smoothing_reduces_jitter_past_the_first_frame(trained, tmp_path):
    """A still figure whose detected box jitters: the raw 3D joints jitter from frame to frame; the
    One-Euro-smoothed ones (predict --smooth) move less, and start at the first raw sample."""
    from cdlpose.predict import PredictOptions, run_predict

    from cdlpose.detection import read_detections

    rng = np.random.default_rng(0)
    s0 = _fit_samples()[0]
    _write_video(tmp_path / "still.mp4", [s0["image"]] * 12)
    # a still person whose detected box jitters by a few pixels from frame to frame, as detectors' boxes do
    x, y, w, h = _image_box(s0)
    dets = [{"file_name": "still.mp4", "frame": f, "score": 0.9,
             "bbox": [float(v) for v in np.array([x, y, w, h]) + rng.normal(0, 6, 4) * [1, 1, 1, 1]]}
            for f in range(12)]
    (tmp_path / "d.json").write_text(json.dumps(dets))
    pred = Predictor.from_checkpoint(trained["path"], device="cpu")
    opts = PredictOptions(out=tmp_path / "o", smooth=True, images=False, viewer=False, progress=False,
                          detections=read_detections(tmp_path / "d.json"))
    run_predict(pred, [tmp_path / "still.mp4"], opts)
    data = json.loads((tmp_path / "o" / "still.json").read_text())
    raw = np.array([f["people"][0]["keypoints_3d"] for f in data["frames"]])
    sm = np.array([f["people"][0]["keypoints_3d_smoothed"] for f in data["frames"]])
    assert np.allclose(sm[0], raw[0])
    jitter = lambda x: np.abs(np.diff(x, axis=0)).mean()  # noqa: E731  mm per frame
    assert jitter(raw) > 1.0, jitter(raw)  # the noise does move the raw joints
    assert jitter(sm) < 0.6 * jitter(raw), (jitter(sm), jitter(raw))


def test_boxes_from_the_command_line_and_a_detection_file(trained, tmp_path):
    img = render_sample(0, "test")["image"]
    cv2.imwrite(str(tmp_path / "x.jpg"), img[..., ::-1])
    cv2.imwrite(str(tmp_path / "y.jpg"), img[..., ::-1])
    out = tmp_path / "o1"
    r = _cli("predict", "--checkpoint", trained["path"], tmp_path / "x.jpg", "--out", out, "--box", 10, 20, 100, 200,
             "--box", 120, 0, 100, 250, "--json-only", "--no-viewer", "--no-progress")
    assert r.returncode == 0, r.stderr
    people = json.loads((out / "x.json").read_text())["people"]
    assert [p["box"] for p in people] == [[10, 20, 100, 200], [120, 0, 100, 250]]
    assert not (out / "x_2d.jpg").exists() and not (out / "x.html").exists()
    dets = [{"file_name": "x.jpg", "bbox": [5, 5, 80, 200], "score": 0.9, "category_id": 1},
            {"file_name": "x.jpg", "bbox": [100, 5, 80, 200], "score": 0.95},
            {"file_name": "x.jpg", "bbox": [0, 0, 10, 10], "score": 0.2},  # below --min-score
            {"file_name": "x.jpg", "bbox": [0, 0, 50, 50], "score": 0.99, "category_id": 3},  # not a person
            {"image_id": "y", "bbox": [30, 30, 100, 100], "score": 0.8}]
    (tmp_path / "dets.json").write_text(json.dumps(dets))
    out = tmp_path / "o2"
    r = _cli("predict", "--checkpoint", trained["path"], tmp_path / "x.jpg", tmp_path / "y.jpg", "--out", out,
             "--detections", tmp_path / "dets.json", "--json-only", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert [p["box"] for p in json.loads((out / "x.json").read_text())["people"]] == [[100, 5, 80, 200],
                                                                                       [5, 5, 80, 200]]
    assert [p["box"] for p in json.loads((out / "y.json").read_text())["people"]] == [[30, 30, 100, 100]]


def test_clear_errors_for_bad_input(trained, tmp_path):
    img = render_sample(0, "test")["image"]
    cv2.imwrite(str(tmp_path / "x.jpg"), img[..., ::-1])
    ck = trained["path"]
    r = _cli("predict", "--checkpoint", ck, tmp_path / "missing.jpg", "--out", tmp_path / "o")
    assert r.returncode == 2 and "input not found" in r.stderr and "missing.jpg" in r.stderr
    assert "Traceback" not in r.stderr
    r = _cli("predict", "--checkpoint", tmp_path / "nope.pt", tmp_path / "x.jpg", "--out", tmp_path / "o")
    assert r.returncode == 2 and "checkpoint not found" in r.stderr and "Traceback" not in r.stderr
    r = _cli("predict", "--checkpoint", ck, tmp_path / "x.jpg", "--out", tmp_path / "o", "--box", 10, 10, 0, 40)
    assert r.returncode == 3 and "zero area" in r.stderr
    r = _cli("predict", "--checkpoint", ck, tmp_path / "x.jpg", "--out", tmp_path / "o", "--box", 400, 10, 20, 40)
    assert r.returncode == 3 and "outside the 256×256 image" in r.stderr
    (tmp_path / "fake.mp4").write_bytes(b"this is not a video")
    r = _cli("predict", "--checkpoint", ck, tmp_path / "fake.mp4", "--out", tmp_path / "o", "--no-progress")
    assert r.returncode == 3 and "fake.mp4" in r.stderr and "video" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "d.json").write_text(json.dumps([{"file_name": "x.jpg", "bbox": [1, 2, 3]}]))
    r = _cli("predict", "--checkpoint", ck, tmp_path / "x.jpg", "--out", tmp_path / "o", "--detections",
             tmp_path / "d.json")
    assert r.returncode == 2 and "entry 0: field 'bbox' must be 4 finite numbers" in r.stderr
    r = _cli("predict", "--checkpoint", ck, tmp_path / "x.jpg", "--out", tmp_path / "o", "--detections",
             tmp_path / "none.json")
    assert r.returncode == 2 and "detection file not found" in r.stderr


def test_detector_offline_says_how_to_get_the_weights(tmp_path, monkeypatch):
    pytest.importorskip("torchvision")
    from cdlpose.detection import PersonDetector

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("network unreachable")))
    with pytest.raises(InputError, match=r"(?s)fasterrcnn_resnet50_fpn_coco.*\.pth.*checkpoints.*--detections"):
        PersonDetector("cpu")


def test_detector_keeps_confident_people_as_xywh_boxes():
    from cdlpose.detection import PersonDetector

    det = PersonDetector.__new__(PersonDetector)  # the weights are not here: a stand-in model with known outputs
    det.device, det.min_score = "cpu", 0.5
    det.model = lambda images: [{"boxes": torch.tensor([[10.0, 20.0, 110.0, 220.0], [0, 0, 5, 5], [50, 60, 70, 90]]),
                                 "labels": torch.tensor([1, 1, 3]), "scores": torch.tensor([0.9, 0.3, 0.99])}
                                for _ in images]
    assert det([np.zeros((240, 320, 3), np.uint8)]) == [[[10.0, 20.0, 100.0, 200.0]]]


def test_one_euro_filter():
    rng = np.random.default_rng(0)
    still = np.full((200, 17, 3), 100.0)
    assert np.allclose(smooth_sequence(still), still)
    noisy = still + rng.normal(0, 10, still.shape)
    sm = smooth_sequence(noisy, rate=30, min_cutoff=1.0, beta=0.0)
    assert sm[50:].std() < 0.4 * noisy[50:].std()  # jitter at rest is damped
    # a fast movement: a larger beta follows it with less lag
    t = np.arange(60) / 30.0
    ramp = np.stack([t * 3000.0] * 3, -1)[:, None, :]
    lag = {b: np.abs(smooth_sequence(ramp, 30, 1.0, b) - ramp)[-1].max() for b in (0.0, 0.05)}
    assert lag[0.05] < 0.5 * lag[0.0]
    with pytest.raises(ValueError, match="shape"):
        f = OneEuroFilter()
        f(np.zeros(3))
        f(np.zeros(4))


def test_one_euro_filter_with_timestamps_uses_the_time_between_samples():
    """Issue 31: with timestamps the filter runs at 1 / (time since the previous sample) — a variable frame rate,
    a missed frame — and without them at the rate it was given, as before."""
    rng = np.random.default_rng(1)
    xs = rng.normal(0, 50, (40, 17, 3)).cumsum(0)
    even = np.arange(40) / 30.0
    assert np.allclose(smooth_sequence(xs, 30, 1.0, 0.01, times=even), smooth_sequence(xs, 30, 1.0, 0.01))
    # one step by hand, α(f) = 1 / (1 + rate / (2π f)), with dt = 0.2 s (five frames at 25 fps were dropped)
    f = OneEuroFilter(25.0, min_cutoff=1.0, beta=0.0, d_cutoff=1.0)
    f(np.zeros(2), t=1.0)
    got = f(np.array([10.0, -4.0]), t=1.2)
    a = 1.0 / (1.0 + 5.0 / (2 * np.pi * 1.0))
    assert f.last_rate == pytest.approx(5.0) and np.allclose(got, a * np.array([10.0, -4.0]))
    frame_rate = OneEuroFilter(25.0, 1.0, 0.0)
    frame_rate(np.zeros(2))
    assert not np.allclose(frame_rate(np.array([10.0, -4.0])), got)  # 1/25 s would smooth far more
    # a timestamp that does not rise (a duplicated frame) falls back to the given rate; none that is not finite
    f(np.zeros(2), t=1.2)
    assert f.last_rate == 25.0
    with pytest.raises(ValueError, match="timestamp"):
        f(np.zeros(2), t=float("nan"))


def test_track_matching_by_iou():
    prev = [[0, 0, 10, 10], [100, 100, 10, 10]]
    assert match_tracks(prev, [[101, 99, 10, 10], [1, 1, 10, 10], [300, 300, 5, 5]]) == [1, 0, None]
    assert match_tracks([], [[0, 0, 1, 1]]) == [None]


def test_onnx_export_matches_pytorch(trained, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from cdlpose.export import export_onnx

    out = tmp_path / "model.onnx"
    s = export_onnx(trained["path"], out)
    assert out.is_file() and s["batches"] == [1, 3]  # a dynamic batch
    # the same pose to float32 rounding: on average within 1e-4 mm, at worst a few units in the last place of the
    # largest coordinate (float32's spacing is 6e-5 mm at 0.5–1 m, so 1e-4 mm everywhere cannot be promised)
    assert s["mean_abs_pose_3d"] < 1e-4, s  # mm
    assert s["max_abs_pose_3d"] <= 8 * s["pose_ulp"] and s["max_abs_pose_3d"] < 1e-3, s
    assert s["max_abs_uvz"] < 1e-4, s
    # joint confidence sums the mass inside a window around the estimate: rounding can move a voxel across its edge
    assert s["mean_abs_confidence"] < 1e-3, s
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert meta["cdlpose.skeleton"] == "h36m17" and meta["cdlpose.input_size"] == "64"
    r = _cli("export", "--checkpoint", trained["path"], "--format", "onnx", "--out", tmp_path / "cli.onnx")
    assert r.returncode == 0 and "pose max |Δ|" in r.stdout, r.stderr


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def _headless(*args):
    exe = _chromium()
    return subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--disable-dev-shm-usage", *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (apt install chromium)")
def test_html_viewer_renders_in_headless_chromium(trained, tmp_path):
    frames = [render_sample(i, "test")["image"] for i in range(4)]
    _write_video(tmp_path / "clip.mp4", frames)
    cv2.imwrite(str(tmp_path / "still.jpg"), frames[0][..., ::-1])
    out = tmp_path / "out"
    r = _cli("predict", "--checkpoint", trained["path"], tmp_path / "clip.mp4", tmp_path / "still.jpg", "--out", out,
             "--box", 20, 10, 200, 240, "--box", 0, 0, 120, 256, "--no-progress")
    assert r.returncode == 0, r.stderr
    page = (out / "clip.html").read_text()
    assert "http://" not in page and "https://" not in page  # nothing to fetch
    # the script ran: the status line reflects the frame and view asked for in the URL
    dom = _headless("--dump-dom", f"file://{out / 'clip.html'}#frame=2&azim=60&zoom=1.5").stdout
    assert "frame 2 of 0–3 · 2 people · azimuth 60°" in dom and "zoom 1.50" in dom  # frames numbered as in the JSON
    assert 'data-rendered="32"' in dom  # 2 people × 16 bones drawn
    shots = {}
    for view in ("azim=-30", "azim=90"):
        png = tmp_path / f"{view}.png"
        _headless(f"--screenshot={png}", "--window-size=1000,700", f"file://{out / 'clip.html'}#{view}")
        img = cv2.imread(str(png))[..., ::-1]
        canvas = img[50:600, 10:650].astype(int)
        # two people: each in a colour of their own (left limbs in it, right limbs darker)
        for c in (PERSON_COLOURS[0], PERSON_COLOURS[1], [int(v * 0.55) for v in PERSON_COLOURS[0]]):
            n = (np.abs(canvas - c).sum(-1) < 40).sum()
            assert n > 50, (view, c, n)
        shots[view] = canvas
    assert np.abs(shots["azim=-30"] - shots["azim=90"]).mean() > 0.5  # the view turned
    dom = _headless("--dump-dom", f"file://{out / 'still.html'}").stdout
    assert "<div id=\"status\">2 people · azimuth" in dom and "data:image/jpeg;base64," in dom
