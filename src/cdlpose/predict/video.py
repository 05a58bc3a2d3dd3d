"""Videos and cameras: frames read in batches, each with its time from the container's timestamps, tracked,
optionally smoothed, written as an H.264 MP4 beside the JSON and the viewer."""

from __future__ import annotations

import errno
import math
import os
import stat
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..checkpoint import _umask
from ..errors import InputError, OutputError
from ..smoothing import OneEuroFilter
from ..vis import render_3d_view
from .drawing import draw_overlay, show
from .files import input_key, write_failed, write_output
from .options import PredictOptions
from .people import predict_batch
from .records import coco_entry, header, json_text, person_record
from .tracking import Tracker

__all__ = ["H264Writer", "predict_video", "open_source", "FrameClock", "listed_frames"]


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


class FrameClock:
    """Each frame's time in seconds. A video file: the container's timestamp of the frame just read (OpenCV's
    ``CAP_PROP_POS_MSEC``), so that a variable-frame-rate video gets its true times, not index / average rate; a
    camera: its timestamps from its first frame. Where the source gives no time that rises (a broken file, a
    camera without timestamps), a file's frame follows the previous one by 1 / ``fps`` and a camera's frame gets
    the time it was read."""

    def __init__(self, cap, fps: float, live: bool):
        self.cap, self.fps, self.live = cap, fps, live
        self.prev = None
        self.first_ms = None
        self.started = None

    def __call__(self) -> float:
        try:
            ms = float(self.cap.get(cv2.CAP_PROP_POS_MSEC))
        except Exception:
            ms = math.nan
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if self.live and self.first_ms is None and math.isfinite(ms):
            self.first_ms = ms
        t = (ms - (self.first_ms if self.live else 0.0)) / 1000.0
        if not (math.isfinite(t) and t >= 0 and (self.prev is None or t > self.prev)):
            if self.live:
                t = now - self.started if self.prev is None or now - self.started > self.prev else self.prev + 1e-3
            else:
                t = 0.0 if self.prev is None else self.prev + 1.0 / self.fps
        self.prev = t
        return t


def listed_frames(path: Path, cap) -> int | None:
    """The frames a video's container says it holds, or ``None`` where it lists none (Matroska, WebM: OpenCV's
    count there is duration × average rate, wrong for a variable rate)."""
    try:
        import av

        with av.open(str(path)) as c:
            if c.streams.video and c.streams.video[0].frames <= 0:
                return None
    except Exception:
        pass  # PyAV cannot tell: OpenCV's count stands
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    return n if n > 0 else None


def _container_duration(path: Path) -> float | None:
    try:
        import av

        with av.open(str(path)) as c:
            return c.duration / 1e6 if c.duration else None
    except Exception:
        return None


