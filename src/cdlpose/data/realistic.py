"""The ``realistic`` style: clothed, textured Anny bodies in rendered rooms, with exact Human3.6M ground truth.

A person is the Anny body (:mod:`cdlpose.data.anny_body`) posed onto given 3D joints (camera coordinates, mm) by
closed-form retargeting, shaped to a stature, dressed from MakeHuman's CC0 assets (:mod:`cdlpose.data.mh_assets`:
a skin, a suit, shoes, hair, sometimes a hat; the skin under a garment's ``delete_verts`` removed), standing on a
textured floor before textured walls, sometimes behind box-shaped occluders standing on the floor, lit by ambient
light, a key light and a fill light of random directions and colours; rendered with pyrender (EGL; Mesa's llvmpipe
on a CPU) through cdlpose's pinhole camera straight into the person's 256² crop.

The annotation is the body's own: its 17 joints read off the posed rig (:data:`~cdlpose.data.anny_body.
JOINT_DEFINITIONS`) and their projections, so picture and annotation agree exactly; they differ from the given
joints where the body's bone lengths do. ``depth`` is the person's and the occluders' (inf on the room).
Needs ``pip install -e ".[realistic]"`` and the MakeHuman asset folder (:func:`~cdlpose.data.mh_assets.asset_dir`;
without it, plain-coloured bodies, no garments).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..geometry import crop_camera, project
from .anny_body import AnnyBody, require_realistic
from .render_crop import joint_visibility, person_crop
from .rooms import MeshPart, _occluders, _render_room, _room
from .mh_assets import BaseMeshMap, Material, Proxy, found_asset_dir, list_assets, read_material, read_proxy

# Mesa's llvmpipe rasterises in the calling thread: a process forked after its parent rendered (a data loader's
# worker) hangs on rasteriser threads it did not inherit otherwise (measured); a data loader's processes give
# the parallelism. Read when the first OpenGL context is made.
os.environ.setdefault("LP_NUM_THREADS", "0")

__all__ = ["MeshPart", "Renderer", "Wardrobe", "dress", "person_state", "phenotype_for_stature", "render_mesh",
           "render_person", "sample_phenotype", "vertex_normals"]


def vertex_normals(V: np.ndarray, F: np.ndarray) -> np.ndarray:
    """(V, 3) unit vertex normals, each the area-weighted sum of its triangles' normals (counter-clockwise
    triangles face the viewer)."""
    v = torch.as_tensor(np.asarray(V, np.float32))
    f = torch.as_tensor(np.asarray(F, np.int64))
    fn = torch.linalg.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    n = torch.zeros_like(v)
    for k in range(3):
        n.index_add_(0, f[:, k], fn)
    return torch.nn.functional.normalize(n, dim=1, eps=1e-12).numpy()


class Renderer:
    """pyrender off-screen rendering through cdlpose's pinhole camera, textures cached by key and kept uploaded
    for the life of the process (pyrender would delete a texture from the GL context when a frame lacks it)."""

    def __init__(self, width: int, height: int) -> None:
        require_realistic(("pyrender",))
        import pyrender

        class _Resident(pyrender.Texture):
            def delete(self):  # stays in the GL context between frames
                pass

            def _add_to_context(self):
                if self._texid is None:
                    super()._add_to_context()

        self._resident = _Resident
        self.width, self.height = int(width), int(height)
        self._renderer = pyrender.OffscreenRenderer(self.width, self.height)
        self._textures: dict = {}

    def _texture(self, key: str | None, image: np.ndarray):
        """The GL texture of ``image``: kept under ``key``, or (no key) one for this frame only."""
        import pyrender

        if key in self._textures:
            return self._textures[key]
        kind = pyrender.Texture if key is None else self._resident
        tex = kind(source=np.ascontiguousarray(image), source_channels="RGBA" if image.shape[-1] == 4 else "RGB")
        if key is not None:
            self._textures[key] = tex
        return tex

    def render(self, parts: list, f, c, lights: list = (), ambient=(0.3, 0.3, 0.3),
               background=(0.5, 0.5, 0.5)) -> dict:
        """Render ``parts`` (:class:`MeshPart`) through a camera of focal ``f`` (fx, fy) and principal point ``c``
        px; ``lights``: ``(direction it travels (3,) camera axes, intensity, colour (3,))`` directional lights.

        Returns ``{"image": (H, W, 3) uint8, "depth": (H, W) float32 mm along the optical axis, inf where nothing
        is hit}``; a vertex at (x, y, z) lands on pixel (fx·x/z + cx, fy·y/z + cy), as cdlpose projects joints."""
        import pyrender

        flip = np.array([1.0, -1.0, -1.0])  # OpenCV camera → OpenGL camera
        scene = pyrender.Scene(ambient_light=np.asarray(ambient, np.float64),
                               bg_color=np.array([*background, 1.0]))
        for p in parts:
            V = np.asarray(p.vertices, np.float64)
            n = vertex_normals(V, p.faces) if p.normals is None else p.normals
            faces = np.asarray(p.faces)
            if not p.cutout:
                # back faces dropped before drawing (OpenGL would cull them too, after paying for their setup,
                # the larger part of llvmpipe's time): a front face's normal points at the camera, at the origin
                tri = V[faces]
                fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
                faces = faces[np.einsum("ij,ij->i", fn, tri[:, 0]) < 0]
            kw = {}
            if p.texture is not None and p.uv is not None:
                kw["baseColorTexture"] = self._texture(p.key, p.texture)
            mat = pyrender.MetallicRoughnessMaterial(
                baseColorFactor=np.asarray(p.colour, np.float64), metallicFactor=0.0, roughnessFactor=p.roughness,
                alphaMode="MASK" if p.cutout else "OPAQUE", alphaCutoff=0.5, doubleSided=p.cutout, **kw)
            prim = pyrender.Primitive(
                positions=(V / 1000.0 * flip).astype(np.float32), normals=(n * flip).astype(np.float32),
                texcoord_0=None if "baseColorTexture" not in kw else np.asarray(p.uv, np.float32),
                indices=faces.astype(np.uint32), material=mat)
            scene.add(pyrender.Mesh([prim]))
        fx, fy = f
        cx, cy = c
        # cdlpose puts pixel centres at integers; pyrender (OpenGL) at half-integers, and its rows come out one
        # more pixel up: measured with a square at known positions (tests/test_anny_body.py)
        cam = pyrender.IntrinsicsCamera(fx, fy, cx + 0.5, cy + 1.0, znear=0.05, zfar=100.0)
        scene.add(cam, pose=np.eye(4))
        for direction, intensity, colour in lights:
            d = np.asarray(direction, np.float64) * flip
            z = -d / np.linalg.norm(d)  # a directional light shines along its node's −z axis
            x = np.cross([0.0, 1.0, 0.0], z)
            x = x / np.linalg.norm(x) if np.linalg.norm(x) > 1e-6 else np.array([1.0, 0.0, 0.0])
            pose = np.eye(4)
            pose[:3, :3] = np.stack([x, np.cross(z, x), z], 1)
            scene.add(pyrender.DirectionalLight(color=np.asarray(colour, np.float64), intensity=float(intensity)),
                      pose=pose)
        image, depth = self._renderer.render(scene)
        depth = np.where(depth > 0, depth * 1000.0, np.inf).astype(np.float32)
        return {"image": image.copy(), "depth": depth}


_RENDERERS: dict = {}


def renderer(width: int, height: int) -> Renderer:
    """This process's renderer of a size (an OpenGL context each; a forked data-loader worker makes its own)."""
    key = (os.getpid(), width, height)
    if key not in _RENDERERS:
        _RENDERERS[key] = Renderer(width, height)
    return _RENDERERS[key]


