"""The real-photo recipe (``scripts/train_real_photo.py``, issue 28): its warm start from the shipped model and its
separate training seed keep validation and test where they were, so that models trained with and without them are
selected on the same held-out images."""

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import torch

from cdlpose.engine import Trainer
from cdlpose.loading import DEFAULT_MODEL, read_checkpoint

RECIPE = Path(__file__).resolve().parents[1] / "scripts" / "train_real_photo.py"


@pytest.fixture(scope="module")
def recipe():
    spec = importlib.util.spec_from_file_location("train_real_photo", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entries(cfg, role):
    return [e for e in cfg.data.datasets if e["role"] == role]


def test_training_seed_moves_only_the_training_images(recipe, tmp_path):
    cfg1, cfg2, cfg3 = recipe.configs(tmp_path, "cache", 100, 10, 10, 20, seed=0, train_seed=1)
    for cfg in (cfg1, cfg2, cfg3):
        assert [e["seed"] for e in _entries(cfg, "train")] == [1]
        assert [e["seed"] for e in _entries(cfg, "val") + _entries(cfg, "test")] == [0, 0]
    plain = recipe.configs(tmp_path, "cache", 100, 10, 10, 20, seed=0)[0]
    assert [e["seed"] for e in _entries(plain, "train")] == [0]
    assert _entries(plain, "val") == _entries(cfg1, "val") and _entries(plain, "test") == _entries(cfg1, "test")


def test_fine_tuning_starts_from_the_phase_named(recipe, tmp_path):
    _, _, cfg3 = recipe.configs(tmp_path, "cache", 100, 10, 10, 20, seed=0)
    assert cfg3.train.init_from == str(tmp_path / "stage2" / "last.pt")
    _, _, cfg3 = recipe.configs(tmp_path, "cache", 100, 10, 10, 20, seed=0, finetune_from="stage1")
    assert cfg3.train.init_from == str(tmp_path / "stage1" / "last.pt") and cfg3.train.finetune


@pytest.mark.skipif(not DEFAULT_MODEL.is_file(), reason="the shipped model is not in this checkout")
def test_stage_one_warm_starts_from_the_shipped_model(recipe, tmp_path):
    """Every weight of the shipped float16 file, the lifting block's included, is where stage 1 starts."""
    cfg1, _, _ = recipe.configs(tmp_path, str(tmp_path / "cache"), 16, 4, 4, 2, seed=0,
                                init_from=str(DEFAULT_MODEL))
    # the network and its starting weights are what is tested: tiny unrendered stand-in data (the default style)
    small = [dict(e, style="full", image_size=64, keep_depth=False) for e in cfg1.data.datasets]
    cfg1 = dataclasses.replace(cfg1, data=dataclasses.replace(cfg1.data, datasets=small))
    net = Trainer(cfg1, device="cpu").net
    shipped = read_checkpoint(DEFAULT_MODEL, "shipped")["model"]
    state = net.state_dict()
    assert any(k.startswith("lifting.") for k in shipped)
    for k, v in shipped.items():
        assert torch.equal(state[k].float(), v.float()), k


def test_varied_poses_add_training_images_and_their_own_validation(recipe, tmp_path):
    """--varied-size adds varied-pose training images (their own seed) and varied-pose validation and test sets
    of the held-out subjects, leaving the activity sets as they were: both are scored, neither replaced."""
    plain = recipe.configs(tmp_path, "cache", 100, 10, 10, 20, seed=0, train_seed=2)[0]
    cfg1, cfg2, _ = recipe.configs(tmp_path, "cache", 100, 10, 10, 20, seed=0, train_seed=2, varied_size=30,
                                   varied_seed=3)
    train = _entries(cfg1, "train")
    assert [(e["size"], e["seed"], e.get("pose_set", "activities")) for e in train] == [(100, 2, "activities"),
                                                                                         (30, 3, "varied")]
    for role in ("val", "test"):
        got = _entries(cfg1, role)
        assert got[0] == _entries(plain, role)[0] and "pose_set" not in got[0]
        assert got[1] == dict(got[0], pose_set="varied")
    assert recipe._entries(cfg1, "val", "varied") == [dict(_entries(cfg1, "val")[1], role="test")]
    # stage 2's one pass of estimates stays on the activity images; its validation keeps both sets
    assert [e.get("pose_set") for e in _entries(cfg2, "train")] == [None] and len(_entries(cfg2, "val")) == 2


def test_render_phase_renders_every_entry_of_both_pose_sets(recipe, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(recipe, "render", lambda e: calls.append(
        (e["split"], e["size"], e["seed"], e.get("pose_set", "activities"))))
    recipe.main(["--cache", str(tmp_path), "--out", str(tmp_path / "run"), "--render-only", "--train-size", "50",
                 "--val-size", "6", "--test-size", "7", "--train-seed", "2", "--varied-size", "40"])
    assert sorted(calls) == sorted([("train", 50, 2, "activities"), ("train", 40, 2, "varied"),
                                    ("val", 6, 0, "activities"), ("val", 6, 0, "varied"),
                                    ("test", 7, 0, "activities"), ("test", 7, 0, "varied")])
