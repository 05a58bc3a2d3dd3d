"""Importing Moon et al.'s PoseNet snapshots (cdlpose.posenet) and running them through cdlpose's inference.

No real weights are available here: the test builds a module with PoseNet's parameter names and shapes (from
their main/model.py and common/nets/resnet.py), fills it with random weights, saves it in their snapshot layout,
imports it, and checks cdlpose's outputs against a forward pass computed the way their code computes it: RGB
0–255 crops normalised by ImageNet's mean and std, their soft-argmax (weights 1..W, minus 1), crop pixel = 4 ×
map index, depth (k/64·2 − 1)·1000 mm, back-projection at root depth + relative depth (their demo's pixel2cam).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from cdlpose.posenet import PoseNetImportError, import_posenet, map_posenet_state, posenet_config
from cdlpose.skeletons import get_skeleton

PIXEL_MEAN = np.array([0.485, 0.456, 0.406], np.float32)  # their cfg.pixel_mean / pixel_std
PIXEL_STD = np.array([0.229, 0.224, 0.225], np.float32)


class _MoonBackbone(nn.Module):
    def __init__(self):
        super().__init__()
        torchvision = pytest.importorskip("torchvision")  # their ResNet-50 (cdlpose[detector]); the h36m tests skip
        r = torchvision.models.resnet50(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = r.conv1, r.bn1, r.relu, r.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = r.layer1, r.layer2, r.layer3, r.layer4

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class _MoonHead(nn.Module):
    def __init__(self, joints: int):
        super().__init__()
        layers, cin = [], 2048
        for _ in range(3):
            layers += [nn.ConvTranspose2d(cin, 256, 4, 2, 1, output_padding=0, bias=False), nn.BatchNorm2d(256),
                       nn.ReLU(inplace=True)]
            cin = 256
        self.deconv_layers = nn.Sequential(*layers)
        self.final_layer = nn.Conv2d(256, joints * 64, 1)

    def forward(self, x):
        return self.final_layer(self.deconv_layers(x))


class MoonPoseNet(nn.Module):
    """PoseNet's module tree: ``backbone`` (ResNetBackbone) and ``head`` (HeadNet)."""

    def __init__(self, joints: int):
        super().__init__()
        self.joints = joints
        self.backbone, self.head = _MoonBackbone(), _MoonHead(joints)

    def forward(self, x):
        return self.head(self.backbone(x))


def _randomise(net: nn.Module, seed: int) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):  # trained-looking statistics, not the identity
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * 0.5 + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
                m.num_batches_tracked.fill_(1000)
        fl = net.head.final_layer
        fl.weight.copy_(torch.randn(fl.weight.shape, generator=g) * 0.4)  # volumes with a few clear peaks
        fl.bias.copy_(torch.randn(fl.bias.shape, generator=g) * 0.5)
    return net.eval()


def their_soft_argmax(hm: torch.Tensor, joints: int) -> torch.Tensor:
    """main/model.py's soft_argmax: (B, J·D, H, W) → (B, J, 3) in map index units (x, y, depth index)."""
    B, _, H, W = hm.shape
    D = hm.shape[1] // joints
    p = torch.softmax(hm.reshape(B, joints, D * H * W), 2).reshape(B, joints, D, H, W)
    ax = (p.sum((2, 3)) * torch.arange(1, W + 1, dtype=p.dtype)).sum(2, keepdim=True) - 1
    ay = (p.sum((2, 4)) * torch.arange(1, H + 1, dtype=p.dtype)).sum(2, keepdim=True) - 1
    az = (p.sum((3, 4)) * torch.arange(1, D + 1, dtype=p.dtype)).sum(2, keepdim=True) - 1
    return torch.cat([ax, ay, az], 2)


@torch.no_grad()
def their_forward(net: MoonPoseNet, crop_rgb: np.ndarray) -> np.ndarray:
    """The coordinates their test.py gets for one RGB uint8 crop: (J, 3), x, y in 64-map index, z depth index."""
    x = (crop_rgb.astype(np.float32) - PIXEL_MEAN) / PIXEL_STD  # ToTensor keeps a float array's 0–255 range
    x = torch.from_numpy(x.transpose(2, 0, 1).copy())[None].to(next(net.parameters()).dtype)
    return their_soft_argmax(net(x), net.joints)[0].double().numpy()


