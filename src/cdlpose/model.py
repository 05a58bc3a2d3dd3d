"""The cascaded dimension-lifting network (paper Fig. 2) and its Table 4 ablation variants.

Variants: ``baseline`` (Moon et al.'s PoseNet head + 3D lifting block), ``jh`` (+ joint heatmaps),
``bj`` (+ bone heatmaps feeding the joint stage), ``full`` (+ depth-centric block with cube and ordinal outputs).

Output maps are at 1/4 of the input (64×64 for 256×256). ``forward(images)`` returns a dict:

- ``bone_heatmaps`` (B, K, H, W) — ``bj``, ``full``
- ``joint_heatmaps`` (B, J, H, W) — ``jh``, ``bj``, ``full``
- ``cube`` (B, C, H, W) and ``ordinal_logits`` (B, C, H, W) — ``full``
- ``uvz`` (B, J, 3): soft-argmax of the per-joint volumes: u, v output-map pixels, z continuous depth index
- ``volume_logits`` (B, J, C, H, W): the per-joint volumes before the softmax
- ``pose_3d`` (B, J, 3): root-relative camera-space pose in mm, geodesic-normalised scale (eq. 10); absent in a
  network without a lifting block (``ModelConfig.lifting: false``, imported PoseNet weights)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .codec import joint_confidence, soft_argmax_3d
from .data.pipeline import IMAGENET_MEAN as _IMAGENET_MEAN, IMAGENET_STD as _IMAGENET_STD
from .errors import ConfigError, lacks_torchvision, needs_torchvision
from .resnet import Bottleneck, ResNet
from .skeletons import get_skeleton

__all__ = ["ModelConfig", "CascadedLiftingNet", "LiftingBlock", "build_backbone", "block_parameters", "nominal_camera",
           "OUTPUT_STRIDE", "VARIANTS", "LAYOUTS", "BLOCKS"]

VARIANTS = ("baseline", "jh", "bj", "full")
#: ``release``: the authors' release (fnzhan/Pose-Estimation) — the final block keeps the 2·width channels of its
#: concatenated input (Bottleneck(512, 128) × 3 at the default width), lifting residual blocks of three bias-free
#: Linear + BatchNorm layers after an input Linear + BatchNorm + ReLU, every head convolution and deconvolution
#: drawn from N(0, 0.001²) with zero biases (Moon et al.'s PoseNet release does this for its deconvolutions and
#: final convolution). ``narrow``: this project's earlier choices, kept for ``lite`` (the CPU demo): the final
#: block reduced to the head width by a 1×1 convolution, two-layer lifting blocks without the input BatchNorm,
#: PyTorch's default initialisation.
LAYOUTS = ("release", "narrow")
INPUT_RANGES = ("unit", "byte")
OUTPUT_CONVENTIONS = ("cdlpose", "posenet")
#: N(0, std²) of the head convolutions in the release layout (Moon et al.; the authors)
HEAD_INIT_STD = 1e-3
_BACKBONE_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}


@dataclass
class ModelConfig:
    variant: str = "full"  # baseline | jh | bj | full
    backbone: str = "resnet50"  # resnet18/34/50/101/152
    pretrained: str | None = None  # None | "imagenet" | path to a backbone state dict
    lite: bool = False  # narrow trunk (128 channels) and fewer bottlenecks, for CPUs and fast experiments
    backbone_stages: int = 4  # ResNet stages kept: 4 (stride 32, the paper), 3 (stride 16) or 2 (stride 8)
    head_width: int | None = None  # channels of the heads; None: 256 (the paper), 128 with ``lite``
    skeleton: str = "h36m17"
    depth_bins: int = 64  # C
    lift_hidden: int = 1024
    lift_blocks: int = 5
    lift_layers_per_block: int | None = None  # None: the layout's (release: 3, the authors' code; narrow: 2)
    lift_dropout: float = 0.5
    # what the lifting block sees of each joint: "crop" — crop-normalised (u, v), relative to the root, and the
    # depth index (the default: measured better on real Human3.6M poses, benchmarks/lifting_h36m.py); "camera" —
    # the viewing ray ((u - cx)/fx, (v - cy)/fy) through the crop camera, relative to the root's, and the
    # root-relative depth in metres (where the person is in the frame, which the crop alone does not tell);
    # "crop+ray" — the crop's inputs and the root's viewing ray (both: the crop's scale normalisation and where
    # the person is in the frame)
    lift_input: str = "crop"
    softargmax_beta: float = 1.0
    # sizes and initialisation (see LAYOUTS); None: "release", or "narrow" with ``lite``. Checkpoints saved before
    # this field existed are read as "narrow" (config.config_from_dict), the network they were trained with
    layout: str | None = None
    # False: no lifting block — the 3D pose is the 2.5D estimate back-projected with a root depth (inference) or the
    # ground-truth one (evaluation), PoseNet's way; imported PoseNet weights (cdlpose.posenet) have none
    lifting: bool = True
    # the pixel range the trunk expects: "unit" — RGB in [0, 1], then ImageNet's mean and std (cdlpose's pipeline);
    # "byte" — the same mean and std applied to 0–255 values, what Moon et al.'s PoseNet was trained on (their
    # ToTensor gets a float array, which it does not rescale). The network converts cdlpose's input itself
    input_range: str = "unit"
    # what the volumes' soft-argmax index means: "cdlpose" — map pixel i is centred on crop pixel (i + 0.5)·4 − 0.5
    # and depth index k on the bin centre (k − C/2 + 0.5)·D/C; "posenet" — Moon et al.'s crop pixel 4·i and depth
    # (k − C/2)·D/C (their targets are u/4 and (z/D + 1/2)·C). The network returns ``uvz`` in cdlpose's meaning
    output_convention: str = "cdlpose"

    @property
    def effective_layout(self) -> str:
        return self.layout or ("narrow" if self.lite else "release")

    @property
    def effective_lift_layers(self) -> int:
        if self.lift_layers_per_block is not None:
            return self.lift_layers_per_block
        return 3 if self.effective_layout == "release" else 2

    def __post_init__(self) -> None:
        if self.layout is not None and self.layout not in LAYOUTS:
            raise ValueError(f"model.layout must be one of {', '.join(LAYOUTS)} or null; got {self.layout!r}")
        if self.variant not in VARIANTS:
            raise ValueError(f"model.variant must be one of {', '.join(VARIANTS)}; got {self.variant!r}")
        if self.backbone not in _BACKBONE_CHANNELS:
            raise ValueError(f"model.backbone must be one of {', '.join(_BACKBONE_CHANNELS)}; got {self.backbone!r}")
        if self.backbone_stages not in (2, 3, 4):
            raise ValueError(f"model.backbone_stages must be 2, 3 or 4; got {self.backbone_stages!r}")
        if self.head_width is not None and (self.head_width < 8 or self.head_width % 8):
            raise ValueError(f"model.head_width must be a multiple of 8 (≥ 8) or null; got {self.head_width!r}")
        if self.lift_input not in LIFT_INPUTS:
            raise ValueError(f"model.lift_input must be one of {', '.join(LIFT_INPUTS)}; got {self.lift_input!r}")
        if self.input_range not in INPUT_RANGES:
            raise ValueError(f"model.input_range must be one of {', '.join(INPUT_RANGES)}; got {self.input_range!r}")
        if self.output_convention not in OUTPUT_CONVENTIONS:
            raise ValueError(f"model.output_convention must be one of {', '.join(OUTPUT_CONVENTIONS)}; "
                             f"got {self.output_convention!r}")


def _weights_help(name: str, weights) -> str:
    fname = Path(weights.url).name
    dest = Path(torch.hub.get_dir()) / "checkpoints" / fname
    return (
        f"could not load torchvision's ImageNet weights for {name} (offline?). Download {weights.url} on a machine "
        f"with internet access and put it at {dest} (TORCH_HOME sets the folder), or set model.pretrained to the "
        f"path of a local state dict."
    )


def backbone_channels(name: str, stages: int = 4) -> int:
    """Output channels of :func:`build_backbone` with ``stages`` residual stages."""
    return _BACKBONE_CHANNELS[name] >> (4 - stages)


def build_backbone(name: str, pretrained: str | None = None, stages: int = 4) -> nn.Module:
    """A ResNet (torchvision's, built by :mod:`cdlpose.resnet` without importing torchvision) without its pooling
    and classifier: (B, 3, H, W) → (B, C, H/32, W/32); with ``stages`` < 4 the last residual stages are dropped too (stride 2^(stages + 1)): a shallower trunk with finer
    features, which a network trained from scratch for minutes (the CPU demo) learns to localise joints with.

    ``pretrained``: ``None``; ``"imagenet"`` (torchvision's weights API, cached under TORCH_HOME); or a path to a
    local state dict (ResNet keys; ``fc.*`` ignored), loaded with ``weights_only=True``.
    """
    net = ResNet(name)
    if pretrained == "imagenet":
        try:
            import torchvision  # only for its weights: its import takes seconds (it loads torch._dynamo)
        except ImportError as e:
            if not lacks_torchvision(e):
                raise
            raise ConfigError(needs_torchvision("model.pretrained: imagenet (torchvision's ImageNet weights)")) \
                from None

        weights = torchvision.models.get_model_weights(name).DEFAULT
        try:
            state = weights.get_state_dict(progress=False, check_hash=False)
        except Exception as e:  # URLError, OSError: offline without a cached file
            raise RuntimeError(_weights_help(name, weights)) from e
        net.load_state_dict(state)
    elif pretrained:
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"model.pretrained: no file {path} (expected a ResNet state dict saved by torch.save)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k.removeprefix("module."): v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = net.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("fc.")]
        if missing or unexpected:
            raise ValueError(f"{path}: not a {name} state dict (missing {missing[:5]}, unexpected {unexpected[:5]})")
    net.fc = nn.Identity()
    return nn.Sequential(*(list(net.children())[: -2 - (4 - stages)]))


def _deconv(cin: int, cout: int, n: int = 3) -> nn.Sequential:
    layers = []
    for i in range(n):
        layers += [nn.ConvTranspose2d(cin if i == 0 else cout, cout, 4, 2, 1, bias=False), nn.BatchNorm2d(cout),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _conv_bn(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _bottlenecks(width: int, n: int) -> nn.Sequential:
    return nn.Sequential(*[Bottleneck(width, width // Bottleneck.expansion) for _ in range(n)])


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1×1, 3×3 dilated 4, 8, 12 and image pooling, fused by a 1×1 conv."""

    def __init__(self, cin: int, cout: int, rates=(4, 8, 12)) -> None:
        super().__init__()
        self.branches = nn.ModuleList([_conv_bn(cin, cout, 1)] + [_conv_bn(cin, cout, 3, r) for r in rates])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.ReLU(inplace=True))
        self.fuse = _conv_bn(cout * (len(rates) + 2), cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [b(x) for b in self.branches]
        feats.append(self.pool(x).expand(-1, -1, x.shape[2], x.shape[3]))
        return self.fuse(torch.cat(feats, 1))


#: The lifting block's raw outputs are in decimetres, about the spread of joint coordinates: in metres a step of
#: Adam moves the output too far to settle (measured: 4 poses memorised to 28 mm in 300 steps vs 76 mm).
OUTPUT_UNIT_MM = 100.0
#: Output maps are at 1/4 of the input: crop pixel u = (map pixel + 0.5) · 4 − 0.5.
OUTPUT_STRIDE = 4


def nominal_camera(n: int, size, like: torch.Tensor) -> torch.Tensor:
    """(n, 4) crop camera ``(fx, fy, cx, cy)`` in crop pixels for a crop of ``size`` (H, W) whose real camera is
    unknown: focal length = the crop's size, principal point at its centre (pixel centres at integers) — a person
    centred on the optical axis. dtype and device of ``like``; a ``lift_input: crop`` network ignores it."""
    H, W = size
    return like.new_tensor([float(W), float(H), (W - 1) / 2, (H - 1) / 2]).expand(n, 4)


#: What the lifting block can see of each joint (ModelConfig.lift_input); every form but "crop" needs the camera.
LIFT_INPUTS = ("crop", "camera", "crop+ray")


class LiftingBlock(nn.Module):
    """3D lifting block (paper, "3D Lifting block"): per joint five features (below) → Linear(1024) [→ BatchNorm →
    ReLU] → residual blocks of [Linear, BatchNorm, ReLU, Dropout] × layers → Linear(J × 3).

    ``input_form="camera"``: the joint's viewing ray ``(x, y) = ((u - cx) / fx, (v - cy) / fy)`` (u, v crop pixels,
    the crop camera (fx, fy, cx, cy) of the augmented crop), the ray relative to the root's, and the root-relative
    depth in metres; ``"crop"``: crop-normalised (u, v), relative to the root, and the depth index;
    ``"crop+ray"``: the crop's five and the root's viewing ray (two more inputs).

    ``input_norm`` (the authors' release): BatchNorm + ReLU after the input layer, and the Linear layers that a
    BatchNorm follows have no bias (it would be cancelled by the BatchNorm's mean).

    Input: uvz (B, J, 3) in output-map pixels and depth index; output (B, J, 3) mm, root joint at the origin.
    """

    def __init__(self, num_joints: int, root: int, map_size: tuple[int, int], depth_bins: int,
                 hidden: int = 1024, blocks: int = 5, layers_per_block: int = 2, dropout: float = 0.5,
                 input_norm: bool = False, input_form: str = "crop", depth_range: float = 2000.0) -> None:
        super().__init__()
        if input_form not in LIFT_INPUTS:
            raise ValueError(f"lifting input must be one of {', '.join(LIFT_INPUTS)}; got {input_form!r}")
        self.num_joints, self.root, self.depth_bins = num_joints, root, depth_bins
        self.input_form, self.depth_range = input_form, depth_range
        self.crop_size = (map_size[0] * OUTPUT_STRIDE, map_size[1] * OUTPUT_STRIDE)
        self.register_buffer("map_size", torch.tensor([float(map_size[1]), float(map_size[0])]), persistent=False)
        bias = not input_norm
        self.inp = nn.Linear(num_joints * 5 + (2 if input_form == "crop+ray" else 0), hidden, bias=bias)
        self.inp_norm = nn.Sequential(nn.BatchNorm1d(hidden), nn.ReLU(inplace=True)) if input_norm else nn.Identity()

        def layer():
            return [nn.Linear(hidden, hidden, bias=bias), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True),
                    nn.Dropout(dropout)]

        self.blocks = nn.ModuleList(
            [nn.Sequential(*[m for _ in range(layers_per_block) for m in layer()]) for _ in range(blocks)]
        )
        self.out = nn.Linear(hidden, num_joints * 3)
        # start near the zero pose: with the default init the summed residual stream makes the first outputs
        # several metres, and the first few hundred steps only shrink them
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.zeros_(self.out.bias)

    def features(self, uvz: torch.Tensor, camera: torch.Tensor | None = None) -> torch.Tensor:
        """(B, J, 3) 2.5D estimate (map pixels, depth index) [and (B, 4) crop camera] → (B, J * 5 [+ 2]) inputs,
        each roughly in [-1, 1]."""
        if self.input_form == "crop":
            return self._crop_features(uvz)
        if camera is None:
            raise ValueError("this lifting block takes the crop camera (B, 4) = (fx, fy, cx, cy) in crop pixels "
                             f"(model.lift_input: {self.input_form})")
        # 2D-only samples (MPII, COCO) have no camera; stage 1 computes their (unused) lifting output anyway, and
        # a NaN there would poison the BatchNorm statistics: they get a nominal camera instead
        camera = torch.where(torch.isfinite(camera), camera, nominal_camera(1, self.crop_size, camera))
        f, c = camera[:, None, :2], camera[:, None, 2:]
        uv_crop = (uvz[..., :2] + 0.5) * OUTPUT_STRIDE - 0.5
        ray = (uv_crop - c) / f
        if self.input_form == "crop+ray":
            # rays are tangents of the viewing angle (|x| < ~0.5 in common fields of view)
            return torch.cat([self._crop_features(uvz), ray[:, self.root] * 2], -1)
        rel = ray - ray[:, self.root : self.root + 1]
        # a person spans ~0.3
        z_m = (uvz[..., 2:3] - (self.depth_bins / 2 - 0.5)) * (self.depth_range / self.depth_bins) / 1000.0
        return torch.cat([ray * 2, rel * 5, z_m], -1).flatten(1)

    def _crop_features(self, uvz: torch.Tensor) -> torch.Tensor:
        uv = uvz[..., :2] / self.map_size * 2 - 1
        rel = (uvz[..., :2] - uvz[:, self.root : self.root + 1, :2]) / self.map_size * 2
        z = uvz[..., 2:3] / self.depth_bins * 2 - 1
        return torch.cat([uv, rel, z], -1).flatten(1)

    def forward(self, uvz: torch.Tensor, camera: torch.Tensor | None = None) -> torch.Tensor:
        """uvz (B, J, 3); camera (B, 4) crop pixels (``input_form="camera"``) → (B, J, 3) mm, root at 0."""
        x = self.inp_norm(self.inp(self.features(uvz, camera)))
        for block in self.blocks:
            x = x + block(x)
        pose = self.out(x).view(-1, self.num_joints, 3) * OUTPUT_UNIT_MM
        return pose - pose[:, self.root : self.root + 1]


class CascadedLiftingNet(nn.Module):
    """The network of the paper, one of the Table 4 variants by ``config.variant``."""

    def __init__(self, config: ModelConfig, input_size: tuple[int, int] = (256, 256),
                 depth_range: float = 2000.0) -> None:
        super().__init__()
        self.config = cfg = config
        sk = get_skeleton(cfg.skeleton)
        if sk.root is None:
            raise ValueError(f"skeleton {sk.name} has no root joint; the network needs a root-relative skeleton")
        self.num_joints, self.num_bones, C = sk.num_joints, sk.num_bones, cfg.depth_bins
        width = cfg.head_width or (128 if cfg.lite else 256)
        release = cfg.effective_layout == "release"
        n_ctx, n_joint, n_final = (1, 1, 1) if cfg.lite else (2, 2, 3)
        cb = backbone_channels(cfg.backbone, cfg.backbone_stages)
        up = cfg.backbone_stages - 1  # ×2 deconvolutions from the trunk's stride to the maps' 1/4
        v = cfg.variant
        self.backbone = build_backbone(cfg.backbone, cfg.pretrained, cfg.backbone_stages)
        self.context = _deconv(cb, width, up)
        if v == "baseline":
            self.head = nn.Conv2d(width, self.num_joints * C, 1)
        else:
            self.context_conv = _conv_bn(width, width)
            self.context_res = _bottlenecks(width, n_ctx)
            if v in ("bj", "full"):
                bw = width // 2
                self.bone_deconv = _deconv(cb, bw, up)
                self.bone_out = nn.Conv2d(bw, self.num_bones, 3, padding=1)
                joint_in = width + bw
            else:
                joint_in = width
            self.joint_reduce = _conv_bn(joint_in, width, 1)
            self.joint_res = _bottlenecks(width, n_joint)
            self.joint_out = nn.Conv2d(width, self.num_joints, 3, padding=1)
            if v == "full":
                self.aspp = ASPP(width, width)
                self.dc_reduce = _conv_bn(2 * width, width, 1)
                self.dc_res = _bottlenecks(width, 1)
                self.cube_out = nn.Conv2d(width, C, 3, padding=1)
                self.ordinal_out = nn.Conv2d(width, C, 1)
            if release:  # the authors' final block works on the concatenation's 2·width channels
                self.final_res = _bottlenecks(2 * width, n_final)
                self.head = nn.Conv2d(2 * width, self.num_joints * C, 1)
            else:
                self.final_res = nn.Sequential(_conv_bn(2 * width, width, 1), _bottlenecks(width, n_final))
                self.head = nn.Conv2d(width, self.num_joints * C, 1)
        map_size = (input_size[0] // 4, input_size[1] // 4)
        # input and output conventions of imported weights (ModelConfig.input_range, .output_convention)
        if cfg.input_range == "byte":  # (255·x − m)/s = 255·n + 254·m/s for cdlpose's n = (x − m)/s
            shift = torch.tensor([254.0 * float(m) / float(s) for m, s in zip(_IMAGENET_MEAN, _IMAGENET_STD)],
                                 dtype=torch.float64).view(1, 3, 1, 1).float()
            self.register_buffer("input_shift", shift, persistent=False)
        # the volumes' own soft-argmax index minus this is cdlpose's (u, v, z); posenet: crop pixel 4·i =
        # (i' + 0.5)·4 − 0.5 at i' = i − 3/8, and k' = k − 1/2
        posenet = cfg.output_convention == "posenet"
        offset = [(OUTPUT_STRIDE - 1) / (2 * OUTPUT_STRIDE)] * 2 + [0.5] if posenet else [0.0] * 3
        self.register_buffer("uvz_offset", torch.tensor(offset), persistent=False)
        self.lifting = None
        if cfg.lifting:
            self.lifting = LiftingBlock(self.num_joints, sk.root, map_size, C, cfg.lift_hidden, cfg.lift_blocks,
                                        cfg.effective_lift_layers, cfg.lift_dropout, input_norm=release,
                                        input_form=cfg.lift_input, depth_range=depth_range)
        if release:
            self._init_heads()

    def _init_heads(self) -> None:
        """Moon et al.'s and the authors' initialisation: every convolution and deconvolution outside the backbone
        and the lifting block ~ N(0, 0.001²), biases 0, BatchNorm weight 1 and bias 0. Behind BatchNorm the scale
        cancels; at the output convolutions it starts every map near zero, i.e. the volumes near uniform."""
        for name, m in self.named_modules():
            if name.startswith(("backbone", "lifting")):
                continue
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.normal_(m.weight, std=HEAD_INIT_STD)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def volumes(self, images: torch.Tensor) -> dict:
        """Everything up to the per-joint volumes (stage 1): intermediate maps and ``uvz``."""
        if images.ndim != 4 or images.shape[1] != 3 or images.shape[2] % 32 or images.shape[3] % 32:
            raise ValueError(
                f"expected images of shape (B, 3, H, W) with H and W multiples of 32, got {tuple(images.shape)}"
            )
        out = {}
        if self.config.input_range == "byte":
            images = images * 255.0 + self.input_shift.to(images.dtype)
        feat = self.backbone(images)
        ctx = self.context(feat)
        if self.config.variant == "baseline":
            top = ctx
        else:
            ctx = self.context_res(self.context_conv(ctx))
            joint_in = ctx
            if hasattr(self, "bone_deconv"):
                bone_feat = self.bone_deconv(feat)
                out["bone_heatmaps"] = self.bone_out(bone_feat)
                joint_in = torch.cat([bone_feat, ctx], 1)
            joint_feat = self.joint_res(self.joint_reduce(joint_in))
            out["joint_heatmaps"] = self.joint_out(joint_feat)
            if hasattr(self, "aspp"):
                ctx = self.aspp(ctx)
                dc = self.dc_res(self.dc_reduce(torch.cat([ctx, joint_feat], 1)))
                out["cube"] = self.cube_out(dc)
                out["ordinal_logits"] = self.ordinal_out(dc)
                joint_feat = dc
            top = self.final_res(torch.cat([ctx, joint_feat], 1))
        logits = self.head(top)
        B, _, H, W = logits.shape
        vol = logits.view(B, self.num_joints, self.config.depth_bins, H, W)
        # soft-argmax in float32 even under autocast: the softmax over 64^3 cells needs the range
        uvz = soft_argmax_3d(vol if vol.dtype == torch.float64 else vol.float(), beta=self.config.softargmax_beta)
        out["uvz"] = uvz - self.uvz_offset
        out["volume_logits"] = vol
        return out

    def predict(self, images: torch.Tensor, camera: torch.Tensor | None = None) -> dict:
        """Inference outputs: ``uvz`` (B, J, 3), ``pose_3d`` (B, J, 3) mm (absent without a lifting block) and
        ``confidence`` (B, J) in [0, 1] (see :func:`cdlpose.codec.joint_confidence`). ``camera`` (B, 4): the crops'
        (fx, fy, cx, cy) in crop pixels, which a ``lift_input: camera`` network needs."""
        out = self.volumes(images)
        uvz = out["uvz"]
        # the confidence window sits around the soft-argmax in the volume's own index grid
        conf = joint_confidence(out["volume_logits"].float(), uvz + self.uvz_offset, self.config.softargmax_beta)
        res = {"uvz": uvz, "confidence": conf}
        if self.lifting is not None:
            res["pose_3d"] = self.lifting(uvz, self._camera(images, camera))
        return res

    def forward(self, images: torch.Tensor, camera: torch.Tensor | None = None) -> dict:
        out = self.volumes(images)
        if self.lifting is not None:
            out["pose_3d"] = self.lifting(out["uvz"], self._camera(images, camera))
        return out

    def _camera(self, images: torch.Tensor, camera: torch.Tensor | None) -> torch.Tensor | None:
        """The crop camera for the lifting block: as given, or — for a ``lift_input: camera`` network called
        without one — a nominal camera (principal point at the crop centre, focal length = the crop size), i.e. a
        person centred on the optical axis. Callers that know the camera (trainer, evaluation, Predictor, ONNX)
        pass it."""
        if camera is not None or self.config.lift_input == "crop":
            return camera
        return nominal_camera(images.shape[0], images.shape[-2:], images)


#: Parameter blocks as the authors' release groups its modules: ``context`` (Upsampling_Net: deconvolutions and
#: the 3×3 conv), ``bone`` (limbHeatmap_Net), ``depth`` (Serial_Net: context bottlenecks, bone–joint block, ASPP,
#: depth-centric block, joint/cube/ordinal outputs), ``final`` (Final_block: bottlenecks and the 1×1 conv to J·C),
#: ``lifting`` (the MLP of CoordinateNet) → this network's module-name prefixes.
BLOCKS = {
    "backbone": ("backbone.",),
    "context": ("context.", "context_conv."),
    "bone": ("bone_deconv.", "bone_out."),
    "depth": ("context_res.", "joint_reduce.", "joint_res.", "joint_out.", "aspp.", "dc_reduce.", "dc_res.",
              "cube_out.", "ordinal_out."),
    "final": ("final_res.", "head."),
    "lifting": ("lifting.",),
}


def block_parameters(net: CascadedLiftingNet) -> dict[str, int]:
    """Parameter count of each of :data:`BLOCKS` (0 where the variant lacks it) and ``total``."""
    counts = dict.fromkeys(BLOCKS, 0)
    for name, p in net.named_parameters():
        block = next((b for b, prefixes in BLOCKS.items() if name.startswith(prefixes)), None)
        if block is None:
            raise ValueError(f"parameter {name} belongs to none of the blocks {', '.join(BLOCKS)}")
        counts[block] += p.numel()
    counts["total"] = sum(counts.values())
    return counts
