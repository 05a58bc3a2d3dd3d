"""Joint sets read by cdlpose: names, bones, flip pairs, roots, and mappings between them.

Every skeleton names its joints with *canonical* anatomical names, so that joints are matched across data
sets by what they are, not by what a release happened to call them (Moon et al.'s Human3.6M "Neck" is the
thorax; their 18th joint "Thorax" is the mid-point of the shoulders). The names a release uses are kept in
``source_names``.

Canonical names used here:

- ``Thorax``: base of the neck / top of the sternum (H36M joint 8, MPII "thorax", 3DHP "neck").
- ``Neck_Nose``: H36M joint 9, between the neck and the nose; no other set has it (COCO results take it as the
  nose: :func:`coco17_index`).
- ``Head_top``: top of the head (H36M joint 10 "Head", MPII "head_top", 3DHP "head_top").
- ``Head``: centre of the head (3DHP "head"); not in Human3.6M.
- ``Upper_Neck``: MPII "upper_neck"; not in Human3.6M.
- ``Shoulder_Center``: mid-point of the shoulders (Moon et al.'s 18th Human3.6M joint, "Thorax").
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
import numpy as np

__all__ = [
    "Skeleton",
    "H36M17",
    "H36M18",
    "MPII16",
    "COCO17",
    "MUCO21",
    "MUPOTS17",
    "SKELETONS",
    "get_skeleton",
    "JointMapping",
    "joint_mapping",
    "convert_joints",
    "coco17_index",
    "COCO_STAND_INS",
    "flip_joints",
    "geodesic_length",
    "geodesic_normalize",
    "GEODESIC_MEAN_MM",
]

#: Mean neck→knee geodesic length on the Human3.6M training set used by the paper (eq. 10), in mm.
GEODESIC_MEAN_MM = 1077.0


@dataclass(frozen=True)
class Skeleton:
    """A joint set.

    Attributes:
        name: identifier, e.g. ``"h36m17"``.
        joints: canonical joint names, in the set's own order.
        parents: parent index of every joint (-1 for the root of the kinematic tree).
        root: index of the root joint used for root-relative poses, or ``None`` for sets without a pelvis.
        source_names: the names the public release uses, same order as ``joints``.
        geodesic_chains: chains of joint names whose bone lengths are summed for the scale normalisation
            (paper eq. 10); the geodesic length is the mean over the chains (left and right leg).
    """

    name: str
    joints: tuple[str, ...]
    parents: tuple[int, ...]
    root: int | None
    source_names: tuple[str, ...] = ()
    geodesic_chains: tuple[tuple[str, ...], ...] = ()
    _index: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.parents) != len(self.joints):
            raise ValueError(f"skeleton {self.name}: {len(self.parents)} parents for {len(self.joints)} joints")
        if len(set(self.joints)) != len(self.joints):
            raise ValueError(f"skeleton {self.name}: duplicate joint names")
        if self.source_names and len(self.source_names) != len(self.joints):
            raise ValueError(f"skeleton {self.name}: source_names has the wrong length")
        self._index.update({n: i for i, n in enumerate(self.joints)})
        for chain in self.geodesic_chains:
            for j in chain:
                if j not in self._index:
                    raise ValueError(f"skeleton {self.name}: geodesic chain joint {j!r} is not a joint")

    @property
    def num_joints(self) -> int:
        return len(self.joints)

    def index(self, name: str) -> int:
        """Index of the joint with canonical name ``name``."""
        try:
            return self._index[name]
        except KeyError:
            raise KeyError(f"skeleton {self.name} has no joint {name!r}; joints: {', '.join(self.joints)}") from None

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(parent, child) index pairs, one per non-root joint, in child order."""
        return tuple((p, c) for c, p in enumerate(self.parents) if p >= 0)

    @property
    def num_bones(self) -> int:
        return len(self.bones)

    @property
    def flip_pairs(self) -> tuple[tuple[int, int], ...]:
        """Left/right joint index pairs (left first), found by the ``L_``/``R_`` name prefixes."""
        pairs = []
        for i, n in enumerate(self.joints):
            if n.startswith("L_"):
                other = "R_" + n[2:]
                if other in self._index:
                    pairs.append((i, self._index[other]))
        return tuple(pairs)

    @property
    def flip_index(self) -> np.ndarray:
        """Permutation that swaps left and right joints: ``flipped = joints[..., flip_index, :]``."""
        perm = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm


