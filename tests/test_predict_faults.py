"""``cdlpose predict`` under the output-folder policy (issue 31): a user's file is never replaced because it sits
at a name cdlpose once used, no write follows a planted link, a second run into the same folder is refused, a
Ctrl-C leaves only finished, recorded outputs, a decompression bomb in a folder is reported while the good images
are written, and a variable-frame-rate video gets its frames' true times (and One-Euro their true spacing).

The predictor is a fake with Predictor's interface (its pose follows the image's brightness, so that smoothing
has something to smooth); the run, the writes and the command line are the real ones."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from cdlpose.cli import main as cli_main
from cdlpose.errors import InputError
from cdlpose.outputs import COMPLETE, LEDGER, LOCK, FolderBusy, OutputFolder
from cdlpose.predict import COCO_RESULTS, MANIFEST, PredictOptions, run_predict
from cdlpose.predict.files import RUN, input_key
from cdlpose.skeletons import H36M17
from cdlpose.smoothing import OneEuroFilter

ROOT = Path(__file__).resolve().parents[1]
J = H36M17.num_joints


def _person(level: float) -> dict:
    """A person as Predictor.predict returns one; everything moves with ``level`` (the image's mean, 0–255)."""
    j2 = np.stack([np.linspace(40, 90, J), np.linspace(20, 200, J)], 1) + [level / 10, 0]
    j3 = np.zeros((J, 3)) + [level * 4.0, 0, 0]  # mm: a bright frame puts the person 1 m to the right
    return {"box": np.array([30.0, 10.0, 80.0, 200.0]), "detection_score": None, "score": 0.9,
            "keypoints_2d": j2, "confidence": np.full(J, 0.9), "uvz": np.zeros((J, 3)), "keypoints_3d": j3,
            "pose_3d_source": "lifting", "root_depth_mm_estimate": 4000.0, "root_depth_mm": 4000.0,
            "root_depth_source": "estimate", "keypoints_3d_camera_estimate": j3 + [0, 0, 4000.0]}


class Fake:
    """Predictor's interface: one person per image; ``hook(name)`` is called before each image is predicted."""

    skeleton, flip, backend, pose_3d_source, origin, device = H36M17, False, "fake", "lifting", None, "cpu"

    def __init__(self, hook=None):
        self.hook = hook

    def predict(self, images, boxes=None, focal=None, batch_size=16, names=None, scores=None, root_depths=None):
        out = []
        for img, name in zip(images, names):
            if self.hook is not None:
                self.hook(str(name))
            out.append([_person(float(np.mean(img)))])
        return out


def _img(path: Path, level: int = 90, w: int = 120, h: int = 160) -> Path:
    cv2.imwrite(str(path), np.full((h, w, 3), level, np.uint8))
    return path


def _opts(out, **kw) -> PredictOptions:
    kw.setdefault("images", False)
    kw.setdefault("viewer", False)
    return PredictOptions(out=Path(out), progress=False, **kw)


def _cli(capsys, monkeypatch, fake, *args):
    """``cdlpose predict --checkpoint fake.pt ARGS`` with the fake predictor: exit status and stderr."""
    from cdlpose.inference import Predictor

    monkeypatch.setattr(Predictor, "from_checkpoint", staticmethod(lambda *a, **k: fake))
    code = cli_main(["predict", "--checkpoint", "fake.pt", "--no-progress", *map(str, args)])
    return code, capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note: ")]  # notes said before the run
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or ".tmp." in p.name)


def _bomb_png(path, side=20000):
    from .test_output_policy import _bomb_png as bomb

    bomb(path, side)


def _vfr_video(path: Path, times, levels, fmt="mp4", size=(64, 48)) -> Path:
    """An H.264 video whose frames are shown at ``times`` (s; uneven: a variable frame rate), frame k a flat
    grey of ``levels[k]``."""
    import av

    with av.open(str(path), "w", format=fmt) as c:
        s = c.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=25)
        s.width, s.height, s.pix_fmt = size[0], size[1], "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        for t, v in zip(times, levels):
            f = av.VideoFrame.from_ndarray(np.full((size[1], size[0], 3), v, np.uint8), format="rgb24")
            f.pts, f.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


# ------------------------------------------------------------------------------ never replaced by its name alone


