import pytest
import torch

from cdlpose.checkpoint import load_checkpoint, save_checkpoint
from cdlpose.config import ConfigError, config_to_dict, load_config


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("model: {variant: jh, backbone: resnet18}\ntrain: {lr: 0.0005, lr_milestones: [3, 4]}\n")
    cfg = load_config(p, ["train.epochs=3", "codec.heatmap_size=[32, 32]", "model.pretrained=null", "augment.train=false"])
    assert cfg.model.variant == "jh" and cfg.model.backbone == "resnet18" and cfg.model.pretrained is None
    assert cfg.train.lr == 0.0005 and cfg.train.lr_milestones == (3, 4) and cfg.train.epochs == 3
    assert cfg.codec.heatmap_size == (32, 32) and cfg.augment.train is False
    assert load_config().train.lr == 1e-3  # defaults untouched: no global state
    d = config_to_dict(cfg)
    assert d["train"]["lr_milestones"] == [3, 4] and d["model"]["variant"] == "jh"


def test_overrides_pick_list_entries_by_index(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  datasets:\n    - {format: synthetic, split: train, size: 8}\n"
                    "    - {format: synthetic, split: test, size: 4, role: test}\n")
    cfg = load_config(path, ["data.datasets.1.size=9", "data.datasets.1.seed=3", "data.datasets.0.style=plain"])
    assert cfg.data.datasets == [{"format": "synthetic", "split": "train", "size": 8, "style": "plain"},
                                 {"format": "synthetic", "split": "test", "size": 9, "role": "test", "seed": 3}]
    for bad in ("data.datasets.2.size=1", "data.datasets.first.size=1"):
        with pytest.raises(ConfigError, match=r"data.datasets has 2 entries \(0 … 1\)"):
            load_config(path, [bad])


def test_unknown_keys_and_bad_values_are_named(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'train.learning_rate'"):
        load_config(None, ["train.learning_rate=0.1"])
    p = tmp_path / "c.yaml"
    p.write_text("modle: {variant: jh}\n")
    with pytest.raises(ConfigError, match=r"c.yaml: unknown config key 'modle'"):
        load_config(p)
    with pytest.raises(ConfigError, match="train.epochs: expected an integer"):
        load_config(None, ["train.epochs=ten"])
    with pytest.raises(ConfigError, match="model.variant must be one of"):
        load_config(None, ["model.variant=posenet"])
    with pytest.raises(ConfigError, match="expected key.sub=value"):
        load_config(None, ["train.epochs"])


def test_checkpoint_round_trip_and_a_crash_while_saving(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    state = {"epoch": 3, "model": {"w": torch.arange(4.0)}, "config": {"lr": 1e-3}}
    save_checkpoint(state, path)
    back = load_checkpoint(path)
    assert back["epoch"] == 3 and torch.equal(back["model"]["w"], state["model"]["w"])

    real_save = torch.save

    def crash(obj, fh, *a, **k):  # write half a file, then die
        fh.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"epoch": 4}, path)
    monkeypatch.setattr(torch, "save", real_save)
    assert load_checkpoint(path)["epoch"] == 3  # the previous checkpoint is intact
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary left behind


def test_untrusted_checkpoints_do_not_run_code(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    p = tmp_path / "evil.pt"
    with open(p, "wb") as fh:
        pickle.dump({"x": Evil()}, fh)
    with pytest.raises(ValueError, match="not a loadable cdlpose checkpoint"):
        load_checkpoint(p)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "none.pt")