def _skeleton(name, spec, root, geodesic=()):
    """Build a skeleton from ``[(canonical, source, parent_canonical_or_None), ...]``."""
    joints = tuple(s[0] for s in spec)
    index = {n: i for i, n in enumerate(joints)}
    parents = tuple(-1 if s[2] is None else index[s[2]] for s in spec)
    return Skeleton(
        name=name,
        joints=joints,
        parents=parents,
        root=None if root is None else index[root],
        source_names=tuple(s[1] for s in spec),
        geodesic_chains=geodesic,
    )


_LEG_CHAINS = (
    ("Thorax", "Spine", "Pelvis", "R_Hip", "R_Knee"),
    ("Thorax", "Spine", "Pelvis", "L_Hip", "L_Knee"),
)

_H36M_SPEC = [
    ("Pelvis", "Pelvis", None),
    ("R_Hip", "R_Hip", "Pelvis"),
    ("R_Knee", "R_Knee", "R_Hip"),
    ("R_Ankle", "R_Ankle", "R_Knee"),
    ("L_Hip", "L_Hip", "Pelvis"),
    ("L_Knee", "L_Knee", "L_Hip"),
    ("L_Ankle", "L_Ankle", "L_Knee"),
    ("Spine", "Spine", "Pelvis"),
    ("Thorax", "Thorax", "Spine"),
    ("Neck_Nose", "Neck/Nose", "Thorax"),
    ("Head_top", "Head", "Neck_Nose"),
    ("L_Shoulder", "L_Shoulder", "Thorax"),
    ("L_Elbow", "L_Elbow", "L_Shoulder"),
    ("L_Wrist", "L_Wrist", "L_Elbow"),
    ("R_Shoulder", "R_Shoulder", "Thorax"),
    ("R_Elbow", "R_Elbow", "R_Shoulder"),
    ("R_Wrist", "R_Wrist", "R_Elbow"),
]

#: Human3.6M, 17 joints, the standard evaluation order (VideoPose3D, MMPose, Martinez et al.).
H36M17 = _skeleton("h36m17", _H36M_SPEC, root="Pelvis", geodesic=_LEG_CHAINS)

# Moon et al.'s names for the joints whose common names differ.
_MOON_NAMES = {"Spine": "Torso", "Thorax": "Neck", "Neck_Nose": "Nose"}

#: Human3.6M, 18 joints in the order of Moon et al.'s preprocessed annotations (their names in source_names);
#: the 18th joint is the mid-point of the shoulders, excluded from evaluation.
H36M18 = _skeleton(
    "h36m18",
    [(n, _MOON_NAMES.get(n, src), p) for n, src, p in _H36M_SPEC] + [("Shoulder_Center", "Thorax", "Thorax")],
    root="Pelvis",
    geodesic=_LEG_CHAINS,
)

#: MPII Human Pose, 16 joints (2D only).
MPII16 = _skeleton(
    "mpii16",
    [
        ("R_Ankle", "r_ankle", "R_Knee"),
        ("R_Knee", "r_knee", "R_Hip"),
        ("R_Hip", "r_hip", "Pelvis"),
        ("L_Hip", "l_hip", "Pelvis"),
        ("L_Knee", "l_knee", "L_Hip"),
        ("L_Ankle", "l_ankle", "L_Knee"),
        ("Pelvis", "pelvis", None),
        ("Thorax", "thorax", "Pelvis"),
        ("Upper_Neck", "upper_neck", "Thorax"),
        ("Head_top", "head_top", "Upper_Neck"),
        ("R_Wrist", "r_wrist", "R_Elbow"),
        ("R_Elbow", "r_elbow", "R_Shoulder"),
        ("R_Shoulder", "r_shoulder", "Thorax"),
        ("L_Shoulder", "l_shoulder", "Thorax"),
        ("L_Elbow", "l_elbow", "L_Shoulder"),
        ("L_Wrist", "l_wrist", "L_Elbow"),
    ],
    root="Pelvis",
)

