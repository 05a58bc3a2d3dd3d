"""Videos and cameras: frames read in batches, tracked, optionally smoothed, written as an H.264 MP4 beside the
JSON and the viewer."""

from __future__ import annotations

import errno
import os
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..checkpoint import write_text_atomic
from ..errors import InputError, OutputError
from ..smoothing import OneEuroFilter
from ..vis import render_3d_view
from .drawing import draw_overlay, show
from .files import write_failed
from .options import PredictOptions
from .people import predict_batch
from .records import coco_entry, header, json_text, person_record
from .tracking import Tracker

__all__ = ["H264Writer", "predict_video", "open_source"]


class H264Writer:
    """An MP4 with H.264 video in yuv420p (what browsers, notebooks and chat previews play) through PyAV, FFmpeg's
    maintained Python binding. Odd frame sizes are padded by a pixel (yuv420p needs even ones)."""

    def __init__(self, path: Path, fps: float, width: int, height: int):
        import av

        self.path, self.frames = path, 0
        self.container = av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"})
        codec = "libx264" if "libx264" in av.codecs_available else "h264"
        self.stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self.stream.width, self.stream.height = width + width % 2, height + height % 2
        self.stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            self.stream.options = {"crf": "20", "preset": "veryfast"}
        self._av = av

    def write(self, rgb: np.ndarray) -> None:
        H, W = self.stream.height, self.stream.width
        if rgb.shape[:2] != (H, W):
            rgb = np.pad(rgb, ((0, H - rgb.shape[0]), (0, W - rgb.shape[1]), (0, 0)), mode="edge")
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self.container is None:
            return
        try:
            for packet in self.stream.encode():  # flush the encoder's delayed frames
                self.container.mux(packet)
        finally:
            c, self.container = self.container, None
            c.close()


def _ffmpeg_error(target: Path, e: Exception) -> OSError:
    """PyAV's errors as :class:`OutputError` (a full disk keeps its errno)."""
    if isinstance(e, OutputError):
        return e
    code = getattr(e, "errno", None)
    if code is not None and code < 0:
        code = -code
    return OutputError(code, f"cannot write {target}: FFmpeg: {e}")


def open_source(opts: PredictOptions, path: Path, kind: str):
    """A cv2.VideoCapture-like object for a video file or a camera (``camera<N>``)."""
    if kind == "camera":
        index = int(path.name[len("camera"):])
        cap = (opts.capture or cv2.VideoCapture)(index)
        if not cap.isOpened():
            raise InputError(f"--camera {index}: cannot open camera {index} (no such device, or it is in use)")
        return cap
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"cannot open video {path} (not a video, or a codec OpenCV lacks)")
    return cap


