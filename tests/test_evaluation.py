"""Evaluation by protocol: the official MuPoTS-3D procedure in its joint order, Human3.6M as the paper reports
it, the flip test against an independent mirror, and back-projection with a network that outputs the truth."""

import numpy as np
import pytest
import torch
from torch import nn

from cdlpose.codec import depth_to_index
from cdlpose.data.datasets import collate
from cdlpose.data.pipeline import AugmentConfig, CropAugment
from cdlpose.data.synthetic import SyntheticHumans
from cdlpose.evaluation import predict_loader, score
from cdlpose.metrics import H36M_ACTIONS
from cdlpose.skeletons import H36M17, MUPOTS17

from .test_metrics import mupots_pose

TS = "TS"


def mupots_preds(gt_people, pred_people=None, seqs=None, frames=None, det=False):
    """The dict :func:`score` takes, in the MuPoTS-17 order: one annotated person per entry of ``gt_people``
    ((17, 3) pelvis-relative mm), standing in frame ``frames[i]`` of sequence ``seqs[i]``, drawn at x = 400 px
    per person of the frame. ``pred_people``: the predictions (default: perfect), one per annotated person
    (ground-truth boxes) or, with ``det``, a list of (frame, (17, 3), 2D offset) detections."""
    n = len(gt_people)
    seqs = seqs or ["TS1"] * n
    frames = frames or list(range(n))
    gt = np.stack(gt_people)
    uv = np.zeros((n, 17, 2))
    for i in range(n):
        slot = sum(1 for k in range(i) if frames[k] == frames[i] and seqs[k] == seqs[i])
        uv[i] = gt[i, :, :2] / 5 + [300 + 400 * slot, 300]
    keys = [f"mupots/{s}-{f}" for s, f in zip(seqs, frames)]
    pred = {"skeleton": "mupots17", "gt_3d": gt, "valid_3d": np.ones((n, 17), bool), "gt_uv_frame": uv,
            "pred_uv_frame": uv.copy(), "image_key": keys, "subject": seqs, "sample_id": [str(i) for i in range(n)],
            "action": seqs, "pred_uv": np.zeros((n, 17, 2)), "gt_uv": np.zeros((n, 17, 2)),
            "valid_2d": np.ones((n, 17), bool),
            "pred_3d": gt.copy() if pred_people is None or det else np.stack(pred_people)}
    if det:
        pred["det_pred_3d"] = np.stack([p for _, p, _ in pred_people])
        pred["det_uv_frame"] = np.stack([uv[i] + off for i, _, off in pred_people])
        pred["det_image_key"] = [keys[i] for i, _, _ in pred_people]
    return pred


def _pck(result, people="all annotated people", name="cdlpose"):
    return result["rows"][f"{name} · {people}"]


def test_mupots_one_wrong_head_top_costs_exactly_one_of_14_joints():
    gt = mupots_pose()
    p = gt.copy()
    p[0] = p[1] + [200.0, 0, 0]  # head top sideways: 283 mm off after its bone is given the true length
    r = score(mupots_preds([gt], [p]), "mupots")
    assert _pck(r)["TS1"] == pytest.approx(100 * 13 / 14)
    assert r["summary"]["cdlpose"]["groups_3DPCK"]["Head"] == 0.0
    assert r["summary"]["cdlpose"]["groups_3DPCK"]["Neck"] == 100.0
    # pelvis, spine and head are not scored: a wrong head (joint 16) costs nothing
    q = gt.copy()
    q[16] += [0, 0, 400.0]
    assert _pck(score(mupots_preds([gt], [q]), "mupots"))["Avg"] == 100.0


def test_mupots_is_root_aligned_on_the_pelvis():
    gt = mupots_pose()
    # a prediction placed 2 m away that is right relative to its pelvis is perfect
    assert _pck(score(mupots_preds([gt], [gt + [500.0, 100, 2000]]), "mupots"))["Avg"] == 100.0


def test_mupots_rescales_bones_to_the_ground_truth():
    gt = mupots_pose()
    r = score(mupots_preds([gt], [0.8 * gt]), "mupots")
    assert _pck(r)["Avg"] == 100.0
    assert r["summary"]["cdlpose"]["MPJPE matched (bones rescaled)"] == pytest.approx(0.0, abs=1e-9)


