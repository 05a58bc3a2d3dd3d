"""The realistic style's surroundings: textured rooms (floor, back and side walls; 16 procedural patterns) ray-cast
in numpy and lit like pyrender's diffuse shading, and box-shaped occluders standing on the floor (mesh parts for
the renderer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["MeshPart"]


@dataclass
class MeshPart:
    """One mesh to render: ``vertices`` (V, 3) mm camera coordinates (x right, y down, z forward), ``faces``
    (F, 3); ``uv`` (V, 2) with ``texture`` (H, W, 3|4) uint8 cached under ``key`` (the same key: the same image,
    uploaded once per process; no key: uploaded for the frame only) or plain ``colour``; ``colour`` (4,)
    multiplies the texture; ``cutout``: the texture's alpha cuts the surface (hair); ``normals`` (V, 3), else
    computed from the mesh (area-weighted; give them for a mesh whose texture seams split vertices, computed on
    the welded mesh, so the seams stay smooth); ``roughness`` pyrender's."""

    vertices: np.ndarray
    faces: np.ndarray
    uv: np.ndarray | None = None
    texture: np.ndarray | None = None
    key: str | None = None
    colour: tuple = (0.8, 0.8, 0.8, 1.0)
    cutout: bool = False
    normals: np.ndarray | None = None
    roughness: float = 0.8


def _procedural_textures(n: int = 16, size: int = 128) -> list:
    """``n`` grey-level repeating patterns (H, W, 3) uint8: checkers, stripes, tiles, planks, bricks, smooth
    noise — tinted per use."""
    r = np.random.default_rng(2024)
    y, x = np.mgrid[0:size, 0:size] / size
    out = []
    for k in range(n):
        kind = k % 6
        m = int(r.integers(2, 9))
        if kind == 0:
            g = ((np.floor(x * m) + np.floor(y * m)) % 2) * 0.35 + 0.55
        elif kind == 1:
            g = 0.6 + 0.3 * (np.sin(2 * np.pi * m * x) > r.uniform(-0.5, 0.5))
        elif kind == 2:
            fx, fy = (x * m) % 1, (y * m) % 1
            g = np.where((fx < 0.06) | (fy < 0.06), 0.35, 0.85 - 0.1 * r.random())
        elif kind == 3:  # planks: stripes with a grain
            g = 0.55 + 0.25 * np.sin(2 * np.pi * (y * m + 0.05 * np.sin(2 * np.pi * 3 * x))) ** 2
        elif kind == 4:  # bricks
            row = np.floor(y * m)
            fx = (x * m / 2 + 0.5 * (row % 2)) % 1
            g = np.where(((y * m) % 1 < 0.08) | (fx < 0.04), 0.4, 0.8)
        else:  # smooth noise, tiled by construction (periodic sums of sines)
            g = 0.6 + sum(0.08 * np.sin(2 * np.pi * (int(r.integers(1, 6)) * x + int(r.integers(1, 6)) * y)
                                         + r.uniform(0, 6.3)) for _ in range(4))
        g = g + r.normal(0, 0.03, g.shape)
        out.append(np.repeat((np.clip(g, 0, 1) * 255).astype(np.uint8)[..., None], 3, -1))
    return out


_PATTERNS: list = []


def _patterns() -> list:
    if not _PATTERNS:
        _PATTERNS.extend(_procedural_textures())
    return _PATTERNS


def _room(r: np.random.Generator, up: np.ndarray, floor_mm: float, root: np.ndarray) -> list:
    """The floor at height ``floor_mm`` along ``up`` (camera axes), a back wall behind the person (root ``root``
    mm), maybe a side wall: rectangles ``{"centre", "normal" (their seen side), "a", "b" (half sides, mm),
    "tile" (mm per texture repeat), "offset" (2,), "pattern", "tint" (3,)}``."""
    patterns = _patterns()
    view = root - np.dot(root, up) * up  # the horizontal direction the camera looks at the person
    view /= np.linalg.norm(view)
    side = np.cross(up, view)
    planes = []

    def add(centre, a, b, tile, normal):
        planes.append({"centre": centre, "normal": normal, "a": a, "b": b, "tile": tile,
                       "offset": r.uniform(0, 1, 2), "pattern": int(r.integers(len(patterns))),
                       "tint": np.clip(r.uniform(0.25, 1.0) * r.uniform(0.7, 1.0, 3), 0, 1)})

    ground = root + (floor_mm - np.dot(root, up)) * up
    big = 20000.0
    add(ground, side * big, view * big, r.uniform(400, 2000), up)
    behind = r.uniform(1200, 5000)
    height = r.uniform(2500, 6000)
    turn = r.uniform(-0.5, 0.5)  # the back wall need not face the camera squarely
    wall_dir = np.cos(turn) * side + np.sin(turn) * view
    add(ground + view * behind + up * height / 2, wall_dir * big, up * height / 2, r.uniform(300, 1500),
        np.cross(up, wall_dir))
    if r.random() < 0.5:
        s = 1.0 if r.random() < 0.5 else -1.0
        at = ground + side * s * r.uniform(1500, 4000)
        add(at + up * height / 2, view * big, up * height / 2, r.uniform(300, 1500), -s * side)
    return planes


_LINEAR: list = []


def _linear_patterns() -> list:
    """The patterns' grey levels in linear light (float32 (N, N)), as pyrender reads an sRGB texture."""
    if not _LINEAR:
        for p in _patterns():
            x = p[..., 0].astype(np.float32) / 255.0
            _LINEAR.append(np.where(x > 0.04045, ((x + 0.055) / 1.055) ** 2.4, x / 12.92).astype(np.float32))
    return _LINEAR


