"""Issue 32, item 3: `cdlpose predict` as a newcomer first meets it — `--out` defaults to a new folder named after
the input (never one that exists), the whole-image case is said before the run, a missing model says what to pass,
and start-up does not import what only other paths need (checked by the modules loaded, not the wall clock)."""

import os
import subprocess
import sys

import cv2
import pytest

from cdlpose.checkpoint import save_checkpoint
from cdlpose.cli import main as cli_main
from cdlpose.config import config_to_dict
from cdlpose.data.synthetic import render_sample
from cdlpose.loading import CHECKPOINT_FORMAT, build_model
from cdlpose.predict import default_out_name

from .test_engine import tiny

HEAVY = ("torchvision", "av", "matplotlib", "onnxruntime")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """An untrained tiny network saved as a checkpoint (these tests check what predict says and writes, not poses)."""
    tmp = tmp_path_factory.mktemp("first_contact")
    cfg = tiny(tmp)
    path = tmp / "tiny.pt"
    save_checkpoint({"format": CHECKPOINT_FORMAT, "config": config_to_dict(cfg), "model": build_model(cfg).state_dict(),
                     "trained_on": [{"format": "synthetic", "style": "full"}]}, path)
    return path


def _img(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), render_sample(0, "test")["image"][..., ::-1])
    return path


def _cli(capsys, *args):
    code = cli_main([str(a) for a in args])
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def _loaded_after(code: str, cwd=None) -> list[str]:
    """The heavy optional modules loaded after running ``code`` in a fresh interpreter."""
    probe = (f"{code}\nimport sys\n"
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m == 'cdlpose.detection'))")
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=cwd,
                       env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert r.returncode == 0, r.stderr
    return eval(r.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------------- start-up imports


def test_importing_predict_loads_no_optional_heavy_library():
    """Catches a module-level import on predict's import path of torchvision (seconds: it loads torch._dynamo;
    cdlpose.model had one), PyAV, matplotlib or ONNX Runtime."""
    assert _loaded_after("import cdlpose.cli, cdlpose.predict, cdlpose.inference, cdlpose.model, cdlpose.vis, "
                         "cdlpose.viewer") == []


def test_a_plain_image_run_loads_no_video_plot_onnx_or_detector_library(ckpt, tmp_path):
    """A whole `predict` run on one image, JSON, pictures and viewer: PyAV (videos), matplotlib, ONNX Runtime
    (--onnx) and the detector (--detector, torchvision's detection models through cdlpose.detection) stay
    unloaded, torchvision too (cdlpose builds the ResNet trunk itself; torchvision is the detector extra's)."""
    _img(tmp_path / "photo.jpg")
    code = (f"from cdlpose.cli import main\n"
            f"assert main(['predict', '--checkpoint', {str(ckpt)!r}, 'photo.jpg', '--no-progress']) == 0")
    loaded = _loaded_after(code, cwd=tmp_path)
    assert not [m for m in loaded if m.split(".")[0] in ("av", "matplotlib", "onnxruntime", "torchvision")], loaded
    assert "cdlpose.detection" not in loaded
    assert (tmp_path / "photo-poses" / "photo.html").is_file()  # the run did write everything


# ------------------------------------------------------------------------------------------- the default --out


def test_default_out_names(tmp_path, monkeypatch):
    """Catches a default named after the wrong thing (a pattern's wildcard, "." instead of the folder's name)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "shots").mkdir()
    _img(tmp_path / "photo.jpg")
    assert default_out_name(["photo.jpg"]) == "photo-poses"
    assert default_out_name([tmp_path / "photo.jpg"]) == "photo-poses"
    assert default_out_name(["shots/"]) == "shots-poses"
    assert default_out_name(["shots/*.jpg"]) == "shots-poses"
    assert default_out_name(["*.jpg"]) == "cdlpose-predict"
    assert default_out_name(["photo.jpg", "shots", "walk.mp4"]) == "photo-and-2-more-poses"
    assert default_out_name([], [0]) == "camera0-poses"
    monkeypatch.chdir(tmp_path / "shots")
    assert default_out_name(["."]) == "shots-poses"
    assert default_out_name([".."]) == f"{tmp_path.name.lstrip('.-')}-poses"
    assert default_out_name(["/"]) == "cdlpose-predict"
    assert default_out_name([".hidden.jpg"]) == "hidden-poses"


def test_default_out_is_a_new_folder_named_after_the_input_never_an_existing_one(ckpt, tmp_path, monkeypatch,
                                                                                 capsys):
    """Catches a default that writes into (or mixes with) an existing folder or file of that name, and a run that
    does not say where its outputs went."""
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "photo.jpg")
    code, printed, err = _cli(capsys, "predict", "--checkpoint", ckpt, "photo.jpg", "--no-progress")
    assert code == 0, err
    assert f"outputs: photo-poses{os.sep} (a new folder" in printed
    assert sorted(p.name for p in (tmp_path / "photo-poses").iterdir() if not p.name.startswith(".")) == [
        "photo.html", "photo.json", "photo_2d.jpg", "photo_3d.png", "predictions.coco.image_ids.json",
        "predictions.coco.json"]
    first = (tmp_path / "photo-poses" / "photo.json").stat()
    # a file, and a link to nowhere, at the next names: never taken either
    (tmp_path / "photo-poses-2").write_text("a user's file")
    (tmp_path / "photo-poses-3").symlink_to(tmp_path / "gone")
    code, printed, err = _cli(capsys, "predict", "--checkpoint", ckpt, "photo.jpg", "--no-progress", "--json-only")
    assert code == 0, err
    assert f"outputs: photo-poses-4{os.sep}" in printed and (tmp_path / "photo-poses-4" / "photo.json").is_file()
    assert (tmp_path / "photo-poses-2").read_text() == "a user's file"
    assert (tmp_path / "photo-poses" / "photo.json").stat().st_mtime_ns == first.st_mtime_ns  # untouched
    # a given --out is used as given (a second run into it keeps working)
    for _ in range(2):
        code, printed, err = _cli(capsys, "predict", "--checkpoint", ckpt, "photo.jpg", "--out", "mine",
                                  "--no-progress", "--json-only")
        assert code == 0 and f"outputs: mine{os.sep}\n" in printed, err
    assert not (tmp_path / "photo-poses-5").exists()


def test_earlier_default_folders_inside_an_input_folder_are_not_inputs(ckpt, tmp_path, monkeypatch, capsys):
    """`cdlpose predict .` twice: the second run's new folder sits next to the first's, inside the input folder.
    Catches the second run predicting on the first run's pictures (a_2d.jpg, a_3d.png) as if they were photos."""
    shots = tmp_path / "shots"
    _img(shots / "a.jpg")
    _img(shots / "b.jpg")
    monkeypatch.chdir(shots)
    for expected in ("shots-poses", "shots-poses-2"):
        code, printed, err = _cli(capsys, "predict", "--checkpoint", ckpt, ".", "--no-progress")
        assert code == 0, err
        assert "2 inputs, 2 images/frames" in printed
        written = sorted(p.name for p in (shots / expected).glob("*.json")
                         if not p.name.startswith(("predictions", ".")))
        assert written == ["a.json", "b.json"]


def test_a_failed_run_leaves_no_empty_default_folder(ckpt, tmp_path, monkeypatch, capsys):
    """Catches an empty `photo-poses/` left behind by a run that could not start, which would push the next
    run's default to `photo-poses-2/`."""
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "photo.jpg")
    code, _, err = _cli(capsys, "predict", "--checkpoint", tmp_path / "nope.pt", "photo.jpg")
    assert code == 2 and "nope.pt" in err
    import cdlpose.predict

    def refused(*a, **k):
        from cdlpose.errors import InputError

        raise InputError("refused for the test")

    monkeypatch.setattr(cdlpose.predict, "run_predict", refused)
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, "photo.jpg")
    assert code == 2 and "refused for the test" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]