def test_mupots_threshold_is_150_mm():
    gt = mupots_pose()
    p = gt.copy()
    # both wrists and both ankles turned so that each is 120 mm from the truth (bone lengths kept)
    for j, parent in ((4, 3), (7, 6), (10, 9), (13, 12)):
        bone = gt[j] - gt[parent]
        L = np.linalg.norm(bone[1:])  # the rotation is about the x axis
        theta = 2 * np.arcsin(60.0 / L)  # chord 2 L sin(θ/2) = 120 mm
        c, s = np.cos(theta), np.sin(theta)
        p[j] = gt[parent] + np.array([bone[0], c * bone[1] - s * bone[2], s * bone[1] + c * bone[2]])
    err = np.linalg.norm(p - gt, axis=-1)
    assert np.allclose(err[[4, 7, 10, 13]], 120.0)
    r = score(mupots_preds([gt], [p]), "mupots")
    assert _pck(r)["Avg"] == 100.0  # at 100 mm it would be 10/14
    assert r["summary"]["cdlpose"]["AUC"] < 100.0


def test_mupots_missed_person_counts_in_all_and_not_in_matched():
    gt = [mupots_pose(), mupots_pose(0.9), mupots_pose(1.1)]
    # three people in one frame, detections for the first two only (slightly off in 2D, still matched)
    dets = [(0, gt[0], 5.0), (1, gt[1], -8.0)]
    r = score(mupots_preds(gt, dets, frames=[0, 0, 0], det=True), "mupots")
    assert _pck(r)["Avg"] == pytest.approx(100 * 2 / 3)
    assert _pck(r, "matched people only")["Avg"] == 100.0
    s = r["summary"]["cdlpose"]
    assert s["annotated_people"] == 3 and s["matched_people"] == 2
    assert r["details"]["boxes"] == "detections"
    # a detection of person 2 that lands on person 1 in 2D matches person 1, not 2: the order of the
    # detections does not decide
    swapped = [(1, gt[1], 0.0), (0, gt[0], 0.0)]
    r2 = score(mupots_preds(gt[:2], swapped, frames=[0, 0], det=True), "mupots")
    assert _pck(r2)["Avg"] == 100.0


def test_mupots_averages_sequences_not_people():
    good, bad = mupots_pose(), mupots_pose() + 0.0
    bad_pred = bad.copy()
    bad_pred[:14] = bad_pred[:14] * [1, -1, 1]  # upside down: every scored joint far off
    gts = [good, bad, bad, bad]
    preds = [good, bad_pred, bad_pred, bad_pred]
    r = score(mupots_preds(gts, preds, seqs=["TS1", "TS2", "TS2", "TS2"], frames=[0, 0, 1, 2]), "mupots")
    row = _pck(r)
    assert row["TS1"] == 100.0 and row["TS2"] < 50.0  # the hips stay right upside down
    assert row["Avg"] == pytest.approx((row["TS1"] + row["TS2"]) / 2)
    assert row["Avg"] != pytest.approx((row["TS1"] + 3 * row["TS2"]) / 4)  # pooled over people
    assert r["columns"] == ["TS1", "TS2", "Avg"]


def test_mupots_scores_the_universal_ground_truth_when_given():
    gt = mupots_pose()
    univ = 1.2 * gt  # the universal skeleton: other bone lengths, same directions
    pred = mupots_preds([gt], [gt])
    r = score(dict(pred, gt_3d_univ=univ[None]), "mupots")
    assert _pck(r)["Avg"] == 100.0  # bones rescaled to the universal skeleton's
    assert r["details"]["ground truth"].startswith("univ_annot3")
    assert "NOT the official" in score(pred, "mupots")["details"]["ground truth"]


def test_mupots_maps_a_muco_network_by_joint_name():
    from cdlpose.skeletons import MUCO21

    gt = mupots_pose()
    pred = mupots_preds([gt])
    # a MuCo-21 network: the 17 MuPoTS joints first, then hands and toes
    pad = lambda a: np.concatenate([a, np.zeros(a.shape[:1] + (4,) + a.shape[2:])], 1)
    wrong = gt.copy()
    wrong[0] = wrong[1] + [200.0, 0, 0]
    muco = dict(pred, skeleton=MUCO21.name, gt_3d=pad(pred["gt_3d"]), pred_3d=pad(wrong[None]),
                valid_3d=np.ones((1, 21), bool), gt_uv_frame=pad(pred["gt_uv_frame"]),
                pred_uv_frame=pad(pred["pred_uv_frame"]))
    assert _pck(score(muco, "mupots"))["Avg"] == pytest.approx(100 * 13 / 14)
    with pytest.raises(ValueError, match="lacks a MuPoTS-3D joint"):
        score(dict(pred, skeleton="h36m17"), "mupots")