def _new_temporary(out: Path, final: str) -> tuple[Path, int]:
    """A new, empty temporary file for ``final`` in ``out`` under an unpredictable name (``mkstemp``: ``O_EXCL``,
    no link followed), and its inode; FFmpeg then opens that path and writes into the file made here."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{Path(final).stem}.", suffix=".tmp" + Path(final).suffix, dir=out)
    except OSError as e:
        raise write_failed(out / final, e) from None
    try:
        ino = os.fstat(fd).st_ino
    finally:
        os.close(fd)
    return Path(tmp), ino


def _discard(tmp: Path | None) -> None:
    if tmp is not None:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def predict_video(pred, opts, path, names, bar, checkpoint, folder, kind="video"):
    """One video or camera; an unreadable or truncated video raises :class:`InputError` (nothing is written for
    it), a failed write :class:`OutputError`. A camera is read until it ends, ``opts.max_frames`` or Ctrl-C.
    ``folder``: the run's :class:`cdlpose.outputs.OutputFolder` (the MP4 is written into a new temporary file
    there, renamed into place and recorded; the JSON and the viewer are written through it)."""
    cap = open_source(opts, path, kind)
    live = kind == "camera"
    listed = None if live else listed_frames(path, cap)  # what the container says it holds
    fps = cap.get(cv2.CAP_PROP_FPS) or (30.0 if live else 25.0)
    fps = fps if 1.0 <= fps <= 1000.0 else 25.0
    W, H = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    name = names[path]
    mp4 = opts.out / f"{name}.mp4"
    tmp_mp4, tmp_ino = None, None
    clock = FrameClock(cap, fps, live)
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
            batch, ids, times = [], [], []
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
                    times.append(clock())
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
            for fid, t_s, img, ps in zip(ids, times, batch, people):
                tracks = tracker.update([p["box"] for p in ps])
                for t in list(filters):
                    if t not in tracker.tracks:
                        del filters[t]
                many = many or len(ps) > 1 or any(t > 0 for t in tracks)
                recs, shown = [], []  # shown: the 3D poses drawn (smoothed when asked for)
                for p, t in zip(ps, tracks):
                    sm = None
                    if opts.smooth:
                        # the true time since the track's last sample (a variable rate, a missed frame)
                        sm = filters.setdefault(t, OneEuroFilter(fps, opts.min_cutoff, opts.beta))(
                            p["keypoints_3d"], t=t_s)
                    pose = p["keypoints_3d"] if sm is None else sm
                    if many:  # placed at the estimated root, so that people stand apart
                        pose = pose + (p["keypoints_3d_camera_estimate"] - p["keypoints_3d"])
                    shown.append(pose)
                    recs.append({**person_record(p, sm), "track": t})
                coco += [(str(path), fid, coco_entry(r, pred.skeleton)) for r in recs]
                frames_out.append({"frame": fid, "time_s": round(t_s, 4), "people": recs})
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
                            tmp_mp4, tmp_ino = _new_temporary(opts.out, mp4.name)
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
        _discard(tmp_mp4)
        raise
    finally:
        cap.release()
    if not frames_out:
        _discard(tmp_mp4)
        raise InputError(f"cannot read any frame of {'camera' if live else 'video'} {path}")
    if listed is not None and index < listed:
        _discard(tmp_mp4)
        raise InputError(f"video {path} is truncated or damaged: {index} of the {listed} frames its container lists "
                         "could be decoded")
    if not live and listed is None and opts.max_frames is None:
        # no frame count in the container: the last frame must come near its end (one second, or three frames)
        duration = _container_duration(path)
        if duration is not None and clock.prev + max(1.0, 3.0 / fps) < duration:
            _discard(tmp_mp4)
            raise InputError(f"video {path} is truncated or damaged: its frames end at {clock.prev:.2f} s of the "
                             f"{duration:.2f} s its container lists")
    data["frames"] = frames_out
    if writer is not None:
        data["video"] = {"file": mp4.name, "overlay_width": int(W), "width": int(W + H), "height": int(H)}
    try:
        text = json_text(data, path)
    except InputError:
        _discard(tmp_mp4)
        raise
    target = mp4
    try:
        if writer is not None:
            st = os.lstat(tmp_mp4)
            if not stat.S_ISREG(st.st_mode) or st.st_ino != tmp_ino:
                raise OutputError(f"cannot write {mp4}: its temporary file {tmp_mp4} was replaced while FFmpeg "
                                  "wrote it")
            os.chmod(tmp_mp4, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
            st = os.lstat(tmp_mp4)
            os.replace(tmp_mp4, mp4)
            tmp_mp4 = None
            folder.record(mp4.name, input_key(path), st=st, save=False)
        target = opts.out / f"{name}.json"
        write_output(folder, target.name, text.encode("utf-8"), path)
        if opts.viewer:
            from ..viewer import viewer_html

            target = opts.out / f"{name}.html"
            write_output(folder, target.name, viewer_html(data).encode("utf-8"), path)
    except BaseException as e:
        _discard(tmp_mp4)
        if isinstance(e, OSError):
            raise write_failed(target, e) from None
        raise
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
