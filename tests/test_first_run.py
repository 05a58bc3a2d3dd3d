"""What a newcomer meets first: the help texts, `synth --style`, `data check` on a recipe with `base:`, the
TensorBoard extra, small checkpoints (best.pt, `export --format weights`), step budgets and the evaluate worker
count."""

import argparse
import json
import os
import warnings

import numpy as np
import pytest
import torch

from cdlpose import train_log
from cdlpose.data import workers
from cdlpose.errors import CheckpointError
from cdlpose.cli import build_parser
from cdlpose.cli import main as cli_main
from cdlpose.engine import Trainer
from cdlpose.evaluation import evaluate_checkpoint
from cdlpose.loading import load_model

from .test_engine import read_log, tiny


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield name, sub
                for inner, deeper in _subparsers(sub):
                    yield f"{name} {inner}", deeper


def test_help_describes_the_tool_and_every_option_has_help():
    parser = build_parser()
    text = parser.format_help()
    assert "cascaded dimension-lifting" in text.lower() and "AAAI 2021" in text
    assert "no pretrained weights of the paper's model" in text and "cdlpose-photo-v4" in text
    # the first example is the demo
    examples = text[text.index("first run:"):]
    assert examples.split("\n")[1].strip().startswith("cdlpose demo")
    bare = []
    for name, sub in [("cdlpose", parser), *_subparsers(parser)]:
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not (action.help or "").strip():
                bare.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not bare, f"options without help text: {bare}"


def test_synth_style_plain_renders_the_same_people_without_texture(tmp_path):
    for style in ("plain", "full"):
        assert cli_main(["synth", "--out", str(tmp_path / style), "-n", "2", "--style", style, "--sheet", "2"]) == 0
    plain = json.loads((tmp_path / "plain" / "annotations.json").read_text())
    full = json.loads((tmp_path / "full" / "annotations.json").read_text())
    assert plain["style"] == "plain" and full["style"] == "full"
    for a, b in zip(plain["images"], full["images"]):
        assert a["joints_3d"] == b["joints_3d"]  # same people, poses and cameras
    import cv2

    img_p = cv2.imread(str(tmp_path / "plain" / plain["images"][0]["file_name"]))
    img_f = cv2.imread(str(tmp_path / "full" / full["images"][0]["file_name"]))
    assert not np.array_equal(img_p, img_f)
    # a plain background is a smooth gradient: far less local variation than the textured one (corner patch)
    def roughness(img):
        patch = img[:40, :40].astype(float)
        return np.abs(np.diff(patch, axis=1)).mean()

    assert roughness(img_p) < 0.5 * roughness(img_f)


def test_data_check_reads_the_data_of_a_config_with_a_base_file(tmp_path, capsys):
    (tmp_path / "parent.yaml").write_text(
        "train: {stage: 1}\ndata:\n  datasets:\n    - {format: synthetic, split: train, size: 7, role: train}\n"
        "    - {format: synthetic, split: test, size: 3, role: test}\n")
    (tmp_path / "child.yaml").write_text("base: parent.yaml\ntrain: {stage: 2, init_from: x.pt}\n")
    assert cli_main(["data", "check", str(tmp_path / "child.yaml")]) == 0
    out = capsys.readouterr().out
    assert "datasets[0] (synthetic, train): 7 records" in out and "datasets[1] (synthetic, test): 3 records" in out