def render_mesh(vertices: np.ndarray, faces: np.ndarray, f, c, size: int | tuple[int, int],
                colour=(0.75, 0.6, 0.5), background=(0.5, 0.5, 0.5), light_dir=(0.3, -0.5, 1.0),
                uv: np.ndarray | None = None, texture: np.ndarray | None = None, ambient: float = 0.3,
                light: float = 2.0) -> dict:
    """Render one mesh given in camera coordinates (``vertices`` (V, 3) mm) through a pinhole camera of focal
    ``f`` and principal point ``c`` into an image of ``size`` (side, or (width, height)) px, coloured by ``uv``
    (V, 2) and ``texture`` (H, W, 3) uint8 or by ``colour``, lit by ``ambient`` light and a directional ``light``
    travelling along ``light_dir`` (camera axes). Returns what :meth:`Renderer.render` returns."""
    W, H = (size, size) if np.isscalar(size) else size
    part = MeshPart(np.asarray(vertices, np.float64), np.asarray(faces), uv=uv, texture=texture,
                    colour=(*colour, 1.0) if texture is None else (1.0, 1.0, 1.0, 1.0))
    return renderer(W, H).render([part], f, c, [(light_dir, light, (1.0, 1.0, 1.0))] if light > 0 else [],
                                 ambient=(ambient,) * 3, background=background)


