"""MuCo-3DHP and MuPoTS-3D readers on small files in the published layout, made here, and `cdlpose data check`."""

import json

import cv2
import numpy as np
import pytest

from cdlpose.cli import main as cli_main
from cdlpose.data.readers import check_records, read_muco, read_mupots
from cdlpose.data.sample import DataError
from cdlpose.geometry import project


def _person(rng, root, J, f, c):
    X = root + rng.normal(scale=300, size=(J, 3))
    X[14 if J == 21 else 14] = root  # pelvis (index 14 in both joint sets)
    return X, project(X, f, c)


def _write(tmp_path, kind, people_roots, valid=None):
    rng = np.random.default_rng(0)
    f, c = np.array([1500.0, 1500.0]), np.array([1024.0, 1024.0])
    J = 21 if kind == "muco" else 17
    name = "TS3/img_000010.jpg" if kind == "mupots" else "unaugmented_set/1/img_0.jpg"
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(tmp_path / name), np.zeros((8, 8, 3), np.uint8))
    image = {"id": 1, "file_name": name, "width": 2048, "height": 2048}
    image.update({"f": f.tolist(), "c": c.tolist()} if kind == "muco" else {"intrinsic": [*f, *c]})
    anns = []
    for k, root in enumerate(people_roots):
        X, uv = _person(rng, np.array(root, float), J, f, c)
        a = {"id": k, "image_id": 1, "bbox": [*uv.min(0), *(uv.max(0) - uv.min(0))],
             "keypoints_img": uv.tolist(), "keypoints_cam": X.tolist()}
        if kind == "mupots":
            a["is_valid"] = 1 if valid is None else valid[k]
        anns.append(a)
    path = tmp_path / f"{kind}.json"
    path.write_text(json.dumps({"images": [image], "annotations": anns}))
    return path


def test_muco_keeps_the_nearest_person_and_well_separated_others(tmp_path):
    path = _write(tmp_path, "muco", [[0, 0, 4000], [300, 0, 4100], [2000, 0, 6000]])
    recs = read_muco(path)
    # person 1 is 316 mm from person 0: dropped; person 2 is far from both: kept
    assert [r["sample_id"] for r in recs] == ["muco/0", "muco/2"]
    assert len(read_muco(path, min_root_distance=None)) == 3
    for r in recs:
        assert r["joints_2d"].shape == (21, 2) and np.abs(project(r["joints_3d"], r["f"], r["c"]) - r["joints_2d"]).max() < 1e-6
    assert check_records(recs, "muco")["errors"] == []


def test_mupots_skips_invalid_people_and_names_sequences(tmp_path):
    path = _write(tmp_path, "mupots", [[0, 0, 4000], [1500, 0, 5000]], valid=[1, 0])
    recs = read_mupots(path)
    assert len(recs) == 1 and recs[0]["subject"] == "TS3" and recs[0]["skeleton"] == "mupots17"
    assert np.allclose(recs[0]["f"], 1500) and np.allclose(recs[0]["c"], 1024)


def test_bad_records_are_reported_together(tmp_path):
    path = _write(tmp_path, "muco", [[0, 0, 4000], [3000, 0, 4000]])
    data = json.loads(path.read_text())
    data["annotations"][0]["keypoints_cam"][3][0] = float("nan")
    path.write_text(json.dumps(data))  # Python's json writes NaN, as the releases' writers may
    with pytest.raises(DataError, match=r"muco.json: record muco/0: field 'joints_3d': NaN"):
        read_muco(path, min_root_distance=None)  # validated on load
    recs = read_muco(path, min_root_distance=None, validate=False)
    recs[1]["joints_3d"][:, 2] *= -1
    recs[1]["image_path"] += ".missing"
    report = check_records(recs, "muco.json")
    assert len(report["errors"]) == 2 and len(report["missing_images"]) == 1
    assert "NaN or infinite" in report["errors"][0] and "non-positive depth" in report["errors"][1]
    data["annotations"][0]["keypoints_img"] = data["annotations"][0]["keypoints_img"][:20]
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"muco.json: record 0: field 'keypoints_img/keypoints_cam': expected 21"):
        read_muco(path)


