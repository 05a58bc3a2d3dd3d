"""``cdlpose demo`` end to end with a tiny step budget (the report, its numbers, the exit status against the
threshold, the same metrics for the same seed), and the lifting block's pre-training on synthetic 2.5D inputs."""

import json
from pathlib import Path
import re

import numpy as np
import pytest
import torch

from cdlpose.cli import main as cli_main
from cdlpose.codec import depth_to_index
from cdlpose.data.pipeline import AugmentConfig, CropAugment
from cdlpose.data.synthetic import render_sample, sample_scene
from cdlpose.demo import lifting_examples, pretrain_lifting, sample_scenes
from cdlpose.evaluation import crop_camera
from cdlpose.model import LiftingBlock

TINY = ["--steps", "3", "--train-size", "64", "--test-size", "24"]


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    """The same tiny demo twice: a threshold no model reaches, and one every model reaches."""
    tmp = tmp_path_factory.mktemp("demo")
    runs = {}
    for name, ratio in (("strict", "1000"), ("lenient", "0.001")):
        rc = cli_main(["demo", "--out", str(tmp / name), *TINY, "--min-ratio", ratio])
        runs[name] = (rc, json.loads((tmp / name / "report.json").read_text()), tmp / name)
    return runs


def test_exit_status_follows_the_threshold(demo_runs):
    rc, report, out = demo_runs["strict"]
    assert rc == 1 and report["passed"] is False and report["min_ratio"] == 1000
    assert '<p class="verdict"><b>FAILED</b>' in (out / "index.html").read_text()
    rc, report, out = demo_runs["lenient"]
    assert rc == 0 and report["passed"] is True
    assert '<p class="verdict"><b>PASSED</b>' in (out / "index.html").read_text()


def test_same_seed_same_metrics(demo_runs):
    # a fixed amount of work: the two runs (other thresholds only) give identical numbers
    a, b = demo_runs["strict"][1], demo_runs["lenient"][1]
    for k in ("mpjpe", "pa_mpjpe", "mean_pose_mpjpe", "error_2d_px", "steps", "lifting_scenes"):
        assert a[k] == b[k], k
    assert a["steps"] == {"stage1": 3, "lifting_pretrain": 1, "stage2": 1, "finetune": 1}


def test_report_numbers_agree_with_the_metric_files(demo_runs, capsys):
    rc, report, out = demo_runs["strict"]
    metrics = json.loads((out / "metrics.json").read_text())
    # the headline and the table's Avg are one definition: every joint of every test frame, pooled
    assert report["mpjpe"] == pytest.approx(metrics["rows"]["cdlpose"]["Avg"])
    assert report["mean_pose_mpjpe"] == pytest.approx(metrics["rows"]["training-set mean pose"]["Avg"])
    assert metrics["summary"]["samples"] == 24 and report["train_size"] == 64 and report["input_size"] == 64
    for ext in ("csv", "md"):
        assert (out / f"metrics.{ext}").is_file()


def test_report_folder(demo_runs):
    _, report, out = demo_runs["lenient"]
    for stage in ("stage1", "stage2", "finetune"):
        assert (out / stage / "last.pt").is_file()
    ckpt = torch.load(out / "lifting" / "pretrained.pt", weights_only=True)
    assert "optimizer" not in ckpt and any(k.startswith("lifting.") for k in ckpt["model"])
    # stage 2 on the cached 2.5D estimates: one pass of 64 images = one batch of 64 per epoch, its 1 step
    epochs = [json.loads(x) for x in (out / "stage2" / "epochs.jsonl").read_text().splitlines()]
    assert [r["step"] for r in epochs] == [1]
    # then the whole network end to end from stage 2's checkpoint: 1 step of 16 images
    ft = torch.load(out / "finetune" / "last.pt", weights_only=True)
    t = ft["config"]["train"]
    assert t["finetune"] and t["stage"] == 2 and t["batch_size"] == 16 and t["cache_passes"] == 0
    assert Path(t["init_from"]) == out / "stage2" / "last.pt" and ft["step"] == 1
    page = (out / "index.html").read_text()
    figures = re.findall(r'src="(prediction_\d+\.png)"', page)
    assert len(figures) == 12 and all((out / f).stat().st_size > 1000 for f in figures)
    assert 'src="curves.png"' in page and (out / "curves.png").stat().st_size > 1000
    assert "training-set mean pose" in page and "Avg" in page


