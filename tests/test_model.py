import numpy as np
import pytest
import torch

from cdlpose.codec import CodecConfig, TargetEncoder
from cdlpose.data.synthetic import render_sample
from cdlpose.losses import LossWeights, compute_losses
from cdlpose.model import VARIANTS, CascadedLiftingNet, ModelConfig, build_backbone

from .helpers import synthetic_batch

EXPECTED = {
    "baseline": {"uvz", "pose_3d", "volume_logits"},
    "jh": {"uvz", "pose_3d", "volume_logits", "joint_heatmaps"},
    "bj": {"uvz", "pose_3d", "volume_logits", "joint_heatmaps", "bone_heatmaps"},
    "full": {"uvz", "pose_3d", "volume_logits", "joint_heatmaps", "bone_heatmaps", "cube", "ordinal_logits"},
}


@pytest.mark.parametrize("backbone", ["resnet18", "resnet50"])
@pytest.mark.parametrize("size", [256, 192])
def test_output_shapes_of_every_variant(backbone, size):
    x = torch.randn(2, 3, size, size)
    m = size // 4
    for variant in VARIANTS:
        for lite in (False, True):
            if backbone == "resnet50" and size != 256 and lite:
                continue  # keep the suite quick: lite at 192 is covered by ResNet-18
            net = CascadedLiftingNet(ModelConfig(variant=variant, backbone=backbone, lite=lite), (size, size)).eval()
            with torch.no_grad():
                out = net(x)
            assert set(out) == EXPECTED[variant]
            assert out["uvz"].shape == (2, 17, 3) and out["pose_3d"].shape == (2, 17, 3)
            assert torch.all(out["pose_3d"][:, 0] == 0)  # root-relative
            if "joint_heatmaps" in out:
                assert out["joint_heatmaps"].shape == (2, 17, m, m)
            if "bone_heatmaps" in out:
                assert out["bone_heatmaps"].shape == (2, 16, m, m)
            if "cube" in out:
                assert out["cube"].shape == (2, 64, m, m) and out["ordinal_logits"].shape == (2, 64, m, m)
            u, v, z = out["uvz"].unbind(-1)
            assert (u >= 0).all() and (u <= m - 1).all() and (z >= 0).all() and (z <= 63).all()


def test_parameter_counts_match_the_reference_networks():
    # PoseNet (Moon et al.) has 34.3 M parameters; the authors' network 44.0 M, both without the lifting block
    def count(v):
        net = CascadedLiftingNet(ModelConfig(variant=v))
        return (sum(p.numel() for p in net.parameters()) - sum(p.numel() for p in net.lifting.parameters())) / 1e6

    assert count("baseline") == pytest.approx(34.3, abs=0.1)
    assert 40.0 < count("full") < 45.0


def _batch(n=4, size=128):
    return synthetic_batch([render_sample(i, "train", seed=5) for i in range(n)], size)