def _h36m_preds(counts, err_mm):
    """Frames per action (``counts``) with a fixed error per action on every non-root joint."""
    rng = np.random.default_rng(0)
    actions = [a for a, c in zip(H36M_ACTIONS, counts) for _ in range(c)]
    n = len(actions)
    gt = rng.normal(0, 300, (n, 17, 3))
    gt -= gt[:, :1]
    direction = rng.normal(size=(n, 17, 3))
    direction /= np.linalg.norm(direction, axis=-1, keepdims=True)
    e = np.array([err_mm[H36M_ACTIONS.index(a)] for a in actions])[:, None, None]
    pred = gt + e * direction
    pred[:, 0] = gt[:, 0]
    return {"skeleton": "h36m17", "gt_3d": gt, "pred_3d": pred, "pred_3d_backproj": gt.copy(),
            "valid_3d": np.ones((n, 17), bool), "pred_uv": np.zeros((n, 17, 2)), "gt_uv": np.zeros((n, 17, 2)),
            "valid_2d": np.ones((n, 17), bool), "action": actions, "subject": ["S9"] * n,
            "sample_id": [str(i) for i in range(n)]}


def test_h36m_avg_is_pooled_over_frames():
    counts = [1] * 14 + [15]  # 15 WalkTogether frames, one of every other action
    err = [10.0] * 14 + [40.0]
    r = score(_h36m_preds(counts, err), "h36m-p1")
    row = r["rows"]["cdlpose"]
    assert row["Directions"] == pytest.approx(10 * 16 / 17) and row["WalkTogether"] == pytest.approx(40 * 16 / 17)
    pooled = (14 * 10 + 15 * 40) / 29 * 16 / 17
    assert row["Avg"] == pytest.approx(pooled)  # the mean of the action means would be 12 * 16 / 17
    assert r["summary"]["cdlpose"]["MPJPE"] == pytest.approx(pooled)
    assert "pooled" in r["details"]["Avg"]


def test_h36m_p2_reports_both_procrustes_conventions():
    pred = _h36m_preds([2] * 15, [20.0] * 15)
    pred["pred_3d"] = 1.3 * pred["gt_3d"]  # right shape, wrong size
    r = score(pred, "h36m-p2")
    assert r["rows"]["cdlpose"]["Avg"] == pytest.approx(0.0, abs=1e-6)
    rigid = r["rows"]["cdlpose · rigid PA, no scale (Moon et al.)"]["Avg"]
    assert rigid > 10.0 and r["summary"]["cdlpose"]["PA-MPJPE rigid"] == pytest.approx(rigid)
    assert "rigid_align" in r["details"]["PA"]


# --- predict_loader against a network that knows the answer ---------------------------------------------------


