"""Domain randomisation of rendered people: panorama backgrounds, loose boxes, blur, noise, JPEG, grey level, photo
edges."""

import numpy as np
import pytest

from cdlpose.data.backgrounds import PANORAMA_DIR, panorama_view, panoramas
from cdlpose.data.pipeline import IMAGENET_MEAN, IMAGENET_STD, AugmentConfig, CropAugment
from cdlpose.data.synthetic import render_sample


def _rgb(out) -> np.ndarray:
    return (out["image"].numpy().transpose(1, 2, 0) * IMAGENET_STD + IMAGENET_MEAN) * 255


@pytest.fixture(scope="module")
def sample():
    s = render_sample(3, "train", seed=1, size=128, style="full")
    assert np.isinf(s["depth"]).any() and np.isfinite(s["depth"]).any()
    return s


def test_shipped_panoramas_split_into_disjoint_train_and_held_out_sets():
    names = sorted(p.name for p in PANORAMA_DIR.iterdir() if p.suffix == ".jpg")
    assert len(names) == 18 and (PANORAMA_DIR / "README.md").is_file()
    train, val, every = panoramas("train"), panoramas("val"), panoramas("all")
    assert (len(train), len(val), len(every)) == (15, 3, 18)
    assert all(p.shape == (256, 512, 3) and p.dtype == np.uint8 for p in every)
    # no held-out panorama is among the training ones
    assert not any(np.array_equal(v, t) for v in val for t in train)
    with pytest.raises(ValueError, match="'train', 'val' or 'all'"):
        panoramas("test")