def _targets(batch, size=128):
    enc = TargetEncoder("h36m17", CodecConfig(heatmap_size=(size // 4, size // 4), input_size=(size, size)))
    return enc.encode(batch["uvz"], batch["valid_2d"], batch["valid_3d"], bone_sigma=2.0)


def test_gradients_reach_every_supervised_head():
    batch = _batch(2)
    t = _targets(batch)
    net = CascadedLiftingNet(ModelConfig(variant="full", backbone="resnet18", lite=True), (128, 128))
    out = net(batch["images"])
    losses = compute_losses(out, t, batch, LossWeights(pose=1.0))
    assert set(losses) == {"joint", "bone", "cube", "ordinal", "integral", "pose", "total"}
    for name, head in [("joint", net.joint_out), ("bone", net.bone_out), ("cube", net.cube_out),
                       ("ordinal", net.ordinal_out), ("integral", net.head), ("pose", net.lifting.out)]:
        net.zero_grad()
        losses[name].backward(retain_graph=True)
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0, name
    # the pose loss reaches the backbone through soft-argmax (end to end)
    net.zero_grad()
    losses["pose"].backward(retain_graph=True)
    assert net.backbone[0].weight.grad.abs().sum() > 0


def test_small_model_overfits_a_handful_of_samples():
    """Stage 1 (everything up to the volumes, all intermediate losses) on 4 synthetic images: the total loss
    falls by at least 90% (about 30 s on a 2-core CPU)."""
    torch.manual_seed(0)
    batch = _batch(4)
    t = _targets(batch)
    net = CascadedLiftingNet(ModelConfig(variant="full", backbone="resnet18", lite=True), (128, 128))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    history = []
    for _ in range(80):
        losses = compute_losses(net.volumes(batch["images"]), t, batch, LossWeights())
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        history.append({k: v.item() for k, v in losses.items()})
    assert history[-1]["total"] < 0.1 * history[0]["total"], (history[0], history[-1])
    assert history[-1]["integral"] < 0.2 * history[0]["integral"]


def test_lifting_block_overfits_exact_2_5d():
    """Stage 2: the lifting block maps the 2.5D estimate to the 3D pose; on 16 poses the L1 loss falls by 90%."""
    torch.manual_seed(0)
    batch = synthetic_batch([render_sample(i, "train", seed=6) for i in range(16)], 128)
    from cdlpose.codec import depth_to_index
    from cdlpose.losses import pose_l1
    from cdlpose.model import LiftingBlock

    uvz = torch.cat([batch["uv"], depth_to_index(batch["uvz"][..., 2:3])], -1)
    lift = LiftingBlock(17, 0, (32, 32), 64, hidden=256, blocks=2, dropout=0.0)
    opt = torch.optim.Adam(lift.parameters(), lr=1e-3)
    first = None
    for _ in range(150):
        loss = pose_l1(lift(uvz), batch["pose_3d"], batch["valid_3d"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = first or loss.item()
    assert loss.item() < 0.1 * first


def test_backbone_weights_from_a_local_file_and_a_clear_offline_error(tmp_path, monkeypatch):
    torchvision = pytest.importorskip("torchvision")

    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(ref.state_dict(), path)
    bb = build_backbone("resnet18", str(path))
    assert torch.equal(bb[0].weight, ref.conv1.weight)
    with pytest.raises(FileNotFoundError, match="model.pretrained: no file"):
        build_backbone("resnet18", str(tmp_path / "missing.pth"))
    torch.save({"foo": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="not a resnet18 state dict"):
        build_backbone("resnet18", str(tmp_path / "bad.pth"))
    # offline and nothing cached: the error says where to put the file
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("network unreachable")))
    with pytest.raises(RuntimeError, match=r"resnet18-.*\.pth.*checkpoints"):
        build_backbone("resnet18", "imagenet")


def test_config_rejects_unknown_variants():
    with pytest.raises(ValueError, match="model.variant must be one of"):
        ModelConfig(variant="posenet")
    with pytest.raises(ValueError, match="model.backbone"):
        ModelConfig(backbone="vgg16")


def test_bad_image_shapes_get_a_clear_error():
    net = CascadedLiftingNet(ModelConfig(variant="baseline", backbone="resnet18", lite=True), (64, 64)).eval()
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\) with H and W multiples of 32"):
        net(torch.zeros(1, 64, 64, 3))
    with pytest.raises(ValueError, match="multiples of 32"):
        net(torch.zeros(1, 3, 100, 100))


def test_shallower_trunks_keep_the_map_size():
    """``backbone_stages`` 2 and 3 drop ResNet stages (stride 8, 16) and use fewer deconvolutions: same outputs."""
    x = torch.randn(1, 3, 64, 64)
    for stages, channels in ((2, 128), (3, 256), (4, 512)):
        net = CascadedLiftingNet(ModelConfig(variant="full", backbone="resnet18", lite=True, depth_bins=16,
                                             backbone_stages=stages), (64, 64))
        assert net.backbone(x).shape[1:] == (channels, 64 // 2 ** (stages + 1), 64 // 2 ** (stages + 1))
        out = net.volumes(x)
        assert out["joint_heatmaps"].shape == (1, 17, 16, 16) and out["uvz"].shape == (1, 17, 3)
    with pytest.raises(ValueError, match="backbone_stages must be 2, 3 or 4"):
        ModelConfig(backbone_stages=5)


def test_head_width_sets_the_heads_channels():
    """``head_width`` narrows every head (the demo's 64): same outputs, fewer parameters; bad widths are refused."""
    x = torch.randn(2, 3, 64, 64)
    nets = {w: CascadedLiftingNet(ModelConfig(variant="full", backbone="resnet18", lite=True, depth_bins=16,
                                              backbone_stages=2, head_width=w), (64, 64)) for w in (None, 64)}
    assert nets[None].context_conv[0].out_channels == 128 and nets[64].context_conv[0].out_channels == 64
    assert nets[64].bone_deconv[0].out_channels == 32 and nets[64].aspp.fuse[0].out_channels == 64
    heads = {w: sum(p.numel() for n, p in net.named_parameters() if not n.startswith(("backbone", "lifting")))
             for w, net in nets.items()}
    assert heads[64] < heads[None] / 2.5
    out = nets[64].volumes(x)
    assert out["cube"].shape == (2, 16, 16, 16) and out["uvz"].shape == (2, 17, 3)
    for bad in (0, 12):
        with pytest.raises(ValueError, match="head_width must be a multiple of 8"):
            ModelConfig(head_width=bad)


#: The authors' release (fnzhan/Pose-Estimation, main/model.py; ResNet-50, 18 joints, 64 depth bins), parameters in
#: millions per block (see cdlpose.model.BLOCKS): 59.89 M in all
AUTHORS_M = {"backbone": 23.51, "context": 11.08, "bone": 4.89, "depth": 3.07, "final": 1.43, "lifting": 15.91}
#: their limbHeatmap_Net builds a 3×3 conv 128 → 128 and its BatchNorm that its forward never uses
AUTHORS_UNUSED_BONE_CONV = 128 * 128 * 9 + 2 * 128


def test_parameter_counts_per_block_match_the_authors_release():
    """The default (release-layout) ``full`` network: within 1% of the authors' 59.89 M and close in each block.
    The blocks differ only where the skeletons or outputs do (17 joints vs their 18, an ordinal output they do not
    have, the third bone–joint bottleneck of their depth block) — see benchmarks/model_speed.py."""
    from cdlpose.model import block_parameters

    net = CascadedLiftingNet(ModelConfig(variant="full"))
    got = {k: n / 1e6 for k, n in block_parameters(net).items()}
    assert got["total"] == pytest.approx(sum(AUTHORS_M.values()), rel=0.01)
    assert got["backbone"] == pytest.approx(AUTHORS_M["backbone"], abs=0.005)
    assert got["context"] == pytest.approx(AUTHORS_M["context"], abs=0.005)
    assert got["bone"] + AUTHORS_UNUSED_BONE_CONV / 1e6 == pytest.approx(AUTHORS_M["bone"], abs=0.005)
    assert got["depth"] == pytest.approx(AUTHORS_M["depth"], rel=0.025)
    assert got["final"] == pytest.approx(AUTHORS_M["final"], rel=0.025)
    assert got["lifting"] == pytest.approx(AUTHORS_M["lifting"], rel=0.001)
    # the structure behind those counts: Bottleneck(512, 128) × 3 then a 1×1 conv 512 → J·C; lifting residual
    # blocks of three bias-free Linear + BatchNorm after an input Linear + BatchNorm + ReLU
    assert [(b.conv1.in_channels, b.conv1.out_channels) for b in net.final_res] == [(512, 128)] * 3
    assert net.head.in_channels == 512 and net.head.kernel_size == (1, 1) and net.head.out_channels == 17 * 64
    lin = [[m for m in block if isinstance(m, torch.nn.Linear)] for block in net.lifting.blocks]
    assert [len(b) for b in lin] == [3] * 5 and all(m.bias is None for b in lin for m in b)
    assert isinstance(net.lifting.inp_norm[0], torch.nn.BatchNorm1d) and net.lifting.inp.bias is None


def test_release_layout_initialises_the_heads_as_moon_et_al():
    """Every head conv and deconv ~ N(0, 0.001²) with zero biases; the backbone and the lite (narrow) layout keep
    PyTorch's default initialisation."""
    torch.manual_seed(0)
    convs = (torch.nn.Conv2d, torch.nn.ConvTranspose2d)
    for variant in ("baseline", "full"):
        net = CascadedLiftingNet(ModelConfig(variant=variant, backbone="resnet18"), (64, 64))
        heads = [(n, m) for n, m in net.named_modules() if isinstance(m, convs) and not n.startswith(("backbone",
                                                                                                      "lifting"))]
        assert {n for n, _ in heads} >= ({"head", "context.0"} | ({"joint_out", "bone_out", "cube_out",
                                                                   "ordinal_out", "bone_deconv.0"}
                                                                  if variant == "full" else set()))
        for name, m in heads:
            assert m.weight.std().item() == pytest.approx(1e-3, rel=0.1), name
            assert abs(m.weight.mean().item()) < 1e-4, name
            assert m.bias is None or torch.all(m.bias == 0), name
        assert net.backbone[0].weight.std().item() > 0.01  # not re-initialised
    lite = CascadedLiftingNet(ModelConfig(variant="full", backbone="resnet18", lite=True), (64, 64))
    assert lite.head.weight.std().item() > 0.01 and lite.joint_out.weight.std().item() > 0.01


#: Parameter counts before the release layout was added (lite = today's narrow widths): must not change
LITE_PARAMS = {("baseline", "resnet50"): 39_024_563, ("full", "resnet50"): 42_232_148,
               ("full", "resnet18"): 25_182_036}


def test_lite_and_the_demo_network_are_unchanged(tmp_path):
    from cdlpose.demo import DEMO_INPUT, demo_config

    for (variant, backbone), n in LITE_PARAMS.items():
        net = CascadedLiftingNet(ModelConfig(variant=variant, backbone=backbone, lite=True))
        assert sum(p.numel() for p in net.parameters()) == n, (variant, backbone)
        assert net.config.effective_layout == "narrow" and len(net.lifting.blocks[0]) == 2 * 4
    cfg = demo_config(tmp_path, 8, 8, 0, 1, 1)[0]
    net = CascadedLiftingNet(cfg.model, (DEMO_INPUT, DEMO_INPUT))
    # the crop+ray lifting input: the root's ray (2 numbers) into the 1024-wide first layer, 2,048 weights more
    assert sum(p.numel() for p in net.parameters()) == 5_515_124 + 2 * 1024
    assert isinstance(net.lifting.inp_norm, torch.nn.Identity) and net.lifting.inp.bias is not None


def test_layout_settings_and_checkpoints_saved_before_the_layout_field():
    from cdlpose.config import ConfigError, config_from_dict, config_to_dict
    from cdlpose.config import Config

    assert ModelConfig().effective_layout == "release" and ModelConfig().effective_lift_layers == 3
    assert ModelConfig(lite=True).effective_lift_layers == 2
    assert ModelConfig(layout="narrow").effective_lift_layers == 2
    assert ModelConfig(lift_layers_per_block=2).effective_lift_layers == 2  # explicit beats the layout
    with pytest.raises(ValueError, match="model.layout must be one of release, narrow"):
        ModelConfig(layout="wide")
    # a checkpoint config saved before ``layout`` existed rebuilds the narrow network it was trained as
    old = config_to_dict(Config())
    del old["model"]["layout"]
    old["model"]["lift_layers_per_block"] = 2
    assert config_from_dict(old).model.effective_layout == "narrow"
    # ... with the parameters of the earlier default (non-lite) network, so its weights load
    net = CascadedLiftingNet(config_from_dict(old).model)
    assert sum(p.numel() for p in net.parameters()) == 53_619_028
    assert config_from_dict(config_to_dict(Config())).model.effective_layout == "release"
    with pytest.raises(ConfigError, match="model.layout"):
        config_from_dict({"model": {"layout": "wide"}})


def test_lifting_block_sees_the_viewing_rays_of_a_known_camera():
    from cdlpose.model import LiftingBlock

    C, D = 64, 2000.0
    lift = LiftingBlock(17, 0, (16, 16), C, hidden=32, blocks=1, input_form="camera", depth_range=D)
    # a 64² crop with f = 100 px and the principal point at crop pixel (20, 40)
    camera = torch.tensor([[100.0, 100.0, 20.0, 40.0]])
    uvz = torch.zeros(1, 17, 3)
    crop_uv = torch.tensor([[20.0, 40.0], [120.0, 40.0], [20.0, -10.0]])  # on the axis; 1 f right; 0.5 f up
    uvz[0, :3, :2] = (crop_uv + 0.5) / 4 - 0.5  # crop pixels → output-map pixels
    uvz[0, :3, 2] = torch.tensor([C / 2 - 0.5, C / 2 - 0.5 + 16, C / 2 - 0.5 - 8])  # 0, +500, -250 mm
    f = lift.features(uvz, camera).view(17, 5)
    ray, rel, z = f[:3, :2] / 2, f[:3, 2:4] / 5, f[:3, 4]
    assert torch.allclose(ray, torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, -0.5]]), atol=1e-6)
    assert torch.allclose(rel, ray - ray[0], atol=1e-6)  # relative to the root (joint 0)
    assert torch.allclose(z, torch.tensor([0.0, 0.5, -0.25]), atol=1e-6)  # metres
    # the same crop seen off-centre in the frame (another principal point) is another input: the crop alone
    # does not say where the person is
    assert not torch.allclose(lift.features(uvz, torch.tensor([[100.0, 100.0, 60.0, 40.0]])), f.view(1, -1))
    with pytest.raises(ValueError, match="crop camera"):
        lift(uvz)
    # a 2D-only sample (no camera: NaN) gets a nominal camera, never NaN
    assert torch.isfinite(lift(uvz.repeat(2, 1, 1), torch.tensor([[100.0, 100, 20, 40], [float("nan")] * 4]))).all()


def test_crop_plus_ray_lifting_input_is_the_crops_and_the_roots_ray():
    from cdlpose.model import LiftingBlock

    C = 32
    crop = LiftingBlock(17, 0, (16, 16), C, hidden=32, blocks=1, input_form="crop")
    both = LiftingBlock(17, 0, (16, 16), C, hidden=32, blocks=1, input_form="crop+ray")
    uvz = torch.rand(1, 17, 3) * torch.tensor([15.0, 15.0, C - 1])
    uvz[0, 0, :2] = torch.tensor([7.5, 3.5])  # the root at crop pixel (31.5, 15.5)
    camera = torch.tensor([[200.0, 100.0, 11.5, 35.5]])
    x = both.features(uvz, camera)
    assert x.shape == (1, 17 * 5 + 2) and both.inp.in_features == 17 * 5 + 2
    assert torch.equal(x[:, :-2], crop.features(uvz))
    assert torch.allclose(x[0, -2:] / 2, torch.tensor([(31.5 - 11.5) / 200, (15.5 - 35.5) / 100]))  # root's ray
    moved = both.features(uvz, torch.tensor([[200.0, 100.0, 51.5, 35.5]]))  # the person elsewhere in the frame
    assert torch.equal(moved[:, :-2], x[:, :-2]) and not torch.allclose(moved[:, -2:], x[:, -2:])
    with pytest.raises(ValueError, match="crop camera"):
        both(uvz)


def test_old_checkpoint_configs_keep_the_crop_lifting_input():
    from cdlpose.config import config_from_dict, config_to_dict, Config

    old = config_to_dict(Config())
    del old["model"]["lift_input"]
    assert config_from_dict(old).model.lift_input == "crop"
    assert Config().model.lift_input == "crop"


# ------------------------------------------------------------------------ imported PoseNet weights' conventions
# ModelConfig.input_range = "byte" and output_convention = "posenet" make a network with Moon et al.'s weights read
# cdlpose's input and answer in cdlpose's coordinates. Each is checked on a network small enough to run in a blink,
# against the same weights under cdlpose's own conventions, through what the convention means in pixels and mm.


def _convention_pair(**theirs_kw):
    """(cdlpose-convention network, same weights with ``theirs_kw``): ResNet-18 stages 1–2, 16-channel heads, 8 depth
    bins, 64² input, no lifting block."""
    kw = dict(variant="baseline", backbone="resnet18", lite=True, backbone_stages=2, head_width=16, depth_bins=8,
              lifting=False)
    torch.manual_seed(0)
    ours = CascadedLiftingNet(ModelConfig(**kw), (64, 64)).eval()
    theirs = CascadedLiftingNet(ModelConfig(**kw, **theirs_kw), (64, 64)).eval()
    theirs.load_state_dict(ours.state_dict())
    return ours, theirs


def _normalised(x):
    from cdlpose.data.pipeline import IMAGENET_MEAN, IMAGENET_STD

    m, s = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return (x - m) / s, m, s


def test_byte_input_range_feeds_the_trunk_what_posenet_was_trained_on():
    """PoseNet was trained on (255·x − mean)/std (ImageNet's mean and std applied to 0–255 pixels x); a
    ``input_range: byte`` network given cdlpose's (x − mean)/std must feed its trunk exactly that."""
    ours, theirs = _convention_pair(input_range="byte")
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))  # pixels in [0, 1]
    n, m, s = _normalised(x)
    with torch.no_grad():
        got = theirs.volumes(n)["volume_logits"]
        want = ours.volumes((255 * x - m) / s)["volume_logits"]
    # tolerance 1e-5 of the logits' range (float32 rounding measured at 6e-7 of it; an input shift off by one
    # mean/std, 255·m/s for 254·m/s, moves them by 2e-3 of it)
    scale = want.abs().max().item()
    assert scale > 1.0
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=0, atol=1e-5 * scale)


