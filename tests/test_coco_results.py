"""Issue 27, item 3: ``predictions.coco.json`` is COCO's keypoint results — a list that ``pycocotools`` loads and
scores: COCO-17 joints in COCO's order mapped by name (left is left), integer image ids (from the COCO annotation
file, a COCO-style name or a recorded numbering), merged across runs into one folder. The predictor is a fake
that returns known joints, so that COCOeval's numbers say exactly whether the right joints landed in the right
slots; the run itself (run_predict, the writes, the id map) is the real one."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from cdlpose.predict import (COCO_IMAGE_IDS, COCO_RESULTS, ImageList, PredictOptions, assign_image_ids,
                             coco_keypoints, coco_results, run_predict)
from cdlpose.outputs import OutputFolder
from cdlpose.predict.files import RUN
from cdlpose.skeletons import COCO17, H36M17

COCO_NAMES = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
              "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
              "right_knee", "left_ankle", "right_ankle"]
# written out here, not taken from cdlpose.skeletons: COCO's joint → the Human3.6M joint it is (None: none)
COCO_FROM_H36M = {"nose": "Neck_Nose", "left_eye": None, "right_eye": None, "left_ear": None, "right_ear": None,
                  "left_shoulder": "L_Shoulder", "right_shoulder": "R_Shoulder", "left_elbow": "L_Elbow",
                  "right_elbow": "R_Elbow", "left_wrist": "L_Wrist", "right_wrist": "R_Wrist", "left_hip": "L_Hip",
                  "right_hip": "R_Hip", "left_knee": "L_Knee", "right_knee": "R_Knee", "left_ankle": "L_Ankle",
                  "right_ankle": "R_Ankle"}

# a person facing the camera (their left on the image's right), Human3.6M's 17 joints, image px
STANDING = {"Pelvis": (100, 200), "R_Hip": (88, 200), "R_Knee": (86, 262), "R_Ankle": (85, 322),
            "L_Hip": (112, 200), "L_Knee": (114, 262), "L_Ankle": (115, 322), "Spine": (100, 160),
            "Thorax": (100, 120), "Neck_Nose": (100, 102), "Head_top": (100, 78), "L_Shoulder": (126, 124),
            "L_Elbow": (138, 160), "L_Wrist": (144, 196), "R_Shoulder": (74, 124), "R_Elbow": (62, 160),
            "R_Wrist": (56, 196)}


def h36m_joints(named: dict, shift=(0.0, 0.0)) -> np.ndarray:
    return np.array([named[n] for n in H36M17.joints], np.float64) + np.asarray(shift)


def gt_annotation(joints_h36m: np.ndarray, image_id: int, ann_id: int) -> dict:
    """A COCO ground-truth person from Human3.6M joints: COCO's joints by name, eyes and ears not labelled."""
    kp = []
    for name in COCO_NAMES:
        src = COCO_FROM_H36M[name]
        kp += [0, 0, 0] if src is None else [*map(float, joints_h36m[H36M17.index(src)]), 2]
    x0, y0 = joints_h36m.min(0) - 10
    x1, y1 = joints_h36m.max(0) + 10
    return {"id": ann_id, "image_id": image_id, "category_id": 1, "iscrowd": 0, "keypoints": kp,
            "num_keypoints": sum(v > 0 for v in kp[2::3]), "bbox": [x0, y0, x1 - x0, y1 - y0],
            "area": float((x1 - x0) * (y1 - y0))}


def coco_gt(path: Path, images: list, annotations: list) -> Path:
    path.write_text(json.dumps({
        "images": images, "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "supercategory": "person", "keypoints": COCO_NAMES,
                        "skeleton": [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7]]}]}))
    return path


def person(joints_2d, score=0.9) -> dict:
    """A person as Predictor.predict returns one (the keys person_record reads)."""
    j = np.asarray(joints_2d, np.float64)
    J = len(j)
    x0, y0 = j.min(0)
    x1, y1 = j.max(0)
    return {"box": np.array([x0, y0, x1 - x0, y1 - y0]), "detection_score": score, "score": score,
            "keypoints_2d": j, "confidence": np.full(J, 1.0), "uvz": np.zeros((J, 3)),
            "keypoints_3d": np.zeros((J, 3)), "pose_3d_source": "lifting", "root_depth_mm_estimate": 4000.0,
            "root_depth_mm": 4000.0, "root_depth_source": "estimate", "keypoints_3d_camera_estimate": np.zeros((J, 3))}