class Oracle(nn.Module):
    """A stand-in network whose 2.5D output for an image is the one registered for the nearest known image."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.images, self.answers = [], []
        self.lift = nn.Identity()

    def register(self, images, uvz):
        self.images.append(images.reshape(len(images), -1))
        self.answers.append(uvz)

    def volumes(self, images):
        known = torch.cat(self.images)
        d = torch.cdist(images.reshape(len(images), -1), known)
        return {"uvz": torch.cat(self.answers)[d.argmin(1)]}

    def lifting(self, uvz, camera=None):
        return torch.zeros(uvz.shape[0], uvz.shape[1], 3)


@pytest.fixture(scope="module")
def oracle_batches():
    ds_src = SyntheticHumans("val", 4, seed=3, style="plain")
    cfg = AugmentConfig(input_size=64, train=False)
    plain = CropAugment(H36M17, cfg)
    items, mirrored = [], []
    for i in range(len(ds_src)):
        rec = ds_src[i]
        items.append(dict(plain(rec, params=plain.sample_params()), sample_id=str(i), dataset="synthetic",
                          subject="x", action="Walking", image_key=str(i)))
        # the pipeline's own mirror augmentation: the flipped crop and its ground truth, by another code path
        p = dict(plain.sample_params(), flip=True)
        mirrored.append(plain(rec, params=p))
    return collate(items), collate([dict(m, sample_id="m", dataset="s", subject="x", action="a", image_key="m")
                                    for m in mirrored])


def _gt_uvz(batch, bins=64, depth_range=2000.0):
    return torch.cat([batch["uv"], depth_to_index(batch["z"], bins, depth_range)[..., None]], -1)


def _oracle(batch, mirrored):
    from cdlpose.model import ModelConfig

    net = Oracle(ModelConfig(skeleton="h36m17"))
    net.register(batch["image"], _gt_uvz(batch))
    net.register(mirrored["image"], _gt_uvz(mirrored))
    return net


def test_flip_test_recovers_the_truth_from_an_independently_mirrored_answer(oracle_batches):
    batch, mirrored = oracle_batches
    # the pipeline's mirror is the pixel mirror of the crop (else the oracle below could not look it up)
    assert torch.allclose(mirrored["image"], batch["image"].flip(-1), atol=1e-5)
    net = _oracle(batch, mirrored)
    out = predict_loader(net, [batch], torch.device("cpu"), flip=True)
    # flipped pass: the oracle answers with the mirrored image's truth; mapped back (u → W − 1 − u in map pixels,
    # left ↔ right) and averaged it must give the truth again — W − u, or no swap, would not
    assert np.allclose(out["uvz"], _gt_uvz(batch).numpy(), atol=1e-4)
    assert np.allclose(out["pred_uv"], batch["uv_crop"].numpy(), atol=1e-3)


def test_back_projection_of_the_true_2_5d_estimate_is_the_true_pose(oracle_batches):
    batch, mirrored = oracle_batches
    out = predict_loader(_oracle(batch, mirrored), [batch], torch.device("cpu"))
    err = np.linalg.norm(out["pred_3d_backproj"] - out["gt_3d"], axis=-1)
    assert err.max() < 0.5  # mm; uv left in map pixels, or the wrong root, would be off by metres
    r = score(dict(out, action=["Walking"] * 4), "synthetic")
    assert r["summary"]["cdlpose 2.5D back-projected (GT root depth)"]["MPJPE"] < 0.5
    # the frame pixels map back onto the record's own 2D joints
    assert np.allclose(out["pred_uv_frame"], out["gt_uv_frame"], atol=1e-2)


def test_mupots_top_down_from_a_detection_file(tmp_path):
    """Detected boxes: the file's image ids name the MuPoTS-3D images; people get matched per image; an image
    without boxes leaves its people missed."""
    import json

    from cdlpose.data.datasets import image_key
    from cdlpose.evaluation import predict_detections

    gt = [mupots_pose(), mupots_pose(0.9), mupots_pose(1.1)]
    base = mupots_preds(gt, frames=[0, 0, 1])  # two people in image 7, one in image 8
    records = [{"dataset": "mupots", "image_id": iid, "image_path": str(tmp_path / f"TS1/img_00000{k}.jpg"),
                "sample_id": str(k)} for k, iid in enumerate([7, 7, 8])]
    base["image_key"] = [image_key(r) for r in records]
    boxes = {7: [[100, 100, 50, 50], [400, 100, 50, 50]]}  # no detection in image 8
    (tmp_path / "det.json").write_text(json.dumps(
        [{"image_id": iid, "category_id": 1, "bbox": b, "score": 0.9 - 0.1 * k}
         for iid, bs in boxes.items() for k, b in enumerate(bs)]
        + [{"image_id": 7, "category_id": 1, "bbox": [0, 0, 9, 9], "score": 0.1}]))  # under --min-score

    class FakePredictor:  # answers each box with the person it was drawn around, in the crop's 2D
        skeleton = MUPOTS17

        def __init__(self):
            self.calls = []

        def predict(self, paths, boxes):
            self.calls.append((paths, boxes))
            out = []
            for p, bs in zip(paths, boxes):
                people = []
                for b in bs:
                    i = 0 if b[0] == 100 else 1
                    people.append({"keypoints_3d": gt[i], "keypoints_2d": base["gt_uv_frame"][i] + 3.0})
                out.append(people)
            return out

    fp = FakePredictor()
    det = predict_detections(fp, records, tmp_path / "det.json", min_score=0.5)
    assert [len(b) for _, bs in fp.calls for b in bs] == [2]  # image 7 only, its two boxes above the score
    assert det["det_images_without_boxes"] == ["mupots/8"]
    assert det["det_image_key"] == ["mupots/7", "mupots/7"] and det["det_score"].tolist() == pytest.approx([0.9, 0.8])
    r = score(dict(base, **det), "mupots")
    s = r["summary"]["cdlpose"]
    assert s["matched_people"] == 2 and _pck(r)["Avg"] == pytest.approx(100 * 2 / 3)
    assert _pck(r, "matched people only")["Avg"] == 100.0


def _mupots_test_set(tmp_path):
    """Two 256×256 MuPoTS-3D frames in Moon et al.'s JSON layout (two people, then one), with images."""
    import json

    import cv2

    from cdlpose.geometry import project

    f, c = np.array([300.0, 300.0]), np.array([128.0, 128.0])
    images, anns = [], []
    for iid, roots in ((11, ([-600.0, 0, 4000], [600.0, 0, 4200])), (12, ([0.0, 0, 4000],))):
        name = f"TS2/img_{iid - 11:06d}.jpg"
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / name), np.full((256, 256, 3), 90, np.uint8))
        images.append({"id": iid, "file_name": name, "width": 256, "height": 256, "intrinsic": [*f, *c]})
        for root in roots:
            X = mupots_pose() + np.asarray(root)
            uv = project(X, f, c)
            anns.append({"id": len(anns), "image_id": iid, "bbox": [*uv.min(0), *(uv.max(0) - uv.min(0))],
                         "keypoints_img": uv.tolist(), "keypoints_cam": X.tolist(), "is_valid": 1})
    (tmp_path / "MuPoTS-3D.json").write_text(json.dumps({"images": images, "annotations": anns}))
    return anns


