"""Readers of the multi-person 3D sets in Moon et al.'s COCO-style layout: MuCo-3DHP (training) and MuPoTS-3D
(test), with the official ``annot.mat`` ground truth (``univ_annot3``) of MuPoTS-3D's sequences."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .read_common import _finish, _floats, _frame_record, _image_of, _images_by_id, _problem, _read_json
from .sample import DataError

__all__ = ["read_muco", "read_mupots", "read_mupots_annot"]


def _read_multi_person(path: Path, image_root: Path, skeleton, dataset: str, intrinsics) -> list[dict]:
    data = _read_json(path, "annotation file")
    for field in ("images", "annotations"):
        if field not in data:
            raise DataError(str(path), "-", field, "missing")
    images = _images_by_id(data["images"], path)
    J = skeleton.num_joints
    out = []
    for k, a in enumerate(data["annotations"]):
        rid = str(a.get("id", k)) if isinstance(a, dict) else str(k)
        try:
            if not isinstance(a, dict):
                raise DataError(str(path), rid, "-", f"expected an object, got {type(a).__name__}")
            for field in ("image_id", "bbox", "keypoints_img", "keypoints_cam"):
                if field not in a:
                    raise DataError(str(path), rid, field, "missing")
            im = _image_of(images, a, path, rid)
            uv = _floats(a["keypoints_img"], path, rid, "keypoints_img")
            X = _floats(a["keypoints_cam"], path, rid, "keypoints_cam")
            if uv.shape != (J, 2) or X.shape != (J, 3):
                raise DataError(str(path), rid, "keypoints_img/keypoints_cam",
                                f"expected {J} × [u, v] and {J} × [X, Y, Z], got {uv.shape} and {X.shape}")
            box = _floats(a["bbox"], path, rid, "bbox")
            f, c = intrinsics(im, str(path), rid)
        except DataError as e:
            _problem(e)
            continue
        rec = _frame_record(str(image_root / im["file_name"]), skeleton, dataset, f"{dataset}/{rid}", uv,
                            box, joints_3d=X, f=f, c=c,
                            frame_size=(im.get("width", 0), im.get("height", 0)), image_id=a["image_id"])
        out.append((rec, a))
    return out


def read_muco(path: str | Path, image_root: str | Path | None = None, min_root_distance: float | None = 500.0,
              validate: bool = True):
    """MuCo-3DHP (Moon et al.'s COCO-style ``MuCo-3DHP.json``): images {id, file_name, f, c}, one annotation
    per person {image_id, bbox, keypoints_img (21 × [u, v]), keypoints_cam (21 × [X, Y, Z] mm)}.

    With ``min_root_distance`` (mm), as Moon et al. train: per image the person closest to the camera, plus every
    other person whose root is at least that far (in 3D) from all other people of the image.
    """
    from ..skeletons import MUCO21

    path = Path(path)
    root = path.parent if image_root is None else Path(image_root)

    def intr(im, src, rid):
        if "f" not in im or "c" not in im:
            raise DataError(src, rid, "f/c", f"image {im.get('id')} has no intrinsics")
        return np.asarray(im["f"], np.float64), np.asarray(im["c"], np.float64)

    pairs = _read_multi_person(path, root, MUCO21, "muco", intr)
    recs = [r for r, _ in pairs]
    if min_root_distance is None:
        return _finish(recs, str(path), validate)
    by_image: dict = {}
    for r in recs:
        by_image.setdefault(r["image_id"], []).append(r)
    kept = []
    pelvis = MUCO21.root
    for people in by_image.values():
        roots = np.stack([p["joints_3d"][pelvis] for p in people])
        nearest = int(np.argmin(roots[:, 2]))
        for i, p in enumerate(people):
            others = np.delete(roots, i, axis=0)
            far = len(others) == 0 or np.linalg.norm(others - roots[i], axis=1).min() >= min_root_distance
            if i == nearest or far:
                kept.append(p)
    return _finish(kept, str(path), validate)


def read_mupots(path: str | Path, image_root: str | Path | None = None, validate: bool = True,
                annot_dir: str | Path | None = None) -> list[dict]:
    """MuPoTS-3D (``MuPoTS-3D.json``): images {id, file_name, intrinsic [fx, fy, cx, cy]}, annotations
    {image_id, bbox, keypoints_img, keypoints_cam, is_valid}. People with ``is_valid = 0`` are skipped (they
    count in neither "all" nor "matched" evaluation); ``subject`` holds the sequence (TS1 … TS20).

    ``keypoints_cam`` of Moon et al.'s JSON is ``annot3`` (its projection is ``keypoints_img``), not the
    ``univ_annot3`` the official evaluation scores against. The universal ground truth is read from the
    release's ``TS<n>/annot.mat`` files under ``annot_dir`` (default: the image folder, ``MultiPersonTestSet``,
    where the release keeps them) when they are there, into ``joints_3d_univ`` (17, 3) mm, matched to the JSON's
    people by frame and 2D joints (:func:`read_mupots_annot`).
    """
    from ..skeletons import MUPOTS17

    path = Path(path)
    root = path.parent if image_root is None else Path(image_root)

    def intr(im, src, rid):
        k = im.get("intrinsic")
        if k is None or len(k) != 4:
            raise DataError(src, rid, "intrinsic", "expected [fx, fy, cx, cy] for the image")
        return np.asarray(k[:2], np.float64), np.asarray(k[2:], np.float64)

    out = []
    for rec, a in _read_multi_person(path, root, MUPOTS17, "mupots", intr):
        if not a.get("is_valid", 1):
            continue
        m = re.search(r"TS(\d+)", rec["image_path"])
        rec["subject"] = f"TS{m.group(1)}" if m else ""
        f = re.search(r"img_(\d+)\.\w+$", rec["image_path"])
        rec["frame"] = int(f.group(1)) if f else -1
        out.append(rec)
    adir = root if annot_dir is None else Path(annot_dir)
    seqs = sorted({r["subject"] for r in out if r["subject"]})
    have = [s for s in seqs if (adir / s / "annot.mat").is_file()]
    if annot_dir is not None and len(have) < len(seqs):
        missing = [str(adir / s / "annot.mat") for s in seqs if s not in have]
        raise DataError(str(adir), "-", "annot.mat", f"missing for {len(missing)} sequences: {', '.join(missing[:5])}")
    if have and len(have) == len(seqs):
        for s in seqs:
            _attach_univ(out, s, adir / s / "annot.mat")
    return _finish(out, str(path), validate)


def read_mupots_annot(path: str | Path) -> list[list[dict]]:
    """A MuPoTS-3D ``TS<n>/annot.mat`` (MATLAB v5: ``annotations``, a frames × people cell of structs with
    ``annot2`` (2, 17) px, ``annot3`` and ``univ_annot3`` (3, 17) mm, ``isValidFrame``).

    Returns per frame the list of people: ``{"annot2": (17, 2), "annot3": (17, 3), "univ_annot3": (17, 3),
    "valid": bool}``. Errors name the file, the cell and the field."""
    import scipy.io

    path = Path(path)
    try:
        mat = scipy.io.loadmat(str(path), struct_as_record=False, squeeze_me=False)
    except Exception as e:  # scipy raises several types for a damaged or foreign file
        raise DataError(str(path), "-", "-", f"not a readable MATLAB file ({e})") from None
    if "annotations" not in mat:
        raise DataError(str(path), "-", "annotations", "missing")
    cells = np.asarray(mat["annotations"], dtype=object)
    if cells.ndim != 2:
        raise DataError(str(path), "-", "annotations", f"expected a frames × people cell, got shape {cells.shape}")
    frames = []
    for i in range(cells.shape[0]):
        people = []
        for k in range(cells.shape[1]):
            st = np.asarray(cells[i, k]).reshape(-1)[0]
            rec = {}
            for field, rows in (("annot2", 2), ("annot3", 3), ("univ_annot3", 3)):
                v = np.asarray(getattr(st, field, None) if not isinstance(st, dict) else st.get(field), np.float64)
                if v.shape != (rows, 17):
                    raise DataError(str(path), f"frame {i} person {k}", field, f"expected {rows} × 17, got {v.shape}")
                rec[field] = v.T.copy()
            vf = getattr(st, "isValidFrame", None) if not isinstance(st, dict) else st.get("isValidFrame")
            rec["valid"] = bool(np.asarray(vf).reshape(-1)[0]) if vf is not None else True
            people.append(rec)
        frames.append(people)
    return frames


def _attach_univ(records: list[dict], sequence: str, mat_path: Path) -> None:
    frames = read_mupots_annot(mat_path)
    for r in records:
        if r["subject"] != sequence:
            continue
        if not 0 <= r["frame"] < len(frames):
            raise DataError(str(mat_path), r["sample_id"], "annotations", f"no frame {r['frame']} in the file")
        people = frames[r["frame"]]
        d = [np.abs(p["annot2"] - r["joints_2d"]).max() for p in people]
        k = int(np.argmin(d)) if d else -1
        if k < 0 or d[k] > 1.0:
            raise DataError(str(mat_path), r["sample_id"], "annot2",
                            f"no person of frame {r['frame']} has this annotation's 2D joints (closest: "
                            f"{min(d) if d else float('nan'):.1f} px)")
        r["joints_3d_univ"] = people[k]["univ_annot3"]
