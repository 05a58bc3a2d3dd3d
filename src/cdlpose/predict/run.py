"""The run: every input predicted into the output folder, under the output-folder policy of
:mod:`cdlpose.outputs`: the folder is claimed for the whole run, nothing is replaced that cdlpose did not write for
the same input, every file goes through a new temporary file and is recorded, and the folder is marked complete
at the end."""

from __future__ import annotations

import json
import time

import cv2

from ..data.readers import load_image
from ..errors import InputError, OutputError
from ..inference import Predictor
from ..outputs import COMPLETE, OutputFolder
from .drawing import draw_overlay, figure_3d
from .files import (Names, RUN, conflicts, disk_full, earlier_predict_outputs, encode_image, input_key,
                    legacy_outputs, own_outputs, write_failed, write_output)
from .inputs import collect_inputs, frame_count, image_damage
from .options import COCO_IMAGE_IDS, COCO_RESULTS, MANIFEST, PredictOptions
from .people import predict_batch
from .records import (assign_image_ids, coco_entry, earlier_results, header, image_id_map, json_text, person_record,
                      read_image_id_map)
from .video import predict_video

__all__ = ["run_predict", "predict_images", "whole_image_note"]


def predict_images(pred, opts, items, names, bar, checkpoint, folder):
    """Images in batches of ``opts.batch_size``; unreadable ones are recorded in ``opts.errors``, outputs that could
    not be written in ``opts.write_errors`` (a full disk stops the run: :class:`OutputError`)."""
    done = []
    for start in range(0, len(items), opts.batch_size):
        chunk = items[start : start + opts.batch_size]
        imgs, paths = [], []
        for path in chunk:
            try:
                img = load_image(path)
                damage = image_damage(path)  # OpenCV decodes what there is of a truncated file, with a warning
                if damage:
                    raise InputError(damage)
                imgs.append(img)
                paths.append(path)
            except (OSError, ValueError) as e:
                opts.errors.append((str(path), str(e)))
                bar.update(1)
        if not imgs:
            continue
        try:
            people = predict_batch(pred, opts, paths, imgs, [str(p) for p in paths])
        except InputError:
            # a bad box in one image: fall back to one image at a time so that the others still get processed
            people = []
            for p, im in zip(paths, imgs):
                try:
                    people.append(predict_batch(pred, opts, [p], [im], [str(p)])[0])
                except InputError as e:
                    opts.errors.append((str(p), str(e)))
                    people.append(None)
        for path, img, ps in zip(paths, imgs, people):
            bar.update(1)
            if ps is None:
                continue
            name = names[path]
            data = header(pred, path, "image", img.shape[1::-1], checkpoint, opts.trained_on)
            data["people"] = [person_record(p) for p in ps]
            coco = [(str(path), None, coco_entry(r, pred.skeleton)) for r in data["people"]]
            try:
                text = json_text(data, path)
            except InputError as e:
                opts.errors.append((str(path), str(e)))
                continue
            target = None
            try:
                target = opts.out / f"{name}.json"
                write_output(folder, target.name, text.encode("utf-8"), path)
                overlay = draw_overlay(pred, img, ps, opts) if opts.images or opts.viewer else None
                if opts.images:
                    target = opts.out / f"{name}_2d.jpg"
                    write_output(folder, target.name, encode_image(target, overlay, [cv2.IMWRITE_JPEG_QUALITY, 90]),
                                 path)
                    target = opts.out / f"{name}_3d.png"
                    write_output(folder, target.name, encode_image(target, figure_3d(pred, ps)), path)
                if opts.viewer:
                    from ..viewer import viewer_html

                    target = opts.out / f"{name}.html"
                    write_output(folder, target.name, viewer_html(data, overlay).encode("utf-8"), path)
            except OSError as e:
                err = write_failed(target, e)
                opts.write_errors.append((str(target), str(err)))
                if disk_full(err):
                    raise err from None
                continue
            opts.coco += coco
            opts.coco_inputs[str(path)] = None
            done.append(name)
    return done


class _Counter:
    """Counts images and frames (a disabled tqdm does not) and forwards to the progress bar."""

    def __init__(self, bar):
        self.bar, self.n = bar, 0

    def update(self, k: int = 1) -> None:
        self.n += k
        self.bar.update(k)


def _owned(folder: OutputFolder, target) -> str | None:
    """The text of a combined file that an earlier cdlpose run wrote, as it wrote it (None: none, or unreadable)."""
    if not folder.ours(target.name, RUN):
        return None
    try:
        return target.read_text()
    except (OSError, UnicodeDecodeError):
        return None


