"""The Anny body (optional ``.[realistic]`` dependencies): its Human3.6M joints, rendering, inverse kinematics."""

import builtins
from pathlib import Path

import numpy as np
import pytest
import torch

from cdlpose.data import anny_body, mh_assets, realistic
from cdlpose.skeletons import get_skeleton

SK = get_skeleton("h36m17")
J = {n: i for i, n in enumerate(SK.joints)}


def test_missing_dependencies_name_the_install_command(monkeypatch):
    real = builtins.__import__

    def no_anny(name, *a, **k):
        if name == "anny":
            raise ImportError("No module named 'anny'")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_anny)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[realistic\]".*missing: anny'):
        anny_body.require_realistic()


@pytest.fixture(scope="module")
def body():
    pytest.importorskip("anny")
    pytest.importorskip("pyrender")
    return anny_body.AnnyBody()


class _Stop(Exception):
    """Raised in place of building Anny's model: what AnnyBody says before it is what these tests read."""


def _no_model(*a, **k):
    raise _Stop


def test_the_cache_build_is_announced_where_how_big_and_how_long(monkeypatch, tmp_path, capfd):
    """The first body on a machine builds Anny's cache (minutes, ~790 MB): one line says so before, naming the
    folder (catches the silent first run, and a line naming another folder than the one Anny fills); the folder
    asked for is this construction's only (catches Anny's process-wide setting left pointing at it)."""
    anny = pytest.importorskip("anny")
    pytest.importorskip("pyrender")
    import anny.paths

    before = anny.paths.get_anny_cache_path()
    where = tmp_path / "anny-cache"
    assert not anny_body.anny_cache_built(where)
    monkeypatch.setattr(anny, "Anny", _no_model)
    with pytest.raises(_Stop):
        anny_body.AnnyBody(cache_dir=where)
    lines = [ln for ln in capfd.readouterr().err.splitlines() if "cache" in ln]
    assert len(lines) == 1, lines
    assert f"building the Anny body model's cache in {where} " in lines[0]
    assert "790 MB" in lines[0] and "min" in lines[0] and "ANNY_CACHE_DIR" in lines[0]
    assert anny.paths.get_anny_cache_path() == before


def test_no_cache_line_once_the_cache_is_built(body, monkeypatch, capfd):
    """With Anny's cache in place (the ``body`` fixture built it) nothing is said: catches a check that never
    recognises the cache Anny wrote (the line on every run) — it computes Anny's own file name."""
    import anny

    assert anny_body.anny_cache_built()
    capfd.readouterr()
    monkeypatch.setattr(anny, "Anny", _no_model)
    with pytest.raises(_Stop):
        anny_body.AnnyBody()
    assert "cache" not in capfd.readouterr().err


def test_warps_no_driver_warning_is_dropped_and_nothing_else(monkeypatch, capfd):
    """Warp's native library writes its no-CUDA-driver warning to file descriptor 2 when it starts: dropped (a
    CPU-only machine sees no GPU warning); anything else it writes there still shows; its log level is raised."""
    import os
    import sys
    import types

    said = (b"Warp CUDA warning: Could not find or load the NVIDIA CUDA driver. GPU execution will not be "
            b"available.\nWarp CUDA error: something else\n")
    fake = types.SimpleNamespace(config=types.SimpleNamespace(log_level=20), LOG_WARNING=30,
                                 init=lambda: os.write(2, said))
    monkeypatch.setitem(sys.modules, "warp", fake)
    anny_body._quiet_warp()
    err = capfd.readouterr().err
    assert "Could not find or load the NVIDIA CUDA driver" not in err
    assert "Warp CUDA error: something else" in err
    assert fake.config.log_level == 30


def test_a_body_built_on_this_machine_prints_no_gpu_warning(body):
    """A fresh process builds the body as ``synth --style realistic`` does: no CUDA or GPU text on its output
    (on a CPU-only machine Warp warned "Warp CUDA warning: Could not find or load the NVIDIA CUDA driver"; on a
    machine with a driver there is nothing to warn about and this passes either way)."""
    import subprocess
    import sys

    code = "from cdlpose.data.anny_body import AnnyBody; AnnyBody(); print('built')"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == "built"
    assert "CUDA" not in run.stderr and "GPU" not in run.stderr, run.stderr