def test_tensorboard_absent_is_said_once_and_present_writes_events(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(train_log, "_said", set())
    with monkeypatch.context() as m:
        m.setitem(__import__("sys").modules, "torch.utils.tensorboard", None)  # import fails as when absent
        for k in range(2):
            (tmp_path / f"a{k}").mkdir()
            log = train_log.TrainLog(tmp_path / f"a{k}", True, None)
            assert log.tb is None
            log.write({"step": 1, "total": 1.0})
    printed = capsys.readouterr().out
    assert printed.count("TensorBoard is not installed") == 1 and "tensorboard --logdir runs/" in printed
    pytest.importorskip("tensorboard")
    (tmp_path / "b").mkdir()
    log = train_log.TrainLog(tmp_path / "b", True, None)
    log.write({"step": 1, "total": 1.0})
    log.close()
    assert list((tmp_path / "b" / "tensorboard").glob("events.out.tfevents.*"))
    assert "TensorBoard is not installed" not in capsys.readouterr().out


def with_val(tmp_path, train_size=12):
    """tiny()'s data plus a 'val' entry (the trainer validates, and keeps best.pt, only on one)."""
    cache = tmp_path / "cache"
    return (f"data.datasets=[{{format: synthetic, size: {train_size}, cache_dir: {cache}, role: train}}, "
            f"{{format: synthetic, split: val, size: 4, cache_dir: {cache}, role: val}}, "
            f"{{format: synthetic, split: test, size: 6, cache_dir: {cache}, role: test}}]")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny stage-1 run of 3 steps with validation: last.pt and best.pt."""
    tmp = tmp_path_factory.mktemp("first_run")
    cfg = tiny(tmp, epochs=1, train_size=12, batch=4, extra=[with_val(tmp)])
    Trainer(cfg, device="cpu").fit()
    return tmp / "run"


def test_best_checkpoint_holds_no_optimiser_state_and_is_not_resumed(run, tmp_path):
    best = torch.load(run / "best.pt", weights_only=True)
    last = torch.load(run / "last.pt", weights_only=True)
    assert "optimizer" in last and not {"optimizer", "scaler", "rng"} & set(best)
    assert (run / "best.pt").stat().st_size < 0.6 * (run / "last.pt").stat().st_size
    net, _, _ = load_model(run / "best.pt")  # evaluation and inference load it
    assert not net.training
    cfg = tiny(tmp_path, epochs=2, train_size=12, batch=4)
    with pytest.raises(CheckpointError, match="last.pt"):
        Trainer(cfg, resume=run / "best.pt", device="cpu")


def test_export_weights_is_small_and_predicts_like_the_checkpoint(run, tmp_path, capsys):
    from cdlpose.data.synthetic import render_sample
    from cdlpose.inference import Predictor

    out = tmp_path / "w.pt"
    assert cli_main(["export", "--checkpoint", str(run / "last.pt"), "--format", "weights", "--out", str(out)]) == 0
    assert "float32 weights" in capsys.readouterr().out
    half = tmp_path / "w16.pt"
    assert cli_main(["export", "--checkpoint", str(run / "last.pt"), "--format", "weights", "--half",
                     "--out", str(half)]) == 0
    size, full_size = out.stat().st_size, (run / "last.pt").stat().st_size
    assert size < 0.5 * full_size  # Adam's two moments alone are twice the weights
    assert half.stat().st_size < 0.6 * size
    image = render_sample(0, "test", seed=3)["image"]
    ref = Predictor.from_checkpoint(run / "last.pt", device="cpu").predict([image])[0][0]
    same = Predictor.from_checkpoint(out, device="cpu").predict([image])[0][0]
    near = Predictor.from_checkpoint(half, device="cpu").predict([image])[0][0]
    assert np.array_equal(ref["keypoints_3d"], same["keypoints_3d"])
    assert np.abs(np.asarray(near["keypoints_3d"]) - ref["keypoints_3d"]).max() < 2.0  # mm, float16 rounding
    img = tmp_path / "person.png"
    import cv2

    cv2.imwrite(str(img), image[..., ::-1])
    assert cli_main(["predict", "--checkpoint", str(half), str(img), "--out", str(tmp_path / "poses"),
                     "--json-only", "--no-viewer", "--no-progress"]) == 0
    assert (tmp_path / "poses" / "person.json").is_file()
    # an existing file that is not an earlier weights export is never replaced
    foreign = tmp_path / "notes.pt"
    foreign.write_text("mine")
    assert cli_main(["export", "--checkpoint", str(run / "last.pt"), "--format", "weights",
                     "--out", str(foreign)]) != 0
    assert foreign.read_text() == "mine"


def test_evaluate_uses_at_most_the_available_cores(run, tmp_path):
    cfg = tiny(tmp_path, extra=[f"train.workers={workers.available_cores() + 2}"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, _ = evaluate_checkpoint(run / "last.pt", cfg, out_dir=tmp_path, progress=False)
    assert result["summary"]["samples"] == 6
    assert not [w for w in caught if "worker processes in total" in str(w.message)]
    if hasattr(os, "sched_getaffinity"):
        assert workers.available_cores() == len(os.sched_getaffinity(0))


def test_step_budget_spans_epochs_drops_the_lr_by_step_and_resumes_exactly(tmp_path, capsys):
    # 12 images in batches of 4: 3 steps per epoch; a 10-step budget ends in epoch 4, the last 20% at lr ÷ 10
    extra = ["train.max_steps=10", "train.lr_final_drop=0.2", "train.lr_milestones=[]", "train.lr=0.001",
             with_val(tmp_path)]
    Trainer(tiny(tmp_path, "a", epochs=100, train_size=12, extra=[*extra, "train.progress=true"]), device="cpu").fit()
    full = [r for r in read_log(tmp_path / "a" / "log.jsonl") if "total" in r]
    assert [r["step"] for r in full] == list(range(1, 11))
    assert [r["lr"] for r in full] == pytest.approx([1e-3] * 8 + [1e-4] * 2)
    epochs = read_log(tmp_path / "a" / "epochs.jsonl")
    assert [r["step"] for r in epochs] == [3, 6, 9, 10] and not epochs[-1]["complete"]
    # the budget's end is validated too, and the printed line says so
    assert epochs[-1]["val_mpjpe"] is not None
    printed = capsys.readouterr().out
    assert "epoch 4 (stopped at step 10): train loss" in printed and "val MPJPE" in printed
    # interrupted after 5 steps (--max-steps) and resumed: the same steps, learning rates and losses
    b = tiny(tmp_path, "b", epochs=100, train_size=12, extra=extra)
    Trainer(b, max_steps=5, device="cpu").fit()
    Trainer(b, resume=tmp_path / "b" / "last.pt", device="cpu").fit()
    resumed = [r for r in read_log(tmp_path / "b" / "log.jsonl") if "total" in r]
    assert [r["step"] for r in resumed] == list(range(1, 11))
    for x, y in zip(full, resumed):
        assert x["lr"] == y["lr"] and x["total"] == pytest.approx(y["total"], rel=1e-5)


def test_epoch_line_without_validation_data_says_so():
    line = train_log.epoch_line({"epoch": 2, "step": 8, "complete": True, "train_total": 11.43})
    assert line == "epoch 2: train loss 11.43; no validation data"


def test_cpu_sized_synthetic_recipes_are_the_demo_network_with_a_step_budget():
    import dataclasses
    from pathlib import Path

    from cdlpose.config import load_config
    from cdlpose.demo import demo_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    s1, s2 = load_config(configs / "synthetic_cpu.yaml"), load_config(configs / "synthetic_cpu_stage2.yaml")
    demo1, _ = demo_config(Path("x"), 4500, 200, 0, 1600, 1300)
    # the demo's network; its lifting block reads crop coordinates and the root's ray (pre-trained on them), the
    # recipe's the default
    assert dataclasses.replace(s1.model, lift_input="crop+ray") == demo1.model
    assert s1.augment.input_size == demo1.augment.input_size == 64
    assert (s1.train.max_steps, s1.train.lr_final_drop, s1.train.batch_size) == (1600, 0.2, 16)
    assert s2.train.stage == 2 and s2.train.cache_passes == 2 and s2.train.max_steps > 0
    assert s2.model == s1.model and s2.data.val_size == 64  # the base file's sections
    assert any(e["role"] == "val" for e in s1.data.datasets)


# ------------------------------------------------------------------------- issue 27, item 5: what a model saw


FULL, PLAIN = {"format": "synthetic", "style": "full"}, {"format": "synthetic", "style": "plain"}


def test_checkpoints_record_what_they_were_trained_on(run, tmp_path):
    from cdlpose.engine import training_data

    for name in ("last.pt", "best.pt"):  # tiny()'s data: synthetic, the default (full) style
        assert torch.load(run / name, weights_only=True)["trained_on"] == [FULL]
    # stage 2 from it on plain figures: what the stage-1 weights saw comes first, then its own data; a resumed run
    # keeps the record
    cache = tmp_path / "cache"
    cfg = tiny(tmp_path, "s2", epochs=1, extra=[
        "train.stage=2", f"train.init_from={run / 'last.pt'}",
        f"data.datasets=[{{format: synthetic, style: plain, size: 4, cache_dir: {cache}, role: train}}]"])
    Trainer(cfg, max_steps=1, device="cpu").fit()
    assert torch.load(tmp_path / "s2" / "last.pt", weights_only=True)["trained_on"] == [FULL, PLAIN]
    assert Trainer(cfg, resume=tmp_path / "s2" / "last.pt", device="cpu").trained_on == [FULL, PLAIN]
    # an init_from checkpoint that recorded nothing is said so; roles other than train are not training data
    assert training_data(cfg, None, "old.pt") == [{"format": "not recorded", "via": "train.init_from old.pt"},
                                                  PLAIN]
    assert training_data(tiny(tmp_path)) == [FULL]
    # exported weights carry it
    assert cli_main(["export", "--checkpoint", str(run / "last.pt"), "--format", "weights",
                     "--out", str(tmp_path / "w.pt")]) == 0
    assert torch.load(tmp_path / "w.pt", weights_only=True)["trained_on"] == [FULL]


def _predict_line(capsys, ckpt, img, out) -> str:
    assert cli_main(["predict", "--checkpoint", str(ckpt), str(img), "--out", str(out), "--json-only",
                     "--no-viewer", "--no-progress"]) == 0
    return capsys.readouterr().out.splitlines()[0]


def test_predict_names_the_model_and_what_it_was_trained_on(run, tmp_path, capsys):
    import cv2

    from cdlpose.data.synthetic import render_sample
    from cdlpose.posenet import LABEL

    img = tmp_path / "person.png"
    cv2.imwrite(str(img), render_sample(0, "test")["image"][..., ::-1])
    line = _predict_line(capsys, run / "last.pt", img, tmp_path / "a")
    assert line.startswith(f"model: {run / 'last.pt'} (h36m17, 17 joints); trained on synthetic (full) — ")
    assert "only rendered figures (full), which are not meant for photos" in line
    ckpt = torch.load(run / "last.pt", weights_only=True)
    # a checkpoint from before the record
    old = {k: v for k, v in ckpt.items() if k != "trained_on"}
    torch.save(old, tmp_path / "old.pt")
    line = _predict_line(capsys, tmp_path / "old.pt", img, tmp_path / "b")
    assert line.endswith("(h36m17, 17 joints); training data not recorded (a checkpoint from before cdlpose "
                         "recorded it)")
    # real data: no warning
    torch.save(dict(ckpt, trained_on=[{"format": "h36m-moon", "subjects": ["S1", "S5"]}, {"format": "mpii"},
                                      FULL]), tmp_path / "real.pt")
    line = _predict_line(capsys, tmp_path / "real.pt", img, tmp_path / "c")
    assert line.endswith("trained on h36m-moon S1 S5; mpii; synthetic (full)") and "photos" not in line
    # imported PoseNet weights written before the record: Moon et al.'s data, from the import's record
    torch.save(dict(old, imported_from={"kind": "posenet", "label": LABEL, "joints": "h36m"}), tmp_path / "pn.pt")
    line = _predict_line(capsys, tmp_path / "pn.pt", img, tmp_path / "d")
    assert line.endswith(f"(h36m17, 17 joints, {LABEL}); trained on h36m-moon, Moon et al.; mpii, Moon et al.")


def test_the_help_suggests_no_figure_model_for_photos():
    text = build_parser().format_help()
    examples = text[text.index("first run:"):]
    for ln in examples.splitlines():
        if "photo.jpg" in ln:
            assert "cdlpose-demo" not in ln, ln
    assert "predict --checkpoint posenet_h36m.pt photo.jpg" in examples
    assert "seen no photo" in examples
