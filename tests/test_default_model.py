"""The model cdlpose ships (issue 28): predict, Predictor and export use it when no checkpoint is given, say which
model it is, and the shipped file is small, float16, loadable with ``weights_only=True`` and trained only on
redistributable data."""

import json

import cv2
import numpy as np
import pytest
import torch

import cdlpose.loading as loading
from cdlpose.checkpoint import save_checkpoint
from cdlpose.cli import main as cli_main
from cdlpose.config import config_to_dict
from cdlpose.data.synthetic import render_sample
from cdlpose.inference import Predictor
from cdlpose.loading import CHECKPOINT_FORMAT, DEFAULT_MODEL, DEFAULT_MODEL_NAME, build_model

from .test_engine import tiny

CARD = {"name": "test-model-v0", "summary": "a card for tests: PCK@0.2 0% on nothing"}
SMALL = ("model.backbone=resnet18", "model.lite=true", "model.backbone_stages=2", "model.head_width=16",
         "model.lift_blocks=1")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A tiny untrained network saved the way a shipped model is (weights, config, card, training record)."""
    tmp = tmp_path_factory.mktemp("default_model")
    cfg = tiny(tmp, extra=SMALL)
    path = tmp / "assets" / "shipped.pt"
    path.parent.mkdir()
    save_checkpoint({"format": CHECKPOINT_FORMAT, "config": config_to_dict(cfg), "model": build_model(cfg).state_dict(),
                     "trained_on": [{"format": "synthetic", "style": "realistic"}], "card": CARD}, path)
    return path


@pytest.fixture
def default_is(shipped, monkeypatch):
    monkeypatch.setattr(loading, "DEFAULT_MODEL", shipped)
    return shipped


def _photo(path):
    cv2.imwrite(str(path), render_sample(0, "test")["image"][..., ::-1])
    return path


def test_predict_without_a_checkpoint_uses_the_shipped_model_and_names_it(default_is, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path / "photo.jpg")
    code = cli_main(["predict", "photo.jpg", "--box", "0", "0", "200", "250", "--no-progress", "--json-only"])
    out = capsys.readouterr().out
    assert code == 0
    first = out.splitlines()[0]
    # the card's name and summary, not the generic "only rendered images: untested on photos"
    assert first.startswith(f"model: {CARD['name']}, {default_is} (") and first.endswith(CARD["summary"])
    assert "untested on photos" not in first
    header = json.loads((tmp_path / "photo-poses" / "photo.json").read_text())
    assert header["checkpoint"] == str(default_is)


def test_predictor_defaults_to_the_shipped_model(default_is):
    pred = Predictor.from_checkpoint(device="cpu")
    assert pred.source == str(default_is)
    assert pred.size == 64  # the tiny network's input, read from the file's own config


def test_a_checkpoint_without_a_card_keeps_the_generic_line(shipped, tmp_path, capsys, monkeypatch):
    ck = torch.load(shipped, weights_only=True)
    ck.pop("card")
    other = tmp_path / "other.pt"
    save_checkpoint(ck, other)
    monkeypatch.chdir(tmp_path)
    _photo(tmp_path / "photo.jpg")
    assert cli_main(["predict", "--checkpoint", str(other), "photo.jpg", "--no-progress", "--json-only"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"model: {other} (") and first.endswith("only rendered images: untested on photos")


def test_export_without_a_checkpoint_writes_the_shipped_model_here_with_its_card(default_is, tmp_path, monkeypatch,
                                                                                capsys):
    pytest.importorskip("onnxscript")
    monkeypatch.chdir(tmp_path)
    assert cli_main(["export", "--no-check"]) == 0
    out = tmp_path / f"{DEFAULT_MODEL_NAME}.onnx"  # in the working folder, never beside the installed file
    assert out.is_file() and not (default_is.parent / out.name).exists()
    pred = Predictor.from_onnx(out)
    from cdlpose.predict.records import model_card

    assert model_card(pred, str(out)) == CARD
    assert cli_main(["export", "--format", "weights", "--half"]) == 0
    w = torch.load(tmp_path / f"{DEFAULT_MODEL_NAME}-weights-fp16.pt", weights_only=True)
    assert w["card"] == CARD and all(v.dtype != torch.float32 for v in w["model"].values())
# ------------------------------------------------------------------------------------------ the shipped file


def test_the_shipped_file_is_small_half_precision_and_trained_on_rendered_people_only():
    assert DEFAULT_MODEL.is_file(), f"{DEFAULT_MODEL} is missing from the package"
    assert DEFAULT_MODEL.stat().st_size <= 25 * 2**20
    ck = torch.load(DEFAULT_MODEL, map_location="cpu", weights_only=True)
    floats = [v for v in ck["model"].values() if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float16 for v in floats)
    assert ck["card"]["name"] == DEFAULT_MODEL_NAME and "docs/model-card.md" in ck["card"]["summary"]
    # the weights ship in the package: every training set must be the project's own rendered data
    assert ck["trained_on"] and all(e["format"] == "synthetic" and e["style"] == "realistic" for e in ck["trained_on"])
    pred = Predictor.from_checkpoint(device="cpu")
    assert pred.source == str(DEFAULT_MODEL) and pred.skeleton.name == "h36m17"


def test_the_shipped_model_puts_its_joints_on_real_people(shared_dir):
    """The 12 COCO people of the fixtures (real photos, licensed, read at run time) from their annotated boxes: the
    joints lie inside each person's box (a crop-to-image mapping bug puts them outside) and PCK@0.2 of the box stays
    at its measured level (cdlpose-photo-v4: 84% on 135 joints). The floor, 78%, lies above what the mean pose in
    the box scores on these people (64%) and what the model scores with its left and right joints swapped (59%):
    a broken load or normalisation, or a left/right mix-up in the crop or flip handling, falls below it."""
    from cdlpose.data.readers import read_coco
    from cdlpose.skeletons import get_skeleton

    ann = shared_dir / "fixtures" / "coco" / "test_coco.json"
    if not ann.is_file():
        pytest.skip(f"{ann} is absent (licensed samples, read at run time)")
    limbs = ("L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist", "R_Wrist", "L_Hip", "R_Hip", "L_Knee",
             "R_Knee", "L_Ankle", "R_Ankle")
    pred = Predictor.from_checkpoint(device="cpu")
    hits, inside, total, people = 0, 0, 0, 0
    for r in read_coco(ann, ann.parent):
        sk = get_skeleton(r["skeleton"])
        idx = [sk.joints.index(n) for n in limbs]
        valid = r["valid_2d"][idx]
        if valid.sum() < 6:
            continue
        box = np.asarray(r["box"], float)
        out = pred.predict([r["image_path"]], boxes=[[list(box)]])[0][0]
        uv = np.asarray(out["keypoints_2d"])[[pred.skeleton.joints.index(n) for n in limbs]]
        err = np.linalg.norm(uv - r["joints_2d"][idx], axis=1)[valid] / box[2:].max()
        hits += int((err < 0.2).sum())
        total += int(valid.sum())
        lo, hi = box[:2] - 0.1 * box[2:], box[:2] + 1.1 * box[2:]
        inside += int(((uv >= lo) & (uv <= hi)).all(1).sum())
        people += 1
    assert people == 12 and total > 100
    assert inside / (12 * people) >= 0.95
    assert hits / total >= 0.78
