import numpy as np
import pytest
import torch

from cdlpose.data.pipeline import AugmentConfig, CropAugment
from cdlpose.data.synthetic import render_sample
from cdlpose.geometry import apply_affine, project
from cdlpose.skeletons import GEODESIC_MEAN_MM, geodesic_length


@pytest.fixture(scope="module")
def samples():
    return [render_sample(i, "train", seed=2) for i in range(12)]


def test_augmented_3d_projects_onto_augmented_2d(samples):
    aug = CropAugment("h36m17", AugmentConfig(occlusion_prob=1.0), seed=0)
    flips = 0
    for s in samples:
        out = aug(s)
        uv = project(out["joints_3d"].double().numpy(), out["f"].double().numpy(), out["c"].double().numpy())
        # f_x and f_y of the synthetic cameras differ by < 0.5%, the only source of disagreement
        assert np.abs(uv - out["uv_crop"].numpy()).max() < 1.0
        # 2D goes back to the frame through the recorded inverse crop
        back = apply_affine(out["crop_to_frame"].double().numpy(), out["uv_crop"].double().numpy())
        joints = s["joints_2d"]
        if bool(out["flipped"]):
            flips += 1
            joints = joints[aug.skeleton.flip_index]
        assert np.allclose(back, joints, atol=1e-3)
        # depth is untouched by in-plane rotation and flips; the pose is normalised to 1077 mm
        assert torch.allclose(out["pose_3d"][:, 2], out["z"] * out["scale"], atol=1e-3)
        assert float(geodesic_length(out["pose_3d"].double())) == pytest.approx(GEODESIC_MEAN_MM, rel=1e-5)
        assert out["image"].shape == (3, 256, 256) and out["uv"].shape == (17, 2)
    assert 0 < flips < len(samples)


def test_flip_twice_is_identity_and_eval_mode_is_plain_crop(samples):
    s = samples[0]
    aug = CropAugment("h36m17", AugmentConfig(train=False))
    plain = aug(s)
    # the synthetic image is already the crop of the box ×1.25: an un-augmented crop reproduces it
    assert torch.allclose(plain["uv_crop"].double(), torch.from_numpy(apply_affine(s["frame_to_image"], s["joints_2d"])),
                          atol=1e-3)
    p = {"scale": 1.0, "rot": 0.0, "flip": True, "gain": np.ones(3, np.float32), "occlude": False}
    once = aug(s, p)
    back = aug({**s, "image": np.ascontiguousarray(s["image"][:, ::-1])}, p)
    # flipping the image and the joints twice gives the unflipped crop back
    assert torch.allclose(back["image"], plain["image"], atol=1e-5)
    assert torch.allclose(once["uv_crop"][aug.skeleton.flip_index, 0], 255 - plain["uv_crop"][:, 0], atol=1e-3)
    assert torch.allclose(once["joints_3d"][aug.skeleton.flip_index, 0], -plain["joints_3d"][:, 0], atol=1e-3)


def test_occluder_folder(tmp_path, samples):
    import cv2

    cv2.imwrite(str(tmp_path / "occ.png"), np.full((20, 30, 4), 255, np.uint8))
    aug = CropAugment("h36m17", AugmentConfig(occlusion_prob=1.0, occluder_dir=str(tmp_path)), seed=1)
    assert aug(samples[1])["image"].shape == (3, 256, 256)
    with pytest.raises(FileNotFoundError, match="no .png/.jpg images"):
        CropAugment("h36m17", AugmentConfig(occluder_dir=str(tmp_path / "none")))


def test_other_joint_sets_map_onto_the_model_skeleton_by_name(samples):
    from cdlpose.skeletons import convert_joints

    s = samples[3]
    j2, v2 = convert_joints(s["joints_2d"], "h36m17", "mpii16")
    mpii = dict(s, skeleton="mpii16", joints_2d=j2, valid_2d=v2, visible=v2.copy(), joints_3d=np.zeros((16, 3)),
                valid_3d=np.zeros(16, bool), f=np.full(2, np.nan), c=np.full(2, np.nan))
    aug = CropAugment("h36m17", AugmentConfig(train=False))
    out, ref = aug(mpii), aug(s)
    missing = [aug.skeleton.index("Spine"), aug.skeleton.index("Neck_Nose")]
    assert not out["valid_2d"][missing].any() and not out["valid_3d"].any()
    keep = np.setdiff1d(np.arange(17), missing)
    assert torch.allclose(out["uv"][keep], ref["uv"][keep], atol=1e-4)
    # COCO has no pelvis: invalid, or the mid-hip with derive_joints
    j2, v2 = convert_joints(s["joints_2d"], "h36m17", "coco17")
    coco = dict(mpii, skeleton="coco17", joints_2d=j2, valid_2d=v2, visible=v2.copy(), joints_3d=np.zeros((17, 3)),
                valid_3d=np.zeros(17, bool))
    assert not aug(coco)["valid_2d"][0]
    derived = CropAugment("h36m17", AugmentConfig(train=False, derive_joints=True))(coco)
    assert derived["valid_2d"][0]


def test_augmentation_draws_follow_the_reference_distributions():
    """PoseNet's and the authors' draws: scale 1 + clip(N(0,1), ±1)·0.25, rotation clip(N(0,1), ±2)·30° with
    probability 0.6, per-channel colour gain U(0.8, 1.2), flip 0.5; the uniform draws on request."""
    n = 20000
    rng = np.random.default_rng(0)
    aug = CropAugment("h36m17", AugmentConfig())
    p = [aug.sample_params(rng) for _ in range(n)]
    scale = np.array([q["scale"] for q in p])
    rot = np.array([q["rot"] for q in p])
    gain = np.stack([q["gain"] for q in p])
    assert scale.min() == pytest.approx(0.75) and scale.max() == pytest.approx(1.25)  # clipped at ±1 σ
    assert np.mean(scale == 1.25) == pytest.approx(0.1587, abs=0.01)  # P(N > 1): mass piled at the clip
    assert np.mean(np.abs(scale - 1) < 0.25 * 0.5) == pytest.approx(0.383, abs=0.015)  # P(|N| < 0.5)
    rotated = rot != 0
    assert rotated.mean() == pytest.approx(0.6, abs=0.015)
    assert np.abs(rot).max() == pytest.approx(60.0)
    assert np.mean(np.abs(rot[rotated]) < 30.0) == pytest.approx(0.683, abs=0.015)  # P(|N| < 1)
    assert gain.min() >= 0.8 and gain.max() <= 1.2 and abs(gain.mean() - 1.0) < 0.005
    assert np.mean([q["flip"] for q in p]) == pytest.approx(0.5, abs=0.015)
    uni = CropAugment("h36m17", AugmentConfig(distribution="uniform"))
    u = [uni.sample_params(rng) for _ in range(n)]
    us = np.array([q["scale"] for q in u])
    ur = np.array([q["rot"] for q in u if q["rot"] != 0])
    assert np.mean(np.abs(us - 1) < 0.125) == pytest.approx(0.5, abs=0.015) and np.abs(ur).max() <= 30.0
    with pytest.raises(ValueError, match="augment.distribution"):
        AugmentConfig(distribution="gaussian")
