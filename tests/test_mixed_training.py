"""Mixed 3D / 2D training: a 2D-only sample (MPII, COCO) supervises 2D only — its depth can be anything."""

import json

import cv2
import numpy as np
import pytest
import torch

from cdlpose.data.datasets import collate
from cdlpose.data.synthetic import render_sample
from cdlpose.engine import Trainer
from cdlpose.skeletons import H36M17, MPII16

from .test_engine import tiny


def _losses_without_learning(tr, batch):
    for g in tr.optimizer.param_groups:
        g["lr"] = 0.0  # the step's losses, with the weights left as they are
    torch.manual_seed(0)
    return tr._step(batch)


def test_a_2d_only_sample_with_a_wrong_depth_changes_no_loss(tmp_path):
    tr = Trainer(tiny(tmp_path, epochs=1), device="cpu")
    batch = collate([tr.train_set[i] for i in range(4)])
    batch["valid_3d"][1::2] = False  # samples 1 and 3 as a 2D data set delivers them: no 3D annotation
    ref = _losses_without_learning(tr, batch)
    assert {"joint", "bone", "cube", "ordinal", "integral"} <= set(ref)
    wrong = dict(batch, z=batch["z"].clone())
    wrong["z"][1] += 700.0  # a 2D-only sample's depth, far off: the integral z, cube and ordinal terms ignore it
    wrong["z"][3] = torch.linspace(-900, 900, 17)
    assert _losses_without_learning(tr, wrong) == pytest.approx(ref, rel=1e-6, abs=1e-7)
    # the same change on a 3D sample moves every depth term (the check above can fail)
    moved = dict(batch, z=batch["z"].clone())
    moved["z"][0] += 700.0
    after = _losses_without_learning(tr, moved)
    for k in ("cube", "ordinal", "integral"):
        assert after[k] != pytest.approx(ref[k], rel=1e-4), k


def _mpii_file(tmp_path, n=4):
    """An MPII annotation file (MMPose's JSON layout) of rendered people, with their images."""
    from cdlpose.skeletons import convert_joints

    recs = []
    for i in range(n):
        s = render_sample(i, "train", seed=7, size=128, style="plain")
        name = f"mpii_{i}.jpg"
        cv2.imwrite(str(tmp_path / name), cv2.cvtColor(s["image"], cv2.COLOR_RGB2BGR))
        uv = s["joints_2d"] @ s["frame_to_image"][:, :2].T + s["frame_to_image"][:, 2]
        j16, v16 = convert_joints(uv, H36M17, MPII16, np.ones(17, bool))
        lo, hi = uv.min(0), uv.max(0)
        recs.append({"image": name, "joints": (j16 + 1).tolist(), "joints_vis": v16.astype(int).tolist(),
                     "center": ((lo + hi) / 2 + 1).tolist(), "scale": float((hi - lo).max() * 1.2 / 200)})
    (tmp_path / "mpii.json").write_text(json.dumps(recs))
    return tmp_path / "mpii.json"


def test_trainer_mixes_3d_and_2d_batches(tmp_path):
    mpii = _mpii_file(tmp_path)
    cfg = tiny(tmp_path, epochs=1, batch=4)
    cfg.data.datasets.append({"format": "mpii", "annotations": str(mpii), "role": "train"})
    tr = Trainer(cfg, max_steps=2, device="cpu")
    assert tr.train_2d is not None and len(tr.train_2d) == 4
    seen = []
    orig = tr._step

    def spy(batch):
        seen.append((batch["dataset"], batch["valid_3d"].any(1).tolist()))
        return orig(batch)

    tr._step = spy
    hist = tr.fit()
    assert len(seen) == 2 and np.isfinite(hist[-1]["train_total"])
    for datasets, has_3d in seen:
        # half and half (train.ratio_3d = 0.5): the MPII samples carry no 3D, the synthetic ones do
        assert sorted(datasets) == ["mpii", "mpii", "synthetic", "synthetic"]
        assert all(h == (d == "synthetic") for d, h in zip(datasets, has_3d))


@pytest.mark.parametrize("term", ["bone", "joint", "cube", "ordinal"])
def test_supervision_ablation_drops_exactly_one_loss(tmp_path, term):
    from pathlib import Path

    from cdlpose.config import load_config

    configs = Path(__file__).resolve().parents[1] / "configs"
    c = load_config(configs / f"ablation_full_no_{term}.yaml")
    full = load_config(configs / "ablation_full.yaml")
    assert c.model == full.model and c.data == full.data  # the same network and data, one supervision less
    assert getattr(c.loss, term) == 0.0
    assert [k for k in vars(c.loss) if getattr(c.loss, k) != getattr(full.loss, k)] == [term]
    tr = Trainer(tiny(tmp_path, epochs=1, extra=[f"loss.{term}=0.0"]), device="cpu")
    batch = collate([tr.train_set[i] for i in range(2)])
    terms = _losses_without_learning(tr, batch)
    assert term not in terms and {"bone", "joint", "cube", "ordinal"} - {term} <= set(terms)