class FakePredictor:
    """Predictor's interface with known people: ``people[input name]`` (a video: the same people every frame)."""

    skeleton, flip, backend, pose_3d_source, origin = H36M17, False, "fake", "lifting", None

    def __init__(self, people: dict):
        self.people = people

    def predict(self, images, boxes=None, focal=None, batch_size=16, names=None, scores=None, root_depths=None):
        out = []
        for name in names:
            key = name.split(" frame ")[0]
            out.append([person(j) for j in self.people.get(Path(key).name, [])])
        return out


def run(tmp_path, people: dict, inputs, out, image_list=None) -> dict:
    opts = PredictOptions(out=out, images=False, viewer=False, progress=False,
                          image_ids=None if image_list is None else ImageList(image_list))
    return run_predict(FakePredictor(people), [str(p) for p in inputs], opts, "fake.pt")


def blank(path: Path, w=320, h=360) -> Path:
    cv2.imwrite(str(path), np.full((h, w, 3), 90, np.uint8))
    return path


def cocoeval_ap(gt_path: Path, results_path: Path) -> float:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt = COCO(str(gt_path))
    dt = gt.loadRes(str(results_path))
    ev = COCOeval(gt, dt, "keypoints")
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return float(ev.stats[0])


# ----------------------------------------------------------------------------------- the mapping, no pycocotools


def test_keypoints_are_coco17_by_name_and_missing_joints_are_zero():
    j = h36m_joints(STANDING)
    kp = np.array(coco_keypoints(j, np.linspace(0.5, 0.9, 17), "h36m17")).reshape(17, 3)
    assert kp.shape == (17, 3) and list(COCO17.source_names) == COCO_NAMES
    for k, name in enumerate(COCO_NAMES):
        src = COCO_FROM_H36M[name]
        if src is None:  # Human3.6M has no eyes and ears
            assert kp[k].tolist() == [0.0, 0.0, 0.0], name
        else:
            assert kp[k, :2].tolist() == j[H36M17.index(src)].tolist(), name
            assert kp[k, 2] == pytest.approx(np.linspace(0.5, 0.9, 17)[H36M17.index(src)]), name
    # the person's left wrist is on the image's right: COCO slot 9 is left_wrist
    assert kp[9, 0] > kp[10, 0]
    # Python API: integer ids only (COCO's tools compare them with the annotation file's)
    (e,) = coco_results(H36M17, [(785, person(j))])
    assert e["image_id"] == 785 and e["category_id"] == 1 and len(e["keypoints"]) == 51
    with pytest.raises(ValueError, match="integer image ids"):
        coco_results(H36M17, [("walk.jpg", person(j))])


def test_image_ids_from_the_list_a_coco_name_or_a_kept_numbering(tmp_path):
    (tmp_path / "list.json").write_text(json.dumps({"images": [
        {"id": 42, "file_name": "val/street.jpg"}, {"id": "x7", "file_name": "odd.jpg"},
        {"id": 5, "file_name": "a/same.jpg"}, {"id": 6, "file_name": "b/same.jpg"}]}))
    lst = ImageList(tmp_path / "list.json")
    assert lst("photos/street.jpg") == 42 and lst("val/street.jpg") == 42
    assert lst("odd.jpg") is None  # not an integer id: not used
    assert lst("same.jpg") is None and lst("x/b/same.jpg") == 6  # a name held twice matches by its folder only
    ids = assign_image_ids({"photos/street.jpg": None, "000000000785.jpg": None, "walk.jpg": None,
                            "clip.mp4": 3, "odd.jpg": None}, lst)
    assert ids["images"]["photos/street.jpg"] == 42 and ids["images"]["000000000785.jpg"] == 785
    assert ids["images"]["walk.jpg"] == 786 and ids["videos"]["clip.mp4"] == {"first_image_id": 787, "frames": 3}
    assert ids["images"]["odd.jpg"] == 790
    assert all(isinstance(i, int) for i in ids["images"].values())
    # a later run keeps the numbers given before while they are free; a new COCO name that takes one renumbers
    # that input only
    again = assign_image_ids({"walk.jpg": None, "clip.mp4": 3, "000000000790.jpg": None, "odd.jpg": None},
                             None, ids)
    assert again["images"]["walk.jpg"] == 786 and again["videos"]["clip.mp4"]["first_image_id"] == 787
    assert again["images"]["000000000790.jpg"] == 790 and again["images"]["odd.jpg"] == 791


# ------------------------------------------------------------------------------------------ COCO's own tools


def _scene(tmp_path):
    """Two images and a COCO ground truth for them: a COCO-style name, and a name only the annotation file maps."""
    a, b = h36m_joints(STANDING), h36m_joints(STANDING, (150, 10))
    gt = coco_gt(tmp_path / "person_keypoints.json",
                 [{"id": 785, "file_name": "000000000785.jpg", "width": 320, "height": 360},
                  {"id": 42, "file_name": "street.jpg", "width": 320, "height": 360}],
                 [gt_annotation(a, 785, 1), gt_annotation(a, 42, 2), gt_annotation(b, 42, 3)])
    inputs = [blank(tmp_path / "000000000785.jpg"), blank(tmp_path / "street.jpg")]
    return gt, inputs, {"000000000785.jpg": [a], "street.jpg": [a, b]}


