"""A self-contained HTML viewer for predictions: one file, no network access, no libraries.

The page embeds the prediction JSON (and, for an image, the image itself as a JPEG data URL) and draws the 3D
skeletons on a canvas with its own small projection code: drag to rotate, wheel (or +/−) to zoom, a slider and a
play button to scrub through a video's frames, a switch between root-relative poses and the estimated
camera-space placement of several people (smoothed joints in both). Frames are numbered as in the JSON (from 0).
For a video whose MP4 was written next to the page, the page shows the video's frame (the 2D overlay half)
beside the 3D view, in step with the slider and the play button. When several people appear, each gets a colour of
their own (by track in videos; right limbs darker). The initial view can be set in the URL:
``#frame=3&azim=40&elev=20&zoom=1.5``.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import cv2
import numpy as np

__all__ = ["viewer_html", "write_viewer"]

_PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>cdlpose · __TITLE__</title>
<style>
body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f4;color:#222}
header{padding:8px 14px;background:#263238;color:#fff;font-size:14px}
main{display:flex;flex-wrap:wrap;gap:12px;padding:12px}
canvas{background:#fafafa;border:1px solid #ccc;cursor:grab;touch-action:none}
#side{max-width:520px}
#side img{max-width:100%;border:1px solid #ccc}
#vidbox{overflow:hidden;border:1px solid #ccc;background:#000}
#vidbox video{display:block}
.controls{margin:8px 0;font-size:13px}
.controls input[type=range]{width:300px;vertical-align:middle}
#status{font-size:12px;color:#555;margin-top:6px}
.legend span{display:inline-block;margin-right:10px;font-size:12px}
</style></head><body>
<header>cdlpose · __TITLE__</header>
<main>
<div><canvas id="view" width="640" height="560"></canvas>
<div class="controls" id="framebar"><button id="play">▶</button>
<input id="frame" type="range" min="0" max="0" value="0"> <span id="frameinfo"></span></div>
<div class="controls"><label><input type="checkbox" id="placed"> place people at their estimated depth
(RootNet k-value estimate)</label> · <button id="reset">reset view</button></div>
<div class="legend"><span style="color:rgb(70,130,255)">■ left</span><span style="color:rgb(255,140,40)">■ right</span>
<span style="color:rgb(60,200,60)">■ centre</span> · drag: rotate · wheel or +/−: zoom</div>
<div id="status">loading…</div></div>
<div id="side">__IMAGE__<pre id="meta" style="font-size:11px;white-space:pre-wrap"></pre></div>
</main>
<script id="data" type="application/json">__DATA__</script>
<script>
(function(){
"use strict";
const D = JSON.parse(document.getElementById("data").textContent);
const frames = D.frames ? D.frames : [{frame: 0, people: D.people}];
const names = D.joint_names, bones = D.bones;
const PERSON = [[230,25,75],[0,130,200],[60,180,75],[245,130,48],[145,30,180],[70,200,200],[240,50,230],[128,128,0],[0,128,128],[170,110,40]];
const colour = (j, who) => {
  if (who === null) return names[j].startsWith("L_") ? "rgb(70,130,255)" : names[j].startsWith("R_") ? "rgb(255,140,40)" : "rgb(60,200,60)";
  const c = PERSON[who % PERSON.length], s = names[j].startsWith("R_") ? 0.55 : 1;
  return `rgb(${c.map(v => Math.floor(v * s)).join(",")})`;
};
const cv = document.getElementById("view"), ctx = cv.getContext("2d");
const slider = document.getElementById("frame"), info = document.getElementById("frameinfo");
const placed = document.getElementById("placed"), status = document.getElementById("status");
const st = {frame: 0, azim: -30, elev: 15, zoom: 1, playing: false};
const defaults = Object.assign({}, st);
for (const kv of location.hash.slice(1).split("&")) {
  const [k, v] = kv.split("="); if (k in st && v !== undefined && isFinite(+v)) st[k] = +v;
}
slider.max = frames.length - 1;
if (frames.length < 2) document.getElementById("framebar").style.display = "none";
const anyMany = frames.some(f => f.people.length > 1 || f.people.some(p => (p.track || 0) > 0));
placed.checked = anyMany;
const personOf = (p, k) => anyMany ? (p.track !== undefined ? p.track : k) : null;
function posesOf(f) {  // smoothed joints when there are; placed: moved to the estimated root position
  return f.people.map(p => {
    const pose = p.keypoints_3d_smoothed || p.keypoints_3d;
    if (!placed.checked) return pose;
    return pose.map((q, j) => q.map((v, i) => v + p.keypoints_3d_camera_estimate[j][i] - p.keypoints_3d[j][i]));
  });
}
const fpsV = D.fps || 25;
let vid = null;
if (D.video && D.video.file) {  // the MP4 written next to this page: its left part is the 2D overlay
  const box = document.createElement("div"), h = 360, sc = h / D.video.height;
  box.id = "vidbox"; box.style.width = Math.round(D.video.overlay_width * sc) + "px"; box.style.height = h + "px";
  vid = document.createElement("video"); vid.id = "vid"; vid.src = encodeURIComponent(D.video.file);
  vid.muted = true; vid.playsInline = true; vid.preload = "auto"; vid.width = Math.round(D.video.width * sc);
  box.appendChild(vid); document.getElementById("side").prepend(box);
}
const lastFrame = frames.length ? frames[frames.length - 1].frame : 0;
// one scale for the whole sequence so that scrubbing does not rescale
function extentOf() {
  let lo = [1e9, 1e9, 1e9], hi = [-1e9, -1e9, -1e9];
  for (const f of frames) for (const P of posesOf(f)) for (const q of P)
    for (let i = 0; i < 3; i++) { lo[i] = Math.min(lo[i], q[i]); hi[i] = Math.max(hi[i], q[i]); }
  const c = lo.map((v, i) => (v + hi[i]) / 2);
  const r = Math.max(300, ...hi.map((v, i) => (v - lo[i]) / 2));
  return {c, r: r * 1.2};
}
let E = extentOf();
function draw() {
  st.frame = Math.max(0, Math.min(frames.length - 1, Math.round(st.frame)));
  slider.value = st.frame;
  const f = frames[st.frame], P = posesOf(f);
  const a = st.azim * Math.PI / 180, e = st.elev * Math.PI / 180;
  const ca = Math.cos(a), sa = Math.sin(a), ce = Math.cos(e), se = Math.sin(e);
  const s = Math.min(cv.width, cv.height) / (2 * E.r) * st.zoom;
  const proj = q => {  // camera axes: x right, y down, z forward; turn about y, then tilt about x
    const x = q[0] - E.c[0], y = q[1] - E.c[1], z = q[2] - E.c[2];
    const x1 = ca * x + sa * z, z1 = -sa * x + ca * z;
    const y2 = ce * y - se * z1, z2 = se * y + ce * z1;
    return [cv.width / 2 + s * x1, cv.height / 2 + s * y2, z2];
  };
  ctx.clearRect(0, 0, cv.width, cv.height);
  // floor grid under the lowest joint
  let floor = -1e9; for (const p of P) for (const q of p) floor = Math.max(floor, q[1]);
  if (P.length) {
    ctx.strokeStyle = "#ddd"; ctx.lineWidth = 1;
    for (let t = -2; t <= 2; t++) for (const [p0, p1] of [[[t*500,0,-1000],[t*500,0,1000]], [[-1000,0,t*500],[1000,0,t*500]]]) {
      const A = proj([p0[0] + E.c[0], floor, p0[2] + E.c[2]]), B = proj([p1[0] + E.c[0], floor, p1[2] + E.c[2]]);
      ctx.beginPath(); ctx.moveTo(A[0], A[1]); ctx.lineTo(B[0], B[1]); ctx.stroke();
    }
  }
  const segs = [];
  P.forEach((pose, k) => {
    const q = pose.map(proj);
    const who = personOf(f.people[k], k);
    for (const [p, c] of bones) segs.push({d: (q[p][2] + q[c][2]) / 2, a: q[p], b: q[c], col: colour(c, who)});
    if (P.length > 1) { let top = q[0]; for (const v of q) if (v[1] < top[1]) top = v;
      ctx.fillStyle = "#333"; ctx.font = "12px sans-serif"; ctx.fillText(String(who !== null ? who : k), top[0] + 5, top[1] - 6); }
  });
  segs.sort((u, v) => v.d - u.d);
  ctx.lineCap = "round"; ctx.lineWidth = Math.max(2, 4 * st.zoom);
  for (const g of segs) { ctx.strokeStyle = g.col; ctx.beginPath(); ctx.moveTo(g.a[0], g.a[1]); ctx.lineTo(g.b[0], g.b[1]); ctx.stroke(); }
  const where = frames.length > 1 ? `frame ${f.frame} of 0–${lastFrame}` : "";
  info.textContent = where + (f.time_s !== undefined ? ` · ${f.time_s.toFixed(2)} s` : "");
  if (vid && !st.playing && vid.readyState >= 1 && Math.abs(vid.currentTime * fpsV - (f.frame + 0.5)) > 0.5)
    vid.currentTime = (f.frame + 0.5) / fpsV;
  status.textContent = (where ? where + " · " : "") + `${f.people.length} ${f.people.length === 1 ? "person" : "people"} · azimuth ${st.azim.toFixed(0)}° elevation ${st.elev.toFixed(0)}° zoom ${st.zoom.toFixed(2)}` + (placed.checked ? " · placed at estimated depth" : "");
  document.getElementById("meta").textContent = f.people.map((p, k) => `person ${p.track !== undefined ? p.track : k}: box [${p.box.join(", ")}], score ${p.score}, mean confidence ${(p.confidence.reduce((x, y) => x + y, 0) / p.confidence.length).toFixed(2)}, root depth estimate ${p.root_depth_mm_estimate} mm`).join("\n");
  document.body.dataset.rendered = String(segs.length);
}
let drag = null;
cv.addEventListener("pointerdown", ev => { drag = [ev.clientX, ev.clientY, st.azim, st.elev]; cv.setPointerCapture(ev.pointerId); });
cv.addEventListener("pointermove", ev => { if (!drag) return; st.azim = drag[2] + (ev.clientX - drag[0]) * 0.5;
  st.elev = Math.max(-89, Math.min(89, drag[3] + (ev.clientY - drag[1]) * 0.5)); draw(); });
cv.addEventListener("pointerup", () => { drag = null; });
cv.addEventListener("wheel", ev => { ev.preventDefault(); st.zoom *= Math.exp(-ev.deltaY * 0.001); draw(); }, {passive: false});
document.addEventListener("keydown", ev => { if (ev.key === "+") st.zoom *= 1.1; else if (ev.key === "-") st.zoom /= 1.1;
  else if (ev.key === "ArrowRight") st.frame++; else if (ev.key === "ArrowLeft") st.frame--; else return; draw(); });
slider.addEventListener("input", () => { st.frame = +slider.value; draw(); });
placed.addEventListener("change", () => { E = extentOf(); draw(); });
document.getElementById("reset").addEventListener("click", () => { Object.assign(st, defaults, {frame: st.frame}); draw(); });
const byFrame = new Map(frames.map((f, i) => [f.frame, i]));
document.getElementById("play").addEventListener("click", ev => {
  st.playing = !st.playing; ev.target.textContent = st.playing ? "❚❚" : "▶";
  if (vid) {  // the video drives the 3D view
    if (!st.playing) { vid.pause(); draw(); return; }
    if (st.frame >= frames.length - 1) { st.frame = 0; vid.currentTime = 0; }
    vid.play().catch(() => {});
    const follow = () => { if (!st.playing) return;
      const i = byFrame.get(Math.floor(vid.currentTime * fpsV));
      if (i !== undefined && i !== st.frame) { st.frame = i; draw(); }
      if (vid.ended) { st.playing = false; ev.target.textContent = "▶"; return; }
      requestAnimationFrame(follow); };
    requestAnimationFrame(follow);
    return;
  }
  const tick = () => { if (!st.playing) return; st.frame = (st.frame + 1) % frames.length; draw(); setTimeout(tick, 1000 / fpsV); };
  tick();
});
if (vid) vid.addEventListener("loadedmetadata", () => { if (!st.playing) draw(); });
draw();
})();
</script></body></html>
"""


def _image_tag(img: np.ndarray | None, max_side: int = 480) -> str:
    if img is None:
        return ""
    s = max_side / max(img.shape[:2])
    if s < 1:
        img = cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(img[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 85])
    return f'<img alt="input with 2D skeletons" src="data:image/jpeg;base64,{base64.b64encode(buf.tobytes()).decode()}">'


def viewer_html(data: dict, image: np.ndarray | None = None) -> str:
    """The viewer page for one prediction record (the JSON that ``cdlpose predict`` writes); ``image``: an RGB
    picture shown beside the 3D view (``cdlpose predict`` passes the input with its 2D skeletons drawn)."""
    payload = json.dumps(data).replace("</", "<\\/")  # keep "</script>" out of the embedded JSON
    title = html.escape(Path(str(data.get("input", "prediction"))).name)
    return _PAGE.replace("__TITLE__", title).replace("__IMAGE__", _image_tag(image)).replace("__DATA__", payload)


def write_viewer(path: str | Path, data: dict, image: np.ndarray | None = None) -> Path:
    from .checkpoint import write_text_atomic

    return write_text_atomic(path, viewer_html(data, image))