def test_lifting_examples_are_what_the_crop_pipeline_gives():
    aug = CropAugment("h36m17", AugmentConfig(input_size=64, rotation=0.0, occlusion_prob=0.0, scale=0.15))
    records = [sample_scene(i, "train", 0) for i in range(12)]
    params = [aug.sample_params(np.random.default_rng(i)) for i in range(12)]
    assert any(p["flip"] for p in params) and not all(p["flip"] for p in params)
    ref = [aug(r, params=p) for r, p in zip(records, params)]
    uvz, pose, camera = lifting_examples(
        np.stack([r["joints_2d"] for r in records]), np.stack([r["joints_3d"] for r in records]),
        np.stack([r["box"] for r in records]), 64, 32, 2000.0, np.array([p["scale"] for p in params]),
        np.array([p["flip"] for p in params]), f=np.stack([r["f"] for r in records]),
        c=np.stack([r["c"] for r in records]))
    assert np.allclose(uvz[..., :2], torch.stack([o["uv"] for o in ref]).numpy(), atol=1e-5)
    z_ref = depth_to_index(torch.stack([o["z"] for o in ref]), 32, 2000.0).numpy()
    assert np.allclose(uvz[..., 2], z_ref, atol=1e-4)
    assert np.allclose(pose, torch.stack([o["pose_3d"] for o in ref]).numpy(), atol=1e-3)
    # the crop camera of each (mirrored) crop, as the pipeline gives it to the lifting block
    assert np.allclose(camera, crop_camera({k: torch.stack([o[k] for o in ref]) for k in ("f", "c")}).numpy(),
                       atol=1e-3)


def test_scenes_are_the_rendered_samples_people():
    j2, j3, boxes, f, c = sample_scenes(3, "val", 2, start=5, workers=0)
    for k in range(3):
        s = render_sample(5 + k, "val", 2, style="plain")
        assert np.array_equal(j2[k], s["joints_2d"]) and np.array_equal(j3[k], s["joints_3d"])
        assert np.array_equal(boxes[k], s["box"]) and np.array_equal(f[k], s["f"]) and np.array_equal(c[k], s["c"])


def test_pretraining_learns_and_is_deterministic():
    scenes = sample_scenes(256, "train", 0, workers=0)
    j2, j3, boxes = (a[:64] for a in scenes[:3])
    uvz, pose = lifting_examples(j2, j3, boxes, 64, 32, 2000.0)

    def trained(steps):
        torch.manual_seed(0)
        block = LiftingBlock(17, 0, (16, 16), 32, hidden=128, blocks=1, dropout=0.0)
        return pretrain_lifting(block, scenes, steps, 64, 32, 2000.0, seed=0, batch_size=64).eval()

    def error(block):
        with torch.no_grad():
            return float(np.linalg.norm(block(torch.from_numpy(uvz)).numpy() - pose, axis=-1).mean())

    a, b = trained(60), trained(60)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert error(a) < 0.6 * error(trained(0))  # mm: far better than the untrained block's near-zero pose


def test_demo_options_are_checked_and_documented(tmp_path, capsys):
    from cdlpose.cli import build_parser
    from cdlpose.demo import DEMO_STEPS

    # one pass of the training images must fill stage 2's batch of 64: a clear error, exit 2, nothing written
    assert cli_main(["demo", "--out", str(tmp_path / "d"), "--train-size", "32"]) == 2
    assert "--train-size must be at least 64, got 32" in capsys.readouterr().err
    assert cli_main(["demo", "--out", str(tmp_path / "d"), "--steps", "0"]) == 2
    assert not (tmp_path / "d").exists()
    demo = build_parser()._subparsers._group_actions[0].choices["demo"]
    steps = next(a for a in demo._actions if a.dest == "steps")
    assert f"(default {DEMO_STEPS}:" in steps.help


