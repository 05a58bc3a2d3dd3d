"""Predictor: checkpoint round trip, box handling, output shapes and errors (a briefly trained tiny network)."""

import numpy as np
import pytest

from cdlpose.data.synthetic import render_sample
from cdlpose.engine import Trainer
from cdlpose.inference import InputError, Predictor, root_depth_estimate

from .test_engine import tiny


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pred")
    Trainer(tiny(tmp, epochs=1), max_steps=1, device="cpu").fit()
    return tmp / "run" / "last.pt"


def test_predictor_outputs_and_boxes(checkpoint, tmp_path):
    pred = Predictor.from_checkpoint(checkpoint, device="cpu")
    s = render_sample(0, "test")
    img = s["image"]
    (people,) = pred.predict([img], [[[40, 30, 150, 200], [0, 0, 256, 256]]])
    assert len(people) == 2
    p = people[0]
    assert p["keypoints_2d"].shape == (17, 2) and p["keypoints_3d"].shape == (17, 3) and p["uvz"].shape == (17, 3)
    assert np.all((p["confidence"] >= 0) & (p["confidence"] <= 1))
    assert np.allclose(p["keypoints_3d"][0], 0)  # root-relative
    # 2D joints lie within the enlarged square crop of the box
    assert (p["keypoints_2d"] > 40 + 75 - 125 - 1).all() and (p["keypoints_2d"] < 40 + 75 + 125 + 1).all()
    assert p["root_depth_mm_estimate"] == pytest.approx(root_depth_estimate([40, 30, 150, 200], (1.2 * 256,) * 2))
    whole = pred.predict(img)[0]
    assert len(whole) == 1 and whole[0]["box"] == [0.0, 0.0, 256.0, 256.0]
    flipped = Predictor.from_checkpoint(checkpoint, device="cpu", flip=True).predict(img)[0][0]
    assert not np.allclose(flipped["uvz"], whole[0]["uvz"])


def test_predictor_errors(checkpoint, tmp_path):
    pred = Predictor.from_checkpoint(checkpoint, device="cpu")
    img = render_sample(0, "test")["image"]
    with pytest.raises(InputError, match="box 0: box .* has zero area"):
        pred.predict([img], [[[10, 10, 0, 50]]], names=["a.jpg"])
    with pytest.raises(InputError, match="lies outside the 256×256 image"):
        pred.predict([img], [[[300, 10, 20, 50]]])
    with pytest.raises(InputError, match="4 finite numbers"):
        pred.predict([img], [[[1, 2, 3]]])
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(Exception, match="bad.jpg"):
        pred.predict([bad])
    with pytest.raises(InputError, match="predicts the h36m17 skeleton, not mpii16"):
        Predictor.from_checkpoint(checkpoint, device="cpu", skeleton="mpii16")