def test_synth_builds_the_body_before_its_progress_bar(monkeypatch, tmp_path):
    """``synth --style realistic``: the body (and, the first time, Anny's cache) is built before the progress bar
    starts, so that its rate and ETA count images only (it showed 21:56 for 8 images while the cache was built)."""
    from cdlpose.data import synth_export

    events = []
    monkeypatch.setattr(realistic, "person_state", lambda *a, **k: events.append("body"))

    def bar(items, **k):
        events.append("bar")
        return iter(items)

    monkeypatch.setattr(synth_export, "tqdm", bar)

    class Realistic:
        style = "realistic"

        def __getitem__(self, i):
            events.append("image")
            return {"image": np.zeros((8, 8, 3), np.uint8), "joints_2d": np.zeros((17, 2))}

    synth_export._export(Realistic(), range(2), tmp_path / "out", {}, 0, False)
    assert events == ["body", "bar", "image", "image"]


def test_joint_definitions_cover_the_skeleton():
    assert set(anny_body.JOINT_DEFINITIONS) == set(SK.joints)


def test_joints_sit_where_human36m_puts_them(body):
    j = body()["joints"][0].numpy()  # rest pose, mm; Anny's frame: z up, facing -y, left at +x
    for side, sign in (("L", 1), ("R", -1)):
        for part in ("Hip", "Knee", "Ankle", "Shoulder", "Elbow", "Wrist"):
            assert sign * j[J[f"{side}_{part}"], 0] > 50, (side, part)  # the subject's left at +x
    assert np.allclose(j[J["Pelvis"]], (j[J["L_Hip"]] + j[J["R_Hip"]]) / 2)
    z = j[:, 2]
    assert z[J["L_Ankle"]] < z[J["L_Knee"]] < z[J["Pelvis"]] < z[J["Spine"]] < z[J["Thorax"]] < z[J["Head_top"]]
    assert z[J["Thorax"]] < z[J["Neck_Nose"]] < z[J["Head_top"]]
    assert j[J["Neck_Nose"], 1] < j[J["Thorax"], 1] - 60  # the nose in front of the neck (the face looks to -y)
    # the head joints where Human3.6M has them: in the torso's frame, in pelvis-thorax lengths (a unit, sign or
    # axis slip moves them by tens of mm)
    length = j[J["Thorax"], 2] - j[J["Pelvis"], 2]
    for name, (_, up, fwd) in anny_body.H36M_HEAD_OFFSETS.items():
        d = j[J[name]] - j[J["Thorax"]]
        assert d == pytest.approx([0.0, -fwd * length, up * length], abs=3.0), name
    thigh = np.linalg.norm(j[J["L_Knee"]] - j[J["L_Hip"]])
    shin = np.linalg.norm(j[J["L_Ankle"]] - j[J["L_Knee"]])
    assert 330 < thigh < 480 and 330 < shin < 480  # an adult's, in mm
    # a taller phenotype is taller
    tall = body(phenotype={"height": 0.9})["joints"][0].numpy()
    assert tall[J["Head_top"], 2] - tall[J["L_Ankle"], 2] > z[J["Head_top"]] - z[J["L_Ankle"]] + 50


def test_render_projects_like_cdlpose(body):
    """A small square at a known camera position appears at its pinhole projection (catches flipped axes or a
    principal point taken from the bottom; the centroid of a few pixels cannot pin half a pixel: that is
    tests/test_realistic.py::test_the_renderer_draws_where_cdlpose_projects, from silhouette edges)."""
    x, y, zc, h = 200.0, -100.0, 2000.0, 10.0
    v = np.array([[x - h, y - h, zc], [x + h, y - h, zc], [x + h, y + h, zc], [x - h, y + h, zc]])
    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 2, 1], [0, 3, 2]])  # both windings: visible from either side
    f, c = (300.0, 320.0), (100.5, 80.0)
    r = realistic.render_mesh(v, faces, f, c, (256, 200))
    assert r["image"].shape == (200, 256, 3)
    rows, cols = np.nonzero(np.isfinite(r["depth"]))
    assert len(rows) > 4
    assert cols.mean() == pytest.approx(f[0] * x / zc + c[0], abs=0.6)
    assert rows.mean() == pytest.approx(f[1] * y / zc + c[1], abs=0.6)
    assert np.median(r["depth"][rows, cols]) == pytest.approx(zc, rel=1e-3)