def their_k_value(box, width: int, height: int, f) -> float:
    """RootNet's k-value as their demo.py computes it, restated: process_bbox (sanitise to the image: near
    corner ≥ 0, far corner near + max(0, w − 1) ≤ size − 1; grow the shorter side to the 256×256 input's aspect
    ratio; ×1.25 about the centre), then sqrt(bbox_real² · fx · fy / (w · h)) with bbox_real = 2000 mm."""
    x, y, w, h = box
    x1, y1 = max(0, x), max(0, y)
    x2, y2 = min(width - 1, x1 + max(0, w - 1)), min(height - 1, y1 + max(0, h - 1))
    w, h = x2 - x1, y2 - y1
    side = max(w, h) * 1.25  # aspect ratio 256 / 256 = 1
    return float(np.sqrt(2000 * 2000 * f[0] * f[1] / (side * side)))


def their_camera_pose(coord: np.ndarray, M: np.ndarray, root_depth: float, f, c) -> np.ndarray:
    """demo.py's back-projection: crop px = coord/64·256, through the inverse affine, depth (z/64·2 − 1)·1000 +
    root depth, pixel2cam. (J, 3) camera-space mm."""
    xy = coord[:, :2] / 64 * 256
    A = np.vstack([M, [0, 0, 1]])
    img = (np.linalg.inv(A) @ np.c_[xy, np.ones(len(xy))].T).T[:, :2]
    z = (coord[:, 2] / 64 * 2 - 1) * 1000 + root_depth
    return np.c_[(img[:, 0] - c[0]) / f[0] * z, (img[:, 1] - c[1]) / f[1] * z, z]