def _swapped(people):
    """Left and right exchanged (the joints' places kept): what a mapping that mixes up the sides writes."""
    return {k: [np.asarray(j)[H36M17.flip_index] for j in v] for k, v in people.items()}


def test_cocoeval_scores_the_results_and_a_left_right_swap_scores_lower(tmp_path):
    pytest.importorskip("pycocotools")
    gt, inputs, people = _scene(tmp_path)
    res = run(tmp_path, people, inputs, tmp_path / "out", image_list=gt)
    assert not res["errors"] and not res["write_errors"]
    results = json.loads((tmp_path / "out" / COCO_RESULTS).read_text())
    assert isinstance(results, list) and len(results) == 3
    for e in results:
        assert type(e["image_id"]) is int and e["category_id"] == 1 and len(e["keypoints"]) == 51
        assert set(e) == {"image_id", "category_id", "keypoints", "score", "bbox"}  # the 3D fields are elsewhere
    assert sorted(e["image_id"] for e in results) == [42, 42, 785]
    ids = json.loads((tmp_path / "out" / COCO_IMAGE_IDS).read_text())
    assert ids["images"] == {str(inputs[0]): 785, str(inputs[1]): 42}
    correct = cocoeval_ap(gt, tmp_path / "out" / COCO_RESULTS)
    assert correct == pytest.approx(1.0)  # the exact joints in the right slots: every person found at every OKS
    run(tmp_path, _swapped(people), inputs, tmp_path / "swap", image_list=gt)
    swapped = cocoeval_ap(gt, tmp_path / "swap" / COCO_RESULTS)
    assert swapped < correct - 0.3
    # the network's own joint order written as if it were COCO's (the earlier file's keypoints): scored far lower
    wrong = [dict(e, keypoints=np.concatenate([np.asarray(p), np.ones((17, 1))], 1).reshape(-1).tolist())
             for e, p in zip(sorted(results, key=lambda e: e["image_id"]), [people["street.jpg"][0],
                                                                            people["street.jpg"][1],
                                                                            people["000000000785.jpg"][0]])]
    (tmp_path / "h36m_order.json").write_text(json.dumps(wrong))
    assert cocoeval_ap(gt, tmp_path / "h36m_order.json") < 0.2


def test_the_coco_fixture_loads_and_scores(shared_dir, tmp_path):
    """The real COCO sample (../shared/fixtures/coco): people made from its ground truth, by name; the results
    load into its annotation file and COCOeval runs; left and right swapped scores lower."""
    pytest.importorskip("pycocotools")
    coco = shared_dir / "fixtures" / "coco"
    gt = coco / "test_coco.json"
    if not gt.is_file():
        pytest.skip(f"{gt} is absent")
    data = json.loads(gt.read_text())
    names = {im["id"]: im["file_name"] for im in data["images"]}
    people: dict = {}
    for a in data["annotations"]:
        if a.get("num_keypoints", 0) == 0 or a.get("iscrowd"):
            continue
        kp = np.asarray(a["keypoints"], np.float64).reshape(17, 3)
        at = {n: kp[COCO_NAMES.index(n), :2] for n in COCO_NAMES}
        named = {h: at[c] for c, h in COCO_FROM_H36M.items() if h is not None}
        named["Pelvis"] = (at["left_hip"] + at["right_hip"]) / 2
        named["Thorax"] = (at["left_shoulder"] + at["right_shoulder"]) / 2
        named["Spine"] = (named["Pelvis"] + named["Thorax"]) / 2
        named["Head_top"] = named["Neck_Nose"] + (named["Neck_Nose"] - named["Thorax"])
        people.setdefault(names[a["image_id"]], []).append(h36m_joints(named))
    inputs = []
    for im in data["images"]:
        src = cv2.imread(str(coco / im["file_name"]))
        if src is None:
            pytest.skip(f"{coco / im['file_name']} is absent")
        cv2.imwrite(str(tmp_path / im["file_name"]), src)
        inputs.append(tmp_path / im["file_name"])
    run(tmp_path, people, inputs, tmp_path / "out", image_list=gt)
    results = json.loads((tmp_path / "out" / COCO_RESULTS).read_text())
    assert {e["image_id"] for e in results} <= set(names) and all(type(e["image_id"]) is int for e in results)
    correct = cocoeval_ap(gt, tmp_path / "out" / COCO_RESULTS)
    run(tmp_path, _swapped(people), inputs, tmp_path / "swap", image_list=gt)
    swapped = cocoeval_ap(gt, tmp_path / "swap" / COCO_RESULTS)
    assert swapped < correct - 0.3  # measured: 0.64 and 0.0 (the eyes and ears, which Human3.6M lacks, cost the rest)


