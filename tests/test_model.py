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
    import torchvision

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