def _snapshot(net: MoonPoseNet, path, legacy: bool = False):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    state = {"epoch": 24, "network": {f"module.{k}": v for k, v in net.state_dict().items()},
             "optimizer": opt.state_dict()}
    torch.save(state, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.fixture(scope="module")
def h36m(tmp_path_factory):
    d = tmp_path_factory.mktemp("posenet")
    net = _randomise(MoonPoseNet(18), seed=1)
    snap = _snapshot(net, d / "snapshot_24.pth.tar", legacy=True)  # their PyTorch 1.x wrote the legacy format
    info = import_posenet(snap, "h36m", d / "posenet_h36m.pt")
    # both sides compute in float64 below, so that a difference of 1e-4 px is a convention, not float32 rounding
    # through 50 layers (in float32 the two differ by up to ~3e-4 px)
    return {"net": net.double(), "snapshot": snap, "ckpt": d / "posenet_h36m.pt", "info": info, "dir": d}


def _image(seed=0, H=300, W=400):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (H // 10, W // 10, 3), dtype=np.uint8)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)


def _crop(pred, img, box):
    _, M, _ = pred._crop(img, np.asarray(box, np.float64))
    S = pred.size
    return cv2.warpAffine(img, M, (S, S), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT), M


def test_imported_posenet_reproduces_their_forward_and_back_projection(h36m):
    from cdlpose.inference import Predictor

    assert h36m["info"]["skeleton"] == "h36m18" and h36m["info"]["epoch"] == 24
    pred = Predictor.from_checkpoint(h36m["ckpt"], device="cpu")
    pred.net.double()
    assert pred.pose_3d_source == "back-projection" and pred.origin["kind"] == "posenet"
    img, box, f, c, root = _image(), [130.0, 40.0, 120.0, 230.0], (1145.0, 1143.5), (203.0, 151.0), 4800.0
    p = pred.predict([img], [[box]], focal=f, centre=c, root_depths=[[root]])[0][0]
    crop, M = _crop(pred, img, box)
    coord = their_forward(h36m["net"], crop)
    assert np.ptp(coord[:, 0]) > 2 and np.ptp(coord[:, 2]) > 2  # the random volumes peak in different places
    cam = their_camera_pose(coord, M, root, f, c)
    A = np.vstack([M, [0, 0, 1]])
    uv_img = (np.linalg.inv(A) @ np.c_[coord[:, :2] * 4, np.ones(18)].T).T[:, :2]
    np.testing.assert_allclose(p["keypoints_2d"], uv_img, atol=1e-4)  # px
    np.testing.assert_allclose(p["uvz"][:, 2], (coord[:, 2] / 64 * 2 - 1) * 1000, atol=1e-3)  # mm
    np.testing.assert_allclose(p["keypoints_3d"], cam - cam[0], atol=1e-3)  # mm, pelvis-relative
    np.testing.assert_allclose(p["keypoints_3d_camera_estimate"], cam, atol=1e-3)
    assert p["root_depth_source"] == "given" and p["root_depth_mm"] == root
    # without a given depth: RootNet's k-value from the box, labelled as an estimate
    q = pred.predict([img], [[box]], focal=f, centre=c)[0][0]
    assert q["root_depth_source"] == "estimate" and q["root_depth_mm"] == pytest.approx(q["root_depth_mm_estimate"])
    assert q["root_depth_mm"] == pytest.approx(their_k_value(box, img.shape[1], img.shape[0], f), rel=1e-12)
    cam_k = their_camera_pose(coord, M, q["root_depth_mm"], f, c)
    np.testing.assert_allclose(q["keypoints_3d"], cam_k - cam_k[0], atol=1e-3)


def test_imported_posenet_flip_test_is_the_exact_mirror(h36m):
    from cdlpose.inference import Predictor

    pred = Predictor.from_checkpoint(h36m["ckpt"], device="cpu", flip=True)
    pred.net.double()
    img, box = _image(1), [100.0, 30.0, 150.0, 250.0]
    p = pred.predict([img], [[box]])[0][0]
    crop, M = _crop(pred, img, box)
    a = their_forward(h36m["net"], crop)
    b = their_forward(h36m["net"], np.ascontiguousarray(crop[:, ::-1]))[get_skeleton("h36m18").flip_index]
    S = crop.shape[1]
    b_crop_u = (S - 1) - 4 * b[:, 0]  # the mirrored crop's pixel u is the crop's S − 1 − u
    u = 0.5 * (4 * a[:, 0] + b_crop_u)
    v = 0.5 * (4 * a[:, 1] + 4 * b[:, 1])
    A = np.linalg.inv(np.vstack([M, [0, 0, 1]]))
    uv_img = (A @ np.c_[u, v, np.ones(18)].T).T[:, :2]
    np.testing.assert_allclose(p["keypoints_2d"], uv_img, atol=1e-4)
    np.testing.assert_allclose(p["uvz"][:, 2], (0.5 * (a[:, 2] + b[:, 2]) / 64 * 2 - 1) * 1000, atol=1e-3)


def test_import_refuses_to_replace_a_file_and_checks_the_joint_set(h36m, tmp_path, capsys):
    out = tmp_path / "mine.pt"
    out.write_text("a user's file")
    with pytest.raises(PoseNetImportError, match="exists and cdlpose did not write it.*--overwrite"):
        import_posenet(h36m["snapshot"], "h36m", out)
    assert out.read_text() == "a user's file"
    # an import of cdlpose's changed since (or a copy of one): not cdlpose's as it left it any more
    import_posenet(h36m["snapshot"], "h36m", tmp_path / "a.pt")
    with open(tmp_path / "a.pt", "ab") as fh:
        fh.write(b"an edit")
    from cdlpose.cli import main

    assert main(["import", "posenet", str(h36m["snapshot"]), "--joints", "h36m", "--out", str(tmp_path / "a.pt")]) == 2
    assert "cdlpose did not write it" in capsys.readouterr().err
    assert main(["import", "posenet", str(h36m["snapshot"]), "--joints", "h36m", "--out", str(tmp_path / "a.pt"),
                 "--overwrite"]) == 0  # asked for
    with pytest.raises(PoseNetImportError, match="--joints h36m"):  # an 18-joint snapshot imported as MuCo's
        import_posenet(h36m["snapshot"], "muco", tmp_path / "muco.pt")
    assert not (tmp_path / "muco.pt").exists()


def test_import_errors_name_what_differs(h36m, tmp_path):
    state = {f"module.{k}": v for k, v in h36m["net"].state_dict().items()}
    cfg = posenet_config("h36m")
    from cdlpose.model import CascadedLiftingNet

    target = CascadedLiftingNet(cfg.model, (256, 256)).state_dict()
    assert len(map_posenet_state(state, target, "x", "h36m")) == len(target)
    # RootNet's checkpoint: the same backbone, a head of its own
    rootnet = {k: v for k, v in state.items() if ".head." not in k}
    rootnet |= {"module.root.deconv_layers.0.weight": torch.zeros(2048, 256, 4, 4),
                "module.root.xy_layer.weight": torch.zeros(1, 256, 1, 1),
                "module.root.depth_layer.weight": torch.zeros(1, 2048, 1, 1)}
    with pytest.raises(PoseNetImportError, match="RootNet") as e:
        map_posenet_state(rootnet, target, "rootnet.pth.tar", "h36m")
    assert "root.xy_layer.weight" in str(e.value) and "head.deconv_layers.0.weight" in str(e.value)
    # another network: a weight missing, one of another shape, one unknown
    other = dict(state)
    del other["module.backbone.layer4.2.conv3.weight"]
    other["module.head.deconv_layers.0.weight"] = torch.zeros(2048, 128, 4, 4)
    other["module.extra.fc.weight"] = torch.zeros(3)
    with pytest.raises(PoseNetImportError) as e:
        map_posenet_state(other, target, "other.pth", "h36m")
    msg = str(e.value)
    assert "backbone.layer4.2.conv3.weight" in msg and "head.deconv_layers.0.weight (2048, 128, 4, 4)" in msg
    assert "extra.fc.weight" in msg
    # snapshots of PyTorch < 0.4.1 have no num_batches_tracked: imported all the same
    old = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert set(map_posenet_state(old, target, "old", "h36m")) == set(target)


def test_import_errors_for_files(h36m, tmp_path):
    data = h36m["snapshot"].read_bytes()
    cut = tmp_path / "truncated.pth.tar"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(PoseNetImportError, match="cannot read it"):
        import_posenet(cut, "h36m", tmp_path / "a.pt")
    plain = tmp_path / "state_dict.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, plain)
    with pytest.raises(PoseNetImportError, match="'network'"):
        import_posenet(plain, "h36m", tmp_path / "b.pt")
    with pytest.raises(PoseNetImportError, match="no such file"):
        import_posenet(tmp_path / "absent.pth.tar", "h36m", tmp_path / "c.pt")
    assert not any((tmp_path / n).exists() for n in ("a.pt", "b.pt", "c.pt"))


class _Hostile:
    """Any object outside tensors and plain data: torch's weights-only loader refuses it."""


def test_a_snapshot_holding_objects_is_refused_in_cdlposes_words(h36m, tmp_path, capsys):
    bad = tmp_path / "snapshot_hostile.pth.tar"
    torch.save({"network": {"w": torch.zeros(1)}, "epoch": 24, "extra": _Hostile()}, bad)
    with pytest.raises(PoseNetImportError) as e:
        import_posenet(bad, "h36m", tmp_path / "a.pt")
    msg = str(e.value)
    assert "Python objects other than tensors and plain data" in msg and "could run code" in msg
    # never torch's advice to reload with weights_only=False (nor any of torch's message)
    assert "weights_only" not in msg and "False" not in msg and "Weights only load failed" not in msg
    from cdlpose.cli import main

    assert main(["import", "posenet", str(bad), "--joints", "h36m", "--out", str(tmp_path / "a.pt")]) == 2
    err = capsys.readouterr().err
    assert "weights_only" not in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "a.pt").exists()


def test_cli_import_and_predict_without_lifting(h36m, tmp_path):
    import json

    from cdlpose.cli import main

    out = tmp_path / "p.pt"
    for _ in range(2):  # its own earlier import, as it left it, is replaced
        assert main(["import", "posenet", str(h36m["snapshot"]), "--joints", "h36m", "--out", str(out)]) == 0
    img = tmp_path / "photo.png"
    cv2.imwrite(str(img), _image(2))
    res = tmp_path / "poses"
    assert main(["predict", "--checkpoint", str(out), str(img), "--box", "120", "40", "140", "230",
                 "--root-depth", "5200", "--out", str(res), "--json-only", "--no-viewer", "--no-progress"]) == 0
    doc = json.loads((res / "photo.json").read_text())
    assert doc["pose_3d_source"] == "back-projection" and doc["imported_from"]["kind"] == "posenet"
    person = doc["people"][0] if "people" in doc else doc["frames"][0]["people"][0]
    assert person["root_depth_source"] == "given" and person["root_depth_mm"] == 5200.0
    assert main(["predict", "--checkpoint", str(out), str(img), "--root-depth", "5200", "--out",
                 str(tmp_path / "x"), "--json-only"]) == 2  # a root depth without its box


def test_human36m_scores_17_joints_of_an_18_joint_network():
    from cdlpose.evaluation import score

    rng = np.random.default_rng(0)
    gt = rng.normal(0, 300, (6, 18, 3))
    gt -= gt[:, :1]
    pred = gt.copy()
    pred[:, 17] += 500.0  # only Moon et al.'s 18th joint (the shoulders' mid-point) is wrong
    base = {"pred_3d": pred, "pred_3d_backproj": pred, "gt_3d": gt, "valid_3d": np.ones((6, 18), bool),
            "pred_uv": np.zeros((6, 18, 2)), "gt_uv": np.zeros((6, 18, 2)), "valid_2d": np.ones((6, 18), bool),
            "action": ["Walking"] * 6, "subject": ["S9"] * 6, "sample_id": list(range(6)), "skeleton": "h36m18"}
    r = score(base, "h36m-p1")
    assert r["summary"]["cdlpose"]["MPJPE"] == pytest.approx(0.0, abs=1e-9)
    assert r["details"]["joints"].startswith("17")
    # the synthetic protocol scores every joint of the network's own set
    assert score(base, "synthetic")["summary"]["cdlpose"]["MPJPE"] == pytest.approx(500.0 * 3**0.5 / 18)
    # a network without a lifting block: one row, the back-projection's
    r = score({**base, "pose_3d_source": "back-projection"}, "h36m-p1")
    assert [k for k in r["rows"] if k.startswith("cdlpose")] == ["cdlpose 2.5D back-projected (GT root depth)"]


def test_posenet_conventions_in_a_small_network(tmp_path):
    """The model-level conventions on a network small enough to check by hand: input × 255 + 254·mean/std, and
    uvz shifted by 3/8 map pixel and half a depth bin against the volumes' own soft-argmax."""
    import dataclasses

    from cdlpose.codec import soft_argmax_3d
    from cdlpose.model import CascadedLiftingNet, ModelConfig

    kw = dict(variant="baseline", backbone="resnet18", lite=True, backbone_stages=2, head_width=16, depth_bins=8,
              lifting=False)
    torch.manual_seed(0)
    ours = CascadedLiftingNet(ModelConfig(**kw), (64, 64)).eval()
    theirs = CascadedLiftingNet(ModelConfig(**kw, input_range="byte", output_convention="posenet"), (64, 64)).eval()
    theirs.load_state_dict(ours.state_dict())
    assert ours.lifting is None and "pose_3d" not in ours.predict(torch.zeros(1, 3, 64, 64))
    n = torch.randn(2, 3, 64, 64)
    x255 = (n * torch.tensor(PIXEL_STD).view(1, 3, 1, 1) + torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1)) * 255
    moon_input = (x255 - torch.tensor(PIXEL_MEAN).view(1, 3, 1, 1)) / torch.tensor(PIXEL_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ref = soft_argmax_3d(ours.volumes(moon_input)["volume_logits"].float())
        got = theirs.volumes(n)["uvz"]
    np.testing.assert_allclose(got.numpy(), (ref - torch.tensor([0.375, 0.375, 0.5])).numpy(), atol=2e-4)
    with pytest.raises(ValueError, match="input_range"):
        ModelConfig(input_range="bytes")
    assert dataclasses.asdict(ModelConfig())["lifting"] is True


def _small_posenet_checkpoint(path, joints: str, label: str, depth_bins: int | None = None):
    """A cdlpose checkpoint of a small network with PoseNet's conventions (no lifting block, 0–255 input, PoseNet's
    output indices): ResNet-18 stages 1–2, 16-channel heads, 64² input, random weights, ``imported_from`` labelled
    ``label``. Returns ``path``."""
    import dataclasses

    from cdlpose.checkpoint import save_checkpoint
    from cdlpose.config import config_to_dict
    from cdlpose.loading import CHECKPOINT_FORMAT
    from cdlpose.model import CascadedLiftingNet

    cfg = posenet_config(joints)
    bins = depth_bins or cfg.model.depth_bins
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, backbone="resnet18", lite=True,
                                                             backbone_stages=2, head_width=16, depth_bins=bins),
                              codec=dataclasses.replace(cfg.codec, depth_bins=bins),
                              augment=dataclasses.replace(cfg.augment, input_size=64))
    torch.manual_seed(0)
    net = CascadedLiftingNet(cfg.model, (64, 64)).eval()
    save_checkpoint({"format": CHECKPOINT_FORMAT, "config": config_to_dict(cfg), "model": net.state_dict(),
                     "imported_from": {"kind": "posenet", "label": label}}, path)
    return path


