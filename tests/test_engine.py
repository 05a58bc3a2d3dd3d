"""The training engine, evaluation and their command lines, on tiny synthetic runs (CPU)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cdlpose.cli import main as cli_main
from cdlpose.config import ConfigError, load_config
from cdlpose.engine import NonFiniteLossError, Trainer, lr_at
from cdlpose.evaluation import PAPER_RESULTS, evaluate_checkpoint, predict_loader, score
from cdlpose.evaluation.runner import _flip_uvz
from cdlpose.loading import load_model
from cdlpose.metrics import H36M_ACTIONS
from cdlpose.skeletons import H36M17

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def tiny(tmp_path, name="run", variant="full", train_size=8, batch=4, epochs=2, extra=()):
    """A config small enough for a CPU test: ResNet-18 lite at 64×64, 8 synthetic training images."""
    cache = tmp_path / "cache"
    datasets = (f"[{{format: synthetic, size: {train_size}, cache_dir: {cache}, role: train}}, "
                f"{{format: synthetic, split: val, size: 6, cache_dir: {cache}, role: val}}, "
                f"{{format: synthetic, split: test, size: 6, cache_dir: {cache}, role: test}}]")
    return load_config(CONFIGS / "synthetic.yaml", [
        f"model.variant={variant}", "augment.input_size=64", f"train.batch_size={batch}", f"train.epochs={epochs}",
        "train.lr_milestones=[1]", "train.workers=0", "train.progress=false", "train.log_every=1",
        "train.eval_batch_size=3", f"train.out_dir={tmp_path / name}", f"data.datasets={datasets}",
        "data.val_size=0", *extra,
    ])


def read_log(path):
    return [json.loads(x) for x in Path(path).read_text().splitlines() if x]


def test_every_recipe_loads():
    names = sorted(p.name for p in CONFIGS.glob("*.yaml"))
    for needed in ("h36m_p1.yaml", "h36m_p2.yaml", "muco_mupots.yaml", "synthetic.yaml", "ablation_baseline.yaml",
                   "ablation_jh.yaml", "ablation_bj.yaml", "ablation_full.yaml"):
        assert needed in names
    for n in names:
        cfg = load_config(CONFIGS / n)
        assert cfg.augment.input_size % 32 == 0
    p1 = load_config(CONFIGS / "h36m_p1.yaml")
    assert (p1.train.epochs, p1.train.lr, p1.train.lr_milestones, p1.train.batch_size) == (20, 1e-3, (17,), 64)
    assert p1.augment.input_size == 256 and p1.augment.rotation == 30 and p1.model.backbone == "resnet50"
    subjects = {e["role"]: e.get("subjects") for e in p1.data.datasets if e["format"] == "h36m-moon"}
    assert subjects == {"train": ["S1", "S5", "S6", "S7", "S8"], "test": ["S9", "S11"]}
    assert {e["format"] for e in p1.data.datasets} == {"h36m-moon", "mpii"}
    p2 = load_config(CONFIGS / "h36m_p2.yaml")
    assert p2.data.protocol == "h36m-p2"
    assert {e["role"]: e.get("subjects") for e in p2.data.datasets if e["format"] == "h36m-moon"}["test"] == ["S11"]
    assert [load_config(CONFIGS / f"ablation_{v}.yaml").model.variant for v in ("baseline", "jh", "bj", "full")] == \
        ["baseline", "jh", "bj", "full"]
    s2 = load_config(CONFIGS / "h36m_p1_stage2.yaml")
    assert s2.train.stage == 2 and s2.train.init_from and s2.data.protocol == "h36m-p1"
    assert not s2.train.finetune  # frozen: measured better than fine-tuning from the stage-1 network
    for stem, run in (("h36m_p1", "h36m_p1"), ("h36m_p2", "h36m_p2"), ("muco_mupots", "muco"), ("synthetic", "synthetic")):
        ft = load_config(CONFIGS / f"{stem}_finetune.yaml").train  # after the frozen stage, end to end
        assert ft.stage == 2 and ft.finetune and ft.init_from == f"runs/{run}_stage2/last.pt" and ft.lr == 1e-4
        assert ft.out_dir != load_config(CONFIGS / f"{stem}_stage2.yaml").train.out_dir
    for stem, size in (("h36m_rendered", 256), ("h36m_rendered_cpu", 64)):  # real motion, rendered
        c1, c2 = load_config(CONFIGS / f"{stem}.yaml"), load_config(CONFIGS / f"{stem}_stage2.yaml")
        assert c1.augment.input_size == size and c1.data.protocol == "h36m-actions"
        assert {e["role"]: e["subjects"] for e in c1.data.datasets} == {"train": ["S1", "S5", "S6", "S7"],
                                                                         "test": ["S8"]}
        assert all(e["format"] == "rendered-poses" and e["every"] % 5 == 0 for e in c1.data.datasets)
        assert c2.train.stage == 2 and c2.train.init_from == f"runs/{stem}/last.pt"
    assert load_config(CONFIGS / "h36m_rendered.yaml").model.backbone == "resnet50"


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="unknown config key 'train.learning_rate'"):
        load_config(CONFIGS / "synthetic.yaml", ["train.learning_rate=0.1"])
    with pytest.raises(ConfigError, match="train.amp must be none, bf16 or fp16"):
        load_config(None, ["train.amp=fp8"])
    with pytest.raises(ConfigError, match="data.protocol must be one of"):
        load_config(None, ["data.protocol=h36m-p3"])
    child = tmp_path / "child.yaml"
    child.write_text("base: parent.yaml\ntrain: {lr: 0.5}\n")
    (tmp_path / "parent.yaml").write_text("train: {lr: 0.1, epochs: 3}\nmodel: {variant: jh}\n")
    cfg = load_config(child)
    assert (cfg.train.lr, cfg.train.epochs, cfg.model.variant) == (0.5, 3, "jh")


def test_lr_schedule():
    cfg = load_config(CONFIGS / "h36m_p1.yaml").train
    assert [lr_at(cfg, e) for e in (0, 16, 17, 19)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4])


@pytest.mark.parametrize("variant", ["baseline", "jh", "bj", "full"])
def test_one_training_step_per_variant(tmp_path, variant):
    cfg = tiny(tmp_path, variant=variant, train_size=4, batch=2, epochs=1)
    tr = Trainer(cfg, max_steps=1, device="cpu")
    before = {k: v.clone() for k, v in tr.net.state_dict().items()}
    tr.fit()
    log = read_log(tmp_path / "run" / "log.jsonl")
    assert len(log) == 1 and np.isfinite(log[0]["total"])
    expected = {"baseline": {"integral"}, "jh": {"integral", "joint"}, "bj": {"integral", "joint", "bone"},
                "full": {"integral", "joint", "bone", "cube", "ordinal"}}[variant]
    assert expected <= set(log[0]) and not ({"joint", "bone", "cube", "ordinal"} - expected) & set(log[0])
    after = tr.net.state_dict()
    assert not torch.equal(before["backbone.0.weight"], after["backbone.0.weight"])
    assert torch.equal(before["lifting.out.weight"], after["lifting.out.weight"])  # stage 1 leaves it alone


def test_two_stages(tmp_path):
    cfg1 = tiny(tmp_path, "s1", epochs=1)
    Trainer(cfg1, device="cpu").fit()
    s1 = tmp_path / "s1"
    assert (s1 / "last.pt").is_file() and (s1 / "best.pt").is_file()
    epochs = read_log(s1 / "epochs.jsonl")
    assert epochs[-1]["val_metric_source"] == "back-projection" and epochs[-1]["val_mpjpe"] > 0
    with pytest.raises(ConfigError, match="set train.init_from"):
        Trainer(tiny(tmp_path, "s2", extra=["train.stage=2"]), device="cpu")
    with pytest.raises(ConfigError, match=r"model.head_width=None, this config 32"):
        Trainer(tiny(tmp_path, "s2", extra=["train.stage=2", f"train.init_from={s1 / 'last.pt'}",
                                            "model.head_width=32"]), device="cpu")
    cfg2 = tiny(tmp_path, "s2", epochs=2, extra=["train.stage=2", f"train.init_from={s1 / 'last.pt'}"])
    tr = Trainer(cfg2, device="cpu")
    start = {k: v.clone() for k, v in tr.net.state_dict().items()}
    tr.fit()
    end = tr.net.state_dict()
    for k in start:
        changed = not torch.equal(start[k], end[k])
        assert changed == k.startswith("lifting."), k  # frozen: weights and BatchNorm statistics
    log = read_log(tmp_path / "s2" / "log.jsonl")
    assert set(log[0]) >= {"pose", "total"} and "integral" not in log[0]
    assert read_log(tmp_path / "s2" / "epochs.jsonl")[-1]["val_metric_source"] == "lifting"
    net, cfg, ckpt = load_model(tmp_path / "s2" / "last.pt")
    assert cfg.train.stage == 2 and ckpt["epoch"] == 2 and not net.training


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    # stage 2 (dropout uses the torch RNG) and stage 1 (augmentation, bone sigma) each stopped mid-epoch
    cfg = tiny(tmp_path, "a", epochs=2)
    Trainer(cfg, device="cpu").fit()
    full = read_log(tmp_path / "a" / "log.jsonl")
    assert [r["step"] for r in full] == [1, 2, 3, 4]
    cfg_b = tiny(tmp_path, "b", epochs=2)
    Trainer(cfg_b, max_steps=3, device="cpu").fit()
    ckpt = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert (ckpt["step"], ckpt["epoch"], ckpt["step_in_epoch"]) == (3, 1, 1)
    Trainer(cfg_b, resume=tmp_path / "b" / "last.pt", device="cpu").fit()
    resumed = read_log(tmp_path / "b" / "log.jsonl")
    assert [r["step"] for r in resumed] == [1, 2, 3, 4]
    for a, b in zip(full, resumed):
        for k in ("total", "integral", "joint", "bone", "cube", "ordinal", "lr", "bone_sigma"):
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-7), (a["step"], k)
    a_last = torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"]
    b_last = torch.load(tmp_path / "b" / "last.pt", weights_only=True)["model"]
    assert all(torch.allclose(a_last[k].float(), b_last[k].float(), atol=1e-5) for k in a_last)

    s2 = ["train.stage=2", f"train.init_from={tmp_path / 'a' / 'last.pt'}"]
    Trainer(tiny(tmp_path, "c", extra=s2), device="cpu").fit()
    d = tiny(tmp_path, "d", extra=s2)
    Trainer(d, max_steps=1, device="cpu").fit()
    Trainer(d, resume=tmp_path / "d" / "last.pt", device="cpu").fit()
    c_log, d_log = read_log(tmp_path / "c" / "log.jsonl"), read_log(tmp_path / "d" / "log.jsonl")
    assert [r["pose"] for r in c_log] == pytest.approx([r["pose"] for r in d_log], rel=1e-5)


def test_stage_two_on_cached_inputs(tmp_path):
    Trainer(tiny(tmp_path, "s1", epochs=1), device="cpu").fit()
    s2 = ["train.stage=2", f"train.init_from={tmp_path / 's1' / 'last.pt'}", "model.lift_dropout=0"]
    # one pass: the cache holds what the frozen network gives on the epoch-0 images, so the first step's loss is
    # that of a run that runs the network on every batch (to float noise: this barely trained network puts all
    # joints within 1e-3 map px of each other, so 6e-6 px of batch-size noise is 0.5% of the MLP's input; Adam's
    # first step then amplifies it, so later steps are not compared)
    Trainer(tiny(tmp_path, "plain", epochs=1, extra=s2), device="cpu").fit()
    tr = Trainer(tiny(tmp_path, "cached", epochs=1, extra=[*s2, "train.cache_passes=1"]), device="cpu")
    tr.fit()
    plain, cached = read_log(tmp_path / "plain" / "log.jsonl"), read_log(tmp_path / "cached" / "log.jsonl")
    assert len(cached) == len(plain) == 2
    assert cached[0]["pose"] == pytest.approx(plain[0]["pose"], rel=1e-2)
    net, _, _ = load_model(tmp_path / "s1" / "last.pt")
    item = tr.train_3d.sample_id.index(tr.images_3d[0]["sample_id"] + "#pass0")
    with torch.no_grad():
        uvz = net.volumes(tr.images_3d[0]["image"][None])["uvz"][0]
    assert torch.allclose(tr.train_3d.uvz[item], uvz, atol=1e-4)
    # two passes (the second augmented as epoch 1): twice the steps per epoch, and a resumed run is the same
    extra = [*s2, "train.cache_passes=2", "model.lift_dropout=0.5"]
    Trainer(tiny(tmp_path, "a", epochs=2, extra=extra), device="cpu").fit()
    b = tiny(tmp_path, "b", epochs=2, extra=extra)
    Trainer(b, max_steps=3, device="cpu").fit()
    Trainer(b, resume=tmp_path / "b" / "last.pt", device="cpu").fit()
    a_log, b_log = read_log(tmp_path / "a" / "log.jsonl"), read_log(tmp_path / "b" / "log.jsonl")
    assert [r["step"] for r in a_log] == list(range(1, 9))
    assert [r["pose"] for r in a_log] == pytest.approx([r["pose"] for r in b_log], rel=1e-5)
    with pytest.raises(ValueError, match="cache_passes"):
        tiny(tmp_path, "bad", extra=["train.cache_passes=-1"])


def test_timed_run_drops_the_learning_rate_at_the_end(tmp_path):
    # an injected clock on which every optimiser step takes one second: a 10-second budget with its last half at
    # lr ÷ 10 ends after the 11th step (the first past the budget): 6 steps at 1e-3, then 5 at 1e-4 — whatever the
    # machine's load
    cfg = tiny(tmp_path, "t", epochs=1000, extra=[f"train.max_minutes={10 / 60}", "train.lr_final_drop=0.5",
                                                   "train.lr_milestones=[]", "train.lr=0.001"])
    trainer = None
    trainer = Trainer(cfg, device="cpu", clock=lambda: float(trainer.step if trainer is not None else 0))
    trainer.fit()
    lrs = [r["lr"] for r in read_log(tmp_path / "t" / "log.jsonl") if "total" in r]
    assert lrs == pytest.approx([1e-3] * 6 + [1e-4] * 5)


def test_resume_refuses_another_model(tmp_path):
    cfg = tiny(tmp_path, epochs=1)
    Trainer(cfg, max_steps=1, device="cpu").fit()
    other = tiny(tmp_path, variant="jh", epochs=1)
    with pytest.raises(ConfigError, match="different 'model' section"):
        Trainer(other, resume=tmp_path / "run" / "last.pt", device="cpu")


def test_non_finite_loss_names_step_term_and_samples(tmp_path):
    tr = Trainer(tiny(tmp_path, train_size=4, batch=2, epochs=1), device="cpu")
    with torch.no_grad():
        tr.net.head.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match=r"step 1 \(epoch 1.*'integral' = nan.*synthetic/train/0/\d"):
        tr.fit()


def test_flip_test_is_mirror_consistent(tmp_path):
    cfg = tiny(tmp_path, epochs=1)
    tr = Trainer(cfg, max_steps=2, device="cpu")
    tr.fit()
    net = tr.net.eval()
    ds = tr.val_set
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=3, collate_fn=__import__(
        "cdlpose.data.datasets", fromlist=["collate"]).collate)))

    class One:  # a loader of the batch and one of its mirror image
        def __init__(self, b):
            self.b = b

        def __iter__(self):
            return iter([self.b])

    mirrored = dict(batch, image=batch["image"].flip(-1))
    p = predict_loader(net, One(batch), torch.device("cpu"), flip=True)
    q = predict_loader(net, One(mirrored), torch.device("cpu"), flip=True)
    back = _flip_uvz(torch.from_numpy(q["uvz"]), 16, H36M17.flip_index).numpy()
    assert np.allclose(p["uvz"], back, atol=1e-4)
    plain = predict_loader(net, One(batch), torch.device("cpu"), flip=False)
    assert not np.allclose(plain["uvz"], p["uvz"], atol=1e-4)


def test_score_h36m_tables_in_paper_layout():
    rng = np.random.default_rng(0)
    n = 2 * len(H36M_ACTIONS)
    gt = rng.normal(0, 300, (n, 17, 3))
    gt -= gt[:, :1]
    pred = {"gt_3d": gt, "pred_3d": gt + rng.normal(0, 20, gt.shape), "pred_3d_backproj": gt.copy(),
            "valid_3d": np.ones((n, 17), bool), "pred_uv": np.zeros((n, 17, 2)), "gt_uv": np.ones((n, 17, 2)),
            "valid_2d": np.ones((n, 17), bool), "action": list(H36M_ACTIONS) * 2, "subject": ["S9"] * n}
    r1 = score(pred, "h36m-p1")
    assert r1["columns"] == list(H36M_ACTIONS) + ["Avg"] and r1["metric"] == "MPJPE"
    assert r1["rows"]["cdlpose 2.5D back-projected (GT root depth)"]["Avg"] == pytest.approx(0.0, abs=1e-9)
    # root-aligned: each non-root joint errs by N(0, 2·20²) per axis, mean norm 20·√2·√(8/π) ≈ 45 mm; root 0
    assert 16 / 17 * 45.1 - 4 < r1["rows"]["cdlpose"]["Avg"] < 16 / 17 * 45.1 + 4
    assert r1["rows"]["Zhang et al. AAAI'21 (paper, Table 1)"]["Avg"] == 48.7
    r2 = score(pred, "h36m-p2")
    assert r2["metric"] == "PA-MPJPE" and r2["rows"]["cdlpose"]["Avg"] < r1["rows"]["cdlpose"]["Avg"]
    assert r2["rows"]["Zhang et al. AAAI'21 (paper, Table 2)"]["Avg"] == PAPER_RESULTS["h36m-p2"][
        "Zhang et al. AAAI'21 (paper, Table 2)"]["Avg"] == 31.8


def test_trainer_never_selects_on_test_data(tmp_path):
    # only a 'test' entry besides the training data: no validation, no best.pt (it used to validate on test)
    cfg = tiny(tmp_path, epochs=1)
    cfg.data.datasets = [e for e in cfg.data.datasets if e["role"] != "val"]
    tr = Trainer(cfg, max_steps=2, device="cpu")
    assert tr.val_set is None
    tr.fit()
    assert (tmp_path / "run" / "last.pt").is_file() and not (tmp_path / "run" / "best.pt").exists()
    # a 'val' entry that reads the test data is refused
    test_entry = next(e for e in cfg.data.datasets if e["role"] == "test")
    bad = tiny(tmp_path, name="bad")
    bad.data.datasets = [e for e in bad.data.datasets if e["role"] != "val"] + [dict(test_entry, role="val")]
    with pytest.raises(ConfigError, match="reads the test data"):
        Trainer(bad, max_steps=1, device="cpu")
    h36m = load_config(CONFIGS / "h36m_p1.yaml")
    h36m.data.datasets.append({"format": "h36m-moon", "root": "Human36M", "subjects": ["S11"], "every": 5,
                               "role": "val"})
    from cdlpose.data.check import check_val_disjoint

    with pytest.raises(ConfigError, match="reads the test data"):
        check_val_disjoint(h36m.data)
    h36m.data.datasets[-1]["subjects"] = ["S8"]
    check_val_disjoint(h36m.data)  # a training subject's frames: allowed
    # no recipe validates on its test entries; the paper's recipes have no 'val' entry and continue from last.pt
    for path in sorted(CONFIGS.glob("*.yaml")):
        c = load_config(path)
        check_val_disjoint(c.data)
        if c.data.protocol != "synthetic":
            assert "best.pt" not in str(c.train.init_from or ""), path.name
            assert not [e for e in c.data.datasets if e.get("role") == "val"], path.name


def test_train_and_evaluate_commands(tmp_path, capsys):
    cfg = tiny(tmp_path, epochs=1)
    from cdlpose.config import config_to_dict
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    assert cli_main(["train", str(path), "--set", "train.epochs=1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "done: 2 steps, 1 epoch;" in out
    ckpt = tmp_path / "run" / "last.pt"
    assert cli_main(["evaluate", "--checkpoint", str(ckpt), "--flip", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "synthetic: MPJPE (mm), 6 samples" in out and "flip test: on" in out and "| Method |" in out
    for ext in ("json", "csv", "md"):
        assert (tmp_path / "run" / f"eval-synthetic-flip.{ext}").is_file()
    res = json.loads((tmp_path / "run" / "eval-synthetic-flip.json").read_text())
    assert res["columns"][-1] == "Avg" and res["stage"] == 1 and "lifting block is untrained" in res["note"]
    result, _ = evaluate_checkpoint(ckpt, cfg, "synthetic", device="cpu", progress=False, out_dir=tmp_path / "e")
    assert set(result["columns"][:-1]) <= {"Standing", "Walking", "Sitting", "SittingDown", "Crouching", "Bending",
                                           "ArmsRaised", "Phoning"}
    # resume from the command line, with nothing left to do
    assert cli_main(["train", str(path), "--set", "train.epochs=1", "--resume", "--device", "cpu"]) == 0


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_gloo_run(tmp_path):
    cfg = tiny(tmp_path, "ddp", epochs=1)
    from cdlpose.config import config_to_dict
    import yaml

    path = tmp_path / "ddp.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "cdlpose", "train", str(path), "--device", "cpu"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = read_log(tmp_path / "ddp" / "log.jsonl")
    # 8 samples, batch 4 per process, 2 processes: one step per epoch, logged once (rank 0)
    assert [r["step"] for r in log] == [1]
    ckpt = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert ckpt["step"] == 1 and ckpt["epoch"] == 1
    assert proc.stdout.count("done:") == 1


def test_loader_workers_start_after_opencv_ran_in_the_main_process():
    """A worker forked after the main process ran OpenCV's thread pool must not hang (cv2.setNumThreads in the
    worker did: the demo after any workers=0 run never got its first batch). Run in a subprocess with a timeout."""
    code = """