def test_a_users_file_at_the_name_of_deleted_outputs_is_refused(tmp_path):
    """predict into photos/, delete the outputs, a labelme photos/walk.json appears, predict again: refused (the
    ledger knows what cdlpose wrote there, not just its name); --overwrite replaces it."""
    photos = tmp_path / "photos"
    photos.mkdir()
    walk = _img(photos / "walk.jpg")
    run_predict(Fake(), [photos], _opts(photos))
    assert (photos / "walk.json").is_file()
    (photos / "walk.json").unlink()
    labels = '{"version": "5.4.1", "shapes": [{"label": "person"}]}'
    (photos / "walk.json").write_text(labels)
    with pytest.raises(InputError, match=r"did not write for the same input: .*walk\.json.*--overwrite"):
        run_predict(Fake(), [photos], _opts(photos))
    assert (photos / "walk.json").read_text() == labels
    assert not (photos / LOCK).exists()  # released on the way out
    res = run_predict(Fake(), [photos], _opts(photos, overwrite=True))
    assert res["outputs"] == ["walk"]
    assert json.loads((photos / "walk.json").read_text())["input"] == str(walk)
    assert (photos / COMPLETE).is_file()


def test_own_outputs_are_replaced_for_the_same_input_and_no_other(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    _img(a / "walk.jpg", 60), _img(b / "walk.jpg", 160)
    out = tmp_path / "out"
    for _ in range(2):  # its own outputs, for the same input, exactly as written: replaced
        run_predict(Fake(), [a / "walk.jpg"], _opts(out, images=True, viewer=True))
    folder = OutputFolder(out, "test")
    folder.release()
    for name in ("walk.json", "walk_2d.jpg", "walk_3d.png", "walk.html", COCO_RESULTS):
        assert folder.ours(name), name
    assert folder.source("walk.json") == input_key(a / "walk.jpg") and folder.source(COCO_RESULTS) == RUN
    with pytest.raises(InputError, match="walk.json"):  # another input's
        run_predict(Fake(), [b / "walk.jpg"], _opts(out))
    # changed in place after cdlpose wrote it (same inode, other size and time): no longer cdlpose's
    with open(out / "walk.json", "a") as fh:
        fh.write(" ")
    with pytest.raises(InputError, match="walk.json"):
        run_predict(Fake(), [a / "walk.jpg"], _opts(out))


def test_an_earlier_versions_manifest_is_not_trusted_but_its_outputs_are_no_inputs(tmp_path):
    """``.cdlpose-predict.jsonl`` named files, not what is on disk: its files are foreign now (refused, and the
    message says why), and still not taken as inputs."""
    photos = tmp_path / "photos"
    photos.mkdir()
    walk = _img(photos / "walk.jpg")
    _img(photos / "walk_2d.jpg", 30)  # an earlier version's overlay
    (photos / "walk.json").write_text("{}")
    (photos / MANIFEST).write_text("".join(json.dumps({"file": f, "input": input_key(walk)}) + "\n"
                                           for f in ("walk.json", "walk_2d.jpg")))
    with pytest.raises(InputError, match=rf"walk\.json.*listed in {MANIFEST}.*no longer trusted.*--overwrite"):
        run_predict(Fake(), [photos], _opts(photos))
    res = run_predict(Fake(), [photos], _opts(photos, overwrite=True))
    assert res["outputs"] == ["walk"] and not (photos / "walk_2d.json").exists()  # walk_2d.jpg was no input


# ------------------------------------------------------------------------------------------ planted links


def test_links_at_the_old_temporary_names_are_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for n in ("json_victim", "mp4_victim"):
        (elsewhere / n).write_bytes(b"precious")
    _img(tmp_path / "walk.jpg")
    _vfr_video(tmp_path / "clip.mp4", [0.0, 0.04, 0.08], [50, 90, 130])
    out = tmp_path / "o"
    out.mkdir()
    (out / ".walk.json.tmp").symlink_to(elsewhere / "json_victim")  # the fixed temporary names of before
    (out / ".clip.tmp.mp4").symlink_to(elsewhere / "mp4_victim")
    res = run_predict(Fake(), [tmp_path / "walk.jpg", tmp_path / "clip.mp4"], _opts(out, images=True))
    assert sorted(res["outputs"]) == ["clip", "walk"] and not res["errors"] and not res["write_errors"], res
    assert (elsewhere / "json_victim").read_bytes() == b"precious"
    assert (elsewhere / "mp4_victim").read_bytes() == b"precious"
    for n in ("walk.json", "clip.json", "clip.mp4"):
        assert (out / n).is_file() and not (out / n).is_symlink(), n
    assert (out / "clip.mp4").stat().st_size > 1000
    assert (out / ".walk.json.tmp").is_symlink() and (out / ".clip.tmp.mp4").is_symlink()  # left as they were


def test_a_linked_manifest_or_ledger_gets_nothing_outside_the_folder(tmp_path):
    outside_manifest, outside_ledger = tmp_path / "manifest.jsonl", tmp_path / "ledger.json"
    outside_manifest.write_text("")
    outside_ledger.write_text('{"files": {}}')
    _img(tmp_path / "walk.jpg")
    out = tmp_path / "o"
    out.mkdir()
    (out / MANIFEST).symlink_to(outside_manifest)
    (out / LEDGER).symlink_to(outside_ledger)
    run_predict(Fake(), [tmp_path / "walk.jpg"], _opts(out))
    assert outside_manifest.read_text() == "" and outside_ledger.read_text() == '{"files": {}}'
    assert not (out / LEDGER).is_symlink()  # replaced by the folder's own ledger
    assert "walk.json" in json.loads((out / LEDGER).read_text())["files"]


def test_a_link_at_an_output_name_is_refused_and_with_overwrite_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    _img(tmp_path / "walk.jpg")
    out = tmp_path / "o"
    out.mkdir()
    (out / "walk.json").symlink_to(victim)
    with pytest.raises(InputError, match="walk.json"):
        run_predict(Fake(), [tmp_path / "walk.jpg"], _opts(out))
    run_predict(Fake(), [tmp_path / "walk.jpg"], _opts(out, overwrite=True))
    assert victim.read_text() == "precious" and not (out / "walk.json").is_symlink()


# ------------------------------------------------------------------------------------ one run at a time


def _hold_child(out: str, inputs: list, started: str, go: str) -> None:
    """(In a subprocess) predict ``inputs`` into ``out``, stopping at the first image until ``go`` exists."""

    def hook(name):
        Path(started).touch()
        t0 = time.monotonic()
        while not Path(go).exists() and time.monotonic() - t0 < 120:
            time.sleep(0.02)

    res = run_predict(Fake(hook), inputs, _opts(out))
    print(json.dumps({"outputs": res["outputs"], "errors": res["errors"], "write_errors": res["write_errors"]}))


def _python(code: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def _wait_for(path: Path, proc: subprocess.Popen, what: str, limit: float = 180.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the child ended before {what}: {proc.communicate()}")
        if time.monotonic() - t0 > limit:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_a_second_run_into_a_folder_in_use_is_refused_in_one_line(tmp_path, capsys, monkeypatch):
    """Two predict runs into one --out at once: the second is refused (no lost people in the COCO results, no
    writer of one failing on the other's temporary file); the first finishes with all of its outputs."""
    for k in range(3):
        _img(tmp_path / f"a{k}.jpg", 40 + 30 * k)
    _img(tmp_path / "b.jpg", 200)
    out, started, go = tmp_path / "out", tmp_path / "started", tmp_path / "go"
    inputs = [str(tmp_path / f"a{k}.jpg") for k in range(3)]
    child = _python("from tests.test_predict_faults import _hold_child; "
                    f"_hold_child({str(out)!r}, {inputs!r}, {str(started)!r}, {str(go)!r})")
    try:
        _wait_for(started, child, "the first run to start")
        code, err = _cli(capsys, monkeypatch, Fake(), tmp_path / "b.jpg", "--out", out)
        line = _one_line(err)
        assert code != 0 and "in use by another cdlpose run" in line and f"pid {child.pid}" in line, line
        with pytest.raises(FolderBusy):
            run_predict(Fake(), [tmp_path / "b.jpg"], _opts(out))
    finally:
        go.touch()
        stdout, stderr = child.communicate(timeout=180)
    assert child.returncode == 0, stderr
    assert json.loads(stdout.splitlines()[-1]) == {"outputs": ["a0", "a1", "a2"], "errors": [], "write_errors": []}
    results = json.loads((out / COCO_RESULTS).read_text())
    assert len(results) == 3 and not (out / "b.json").exists()  # every person of the run that held the folder
    assert not (out / LOCK).exists() and (out / COMPLETE).is_file() and not _temporaries(out)
    # now free: the second run goes through and the results hold both runs' people
    assert run_predict(Fake(), [tmp_path / "b.jpg"], _opts(out))["outputs"] == ["b"]
    assert len(json.loads((out / COCO_RESULTS).read_text())) == 4


# -------------------------------------------------------------------------------------------------- Ctrl-C


def _interrupt_child(args: list, ready: str, stop_at: str) -> None:
    """(In a subprocess) ``cdlpose predict ARGS`` with the fake predictor, which stops (sleeps) when it reaches
    the image named ``stop_at`` after saying so in the file ``ready``: the test then sends SIGINT."""
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    from cdlpose.inference import Predictor

    def hook(name):
        if stop_at in name:
            Path(ready).touch()
            time.sleep(120)

    Predictor.from_checkpoint = staticmethod(lambda *a, **k: Fake(hook))
    sys.exit(cli_main(["predict", "--checkpoint", "fake.pt", "--no-progress", *args]))


def test_ctrl_c_keeps_what_was_finished_recorded_and_leaves_no_temporary(tmp_path):
    """SIGINT in the middle of a video (its MP4 half written into a temporary file): the images done before are
    written and recorded, the COCO results hold them, the video has nothing, no temporary file is left, the
    folder is released and not marked complete; one line and exit status 130."""
    p0, p1 = _img(tmp_path / "p0.jpg", 60), _img(tmp_path / "p1.jpg", 120)
    _vfr_video(tmp_path / "clip.mp4", [0.04 * k for k in range(6)], [30 * k for k in range(6)])
    out, ready = tmp_path / "out", tmp_path / "ready"
    args = [str(p0), str(p1), str(tmp_path / "clip.mp4"), "--out", str(out), "--batch-size", "1"]
    child = _python("from tests.test_predict_faults import _interrupt_child; "
                    f"_interrupt_child({args!r}, {str(ready)!r}, 'clip.mp4 frame 2')")
    try:
        _wait_for(ready, child, "the video's third frame")
        assert [p.name for p in out.glob(".clip*.mp4")], "the MP4 was being written"
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, stderr
    line = _one_line(stderr)
    assert line.startswith("cdlpose predict: interrupted") and "2 of 3 inputs were written" in line, line
    assert not _temporaries(out) and not (out / LOCK).exists() and not (out / COMPLETE).exists()
    assert not (out / "clip.mp4").exists() and not (out / "clip.json").exists()
    folder = OutputFolder(out, "test")
    folder.release()
    for p in (p0, p1):
        for suffix in (".json", "_2d.jpg", "_3d.png", ".html"):
            assert folder.ours(p.stem + suffix, input_key(p)), p.stem + suffix
    assert folder.ours(COCO_RESULTS, RUN) and len(json.loads((out / COCO_RESULTS).read_text())) == 2
    # the next run finds the folder free and its own files replaceable
    res = run_predict(Fake(), [p0, p1, tmp_path / "clip.mp4"], _opts(out, images=True, viewer=True))
    assert sorted(res["outputs"]) == ["clip", "p0", "p1"] and (out / COMPLETE).is_file()


def test_ctrl_c_from_inside_run_predict_cleans_up_and_is_raised_on(tmp_path):
    for k in range(3):
        _img(tmp_path / f"p{k}.jpg", 50 * k + 20)
    out = tmp_path / "out"

    def hook(name):
        if name.endswith("p2.jpg"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt, match=r"2 of 3 inputs were written to .*out"):
        run_predict(Fake(hook), sorted(tmp_path.glob("p*.jpg")), _opts(out, batch_size=1, images=True))
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted([
        "p0.json", "p0_2d.jpg", "p0_3d.png", "p1.json", "p1_2d.jpg", "p1_3d.png", COCO_RESULTS,
        "predictions.coco.image_ids.json"])
    assert not _temporaries(out) and not (out / LOCK).exists() and not (out / COMPLETE).exists()
    ledger = json.loads((out / LEDGER).read_text())["files"]
    assert {"p0.json", "p1_3d.png", COCO_RESULTS} <= set(ledger) and "p2.json" not in ledger


def test_a_failed_write_leaves_the_folder_not_marked_complete(tmp_path):
    _img(tmp_path / "a.jpg")
    out = tmp_path / "out"
    run_predict(Fake(), [tmp_path / "a.jpg"], _opts(out))
    assert (out / COMPLETE).is_file()
    (out / "a_2d.jpg").mkdir()  # a folder where an output goes
    res = run_predict(Fake(), [tmp_path / "a.jpg"], _opts(out, images=True, overwrite=True))
    assert res["write_errors"] and not (out / COMPLETE).exists()


# --------------------------------------------------------------------------------- a bomb among good images


def test_a_decompression_bomb_in_a_folder_is_reported_and_the_good_images_are_written(tmp_path, capsys,
                                                                                      monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    _img(photos / "a.jpg", 60), _img(photos / "c.png", 120)
    _bomb_png(photos / "b.png")
    out = tmp_path / "out"
    res = run_predict(Fake(), [photos], _opts(out, batch_size=4))
    assert sorted(res["outputs"]) == ["a", "c"]
    assert [(Path(p).name, "claims 400 megapixels" in m) for p, m in res["errors"]] == [("b.png", True)]
    assert (out / "a.json").is_file() and (out / "c.json").is_file() and not (out / "b.json").exists()
    # the command line: the good images written, the bomb named, exit status 3, no traceback
    code, err = _cli(capsys, monkeypatch, Fake(), photos, "--out", tmp_path / "out2", "--json-only")
    assert code == 3 and "Traceback" not in err, err
    assert "skipped" in err and "b.png" in err and "claims 400 megapixels" in err
    assert sorted(p.name for p in (tmp_path / "out2").glob("[!.]*.json")) == [
        "a.json", "c.json", "predictions.coco.image_ids.json", COCO_RESULTS]


# --------------------------------------------------------------------------------- variable frame rate


TIMES = [0.0, 0.04, 0.08, 0.30, 0.34, 0.90, 0.95, 1.00, 1.60]  # a phone's clip: frames dropped, bunched
LEVELS = [20, 40, 60, 80, 100, 150, 160, 170, 220]


@pytest.mark.parametrize("fmt", ["mp4", "matroska"])
def test_a_variable_frame_rate_video_gets_the_containers_times_and_one_euro_the_true_dt(tmp_path, fmt):
    """time_s is each frame's timestamp in the container (not index / average rate) and the One-Euro filter is
    run with the time between samples (not 1 / average rate). Matroska lists no frame count: the video is not
    taken for a truncated one."""
    video = _vfr_video(tmp_path / f"walk.{'mp4' if fmt == 'mp4' else 'mkv'}", TIMES, LEVELS, fmt)
    opts = _opts(tmp_path / "o", smooth=True, min_cutoff=1.0, beta=0.0)
    res = run_predict(Fake(), [video], opts)
    assert res["outputs"] == ["walk"] and not res["errors"], res
    data = json.loads((tmp_path / "o" / "walk.json").read_text())
    assert [f["time_s"] for f in data["frames"]] == TIMES
    raw = np.array([f["people"][0]["keypoints_3d"] for f in data["frames"]])
    smoothed = np.array([f["people"][0]["keypoints_3d_smoothed"] for f in data["frames"]])
    by_time, by_rate = OneEuroFilter(data["fps"], 1.0, 0.0), OneEuroFilter(data["fps"], 1.0, 0.0)
    want = np.array([by_time(x, t) for x, t in zip(raw, TIMES)])
    wrong = np.array([by_rate(x) for x in raw])
    assert np.abs(smoothed - want).max() < 0.3  # mm (the JSON rounds to 0.1 mm)
    assert np.abs(smoothed - wrong).max() > 20  # the average rate would have smoothed differently


def test_a_truncated_matroska_video_is_still_reported(tmp_path):
    """Matroska lists no frame count (OpenCV's is duration × average rate): a truncated one is told by its last
    frame's time against the container's duration, and the whole file goes through."""
    times = [k / 25 for k in range(100)]
    video = _vfr_video(tmp_path / "long.mkv", times, [int(v) for v in np.linspace(10, 240, 100)], "matroska",
                       size=(320, 240))
    data = video.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: int(len(data) * 0.5)])
    res = run_predict(Fake(), [tmp_path / "cut.mkv", video], _opts(tmp_path / "o"))
    assert res["outputs"] == ["long"] and len(res["errors"]) == 1, res
    assert res["errors"][0][0] == str(tmp_path / "cut.mkv")
    assert "truncated or damaged: its frames end at" in res["errors"][0][1]
