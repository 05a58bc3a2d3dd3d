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


SIMILARITY = " · similarity PA, with scale (VideoPose3D, MMPose)"


def test_h36m_p2_reports_both_procrustes_conventions():
    """The paper's 31.8 mm and PoseNet's 35.2 mm were fitted rigidly (Moon et al.'s rigid_align, no scale: their
    evaluation and the authors' release): the row without a suffix, the one beside them, is the rigid fit; the
    similarity fit (with scale) is the labelled one."""
    pred = _h36m_preds([2] * 15, [20.0] * 15)
    pred["pred_3d"] = 1.3 * pred["gt_3d"]  # right shape, wrong size
    r = score(pred, "h36m-p2")
    assert r["rows"]["cdlpose" + SIMILARITY]["Avg"] == pytest.approx(0.0, abs=1e-6)
    rigid = r["rows"]["cdlpose"]["Avg"]
    assert rigid > 10.0 and r["summary"]["cdlpose"]["PA-MPJPE rigid"] == pytest.approx(rigid)
    assert r["summary"]["cdlpose"]["PA-MPJPE"] == pytest.approx(0.0, abs=1e-6)
    assert "rigid_align" in r["details"]["PA"] and "the 17 scored joints" in r["details"]["PA"]
    assert "rigid PA" in r["details"]["row cdlpose"] and "similarity PA" in r["details"]["row cdlpose" + SIMILARITY]
    # each published row right after our row computed the same way (rigid, no root depth / GT root depth); Moon
    # et al.'s detected-box, RootNet-root row matches none of ours and comes last
    assert list(r["rows"]) == ["cdlpose", "Zhang et al. AAAI'21 (paper, Table 2)", "cdlpose" + SIMILARITY,
                               "cdlpose 2.5D back-projected (GT root depth)",
                               "cdlpose 2.5D back-projected (GT root depth)" + SIMILARITY,
                               ("Moon et al. ICCV'19 PoseNet · detected boxes, RootNet root depth, rigid PA (paper, "
                                "Table 2)")]


def _moon_18(rng, n):
    """n Human3.6M poses in Moon et al.'s 18-joint order (root-relative mm), the 18th the shoulders' mid-point."""
    gt = rng.normal(0, 300, (n, 17, 3))
    gt -= gt[:, :1]
    return np.concatenate([gt, 0.5 * (gt[:, 11:12] + gt[:, 14:15])], 1)  # L_Shoulder 11, R_Shoulder 14