def test_onnx_export_of_a_network_without_lifting(tmp_path):
    """An imported-style network (no lifting block, PoseNet's conventions) exports to ONNX without a pose_3d
    output, and Predictor.from_onnx back-projects its 2.5D estimate exactly as the PyTorch Predictor does."""
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from cdlpose.export import export_onnx
    from cdlpose.inference import Predictor

    ckpt = _small_posenet_checkpoint(tmp_path / "small.pt", "muco", "test")
    s = export_onnx(ckpt, tmp_path / "small.onnx")
    assert "max_abs_pose_3d" not in s and s["max_abs_uvz"] < 1e-3
    img, boxes = _image(3), [[60.0, 30.0, 120.0, 200.0], [200.0, 50.0, 90.0, 180.0]]
    a = Predictor.from_checkpoint(ckpt, device="cpu").predict([img], [boxes], root_depths=[[3000.0, None]])[0]
    b = Predictor.from_onnx(tmp_path / "small.onnx")
    assert b.pose_3d_source == "back-projection" and b.origin == {"kind": "posenet", "label": "test"}
    b = b.predict([img], [boxes], root_depths=[[3000.0, None]])[0]
    for pa, pb in zip(a, b):
        np.testing.assert_allclose(pa["keypoints_3d"], pb["keypoints_3d"], atol=0.05)
        assert pa["root_depth_source"] == pb["root_depth_source"]
    assert [p["root_depth_source"] for p in a] == ["given", "estimate"]


