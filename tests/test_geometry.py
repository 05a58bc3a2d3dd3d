import cv2
import numpy as np
import pytest
import torch

from cdlpose import geometry as g


def _rotation(rng):
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


def test_projection_and_back_projection_are_inverse():
    rng = np.random.default_rng(0)
    cam = g.Camera(_rotation(rng), [10.0, -50.0, 4500.0], [1145.0, 1143.5], [512.5, 515.4])
    Xw = rng.normal(scale=400, size=(10, 17, 3))
    Xc = cam.world_to_camera(Xw)
    assert np.allclose(cam.camera_to_world(Xc), Xw)
    uv = cam.camera_to_pixel(Xc)
    assert np.allclose(cam.pixel_to_camera(uv, Xc[..., 2]), Xc)
    # the intrinsic matrix gives the same pixels
    h = Xc @ cam.K.T
    assert np.allclose(h[..., :2] / h[..., 2:], uv)
    # torch, batched
    t = g.back_project(torch.tensor(uv), torch.tensor(Xc[..., 2]), torch.tensor(cam.f), torch.tensor(cam.c))
    assert torch.allclose(t, torch.tensor(Xc))
    assert torch.allclose(g.project(t, torch.tensor(cam.f), torch.tensor(cam.c)), torch.tensor(uv))


def test_martinez_convention_matches_moon_convention():
    rng = np.random.default_rng(1)
    Rm, T = _rotation(rng), rng.normal(scale=1000, size=3)
    cam = g.Camera.from_center(Rm, T, [1000, 1000], [500, 500])
    Xw = rng.normal(size=(5, 3)) * 500
    assert np.allclose(cam.world_to_camera(Xw), (Rm.T @ (Xw - T).T).T)


def test_real_h36m_camera_example(shared_dir):
    """The data README's example: S1 Walking frame 0, camera 54138969, pelvis ≈ (−165, −365, 5295) mm."""
    base = shared_dir / "data" / "h36m-poses"
    if not (base / "cameras.npz").is_file():
        pytest.skip("h36m-poses absent")
    cams, poses = np.load(base / "cameras.npz"), np.load(base / "train_S1_S5_S6_S7_S8_every5.npz")
    k = "S1/54138969/"
    cam = g.Camera.from_center(cams[k + "R"], cams[k + "T"], cams[k + "f"], cams[k + "c"])
    pelvis = cam.world_to_camera(poses["S1/Walking"][0, 0].astype(np.float64))
    assert np.allclose(pelvis, [-165, -365, 5295], atol=2)
    assert np.allclose(cam.camera_to_pixel(pelvis), [477, 437], atol=2)


def test_box_aspect_ratio_and_enlargement():
    b = g.fix_aspect_ratio((10, 20, 100, 50), aspect_ratio=1.0, enlarge=1.25)
    assert np.allclose(b, [60 - 62.5, 45 - 62.5, 125, 125])
    b = g.fix_aspect_ratio((0, 0, 30, 120), aspect_ratio=0.75, enlarge=1.0)
    assert np.allclose(b[2:], [90, 120])
    uv = np.array([[10.0, 10.0], [50.0, 110.0], [1000.0, 1000.0]])
    b = g.box_from_joints(uv, valid=[True, True, False])
    assert np.allclose(b, [30 - 62.5, 60 - 62.5, 125, 125])  # 40×100 → 100×100 → ×1.25
    with pytest.raises(ValueError, match="positive width"):
        g.fix_aspect_ratio((0, 0, 0, 10))


@pytest.mark.parametrize("rot,flip", [(0, False), (30, False), (-25, True), (90, True)])
def test_crop_transform_inverse_and_points(rot, flip):
    M = g.crop_transform((400, 300), (200, 200), (256, 256), rot, flip)
    Mi = g.crop_transform((400, 300), (200, 200), (256, 256), rot, flip, inverse=True)
    pts = np.random.default_rng(2).uniform(0, 800, size=(17, 2))
    assert np.allclose(g.apply_affine(Mi, g.apply_affine(M, pts)), pts)
    assert np.allclose(g.invert_affine(M), cv2.invertAffineTransform(M))
    # the box centre goes to the crop centre, a box edge to the crop edge
    assert np.allclose(g.apply_affine(M, np.array([400.0, 300.0])), [127.5, 127.5])
    if rot == 0:
        edge = g.apply_affine(M, np.array([300.0, 300.0]))
        assert np.allclose(edge, [255.5 if flip else -0.5, 127.5])


