"""Issue 18: inference where users already work — COCO results, H.264 video that a browser plays, the ONNX Runtime
backend, cameras, glob patterns, drawing options, tracks that survive a missed frame, and real checks of
smoothing, joint confidence and the root-depth estimate. A one-step tiny network (64² input) is enough: these
tests check the plumbing and the numbers it must carry, not the accuracy."""

import json
import shutil
import subprocess

import cv2
import numpy as np
import pytest
import torch

from cdlpose.cli import main as cli_main
from cdlpose.data.synthetic import render_sample
from cdlpose.engine import Trainer
from cdlpose.inference import InputError, Predictor, network_outputs, root_depth_estimate
from cdlpose.predict import COCO_RESULTS, PredictOptions, Tracker, collect_inputs, run_predict
from cdlpose.vis import PERSON_COLOURS, draw_skeleton, render_3d_view

from .test_engine import tiny


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("io")
    Trainer(tiny(tmp, epochs=1, extra=("model.lift_input=camera",)), max_steps=1, device="cpu").fit()  # camera path
    return tmp / "run" / "last.pt"


@pytest.fixture(scope="module")
def pred(ckpt):
    return Predictor.from_checkpoint(ckpt, device="cpu")


def _img(path, index=0):
    cv2.imwrite(str(path), render_sample(index, "test")["image"][..., ::-1])
    return path


def _cli(capsys, *args):
    code = cli_main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _write_video(path, frames, fps=10):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, frames[0].shape[1::-1])
    for f in frames:
        w.write(np.ascontiguousarray(f[..., ::-1]))
    w.release()


# ------------------------------------------------------------------------------------------- 1: results formats


def test_coco_results_file_with_scores_and_3d_fields(ckpt, pred, tmp_path, capsys):
    """predictions.coco.json is COCO's keypoint results (tests/test_coco_results.py scores it with pycocotools):
    a list, integer ids, COCO-17 joints; the 3D fields and the detection score are in each input's JSON."""
    from cdlpose.predict import COCO_IMAGE_IDS
    from cdlpose.skeletons import coco17_index

    _img(tmp_path / "000000000785.jpg")
    _img(tmp_path / "walk.jpg", 1)
    (tmp_path / "d.json").write_text(json.dumps([
        {"image_id": 785, "bbox": [10, 20, 100, 200], "score": 0.9},
        {"image_id": 785, "bbox": [120, 10, 100, 220], "score": 0.6},
        {"file_name": "walk.jpg", "bbox": [30, 30, 150, 200], "score": 0.8}]))
    out = tmp_path / "out"
    code, printed, err = _cli(capsys, "predict", "--checkpoint", ckpt, tmp_path / "000000000785.jpg",
                              tmp_path / "walk.jpg", "--detections", tmp_path / "d.json", "--out", out, "--json-only",
                              "--no-viewer", "--no-progress")
    assert code == 0, err
    assert printed.startswith(f"model: {ckpt} (h36m17, 17 joints); trained on synthetic (full)")
    anns = json.loads((out / COCO_RESULTS).read_text())
    ids = json.loads((out / COCO_IMAGE_IDS).read_text())["images"]
    walk = ids[str(tmp_path / "walk.jpg")]
    assert ids[str(tmp_path / "000000000785.jpg")] == 785 and type(walk) is int and walk != 785
    got = [(a["image_id"], a["bbox"][0]) for a in anns]
    assert isinstance(anns, list) and len(got) == 3 and set(got) == {(785, 10.0), (785, 120.0), (walk, 30.0)}
    per_input = json.loads((out / "000000000785.json").read_text())
    assert per_input["schema"] == "cdlpose-prediction/2"
    assert per_input["trained_on"] == [{"format": "synthetic", "style": "full"}]
    J = len(pred.skeleton.joints)
    for a in anns:
        assert set(a) == {"image_id", "category_id", "keypoints", "score", "bbox"} and a["category_id"] == 1
        assert len(a["keypoints"]) == 51
    # the COCO score is detection score × mean joint confidence; the detection score is in the input's JSON
    first = next(a for a in anns if a["bbox"][0] == 10.0)
    p = per_input["people"][0]
    assert p["detection_score"] == 0.9 and np.array(p["keypoints_3d"]).shape == (J, 3)
    assert p["score"] == pytest.approx(0.9 * np.mean(p["confidence"]), abs=1e-4) and first["score"] == p["score"]
    kp = np.array(first["keypoints"]).reshape(17, 3)
    idx = coco17_index(pred.skeleton)
    assert np.allclose(kp[idx >= 0, :2], np.array(p["keypoints_2d"])[idx[idx >= 0]], atol=0.01)
    assert np.allclose(kp[idx >= 0, 2], np.array(p["confidence"])[idx[idx >= 0]], atol=1e-4)
    assert not kp[idx < 0].any()  # eyes and ears: 0, 0, 0
    # the Python API and the JSON use the same names
    api = pred.predict([cv2.imread(str(tmp_path / "walk.jpg"))[..., ::-1].copy()], [[[30, 30, 150, 200]]],
                       scores=[[0.8]])[0][0]
    assert set(api) == set(json.loads((out / "walk.json").read_text())["people"][0])
    # a second run into the folder for one input replaces that input's entries (its id kept) and keeps the other's
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, tmp_path / "walk.jpg", "--box", 0, 0, 200, 250,
                        "--out", out, "--json-only", "--no-viewer", "--no-progress")
    assert code == 0, err
    anns = json.loads((out / COCO_RESULTS).read_text())
    got = [(a["image_id"], a["bbox"][0], a["score"]) for a in anns]
    assert len(got) == 3 and {g[:2] for g in got} == {(785, 10.0), (785, 120.0), (walk, 0.0)}
    # --image-list (alias --coco-annotations) gives every input its id from a COCO annotation file
    (tmp_path / "gt.json").write_text(json.dumps({"images": [{"id": 5, "file_name": "walk.jpg"}]}))
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, tmp_path / "walk.jpg", "--box", 0, 0, 200, 250,
                        "--coco-annotations", tmp_path / "gt.json", "--out", tmp_path / "out2", "--json-only",
                        "--no-viewer", "--no-progress")
    assert code == 0, err
    assert [a["image_id"] for a in json.loads((tmp_path / "out2" / COCO_RESULTS).read_text())] == [5]