def test_stage2_refuses_a_network_without_lifting(tmp_path):
    from cdlpose.config import ConfigError
    from cdlpose.engine import Trainer
    from tests.test_engine import tiny

    cfg = tiny(tmp_path, variant="baseline", extra=("model.lifting=false", "train.stage=2", "train.finetune=true"))
    with pytest.raises(ConfigError, match="model.lifting is false"):
        Trainer(cfg, device="cpu")


def test_evaluate_a_network_without_lifting_of_another_joint_set(tmp_path):
    """`cdlpose evaluate CONFIG --checkpoint posenet.pt`: the config's data (17 joints) read into the network's 18,
    the 3D row the back-projection with the ground-truth root depth, one such row, and the caption says so."""
    from cdlpose.evaluation import evaluate_checkpoint
    from tests.test_engine import tiny

    data_cfg = tiny(tmp_path)  # h36m17 synthetic data
    ckpt = _small_posenet_checkpoint(tmp_path / "posenet_small.pt", "h36m", "PoseNet (test)", depth_bins=32)
    result, pred = evaluate_checkpoint(ckpt, data_cfg, "synthetic", device="cpu", progress=False, out_dir=tmp_path)
    assert pred["skeleton"] == "h36m18" and pred["pose_3d_source"] == "back-projection"
    assert not pred["valid_3d"][:, 17].any() and pred["valid_3d"][:, :17].all()  # no ground truth for the 18th
    ours = [k for k in result["rows"] if k.startswith("PoseNet (test)")]
    assert ours == ["PoseNet (test) 2.5D back-projected (GT root depth)"]
    assert "ground-truth root depth" in result["details"]["3D"] and "h36m18" in result["details"]["network joints"]
    np.testing.assert_array_equal(pred["pred_3d"], pred["pred_3d_backproj"])
    assert "note" not in result  # no "stage-1 checkpoint: untrained lifting block" for a network without one
