"""Checks sized to the errors they must catch: the MuPoTS-3D matching threshold that the evaluation itself applies,
and the ONNX path against PyTorch on a network whose outputs follow its pixels, so that a normalisation slip fails
by orders of magnitude rather than by a hair."""

import dataclasses

import numpy as np
import pytest
import torch

from cdlpose.evaluation import score

from .test_metrics import mupots_pose

# ------------------------------------------------------------------------------ MuPoTS-3D: the 40 px matching


def _mupots_pred(shift_px: float) -> dict:
    """What :func:`score` takes for one annotated person in MuPoTS-17 order, predicted perfectly in 3D from its
    ground-truth box, with the 2D joints the matching sees moved ``shift_px`` to the right."""
    gt = mupots_pose()[None]
    uv = gt[..., :2] / 5 + [600.0, 400.0]
    return {"skeleton": "mupots17", "gt_3d": gt, "valid_3d": np.ones((1, 17), bool), "gt_uv_frame": uv,
            "pred_uv_frame": uv + [shift_px, 0.0], "pred_3d": gt.copy(), "image_key": ["mupots/TS1-0"],
            "subject": ["TS1"], "action": ["TS1"], "sample_id": ["0"], "pred_uv": np.zeros((1, 17, 2)),
            "gt_uv": np.zeros((1, 17, 2)), "valid_2d": np.ones((1, 17), bool)}


@pytest.mark.parametrize("shift_px,matched", [(39.0, True), (41.0, False), (50.0, False)])
def test_mupots_evaluation_matches_people_within_40_px(shift_px, matched):
    """The official procedure pairs a prediction with an annotated person when its joints lie within 40 px
    (|dx| and |dy| < 40, ``mpii_multiperson_get_identity_matching.m``); a person whose every joint is 41 or 50 px
    off is unmatched, and a perfect 3D pose then scores 0 and counts as missed. The threshold tested is the one
    :func:`score` applies, not the default of the matching function."""
    r = score(_mupots_pred(shift_px), "mupots")
    s = r["summary"]["cdlpose"]
    assert s["matched_people"] == int(matched) and s["annotated_people"] == 1, s
    assert r["rows"]["cdlpose · all annotated people"]["Avg"] == (100.0 if matched else 0.0)


# ------------------------------------------------------------------------------ ONNX against PyTorch


@pytest.fixture(scope="module")
def responsive(tmp_path_factory):
    """A small network (ResNet-18 stages 1–2, 16-channel heads, 16 depth bins, 64² input, a lifting block that takes
    the crop camera) whose outputs follow its pixels: the volume head's weights ×30, so the volumes peak where the
    features say; the lifting block's output layer ×1000 (its 1e-3 initialisation starts near the zero pose), so the
    3D pose spans hundreds of mm. Returns (checkpoint, ONNX file)."""
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    from cdlpose.checkpoint import save_checkpoint
    from cdlpose.config import Config, config_to_dict
    from cdlpose.export import export_onnx
    from cdlpose.loading import CHECKPOINT_FORMAT
    from cdlpose.model import CascadedLiftingNet

    tmp = tmp_path_factory.mktemp("onnx")
    cfg = Config()
    cfg = dataclasses.replace(
        cfg, model=dataclasses.replace(cfg.model, variant="baseline", backbone="resnet18", lite=True, backbone_stages=2,
                                       head_width=16, depth_bins=16, lift_hidden=64, lift_blocks=1,
                                       lift_input="camera"),
        codec=dataclasses.replace(cfg.codec, depth_bins=16), augment=dataclasses.replace(cfg.augment, input_size=64))
    torch.manual_seed(0)
    net = CascadedLiftingNet(cfg.model, (64, 64)).eval()
    with torch.no_grad():
        net.head.weight.mul_(30.0)
        net.lifting.out.weight.mul_(1000.0)
    ckpt = tmp / "responsive.pt"
    save_checkpoint({"format": CHECKPOINT_FORMAT, "config": config_to_dict(cfg), "model": net.state_dict()}, ckpt)
    export_onnx(ckpt, tmp / "responsive.onnx", check=False)
    return ckpt, tmp / "responsive.onnx"


def _people(pred):
    from cdlpose.data.synthetic import render_sample

    images = [render_sample(0, "test")["image"], render_sample(3, "test")["image"]]
    boxes = [[[40, 30, 150, 200], [0, 0, 256, 256]], [[20, 10, 200, 230]]]
    return [p for per_image in pred.predict(images, boxes) for p in per_image]


def _largest(a, b, key, reduce=np.max):
    return [float(reduce(np.abs(np.asarray(p[key]) - np.asarray(q[key])))) for p, q in zip(a, b)]


def test_onnx_predictor_matches_pytorch_on_a_network_that_reacts_to_its_pixels(responsive):
    """``Predictor.from_onnx`` (crop, normalisation from the file's metadata, ONNX Runtime) gives what
    ``Predictor.from_checkpoint`` gives, person by person, on a network for which a normalisation error is large.

    Tolerances: 0.01 px for 2D keypoints, 0.05 mm for 3D ones, 1e-4 for joint confidence — about ten times the
    float32 differences measured between the two runtimes on this network (1e-3 px, 7e-3 mm, 7e-6: the runtimes
    sum convolutions in different orders, and the scaled-up head magnifies that too). The same network with the
    mean and std swapped moves every person's keypoints by a median of ≥ 1 px and ≥ 5 mm (measured: 8–72 px
    and 200–430 mm): a hundred times the tolerance, so such a slip cannot pass by a hair."""
    from cdlpose.inference import Predictor

    ckpt, onnx_path = responsive
    torch_pred = Predictor.from_checkpoint(ckpt, device="cpu")
    onnx_pred = Predictor.from_onnx(onnx_path)
    assert onnx_pred.backend == "onnxruntime"
    a, b = _people(torch_pred), _people(onnx_pred)
    assert len(a) == len(b) == 3
    tolerance = {"keypoints_2d": 0.01, "keypoints_3d": 0.05, "keypoints_3d_camera_estimate": 0.05, "confidence": 1e-4}
    differences = {k: max(_largest(a, b, k)) for k in tolerance}
    assert all(differences[k] < tolerance[k] for k in tolerance), differences
    # what the tolerances are up against: the PyTorch path with the normalisation swapped
    swapped = Predictor.from_checkpoint(ckpt, device="cpu")
    swapped.mean, swapped.std = torch_pred.std, torch_pred.mean
    c = _people(swapped)
    moved = {k: min(_largest(a, c, k, np.median)) for k in ("keypoints_2d", "keypoints_3d")}
    assert all(moved[k] > 100 * tolerance[k] for k in moved), moved