def test_a_foreign_results_file_is_not_replaced(ckpt, tmp_path, capsys):
    _img(tmp_path / "a.jpg")
    out = tmp_path / "out"
    out.mkdir()
    (out / COCO_RESULTS).write_text("the user's own file")
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, tmp_path / "a.jpg", "--out", out, "--no-progress")
    assert code == 2 and COCO_RESULTS in err and "--overwrite" in err
    assert (out / COCO_RESULTS).read_text() == "the user's own file"


# ------------------------------------------------------------------------------------------- 2: videos that play


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def test_video_is_h264_yuv420p(ckpt, tmp_path, capsys):
    """The MP4 is H.264 in yuv420p (an odd frame size padded) with every frame; the JSON names it for the viewer.
    (Smoothing past the first frame is checked in test_predict.py with a fitted network, whose output moves.)"""
    av = pytest.importorskip("av")
    frames = [render_sample(i, "test")["image"][:, :-1] for i in range(5)]  # 255 px wide: an odd width
    _write_video(tmp_path / "odd.mp4", frames)
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, tmp_path / "odd.mp4", "--out", out, "--no-progress")
    assert code == 0, err
    with av.open(str(out / "odd.mp4")) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert s.width % 2 == 0 and s.height == 256
        assert sum(1 for _ in c.decode(video=0)) == 5
    assert json.loads((out / "odd.json").read_text())["video"]["file"] == "odd.mp4"
    # an odd frame size (yuv420p needs even ones) is padded by a pixel, not refused
    from cdlpose.predict.video import H264Writer

    w = H264Writer(tmp_path / "odd2.mp4", 10.0, 255, 101)
    for i in range(3):
        w.write(np.full((101, 255, 3), 40 * i, np.uint8))
    w.close()
    with av.open(str(tmp_path / "odd2.mp4")) as c:
        s = c.streams.video[0]
        assert (s.width, s.height, s.codec_context.name) == (256, 102, "h264")
        assert sum(1 for _ in c.decode(video=0)) == 3


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (apt install chromium)")
def test_headless_chromium_plays_the_mp4_and_the_viewer_shows_it(ckpt, tmp_path, capsys):
    frames = [render_sample(i, "test")["image"] for i in range(12)]
    _write_video(tmp_path / "clip.mp4", frames)
    out = tmp_path / "out"
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, tmp_path / "clip.mp4", "--out", out, "--no-progress",
                        "--box", 20, 10, 200, 240, "--box", 0, 0, 120, 256)
    assert code == 0, err
    # a <video> element: Chromium decodes it (readyState ≥ 2) and playback advances currentTime
    (out / "play.html").write_text("""<!doctype html><html><body><video id="v" src="clip.mp4" muted playsinline
autoplay></video><div id="r">waiting</div><script>
const v = document.getElementById("v"), r = document.getElementById("r");
v.addEventListener("error", () => { r.textContent = "error " + (v.error && v.error.message); });
const poll = () => { if (v.readyState >= 2 && v.currentTime > 0.05) r.textContent = "playing " + v.readyState + " "
  + v.currentTime.toFixed(2); else setTimeout(poll, 50); };
v.play().catch(e => { r.textContent = "play() refused " + e; }); poll();
</script></body></html>""")
    args = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
            "--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=15000", "--dump-dom"]
    dom = subprocess.run([*args, f"file://{out / 'play.html'}"], capture_output=True, text=True, timeout=120).stdout
    assert '<div id="r">playing ' in dom, dom[-400:]
    # the viewer: the video's frame beside the 3D view, frames numbered as in the JSON
    dom = subprocess.run([*args, f"file://{out / 'clip.html'}#frame=2"], capture_output=True, text=True,
                         timeout=120).stdout
    assert 'id="vidbox"' in dom and 'src="clip.mp4"' in dom
    assert "frame 2 of 0–11 · 2 people" in dom and "frame 2 of 0–11 · 0.20 s" in dom