def test_evaluate_command_on_mupots_with_detections(tmp_path, capsys):
    """`cdlpose evaluate` end to end on MuPoTS-3D: a MuCo-21 network, detected boxes from a COCO results file,
    both rows, the caption, the files."""
    import json

    import yaml

    from cdlpose.checkpoint import save_checkpoint
    from cdlpose.cli import main as cli_main
    from cdlpose.config import Config, config_to_dict
    from cdlpose.loading import CHECKPOINT_FORMAT, build_model
    from cdlpose.model import ModelConfig

    anns = _mupots_test_set(tmp_path)
    cfg = Config(model=ModelConfig(skeleton="muco21", backbone="resnet18", lite=True, backbone_stages=2,
                                   head_width=16, depth_bins=16))
    cfg.augment.input_size = 64
    cfg.codec.depth_bins = 16
    torch.manual_seed(0)
    net = build_model(cfg)
    ckpt = save_checkpoint({"format": CHECKPOINT_FORMAT, "config": config_to_dict(cfg), "model": net.state_dict()},
                           tmp_path / "net.pt")
    data = {"model": {"skeleton": "muco21"}, "codec": {"depth_bins": 16}, "train": {"workers": 0, "eval_batch_size": 4},
            "data": {"root": str(tmp_path), "protocol": "mupots", "datasets": [
                {"format": "mupots", "annotations": "MuPoTS-3D.json", "images": ".", "role": "test"}]}}
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(data))
    # boxes around the annotated people of image 11 only, and one under the score threshold
    dets = [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9} for a in anns[:2]]
    (tmp_path / "det.json").write_text(json.dumps(dets + [{"image_id": 12, "bbox": anns[2]["bbox"], "score": 0.2}]))
    args = ["evaluate", str(tmp_path / "eval.yaml"), "--checkpoint", str(ckpt), "--device", "cpu",
            "--out", str(tmp_path / "out")]
    assert cli_main(args + ["--detections", str(tmp_path / "det.json"), "--min-score", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "flip test: on" in out and "detections from" in out and "1 test images had none" in out
    assert "cdlpose · all annotated people" in out and "univ_annot3" not in out.split("ground truth:")[1][:20]
    res = json.loads((tmp_path / "out" / "eval-mupots-flip-det.json").read_text())
    s = res["summary"]["cdlpose"]
    assert s["annotated_people"] == 3 and s["matched_people"] <= 2  # the person of image 12 had no box
    assert res["rows"]["cdlpose · all annotated people"]["Avg"] <= 100 * 2 / 3 + 1e-9
    # annotated boxes: every person gets a prediction, labelled as such
    assert cli_main(args + ["--no-flip"]) == 0
    res = json.loads((tmp_path / "out" / "eval-mupots.json").read_text())
    assert res["details"]["boxes"].startswith("ground-truth boxes") and res["details"]["flip test"] == "off"
    assert "(matched" not in " ".join(res["rows"])