def test_posenet_output_convention_maps_index_i_to_crop_pixel_4i():
    """PoseNet's map index i means crop pixel 4·i (its targets are u/4); cdlpose's map pixel i' means crop pixel
    (i' + 0.5)·4 − 0.5 (pixel centres at integers). A ``output_convention: posenet`` network's u, v must name the
    crop pixel PoseNet's index names, and its joint confidence must be the cdlpose network's on the same volumes."""
    from cdlpose.codec import soft_argmax_3d
    from cdlpose.geometry import rescale_points

    ours, theirs = _convention_pair(output_convention="posenet")
    n = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        out = theirs.predict(n)
        index = soft_argmax_3d(theirs.volumes(n)["volume_logits"].float())  # the volumes' own soft-argmax
        conf = ours.predict(n)["confidence"]
    crop_px = rescale_points(out["uvz"][..., :2].double(), (16, 16), (64, 64))
    # tolerance 1e-4 crop px: float32 rounding of coordinates below 64 is ~1e-5; a wrong offset moves them by
    # 0.5 px (index taken as a pixel centre) or 1.5 px (no offset)
    np.testing.assert_allclose(crop_px.numpy(), 4 * index[..., :2].double().numpy(), rtol=0, atol=1e-4)
    # the confidence window sits around the soft-argmax in the volume's own index grid: identical to ours
    np.testing.assert_allclose(out["confidence"].numpy(), conf.numpy(), rtol=0, atol=1e-6)


def test_posenet_output_convention_maps_depth_index_k_to_posenets_depth():
    """PoseNet's depth index k means root-relative depth (k − C/2)·D/C (its targets are (z/D + 1/2)·C); cdlpose's
    index k' means (k' − C/2 + 0.5)·D/C, the bin centre. A ``output_convention: posenet`` network's z must give,
    through cdlpose's :func:`~cdlpose.codec.index_to_depth`, the depth PoseNet's index means."""
    from cdlpose.codec import index_to_depth, soft_argmax_3d

    _, theirs = _convention_pair(output_convention="posenet")
    n = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    C, D = 8, 2000.0
    with torch.no_grad():
        z = theirs.volumes(n)["uvz"][..., 2]
        k = soft_argmax_3d(theirs.volumes(n)["volume_logits"].float())[..., 2]
    # tolerance 0.01 mm: float32 rounding of depths below 1000 mm is ~1e-4 mm; a missing half-bin offset moves
    # every depth by D/(2C) = 125 mm here
    np.testing.assert_allclose(index_to_depth(z.double(), C, D).numpy(), ((k.double() - C / 2) * D / C).numpy(),
                               rtol=0, atol=1e-2)