# ------------------------------------------------------------------------------------------- 3: inputs


class FakeCapture:
    """A camera stand-in: ``n`` frames, then the stream ends (or Ctrl-C at frame ``interrupt``)."""

    def __init__(self, n=30, interrupt=None):
        self.n, self.interrupt, self.i, self.released = n, interrupt, 0, False

    def isOpened(self):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 15.0, cv2.CAP_PROP_FRAME_WIDTH: 256, cv2.CAP_PROP_FRAME_HEIGHT: 256}.get(prop, 0)

    def read(self):
        if self.interrupt is not None and self.i == self.interrupt:
            raise KeyboardInterrupt
        if self.i >= self.n:
            return False, None
        self.i += 1
        return True, render_sample(self.i % 4, "test")["image"][..., ::-1].copy()

    def release(self):
        self.released = True


def test_a_camera_is_written_like_a_video(pred, tmp_path):
    cams = {}

    def open_camera(index):
        cams[index] = FakeCapture(interrupt=None if index == 0 else 3)
        return cams[index]

    out = tmp_path / "out"
    opts = PredictOptions(out=out, cameras=[0], max_frames=5, capture=open_camera, progress=False)
    res = run_predict(pred, [], opts)
    assert res["outputs"] == ["camera0"] and not res["errors"], res
    data = json.loads((out / "camera0.json").read_text())
    assert data["kind"] == "camera" and [f["frame"] for f in data["frames"]] == [0, 1, 2, 3, 4]
    assert data["fps"] == 15.0 and cams[0].released
    assert (out / "camera0.mp4").is_file() and (out / "camera0.html").is_file()
    # Ctrl-C ends the recording: what was read is written
    opts = PredictOptions(out=tmp_path / "out2", cameras=[1], capture=open_camera, progress=False)
    run_predict(pred, [], opts)
    assert len(json.loads((tmp_path / "out2" / "camera1.json").read_text())["frames"]) == 3


def test_camera_cli_refuses_a_camera_that_does_not_open(ckpt, tmp_path, capsys, monkeypatch):
    import cv2

    class Closed(FakeCapture):
        def isOpened(self):
            return False

    monkeypatch.setattr(cv2, "VideoCapture", lambda *a: Closed())
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, "--camera", 7, "--out", tmp_path / "o",
                        "--no-progress")
    assert code == 3 and "cannot open camera 7" in err


