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