#: COCO person keypoints, 17 joints (2D only). COCO has no pelvis: the tree hangs from the nose and the set
#: has no root; map to a set with a pelvis with ``derive=True`` to get it as the mid-point of the hips.
COCO17 = _skeleton(
    "coco17",
    [
        ("Nose", "nose", None),
        ("L_Eye", "left_eye", "Nose"),
        ("R_Eye", "right_eye", "Nose"),
        ("L_Ear", "left_ear", "L_Eye"),
        ("R_Ear", "right_ear", "R_Eye"),
        ("L_Shoulder", "left_shoulder", "Nose"),
        ("R_Shoulder", "right_shoulder", "Nose"),
        ("L_Elbow", "left_elbow", "L_Shoulder"),
        ("R_Elbow", "right_elbow", "R_Shoulder"),
        ("L_Wrist", "left_wrist", "L_Elbow"),
        ("R_Wrist", "right_wrist", "R_Elbow"),
        ("L_Hip", "left_hip", "L_Shoulder"),
        ("R_Hip", "right_hip", "R_Shoulder"),
        ("L_Knee", "left_knee", "L_Hip"),
        ("R_Knee", "right_knee", "R_Hip"),
        ("L_Ankle", "left_ankle", "L_Knee"),
        ("R_Ankle", "right_ankle", "R_Knee"),
    ],
    root=None,
)

_MUCO_SPEC = [
    ("Head_top", "Head_top", "Head"),
    ("Thorax", "Thorax", "Spine"),
    ("R_Shoulder", "R_Shoulder", "Thorax"),
    ("R_Elbow", "R_Elbow", "R_Shoulder"),
    ("R_Wrist", "R_Wrist", "R_Elbow"),
    ("L_Shoulder", "L_Shoulder", "Thorax"),
    ("L_Elbow", "L_Elbow", "L_Shoulder"),
    ("L_Wrist", "L_Wrist", "L_Elbow"),
    ("R_Hip", "R_Hip", "Pelvis"),
    ("R_Knee", "R_Knee", "R_Hip"),
    ("R_Ankle", "R_Ankle", "R_Knee"),
    ("L_Hip", "L_Hip", "Pelvis"),
    ("L_Knee", "L_Knee", "L_Hip"),
    ("L_Ankle", "L_Ankle", "L_Knee"),
    ("Pelvis", "Pelvis", None),
    ("Spine", "Spine", "Pelvis"),
    ("Head", "Head", "Thorax"),
    ("R_Hand", "R_Hand", "R_Wrist"),
    ("L_Hand", "L_Hand", "L_Wrist"),
    ("R_Toe", "R_Toe", "R_Ankle"),
    ("L_Toe", "L_Toe", "L_Ankle"),
]

#: MuCo-3DHP, 21 joints (the MPI-INF-3DHP joints of Moon et al.'s MuCo release).
MUCO21 = _skeleton("muco21", _MUCO_SPEC, root="Pelvis", geodesic=_LEG_CHAINS)

#: MuPoTS-3D, 17 joints: the first 17 MuCo-3DHP joints.
MUPOTS17 = _skeleton("mupots17", _MUCO_SPEC[:17], root="Pelvis", geodesic=_LEG_CHAINS)

SKELETONS: dict[str, Skeleton] = {s.name: s for s in (H36M17, H36M18, MPII16, COCO17, MUCO21, MUPOTS17)}