# --------------------------------------------------------------------------------- several runs, one folder


def _video(path, n=3):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 360))
    for _ in range(n):
        w.write(np.full((360, 320, 3), 90, np.uint8))
    w.release()
    return path


def test_runs_into_one_folder_merge_and_videos_number_their_frames(tmp_path):
    a, b = h36m_joints(STANDING), h36m_joints(STANDING, (5, 5))
    walk, coco7, clip = blank(tmp_path / "walk.jpg"), blank(tmp_path / "000000000007.jpg"), _video(tmp_path / "clip.avi")
    out = tmp_path / "out"
    run(tmp_path, {"walk.jpg": [a], "000000000007.jpg": [a, b], "clip.avi": [a]}, [walk, coco7, clip], out)
    ids = json.loads((out / COCO_IMAGE_IDS).read_text())
    assert ids["images"] == {str(coco7): 7, str(walk): 8}
    assert ids["videos"] == {str(clip): {"first_image_id": 9, "frames": 3}}
    first = json.loads((out / COCO_RESULTS).read_text())
    assert sorted(e["image_id"] for e in first) == [7, 7, 8, 9, 10, 11]  # frame f of the video: 9 + f
    # walk.jpg again, now with two people: its entries are replaced, its id kept; the others' entries kept
    run(tmp_path, {"walk.jpg": [b, a]}, [walk], out)
    again = json.loads((out / COCO_RESULTS).read_text())
    assert sorted(e["image_id"] for e in again) == [7, 7, 8, 8, 9, 10, 11]
    assert json.loads((out / COCO_IMAGE_IDS).read_text())["images"] == ids["images"]
    assert [e for e in again if e["image_id"] != 8] == [e for e in first if e["image_id"] != 8]


def test_an_earlier_versions_dict_is_rewritten_as_a_list(tmp_path):
    """A folder that an older cdlpose wrote (the dict, Human3.6M order, string ids): read, converted, kept."""
    out = tmp_path / "out"
    out.mkdir()
    j = h36m_joints(STANDING)
    old_kp = np.concatenate([j, np.full((17, 1), 0.8)], 1).reshape(-1).tolist()
    old = {"info": {"schema": "cdlpose-coco-results/1", "skeleton": "h36m17", "joint_names": list(H36M17.joints)},
           "categories": [], "annotations": [
               {"image_id": "beach.jpg", "category_id": 1, "keypoints": old_kp, "score": 0.7, "bbox": [1, 2, 3, 4],
                "file_name": str(tmp_path / "beach.jpg"), "keypoints_3d": [[0, 0, 0]] * 17},
               {"image_id": 2, "frame": 2, "category_id": 1, "keypoints": old_kp, "score": 0.6, "bbox": [1, 2, 3, 4],
                "file_name": str(tmp_path / "old.mp4")}]}
    (out / COCO_RESULTS).write_text(json.dumps(old))
    with OutputFolder(out, "predict") as folder:  # as an older cdlpose run left it, recorded as cdlpose's
        folder.record(COCO_RESULTS, RUN)
    walk = blank(tmp_path / "walk.jpg")
    res = run(tmp_path, {"walk.jpg": [j]}, [walk], out)
    assert any("older cdlpose" in n and "rewritten" in n for n in res["notes"])
    results = json.loads((out / COCO_RESULTS).read_text())
    ids = json.loads((out / COCO_IMAGE_IDS).read_text())
    assert isinstance(results, list) and len(results) == 3 and all(type(e["image_id"]) is int for e in results)
    beach = ids["images"][str(tmp_path / "beach.jpg")]
    (converted,) = [e for e in results if e["image_id"] == beach]
    assert converted["keypoints"] == coco_keypoints(j, np.full(17, 0.8), "h36m17") and "keypoints_3d" not in converted
    assert ids["videos"][str(tmp_path / "old.mp4")]["frames"] == 3  # frames 0-2 at least
    # a damaged earlier file: this run's entries, and a note — never a crash
    (out / COCO_RESULTS).write_text("{not json")
    with OutputFolder(out, "predict") as folder:  # damaged as cdlpose left it (changed since: not cdlpose's)
        folder.record(COCO_RESULTS, RUN)
    res = run(tmp_path, {"walk.jpg": [j]}, [walk], out)
    assert any("damaged" in n for n in res["notes"])
    assert [e["image_id"] for e in json.loads((out / COCO_RESULTS).read_text())] == [ids["images"][str(walk)]]