def _render_room(planes: list, f, c, size: int, lights: list, ambient, background) -> tuple:
    """The room's picture and depth, ray-cast in numpy (a few flat rectangles need no rasteriser: faster than
    drawing them with llvmpipe): per pixel the first rectangle met from its seen side, its repeating pattern
    (nearest texel), lit as pyrender lights a rough dielectric (sRGB texture → linear, Lambert for the
    directional lights plus ambient, gamma 1/2.2; no specular). Returns ``(rgb (S, S, 3) float32 in [0, 1],
    depth (S, S) mm, inf where no rectangle is met)``."""
    linear = _linear_patterns()
    v, u = np.mgrid[0:size, 0:size].astype(np.float32)
    rx, ry = (u - np.float32(c[0])) / np.float32(f[0]), (v - np.float32(c[1])) / np.float32(f[1])
    depth = np.full((size, size), np.inf, np.float32)
    rgb = np.empty((size, size, 3), np.float32)
    rgb[:] = background
    amb = np.asarray(ambient, np.float64)
    for p in planes:
        n, centre, a, b = p["normal"], p["centre"], p["a"], p["b"]
        la, lb = np.linalg.norm(a), np.linalg.norm(b)
        ea, eb = a / la, b / lb

        def dot(w):  # (ray · w) per pixel; rays are (rx, ry, 1): depth t along the optical axis
            return rx * np.float32(w[0]) + ry * np.float32(w[1]) + np.float32(w[2])

        denom = dot(n)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.float32(np.dot(centre, n)) / denom
        # the hit point's coordinates along the rectangle's sides, from its centre
        pa = t * dot(ea) - np.float32(np.dot(centre, ea))
        pb = t * dot(eb) - np.float32(np.dot(centre, eb))
        hit = (denom < 0) & (t > 0) & (t < depth) & (np.abs(pa) <= la) & (np.abs(pb) <= lb)
        if not hit.any():
            continue
        depth[hit] = t[hit]
        tex = linear[p["pattern"]]
        N = tex.shape[0]
        tu = (((pa[hit] + la) / p["tile"] + p["offset"][0]) * N).astype(np.int64) % N
        tv = (((pb[hit] + lb) / p["tile"] + p["offset"][1]) * N).astype(np.int64) % N
        shade = amb.copy()
        nn = n / np.linalg.norm(n)
        for direction, intensity, colour in lights:
            d = np.asarray(direction, np.float64)
            nl = max(0.0, float(np.dot(nn, -d / np.linalg.norm(d))))
            # pyrender's diffuse term for a dielectric: base · (1 − 0.04)² / π per unit of light and cosine
            shade = shade + (0.96 * 0.96 / np.pi) * float(intensity) * nl * np.asarray(colour, np.float64)
        # the patterns are grey: one channel, coloured by tint and light
        grey = tex[tv, tu]
        rgb[hit] = np.clip(grey[:, None] * (p["tint"] * shade).astype(np.float32), 0, 1) ** np.float32(1 / 2.2)
    return rgb, depth


def _occluders(r: np.random.Generator, joints: np.ndarray, up: np.ndarray, floor_mm: float) -> list:
    """0–2 boxes standing on the floor, each between the camera and a random joint (mm, camera axes), moved
    sideways by up to its width so that it hides part of the person."""
    parts = []
    for _ in range(int(r.choice([0, 0, 0, 1, 1, 2]))):
        target = joints[int(r.integers(len(joints)))]
        centre = target * r.uniform(0.7, 0.9)  # on the ray to the joint, before it
        view = centre - np.dot(centre, up) * up
        view /= np.linalg.norm(view)
        side = np.cross(up, view)
        wa, wb = r.uniform(80, 250, 2)
        centre = centre + side * r.uniform(-1.2, 1.2) * wa
        if centre[2] < 800:
            continue
        height = np.dot(centre, up) + r.uniform(-200, 200) - floor_mm
        if height < 100:
            continue
        turn = r.uniform(0, np.pi)
        a = (np.cos(turn) * side + np.sin(turn) * view) * wa
        b = np.cross(up, a)
        b = b / np.linalg.norm(b) * wb
        base = centre + (floor_mm - np.dot(centre, up)) * up
        h = up * height
        corners = np.array([base + sa * a + sb * b + k * h for k in (0, 1) for sa, sb in
                            ((-1, -1), (1, -1), (1, 1), (-1, 1))])
        quads = [(0, 1, 2, 3), (4, 7, 6, 5), (0, 4, 5, 1), (1, 5, 6, 2), (2, 6, 7, 3), (3, 7, 4, 0)]
        # each face its own vertices (flat shading), outward-facing
        V, F, UV = [], [], []
        centroid = corners.mean(0)
        for q in quads:
            P = corners[list(q)]
            k = len(V) * 4
            tri = np.array([[0, 1, 2], [0, 2, 3]])
            if np.dot(np.cross(P[1] - P[0], P[2] - P[0]), P.mean(0) - centroid) < 0:
                tri = tri[:, ::-1]
            V.append(P)
            F.append(tri + k)
            UV.append(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64))
        patterns = _patterns()
        k = int(r.integers(len(patterns)))
        tint = np.clip(r.uniform(0.2, 1.0, 3), 0, 1)
        parts.append(MeshPart(np.concatenate(V), np.concatenate(F), uv=np.concatenate(UV), texture=patterns[k],
                              key=f"pattern{k}", colour=(*tint, 1.0)))
    return parts


# ---------------------------------------------------------------------------------------------- a person