def _write_coco(opts: PredictOptions, folder: OutputFolder) -> list[str]:
    """Write ``predictions.coco.json`` (COCO's keypoint results: a list, COCO-17 joints, integer image ids) and
    the map of its image ids, ``predictions.coco.image_ids.json``: this run's people, and an earlier run's for
    inputs this run did not process (an input processed again replaces its entries). The run holds the folder, so
    no other run merges at the same time. Returns notes (an earlier file in cdlpose's older format, rewritten;
    entries that could not be kept)."""
    target, id_file = opts.out / COCO_RESULTS, opts.out / COCO_IMAGE_IDS
    notes, keep, earlier_ids = [], [], None
    text = _owned(folder, id_file)
    if text is not None:
        earlier_ids = read_image_id_map(text)
    text = _owned(folder, target)
    if text is not None:
        keep, note = earlier_results(text, earlier_ids)
        if note:
            notes.append(note)
    done = opts.coco_inputs
    keep = [k for k in keep if k[0] not in done]
    if not opts.coco and not keep and not target.exists():
        return notes
    inputs = {}
    for name, v in (earlier_ids or {}).get("images", {}).items():
        inputs[name] = None
    for name, v in (earlier_ids or {}).get("videos", {}).items():
        if isinstance(v, dict) and isinstance(v.get("frames"), int):
            inputs[name] = v["frames"]
    for name, frame, _ in keep:  # also the inputs of an older file, which came without a map
        if name not in inputs:
            inputs[name] = None if frame is None else frame + 1
        elif frame is not None and (inputs[name] or 0) <= frame:
            inputs[name] = frame + 1
    inputs = {k: v for k, v in inputs.items() if k not in done}
    inputs.update(done)
    ids = assign_image_ids(inputs, opts.image_ids, earlier_ids)

    def image_id(name, frame):
        return ids["images"][name] if frame is None else ids["videos"][name]["first_image_id"] + frame

    results = [{"image_id": image_id(n, f), **e} for n, f, e in keep + opts.coco]
    text = json_text(results, target)
    id_text = json.dumps(image_id_map(ids, opts.image_ids), indent=1)
    write_output(folder, id_file.name, id_text.encode("utf-8"), RUN)
    write_output(folder, target.name, text.encode("utf-8"), RUN)
    return notes


def run_predict(pred: Predictor, inputs, opts: PredictOptions, checkpoint="") -> dict:
    """Predict every input (see :func:`collect_inputs`) into ``opts.out``. Returns ``{"outputs": [names],
    "errors": [(path, message)], "write_errors": [(path, message)], "notes": [text], "frames": n, "seconds": s}``:
    unreadable inputs are in ``errors`` and outputs that could not be written in ``write_errors``, not raised;
    ``notes`` report detections that matched no input and images the detections gave no box; ``whole_image``
    lists the inputs taken as one person covering the whole frame (no boxes given: :func:`whole_image_note` says
    so before the run).

    The output folder is claimed for the run (:class:`cdlpose.outputs.OutputFolder`: another run into it at the
    same time raises :class:`cdlpose.outputs.FolderBusy`). Raises :class:`InputError` (nothing written) when
    outputs would replace files that are not, on disk now, what cdlpose wrote there for the same input, and
    ``opts.overwrite`` is not set. The folder's complete marker is removed before the first write and written
    after the last (not when a write failed). Ctrl-C (:class:`KeyboardInterrupt`): the inputs finished so far
    stay written and recorded (the COCO results too), no temporary file is left, the folder is released and
    :class:`KeyboardInterrupt` is raised on, its message saying what was written."""
    items = collect_inputs(inputs, opts.cameras)
    if opts.out.exists() and not opts.out.is_dir():
        raise InputError(f"--out {opts.out} is a file, not a folder")
    folder = OutputFolder(opts.out, "predict")
    try:
        return _run(pred, inputs, items, opts, checkpoint, folder)
    finally:
        try:
            if folder.unsaved:
                folder.save()  # what was written is recorded, also on Ctrl-C or an error
        except OSError:
            pass  # a full disk: those files are not cdlpose's on the next run (refused, never wrongly replaced)
        finally:
            folder.release()


