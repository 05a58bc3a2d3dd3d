"""Convert the CC0 HDRI panoramas of npm's ``@pmndrs/assets`` (Poly Haven's, 512×256 equirectangular EXR, DWAB
compressed, each a base64 data URL in ``hdri/<name>.exr.js``) into the tone-mapped JPEGs in
``src/cdlpose/assets/panoramas/``: the real-photo backgrounds of the realistic style's domain randomisation.

    npm pack @pmndrs/assets@1.7.0 && tar xzf pmndrs-assets-1.7.0.tgz
    pip install OpenEXR pillow
    python scripts/convert_panoramas.py package/hdri src/cdlpose/assets/panoramas

Tone mapping: Reinhard's global operator with key 0.18 on the log-average luminance, L / (1 + L) applied to each
channel's ratio, then sRGB gamma (1 / 2.2). Refuses to replace a file that is already there.
"""

from __future__ import annotations

import base64
import io
import sys
import tempfile
from pathlib import Path

import numpy as np


def tone_map(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) linear radiance → (H, W, 3) uint8 sRGB-ish."""
    rgb = np.clip(np.nan_to_num(rgb.astype(np.float64), nan=0.0, posinf=65504.0), 0, 65504.0)
    lum = rgb @ np.array([0.2126, 0.7152, 0.0722])
    key = np.exp(np.mean(np.log(lum + 1e-6)))
    L = 0.18 / key * lum
    Ld = L / (1.0 + L)
    out = rgb * (Ld / np.maximum(lum, 1e-9))[..., None]
    return (np.clip(out, 0, 1) ** (1 / 2.2) * 255 + 0.5).astype(np.uint8)


def main(src: str, dst: str) -> None:
    import OpenEXR
    from PIL import Image

    out = Path(dst)
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(Path(src).glob("*.exr.js")):
        target = out / (f.name.split(".")[0] + ".jpg")
        if target.exists():
            raise SystemExit(f"{target}: already there; delete it first to convert again")
        data = base64.b64decode(f.read_text().split("base64,", 1)[1].rstrip("';\n "))
        with tempfile.NamedTemporaryFile(suffix=".exr") as tmp:
            tmp.write(data)
            tmp.flush()
            with OpenEXR.File(tmp.name) as e:
                rgb = e.channels()["RGB"].pixels
        buf = io.BytesIO()
        Image.fromarray(tone_map(rgb)).save(buf, "JPEG", quality=92)
        target.write_bytes(buf.getvalue())
        print(target, rgb.shape)


if __name__ == "__main__":
    main(*sys.argv[1:3])
