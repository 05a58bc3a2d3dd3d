"""The output-folder policy (cdlpose.outputs) and the commands that use it: a folder is claimed by one run at a
time, a file cdlpose did not write (judged by what is on disk now, not by its name) is never replaced unasked,
temporary files cannot be redirected by a planted link, and a multi-file output says when it is complete."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cdlpose.checkpoint import write_bytes_atomic
from cdlpose.errors import OutputError
from cdlpose.outputs import COMPLETE, LEDGER, LOCK, FolderBusy, OutputFolder


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_second_live_run_is_refused_and_names_the_first(tmp_path):
    with OutputFolder(tmp_path / "o", "predict"):
        with pytest.raises(FolderBusy, match=r"in use by another cdlpose run \(.*predict.*pid"):
            OutputFolder(tmp_path / "o", "synth", pid=os.getpid() + 1)  # another process of this host
    # released: the next run may claim it
    OutputFolder(tmp_path / "o", "synth").release()
    assert not (tmp_path / "o" / LOCK).exists()


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path):
    (tmp_path / "o").mkdir()
    import socket

    (tmp_path / "o" / LOCK).write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(),
                                                   "command": "predict"}))
    with OutputFolder(tmp_path / "o", "synth") as f:
        assert json.loads((f.path / LOCK).read_text())["command"] == "synth"


def test_a_symlinked_lock_is_not_followed(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / LOCK).symlink_to(victim)
    with OutputFolder(tmp_path / "o", "predict"):
        pass
    assert victim.read_text() == "precious"


def test_own_files_may_be_replaced_and_others_may_not(tmp_path):
    with OutputFolder(tmp_path, "predict") as f:
        f.write_text("walk.json", "{}")
        assert f.ours("walk.json") and f.foreign(["walk.json"]) == []
        # deleted, and a user's file of the same name appears (a labelme annotation): not cdlpose's any more
        (tmp_path / "walk.json").unlink()
        (tmp_path / "walk.json").write_text('{"shapes": []}')
        assert f.foreign(["walk.json"]) == [tmp_path / "walk.json"]
        with pytest.raises(OutputError, match=r"would be replaced that cdlpose did not write: .*walk.json"):
            f.refuse_foreign(["walk.json"], overwrite=False)
        f.refuse_foreign(["walk.json"], overwrite=True)  # asked for


def test_a_file_changed_in_place_is_no_longer_cdlposes(tmp_path):
    with OutputFolder(tmp_path, "predict") as f:
        f.write_text("a.json", "{}")
        with open(tmp_path / "a.json", "a") as fh:  # same inode, new size and mtime
            fh.write(" ")
        assert not f.ours("a.json")


def test_the_ledger_survives_between_runs_and_a_planted_ledger_link_is_not_trusted(tmp_path):
    with OutputFolder(tmp_path, "predict") as f:
        f.write_text("a.json", "{}")
    with OutputFolder(tmp_path, "predict") as f:
        assert f.ours("a.json")
    outside = tmp_path.parent / f"{tmp_path.name}-ledger.json"
    outside.write_text(json.dumps({"files": {"b.json": [2, 0, 0]}}))
    (tmp_path / LEDGER).unlink()
    (tmp_path / LEDGER).symlink_to(outside)
    with OutputFolder(tmp_path, "predict") as f:
        assert f.ledger == {}
        f.write_text("c.json", "{}")
    assert json.loads(outside.read_text()) == {"files": {"b.json": [2, 0, 0]}}  # the link was replaced
    assert not (tmp_path / LEDGER).is_symlink()


def test_writes_never_go_through_a_link_at_the_final_or_the_old_temporary_name(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for name in ("victim_final", "victim_tmp"):
        (elsewhere / name).write_text("precious")
    out = tmp_path / "o"
    out.mkdir()
    (out / "walk.json").symlink_to(elsewhere / "victim_final")
    (out / ".walk.json.tmp").symlink_to(elsewhere / "victim_tmp")  # the old fixed temporary name
    write_bytes_atomic(out / "walk.json", b"{}")
    assert (elsewhere / "victim_final").read_text() == "precious"
    assert (elsewhere / "victim_tmp").read_text() == "precious"
    assert not (out / "walk.json").is_symlink() and (out / "walk.json").read_bytes() == b"{}"


def test_the_complete_marker_is_removed_first_and_written_last(tmp_path):
    with OutputFolder(tmp_path, "synth") as f:
        f.start()
        f.finish({"images": 1})
        assert f.complete()
    with OutputFolder(tmp_path, "synth") as f:
        f.start()
        assert not (tmp_path / COMPLETE).exists() and not f.complete()


# --- cdlpose synth -------------------------------------------------------------------------------------------

def _synth(tmp_path, out, n, *extra):
    from cdlpose.cli import main

    return main(["synth", "--style", "plain", "-n", str(n), "--sheet", "2", "--out", str(out), *extra])


@pytest.mark.parametrize("user_file", ["images/000000.jpg", "contact_sheet.png"])
def test_synth_refuses_to_replace_a_users_files(tmp_path, capsys, user_file):
    out = tmp_path / "o"
    (out / "images").mkdir(parents=True)
    (out / user_file).write_bytes(b"the user's picture")
    assert _synth(tmp_path, out, 2) != 0
    assert "did not write" in capsys.readouterr().err
    assert (out / user_file).read_bytes() == b"the user's picture"


def test_synth_overwrite_with_fewer_images_removes_its_own_stale_ones_and_counts_right(tmp_path, capsys):
    out = tmp_path / "o"
    assert _synth(tmp_path, out, 3) == 0
    (out / "images" / "mine.jpg").write_bytes(b"a user's file in the folder")
    capsys.readouterr()
    assert _synth(tmp_path, out, 2, "--overwrite") == 0
    assert "wrote 2 " in capsys.readouterr().out
    assert sorted(p.name for p in (out / "images").iterdir()) == ["000000.jpg", "000001.jpg", "mine.jpg"]
    assert len(json.loads((out / "annotations.json").read_text())["images"]) == 2
    assert (out / COMPLETE).is_file()


def test_a_killed_synth_overwrite_leaves_no_annotations_beside_new_images(tmp_path, monkeypatch):
    from cdlpose.data import synth_export
    from cdlpose.data.synthetic import SyntheticHumans

    out = tmp_path / "o"
    assert _synth(tmp_path, out, 2) == 0
    real = SyntheticHumans.__getitem__

    def dies_at_the_second(self, i):
        if i == 1:
            raise KeyboardInterrupt
        return real(self, i)

    monkeypatch.setattr(SyntheticHumans, "__getitem__", dies_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        synth_export.export_synthetic(out, 2, style="plain", sheet=0, overwrite=True)
    assert not (out / "annotations.json").exists() and not (out / COMPLETE).exists()
    assert not (out / LOCK).exists()  # released on the way out


def test_synth_an_image_it_cannot_write_fails_naming_the_file(tmp_path, capsys):
    out = tmp_path / "o"
    (out / "images" / "000001.jpg").mkdir(parents=True)  # a folder where an image goes
    code = _synth(tmp_path, out, 2, "--overwrite")
    err = capsys.readouterr().err
    assert code == 4 and "000001.jpg" in err
    assert not (out / "annotations.json").exists()


def test_synth_into_a_folder_another_run_holds_is_refused(tmp_path, capsys):
    out = tmp_path / "o"
    with OutputFolder(out, "predict", pid=os.getpid() + 1):
        pass
    import socket

    (out / LOCK).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname(), "command": "predict"}))
    code = _synth(tmp_path, out, 1)
    assert code != 0 and "in use by another cdlpose run" in capsys.readouterr().err
    assert not (out / "annotations.json").exists()


@pytest.mark.parametrize("n", ["0", "-3"])
def test_synth_refuses_a_sample_count_below_one(tmp_path, capsys, n):
    code = _synth(tmp_path, tmp_path / "o", n)
    assert code == 2 and "-n must be at least 1" in capsys.readouterr().err
    assert not (tmp_path / "o" / "annotations.json").exists()


# --- MakeHuman materials -------------------------------------------------------------------------------------

@pytest.mark.parametrize("texture", ["../../../../secret.png", "ABSOLUTE", "link.png"])
def test_a_material_texture_outside_its_folder_is_refused(tmp_path, texture):
    import cv2

    from cdlpose.data.mh_assets import read_material

    secret = tmp_path / "secret.png"
    cv2.imwrite(str(secret), np.zeros((4, 4, 3), np.uint8))
    folder = tmp_path / "a" / "b" / "c" / "skin"
    folder.mkdir(parents=True)
    if texture == "ABSOLUTE":
        texture = str(secret)
    if texture == "link.png":
        (folder / "link.png").symlink_to(secret)
    (folder / "skin.mhmat").write_text(f"name skin\ndiffuseTexture {texture}\n")
    with pytest.raises(ValueError, match="outside the material's folder"):
        read_material(folder / "skin.mhmat")


def test_a_material_texture_beside_it_is_read(tmp_path):
    import cv2

    from cdlpose.data.mh_assets import read_material

    (tmp_path / "textures").mkdir()
    cv2.imwrite(str(tmp_path / "textures" / "t.png"), np.full((4, 4, 3), 200, np.uint8))
    (tmp_path / "skin.mhmat").write_text("name skin\ndiffuseTexture textures/t.png\n")
    assert read_material(tmp_path / "skin.mhmat").texture.shape == (4, 4, 3)


# --- inputs that used to end in a traceback ------------------------------------------------------------------

def _bomb_png(path, side=20000):
    """A tiny PNG whose header claims side × side pixels (all zero: it compresses to almost nothing)."""
    import struct
    import zlib

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = zlib.compress(b"\0" * (side + 1) * 64, 9)  # a few rows: the header is what matters
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_by_name_before_decoding(tmp_path):
    from cdlpose.data.readers import load_image

    _bomb_png(tmp_path / "bomb.png")
    with pytest.raises(ValueError, match=r"bomb.png claims 400 megapixels"):
        load_image(tmp_path / "bomb.png")


def test_a_truncated_npz_and_a_camera_pickle_holding_a_list_are_named(tmp_path):
    import pickle

    from cdlpose.data.readers import load_cameras_pkl, read_h36m_mmpose
    from cdlpose.errors import DataError

    good = tmp_path / "good.npz"
    np.savez(good, imgname=np.array(["S1_Walking.54138969_000001.jpg"]), center=np.zeros((1, 2)),
             scale=np.ones(1), part=np.zeros((1, 17, 3)), S=np.zeros((1, 17, 4)))
    (tmp_path / "cut.npz").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (tmp_path / "cameras.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DataError, match=r"cut.npz.*truncated or damaged"):
        read_h36m_mmpose(tmp_path / "cut.npz", tmp_path / "cameras.pkl")
    with pytest.raises(DataError, match=r"cameras.pkl.*expected a mapping .*got a list"):
        load_cameras_pkl(tmp_path / "cameras.pkl")


def test_data_check_reports_a_camera_list_instead_of_a_traceback(tmp_path, capsys):
    import pickle

    from cdlpose.cli import main

    np.savez(tmp_path / "train.npz", imgname=np.array(["S1_Walking.54138969_000001.jpg"]), center=np.zeros((1, 2)),
             scale=np.ones(1), part=np.zeros((1, 17, 3)), S=np.zeros((1, 17, 4)))
    (tmp_path / "cameras.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    (tmp_path / "data.yaml").write_text("datasets:\n  - {format: h36m-mmpose, annotations: train.npz, "
                                        "cameras: cameras.pkl}\n")
    code = main(["data", "check", str(tmp_path / "data.yaml")])
    out = capsys.readouterr()
    assert code != 0 and "expected a mapping" in out.out + out.err


def test_a_detections_file_nested_100000_deep_is_an_input_error(tmp_path):
    from cdlpose.detection import read_detections
    from cdlpose.errors import InputError

    (tmp_path / "det.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InputError, match="nested too deeply"):
        read_detections(tmp_path / "det.json")


def test_an_input_size_beyond_any_network_is_refused_before_allocating():
    from cdlpose.config import load_config
    from cdlpose.errors import ConfigError

    with pytest.raises(ConfigError, match="augment.input_size"):
        load_config(None, ["augment.input_size=100000"])
    assert load_config(None, ["augment.input_size=512"]).augment.input_size == 512


def test_detections_keyed_by_path_give_each_camera_only_its_own_boxes(tmp_path):
    from cdlpose.detection import read_detections

    (tmp_path / "det.json").write_text(json.dumps([
        {"file_name": "cam1/0001.jpg", "bbox": [1, 2, 30, 40], "score": 0.9},
        {"file_name": "cam2/0001.jpg", "bbox": [5, 6, 70, 80], "score": 0.8},
        {"file_name": "solo.jpg", "bbox": [0, 0, 9, 9], "score": 0.7}]))
    d = read_detections(tmp_path / "det.json")
    assert d.boxes_for("/data/shoot/cam1/0001.jpg") == [[1, 2, 30, 40]]
    assert d.boxes_for("cam2/0001.jpg") == [[5, 6, 70, 80]]
    assert d.boxes_for("/elsewhere/0001.jpg") == []  # which camera's? neither: ambiguous
    assert d.boxes_for("/any/folder/solo.jpg") == [[0, 0, 9, 9]]  # a unique name still matches by name


# --- what cdlpose predict needs of the policy (the commands' cases: tests/test_predict_faults.py) -------------

def test_a_file_is_ours_for_the_source_it_was_written_for_and_old_entries_still_count(tmp_path):
    with OutputFolder(tmp_path, "predict") as f:
        f.write_text("walk.json", "{}", source="/photos/walk.jpg")
        assert f.ours("walk.json") and f.ours("walk.json", "/photos/walk.jpg")
        assert not f.ours("walk.json", "/elsewhere/walk.jpg") and f.source("walk.json") == "/photos/walk.jpg"
        assert f.foreign(["walk.json"], "/elsewhere/walk.jpg") == [tmp_path / "walk.json"]
        f.write_text("notes.json", "{}")  # an entry without a source (synth, an earlier ledger): ours, for none
        assert f.ours("notes.json") and not f.ours("notes.json", "/photos/walk.jpg")
    with OutputFolder(tmp_path, "predict") as f:  # kept in the ledger between runs
        assert f.ours("walk.json", "/photos/walk.jpg")


def test_ctrl_c_in_the_middle_of_a_write_leaves_no_temporary_and_the_old_file(tmp_path, monkeypatch):
    import cdlpose.outputs as outputs

    with OutputFolder(tmp_path, "predict") as f:
        f.write_text("a.json", '{"old": 1}')

        def interrupted(*a):
            raise KeyboardInterrupt

        monkeypatch.setattr(outputs.os, "replace", interrupted)
        with pytest.raises(KeyboardInterrupt):
            f.write_text("a.json", '{"new": 2}')
        monkeypatch.undo()
        assert (tmp_path / "a.json").read_text() == '{"old": 1}' and f.ours("a.json")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a.json", LEDGER, LOCK])


def test_the_record_of_a_file_is_taken_from_what_was_written_not_what_is_there_later(tmp_path, monkeypatch):
    """The signature comes from the temporary file's own descriptor: a file swapped in at the final name right
    after the rename is not mistaken for cdlpose's."""
    import cdlpose.outputs as outputs

    real_replace = os.replace

    def replace_then_swap(src, dst):
        real_replace(src, dst)
        os.unlink(dst)
        with open(dst, "w") as fh:
            fh.write("someone else's file, same size")

    with OutputFolder(tmp_path, "predict") as f:
        monkeypatch.setattr(outputs.os, "replace", replace_then_swap)
        f.write_text("a.json", "cdlpose's own file, same size!")
        monkeypatch.undo()
        assert not f.ours("a.json")