def _run(pred, inputs, items, opts, checkpoint, folder) -> dict:
    from tqdm import tqdm

    # an earlier run's outputs are not inputs: this folder's, and those in folders given as inputs
    written = own_outputs(folder) | earlier_predict_outputs(p for p, k in items if k != "camera")
    items = [(p, k) for p, k in items if input_key(p) not in written]
    if not items:
        raise InputError(f"no inputs left: every image in {', '.join(map(str, inputs))} is an output of an earlier "
                         "cdlpose predict run")
    # names are fixed before anything is written: images first, then videos, as they are processed
    unique = Names()
    names = {p: unique(p) for p, k in sorted(items, key=lambda pk: pk[1] != "image")}
    planned = [(p, k, names[p]) for p, k in items]
    if not opts.overwrite:
        clash = conflicts(folder, planned, opts)
        if clash:
            shown = ", ".join(str(c) for c in clash[:10]) + (f" and {len(clash) - 10} more" if len(clash) > 10 else "")
            older = legacy_outputs(folder.path) & {c.name for c in clash}
            why = (f" ({len(older)} of them listed in {MANIFEST}, the record of an earlier cdlpose version, which "
                   "is no longer trusted)") if older else ""
            raise InputError(f"--out {opts.out}: {len(clash)} file{'s' if len(clash) > 1 else ''} there would be "
                             f"replaced that cdlpose did not write for the same input: {shown}{why}; choose another "
                             "--out, or give --overwrite to replace them")
    folder.start()  # the folder is incomplete until the run's last write
    total = sum(1 if k == "image" else (opts.max_frames or 0) if k == "camera" else frame_count(p) for p, k in items)
    t0 = time.perf_counter()
    outputs = []
    interrupted = None
    with tqdm(total=total or None, unit="img", disable=not opts.progress, dynamic_ncols=True) as tq:
        bar = _Counter(tq)
        try:
            images = [p for p, k in items if k == "image"]
            if images:
                outputs += predict_images(pred, opts, images, names, bar, checkpoint, folder)
            for p, k in ((p, k) for p, k in items if k in ("video", "camera")):
                try:
                    outputs.append(predict_video(pred, opts, p, names, bar, checkpoint, folder, k))
                except InputError as e:
                    opts.errors.append((str(p), str(e)))
                except OSError as e:
                    err = write_failed(opts.out / f"{names[p]}.mp4", e)
                    opts.write_errors.append((str(p), str(err)))
                    if disk_full(err):
                        break
        except OutputError as e:  # a full disk: the remaining inputs would fail the same way
            if not any(str(e) == m for _, m in opts.write_errors):
                opts.write_errors.append((str(opts.out), str(e)))
        except KeyboardInterrupt as e:  # what was finished stays: its COCO entries are merged below
            interrupted = e
        frames = bar.n
    if interrupted is not None:
        done = len(opts.coco_inputs)
        try:
            _write_coco(opts, folder)
        except OSError:
            pass
        raise KeyboardInterrupt(f"{done} of {len(items)} inputs were written to {opts.out} (their outputs are "
                                "complete and recorded; the others have none, and the folder is not marked "
                                "complete); run the same command again to predict them all") from None
    notes = []
    try:
        notes += _write_coco(opts, folder)
    except OSError as e:
        err = write_failed(opts.out / COCO_RESULTS, e)
        opts.write_errors.append((str(opts.out / COCO_RESULTS), str(err)))
    if opts.detections is not None:
        src = getattr(opts.detections, "source", "the detections")
        no_box = list(dict.fromkeys(opts.no_box))  # an image retried alone after a bad box is listed once
        if no_box:
            shown = ", ".join(no_box[:10]) + (" …" if len(no_box) > 10 else "")
            notes.append(f"{len(no_box)} image(s) got no person box from {src}: {shown}")
        unmatched = opts.detections.unmatched() if hasattr(opts.detections, "unmatched") else []
        if unmatched:
            shown = ", ".join(unmatched[:10]) + (" …" if len(unmatched) > 10 else "")
            notes.append(f"{len(unmatched)} image(s) of {src} match no input: {shown} (COCO ids match file names "
                         "like 000000000785.jpg; --image-list maps other names)")
    seconds = time.perf_counter() - t0
    if not opts.write_errors:  # every output this run meant to write is there
        try:
            folder.finish({"inputs": len(outputs), "skipped": len(opts.errors)})
        except OSError as e:
            opts.write_errors.append((str(opts.out / COMPLETE), str(write_failed(opts.out / COMPLETE, e))))
    return {"outputs": outputs, "errors": list(opts.errors), "write_errors": list(opts.write_errors),
            "notes": notes, "frames": frames, "seconds": seconds, "whole_image": list(dict.fromkeys(opts.whole_image))}


def whole_image_note(opts: PredictOptions) -> str | None:
    """What a run without person boxes does, said before it starts (``None``: boxes come from ``--box``,
    ``--detections`` or a detector)."""
    if opts.boxes or opts.detections is not None or opts.detector is not None:
        return None
    return ("no person boxes: each image (and video frame) is taken as one person covering the whole frame, which "
            "suits crops of one person; for photos of people give --box X Y W H, --detections FILE (COCO format) "
            "or --detector")
