"""Predictor: checkpoint round trip, box handling, output shapes and errors (a briefly trained tiny network)."""

import numpy as np
import pytest

from cdlpose.data.synthetic import render_sample
from cdlpose.engine import Trainer
from cdlpose.inference import InputError, Predictor, root_depth_estimate

from .test_engine import tiny


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pred")
    Trainer(tiny(tmp, epochs=1), max_steps=1, device="cpu").fit()
    return tmp / "run" / "last.pt"


def test_predictor_outputs_and_boxes(checkpoint, tmp_path):
    pred = Predictor.from_checkpoint(checkpoint, device="cpu")
    s = render_sample(0, "test")
    img = s["image"]
    (people,) = pred.predict([img], [[[40, 30, 150, 200], [0, 0, 256, 256]]])
    assert len(people) == 2
    p = people[0]
    assert p["keypoints_2d"].shape == (17, 2) and p["keypoints_3d"].shape == (17, 3) and p["uvz"].shape == (17, 3)
    assert np.all((p["confidence"] >= 0) & (p["confidence"] <= 1))
    assert np.allclose(p["keypoints_3d"][0], 0)  # root-relative
    # 2D joints lie within the enlarged square crop of the box
    assert (p["keypoints_2d"] > 40 + 75 - 125 - 1).all() and (p["keypoints_2d"] < 40 + 75 + 125 + 1).all()
    assert p["root_depth_mm_estimate"] == pytest.approx(
        root_depth_estimate([40, 30, 150, 200], (1.2 * 256,) * 2, (256, 256)))
    whole = pred.predict(img)[0]
    assert len(whole) == 1 and whole[0]["box"] == [0.0, 0.0, 256.0, 256.0]
    flipped = Predictor.from_checkpoint(checkpoint, device="cpu", flip=True).predict(img)[0][0]
    assert not np.allclose(flipped["uvz"], whole[0]["uvz"])


def test_predictor_errors(checkpoint, tmp_path):
    pred = Predictor.from_checkpoint(checkpoint, device="cpu")
    img = render_sample(0, "test")["image"]
    with pytest.raises(InputError, match="box 0: box .* has zero area"):
        pred.predict([img], [[[10, 10, 0, 50]]], names=["a.jpg"])
    with pytest.raises(InputError, match="lies outside the 256×256 image"):
        pred.predict([img], [[[300, 10, 20, 50]]])
    with pytest.raises(InputError, match="4 finite numbers"):
        pred.predict([img], [[[1, 2, 3]]])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(Exception, match="bad.jpg"):
        pred.predict([bad])
    with pytest.raises(InputError, match="predicts the h36m17 skeleton, not mpii16"):
        Predictor.from_checkpoint(checkpoint, device="cpu", skeleton="mpii16")


# --- RootNet's k-value, as their code computes it ---------------------------------------------------------------


def test_root_depth_estimate_is_rootnets_k_value_written_out():
    """Against RootNet's process_bbox and k-value written out by hand (3DMPPE_ROOTNET_RELEASE, data/dataset.py and
    demo/demo.py): sanitise to the image (near corner ≥ 0, far corner = near + max(0, w − 1), ≤ W − 1), square
    about the centre (their 256×256 input), ×1.25, then k = sqrt(fx·fy·2000·2000 / (w·h))."""
    from cdlpose.inference import rootnet_box

    f, image = (1000.0, 1000.0), (1000, 1000)
    # a tall 100 × 300 box inside the image: sanitised 99 × 299, squared 299 × 299, ×1.25 → 373.75 × 373.75
    # about the centre (499.5, 499.5); k = 1000 · 2000 / 373.75 = 5351.17 mm. (Without the sanitising: 375 px and
    # 5333.3 mm; without the square: 1.25·sqrt(99 · 299) px and 9299.7 mm; without ×1.25: 6688.96 mm.)
    np.testing.assert_allclose(rootnet_box([450, 350, 100, 300], image), [312.625, 312.625, 373.75, 373.75])
    assert root_depth_estimate([450, 350, 100, 300], f, image) == pytest.approx(2e6 / 373.75, rel=1e-12)
    # a wide box: the height grows — 300 × 100 at (100, 700) → 299 × 99 → 299 × 299 → 373.75
    assert root_depth_estimate([100, 700, 300, 100], f, image) == pytest.approx(2e6 / 373.75, rel=1e-12)
    # hanging off the right edge: x2 = min(999, 800 + 399) = 999, so 199 × 299 (not 400 × 300) → 299 → 373.75;
    # unsanitised it would be 400 → 500 px, k = 4000 mm
    assert root_depth_estimate([800, 100, 400, 300], f, image) == pytest.approx(2e6 / 373.75, rel=1e-12)
    # hanging off the left edge: their far corner is measured from the clamped near corner, x1 = 0, x2 = 0 + 299:
    # the box is moved in, 299 × 199 → 299 → 373.75 (clipping it at x = 150 instead would give 248.75 px)
    np.testing.assert_allclose(rootnet_box([-150, 100, 300, 200], image), [-37.375, 12.625, 373.75, 373.75])
    assert root_depth_estimate([-150, 100, 300, 200], f, image) == pytest.approx(2e6 / 373.75, rel=1e-12)
    # fx ≠ fy and a non-square image (Human3.6M's 1000 × 1002): k = sqrt(fx · fy) · 2000 / side;
    # a box reaching below the image is cut at y = 1001: 150 × 400 at (300, 700) → 149 × 301 → 301 → 376.25
    k = root_depth_estimate([300, 700, 150, 400], (1145.0, 1143.5), (1000, 1002))
    assert k == pytest.approx(np.sqrt(1145.0 * 1143.5) * 2000 / 376.25, rel=1e-12)
    with pytest.raises(InputError, match="under a pixel"):
        root_depth_estimate([10, 10, 0.5, 0.5], f, image)


def test_root_depth_estimate_on_real_human36m_poses(shared_dir):
    """On Human3.6M S8 (camera 54138969, 1000 × 1002 px): from the tight box of the 17 projected joints the
    estimate lands near the true pelvis depth — median ratio within 0.9–1.15 (the k-value on the raw box, the bug
    this pins, gave 2.19)."""
    from cdlpose.data.rendered import read_cameras, read_poses
    from cdlpose.geometry import project

    folder = shared_dir / "data" / "h36m-poses"
    poses, cameras = folder / "train_S1_S5_S6_S7_S8_every5.npz", folder / "cameras.npz"
    if not (poses.is_file() and cameras.is_file()):
        pytest.skip(f"{poses} or {cameras} is absent")
    cam = read_cameras(cameras)["S8"]["54138969"]
    X = np.concatenate([v[::8] for k, v in sorted(read_poses(poses).items()) if k.startswith("S8/")])
    assert len(X) > 1000
    Xc = cam.to_camera(X)  # (N, 17, 3) mm, camera axes
    uv = project(Xc, cam.f, cam.c)
    lo, hi = uv.min(1), uv.max(1)
    ratio = np.array([root_depth_estimate([*a, *(b - a)], cam.f, cam.frame) / z
                      for a, b, z in zip(lo, hi, Xc[:, 0, 2])])
    assert 0.9 <= np.median(ratio) <= 1.15, np.median(ratio)