def test_glob_patterns_urls_and_the_whole_image_warning(ckpt, pred, tmp_path, capsys):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for p in ("a/x1.jpg", "a/x2.jpg", "a/b/y.png"):
        _img(tmp_path / p)
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    got = collect_inputs([str(tmp_path / "a" / "x*.jpg")])
    assert [p.name for p, _ in got] == ["x1.jpg", "x2.jpg"]
    assert [p.name for p, _ in collect_inputs([str(tmp_path / "**" / "*.png")])] == ["y.png"]
    with pytest.raises(InputError, match=r"no images or videos match the pattern .*z\*\.jpg"):
        collect_inputs([str(tmp_path / "z*.jpg")])
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, "https://example.com/walk.jpg", "--out",
                        tmp_path / "o")
    assert code == 2 and "https://example.com/walk.jpg: URLs are not supported" in err
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, str(tmp_path / "a" / "x*.jpg"), "--out",
                        tmp_path / "o", "--json-only", "--no-viewer", "--no-progress")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "o").glob("x*.json")) == ["x1.json", "x2.json"]
    # said once, before the run (tests/test_predict_first_contact.py checks when)
    assert err.count("taken as one person covering the whole frame") == 1 and "--detector" in err
    # with boxes, no warning
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, tmp_path / "a" / "x1.jpg", "--box", 0, 0, 100, 200,
                        "--out", tmp_path / "o2", "--json-only", "--no-progress")
    assert code == 0 and "whole frame" not in err


# ------------------------------------------------------------------------------------------- 4: drawing


def test_low_confidence_joints_are_drawn_faint_and_options_apply():
    from cdlpose.skeletons import get_skeleton

    sk = get_skeleton("h36m17")
    img = np.zeros((200, 200, 3), np.uint8)
    uv = np.stack([np.linspace(20, 180, 17), np.full(17, 100.0)], 1)
    uv[5] = [100, 30]  # a joint away from the others' bones
    conf = np.full(17, 0.9)
    conf[5] = 0.02
    full = draw_skeleton(img, uv, sk, confidence=conf, kpt_thr=0.0, radius=4)
    faint = draw_skeleton(img, uv, sk, confidence=conf, kpt_thr=0.3, radius=4)
    hidden = draw_skeleton(img, uv, sk, confidence=conf, kpt_thr=0.3, radius=4, faint=0.0)
    assert full[30, 100].tolist() == [255, 255, 255]  # joint dots are white
    assert 30 < faint[30, 100].max() < 120  # the low joint: a quarter of it
    assert hidden[30, 100].max() == 0
    assert full[100, 20].tolist() == faint[100, 20].tolist() == [255, 255, 255]  # confident joints as before
    no_dots = draw_skeleton(img, uv, sk, radius=0, thickness=1)
    assert (no_dots[95:106, 16:25] == 255).all(-1).sum() == 0
    thick = draw_skeleton(img, uv, sk, radius=0, thickness=7)
    assert (thick.max(-1) > 0).sum() > 3 * (no_dots.max(-1) > 0).sum()
    # two people: each in a colour of their own
    two = draw_skeleton(draw_skeleton(img, uv, sk, person=0), uv + [0, 50], sk, person=1)
    for c in PERSON_COLOURS[:2]:
        assert (np.abs(two.astype(int) - c).sum(-1) < 30).sum() > 20


def test_3d_figure_fits_the_skeleton_and_has_a_scale_bar():
    from cdlpose.skeletons import get_skeleton

    sk = get_skeleton("h36m17")
    rng = np.random.default_rng(1)
    pose = rng.normal(0, 1, (17, 3)) * [400, 900, 400]  # ~3 m tall, beyond the video's 1100 mm extent
    for azim in (-25.0, 65.0, 180.0):
        img = render_3d_view([pose], sk, 200, azim=azim, extent=1100.0)
        coloured = np.abs(img.astype(int) - img[..., :1].astype(int)).max(-1) > 40  # bone colours, not greys
        assert coloured.any()
        ys, xs = np.nonzero(coloured)
        assert ys.min() > 0 and xs.min() > 0 and ys.max() < 199 and xs.max() < 199, azim
    img = render_3d_view([pose * 0.3], sk, 200)
    bar = img[185:195, 5:60]
    assert ((bar < 100).all(-1)).sum() > 30  # the dark scale bar at the bottom left


