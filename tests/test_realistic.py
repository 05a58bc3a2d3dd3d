"""The realistic style: MakeHuman assets read from their formats, garments fitted to the posed body, dressed bodies
rendered in rooms as data set records (the rendering tests need ``.[realistic]``; garments come from the CC0 set in
``../shared`` where it is, else from the subset cdlpose ships)."""

import numpy as np
import pytest
import torch

from cdlpose.data import mh_assets
from cdlpose.skeletons import get_skeleton

SK = get_skeleton("h36m17")
ASSETS = mh_assets.asset_dir()  # ../shared's fuller CC0 set where it is, else the subset cdlpose ships


def _write_proxy(tmp_path, verts_block, obj=None, extra=""):
    obj = obj or ("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\nvt 0.5 0.5\n"
                  "f 1/1 2/2 3/3 4/4\nf 1/5 3/3 2/2\n")
    (tmp_path / "g.obj").write_text(obj)
    (tmp_path / "g.mhmat").write_text("name g\ndiffuseColor 0.2 0.4 0.6\ntransparent True\n")
    (tmp_path / "g.mhclo").write_text(
        "# a garment\nname garment\ntag Casual\nobj_file g.obj\n"
        "x_scale 0 1 2.0\nz_scale 0 2 4.0\ny_scale 1 2 1.0\nz_depth 7\n"
        f"verts 0\n{verts_block}{extra}")
    return tmp_path / "g.mhclo"


def test_read_proxy_reads_makehumans_format(tmp_path):
    block = ("0 1 2 0.5 0.25 0.25 0.1 0.2 0.3\n"
             "3\n"  # a single index: exactly that base-mesh vertex
             "material g.mhmat\n"  # a keyword inside the section (shoes02.mhclo has one)
             "2 1 0 0.2 0.3 0.5 0 0 0\n"
             "1 2 3 1 0 0 -0.1 0 0\n")
    p = _write_proxy(tmp_path, block, extra="delete_verts\n3 - 5 9\n12\n")
    g = mh_assets.read_proxy(p)
    assert g.name == "garment" and g.tags == ["casual"] and g.z_depth == 7
    assert g.ref.tolist() == [[0, 1, 2], [3, 3, 3], [2, 1, 0], [1, 2, 3]]
    assert np.allclose(g.weights[1], [1, 0, 0]) and np.allclose(g.offsets[0], [0.1, 0.2, 0.3])
    assert g.delete.tolist() == [3, 4, 5, 9, 12]
    assert g.scale_refs == ((0, 1, 2.0), (1, 2, 1.0), (0, 2, 4.0))  # x, y, z whatever the file's order
    assert g.material.name == "g" and g.material.transparent and np.allclose(g.material.colour, [0.2, 0.4, 0.6])
    # a quad fanned into two triangles plus a triangle; corners with distinct uvs are distinct render vertices
    assert g.faces.shape == (3, 3)
    assert np.array_equal(g.uv_vertex[g.faces], [[0, 1, 2], [0, 2, 3], [0, 2, 1]])
    corner_uv = g.uv[g.faces]
    assert np.allclose(corner_uv[2, 0], [0.5, 0.5]) and np.allclose(corner_uv[0, 0], [0, 0])


def test_read_proxy_names_bad_files(tmp_path):
    with pytest.raises(ValueError, match=r"g\.mhclo: 1 'verts' lines for the 4 vertices of g\.obj"):
        mh_assets.read_proxy(_write_proxy(tmp_path, "0 1 2 1 0 0 0 0 0\n"))
    with pytest.raises(ValueError, match=r"g\.mhclo:\d+: a 'verts' line must be"):
        mh_assets.read_proxy(_write_proxy(tmp_path, "0 1 2 0.5 0.5\n"))
    (tmp_path / "h.mhclo").write_text("name h\nverts 0\n")
    with pytest.raises(ValueError, match=r"h\.mhclo: no 'obj_file' line"):
        mh_assets.read_proxy(tmp_path / "h.mhclo")


def _identity_map(n):
    m = mh_assets.BaseMeshMap.__new__(mh_assets.BaseMeshMap)
    m.anny_index = np.arange(n)
    m.displacement = np.zeros((n, 3), np.float32)
    return m


