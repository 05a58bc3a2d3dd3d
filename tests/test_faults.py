"""What cdlpose promises when things go wrong: a user's file is never lost, and every bad input gets one clear line.

One test per promise (issue 16): the numbered data-loss and silently-wrong cases first, then each case that used to
end in a traceback, then ``cdlpose data check``. Commands run in-process through ``cdlpose.cli.main``: an exception
that escaped the one error path would fail the test itself.
"""

import errno
import json
import os
import shutil

import cv2
import numpy as np
import pytest
import torch

import cdlpose.checkpoint as ckpt_mod
from cdlpose.checkpoint import OutputError, load_checkpoint, save_checkpoint
from cdlpose.cli import main as cli_main
from cdlpose.config import ConfigError, config_to_dict, load_config
from cdlpose.data.synthetic import SyntheticHumans, render_sample
from cdlpose.detection import read_detections
from cdlpose.engine import Trainer

from .test_engine import tiny


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A one-step tiny training run (its folder, checkpoint and config file)."""
    tmp = tmp_path_factory.mktemp("faults")
    cfg = tiny(tmp, epochs=1)
    Trainer(cfg, max_steps=1, device="cpu").fit()
    yaml_path = tmp / "tiny.yaml"
    import yaml

    yaml_path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    return {"dir": tmp / "run", "ckpt": tmp / "run" / "last.pt", "cfg": cfg, "yaml": yaml_path}


def _img(path, index=0):
    cv2.imwrite(str(path), render_sample(index, "test")["image"][..., ::-1])
    return path


def _cli(capsys, *args):
    """Exit status and stderr of ``cdlpose ARGS`` (stdout is dropped)."""
    code = cli_main([str(a) for a in args])
    err = capsys.readouterr().err
    return code, err


def _one_line_error(err):
    # notes said before a run starts (e.g. predict's whole-image note) are not part of the error
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("note: ")]
    assert len(lines) == 1 and lines[0].startswith("cdlpose ") and ": error: " in lines[0], err
    assert "Traceback" not in err
    return lines[0]


# ------------------------------------------------------------------------------------- 1–4: data loss


def test_1_predict_never_replaces_a_file_it_did_not_write_for_that_input(run, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    _img(folder / "walk.jpg")
    (folder / "walk_2d.jpg").write_bytes(b"the user's own picture")
    _img(folder / "img001.jpg", 1)
    (folder / "img001.json").write_text('{"labelme": "the user\'s labels"}')
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], folder, "--out", folder, "--no-progress")
    line = _one_line_error(err)
    assert code == 2 and "walk_2d.jpg" in line and "img001.json" in line and "--overwrite" in line
    assert (folder / "walk_2d.jpg").read_bytes() == b"the user's own picture"
    assert json.loads((folder / "img001.json").read_text()) == {"labelme": "the user's labels"}
    assert sorted(p.name for p in folder.iterdir()) == ["img001.jpg", "img001.json", "walk.jpg", "walk_2d.jpg"]

    # its own outputs for the same input are replaced on a re-run; another input's are not
    out = tmp_path / "out"
    for _ in range(2):
        code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], folder / "walk.jpg", "--out", out,
                         "--no-progress")
        assert code == 0, err
    other = tmp_path / "elsewhere"
    other.mkdir()
    _img(other / "walk.jpg", 2)
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], other / "walk.jpg", "--out", out, "--no-progress")
    assert code == 2 and "walk.json" in _one_line_error(err)
    # asked for: --overwrite replaces them
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], other / "walk.jpg", "--out", out, "--no-progress",
                     "--overwrite")
    assert code == 0, err
    assert json.loads((out / "walk.json").read_text())["input"] == str(other / "walk.jpg")


def test_1_outputs_of_an_earlier_run_are_not_taken_as_inputs(run, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    _img(folder / "walk.jpg")
    for _ in range(2):
        code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], folder, "--out", folder, "--no-progress",
                         "--no-viewer")
        assert code == 0, err
    assert not (folder / "walk_2d_2d.jpg").exists()  # walk_2d.jpg, cdlpose's own output, was no input


def test_2_train_refuses_an_existing_run_folder(run, capsys):
    logs = {n: (run["dir"] / n).read_bytes() for n in ("log.jsonl", "epochs.jsonl", "last.pt")}
    with pytest.raises(ConfigError, match=r"holds an earlier run.*--resume.*train.out_dir.*--overwrite"):
        Trainer(run["cfg"], device="cpu")
    code, err = _cli(capsys, "train", run["yaml"], "--device", "cpu")
    line = _one_line_error(err)
    assert code == 2 and "--resume" in line and "train.out_dir" in line and "--overwrite" in line
    assert {n: (run["dir"] / n).read_bytes() for n in logs} == logs  # nothing truncated or replaced


def test_2_train_overwrite_starts_afresh(tmp_path):
    cfg = tiny(tmp_path, epochs=1)
    Trainer(cfg, max_steps=1, device="cpu").fit()
    (tmp_path / "run" / "best.pt").write_bytes(b"an old best model")
    Trainer(cfg, max_steps=1, device="cpu", overwrite=True)
    assert not (tmp_path / "run" / "best.pt").exists() and not (tmp_path / "run" / "log.jsonl").exists()


def test_3_export_refuses_to_replace_the_checkpoint_or_a_foreign_file(run, tmp_path, capsys):
    ck = tmp_path / "x.pt"
    shutil.copy(run["ckpt"], ck)
    before = ck.read_bytes()
    code, err = _cli(capsys, "export", "--checkpoint", ck, "--out", ck, "--no-check", "--overwrite")
    assert code == 2 and "is the checkpoint itself" in _one_line_error(err)  # not even when asked
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    code, err = _cli(capsys, "export", "--checkpoint", ck, "--out", notes, "--no-check")
    line = _one_line_error(err)
    assert code == 2 and "not an .onnx file" in line and "did not write" in line and "--overwrite" in line
    # an .onnx file cdlpose did not write (the user's own model) is not replaced either: judged by the folder's
    # ledger, not by the name
    theirs = tmp_path / "theirs.onnx"
    theirs.write_bytes(b"somebody's ONNX model")
    for fmt in ("onnx", "weights"):
        code, err = _cli(capsys, "export", "--checkpoint", ck, "--out", theirs, "--format", fmt, "--no-check")
        assert code == 2 and "cdlpose did not write it" in _one_line_error(err)
    assert ck.read_bytes() == before and notes.read_text() == "mine"
    assert theirs.read_bytes() == b"somebody's ONNX model"


def test_3_export_replaces_its_own_file_and_others_only_when_asked(run, tmp_path, capsys):
    out = tmp_path / "w.pt"
    for _ in range(2):  # an earlier export of cdlpose's, as it left it: replaced
        code, err = _cli(capsys, "export", "--checkpoint", run["ckpt"], "--format", "weights", "--out", out)
        assert code == 0, err
    with open(out, "ab") as fh:  # changed since: no longer cdlpose's
        fh.write(b"an edit")
    code, err = _cli(capsys, "export", "--checkpoint", run["ckpt"], "--format", "weights", "--out", out)
    assert code == 2 and "did not write" in _one_line_error(err)
    # a link at --out: refused, and with --overwrite replaced, never written through
    victim = tmp_path / "victim.pt"
    victim.write_bytes(b"precious")
    link = tmp_path / "link.pt"
    link.symlink_to(victim)
    code, err = _cli(capsys, "export", "--checkpoint", run["ckpt"], "--format", "weights", "--out", link)
    assert code == 2 and "did not write" in _one_line_error(err)
    code, err = _cli(capsys, "export", "--checkpoint", run["ckpt"], "--format", "weights", "--out", link,
                     "--overwrite")
    assert code == 0, err
    assert victim.read_bytes() == b"precious" and not link.is_symlink()
    assert load_checkpoint(link)["weights_only"] is True


def test_3_onnx_export_writes_through_no_planted_temporary_link(run, tmp_path, capsys):
    pytest.importorskip("onnxscript")
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")
    out = tmp_path / "o" / "model.onnx"
    out.parent.mkdir()
    (out.parent / ".model.onnx.tmp").symlink_to(victim)  # the old fixed temporary name
    code, err = _cli(capsys, "export", "--checkpoint", run["ckpt"], "--out", out, "--no-check")
    assert code == 0, err
    assert victim.read_bytes() == b"precious" and out.stat().st_size > 1000
    assert sorted(p.name for p in out.parent.iterdir() if not p.name.startswith(".cdlpose")) == [
        ".model.onnx.tmp", "model.onnx"]  # no temporary of its own left behind
    code, err = _cli(capsys, "export", "--checkpoint", run["ckpt"], "--out", out, "--no-check")
    assert code == 0, err  # its own earlier export: replaced


def test_4_a_failed_write_names_the_file_and_the_cause(run, tmp_path, capsys):
    _img(tmp_path / "a.jpg")
    out = tmp_path / "out"
    (out / "a_2d.jpg").mkdir(parents=True)  # a folder has the output's name
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "a.jpg", "--out", out,
                     "--no-progress")
    assert code == 2 and "a_2d.jpg" in _one_line_error(err)  # refused before writing anything
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "a.jpg", "--out", out,
                     "--no-progress", "--overwrite")
    assert code == 4 and "not written" in err and "a_2d.jpg" in err and "is a directory" in err


def _disk_full_open(real_open, under):
    """``open`` whose files under ``under`` fail to write with ENOSPC, as on a full disk."""

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fake(path, mode="r", *a, **k):
        fh = real_open(path, mode, *a, **k)
        return Full(fh) if "w" in mode and str(path).startswith(str(under)) else fh

    return fake


def test_4_a_full_disk_stops_predict_with_exit_status_4(run, tmp_path, capsys, monkeypatch):
    for k in range(2):
        _img(tmp_path / f"p{k}.jpg", k)
    out = tmp_path / "out"
    monkeypatch.setattr(ckpt_mod, "open", _disk_full_open(open, out), raising=False)
    # atomic writes go through a new temporary file (mkstemp) opened with os.fdopen: those under out/ fail too
    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *a, **k):
        fh = real_fdopen(fd, mode, *a, **k)
        where = os.readlink(f"/proc/self/fd/{fd}") if os.path.exists(f"/proc/self/fd/{fd}") else ""
        return _disk_full_open(lambda *_a, **_k: fh, out)(where, mode) if "w" in mode else fh

    monkeypatch.setattr(ckpt_mod.os, "fdopen", fdopen)
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "p0.jpg", tmp_path / "p1.jpg",
                     "--out", out, "--no-progress")
    assert code == 4, err
    assert "no space left on device" in err and str(out / "p0.json") in err and "Traceback" not in err
    assert "p1" not in err  # the run stopped: the rest would fail the same way
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # no temporary left


# ----------------------------------------------------------------------------------- 5–8: silently wrong


def test_5_coco_numeric_image_ids_match_coco_file_names(run, tmp_path, capsys):
    (tmp_path / "d.json").write_text(json.dumps([
        {"image_id": 785, "bbox": [10, 20, 100, 200], "score": 0.9, "category_id": 1},
        {"image_id": 99, "bbox": [1, 2, 30, 40], "score": 0.9}]))
    dets = read_detections(tmp_path / "d.json")
    assert dets.boxes_for(tmp_path / "000000000785.jpg") == [[10, 20, 100, 200]]
    assert dets.boxes_for(tmp_path / "000000000786.jpg") == []
    assert dets.unmatched() == ["image_id 99"]  # an id that matched no input
    # through the command: the matched image gets its person; the rest is reported, not silently empty
    _img(tmp_path / "000000000785.jpg")
    _img(tmp_path / "holiday.jpg", 1)
    out = tmp_path / "out"
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "000000000785.jpg",
                     tmp_path / "holiday.jpg", "--out", out, "--detections", tmp_path / "d.json", "--json-only",
                     "--no-viewer", "--no-progress")
    assert code == 0, err
    assert [p["box"] for p in json.loads((out / "000000000785.json").read_text())["people"]] == [[10, 20, 100, 200]]
    assert json.loads((out / "holiday.json").read_text())["people"] == []
    assert "1 image(s) got no person box" in err and "holiday.jpg" in err
    assert "1 image(s) of" in err and "image_id 99" in err and "match no input" in err


def test_5_real_coco_detections_with_and_without_the_image_list(run, shared_dir, tmp_path, capsys):
    coco = shared_dir / "fixtures" / "coco"
    det, images = coco / "test_coco_det_AP_H_56.json", coco / "test_coco.json"
    if not det.is_file() or not images.is_file():
        pytest.skip(f"{coco} has no COCO detections fixture")
    raw = json.loads(det.read_text())
    for name in ("000000000785.jpg", "000000040083.jpg"):
        shutil.copy(coco / name, tmp_path / name)
    expected = {i: sum(d["image_id"] == i and d["score"] >= 0.5 for d in raw) for i in (785, 40083)}
    assert all(expected.values())
    for extra in ([], ["--image-list", images]):
        out = tmp_path / f"out{len(extra)}"
        code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "000000000785.jpg",
                         tmp_path / "000000040083.jpg", "--out", out, "--detections", det, "--json-only",
                         "--no-viewer", "--no-progress", *extra)
        assert code == 0, err
        for i, n in expected.items():
            assert len(json.loads((out / f"{i:012d}.json").read_text())["people"]) == n
        # the file's other two images matched no input: reported
        assert "2 image(s)" in err and "match no input" in err and "196141" in err


def test_6_truncated_jpeg_and_video_are_reported(run, tmp_path, capsys):
    good = _img(tmp_path / "good.jpg")
    data = good.read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    (tmp_path / "trailer.jpg").write_bytes(data + b"camera trailer after the image")  # valid: not flagged
    frames = [render_sample(i, "test")["image"] for i in range(8)]
    w = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (256, 256))
    for f in frames:
        w.write(np.ascontiguousarray(f[..., ::-1]))
    w.release()
    video = (tmp_path / "clip.avi").read_bytes()
    (tmp_path / "cut.avi").write_bytes(video[: int(len(video) * 0.6)])
    out = tmp_path / "out"
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "cut.jpg", tmp_path / "trailer.jpg",
                     tmp_path / "cut.avi", "--out", out, "--no-progress", "--json-only", "--no-viewer")
    assert code == 3
    assert "skipped" in err and "cut.jpg" in err and "truncated" in err
    assert "cut.avi" in err and "truncated or damaged" in err and "of the 8 frames" in err
    # the readable image's outputs and the run's combined COCO results; nothing for the damaged inputs
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "predictions.coco.image_ids.json", "predictions.coco.json", "trailer.json"]
    ids = json.loads((out / "predictions.coco.image_ids.json").read_text())["images"]
    assert [a["image_id"] for a in json.loads((out / "predictions.coco.json").read_text())] == [
        ids[str(tmp_path / "trailer.jpg")]]


def _strict_json(path):
    def no_constant(c):
        raise ValueError(f"{path} holds {c}")

    return json.loads(path.read_text(), parse_constant=no_constant)


def test_7_an_absurd_box_fails_its_image_only_and_bad_options_are_refused(run, tmp_path, capsys):
    _img(tmp_path / "x.jpg")
    _img(tmp_path / "y.jpg", 1)
    (tmp_path / "d.json").write_text(json.dumps([{"file_name": "x.jpg", "bbox": [0, 0, 1e10, 1e10], "score": 1},
                                                 {"file_name": "y.jpg", "bbox": [10, 10, 200, 230], "score": 1}]))
    out = tmp_path / "out"
    code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "x.jpg", tmp_path / "y.jpg",
                     "--out", out, "--detections", tmp_path / "d.json", "--no-progress")
    assert code == 3 and "x.jpg box 0" in err and "far beyond" in err and "Traceback" not in err
    assert len(_strict_json(out / "y.json")["people"]) == 1 and not (out / "x.json").exists()
    for opt in (["--focal", 0, 0], ["--focal", "nan", 1000], ["--min-score", 2], ["--box", 0, 0, "inf", 10]):
        code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "x.jpg", "--out",
                         tmp_path / "o2", *opt)
        assert code == 2 and opt[0] in _one_line_error(err)


def test_7_predictions_are_written_as_strict_json(monkeypatch, tmp_path):
    from cdlpose.inference import InputError
    from cdlpose.predict.records import json_text

    assert json.loads(json_text({"a": [1.5]}, "x")) == {"a": [1.5]}
    with pytest.raises(InputError, match="x.jpg: the prediction holds NaN"):
        json_text({"a": [float("nan")]}, "x.jpg")


def test_8_config_numbers_in_scientific_notation_and_ranges(tmp_path):
    assert load_config(None, ["train.lr=5e-4"]).train.lr == 5e-4
    p = tmp_path / "c.yaml"
    p.write_text("train: {lr: 5e-4, weight_decay: 1E-5}\n")
    cfg = load_config(p)
    assert (cfg.train.lr, cfg.train.weight_decay) == (5e-4, 1e-5)
    for bad, msg in (("train.lr=-0.1", r"train.lr: expected a value > 0"),
                     ("train.workers=-1", r"train.workers: expected a value ≥ 0"),
                     ("train.lr=.nan", r"train.lr: expected a finite number"),
                     ("augment.flip_prob=1.5", r"augment.flip_prob: expected a value in \[0.0, 1.0\]")):
        with pytest.raises(ConfigError, match=msg):
            load_config(None, [bad])
    p.write_text("train: {workers: -1}\n")
    with pytest.raises(ConfigError, match=r"c.yaml: train.workers: expected a value ≥ 0, got -1"):
        load_config(p)


# ------------------------------------------------------------------------- tracebacks → one line, status 2


def test_bad_foreign_or_missing_checkpoint(run, tmp_path, capsys):
    rnd = tmp_path / "random.pt"
    rnd.write_bytes(np.random.default_rng(0).bytes(4000))
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(2)}}, foreign)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(run["ckpt"].read_bytes()[:5000])
    for path, msg in ((rnd, "not a loadable cdlpose checkpoint"), (foreign, "is not a cdlpose checkpoint"),
                      (cut, "truncated or corrupt"), (tmp_path / "none.pt", "checkpoint not found")):
        for cmd in (["export", "--checkpoint", path, "--out", tmp_path / "m.onnx"],
                    ["evaluate", "--checkpoint", path, "--device", "cpu"]):
            code, err = _cli(capsys, *cmd)
            line = _one_line_error(err)
            assert code == 2 and msg in line and str(path) in line
            assert "weights_only" not in line  # never torch's advice to load it unsafely


def test_checkpoint_without_config_or_with_weights_of_another_shape(run, tmp_path, capsys):
    state = load_checkpoint(run["ckpt"])
    no_cfg = tmp_path / "no_cfg.pt"
    save_checkpoint({k: v for k, v in state.items() if k != "config"}, no_cfg)
    other = tmp_path / "other.pt"
    cfg = dict(state["config"], model=dict(state["config"]["model"], depth_bins=32),
               codec=dict(state["config"]["codec"], depth_bins=32))
    save_checkpoint(dict(state, config=cfg), other)
    for path, msg in ((no_cfg, "has no 'config'"), (other, "do not fit the network")):
        code, err = _cli(capsys, "export", "--checkpoint", path, "--out", tmp_path / "m.onnx", "--no-check")
        assert code == 2 and msg in _one_line_error(err)


def test_malformed_yaml_and_missing_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: [0.1\n  epochs: 3\n")
    code, err = _cli(capsys, "train", bad)
    line = _one_line_error(err)
    assert code == 2 and "bad.yaml: not valid YAML" in line and "line" in line
    code, err = _cli(capsys, "train", tmp_path / "none.yaml")
    assert code == 2 and "config file not found" in _one_line_error(err)
    code, err = _cli(capsys, "data", "check", bad)
    assert code == 2 and "not valid YAML" in _one_line_error(err)


def test_every_missing_data_path_is_listed(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("data:\n  root: " + str(tmp_path) + "\n  datasets:\n"
                   "    - {format: mpii, annotations: mpii/train.json, role: train}\n"
                   "    - {format: coco, annotations: coco/person_keypoints.json, images: coco/img, role: train}\n"
                   "    - {format: h36m-moon, root: Human36M, subjects: [S9], role: test}\n")
    code, err = _cli(capsys, "train", cfg, "--device", "cpu")
    line = _one_line_error(err)
    # one short line: the first missing path, how many more, and the fix — not a 2,000-character list
    assert code == 2 and "7 data paths not found: data.datasets[0].annotations:" in line
    assert "mpii/train.json" in line and "and 6 more data paths" in line and "--set data.root=" in line
    assert "datasets[2].root" not in line and len(line) - len(str(tmp_path)) < 350
    # `data check` lists every one of them
    code = cli_main(["data", "check", str(cfg)])
    out = capsys.readouterr()
    for needed in ("datasets[0]", "mpii/train.json", "datasets[1]", "datasets[2]", "Human36M_subject9_data.json"):
        assert needed in out.out + out.err


def test_unknown_data_check_format(tmp_path, capsys):
    cfg = tmp_path / "data.yaml"
    cfg.write_text("datasets:\n  - {format: h36m}\n  - {format: coco}\n")
    code = cli_main(["data", "check", str(cfg)])
    out = capsys.readouterr()
    assert code == 2 and "Traceback" not in out.err
    assert "field 'format': expected one of" in out.out and "'h36m'" in out.out
    assert "datasets[1]" in out.out and "field 'annotations': missing" in out.out  # both entries reported


def test_detections_with_a_text_score_or_a_list_id(run, tmp_path, capsys):
    _img(tmp_path / "x.jpg")
    for entry, field in (({"file_name": "x.jpg", "bbox": [1, 2, 30, 40], "score": "high"}, "score"),
                         ({"image_id": [1, 2], "bbox": [1, 2, 30, 40], "score": 0.9}, "image_id")):
        (tmp_path / "d.json").write_text(json.dumps([entry]))
        code, err = _cli(capsys, "predict", "--checkpoint", run["ckpt"], tmp_path / "x.jpg", "--out", tmp_path / "o",
                         "--detections", tmp_path / "d.json")
        line = _one_line_error(err)
        assert code == 2 and "d.json: entry 0" in line and f"field '{field}'" in line


def test_a_corrupt_synthetic_cache_file_is_named(run, tmp_path, capsys):
    cache = tmp_path / "cache"
    ds = SyntheticHumans("train", 8, 0, cache)
    for i in range(8):
        ds[i]
    for f in cache.rglob("*.npz"):
        f.write_bytes(f.read_bytes()[:300])  # cut short
    path = next(cache.rglob("0000000.npz"))
    from cdlpose.data.sample import DataError

    with pytest.raises(DataError, match=r"0000000.npz: record train sample 0: field 'cache file': corrupt"):
        SyntheticHumans("train", 8, 0, cache)[0]
    cfg = tiny(tmp_path, epochs=1, extra=[f"train.out_dir={tmp_path / 'r'}"])
    cfg.data.datasets[0]["cache_dir"] = str(cache)
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config_to_dict(cfg)))
    code, err = _cli(capsys, "train", tmp_path / "c.yaml", "--device", "cpu", "--max-steps", "1")
    line = _one_line_error(err)
    assert code == 2 and str(path.parent) in line and ".npz" in line and "corrupt synthetic-cache file" in line
    # met in a DataLoader worker process (torch re-raises it with the worker's traceback in the message)
    code, err = _cli(capsys, "train", tmp_path / "c.yaml", "--device", "cpu", "--max-steps", "1", "--overwrite",
                     "--set", "train.workers=1")
    line = _one_line_error(err)
    assert code == 2 and str(path.parent) in line and "corrupt synthetic-cache file" in line
    assert "Original Traceback" not in line and "worker" not in line


def test_a_non_finite_loss_stops_training_with_its_message(tmp_path, capsys, monkeypatch):
    import cdlpose.engine as engine

    real = engine.compute_losses

    def nan_losses(*a, **k):
        out = real(*a, **k)
        out["integral"] = out["integral"] * float("nan")
        return out

    monkeypatch.setattr(engine, "compute_losses", nan_losses)
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config_to_dict(tiny(tmp_path, epochs=1))))
    code, err = _cli(capsys, "train", tmp_path / "c.yaml", "--device", "cpu")
    line = _one_line_error(err)
    assert code == 1 and "non-finite loss at step 1" in line and "'integral' = nan" in line


def test_a_full_disk_during_a_checkpoint_save(tmp_path, capsys, monkeypatch):
    real_fdopen = ckpt_mod.os.fdopen

    class Full:
        def __init__(self, fh):
            self.fh, self.n = fh, 0

        def write(self, data):
            self.n += 1
            if self.n > 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.fh.write(data)

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    path = tmp_path / "last.pt"
    save_checkpoint({"epoch": 1, "w": torch.zeros(1000)}, path)
    monkeypatch.setattr(ckpt_mod.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    with pytest.raises(OutputError, match=r"cannot write .*last.pt: no space left on device") as e:
        save_checkpoint({"epoch": 2, "w": torch.zeros(100000)}, path)
    assert e.value.errno == errno.ENOSPC and "inline_container" not in str(e.value)
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1 and [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    # through `cdlpose train`: one line, exit status 4, and the way on
    monkeypatch.setattr(ckpt_mod.os, "fdopen", lambda fd, mode: Full(real_fdopen(fd, mode)))
    import yaml

    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config_to_dict(tiny(tmp_path, epochs=1))))
    code, err = _cli(capsys, "train", tmp_path / "c.yaml", "--device", "cpu", "--max-steps", "1")
    line = _one_line_error(err)
    assert code == 4 and "no space left on device" in line and "--resume" in line


def test_temporaries_of_a_killed_save_are_removed_by_the_next(tmp_path):
    path = tmp_path / "last.pt"
    (tmp_path / ".last.pt.k1ll3d.tmp").write_bytes(b"half a checkpoint")
    (tmp_path / ".best.pt.x.tmp").write_bytes(b"another file's temporary")
    save_checkpoint({"epoch": 1}, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".best.pt.x.tmp", "last.pt"]


# ------------------------------------------------------------------------- data check: every problem at once


def test_data_check_reports_every_problem_with_file_record_and_field(tmp_path, capsys):
    kp = [10.0, 10.0, 2.0] * 17
    coco = {"images": [{"id": 1, "file_name": "a.jpg"}, {"file_name": "no_id.jpg"}, {"id": 1, "file_name": "b.jpg"}],
            "annotations": [
                {"id": 1, "image_id": 1, "keypoints": kp, "bbox": [0, 0, 50, 50]},
                {"id": 2, "image_id": 1, "keypoints": kp[:-3], "bbox": [0, 0, 50, 50]},  # 16 joints
                {"id": 3, "image_id": 1, "bbox": [0, 0, 50, 50]},  # no keypoints
                {"id": 4, "image_id": 1, "keypoints": ["abc"] + kp[1:], "bbox": [0, 0, 50, 50]},
                {"image_id": 1, "keypoints": kp, "bbox": [0, 0, 50, 50]},  # no id
                {"id": 1, "image_id": 1, "keypoints": kp, "bbox": [0, 0, 50, 50]},  # duplicate id
                {"id": 6, "image_id": 1, "keypoints": kp, "bbox": [0, 0, 0, 50]}]}  # zero-width box
    (tmp_path / "coco.json").write_text(json.dumps(coco))
    joints = [[5.0, 5.0]] * 16
    mpii = [{"image": "m.jpg", "joints": joints, "joints_vis": [1] * 16, "center": [50, 50], "scale": 1.0},
            {"image": "m.jpg", "joints": [[float("nan"), 1.0]] + joints[1:], "joints_vis": [1] * 16,
             "center": [50, 50], "scale": 1.0},
            {"image": "m.jpg", "joints_vis": [1] * 16, "center": [50, 50], "scale": 1.0},
            {"image": "m.jpg", "joints": joints[:15], "joints_vis": [1] * 16, "center": [50, 50], "scale": 1.0}]
    (tmp_path / "mpii.json").write_text(json.dumps(mpii))
    cfg = tmp_path / "data.yaml"
    cfg.write_text("datasets:\n  - {format: coco, annotations: coco.json}\n  - {format: mpii, annotations: mpii.json}\n")
    assert cli_main(["data", "check", str(cfg)]) == 1
    out = capsys.readouterr().out
    errors = [ln.strip()[len("error: "):] for ln in out.splitlines() if ln.strip().startswith("error: ")]
    expected = [
        ("coco.json", "images[1]", "id", "missing"),
        ("coco.json", "images[2]", "id", "duplicate image id 1"),
        ("coco.json", "record 2", "keypoints", "expected 17"),
        ("coco.json", "record 3", "keypoints", "missing"),
        ("coco.json", "record 4", "keypoints", "expected numbers"),
        ("coco.json", "annotations[4]", "id", "missing"),
        ("coco.json", "coco/1", "sample_id", "duplicate id"),
        ("coco.json", "coco/6", "box", "w, h > 0"),
        ("mpii.json", "record 1", "joints", "NaN"),
        ("mpii.json", "record 2", "joints", "missing"),
        ("mpii.json", "record 3", "joints", "expected 16"),
    ]
    for file, record, field, what in expected:
        hits = [e for e in errors if file in e and record in e and f"field '{field}'" in e and what in e]
        assert len(hits) == 1, (file, record, field, what, errors)
    assert len(errors) == len(expected), errors
    assert all(": record " in e and ": field '" in e for e in errors)  # every message names file, record, field