def test_a_lock_is_never_seen_empty_by_another_run(tmp_path, monkeypatch):
    """The lock appears with its text (a temporary file linked into place): a run that finds it while the first
    is still writing it does not take it for a dead run's."""
    import cdlpose.outputs as outputs

    seen = []
    real_link = os.link

    def link_and_look(src, dst, **kw):
        real_link(src, dst, **kw)
        seen.append(json.loads(open(dst).read())["command"])

    monkeypatch.setattr(outputs.os, "link", link_and_look)
    with OutputFolder(tmp_path, "predict"):
        assert seen == ["predict"]
        with pytest.raises(FolderBusy):
            OutputFolder(tmp_path, "synth", pid=os.getpid() + 1)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(LOCK)]  # no temporary of the lock left


def test_ledger_saves_when_due_are_bounded(tmp_path):
    with OutputFolder(tmp_path, "predict") as f:
        f.write_bytes("a.json", b"{}", save=False)
        f.save(due_only=True)  # the first is due
        assert "a.json" in json.loads((tmp_path / LEDGER).read_text())["files"] and not f.unsaved
        f.write_bytes("b.json", b"{}", save=False)
        f.save(due_only=True)  # within a second of the last save: not yet
        assert "b.json" not in json.loads((tmp_path / LEDGER).read_text())["files"] and f.unsaved
        f.save()
        assert "b.json" in json.loads((tmp_path / LEDGER).read_text())["files"]