def predict_video(pred, opts, path, names, bar, checkpoint, manifest, kind="video"):
    """One video or camera; an unreadable or truncated video raises :class:`InputError` (nothing is written for
    it), a failed write :class:`OutputError`. A camera is read until it ends, ``opts.max_frames`` or Ctrl-C."""
    cap = open_source(opts, path, kind)
    live = kind == "camera"
    listed = 0 if live else int(cap.get(cv2.CAP_PROP_FRAME_COUNT))  # what the container says it holds
    fps = cap.get(cv2.CAP_PROP_FPS) or (30.0 if live else 25.0)
    fps = fps if 1.0 <= fps <= 1000.0 else 25.0
    W, H = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    name = names[path]
    mp4 = opts.out / f"{name}.mp4"
    tmp_mp4 = opts.out / f".{name}.tmp.mp4"
    data = header(pred, path, kind, (W, H), checkpoint, opts.trained_on)
    data["fps"] = fps
    data["smoothing"] = ({"filter": "one-euro", "min_cutoff_hz": opts.min_cutoff, "beta": opts.beta}
                         if opts.smooth else None)
    data["tracking"] = {"method": "greedy IoU over live tracks", "min_iou": 0.3, "max_missed_frames": opts.max_missed}
    frames_out, coco = [], []
    writer = None
    filters: dict[int, OneEuroFilter] = {}
    tracker = Tracker(max_missed=opts.max_missed)
    many = False  # several people seen: each gets a colour of their own
    extent = 1100.0  # half the 3D panel's width, mm; grows (never shrinks) when a pose does not fit
    index = 0
    stopped = False
    try:
        while not stopped:
            batch, ids = [], []
            size = 1 if live else opts.batch_size  # a camera: one frame at a time, shown as it comes
            try:
                while len(batch) < size:
                    if opts.max_frames is not None and index >= opts.max_frames:
                        stopped = True
                        break
                    ok, frame = cap.read()
                    if not ok:
                        stopped = live
                        break
                    batch.append(np.ascontiguousarray(frame[..., ::-1]))
                    ids.append(index)
                    index += 1
            except KeyboardInterrupt:  # Ctrl-C ends a camera's recording; what was read is written
                if not live:
                    raise
                stopped = True
            if not batch:
                break
            if live and W <= 0:
                H, W = batch[0].shape[:2]
                data["image_size"] = [W, H]
            people = predict_batch(pred, opts, [path] * len(batch), batch, [f"{path} frame {i}" for i in ids],
                                    frames=ids)
            for fid, img, ps in zip(ids, batch, people):
                tracks = tracker.update([p["box"] for p in ps])
                for t in list(filters):
                    if t not in tracker.tracks:
                        del filters[t]
                many = many or len(ps) > 1 or any(t > 0 for t in tracks)
                recs, shown = [], []  # shown: the 3D poses drawn (smoothed when asked for)
                for p, t in zip(ps, tracks):
                    sm = None
                    if opts.smooth:
                        sm = filters.setdefault(t, OneEuroFilter(fps, opts.min_cutoff, opts.beta))(p["keypoints_3d"])
                    pose = p["keypoints_3d"] if sm is None else sm
                    if many:  # placed at the estimated root, so that people stand apart
                        pose = pose + (p["keypoints_3d_camera_estimate"] - p["keypoints_3d"])
                    shown.append(pose)
                    recs.append({**person_record(p, sm), "track": t})
                coco += [(str(path), fid, coco_entry(r, pred.skeleton)) for r in recs]
                frames_out.append({"frame": fid, "time_s": round(fid / fps, 4), "people": recs})
                if opts.images or opts.show:
                    persons = tracks if many else None
                    left = draw_overlay(pred, img, ps, opts, persons)
                    h = img.shape[0]
                    if shown:
                        allp = np.concatenate(shown)
                        c = (allp.max(0) + allp.min(0)) / 2
                        extent = max(extent, float(np.linalg.norm(allp - c, axis=1).max()) * 1.08)
                    right = render_3d_view(shown, pred.skeleton, min(h, 480), extent=extent, persons=persons)
                    if right.shape[0] != h:
                        right = cv2.resize(right, (h, h), interpolation=cv2.INTER_LINEAR)
                    both = np.concatenate([left, right], 1)
                    if opts.show:
                        show(both, path)
                    if opts.images:
                        if writer is None:
                            try:
                                writer = H264Writer(tmp_mp4, fps, both.shape[1], both.shape[0])
                            except Exception as e:
                                raise _ffmpeg_error(mp4, e) from None
                        try:
                            writer.write(both)
                        except Exception as e:
                            raise _ffmpeg_error(mp4, e) from None
                bar.update(1)
        if writer is not None:
            try:
                writer.close()
            except Exception as e:
                raise _ffmpeg_error(mp4, e) from None
            _check_video_written(tmp_mp4, mp4, len(frames_out))
    except BaseException:
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass
        tmp_mp4.unlink(missing_ok=True)
        raise
    finally:
        cap.release()
    if not frames_out:
        raise InputError(f"cannot read any frame of {'camera' if live else 'video'} {path}")
    if listed > 0 and index < listed:
        tmp_mp4.unlink(missing_ok=True)
        raise InputError(f"video {path} is truncated or damaged: {index} of the {listed} frames its container lists "
                         "could be decoded")
    data["frames"] = frames_out
    if writer is not None:
        data["video"] = {"file": mp4.name, "overlay_width": int(W), "width": int(W + H), "height": int(H)}
    try:
        text = json_text(data, path)
    except InputError:
        tmp_mp4.unlink(missing_ok=True)
        raise
    target = mp4
    try:
        if writer is not None:
            manifest.record(mp4, path)
            os.replace(tmp_mp4, mp4)
        target = opts.out / f"{name}.json"
        manifest.record(target, path)
        write_text_atomic(target, text)
        if opts.viewer:
            from ..viewer import write_viewer

            target = opts.out / f"{name}.html"
            manifest.record(target, path)
            write_viewer(target, data)
    except OSError as e:
        tmp_mp4.unlink(missing_ok=True)
        raise write_failed(target, e) from None
    opts.coco += coco
    opts.coco_inputs[str(path)] = len(frames_out)  # frame f's COCO image_id: the video's first id + f
    return name


def _check_video_written(tmp: Path, final: Path, frames: int) -> None:
    """Read the written file back with FFmpeg and count its frames: a short file (a failed write) is reported."""
    import av

    try:
        with av.open(str(tmp)) as c:
            n = sum(1 for _ in c.decode(video=0))
    except Exception:  # unreadable: as good as no frame written
        n = 0
    if n != frames:
        import shutil

        try:
            full = shutil.disk_usage(tmp.parent).free < (1 << 20)
        except OSError:
            full = False
        if full:
            raise OutputError(errno.ENOSPC, f"cannot write {final}: no space left on device")
        raise OutputError(f"cannot write {final}: FFmpeg wrote {n} of {frames} frames")