def test_garment_offsets_scale_with_the_body_and_turn_with_the_limb(tmp_path):
    # a body of four vertices (Anny's axes: x left, z up, -y forward); the garment vertex sits at the centroid
    # of vertices 0, 1, 2 plus an offset of 0.1 MakeHuman units forward (MakeHuman's +z)
    g = mh_assets.read_proxy(_write_proxy(tmp_path, "0 1 2 0.25 0.25 0.5 0 0 0.1\n0\n1\n2\n"))
    m = _identity_map(4)
    rest = torch.tensor([[[0.0, 0, 0], [0.2, 0, 0.1], [0.0, -0.4, 0.1], [0.0, -0.4, 0]]])
    at_rest = g.vertices(rest, rest, m)[0]
    centroid = 0.25 * rest[0, 0] + 0.25 * rest[0, 1] + 0.5 * rest[0, 2]
    # MakeHuman z (forward) → Anny −y; scale along z: |y0 − y2| / 4.0 = 0.1 Anny units per MakeHuman unit
    assert torch.allclose(at_rest[0], centroid + torch.tensor([0.0, -0.1 * 0.1, 0.0]), atol=1e-6)
    assert torch.allclose(at_rest[1:], rest[0, :3], atol=1e-6)  # single-index vertices: the body's own
    # the body turned 90° about z (x → y): the offset turns with it (from −y to +x)
    Rz = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    posed = rest @ Rz.T
    turned = g.vertices(rest, posed, m)[0]
    assert torch.allclose(turned[0], centroid @ Rz.T + torch.tensor([0.01, 0.0, 0.0]), atol=1e-6)
    # a body twice as deep (along Anny y) has offsets twice as long
    deep = rest * torch.tensor([1.0, 2.0, 1.0])
    c2 = 0.25 * deep[0, 0] + 0.25 * deep[0, 1] + 0.5 * deep[0, 2]
    assert torch.allclose(g.vertices(deep, deep, m)[0, 0], c2 + torch.tensor([0.0, -0.02, 0.0]), atol=1e-6)


def test_base_mesh_map_places_vertices_anny_lacks(tmp_path):
    # MakeHuman's base mesh (decimetres, y up, z forward) with a fifth "helper" vertex Anny lacks
    mh = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.1, 0.9, 0.05]], np.float64)
    (tmp_path / "base.obj").write_text("".join(f"v {x} {y} {z}\n" for x, y, z in mh))
    to_anny = lambda v: 0.1 * v[:, [0, 2, 1]] * np.array([1, -1, 1])  # noqa: E731  metres, z up, −y forward
    m = mh_assets.BaseMeshMap(tmp_path / "base.obj", np.arange(4), to_anny(mh[:4]))
    assert m.anny_index.tolist() == [0, 1, 2, 3, 2]  # the helper: its nearest Anny vertex
    assert np.allclose(m.displacement[4], mh[4] - mh[2], atol=1e-6) and not m.displacement[:4].any()
    with pytest.raises(ValueError, match="does not match Anny's template"):
        mh_assets.BaseMeshMap(tmp_path / "base.obj", np.arange(4), to_anny(mh[:4])[[1, 0, 2, 3]])


def test_the_shipped_assets_are_complete():
    """The CC0 subset in the package: every skin, garment and hair style reads, with its texture."""
    root = mh_assets.PACKAGED_ASSETS
    skins = mh_assets.list_assets(root, "skins")
    proxies = mh_assets.list_assets(root, "clothes") + mh_assets.list_assets(root, "hair")
    assert len(skins) >= 6 and len(proxies) >= 8
    for p in skins:
        m = mh_assets.read_material(p)
        assert m.texture is not None and m.texture.shape[2] == 3, p
    for p in proxies:
        g = mh_assets.read_proxy(p)
        assert g.material.texture is not None, p
        assert len(g.ref) == g.uv_vertex.max() + 1 and g.faces.max() < len(g.uv), p
        assert "CC0" in p.read_text(errors="replace")[:600], p  # the licence statement travels with the file
    assert "cdlpose" in (root / "README.md").read_text()


