"""`cdlpose train` under the output-folder policy (issue 31): train.out_dir is claimed for the run, a file cdlpose
did not write there is never replaced (judged by the folder's ledger, what is on disk now), a run from before the
ledger still resumes, a resumed run says which config keys changed, --overwrite takes the old TensorBoard events
too; Ctrl-C ends `train` (and any command) with one line and exit status 130, `train` saying how to resume; a
--device this machine does not have is refused before any work."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from cdlpose.cli import main as cli_main
from cdlpose.config import ConfigError, config_to_dict
from cdlpose.engine import Trainer
from cdlpose.outputs import LEDGER, LOCK, FolderBusy

from .test_engine import read_log, tiny

ROOT = Path(__file__).resolve().parents[1]


def _yaml(tmp_path, cfg, name="c.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    return path


def _cli(capsys, *args):
    code = cli_main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _one_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("cdlpose ") and "Traceback" not in err, err
    return lines[0]


# --- a file cdlpose did not write is never replaced ----------------------------------------------------------

@pytest.mark.parametrize("content", ["the user's notes: lr 1e-3 worked best\n", "VALID"])
def test_a_users_config_yaml_in_train_out_dir_is_not_replaced(tmp_path, capsys, content):
    cfg = tiny(tmp_path, epochs=1)
    run = tmp_path / "run"
    run.mkdir()
    # the user's own file, even one that reads as a cdlpose config (their recipe kept beside the run)
    text = yaml.safe_dump(config_to_dict(cfg)) if content == "VALID" else content
    (run / "config.yaml").write_text(text)
    with pytest.raises(ConfigError, match=r"config.yaml, which cdlpose did not write.*--overwrite"):
        Trainer(cfg, device="cpu")
    code, _, err = _cli(capsys, "train", _yaml(tmp_path, cfg), "--device", "cpu")
    line = _one_line(err)
    assert code == 2 and "config.yaml" in line and "--overwrite" in line and "--resume" not in line
    assert (run / "config.yaml").read_text() == text
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]  # nothing written, the lock let go of
    # asked for: --overwrite replaces it
    Trainer(cfg, device="cpu", overwrite=True)
    assert (run / "config.yaml").read_text() != text


def test_a_link_at_a_run_file_is_refused_and_never_written_through(tmp_path):
    cfg = tiny(tmp_path, epochs=1)
    victim = tmp_path / "victim.yaml"
    victim.write_text("precious")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").symlink_to(victim)
    with pytest.raises(ConfigError, match="did not write"):
        Trainer(cfg, device="cpu")
    Trainer(cfg, device="cpu", overwrite=True)  # the link is removed, not followed
    assert victim.read_text() == "precious" and not (tmp_path / "run" / "config.yaml").is_symlink()


def test_cdlposes_own_config_yaml_is_replaced_and_run_files_are_judged_by_what_is_on_disk(tmp_path):
    cfg = tiny(tmp_path, epochs=1)
    run = tmp_path / "run"
    Trainer(cfg, device="cpu")  # a run that ended before its first step: only its config.yaml
    assert (run / "config.yaml").is_file()
    Trainer(cfg, max_steps=1, device="cpu").fit()  # cdlpose's own config.yaml: no earlier run, replaced
    # the run's files deleted, and a user's log.jsonl of the same name appears: not cdlpose's (refused as such)
    for name in ("last.pt", "best.pt", "log.jsonl", "epochs.jsonl"):
        (run / name).unlink(missing_ok=True)
    for p in (run / "tensorboard").glob("*"):
        p.unlink()
    (run / "log.jsonl").write_text("my own notes\n")
    with pytest.raises(ConfigError, match=r"log.jsonl, which cdlpose did not write") as e:
        Trainer(cfg, device="cpu")
    assert "earlier run" not in str(e.value)
    assert (run / "log.jsonl").read_text() == "my own notes\n"


def test_a_second_live_run_into_the_folder_is_refused(tmp_path):
    cfg = tiny(tmp_path, epochs=1)
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(),
                                                     "command": "train"}))
    with pytest.raises(FolderBusy, match="in use by another cdlpose run"):
        Trainer(cfg, device="cpu")
    (tmp_path / "run" / LOCK).unlink()
    tr = Trainer(cfg, max_steps=1, device="cpu")
    assert (tmp_path / "run" / LOCK).is_file()  # held for the run …
    tr.fit()
    assert not (tmp_path / "run" / LOCK).exists()  # … and let go of at its end


# --- resume ----------------------------------------------------------------------------------------------------

def test_a_run_from_before_the_ledger_resumes_and_says_so(tmp_path, capsys):
    cfg = tiny(tmp_path, epochs=2)
    run = tmp_path / "run"
    Trainer(cfg, max_steps=1, device="cpu").fit()
    (run / LEDGER).unlink()  # as a run of an earlier cdlpose left its folder
    capsys.readouterr()
    tr = Trainer(cfg, resume=run / "last.pt", device="cpu")
    said = capsys.readouterr().out
    assert re.search(r"resume: .*last.pt.*log.jsonl.*not in cdlpose's record.*taken as cdlpose's", said), said
    tr.fit()
    assert [r["step"] for r in read_log(run / "log.jsonl")] == [1, 2, 3, 4]
    ledger = json.loads((run / LEDGER).read_text())["files"]
    assert {"config.yaml", "last.pt", "log.jsonl", "epochs.jsonl"} <= set(ledger)
    # without --resume the same folder is an earlier run (not a user's files)
    (run / LEDGER).unlink()
    with pytest.raises(ConfigError, match="holds an earlier run.*--resume"):
        Trainer(cfg, device="cpu")


def test_resume_refuses_a_file_in_the_way_that_is_no_run_file(tmp_path):
    cfg = tiny(tmp_path, epochs=2)
    run = tmp_path / "run"
    Trainer(cfg, max_steps=1, device="cpu").fit()
    (run / "best.pt").write_bytes(b"the user's model, not a checkpoint")
    with pytest.raises(ConfigError, match=r"--resume: .*best.pt, which cdlpose did not write"):
        Trainer(cfg, resume=run / "last.pt", device="cpu")
    assert (run / "best.pt").read_bytes() == b"the user's model, not a checkpoint"


def test_resuming_with_a_changed_lr_says_so_and_keeps_what_was_used(tmp_path, capsys):
    cfg = tiny(tmp_path, epochs=2)
    path = _yaml(tmp_path, cfg)
    run = tmp_path / "run"
    assert cli_main(["train", str(path), "--device", "cpu", "--max-steps", "1"]) == 0
    capsys.readouterr()
    assert cli_main(["train", str(path), "--device", "cpu", "--resume", "--max-steps", "2",
                     "--set", "train.lr=5e-4", "train.epochs=3"]) == 0
    said = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("resume: the config differs")]
    assert len(said) == 1 and "train.lr 0.001 → 0.0005" in said[0] and "train.epochs 2 → 3" in said[0]
    assert "config-changes.jsonl" in said[0]
    assert yaml.safe_load((run / "config.yaml").read_text())["train"]["lr"] == 5e-4
    (record,) = [json.loads(x) for x in (run / "config-changes.jsonl").read_text().splitlines()]
    assert record["step"] == 1 and record["changes"] == {"train.epochs": [2, 3], "train.lr": [0.001, 0.0005]}
    # resumed again unchanged: nothing said, nothing appended
    assert cli_main(["train", str(path), "--device", "cpu", "--resume", "--max-steps", "3",
                     "--set", "train.lr=5e-4", "train.epochs=3"]) == 0
    assert "config differs" not in capsys.readouterr().out
    assert len((run / "config-changes.jsonl").read_text().splitlines()) == 1


def test_overwrite_removes_the_earlier_runs_tensorboard_events(tmp_path):
    pytest.importorskip("tensorboard")
    cfg = tiny(tmp_path, epochs=1)
    tb = tmp_path / "run" / "tensorboard"
    Trainer(cfg, max_steps=1, device="cpu").fit()
    old = sorted(tb.glob("events.out.tfevents.*"))
    assert old
    (tb / "notes.txt").write_text("a user's file beside the events")
    Trainer(cfg, max_steps=1, device="cpu", overwrite=True).fit()
    new = sorted(tb.glob("events.out.tfevents.*"))
    assert len(new) == 1 and new[0] not in old
    assert (tb / "notes.txt").read_text() == "a user's file beside the events"


# --- Ctrl-C ----------------------------------------------------------------------------------------------------

@pytest.fixture
def ctrl_c_reaches_python():
    """SIGINT as an interactive terminal has it (Python's KeyboardInterrupt handler) for the test's duration:
    a shell starts background jobs (``pytest … &``) with SIGINT ignored, which train rightly leaves alone."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _default_sigint() -> None:  # a child process's SIGINT back to the default, whatever the parent ignores
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _ctrl_c_at_the_second_step(monkeypatch, times: int):
    """Send this process ``times`` SIGINTs (as Ctrl-C) from inside the second training step's loss; returns the
    real loss function."""
    import cdlpose.engine as engine

    real = engine.compute_losses
    calls = []

    def interrupted(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            for _ in range(times):  # the first only asks the loop to stop; a second interrupts the step itself
                os.kill(os.getpid(), signal.SIGINT)
        return real(*a, **k)

    monkeypatch.setattr(engine, "compute_losses", interrupted)
    return real


@pytest.mark.usefixtures("ctrl_c_reaches_python")
def test_ctrl_c_in_train_stops_after_the_step_saves_and_says_how_to_resume(tmp_path, capsys, monkeypatch):
    import cdlpose.engine as engine

    path = _yaml(tmp_path, tiny(tmp_path, epochs=3))
    real = _ctrl_c_at_the_second_step(monkeypatch, 1)
    code, _, err = _cli(capsys, "train", path, "--device", "cpu", "--set", "train.log_every=1")
    line = _one_line(err)
    last = tmp_path / "run" / "last.pt"
    assert code == 130 and line.startswith("cdlpose train: interrupted")
    assert f"{last} holds step 2" in line
    assert line.endswith(shlex.join(["cdlpose", "train", str(path), "--set", "train.log_every=1", "--device", "cpu",
                                     "--resume", str(last)]))
    assert torch.load(last, weights_only=True)["step"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    assert not (tmp_path / "run" / LOCK).exists()
    # the line's command continues the run
    monkeypatch.setattr(engine, "compute_losses", real)
    assert cli_main(shlex.split(line.rsplit("continue with: ", 1)[1])[1:] + ["--max-steps", "3"]) == 0
    assert torch.load(last, weights_only=True)["step"] == 3


@pytest.mark.usefixtures("ctrl_c_reaches_python")
def test_a_second_ctrl_c_stops_at_once_and_says_what_is_left(tmp_path, capsys, monkeypatch):
    path = _yaml(tmp_path, tiny(tmp_path, epochs=3))
    _ctrl_c_at_the_second_step(monkeypatch, 2)
    code, _, err = _cli(capsys, "train", path, "--device", "cpu")
    line = _one_line(err)
    # nothing saved yet (no epoch ended, no checkpoint_every): no resume, a fresh start over the logged step
    assert code == 130 and "no checkpoint was saved, nothing to resume" in line
    assert line.endswith(shlex.join(["cdlpose", "train", str(path), "--overwrite"]))
    assert not (tmp_path / "run" / "last.pt").exists() and not (tmp_path / "run" / LOCK).exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_any_command_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    import cdlpose.evaluation as evaluation

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluation, "evaluate_checkpoint", interrupted)
    code, _, err = _cli(capsys, "evaluate", "--checkpoint", tmp_path / "x.pt")
    assert code == 130 and _one_line(err) == "cdlpose evaluate: interrupted"


def test_ctrl_c_sent_to_a_training_process(tmp_path):
    """A real SIGINT to `python -m cdlpose train`: exit status 130, the resume line, no traceback."""
    cfg = tiny(tmp_path, epochs=100000)
    path = _yaml(tmp_path, cfg)
    log = tmp_path / "run" / "log.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    with open(tmp_path / "stdout.txt", "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "cdlpose", "train", str(path), "--device", "cpu"],
                                stdout=out, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                                preexec_fn=_default_sigint)
        try:
            deadline = time.monotonic() + 300
            while not (log.is_file() and log.read_text().strip()):  # a step was taken
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "no step logged within 300 s"
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
    last = tmp_path / "run" / "last.pt"
    assert proc.returncode == 130, err
    line = _one_line(err)
    assert line.startswith("cdlpose train: interrupted;") and f"--resume {last}" in line
    step = torch.load(last, weights_only=True)["step"]
    assert step >= 1 and f"holds step {step}" in line
    assert max(r["step"] for r in read_log(log)) == step  # nothing logged past the saved step