# ------------------------------------------------------------------------------------------- 6: tracking


def test_a_track_survives_a_missed_detection():
    tr = Tracker(max_missed=2)
    seq = [[[0, 0, 50, 100], [200, 0, 50, 100]],
           [[4, 0, 50, 100], [204, 0, 50, 100]],
           [[208, 0, 50, 100]],  # the first person is missed
           [[12, 0, 50, 100], [212, 0, 50, 100]]]
    ids = [tr.update(boxes) for boxes in seq]
    assert ids == [[0, 1], [0, 1], [1], [0, 1]]
    # missed for longer than max_missed frames: a new track
    for _ in range(3):
        tr.update([[220, 0, 50, 100]])
    assert tr.update([[16, 0, 50, 100], [224, 0, 50, 100]]) == [2, 1]


def test_a_missed_frame_keeps_the_id_and_the_smoothing_in_predict(pred, tmp_path):
    from cdlpose.detection import read_detections

    frames = [render_sample(i % 3, "test")["image"] for i in range(5)]
    _write_video(tmp_path / "v.mp4", frames)
    dets = [{"file_name": "v.mp4", "frame": f, "bbox": [10 + f, 10, 150, 230], "score": 0.9} for f in (0, 1, 3, 4)]
    (tmp_path / "d.json").write_text(json.dumps(dets))
    opts = PredictOptions(out=tmp_path / "o", detections=read_detections(tmp_path / "d.json"), smooth=True,
                          images=False, viewer=False, progress=False)
    run_predict(pred, [tmp_path / "v.mp4"], opts)
    data = json.loads((tmp_path / "o" / "v.json").read_text())
    assert [[p["track"] for p in f["people"]] for f in data["frames"]] == [[0], [0], [], [0], [0]]
    after = data["frames"][3]["people"][0]
    assert after["keypoints_3d_smoothed"] != after["keypoints_3d"]  # the filter went on, not restarted


# ------------------------------------------------------------------------------------------- real numbers


def test_root_depth_estimate_for_pinned_numbers(pred):
    # RootNet's k-value on the box it crops (tests/test_inference.py checks the formula): f = 1000 px, a 200 × 200
    # box at (28, 28) in the 256 × 256 image → sanitised 199 × 199 → ×1.25 = 248.75 px, k = 1000 · 2000 / 248.75
    k = 1000.0 * 2000.0 / 248.75
    assert root_depth_estimate([28, 28, 200, 200], (1000.0, 1000.0), (256, 256)) == pytest.approx(k)
    img = render_sample(0, "test")["image"]
    (p,) = pred.predict([img], [[[28, 28, 200, 200]]], focal=(1000.0, 1000.0))[0]
    assert p["root_depth_mm_estimate"] == pytest.approx(k)
    root = pred.skeleton.root
    u, v = p["keypoints_2d"][root]
    expected = [(u - 127.5) / 1000 * k, (v - 127.5) / 1000 * k, k]
    assert np.allclose(p["keypoints_3d_camera_estimate"][root], expected, atol=1e-6)


def test_joint_confidence_on_volumes_whose_answer_is_known():
    from cdlpose.codec import joint_confidence, soft_argmax_3d

    D, H, W = 8, 16, 16
    vol = torch.full((1, 2, D, H, W), -1e4)
    vol[0, 0, 3, 5, 9] = 0.0  # all mass in one voxel: confidence 1
    vol[0, 1] = 0.0  # uniform: estimate at the centre 7.5, the window |x − 7.5| ≤ 1.5 holds 4 × 4 of 256 pixels
    uvz = soft_argmax_3d(vol)
    conf = joint_confidence(vol, uvz)
    assert conf[0, 0].item() == pytest.approx(1.0, abs=1e-5)
    assert conf[0, 1].item() == pytest.approx(16 / 256, abs=1e-4)


# ------------------------------------------------------------------------------------------- 5: ONNX