def test_asset_dir_names_what_it_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("CDLPOSE_ASSETS", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere.*pass one to asset_dir\\(\\) or set \\$CDLPOSE_ASSETS"):
        mh_assets.asset_dir()
    (tmp_path / "a" / "skins").mkdir(parents=True)
    assert mh_assets.asset_dir(tmp_path / "a") == (tmp_path / "a").resolve()


# ------------------------------------------------------------------------------------------ with the body


@pytest.fixture(scope="module")
def state():
    pytest.importorskip("anny")
    pytest.importorskip("pyrender")
    from cdlpose.data import realistic

    return realistic.person_state(assets=ASSETS)


def test_stature_is_matched(state):
    from cdlpose.data import realistic

    r = np.random.default_rng(3)
    for target in (1600.0, 1750.0, 1850.0):
        p = realistic.phenotype_for_stature(state, target, r)
        v = state["body"].rest(p)["rest_vertices"][0]
        assert float(v[:, 2].max() - v[:, 2].min()) * 1000 == pytest.approx(target, abs=40), p


def test_garments_follow_the_posed_body(state):
    from scipy.spatial import cKDTree

    from cdlpose.data import realistic
    from cdlpose.data.synthetic import sample_scene

    body, wardrobe = state["body"], state["wardrobe"]
    s = sample_scene(3, "val", 0)  # a posed person, in camera coordinates
    posed = body.retarget(s["joints_3d"][None].astype(np.float32))
    V = posed["vertices"][0].numpy().astype(np.float64)
    R = posed["rest"]["rest_vertices"]
    tree, rest_tree = cKDTree(V), cKDTree(body()["vertices"][0].numpy())
    for path in wardrobe.suits + wardrobe.shoes + wardrobe.hats + wardrobe.hair:
        outfit = {"suit": path}
        parts = realistic.dress(state, V, R, outfit, np.random.default_rng(0))
        d, _ = tree.query(parts[1].vertices)
        at_rest = realistic.dress(state, body()["vertices"][0].numpy(), R, outfit, np.random.default_rng(0))
        d0, _ = rest_tree.query(at_rest[1].vertices)
        # on the posed body as close as on the body at rest (a garment that did not follow the pose, or offsets
        # that did not turn with the limbs, lies metres or centimetres further off), and close at all
        name = path.parent.name
        assert np.median(d) < np.median(d0) + 3 and np.percentile(d, 95) < np.percentile(d0, 95) + 10, name
        assert np.median(d) < 35 and np.percentile(d, 95) < 100, name
        proxy = wardrobe.proxy(path)
        skin_faces = parts[0].faces
        mesh_map = state["map"]
        hidden = set(mesh_map.anny_index[proxy.delete[~mesh_map.displacement[proxy.delete].any(-1)]].tolist())
        if hidden:  # the skin under the garment is gone, the rest stays
            used = set(body.uv_vertex[skin_faces].ravel().tolist())
            assert not (used & hidden) and len(skin_faces) < len(body.uv_faces)


def test_realistic_labels_are_the_posed_bodys_joints(state):
    """A record's joints are the joints of the body in its picture — the retargeted body's own, read off its rig —
    not the pose it was asked for, which the body's bone lengths do not reach (tens of mm away)."""
    from cdlpose.data import realistic
    from cdlpose.data.synthetic import sample_scene
    from cdlpose.geometry import project

    s = sample_scene(3, "val", 0)
    rec = realistic.render_person(s["joints_3d"], s["f"], s["c"], 256, np.random.default_rng(1), state=state,
                                  occluders=False)
    body = state["body"].retarget(s["joints_3d"][None].astype(np.float32), rec["phenotype"])
    joints = body["joints"][0].numpy().astype(np.float64)
    # the request is far from the body (median 45 mm here): the checks below tell the two apart
    assert np.median(np.linalg.norm(s["joints_3d"] - joints, axis=1)) > 20
    # the same body posed again: identical up to float32 rounding (0.01 mm, 1e-3 px)
    np.testing.assert_allclose(rec["joints_3d"], joints, rtol=0, atol=1e-2)
    np.testing.assert_allclose(rec["joints_2d"], project(joints, s["f"], s["c"]), rtol=0, atol=1e-3)


def test_the_renderer_draws_where_cdlpose_projects():
    """Squares facing the camera at random sub-pixel places: each silhouette covers exactly the pixels whose centres
    (at integers) lie inside the square's pinhole projection, up to one shift common to all of them, which must be
    under a quarter pixel on either axis.

    Each square's first and last covered column (row) bound that shift; 24 squares a camera pin it to within a
    tenth of a pixel. Measured with 260 squares over five cameras and image sizes (Mesa's llvmpipe): +0.12 to
    +0.13 px on both axes, the same for all. A quarter pixel leaves that measurement room and fails the half-pixel
    shifts (−0.37 or +0.63 px) this must catch, as well as a principal point taken from the wrong edge or a swapped
    width and height."""
    pytest.importorskip("anny")  # before the first OpenGL context: importing anny after one crashes the process
    pytest.importorskip("pyrender")
    from cdlpose.data import realistic

    faces = np.array([[0, 1, 2], [0, 2, 3], [0, 2, 1], [0, 3, 2]])  # both windings: visible from either side
    zc = 2000.0
    for f, c, size in (((300.0, 320.0), (100.5, 80.0), (256, 200)), ((260.0, 260.0), (127.5, 127.5), (256, 256))):
        f, c, (W, H) = np.array(f), np.array(c), size
        rng = np.random.default_rng(0)
        lo, hi = np.full(2, -np.inf), np.full(2, np.inf)  # the shifts consistent with every square so far
        for _ in range(24):
            centre = rng.uniform([0.3 * W, 0.3 * H], [0.7 * W, 0.7 * H])
            half = rng.uniform(8.0, 20.0)
            a, b = centre - half, centre + half  # the projected square's edges, pixels
            corners = np.array([[a[0], a[1]], [b[0], a[1]], [b[0], b[1]], [a[0], b[1]]])
            v = np.concatenate([(corners - c) / f * zc, np.full((4, 1), zc)], 1)
            depth = realistic.render_mesh(v, faces, f, c, (W, H))["depth"]
            assert depth.shape == (H, W)
            rows, cols = np.nonzero(np.isfinite(depth))
            for axis, covered in ((0, cols), (1, rows)):
                first, last = covered.min(), covered.max()
                # covered: the integers i with a + shift < i <= b + shift
                lo[axis] = max(lo[axis], first - 1 - a[axis], last - b[axis])
                hi[axis] = min(hi[axis], first - a[axis], last + 1 - b[axis])
        assert (lo < hi).all(), (lo, hi)  # one shift explains every silhouette: no scale error
        assert (lo > -0.25).all() and (hi < 0.25).all(), (f, c, size, lo, hi)


def test_realistic_samples_are_records_that_agree_with_their_pictures():
    pytest.importorskip("anny")
    pytest.importorskip("pyrender")
    from cdlpose.data.synthetic import SyntheticHumans
    from cdlpose.geometry import apply_affine, project

    ds = SyntheticHumans("val", 6, seed=0, style="realistic", keep_depth=True)
    on_body = 0
    for i in range(len(ds)):
        s = ds[i]
        assert s["image"].shape == (256, 256, 3) and s["image"].dtype == np.uint8
        assert np.allclose(s["joints_2d"], project(s["joints_3d"], s["f"], s["c"]))
        uv = apply_affine(s["frame_to_image"], s["joints_2d"])
        assert (uv > -1).all() and (uv < 257).all()
        depth = s["depth"]
        # the room is background; the person covers a part of the crop
        assert 0.03 < np.isfinite(depth).mean() < 0.9
        px = np.clip(np.round(uv).astype(int), 0, 255)
        vis = s["visible"]
        # a visible joint is on the person (or right beside: head joints sit inside the skull)
        on_body += np.isfinite(depth[px[vis, 1], px[vis, 0]]).sum()
        assert np.all(depth[px[vis, 1], px[vis, 0]] > s["joints_3d"][vis, 2] - 120)
        assert 1300 < s["stature"] < 2100
    assert on_body >= 0.9 * sum(ds[i]["visible"].sum() for i in range(len(ds)))
    again = SyntheticHumans("val", 6, seed=0, style="realistic")[2]
    assert np.array_equal(again["image"], ds[2]["image"])  # sample i is always the same image


def test_realistic_style_from_the_command_line(tmp_path, state):
    """``cdlpose synth --style realistic`` and ``cdlpose demo --style realistic`` (a tiny budget; the training
    images rendered in forked loader processes after this process has rendered too)."""
    import json

    from cdlpose.cli import main as cli_main

    assert cli_main(["synth", "--out", str(tmp_path / "s"), "-n", "3", "--style", "realistic", "--sheet", "3"]) == 0
    ann = json.loads((tmp_path / "s" / "annotations.json").read_text())
    assert ann["style"] == "realistic" and len(ann["images"]) == 3
    assert (tmp_path / "s" / "contact_sheet.png").is_file()
    rc = cli_main(["demo", "--out", str(tmp_path / "d"), "--steps", "2", "--train-size", "64", "--test-size", "8",
                   "--style", "realistic", "--min-ratio", "0.001"])
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert rc == 0 and report["style"] == "realistic"
    # cached apart from other asset folders' renders
    cache = tmp_path / "d" / "synthetic-cache" / f"train-0-realistic-{mh_assets.asset_tag()}"
    assert len(list(cache.glob("*.npz"))) == 64


def test_rendered_poses_in_the_realistic_style(tmp_path, state):
    from cdlpose.data.rendered import RenderedPoses

    from .test_rendered import _cameras, _poses  # the rendered-poses tests' synthetic people and cameras

    np.savez(tmp_path / "poses.npz", **_poses(("S1",), frames=2))
    np.savez(tmp_path / "cameras.npz", **_cameras(("S1",)))
    ds = RenderedPoses(tmp_path / "poses.npz", tmp_path / "cameras.npz", style="realistic")
    plain = RenderedPoses(tmp_path / "poses.npz", tmp_path / "cameras.npz", style="plain")
    a, b = ds[0], ds[len(ds) - 1]
    for s, ref in ((a, plain[0]), (b, plain[len(ds) - 1])):
        assert s["image"].shape == (256, 256, 3) and s["sample_id"] == ref["sample_id"]
        # the body's joints: the given pose's up to the body's bone lengths, at the same place
        rel = (s["joints_3d"] - s["joints_3d"][0]) - (ref["joints_3d"] - ref["joints_3d"][0])
        assert np.linalg.norm(rel, axis=1).mean() < 90 and np.allclose(s["joints_3d"][0], ref["joints_3d"][0],
                                                                       atol=1e-2)
    # one subject, one look: the same body height in every frame and camera
    assert a["stature"] == pytest.approx(b["stature"], abs=1e-3)


def _render_in_child(q):
    from cdlpose.data import realistic

    out = realistic.render_mesh(np.array([[0.0, 0, 1000], [100, 0, 1000], [0, 100, 1000]]), np.array([[0, 2, 1]]),
                                (100.0, 100.0), (32.0, 32.0), 64)
    q.put(int(np.isfinite(out["depth"]).sum()))


def test_a_process_forked_after_rendering_can_render(state):
    """A data loader's worker forked from a process that has rendered (hung with llvmpipe's rasteriser threads)."""
    import multiprocessing as mp

    from cdlpose.data import realistic

    realistic.render_mesh(np.array([[0.0, 0, 1000], [100, 0, 1000], [0, 100, 1000]]), np.array([[0, 2, 1]]),
                          (100.0, 100.0), (32.0, 32.0), 64)
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_render_in_child, args=(q,))
    p.start()
    p.join(60)
    if p.is_alive():
        p.kill()
        pytest.fail("the forked process hung while rendering")
    assert q.get(timeout=5) > 10  # it drew the triangle


def test_realistic_caches_are_kept_apart_by_asset_folder(tmp_path, monkeypatch):
    from cdlpose.data.synthetic import SyntheticHumans

    a = SyntheticHumans("val", 4, cache_dir=tmp_path, style="realistic").cache_dir
    other = tmp_path / "other-assets"
    (other / "skins").mkdir(parents=True)
    monkeypatch.setenv("CDLPOSE_ASSETS", str(other))
    b = SyntheticHumans("val", 4, cache_dir=tmp_path, style="realistic").cache_dir
    assert a != b and b.name == "val-0-realistic-other-assets"
    assert SyntheticHumans("val", 4, cache_dir=tmp_path, style="plain").cache_dir.name == "val-0-plain"
