"""``cdlpose demo`` end to end with a tiny budget: the report folder, its numbers and the exit status."""

import json
import re

import numpy as np

from cdlpose.cli import main as cli_main


def test_demo_command_writes_the_report(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = cli_main(["demo", "--out", str(out), "--minutes", "0.1", "--train-size", "48"])
    printed = capsys.readouterr().out
    report = json.loads((out / "report.json").read_text())
    # a half-minute run cannot be expected to pass; the exit status must say what the report says
    assert rc == (0 if report["passed"] else 1)
    assert report["train_size"] == 48 and report["input_size"] == 64
    assert np.isfinite(report["mpjpe"]) and report["mpjpe"] > 0 and report["mean_pose_mpjpe"] > 0
    assert report["ratio"] == report["mean_pose_mpjpe"] / report["mpjpe"]
    line = re.search(r"MPJPE ([\d.]+) mm .* mean pose's ([\d.]+) mm: ([\d.]+)× better", printed)
    assert line and float(line.group(1)) == round(report["mpjpe"], 1)
    # both stages trained and saved; stage 2 on the cached 2.5D estimates (2 passes of 48 images), lr dropped
    for stage in ("stage1", "stage2"):
        assert (out / stage / "last.pt").is_file()
    log2 = [json.loads(x) for x in (out / "stage2" / "log.jsonl").read_text().splitlines()]
    steps = [r for r in log2 if "pose" in r]
    assert steps and all(np.isfinite(r["pose"]) for r in steps)
    epochs = [json.loads(x) for x in (out / "stage2" / "epochs.jsonl").read_text().splitlines()]
    assert epochs[0]["step"] == 1  # 96 cached samples make one batch of 64 per epoch
    # the report page: metric table, curves and a dozen prediction figures that exist
    page = (out / "index.html").read_text()
    figures = re.findall(r'src="(prediction_\d+\.png)"', page)
    assert len(figures) == 12 and all((out / f).stat().st_size > 1000 for f in figures)
    assert 'src="curves.png"' in page and (out / "curves.png").is_file()
    assert "training-set mean pose" in page and "MPJPE" in page
    for ext in ("json", "csv", "md"):
        assert (out / f"metrics.{ext}").is_file()