def get_skeleton(name: str | Skeleton) -> Skeleton:
    """Look a skeleton up by name (``h36m17``, ``h36m18``, ``mpii16``, ``coco17``, ``muco21``, ``mupots17``)."""
    if isinstance(name, Skeleton):
        return name
    try:
        return SKELETONS[name]
    except KeyError:
        raise KeyError(f"unknown skeleton {name!r}; expected one of {', '.join(SKELETONS)}") from None


#: Joints that may be synthesised as the mean of others when the source lacks them (``derive=True``).
DERIVABLE = {
    "Pelvis": ("L_Hip", "R_Hip"),
    "Shoulder_Center": ("L_Shoulder", "R_Shoulder"),
    "Thorax": ("L_Shoulder", "R_Shoulder"),
}


@dataclass(frozen=True)
class JointMapping:
    """How to build joints of ``dst`` from joints of ``src``.

    ``weights`` is a ``(J_dst, J_src)`` matrix: row j averages the source joints that make destination joint j
    (a one-hot row for a joint matched by name). ``valid`` is ``(J_dst,)``: False where the source lacks the
    joint; such joints come out as zeros with validity False — never as silent zeros.
    """

    src: Skeleton
    dst: Skeleton
    weights: np.ndarray
    valid: np.ndarray

    @property
    def index(self) -> np.ndarray:
        """Source index of each destination joint matched one to one by name (-1 otherwise)."""
        idx = np.full(self.dst.num_joints, -1)
        for j in range(self.dst.num_joints):
            nz = np.flatnonzero(self.weights[j])
            if len(nz) == 1 and self.weights[j, nz[0]] == 1.0:
                idx[j] = nz[0]
        return idx


@functools.lru_cache(maxsize=None)
def joint_mapping(src: str | Skeleton, dst: str | Skeleton, derive: bool = False) -> JointMapping:
    """Mapping from joint set ``src`` to ``dst`` by canonical joint name.

    With ``derive=True``, a destination joint the source lacks but that is listed in ``DERIVABLE`` (pelvis
    from the hips, shoulder centre from the shoulders) is made as the mean of its parts, as Moon et al. do for
    COCO; otherwise it is invalid. Mappings are cached (the data pipeline asks for them per sample) and their
    arrays are read-only.
    """
    src, dst = get_skeleton(src), get_skeleton(dst)
    w = np.zeros((dst.num_joints, src.num_joints), dtype=np.float64)
    valid = np.zeros(dst.num_joints, dtype=bool)
    for j, name in enumerate(dst.joints):
        if name in src._index:
            w[j, src._index[name]] = 1.0
            valid[j] = True
        elif derive and name in DERIVABLE and all(p in src._index for p in DERIVABLE[name]):
            for p in DERIVABLE[name]:
                w[j, src._index[p]] = 1.0 / len(DERIVABLE[name])
            valid[j] = True
    w.flags.writeable = False
    valid.flags.writeable = False
    return JointMapping(src, dst, w, valid)


def convert_joints(joints, src, dst, valid=None, derive: bool = False):
    """Convert ``joints`` (..., J_src, D) of set ``src`` to set ``dst``.

    Args:
        joints: numpy array (..., J_src, D), any units.
        valid: optional (..., J_src) boolean validity of the source joints.
    Returns:
        ``(joints_dst (..., J_dst, D), valid_dst (..., J_dst))``. A derived joint is valid only where all its
        parts are; joints the source lacks are zeros and invalid.
    """
    m = joint_mapping(src, dst, derive=derive)
    joints = np.asarray(joints)
    if joints.shape[-2] != m.src.num_joints:
        raise ValueError(
            f"convert_joints: expected {m.src.num_joints} joints of {m.src.name}, got shape {joints.shape}"
        )
    if valid is None:
        valid = np.ones(joints.shape[:-1], dtype=bool)
    valid = np.asarray(valid, dtype=bool)
    out = np.einsum("ds,...sk->...dk", m.weights, np.where(valid[..., None], joints, 0.0))
    # A destination joint is valid when every source joint it uses is valid.
    used = m.weights > 0
    src_invalid = (~valid).astype(np.float64)
    out_valid = m.valid & (np.einsum("ds,...s->...d", used.astype(np.float64), src_invalid) == 0)
    return out.astype(joints.dtype, copy=False), out_valid