def test_panorama_view_looks_where_it_is_turned():
    H, W = 64, 128
    pano = np.zeros((H, W, 3), np.uint8)
    pano[: H // 2, :, 0] = 255  # sky red, ground blue
    pano[H // 2 :, :, 2] = 255
    pano[:, :, 1] = np.arange(W)[None, :] * 2  # green encodes the heading (column)
    r = np.random.default_rng(0)
    down = panorama_view(pano, 32, r, pitch=(-40, -30), flip=False)
    up = panorama_view(pano, 32, r, pitch=(30, 40), flip=False)
    assert down[16, 16, 2] > 200 and down[16, 16, 0] < 50  # looking down: the ground
    assert up[16, 16, 0] > 200 and up[16, 16, 2] < 50
    # the image's right is the panorama's increasing column (unless mirrored), away from the wrap-around seam
    for seed in range(20):
        v = panorama_view(pano, 32, np.random.default_rng(seed), pitch=(0, 0), fov=(40, 40), flip=False)
        g = v[16, :, 1].astype(int)
        if np.abs(np.diff(g)).max() < 40:  # not across the seam
            assert (np.diff(g) >= 0).all() and g[-1] > g[0]
            m = panorama_view(pano, 32, np.random.default_rng(seed), pitch=(0, 0), fov=(40, 40), flip=True)
            assert np.array_equal(m[16, ::-1, 1], v[16, :, 1])
            break
    else:
        pytest.fail("every view crossed the seam")


def test_background_replaces_only_what_is_not_the_person(sample):
    base = dict(input_size=128, rotation=0.0, scale=0.0, flip_prob=0.0, color_jitter=0.0, occlusion_prob=0.0)
    plain = CropAugment("h36m17", AugmentConfig(**base))(sample, rng=np.random.default_rng(5))
    aug = CropAugment("h36m17", AugmentConfig(**base, background_prob=1.0))
    out = aug(sample, rng=np.random.default_rng(5))
    person = np.isfinite(sample["depth"])  # the un-augmented crop is the rendered image itself
    a, b = _rgb(plain), _rgb(out)
    # erode the mask by a pixel: the edge is blended (bilinear mask)
    inner = person & np.roll(person, 1, 0) & np.roll(person, -1, 0) & np.roll(person, 1, 1) & np.roll(person, -1, 1)
    assert np.abs(a[inner] - b[inner]).max() < 1.0
    outer = ~person & ~np.roll(person, 1, 0) & ~np.roll(person, -1, 0) & ~np.roll(person, 1, 1) & ~np.roll(person, -1, 1)
    assert np.abs(a[outer] - b[outer]).mean() > 20
    # the targets do not move: the randomisation is drawn after the geometric draws
    for k in ("uv_crop", "pose_3d", "valid_2d"):
        assert np.array_equal(plain[k].numpy(), out[k].numpy())


def test_evaluation_views_are_held_out_deterministic_and_undegraded(sample):
    cfg = AugmentConfig(input_size=128, train=False, background_prob=1.0, blur_prob=1.0, noise_prob=1.0,
                        jpeg_prob=1.0, gray_prob=1.0)
    aug = CropAugment("h36m17", cfg)
    one = aug(sample, rng=np.random.default_rng(7))
    two = aug(sample, rng=np.random.default_rng(7))
    assert np.array_equal(one["image"].numpy(), two["image"].numpy())
    img = _rgb(one)
    assert np.abs(img[..., 0] - img[..., 1]).max() > 30  # colour: no grey level at evaluation
    # the background comes from a held-out panorama: rebuild the view with the same draws from the "val" pool
    p = aug.sample_params(np.random.default_rng(7))
    r = np.random.default_rng(p["view_seed"])
    pool = panoramas("val")
    view = panorama_view(pool[int(r.integers(len(pool)))], 128, r)
    far = ~np.isfinite(sample["depth"])
    far &= np.roll(far, 2, 0) & np.roll(far, -2, 0) & np.roll(far, 2, 1) & np.roll(far, -2, 1)
    assert np.abs(img[far] - view[far]).max() < 1.5


def test_loose_boxes_shift_the_crop_by_the_drawn_fraction(sample):
    aug = CropAugment("h36m17", AugmentConfig(input_size=128, occlusion_prob=0.0))
    p = {"scale": 1.0, "rot": 0.0, "flip": False, "gain": np.ones(3, np.float32), "occlude": False}
    base = aug(sample, dict(p))
    moved = aug(sample, dict(p, shift=np.array([0.1, -0.05])))
    # the box centre moves right by 0.1 and up by 0.05 of the crop: the joints move the other way in the crop
    d = (moved["uv_crop"] - base["uv_crop"]).numpy()
    assert np.allclose(d, [-12.8, 6.4], atol=1e-3)


def test_degradations_change_pixels_not_targets(sample):
    kw = dict(input_size=128, occlusion_prob=0.0, color_jitter=0.0)
    clean = CropAugment("h36m17", AugmentConfig(**kw))(sample, rng=np.random.default_rng(3))
    for name in ("blur_prob", "noise_prob", "jpeg_prob", "gray_prob"):
        out = CropAugment("h36m17", AugmentConfig(**kw, **{name: 1.0}))(sample, rng=np.random.default_rng(3))
        assert np.array_equal(out["uv_crop"].numpy(), clean["uv_crop"].numpy()), name
        assert np.abs(_rgb(out) - _rgb(clean)).mean() > 0.5, name
    grey = _rgb(CropAugment("h36m17", AugmentConfig(**kw, gray_prob=1.0))(sample, rng=np.random.default_rng(3)))
    assert np.abs(grey[..., 0] - grey[..., 2]).max() < 1e-3
    blur = _rgb(CropAugment("h36m17", AugmentConfig(**kw, blur_prob=1.0))(sample, rng=np.random.default_rng(3)))
    # blur lowers the image's high frequencies
    assert np.abs(np.diff(blur, axis=1)).mean() < np.abs(np.diff(_rgb(clean), axis=1)).mean()


def test_records_without_depth_keep_their_background(sample):
    no_depth = {k: v for k, v in sample.items() if k != "depth"}
    kw = dict(input_size=128, rotation=0.0, scale=0.0, occlusion_prob=0.0, color_jitter=0.0)
    a = CropAugment("h36m17", AugmentConfig(**kw))(no_depth, rng=np.random.default_rng(1))
    b = CropAugment("h36m17", AugmentConfig(**kw, background_prob=1.0))(no_depth, rng=np.random.default_rng(1))
    assert np.array_equal(a["image"].numpy(), b["image"].numpy())


@pytest.mark.parametrize("field", ["background_prob", "blur_prob", "jpeg_prob"])
def test_probabilities_outside_zero_one_are_refused(field):
    with pytest.raises(ValueError, match=f"augment.{field} must be a probability"):
        AugmentConfig(**{field: 1.5})


def test_photo_edges_black_out_past_the_drawn_line_as_inference_pads(sample):
    aug = CropAugment("h36m17", AugmentConfig(input_size=128, occlusion_prob=0.0))
    p = {"scale": 1.0, "rot": 0.0, "flip": False, "gain": np.ones(3, np.float32), "occlude": False}
    clean = aug(sample, dict(p))
    uv = clean["uv_crop"].numpy()
    lo, hi = uv.min(0), uv.max(0)
    inset = 0.1 * (hi - lo).max()
    left = aug(sample, dict(p, edges=np.array([[0.0, 1.0]])))  # t = 1: 10% of the body's extent into it
    img, ref = _rgb(left), _rgb(clean)
    cut = int(np.floor(lo[0] + inset))
    # black, as a crop beyond a photo's border is at inference, up to the line, the picture from it on
    assert 5 < cut and np.abs(img[:, :cut]).max() < 1e-3 and np.array_equal(img[:, cut:], ref[:, cut:])
    assert np.array_equal(left["uv_crop"].numpy(), uv) and bool(left["valid_2d"].all()) == bool(clean["valid_2d"].all())
    half = _rgb(aug(sample, dict(p, edges=np.array([[3.0, 0.5]]))))  # bottom, halfway to the joints' line
    row = int(np.ceil(128 - 0.5 * (128 - (hi[1] - inset))))
    assert np.abs(half[row:]).max() < 1e-3 and np.array_equal(half[:row], ref[:row])
    for side in range(4):  # left, right, top, bottom: the black band lies along that side
        black = np.abs(_rgb(aug(sample, dict(p, edges=np.array([[side, 1.0]]))))).max(-1) < 1e-3
        rows, cols = np.nonzero(black)
        along = (cols.mean() < 30, cols.mean() > 97, rows.mean() < 30, rows.mean() > 97)[side]
        assert black.any() and along, side
    none = aug(sample, dict(p, edges=np.array([[1.0, 0.0], [2.0, 0.0]])))  # t = 0: the crop's own sides
    assert np.array_equal(none["image"].numpy(), clean["image"].numpy())


def test_photo_edge_draws_come_last_and_evaluation_edges_are_fixed_per_index():
    base = dict(input_size=128, background_prob=0.8, shift=0.08, blur_prob=0.3)
    plain = CropAugment("h36m17", AugmentConfig(**base))
    edged = CropAugment("h36m17", AugmentConfig(**base, edge_prob=0.3))
    draws = [edged.sample_params(np.random.default_rng(i)) for i in range(3000)]
    for i in range(20):  # the draws before the edges are those of a pipeline without them
        a = plain.sample_params(np.random.default_rng(i))
        assert a["view_seed"] == draws[i]["view_seed"] and a["blur"] == draws[i]["blur"]
    k = np.array([len(d["edges"]) for d in draws])
    assert abs((k > 0).mean() - 0.3) < 0.03 and abs((k == 2).sum() / (k > 0).sum() - 1 / 3) < 0.06
    sides = np.concatenate([d["edges"][:, 0] for d in draws if len(d["edges"])])
    assert set(sides.tolist()) == {0.0, 1.0, 2.0, 3.0}
    ev = CropAugment("h36m17", AugmentConfig(**base, train=False, edge_prob=1.0))
    one, two = ev.sample_params(np.random.default_rng(5)), ev.sample_params(np.random.default_rng(5))
    assert len(one["edges"]) and np.array_equal(one["edges"], two["edges"])
    assert one["view_seed"] == CropAugment("h36m17", AugmentConfig(**base, train=False)).sample_params(
        np.random.default_rng(5))["view_seed"]