# ------------------------------------------------------------------------------------------- what is said, when


def test_the_whole_image_case_is_said_before_the_run_starts(ckpt, tmp_path, monkeypatch, capsys):
    """Catches the note moving back to after the run (when the user has already waited for it), and a note
    given when boxes were given."""
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "photo.jpg")
    import cdlpose.predict

    real, said = cdlpose.predict.run_predict, []

    def spy(*a, **k):  # what the user has been told when the first image is about to be processed
        said.append(capsys.readouterr())
        return real(*a, **k)

    monkeypatch.setattr(cdlpose.predict, "run_predict", spy)
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, "photo.jpg", "--no-progress", "--json-only")
    assert code == 0, err
    before = said[0].err
    assert "each image (and video frame) is taken as one person covering the whole frame" in before
    assert "--box X Y W H" in before and "--detections FILE" in before and "--detector" in before
    assert len(before.strip().splitlines()) == 1  # one line
    assert "whole frame" not in err  # not said again after the run
    assert said[0].out.splitlines()[-1].startswith("outputs: photo-poses")  # where they go, also before the run
    code, _, err = _cli(capsys, "predict", "--checkpoint", ckpt, "photo.jpg", "--box", 0, 0, 100, 200,
                        "--no-progress", "--json-only")
    assert code == 0 and "whole frame" not in said[1].err + err


def test_a_missing_shipped_model_says_what_to_pass(tmp_path, monkeypatch, capsys):
    """Without --checkpoint predict runs the shipped model (tests/test_default_model.py); an install that lacks
    its file says so in one line, with where a model comes from, before making any folder."""
    import cdlpose.loading

    monkeypatch.setattr(cdlpose.loading, "DEFAULT_MODEL", tmp_path / "gone" / "cdlpose-photo-v4.pt")
    monkeypatch.chdir(tmp_path)
    _img(tmp_path / "photo.jpg")
    code, _, err = _cli(capsys, "predict", "photo.jpg")
    assert code == 2
    assert err.startswith(f"cdlpose predict: error: the shipped model {tmp_path / 'gone'}") and "usage:" not in err
    for hint in ("missing from this install", "--checkpoint FILE", "cdlpose train", "docs/posenet.md"):
        assert hint in err
    assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.jpg"]  # no folder made
