"""The researcher's path (issue 32, item 5), through ``cdlpose.cli.main``: `data check --set`, `train`'s start-up
summary and its one way of counting epochs, `evaluate`'s every summary metric, progress bars named by phase, every
subcommand's --help ending in examples, `export` saying what it wrote, and no library warnings reaching the user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cdlpose.cli import build_parser
from cdlpose.cli import main as cli_main


def _mpii(folder):
    folder.mkdir(parents=True, exist_ok=True)
    joints = [[5.0 + i, 5.0 + i] for i in range(16)]
    (folder / "mpii.json").write_text(json.dumps(
        [{"image": "m.jpg", "joints": joints, "joints_vis": [1] * 16, "center": [50, 50], "scale": 1.0}]))


def test_data_check_takes_set_for_a_training_config(tmp_path, capsys):
    _mpii(tmp_path / "real")
    (tmp_path / "empty").mkdir()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  root: {tmp_path / 'empty'}\n  datasets:\n"
                   "    - {format: mpii, annotations: mpii.json, role: train}\n")
    assert cli_main(["data", "check", str(cfg)]) == 1
    assert "mpii.json" in capsys.readouterr().out
    cli_main(["data", "check", str(cfg), "--set", f"data.root={tmp_path / 'real'}"])
    out = capsys.readouterr().out
    assert "1 records" in out or "1 record" in out, out
    assert "not found" not in out and "No such file" not in out
    # a list entry by number, as train takes it
    cli_main(["data", "check", str(cfg), "--set", f"data.root={tmp_path / 'real'}",
              "data.datasets.0.annotations=none.json"])
    assert "none.json" in capsys.readouterr().out


def test_data_check_set_on_a_data_list_and_refusals(tmp_path, capsys):
    _mpii(tmp_path / "real")
    lst = tmp_path / "lists" / "data.yaml"
    lst.parent.mkdir()
    lst.write_text("datasets:\n  - {format: mpii, annotations: mpii.json}\n")
    assert cli_main(["data", "check", str(lst)]) == 1
    capsys.readouterr()
    cli_main(["data", "check", str(lst), "--set", f"data.root={tmp_path / 'real'}"])
    out = capsys.readouterr().out
    assert "not found" not in out and "No such file" not in out
    # keys data check does not read are refused in one line, exit 2
    assert cli_main(["data", "check", str(lst), "--set", "train.lr=0.1"]) == 2
    err = capsys.readouterr().err
    assert "data.KEY=VALUE" in err and "Traceback" not in err
    assert cli_main(["data", "check", str(lst), "--set", "data.datasets.5.root=x"]) == 2
    assert "1 entries" in capsys.readouterr().err


# --- train: a start-up summary, epochs counted one way, bars named by phase ------------------------------------

def _train_yaml(tmp_path, epochs, extra=()):
    import yaml

    from cdlpose.config import config_to_dict

    from .test_engine import tiny

    cfg = tiny(tmp_path, epochs=epochs, extra=("train.progress=true", *extra))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    return path


def test_train_prints_a_startup_summary_and_counts_epochs_one_way(tmp_path, capsys):
    # 8 training images in batches of 4: 2 steps an epoch; 3 steps stop within epoch 2
    path = _train_yaml(tmp_path, epochs=3)
    assert cli_main(["train", str(path), "--device", "cpu", "--max-steps", "3"]) == 0
    said = capsys.readouterr()
    out, err = said.out, said.err
    lines = out.splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("stage 1: 2.5D network: train 8 3D"))
    summary = lines[first:first + 3]
    assert "train 8 3D + 0 2D samples, val 6, test: 1 entry" in summary[0]
    assert summary[1].startswith("2 steps per epoch; stops after 3 steps (~2 epochs), batch 4")
    assert summary[2] == f"device cpu; output {tmp_path / 'run'}"
    epoch_lines = [ln for ln in lines if ln.startswith("epoch ")]
    assert epoch_lines[0].startswith("epoch 1:") and epoch_lines[-1].startswith("epoch 2 (stopped at step 3)")
    assert lines[-1].startswith("done: 3 steps, stopped in epoch 2 (1 complete epoch); ")
    assert "stage 1: 2.5D network, epoch 1/3" in err  # the bar names its phase


def test_a_finished_run_says_1_epoch(tmp_path, capsys):
    path = _train_yaml(tmp_path, epochs=1)
    assert cli_main(["train", str(path), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "epoch 1: train loss" in out and out.splitlines()[-1].startswith("done: 2 steps, 1 epoch; ")
    assert "1 epochs" not in out


def test_phase_names():
    from cdlpose.config import TrainConfig
    from cdlpose.train_log import phase_name

    assert phase_name(TrainConfig(stage=1)) == "stage 1: 2.5D network"
    assert phase_name(TrainConfig(stage=2)) == "stage 2: lifting block"
    assert phase_name(TrainConfig(stage=2, finetune=True)) == "fine-tuning"


def test_evaluate_prints_every_summary_metric(tmp_path, capsys):
    path = _train_yaml(tmp_path, epochs=1, extra=("train.progress=false",))
    assert cli_main(["train", str(path), "--device", "cpu", "--max-steps", "1"]) == 0
    capsys.readouterr()
    ckpt = tmp_path / "run" / "last.pt"
    assert cli_main(["evaluate", "--checkpoint", str(ckpt), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    tail = out[out.index("\nsummary ("):]
    assert "samples, 2D error" in tail
    for metric in ("MPJPE", "PA-MPJPE", "PA-MPJPE rigid", "N-MPJPE"):
        assert f", {metric} " in tail or f": {metric} " in tail, tail
    result = json.loads((tmp_path / "run" / "eval-synthetic.json").read_text())
    rows = [(label, v) for label, v in result["summary"].items() if isinstance(v, dict)]
    assert len(rows) == 2  # the lifted row and the back-projected one, each with all its metrics
    for label, values in rows:  # the printed numbers are the JSON's
        assert f"  {label}: MPJPE {values['MPJPE']:.1f} mm, PA-MPJPE {values['PA-MPJPE']:.1f} mm" in tail


def _all_subparsers(parser, path=()):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _all_subparsers(sub, (*path, name))


def test_every_subcommand_help_ends_with_examples(capsys):
    subs = list(_all_subparsers(build_parser()))
    names = {" ".join(p) for p, _ in subs}
    assert {"synth", "data", "data check", "train", "evaluate", "demo", "predict", "export", "import",
            "import posenet"} <= names
    for path, _ in subs:
        with pytest.raises(SystemExit):
            cli_main([*path, "--help"])
        text = capsys.readouterr().out
        tail = text[text.rindex("\nexamples:\n"):]
        lines = [ln.strip() for ln in tail.splitlines()[1:] if ln.strip().startswith("cdlpose ")]
        assert 2 <= len(lines) <= 3, (path, tail)
        assert all(ln.startswith(f"cdlpose {path[0]}") for ln in lines), (path, lines)
        # nothing after the examples but their explanations
        assert not any(ln.startswith(("usage:", "options:", "-")) for ln in tail.splitlines()[1:])
    # descriptions are still wrapped to the terminal, only the examples keep their lines
    with pytest.raises(SystemExit):
        cli_main(["predict", "--help"])
    assert max(len(ln) for ln in capsys.readouterr().out.splitlines()) < 120


# --- export says what it wrote; no library warning reaches the user ----------------------------------------------

@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ck")
    # a lifting block that takes the root's viewing ray: an ONNX graph with two inputs sharing the batch axis
    # (what made torch.onnx warn "The axis name: batch will not be used")
    path = _train_yaml(tmp, epochs=1, extra=("train.progress=false", "model.lift_input=crop+ray"))
    assert cli_main(["train", str(path), "--device", "cpu", "--max-steps", "1"]) == 0
    return tmp / "run" / "last.pt"


def test_export_weights_says_what_it_wrote(ckpt, tmp_path, capsys):
    out = tmp_path / "w.pt"
    assert cli_main(["export", "--checkpoint", str(ckpt), "--format", "weights", "--out", str(out)]) == 0
    said = capsys.readouterr().out.strip()
    assert said.startswith(f"wrote {out}: float32 weights and config, {out.stat().st_size / 1e6:.1f} MB")
    assert "no optimiser state" in said and "predict" in said


def test_onnx_export_says_what_it_wrote_without_library_warnings(ckpt, tmp_path, capsys):
    import warnings

    pytest.importorskip("onnxscript")
    out = tmp_path / "m.onnx"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert cli_main(["export", "--checkpoint", str(ckpt), "--out", str(out), "--no-check"]) == 0
    said = capsys.readouterr()
    assert said.out.startswith(f"wrote {out}, {out.stat().st_size / 1e6:.1f} MB: the whole network with soft-argmax "
                               "and lifting block (inputs images, camera;")
    leaked = [str(w.message) for w in caught if "axis name" in str(w.message)]
    assert not leaked and "Warning" not in said.err, (leaked, said.err)


def test_demo_curves_with_an_empty_panel_warn_nothing(tmp_path):
    import warnings

    from cdlpose.demo import _curves

    # no stage logs, no validation (a run with no val data): panels without labelled lines
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        png = _curves(tmp_path, [])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


# --- demo --quick: scaled work, its own pass line, the image cache said and kept or removed (issue 32, item 2) --

def _fake_demo(monkeypatch, seen):
    from cdlpose import demo

    def run_demo(out, **kw):
        seen.update(kw)
        cache = Path(out) / "synthetic-cache"
        return {"passed": True, "cache": {"path": str(cache), "bytes": 2_000_000, "kept": not kw.get("clean")}}

    monkeypatch.setattr(demo, "run_demo", run_demo)


def test_demo_quick_scales_every_phase_and_sets_its_pass_line(tmp_path, monkeypatch, capsys):
    from cdlpose.demo_command import QUICK

    seen = {}
    _fake_demo(monkeypatch, seen)
    assert cli_main(["demo", "--quick", "--out", str(tmp_path / "q")]) == 0
    assert seen["steps"] == QUICK["steps"] < 1900 and seen["train_size"] == QUICK["train_size"] < 4500
    assert seen["test_size"] == QUICK["test_size"] < 200 and seen["min_ratio"] == QUICK["min_ratio"]
    seen.clear()
    assert cli_main(["demo", "--quick", "--steps", "50", "--min-ratio", "1.1", "--out", str(tmp_path / "r")]) == 0
    assert (seen["steps"], seen["min_ratio"], seen["train_size"]) == (50, 1.1, QUICK["train_size"])  # options win
    seen.clear()
    assert cli_main(["demo", "--out", str(tmp_path / "s")]) == 0  # without --quick: the full demo's defaults
    assert "steps" not in seen and "min_ratio" not in seen and seen["train_size"] is None and seen["test_size"] == 200


def test_demo_says_where_its_cache_is_and_keeps_or_cleans_it(tmp_path, monkeypatch, capsys):
    _fake_demo(monkeypatch, {})
    out = tmp_path / "d"
    assert cli_main(["demo", "--out", str(out)]) == 0
    line = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("image cache:")]
    cache = out / "synthetic-cache"
    assert line == [(f"image cache: {cache}, 2 MB, kept: a later demo in {out} reuses it; remove it with "
                     f"rm -r {cache} (or run with --clean)")]
    out2 = tmp_path / "e"
    assert cli_main(["demo", "--out", str(out2), "--clean"]) == 0
    assert f"image cache: {out2 / 'synthetic-cache'} (2 MB) removed (--clean)" in capsys.readouterr().out


def test_a_tiny_demo_reports_its_cache_and_cleans_it(tmp_path, capsys):
    out = tmp_path / "d"
    # a tiny run (the pass line out of reach: exit 1), its images removed at the end
    assert cli_main(["demo", "--out", str(out), "--steps", "3", "--train-size", "64", "--test-size", "24",
                     "--min-ratio", "1000", "--clean"]) == 1
    said = capsys.readouterr()
    report = json.loads((out / "report.json").read_text())
    cache = out / "synthetic-cache"
    assert report["cache"]["path"] == str(cache) and report["cache"]["bytes"] > 0 and report["cache"]["kept"] is False
    assert not cache.exists() and "removed (--clean)" in said.out
    assert f"<code>{cache}</code>" in (out / "index.html").read_text()
    for phase in ("rendering train images", "stage 1: 2.5D network", "lifting pre-training",
                  "stage 2: caching 2.5D estimates", "stage 2: lifting block", "fine-tuning", "evaluate"):
        assert phase in said.err, phase  # every phase shows a progress bar