# --- the demo's folder under the output-folder policy (issue 31) --------------------------------------------------

def _demo_cli(capsys, out, *extra):
    code = cli_main(["demo", "--out", str(out), *TINY, "--min-ratio", "0.001", *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize("name", ["index.html", "report.json", "curves.png", "prediction_03.png"])
def test_a_users_report_file_in_out_is_refused_before_any_work(tmp_path, capsys, name):
    out = tmp_path / "d"
    out.mkdir()
    (out / name).write_bytes(b"the user's own file")
    code, err = _demo_cli(capsys, out)
    assert code == 2 and name in err and "did not write" in err
    # the advice names only the demo's options
    assert "--overwrite" in err and "--out" in err and "--resume" not in err and "train.out_dir" not in err
    assert (out / name).read_bytes() == b"the user's own file"
    assert sorted(p.name for p in out.iterdir()) == [name]  # refused before rendering anything


def test_rerunning_the_demo_into_its_folder_advises_only_demo_options(demo_runs, capsys):
    _, report, out = demo_runs["lenient"]
    before = (out / "report.json").read_bytes()
    code, err = _demo_cli(capsys, out)
    line = err.strip()
    assert code == 2 and "holds an earlier demo" in line and "--overwrite" in line and "--out" in line
    assert "--resume" not in line and "train.out_dir" not in line
    assert (out / "report.json").read_bytes() == before


def test_demo_overwrite_replaces_an_earlier_demo_and_the_users_files_it_was_asked_to(demo_runs, tmp_path, capsys):
    import shutil

    from cdlpose.outputs import COMPLETE

    out = tmp_path / "d"
    shutil.copytree(demo_runs["lenient"][2], out, symlinks=True)  # a copy: no file in it is cdlpose's as written
    code, err = _demo_cli(capsys, out)
    assert code == 2 and "did not write" in err
    victim = tmp_path / "victim.html"
    victim.write_text("precious")
    (out / "index.html").unlink()
    (out / "index.html").symlink_to(victim)  # a link at a report file: replaced, never written through
    assert _demo_cli(capsys, out, "--overwrite")[0] == 0
    assert victim.read_text() == "precious" and not (out / "index.html").is_symlink()
    assert '<p class="verdict"><b>PASSED</b>' in (out / "index.html").read_text() and (out / COMPLETE).is_file()
    for stage in ("stage1", "stage2", "finetune"):  # each stage's old TensorBoard events went with it
        assert len(list((out / stage / "tensorboard").glob("events.out.tfevents.*"))) <= 1
    # now its own: a re-run is an earlier demo, not a user's files
    code, err = _demo_cli(capsys, out)
    assert code == 2 and "holds an earlier demo" in err


def test_ctrl_c_in_the_demo_is_one_line_and_releases_the_folder(tmp_path, capsys, monkeypatch):
    import cdlpose.demo as demo
    from cdlpose.outputs import LOCK

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(demo, "_render_all", interrupted)
    code, err = _demo_cli(capsys, tmp_path / "d")
    lines = err.strip().splitlines()
    assert code == 130 and len(lines) == 1 and lines[0].startswith("cdlpose demo: interrupted; no report")
    assert "--overwrite" in lines[0] and "--resume" not in lines[0]
    assert not (tmp_path / "d" / LOCK).exists()


def test_scenes_for_lifting_come_from_the_pose_set_asked_for():
    """The lifting block's pre-training scenes are the pose set's own (the recipe mixes in the varied set)."""
    for pose_set in ("activities", "varied"):
        got = sample_scenes(5, "val", 0, start=3, workers=0, pose_set=pose_set)
        want = [sample_scene(3 + i, "val", 0, pose_set) for i in range(5)]
        assert np.array_equal(got[1], np.stack([w["joints_3d"] for w in want])), pose_set
        assert np.array_equal(got[2], np.stack([w["box"] for w in want])), pose_set
    assert not np.array_equal(sample_scenes(5, "val", 0, workers=0)[1],
                              sample_scenes(5, "val", 0, workers=0, pose_set="varied")[1])