#: For COCO keypoint results from a set without COCO's nose: the joint that stands in for it. Human3.6M's joint 9
#: (``Neck_Nose``) is the one Moon et al. name "Nose" and map COCO's nose onto; it lies a little below the nose.
COCO_STAND_INS = {"Nose": "Neck_Nose"}


def coco17_index(src: str | Skeleton) -> np.ndarray:
    """Per COCO-17 joint (COCO's order: nose, eyes, ears, shoulders, … ankles), the index of the ``src`` joint it is
    taken from, matched by name (left is left: both name the person's own side), COCO's nose from ``Neck_Nose``
    where ``src`` has no nose (:data:`COCO_STAND_INS`); -1 where ``src`` lacks the joint (Human3.6M: the eyes and
    ears; MuCo-3DHP: also the nose)."""
    src = get_skeleton(src)
    idx = joint_mapping(src, COCO17).index.copy()
    for j, name in enumerate(COCO17.joints):
        stand_in = COCO_STAND_INS.get(name)
        if idx[j] < 0 and stand_in in src._index:
            idx[j] = src._index[stand_in]
    return idx


def flip_joints(joints, skeleton: str | Skeleton, width: float | None = None):
    """Mirror joints horizontally and swap left/right.

    Args:
        joints: (..., J, D) numpy array or torch tensor. D >= 1; only coordinate 0 is mirrored.
        width: for image coordinates with pixel centres at integers, u -> (width - 1) - u; ``None`` mirrors
            about 0 (camera-space x -> -x).
    """
    sk = get_skeleton(skeleton)
    perm = sk.flip_index
    out = joints[..., perm, :].clone() if hasattr(joints, "clone") else np.array(joints[..., perm, :], copy=True)
    out[..., 0] = -out[..., 0] if width is None else (width - 1) - out[..., 0]
    return out


def geodesic_length(joints, skeleton: str | Skeleton = H36M17):
    """Neck→knee geodesic length (paper eq. 10): sum of bone lengths Thorax→Spine→Pelvis→Hip→Knee.

    Averaged over the left and right chains. ``joints``: (..., J, 3) numpy or torch, any units; returns (...).
    """
    sk = get_skeleton(skeleton)
    if not sk.geodesic_chains:
        raise ValueError(f"skeleton {sk.name} has no neck→knee chain (it lacks a spine or pelvis)")
    total = 0.0
    for chain in sk.geodesic_chains:
        idx = [sk.index(n) for n in chain]
        seg = joints[..., idx[1:], :] - joints[..., idx[:-1], :]
        total = total + (seg**2).sum(-1) ** 0.5 @ _ones_like_last(seg)
    return total / len(sk.geodesic_chains)


def _ones_like_last(seg):
    n = seg.shape[-2]
    if hasattr(seg, "new_ones"):
        return seg.new_ones(n)
    return np.ones(n, dtype=seg.dtype)


def geodesic_normalize(joints, skeleton: str | Skeleton = H36M17, target: float = GEODESIC_MEAN_MM):
    """Scale root-relative poses so their neck→knee geodesic length is ``target`` mm (paper eq. 10).

    Args:
        joints: (..., J, 3) root-relative, mm (numpy or torch).
    Returns:
        ``(normalized (..., J, 3), scale (...))`` with ``normalized = joints * scale``; divide by ``scale`` to go
        back to the original size.
    """
    g = geodesic_length(joints, skeleton)
    if (g <= 0).any():
        raise ValueError("geodesic_normalize: a pose has zero neck→knee length (degenerate or missing joints)")
    scale = target / g
    return joints * scale[..., None, None], scale