def test_rigid_pa_of_an_18_joint_network_is_fitted_on_its_18_joints():
    """Moon et al.'s evaluation (and the authors' release) adds the 18th joint to the ground truth as the
    shoulders' mid-point, fits rigid_align on all 18 and then drops it: the scorer does the same for an 18-joint
    network (the data give no ground truth for the 18th), which differs from a fit on the 17 scored joints."""
    from .test_metrics import ref_moon_rigid_align

    def rotation(rng):
        q, r = np.linalg.qr(rng.normal(size=(3, 3)))
        q = q * np.sign(np.diag(r))
        return q if np.linalg.det(q) > 0 else -q

    rng = np.random.default_rng(7)
    n = 12
    gt18 = _moon_18(rng, n)
    pred = np.stack([g @ rotation(rng).T for g in gt18]) + rng.normal(0, 25, (n, 18, 3))
    pred[:, 17] += [90.0, -60.0, 40.0]  # the network's 18th joint is off: the 18-joint fit feels it
    pred -= pred[:, :1]
    gt_data = gt18.copy()
    gt_data[:, 17] = 0.0  # what the reader gives: no ground truth for Moon et al.'s 18th joint
    valid = np.ones((n, 18), bool)
    valid[:, 17] = False
    base = {"skeleton": "h36m18", "gt_3d": gt_data, "pred_3d": pred, "valid_3d": valid,
            "pred_uv": np.zeros((n, 18, 2)), "gt_uv": np.zeros((n, 18, 2)), "valid_2d": np.ones((n, 18), bool),
            "action": ["Walking"] * n, "subject": ["S11"] * n, "sample_id": [str(i) for i in range(n)]}
    r = score(base, "h36m-p2")
    # their procedure, written out: rigid_align on 18 joints, then the 17
    on18 = np.mean([np.linalg.norm(ref_moon_rigid_align(p, g)[:17] - g[:17], axis=-1).mean()
                    for p, g in zip(pred, gt18)])
    on17 = np.mean([np.linalg.norm(ref_moon_rigid_align(p[:17], g[:17]) - g[:17], axis=-1).mean()
                    for p, g in zip(pred, gt18)])
    assert abs(on18 - on17) > 0.5  # mm: the two fits differ here
    assert r["rows"]["cdlpose"]["Avg"] == pytest.approx(on18, abs=1e-9)
    assert r["summary"]["cdlpose"]["PA-MPJPE rigid"] == pytest.approx(on18, abs=1e-9)
    assert "18 joints (h36m18" in r["details"]["PA"] and r["details"]["joints"].startswith("17")
    # Protocol 1's summary reports the same fit
    assert score(base, "h36m-p1")["summary"]["cdlpose"]["PA-MPJPE rigid"] == pytest.approx(on18, abs=1e-9)
    # a 17-joint network is fitted on its 17
    r17 = score(dict(base, skeleton="h36m17", gt_3d=gt18[:, :17], pred_3d=pred[:, :17], valid_3d=valid[:, :17],
                     pred_uv=np.zeros((n, 17, 2)), gt_uv=np.zeros((n, 17, 2)), valid_2d=valid[:, :17] | True),
                "h36m-p2")
    assert r17["rows"]["cdlpose"]["Avg"] == pytest.approx(on17, abs=1e-9)


def test_every_row_says_its_boxes_and_root_depth():
    """The caption has one line per row: the boxes, how the 3D pose got its root depth (none for the lifting
    block's root-relative pose; the ground truth for the back-projected reference), and for each published row how
    it was made and which of our rows, if any, was computed the same way — placed right after it."""
    r = score(_h36m_preds([2] * 15, [20.0] * 15), "h36m-p1")
    labels = list(r["rows"])
    assert labels == ["cdlpose", "Zhang et al. AAAI'21 (paper, Table 1)", "cdlpose 2.5D back-projected (GT root depth)",
                      "Moon et al. ICCV'19 PoseNet · ground-truth boxes and root depth (their paper)",
                      "Moon et al. ICCV'19 PoseNet · detected boxes, RootNet root depth (paper, Table 1)"]
    caption = {k[4:]: v for k, v in r["details"].items() if k.startswith("row ")}
    assert list(caption) == labels
    assert caption["cdlpose"].startswith("ground-truth boxes; root-relative 3D from the lifting block: no root depth")
    assert caption["cdlpose 2.5D back-projected (GT root depth)"].startswith(
        "ground-truth boxes; the 2.5D estimate back-projected at the ground-truth root depth")
    zhang, moon_gt, moon_det = (caption[k] for k in (labels[1], labels[3], labels[4]))
    assert "computed as our row 'cdlpose', except the boxes (detected there, ground truth here)" in zhang
    assert "ground-truth boxes" in moon_gt and "computed as our row 'cdlpose 2.5D back-projected" in moon_gt
    assert r["rows"][labels[3]] == {"Avg": 53.3}
    assert "DetectNet" in moon_det and "RootNet" in moon_det and "no row of this table" in moon_det
    assert "ground-truth boxes for every cdlpose row" == r["details"]["boxes"]