# The crop's camera written out by hand (image camera f = (1000, 1000) px, c = (500, 400) px). Pixel centres are at
# integers, so image pixel i covers [i - 0.5, i + 0.5]; a crop whose box edge lies at e and whose scale is s maps
# u to (u - e)·s - 0.5. Tolerance 1e-6 px: the arithmetic is exact in float64 up to rounding, and a principal
# point off by half a pixel (the pixel-edge convention, or a stray ±0.5) must fail by five orders of magnitude.
@pytest.mark.parametrize("center,size,out_size,expected", [
    # scale only: the whole 1000×800 image into 250×200, four image pixels a crop pixel: u' = (u + 0.5)/4 - 0.5
    ((499.5, 399.5), (1000, 800), (250, 200), [250.0, 250.0, 500.5 / 4 - 0.5, 400.5 / 4 - 0.5]),
    # offset only: image pixels 100..355 × 50..305 into 256², one to one: u' = u - 100, v' = v - 50
    ((227.5, 177.5), (256, 256), (256, 256), [1000.0, 1000.0, 400.0, 350.0]),
    # offset and scale: pixels 300..499 × 200..399 (box edges at 299.5, 199.5) into 256², s = 1.28
    ((399.5, 299.5), (200, 200), (256, 256), [1280.0, 1280.0, (500 - 299.5) * 1.28 - 0.5, (400 - 199.5) * 1.28 - 0.5]),
], ids=["scale-only", "offset-only", "offset-and-scale"])
def test_crop_camera_matches_a_camera_written_by_hand(center, size, out_size, expected):
    M = g.crop_transform(center, size, out_size)
    cam = g.crop_camera(M, (1000.0, 1000.0), (500.0, 400.0))
    np.testing.assert_allclose(cam, expected, rtol=0, atol=1e-6)
    # and it is the camera of the crop: a point projects through it where the affine takes its image projection
    X = np.array([[120.0, -340.0, 3100.0], [-610.0, 250.0, 4700.0]])
    through_crop = g.project(X, cam[:2], cam[2:])
    np.testing.assert_allclose(through_crop, g.apply_affine(M, g.project(X, (1000.0, 1000.0), (500.0, 400.0))),
                               rtol=0, atol=1e-6)


def test_crop_rotation_is_counter_clockwise_as_displayed():
    # a point to the right of the centre ends up above it after a 90° counter-clockwise rotation
    M = g.crop_transform((0, 0), (2, 2), (2, 2), 90)
    p = g.apply_affine(M, np.array([1.0, 0.0])) - g.apply_affine(M, np.array([0.0, 0.0]))
    assert np.allclose(p, [0, -1])


def test_warp_crop_moves_image_content_like_points():
    img = np.zeros((480, 640, 3), np.uint8)
    cv2.circle(img, (420, 250), 6, (255, 255, 255), -1)
    M = g.crop_transform((400, 300), (240, 240), (256, 256), rotation_deg=20, flip=True)
    crop = g.warp_crop(img, M, (256, 256))
    ys, xs = np.nonzero(crop[..., 0] > 127)
    centre = np.array([xs.mean(), ys.mean()])
    assert np.allclose(centre, g.apply_affine(M, np.array([420.0, 250.0])), atol=0.6)


def test_rescale_points_between_resolutions():
    p = np.array([[-0.5, -0.5], [127.5, 127.5], [255.5, 255.5]])
    q = g.rescale_points(p, (256, 256), (64, 64))
    assert np.allclose(q, [[-0.5, -0.5], [31.5, 31.5], [63.5, 63.5]])
    assert torch.allclose(g.rescale_points(torch.tensor(q), (64, 64), (256, 256)), torch.tensor(p))


def test_procrustes_recovers_a_known_similarity():
    rng = np.random.default_rng(3)
    gt = rng.normal(scale=300, size=(6, 17, 3))
    R = np.stack([_rotation(rng) for _ in range(6)])
    s = rng.uniform(0.5, 2.0, size=6)
    t = rng.normal(scale=1000, size=(6, 3))
    # pred = inverse transform of gt, so aligning pred must give gt back with the true transform
    pred = np.einsum("nba,njb->nja", R, (gt - t[:, None]) / s[:, None, None])
    aligned, (s_, R_, t_) = g.procrustes_align(pred, gt, return_transform=True)
    assert np.allclose(aligned, gt, atol=1e-8)
    assert np.allclose(s_, s) and np.allclose(R_, R) and np.allclose(t_, t)
    # masked joints do not influence the fit
    pred2 = pred.copy()
    pred2[:, 3] += 5000.0
    mask = np.ones((6, 17), bool)
    mask[:, 3] = False
    a2 = g.procrustes_align(pred2, gt, mask)
    assert np.allclose(np.delete(a2, 3, axis=1), np.delete(gt, 3, axis=1), atol=1e-8)


def test_procrustes_never_reflects():
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(1, 17, 3))
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    _, (_, R, _) = g.procrustes_align(mirrored, gt, return_transform=True)
    assert np.isclose(np.linalg.det(R[0]), 1.0)