# --- --device ----------------------------------------------------------------------------------------------------

def _absent_gpu() -> str:
    return f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A one-step checkpoint, an image and a config for the commands that take --device."""
    import cv2

    from cdlpose.data.synthetic import render_sample

    tmp = tmp_path_factory.mktemp("device")
    cfg = tiny(tmp, epochs=1)
    Trainer(cfg, max_steps=1, device="cpu").fit()
    cv2.imwrite(str(tmp / "walk.jpg"), render_sample(0, "test")["image"][..., ::-1])
    return {"ckpt": tmp / "run" / "last.pt", "image": tmp / "walk.jpg", "cfg": cfg}


@pytest.mark.parametrize("device", ["foo", "GPU"])
@pytest.mark.parametrize("command", ["train", "predict", "evaluate"])
def test_a_device_this_machine_lacks_is_refused_before_any_work(model, tmp_path, capsys, command, device):
    device = _absent_gpu() if device == "GPU" else device
    cfg = tiny(tmp_path, epochs=1)
    args = {"train": ["train", _yaml(tmp_path, cfg)],
            "predict": ["predict", "--checkpoint", model["ckpt"], model["image"], "--box", "40", "20", "160", "220",
                        "--out", tmp_path / "out"],
            "evaluate": ["evaluate", "--checkpoint", model["ckpt"], "--out", tmp_path / "out"]}[command]
    code, _, err = _cli(capsys, *args, "--device", device)
    line = _one_line(err)
    assert code == 2 and f"--device {device}:" in line and "available here: cpu" in line
    assert not (tmp_path / "run").exists() and not (tmp_path / "out").exists()