def test_detected_boxes_of_a_back_projecting_network_say_the_k_value_root_depth():
    """MuPoTS-3D from detected boxes with a network without a lifting block: its 3D pose was back-projected at
    RootNet's k-value estimate (no ground truth at inference), and the row and its caption say so."""
    gt = [mupots_pose(), mupots_pose(0.9)]
    pred = mupots_preds(gt, det=True, pred_people=[(0, gt[0], 0.0), (1, gt[1], 0.0)])
    pred.update(pose_3d_source="back-projection", det_pose_3d_source="back-projection")
    r = score(pred, "mupots", name="PoseNet")
    label = "PoseNet 2.5D back-projected (RootNet k-value root depth) · all annotated people"
    assert r["rows"][label]["Avg"] == 100.0
    assert r["details"][f"row {label}"].startswith("detected boxes; the 2.5D estimate back-projected at RootNet's "
                                                   "k-value root depth estimate")
    ours = [v for k, v in r["details"].items() if k.startswith("row PoseNet")]
    assert len(ours) == 2 and not any("ground-truth root depth" in v for v in ours)
    # Moon et al.'s row: RootNet's network estimate, not the k-value alone: not computed as ours
    moon = r["details"]["row Moon et al. ICCV'19 PoseNet · detected boxes, RootNet roots, all people (paper, Table 3)"]
    assert "no row of this table" in moon
    # a lifting network's detected-box row needs no root depth
    lifted = score(dict(pred, pose_3d_source="lifting", det_pose_3d_source="lifting"), "mupots")
    assert "no root depth needed" in lifted["details"]["row cdlpose · all annotated people"]


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
    assert res["details"]["row cdlpose · all annotated people"].startswith(
        "ground-truth boxes; root-relative 3D from the lifting block: no root depth needed")
    assert "ground-truth root depth" in res["details"]["row cdlpose 2.5D back-projected (GT root depth) · all "
                                                      "annotated people"]


def test_evaluate_a_network_without_lifting_on_detections_says_the_root_depth_was_estimated(tmp_path):
    """`cdlpose evaluate … --detections` with an imported-style PoseNet (no lifting block): the 3D pose is the 2.5D
    estimate back-projected at RootNet's k-value estimate from each detected box — the caption used to say the
    ground-truth root depth; with the annotated boxes it is the ground-truth root depth, and says so."""
    import json

    import yaml

    from cdlpose.evaluation import evaluate_checkpoint

    from .test_posenet import _small_posenet_checkpoint

    anns = _mupots_test_set(tmp_path)
    ckpt = _small_posenet_checkpoint(tmp_path / "posenet.pt", "muco", "PoseNet (test)")
    data = {"train": {"workers": 0, "eval_batch_size": 4}, "data": {
        "root": str(tmp_path), "protocol": "mupots",
        "datasets": [{"format": "mupots", "annotations": "MuPoTS-3D.json", "images": ".", "role": "test"}]}}
    (tmp_path / "eval.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "det.json").write_text(json.dumps(
        [{"image_id": a["image_id"], "category_id": 1, "bbox": a["bbox"], "score": 0.9} for a in anns]))
    from cdlpose.config import load_config

    cfg = load_config(tmp_path / "eval.yaml")
    res, pred = evaluate_checkpoint(ckpt, cfg, flip=False, device="cpu", progress=False, out_dir=tmp_path / "o",
                                    detections=tmp_path / "det.json")
    assert pred["det_pose_3d_source"] == "back-projection"
    label = "PoseNet (test) 2.5D back-projected (RootNet k-value root depth) · all annotated people"
    assert label in res["rows"]
    assert "k-value" in res["details"]["3D"] and "ground-truth root depth" not in res["details"]["3D"]
    assert res["details"][f"row {label}"].startswith("detected boxes; the 2.5D estimate back-projected at RootNet's "
                                                     "k-value root depth")
    assert not any("ground-truth root depth" in v for k, v in res["details"].items() if k.startswith("row PoseNet"))
    md = (tmp_path / "o" / "eval-mupots-det.md").read_text()
    assert "k-value" in md and "with the ground-truth root depth" not in md
    res, _ = evaluate_checkpoint(ckpt, cfg, flip=False, device="cpu", progress=False, out_dir=tmp_path / "o")
    label = "PoseNet (test) 2.5D back-projected (GT root depth) · all annotated people"
    assert "ground-truth root depth" in res["details"]["3D"]
    assert res["details"][f"row {label}"].startswith("ground-truth boxes; the 2.5D estimate back-projected at the "
                                                     "ground-truth root depth")