def test_projected_joints_fall_on_the_rendered_body(body):
    g = torch.Generator().manual_seed(3)
    rot = {b: 0.3 * torch.randn(2, 3, generator=g) for b in anny_body.IK_BONES if b != "root"}
    out = body(rot)
    # frontal and a three-quarter view: body (z up, facing -y) into camera axes (x right, y down, z forward)
    front = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    a = np.deg2rad(40)
    turn = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    f, c = (260.0, 260.0), (127.5, 127.5)
    for k, R in enumerate((front, front @ turn)):
        V = out["vertices"][k].numpy() @ R.T + [0, 0, 3200.0]
        Jc = out["joints"][k].numpy() @ R.T + [0, 0, 3200.0]
        depth = realistic.render_mesh(V, body.faces, f, c, 256)["depth"]
        uv = Jc[:, :2] / Jc[:, 2:] * f + c
        px = np.round(uv).astype(int)
        assert ((px >= 2) & (px < 254)).all()
        for i, name in enumerate(SK.joints):
            d = depth[px[i, 1], px[i, 0]]
            if name in ("Neck_Nose", "Head_top"):  # Human3.6M's head points: in the head, near its surface
                near = depth[px[i, 1] - 2:px[i, 1] + 3, px[i, 0] - 2:px[i, 0] + 3]
                assert np.isfinite(near).any() and np.abs(near - Jc[i, 2]).min() < 120, (k, name)
            else:  # rotation centres: inside the silhouette, behind the visible surface
                assert np.isfinite(d) and Jc[i, 2] > d + 10, (k, name, Jc[i, 2], d)
    # the frontal view shows the subject's left on the image's right
    V = out["vertices"][0].numpy() @ front.T + [0, 0, 3200.0]
    Jc = out["joints"][0].numpy() @ front.T + [0, 0, 3200.0]
    assert Jc[J["L_Shoulder"], 0] > Jc[J["R_Shoulder"], 0]


def test_inverse_kinematics_reproduces_given_joints(body):
    g = torch.Generator().manual_seed(0)
    rot = {b: 0.35 * torch.randn(2, 3, generator=g) for b in anny_body.IK_BONES}
    with torch.no_grad():
        target = body(rot)["joints"] + torch.tensor([100.0, -50.0, 900.0])  # anywhere: the fit follows the pelvis
    rest = body()["joints"][0]
    before = (rest - rest[0] - (target - target[:, :1])).norm(dim=-1).mean(-1)
    assert (before > 200).all()
    closed = body.retarget(target)  # closed form: most of the way
    assert (closed["error_mm"] < 0.15 * before).all(), (closed["error_mm"], before)
    out = body(closed["rotations"])  # its rotations give its body
    assert torch.allclose(out["joints"] - out["joints"][:, :1] + target[:, :1], closed["joints"], atol=0.1)
    fit = body.fit(target)  # then refined by gradient steps
    assert (fit["error_mm"] < 12).all() and (fit["error_mm"] < 0.5 * closed["error_mm"]).all(), fit["error_mm"]
    assert (body.fit(target, start="rest", steps=200)["error_mm"] < 10).all()
    assert torch.allclose(fit["joints"][:, 0], target[:, 0], atol=1e-3)
    assert torch.allclose(fit["error_mm"], (fit["joints"] - target).norm(dim=-1).mean(-1), atol=1e-4)
    with pytest.raises(ValueError, match=r"finite \(B, 17, 3\)"):
        body.fit(torch.full((1, 17, 3), float("nan")))


SKINS = Path(__file__).resolve().parents[2] / "shared" / "assets" / "makehuman-cc0" / "skins"


def test_read_skin(tmp_path):
    from PIL import Image

    Image.fromarray(np.full((4, 4, 3), (200, 10, 10), np.uint8)).save(tmp_path / "red.png")
    (tmp_path / "a.mhmat").write_text("# MakeHuman\nname red_skin\ndiffuseColor 0.5 0.25 1\ndiffuseTexture red.png\n")
    skin = mh_assets.read_material(tmp_path / "a.mhmat")
    assert skin.name == "red_skin" and skin.texture.shape == (4, 4, 3) and skin.texture[0, 0, 0] == 200
    assert np.allclose(skin.colour, [0.5, 0.25, 1.0])
    # a texture the folder lacks: the diffuse colour alone
    (tmp_path / "b.mhmat").write_text("name b\ndiffuseColor 0.1 0.2 0.3\ndiffuseTexture gone.png\n")
    assert mh_assets.read_material(tmp_path / "b.mhmat").texture is None
    (tmp_path / "c.mhmat").write_text("name c\ndiffuseColor 0.1 zero 0.3\n")
    with pytest.raises(ValueError, match=r"c\.mhmat: diffuseColor must be three numbers"):
        mh_assets.read_material(tmp_path / "c.mhmat")


def _frontal(body, out):
    R = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    return out["vertices"][0].numpy() @ R.T + [0, 0, 3000.0]