import cv2, numpy as np, torch
from torch.utils.data import DataLoader, Dataset
from cdlpose.data.workers import worker_init
img = np.random.rand(1024, 1024, 3).astype(np.float32)
M = np.array([[0.5, 0.1, 3.0], [0.1, 0.5, 4.0]], np.float32)
for _ in range(3):
    cv2.warpAffine(img, M, (512, 512))  # the main process's OpenCV pool runs
class Crops(Dataset):
    def __len__(self):
        return 4
    def __getitem__(self, i):
        return torch.from_numpy(cv2.warpAffine(img, M, (64, 64)))
batches = list(DataLoader(Crops(), batch_size=2, num_workers=1, worker_init_fn=worker_init))
print("batches", len(batches), tuple(batches[0].shape))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "batches 2 (2, 64, 64, 3)" in proc.stdout


def test_channels_last_on_the_cpu_only_when_asked(tmp_path):
    """CUDA-only by default (runs configured before the option keep their layout); ``train.channels_last_cpu``
    also on the CPU, where a training step then gives the same loss as the default layout."""
    runs = {}
    for name, extra in (("default", []), ("cl", ["train.channels_last_cpu=true"])):
        tr = Trainer(tiny(tmp_path, name, train_size=4, batch=2, epochs=1, extra=extra), max_steps=1, device="cpu")
        conv = tr.net.backbone[0].weight
        runs[name] = conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
        tr.fit()
        runs[name + "_loss"] = read_log(tmp_path / name / "log.jsonl")[0]["total"]
    assert not runs["default"] and runs["cl"]
    assert runs["cl_loss"] == pytest.approx(runs["default_loss"], rel=1e-4)