def test_onnx_backend_matches_pytorch(ckpt, tmp_path, capsys):
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    import onnx

    from cdlpose.export import export_onnx

    path = tmp_path / "m.onnx"
    s = export_onnx(ckpt, path, flip=True, check=False)
    assert s["flip"] and s["inputs"][0] == "images"
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    for key in ("box_enlarge", "input_size", "output_stride", "mean", "std", "joint_names", "bones",
                "depth_range_mm", "depth_bins", "pixel_convention", "preprocess", "postprocess", "intrinsics"):
        assert f"cdlpose.{key}" in meta, key
    assert float(meta["cdlpose.box_enlarge"]) == 1.25 and meta["cdlpose.input_size"] == "64"
    assert meta["cdlpose.output_stride"] == "4" and len(json.loads(meta["cdlpose.joint_names"])) == 17
    assert json.loads(meta["cdlpose.trained_on"]) == [{"format": "synthetic", "style": "full"}]  # provenance travels
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a dynamic batch
    # the graph itself, run here through ONNX Runtime, against the network in PyTorch
    torch_pred = Predictor.from_checkpoint(ckpt, device="cpu", flip=True)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 3, 64, 64, generator=g)
    cam = torch.tensor([[80.0, 80.0, 31.5, 31.5], [150.0, 150.0, 20.0, 40.0], [60.0, 60.0, 33.0, 30.0]])
    with torch.no_grad():
        ref = network_outputs(torch_pred.net, x, cam, torch_pred._forward.flip_index)
    feed = {"images": x.numpy(), "camera": cam.numpy()}
    got = sess.run(["uvz", "pose_3d", "confidence"], {i.name: feed[i.name] for i in sess.get_inputs()})
    assert np.abs(got[1] - ref[1].numpy()).max() < 1e-4  # mm
    assert np.abs(got[0] - ref[0].numpy()).max() < 1e-4
    # Predictor.from_onnx end to end against the PyTorch path
    onnx_pred = Predictor.from_onnx(path)
    assert onnx_pred.flip and onnx_pred.backend == "onnxruntime"
    img = render_sample(2, "test")["image"]
    boxes = [[[40, 30, 150, 200], [0, 0, 256, 256]]]
    a, b = torch_pred.predict([img], boxes)[0], onnx_pred.predict([img], boxes)[0]
    for p, q in zip(a, b):
        assert np.abs(p["keypoints_3d"] - q["keypoints_3d"]).max() < 1e-4  # mm
        assert np.abs(p["keypoints_2d"] - q["keypoints_2d"]).max() < 1e-3  # px
        assert np.abs(p["keypoints_3d_camera_estimate"] - q["keypoints_3d_camera_estimate"]).max() < 1e-3
        # joint confidence counts the mass inside a window around the estimate: rounding can move one voxel's
        # mass across its edge, so a few joints may differ by that voxel's share
        assert np.abs(p["confidence"] - q["confidence"]).mean() < 1e-3
    with pytest.raises(InputError, match="exported with the flip test"):
        Predictor.from_onnx(path, flip=False)
    # the CLI: cdlpose predict --onnx
    _img(tmp_path / "x.jpg", 2)
    out = tmp_path / "o"
    code, printed, err = _cli(capsys, "predict", "--onnx", path, tmp_path / "x.jpg", "--box", 40, 30, 150, 200,
                              "--out", out, "--json-only", "--no-viewer", "--no-progress")
    assert code == 0, err
    assert printed.startswith(f"model: {path} (h36m17, 17 joints); trained on synthetic (full) — only rendered figures")
    data = json.loads((out / "x.json").read_text())
    assert data["backend"] == "onnxruntime" and data["flip_test"] is True
    img_read = cv2.imread(str(tmp_path / "x.jpg"))[..., ::-1].copy()
    ref = torch_pred.predict([img_read], [[[40, 30, 150, 200]]])[0][0]
    assert np.abs(np.array(data["people"][0]["keypoints_3d"]) - ref["keypoints_3d"]).max() <= 0.06  # JSON: 0.1 mm
    code, _, err = _cli(capsys, "predict", "--onnx", path, "--checkpoint", ckpt, tmp_path / "x.jpg", "--out", out)
    assert code == 2 and "one of them" in err