def test_textured_body_takes_its_colours_from_the_texture(body):
    V = _frontal(body, body())
    assert body.uv.shape == (len(body.uv_vertex), 2) and body.uv_faces.max() == len(body.uv_vertex) - 1
    # the render mesh is the body: every triangle's corners are the body's triangle's vertices
    assert np.array_equal(body.uv_vertex[body.uv_faces], body.faces)
    half = np.zeros((64, 64, 3), np.uint8)
    half[:, :32] = (220, 20, 20)  # u < 0.5 red, u ≥ 0.5 green
    half[:, 32:] = (20, 220, 20)
    r = realistic.render_mesh(V[body.uv_vertex], body.uv_faces, (250.0, 250.0), (127.5, 127.5), 256,
                              uv=body.uv, texture=half, ambient=1.0, light=0.0)
    px = r["image"][np.isfinite(r["depth"])].astype(int)
    # every body pixel is sampled from the texture (blue low; a grey, untextured pixel has R = G = B), red or
    # green or, along the seam, a blend of the two
    assert (px[:, 2] < 0.5 * px[:, :2].max(1)).mean() > 0.95  # the default colour (0.75, 0.6, 0.5): none
    red = px[:, 0] > px[:, 1]
    # the fraction of each colour is the visible triangles' share of each half of the texture
    area = np.zeros(2)
    Vp = V[body.uv_vertex][:, :2] / V[body.uv_vertex][:, 2:]
    tri = Vp[body.uv_faces]
    e1, e2 = tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]
    signed = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    u = body.uv[body.uv_faces][:, :, 0].mean(1)
    for k in (0, 1):
        area[k] = np.abs(signed[((u >= 0.5) == bool(k)) & (signed < 0)]).sum()
    assert red.mean() == pytest.approx(area[0] / area.sum(), abs=0.1)


@pytest.mark.skipif(not SKINS.is_dir(), reason=f"{SKINS} is absent (the CC0 assets are read from ../shared)")
def test_real_skins_render_their_tones(body):
    V = _frontal(body, body())
    tone = {}
    for name in ("young_african_male", "young_asian_male"):
        skin = mh_assets.read_material(SKINS / name / f"{name}.mhmat")
        assert skin.texture is not None and skin.texture.shape[2] == 3
        r = realistic.render_mesh(V[body.uv_vertex], body.uv_faces, (250.0, 250.0), (127.5, 127.5), 256,
                                  uv=body.uv, texture=skin.texture)
        tone[name] = r["image"][np.isfinite(r["depth"])].mean()
    assert tone["young_african_male"] < 0.7 * tone["young_asian_male"]


def test_render_person_gives_a_record_that_agrees_with_its_picture(body):
    from cdlpose.data.synthetic import sample_scene
    from cdlpose.geometry import project

    s = sample_scene(7, "val", 0)  # a synthetic person's pose and camera
    r = np.random.default_rng(0)
    state = realistic.person_state(assets=None)  # no MakeHuman assets: a skin-coloured body in a room
    out = realistic.render_person(s["joints_3d"], s["f"], s["c"], 128, r, up=(0.0, -1.0, 0.0), state=state,
                                  occluders=False)
    X, uv, M = out["joints_3d"], out["joints_2d"], out["frame_to_image"]
    assert np.allclose(uv, project(X, s["f"], s["c"]))  # the annotation is the body's own, exactly projected
    # ... in the pose asked for (the body keeps its own bone lengths)
    rel = (X - X[0]) - (s["joints_3d"] - s["joints_3d"][0])
    assert np.linalg.norm(rel, axis=1).mean() < 80 and np.allclose(X[0], s["joints_3d"][0], atol=1e-3)
    crop = uv * M[[0, 1], [0, 1]] + M[:, 2]
    assert (crop > 0).all() and (crop < 128).all()
    px = np.round(crop).astype(int)
    depth = out["depth"]
    body_px = np.isfinite(depth)  # the person's pixels: the room is background (inf)
    # the rotation centres fall on the body in the picture, and the picture shows the body there
    centres = [i for i, n in enumerate(SK.joints) if n not in ("Neck_Nose", "Head_top")]
    assert body_px[px[centres, 1], px[centres, 0]].all()
    assert out["visible"].sum() >= 12 and out["image"].dtype == np.uint8 and out["image"].shape == (128, 128, 3)
    assert 0.05 < body_px.mean() < 0.6
    # where the body is, the picture has its skin tone (R ≥ G ≥ B)
    skin = out["image"][body_px].astype(int)
    assert ((skin[:, 0] >= skin[:, 1] - 3) & (skin[:, 1] >= skin[:, 2] - 3)).mean() > 0.9
    # the person's depth is the body's: within a body's thickness of the joints
    assert np.nanmax(np.where(body_px, depth, np.nan)) < X[:, 2].max() + 300
    assert np.nanmin(np.where(body_px, depth, np.nan)) > X[:, 2].min() - 300
    # the same draw gives the same picture
    again = realistic.render_person(s["joints_3d"], s["f"], s["c"], 128, np.random.default_rng(0),
                                    up=(0.0, -1.0, 0.0), state=state, occluders=False)
    assert np.array_equal(again["image"], out["image"])