def test_cli_data_check(tmp_path, capsys):
    _write(tmp_path, "muco", [[0, 0, 4000]])
    mp = _write(tmp_path / "mp", "mupots", [[0, 0, 4000]])
    cfg = tmp_path / "data.yaml"
    cfg.write_text(f"datasets:\n  - {{format: muco, annotations: muco.json}}\n"
                   f"  - {{format: mupots, annotations: {mp}}}\n")
    assert cli_main(["data", "check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "datasets[0] (muco, train): 1 records: ok" in out and "datasets[1] (mupots, train): 1 records: ok" in out
    (tmp_path / "unaugmented_set" / "1" / "img_0.jpg").unlink()
    cfg.write_text("datasets:\n  - {format: muco, annotations: muco.json}\n  - {format: coco, annotations: none.json}\n")
    assert cli_main(["data", "check", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "1 missing images" in out and "missing image:" in out and "annotation file not found" in out
    assert "datasets[1] (coco, train): 0 records: 1 bad records" in out
    cfg.write_text("datasets:\n  - {format: h36m}\n")
    assert cli_main(["data", "check", str(cfg)]) == 2  # the YAML entry itself is wrong: reported, status 2
    assert "field 'format': expected one of" in capsys.readouterr().out


def test_data_check_accepts_a_training_config(tmp_path, monkeypatch, capsys):
    _write(tmp_path / "d", "muco", [[0, 0, 4000]])
    cfg = tmp_path / "train.yaml"
    cfg.write_text("data:\n  root: d\n  datasets:\n    - {format: muco, annotations: muco.json, role: train}\n"
                   "    - {format: synthetic, split: test, size: 5, role: test}\n")
    monkeypatch.chdir(tmp_path)  # data.root is relative to the working directory
    assert cli_main(["data", "check", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "datasets[0] (muco, train): 1 records: ok" in out and "datasets[1] (synthetic, test): 5 records" in out
    cfg.write_text("data:\n  datasets:\n    - {format: synthetic, role: holdout}\n")
    assert cli_main(["data", "check", str(cfg)]) == 2
    assert "field 'role': expected one of train, val, test" in capsys.readouterr().out


def _write_annot_mat(path, frames):
    """A MuPoTS-3D ``annot.mat`` as the release stores it: a frames × people cell of structs."""
    import scipy.io

    cells = np.empty((len(frames), max(len(f) for f in frames)), dtype=object)
    for i, people in enumerate(frames):
        for k, (uv, X, U) in enumerate(people):
            cells[i, k] = {"annot2": uv.T, "annot3": X.T, "univ_annot3": U.T, "isValidFrame": np.array([[1]])}
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), {"annotations": cells})


def test_mupots_reads_the_universal_ground_truth_from_annot_mat(tmp_path):
    path = _write(tmp_path, "mupots", [[0, 0, 4000], [1500, 0, 5000]])
    anns = json.loads(path.read_text())["annotations"]
    people = []
    for k, a in enumerate(anns[::-1]):  # the .mat lists the people in another order than the JSON
        uv, X = np.array(a["keypoints_img"]), np.array(a["keypoints_cam"])
        people.append((uv, X, (X - X[14]) * (0.9 - 0.05 * k) + X[14]))
    frames = [[(np.zeros((17, 2)), np.zeros((17, 3)), np.zeros((17, 3)))] * 2] * 10 + [people]  # frame 10
    _write_annot_mat(tmp_path / "TS3" / "annot.mat", frames)
    recs = read_mupots(path)
    assert len(recs) == 2
    for r, (uv, X, U) in zip(recs, people[::-1]):
        assert np.allclose(r["joints_2d"], uv) and np.allclose(r["joints_3d_univ"], U)
        assert not np.allclose(r["joints_3d_univ"], r["joints_3d"])  # not the JSON's annot3
    # without annot.mat the records carry no universal ground truth
    (tmp_path / "TS3" / "annot.mat").unlink()
    assert "joints_3d_univ" not in read_mupots(path)[0]
    # an annot.mat whose people do not match the JSON's is an error naming the file and the field
    _write_annot_mat(tmp_path / "TS3" / "annot.mat", [[(uv + 50, X, U) for uv, X, U in people]] * 11)
    with pytest.raises(DataError, match=r"annot.mat.*annot2.*no person of frame 10"):
        read_mupots(path)
    with pytest.raises(DataError, match="missing for 1 sequences"):
        read_mupots(path, annot_dir=tmp_path / "elsewhere")