def sample_phenotype(r: np.random.Generator) -> dict:
    """A random adult: Anny's phenotype parameters (gender, age, muscle, weight, height, proportions in [0, 1];
    age kept in its adult range)."""
    return {"gender": float(r.uniform(0, 1)), "age": float(r.uniform(0.4, 0.75)),
            "muscle": float(r.uniform(0.2, 0.8)), "weight": float(r.uniform(0.2, 0.8)),
            "height": float(r.uniform(0.2, 0.8)), "proportions": float(r.uniform(0.3, 0.7))}


# ---------------------------------------------------------------------------------------------- the wardrobe


class Wardrobe:
    """MakeHuman's skins, suits, shoes, hats and hair from an asset folder, read once and kept (garments are read
    when first worn). ``root`` None: no assets (plain-coloured bodies)."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = None if root is None else Path(root)
        files = {k: [] if self.root is None else list_assets(self.root, k) for k in ("skins", "clothes", "hair")}
        self.skins = files["skins"]
        self.suits = [p for p in files["clothes"] if not p.parent.name.startswith(("shoes", "fedora"))]
        self.shoes = [p for p in files["clothes"] if p.parent.name.startswith("shoes")]
        self.hats = [p for p in files["clothes"] if p.parent.name.startswith("fedora")]
        self.hair = files["hair"]
        self._proxies: dict = {}
        self._materials: dict = {}

    def proxy(self, path: Path) -> Proxy:
        if path not in self._proxies:
            self._proxies[path] = read_proxy(path)
        return self._proxies[path]

    def material(self, path: Path) -> Material:
        if path not in self._materials:
            self._materials[path] = read_material(path)
        return self._materials[path]

    @staticmethod
    def _pick(r: np.random.Generator, paths: list, prefer: str | None = None) -> Path | None:
        if not paths:
            return None
        liked = [p for p in paths if prefer and prefer in p.parent.name.split("_")[0]]
        pool = liked if liked and r.random() < 0.85 else paths
        return pool[int(r.integers(len(pool)))]

    def outfit(self, r: np.random.Generator, male: bool) -> dict:
        """A random outfit: ``{"skin": .mhmat path or None, "suit", "shoes", "hair", "hat": .mhclo path or None}``
        (suits and skins of the body's sex 85% of the time; hair 90%, a hat 10%)."""
        sex = "male" if male else "female"
        skins = [p for p in self.skins if p.parent.name.endswith("_" + sex)] or self.skins
        hair_pref = ("short", "afro") if male else ("long", "bob", "ponytail", "braid")
        hair = [p for p in self.hair if p.parent.name.startswith(hair_pref)] if r.random() < 0.85 else self.hair
        return {"skin": self._pick(r, skins), "suit": self._pick(r, self.suits, sex),
                "shoes": self._pick(r, self.shoes), "hair": self._pick(r, hair) if r.random() < 0.9 else None,
                "hat": self._pick(r, self.hats) if r.random() < 0.1 else None}


# ------------------------------------------------------------------------------------------- per-process state

_STATE: dict = {}


def person_state(assets: str | Path | None = "auto", cache_dir: str | Path | None = None) -> dict:
    """This process's body, base-mesh map and wardrobe (built on first use: ~5–10 s with Anny's cache present; without
    it Anny builds it first, 2-3 min, and :class:`~cdlpose.data.anny_body.AnnyBody` says so in one line before).
    Something that shows progress over renders builds this first, so that its rate and ETA count renders only.
    ``assets``: the MakeHuman folder, ``"auto"`` (:func:`~cdlpose.data.mh_assets.asset_dir`, none if not found) or
    None (no assets)."""
    if assets == "auto":
        assets = found_asset_dir()
    key = (None if assets is None else str(assets), None if cache_dir is None else str(cache_dir))
    if key not in _STATE:
        # the body, its base-mesh map and stature model are the same whatever the assets: built once
        base = next((s for s in _STATE.values()), None)
        if base is None:
            body = AnnyBody(cache_dir)
            base = {"body": body, "map": BaseMeshMap.for_body(body), "stature": _stature_model(body)}
        _STATE[key] = {"body": base["body"], "map": base["map"], "stature": base["stature"],
                       "wardrobe": Wardrobe(assets)}
    return _STATE[key]


def _stature_model(body: AnnyBody) -> np.ndarray:
    """Least-squares coefficients of the rest body's height (mm) on [1, gender, age, muscle, weight, height,
    proportions, height·gender] over 48 random adults (~0.3 s): to choose ``height`` for a wanted stature."""
    r = np.random.default_rng(12345)
    rows, y = [], []
    with torch.no_grad():
        for _ in range(48):
            p = sample_phenotype(r)
            p["height"] = float(r.uniform(0, 1))
            y.append(_standing_height(body.rest(p)["rest_vertices"]))
            rows.append(_stature_row(p))
    return np.linalg.lstsq(np.asarray(rows), np.asarray(y), rcond=None)[0]


def _standing_height(rest_vertices: torch.Tensor) -> float:
    """The rest body's height in mm: its vertices' extent along Anny's up (z; ``rest_vertices`` (1, V, 3) m)."""
    z = rest_vertices[0, :, 2]
    return float(z.max() - z.min()) * 1000.0


def _stature_row(p: dict) -> list:
    return [1.0, p["gender"], p["age"], p["muscle"], p["weight"], p["height"], p["proportions"],
            p["height"] * p["gender"]]


def phenotype_for_stature(state: dict, stature_mm: float, r: np.random.Generator) -> dict:
    """A random adult phenotype whose ``height`` parameter makes the rest body ~``stature_mm`` tall (within the
    model's range: clamped to [0, 1])."""
    p = sample_phenotype(r)
    coef = state["stature"]
    p["height"] = 0.0
    base = float(np.dot(coef, _stature_row(p)))
    slope = coef[5] + coef[7] * p["gender"]
    p["height"] = float(np.clip((stature_mm - base) / slope, 0.0, 1.0))
    return p


# ---------------------------------------------------------------------------------------------- the room

def _textured(material: Material | None, r: np.random.Generator, cloth: bool) -> tuple:
    """(texture or None, key, colour (4,)) for a material: its diffuse texture tinted a little; a garment whose
    diffuse image is missing: its ambient-occlusion map tinted by a random cloth colour; else a plain colour."""
    if material is None:
        return None, None, (0.7, 0.7, 0.7, 1.0)
    if material.texture is not None:
        tint = np.clip(r.uniform(0.75, 1.0, 3) if cloth else r.uniform(0.9, 1.0, 3), 0, 1)
        return material.texture, material.path, (*tint, 1.0)
    colour = (*np.clip(r.uniform(0.1, 0.9, 3), 0, 1), 1.0)
    if material.ao is not None and cloth:
        return np.repeat(material.ao[..., None], 3, -1), material.path + ":ao", colour
    return None, None, colour


def dress(state: dict, V: np.ndarray, rest: torch.Tensor, outfit: dict, look: np.random.Generator) -> list:
    """The mesh parts of a dressed body: ``V`` (V, 3) mm the posed body's vertices (any frame), ``rest`` (1, V, 3)
    Anny's rest vertices (metres) of its phenotype, ``outfit`` (:meth:`Wardrobe.outfit`), ``look`` draws colours.
    The skin first (its triangles under a garment's ``delete_verts`` removed), then suit, shoes, hair, hat."""
    body, wardrobe, mesh_map = state["body"], state["wardrobe"], state["map"]
    parts, hidden = [], np.zeros(len(V), bool)
    posed_m = torch.as_tensor(V / 1000.0, dtype=torch.float32)[None]
    for what in ("suit", "shoes", "hair", "hat"):
        path = outfit.get(what)
        if path is None:
            continue
        proxy = wardrobe.proxy(path)
        own = ~mesh_map.displacement[proxy.delete].any(-1)  # hidden vertices Anny has (not helper ones)
        hidden[mesh_map.anny_index[proxy.delete[own]]] = True
        G = proxy.vertices(rest, posed_m, mesh_map)[0].numpy().astype(np.float64) * 1000.0
        tex, key, colour = _textured(proxy.material, look, cloth=what != "hair")
        if what == "hair" and tex is None:
            colour = (*np.clip(look.uniform(0.05, 0.45) * np.array([1.0, 0.8, 0.6]), 0, 1), 1.0)
        n = vertex_normals(G, proxy.uv_vertex[proxy.faces])[proxy.uv_vertex]
        parts.append(MeshPart(G[proxy.uv_vertex], proxy.faces, uv=proxy.uv, texture=tex, key=key, colour=colour,
                              cutout=what == "hair" and tex is not None and tex.shape[-1] == 4, normals=n))
    keep = ~hidden[body.faces].any(1)
    skin = None if outfit.get("skin") is None else wardrobe.material(outfit["skin"])
    tex, key, colour = _textured(skin, look, cloth=False)
    if tex is None:  # no skin texture: a sampled skin tone
        tone = look.uniform(0.25, 1.0) * np.array([0.95, 0.75, 0.62]) * look.uniform(0.9, 1.1, 3)
        colour = (*np.clip(tone, 0.0, 1.0), 1.0)
    n = vertex_normals(V, body.faces)[body.uv_vertex]
    parts.insert(0, MeshPart(V[body.uv_vertex], body.uv_faces[keep], uv=body.uv, texture=tex, key=key,
                             colour=colour, normals=n, roughness=0.6))
    return parts


def render_person(joints_cam: np.ndarray, f, c, size: int, r: np.random.Generator, up=(0.0, -1.0, 0.0),
                  stature: float | None = None, state: dict | None = None, occluders: bool = True,
                  look: np.random.Generator | None = None) -> dict:
    """A clothed person in the pose of ``joints_cam`` (17, 3) mm, camera coordinates, through a camera of focal
    ``f`` and centre ``c`` (frame px), rendered into the ``size``² crop of the body's joints (as the crop pipeline
    makes it). ``up`` (3,): the world's up in camera axes (the floor is perpendicular to it, under the feet);
    ``stature`` mm: the body's height is chosen near it (else random); ``state``: :func:`person_state`; ``look``:
    the generator of the person's appearance (phenotype, outfit, colours; a person's own keeps them from frame to
    frame), else ``r``, which draws the room, occluders and lights.

    Returns record fields: ``joints_3d`` (17, 3) mm and ``joints_2d`` (17, 2) frame px (the body's own joints),
    ``box``, ``frame_to_image`` (2×3), ``image`` (S, S, 3) uint8, ``depth`` (S, S) mm of the person and occluders
    (inf on the room), ``visible`` (17,), ``stature`` (the body's standing height, mm), ``outfit`` (the asset names) and
    ``phenotype``."""
    state = state or person_state()
    body, wardrobe = state["body"], state["wardrobe"]
    up = np.asarray(up, np.float64) / np.linalg.norm(up)
    look = r if look is None else look
    phenotype = (phenotype_for_stature(state, stature, look) if stature is not None
                 else sample_phenotype(look))
    posed = body.retarget(np.asarray(joints_cam, np.float32)[None], phenotype)
    X = posed["joints"][0].cpu().numpy().astype(np.float64)
    V = posed["vertices"][0].cpu().numpy().astype(np.float64)
    f, c = np.asarray(f, np.float64), np.asarray(c, np.float64)
    uv = project(X, f, c)
    box, M = person_crop(uv, size)
    if abs(M[0, 1]) > 1e-9 or abs(M[1, 0]) > 1e-9:
        raise ValueError("render_person: the crop must not rotate")
    cam = crop_camera(M, f, c)
    fc, cc = cam[:2], cam[2:]

    outfit = wardrobe.outfit(look, male=phenotype["gender"] > 0.5)
    person = dress(state, V, posed["rest"]["rest_vertices"], outfit, look)
    lowest = min(np.dot(np.asarray(p.vertices), up).min() for p in person)  # the soles: the floor
    occ = _occluders(r, X, up, lowest) if occluders else []
    planes = _room(r, up, lowest - 2.0, X[body.skeleton.root])
    th = r.uniform(0, 2 * np.pi)
    key_dir = -(np.cos(th) * r.uniform(0.2, 1.0) * np.array([1.0, 0.0, 0.0]) + r.uniform(0.2, 1.0) * up
                + np.array([0.0, 0.0, -1.0]))  # travels away from a light in front, above, to one side
    fill_dir = key_dir * np.array([-1.0, 1.0, 1.0])
    warm = np.clip(np.array([1.0, 0.95, 0.85]) * r.uniform(0.85, 1.15, 3), 0, 1)
    lights = [(key_dir, r.uniform(2.0, 4.5), warm), (fill_dir, r.uniform(0.3, 1.2), np.ones(3))]
    ambient = np.full(3, r.uniform(0.15, 0.45)) * r.uniform(0.9, 1.1, 3)
    background = tuple(r.uniform(0.1, 0.9, 3))
    # the person and occluders rasterised, the room ray-cast, the nearer surface kept
    out = renderer(size, size).render(occ + person, fc, cc, lights, ambient, background=background)
    room, room_depth = _render_room(planes, fc, cc, size, lights, ambient, background)
    depth = out["depth"]  # the person's and occluders': inf on the room
    front = depth < room_depth
    out["image"] = np.where(front[..., None], out["image"], (room * 255.0).astype(np.uint8))
    depth = np.where(front, depth, np.inf).astype(np.float32)
    img = np.clip(out["image"].astype(np.float32) + r.normal(0, 3, 3), 0, 255).astype(np.uint8)
    # a joint is hidden where a surface lies well in front of it (more than a limb's thickness)
    visible = joint_visibility(depth, M, uv, X, 120.0)
    height = _standing_height(posed["rest"]["rest_vertices"])  # whatever the pose
    names = {k: (None if v is None else v.parent.name) for k, v in outfit.items()}
    return {"joints_3d": X, "joints_2d": uv, "box": box, "frame_to_image": M, "image": img, "depth": depth,
            "visible": visible, "stature": height, "outfit": names, "phenotype": phenotype}

