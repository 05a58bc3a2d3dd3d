"""What a training run writes, and how it ends: its folder under cdlpose's output-folder policy (claimed for the
run, nothing replaced that cdlpose did not write, judged by the folder's ledger; :func:`claim_run_folder`), JSON
lines (``log.jsonl`` per step, ``epochs.jsonl`` per epoch), TensorBoard events where TensorBoard is installed, the
config changes of a resumed run (``config-changes.jsonl``), what each checkpoint records it was trained on, the
line printed after each epoch, and Ctrl-C (stop after the step in progress; the command that continues the run).
Rank 0 writes."""

from __future__ import annotations

import datetime
import json
import os
import shlex
import signal
import threading
from pathlib import Path

from .checkpoint import _output_error, describe_os_error, write_text_atomic
from .data.datasets import RENDERED_FORMATS
from .errors import ConfigError, OutputError
from .outputs import OutputFolder

__all__ = ["TrainLog", "epoch_line", "say_once", "TENSORBOARD_ABSENT", "RUN_FILES", "RUN_NAMES", "CONFIG_CHANGES",
           "claim_run_folder", "claim_report_folder", "run_folder_contents", "remove_run_file", "config_changes",
           "record_config_changes", "resume_command", "how_to_resume", "StopOnCtrlC", "worker_init_quiet",
           "TrainingInterrupted", "training_data"]

TENSORBOARD_ABSENT = ("TensorBoard is not installed: logging to log.jsonl and epochs.jsonl only (pip install -e "
                      "\".[tb]\" adds it; then tensorboard --logdir runs/)")
_said: set[str] = set()

#: What a run writes into ``train.out_dir``: a folder holding any of these holds an earlier run.
RUN_FILES = ("last.pt", "best.pt", "log.jsonl", "epochs.jsonl")
#: Where a resumed run records the config keys it changed (one JSON line per resume that changed any).
CONFIG_CHANGES = "config-changes.jsonl"
#: Every file a run writes into ``train.out_dir`` (besides TensorBoard's event files in ``tensorboard/``).
RUN_NAMES = ("config.yaml", *RUN_FILES, CONFIG_CHANGES)
_TB_EVENTS = "events.out.tfevents."


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :meth:`cdlpose.engine.Trainer.fit`. ``checkpoint``: the run's ``last.pt`` to resume from
    (``None`` when none was saved), ``step``: the step it holds, ``saved``: whether it was saved at the interruption
    (the first Ctrl-C lets the step in progress finish and saves; a second one stops at once, leaving the last
    checkpoint saved before)."""

    def __init__(self, checkpoint: Path | None, step: int | None, saved: bool) -> None:
        self.checkpoint, self.step, self.saved = checkpoint, step, saved
        where = f"{checkpoint} holds step {step}" if checkpoint is not None else "no checkpoint was saved"
        super().__init__(f"training stopped; {where}")


#: The style a rendered entry draws when its ``style`` is not given (cdlpose.data.datasets' defaults).
_DEFAULT_STYLE = {"synthetic": "full", "rendered-poses": "plain"}


def training_data(cfg, inherited=None, init_from=None) -> list[dict]:
    """What a checkpoint of ``cfg`` was trained on, as every checkpoint records it (``trained_on``): per
    ``data.datasets`` entry with role ``train`` its ``format``, for rendered formats (``synthetic``,
    ``rendered-poses``) its ``style`` (``plain``, ``full``, ``realistic``), and its ``subjects`` where given; no
    paths. ``inherited``: the ``train.init_from`` checkpoint's record (its weights saw those data too), listed
    first; ``init_from`` with ``inherited`` None: that checkpoint recorded nothing, said by an entry ``{"format":
    "not recorded", "via": "train.init_from …"}``. Identical entries are listed once."""
    entries = []
    if init_from:
        entries += list(inherited) if isinstance(inherited, list) else [
            {"format": "not recorded", "via": f"train.init_from {init_from}"}]
    for e in cfg.data.datasets:
        if e.get("role", "train") != "train":
            continue
        rec = {"format": e["format"]}
        if e["format"] in RENDERED_FORMATS:
            rec["style"] = e.get("style", _DEFAULT_STYLE.get(e["format"], "full"))
        if e.get("subjects"):
            rec["subjects"] = [str(x) for x in e["subjects"]]
        entries.append(rec)
    out = []
    for rec in entries:
        if rec not in out:
            out.append(rec)
    return out



def say_once(line: str) -> None:
    """Print ``line`` the first time this process asks (a demo runs several trainers)."""
    if line not in _said:
        _said.add(line)
        print(line, flush=True)


class TrainLog:
    """JSON lines (and TensorBoard when installed: ``<out_dir>/tensorboard``), rank 0 only.

    ``folder``: the run folder's :class:`cdlpose.outputs.OutputFolder`; each write is recorded in its ledger (what
    cdlpose wrote there). Lines are appended to the file itself, never through a link planted at its name. On
    resume (``resume_step``) the lines logged after that step are dropped, and TensorBoard is told to discard its
    events from the next step on (``purge_step``): the resumed run's curves are not drawn twice."""

    def __init__(self, out_dir: Path, enabled: bool, resume_step: int | None, folder=None) -> None:
        self.enabled = enabled
        self.path = out_dir / "log.jsonl"
        self.epochs = out_dir / "epochs.jsonl"
        self.folder = folder
        self.tb = self._tb = None
        if not enabled:
            return
        if resume_step is not None:  # drop what was logged after the checkpoint we resume from
            for p, key in ((self.path, "step"), (self.epochs, "step")):
                if p.is_file():
                    keep = [ln for ln in p.read_text().splitlines() if ln and json.loads(ln).get(key, 0) <= resume_step]
                    text = "".join(ln + "\n" for ln in keep)
                    if folder is not None:
                        folder.write_text(p.name, text)
                    else:
                        write_text_atomic(p, text)
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra
            say_once(TENSORBOARD_ABSENT)
            return
        # made at the first write: a run stopped before its first step leaves no event file
        self._tb = lambda: SummaryWriter(str(out_dir / "tensorboard"),
                                         purge_step=None if resume_step is None else resume_step + 1)

    def write(self, record: dict, epoch_summary: bool = False) -> None:
        if not self.enabled:
            return
        path = self.epochs if epoch_summary else self.path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
            with os.fdopen(fd, "a") as fh:
                fh.write(json.dumps(record) + "\n")
        except OSError as e:
            raise _output_error(path, e) from None
        if self.folder is not None:
            self.folder.record(path.name)
        if self.tb is None and self._tb is not None:
            self.tb, self._tb = self._tb(), None
        if self.tb is not None:
            prefix = "epoch/" if epoch_summary else "train/"
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch"):
                    self.tb.add_scalar(prefix + k, v, record["step"])

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()


def plural(n: int, word: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def phase_name(t) -> str:
    """What a progress bar of the train config ``t`` is doing: ``stage 1: 2.5D network``, ``stage 2: lifting
    block`` (the rest frozen) or ``fine-tuning`` (stage 2 end to end)."""
    if t.stage == 2:
        return "fine-tuning" if t.finetune else "stage 2: lifting block"
    return "stage 1: 2.5D network"


def startup_lines(cfg, n_3d: int, n_2d: int, n_val: int, steps_per_epoch: int, max_steps, device, out,
                  cached: bool = False) -> list[str]:
    """The summary ``train`` prints before its first step: the data, the steps, the device, the output folder."""
    t = cfg.train
    tests = sum(1 for e in cfg.data.datasets if e.get("role", "train") == "test")
    data = (f"{phase_name(t)}: train {n_3d} 3D" + (f" ({t.cache_passes} cached passes)" if cached else "")
            + (f" + {n_2d} 2D" if t.stage == 1 else "") + f" samples, val {n_val}"
            + (f", test: {tests} entr{'y' if tests == 1 else 'ies'} (scored by cdlpose evaluate)"
               if tests else ", no test data"))
    budget = [b for b in (t.max_steps or None, max_steps) if b]
    if budget:
        stop = min(budget)
        steps = (f"{steps_per_epoch} steps per epoch; stops after {stop} steps "
                 f"(~{plural(max(-(-stop // max(steps_per_epoch, 1)), 1), 'epoch')})")
    else:
        steps = f"{steps_per_epoch} steps per epoch × {plural(t.epochs, 'epoch')} = {steps_per_epoch * t.epochs} steps"
    if t.max_minutes:
        steps += f", at most {t.max_minutes:g} min"
    return [data, f"{steps}, batch {t.batch_size}", f"device {device}; output {out}"]


def done_line(step: int, epoch: int, step_in_epoch: int, out, best: float) -> str:
    """``train``'s last line, counting epochs as the per-epoch lines do (1-based; a stop within an epoch named as
    that epoch)."""
    import math

    where = (plural(epoch, "epoch") if step_in_epoch == 0 else
             f"stopped in epoch {epoch + 1} ({plural(epoch, 'complete epoch')})")
    best_s = f"best val MPJPE {best:.1f} mm" if math.isfinite(best) else "no validation data"
    return f"done: {step} steps, {where}; checkpoints in {out} ({best_s})"


def epoch_line(record: dict) -> str:
    """The line printed after an epoch (or a stop): train loss and, when there is validation data, its metrics."""
    where = f"epoch {record['epoch']}" + ("" if record["complete"] else f" (stopped at step {record['step']})")
    line = f"{where}: train loss {record.get('train_total', float('nan')):.4g}"
    if record.get("val_mpjpe") is None:
        return line + "; no validation data"
    source = "lifted" if record["val_metric_source"] == "lifting" else "2.5D back-projected"
    return (f"{line}; val MPJPE {record['val_mpjpe']:.1f} mm ({source}), PA-MPJPE {record['val_pa_mpjpe']:.1f} mm, "
            f"2D error {record['val_error_2d_px']:.2f} px, {record['val_samples']} samples")


# --- the run folder ------------------------------------------------------------------------------------------

def _present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _tensorboard_events(out: Path) -> list[str]:
    """The event files in ``out/tensorboard`` (names relative to ``out``); a ``tensorboard`` that is a link is
    listed itself (it is no folder cdlpose made)."""
    tb = out / "tensorboard"
    if tb.is_symlink():
        return ["tensorboard"]
    if not tb.is_dir():
        return []
    return sorted(f"tensorboard/{p.name}" for p in tb.iterdir() if p.name.startswith(_TB_EVENTS))


def _reads_as_run_file(path: Path, name: str) -> bool:
    """Whether ``path`` is a regular file that reads as the file a cdlpose run writes under ``name`` (for files the
    folder's ledger does not list: a run from before cdlpose kept one, or one killed between a write and its
    record): a cdlpose checkpoint, JSON lines of records with a step, a config cdlpose can read, an event file."""
    try:
        if path.is_symlink() or not path.is_file():
            return False
        if name.endswith(".pt"):
            from .loading import read_checkpoint

            read_checkpoint(path, name)
        elif name.endswith(".jsonl"):
            for line in path.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    if not isinstance(rec, dict) or (name != CONFIG_CHANGES and not isinstance(rec.get("step"), int)):
                        return False
        elif name == "config.yaml":
            import yaml

            from .config import config_from_dict

            data = yaml.safe_load(path.read_text())
            if not isinstance(data, dict):
                return False
            config_from_dict(data, str(path))
        elif not name.startswith(f"tensorboard/{_TB_EVENTS}"):
            return False
    except Exception:  # unreadable, not JSON/YAML, not a cdlpose checkpoint: not a run's file
        return False
    return True


def run_folder_contents(folder: OutputFolder, trusted: tuple = ()) -> dict[str, list[str]]:
    """What of a run is in the claimed run folder ``folder`` (names relative to it): ``own`` — files on disk
    exactly as cdlpose recorded them in the folder's ledger (:meth:`~cdlpose.outputs.OutputFolder.ours`), and
    TensorBoard's event files; ``earlier`` — files the ledger does not list that read as a run's files (:func:`_reads_as_run_file`);
    ``foreign`` — the rest (someone else's file, a changed one, a link). ``trusted``: names taken as a run's files
    without reading them (the checkpoint being resumed, which the trainer reads anyway)."""
    out = folder.path
    found = {"own": [], "earlier": [], "foreign": []}
    for name in (*RUN_NAMES, *_tensorboard_events(out)):
        path = out / name
        if not _present(path):
            continue
        recorded = folder.ours(name)
        if name == "tensorboard":
            found["foreign"].append(name)
        elif recorded or (name.startswith("tensorboard/") and path.is_file() and not path.is_symlink()):
            found["own"].append(name)
        elif name in trusted or _reads_as_run_file(path, name):
            found["earlier"].append(name)
        else:
            found["foreign"].append(name)
    return found


def _listing(names: list[str], n: int = 6) -> str:
    """``names`` for a message: TensorBoard's event files as their folder, the first ``n``, how many more."""
    shown = []
    for name in names:
        head, _, tail = name.rpartition("/")
        name = f"{head}/ (event files)" if tail.startswith(_TB_EVENTS) else name
        if name not in shown:
            shown.append(name)
    return ", ".join(shown[:n]) + (f" and {len(shown) - n} more" if len(shown) > n else "")


def remove_run_file(folder: OutputFolder, name: str) -> None:
    """Delete ``name`` in the folder whatever it is (asked for: ``--overwrite``); a link is removed, not followed."""
    path = folder.path / name
    try:
        if path.is_dir() and not path.is_symlink():
            for p in path.iterdir():  # tensorboard/: its event files only (a user's other files stay)
                if p.name.startswith(_TB_EVENTS) and not p.is_dir():
                    p.unlink()
                    folder.ledger.pop(f"{name}/{p.name}", None)
        else:
            path.unlink(missing_ok=True)
    except OSError as e:
        raise OutputError(e.errno, f"cannot remove {path}: {describe_os_error(e)}") from None
    folder.ledger.pop(name, None)


def _claim(out: Path, overwrite: bool, resume: Path | None) -> OutputFolder:
    """Claim ``out`` for a run (its lock: a second live run into it is refused) and check what is there.

    A new run (``resume`` None) refuses a folder that holds an earlier run (its logs would be truncated, its
    ``last.pt`` overwritten and its ``best.pt`` replaced by a worse model) and any file among the names a run
    writes that cdlpose did not write (a user's ``config.yaml``), judged by the folder's ledger; ``overwrite``
    deletes them instead (and the earlier run's TensorBoard events). A resumed run takes files the ledger does not
    list as its own when they read as a run's files (a run from before cdlpose kept a ledger), says so, and refuses
    any other file in the way."""
    folder = OutputFolder(out, "train")
    try:
        trusted = ()
        if resume is not None and _present(out / "last.pt"):
            try:
                trusted = ("last.pt",) if os.path.samefile(resume, out / "last.pt") else ()
            except OSError:
                pass
        if resume is None and overwrite:
            found = run_folder_contents(folder, trusted=RUN_NAMES)  # nothing read: all of it goes
            for name in found["own"] + found["earlier"] + found["foreign"]:
                remove_run_file(folder, name)
            folder.save()
            return folder
        found = run_folder_contents(folder, trusted)
        if resume is None:
            if found["foreign"]:
                raise ConfigError(
                    f"train.out_dir {out} holds {_listing(found['foreign'])}, which cdlpose did not write (or which "
                    "changed since): a run would replace it; choose a new train.out_dir, or give --overwrite to "
                    "replace it")
            earlier = [n for n in found["own"] + found["earlier"] if n != "config.yaml"]
            if earlier:
                raise ConfigError(f"train.out_dir {out} holds an earlier run ({_listing(earlier)}): continue it with "
                                  "--resume, choose a new train.out_dir, or start afresh with --overwrite")
            if "config.yaml" in found["earlier"]:  # a config that cdlpose did not record writing: maybe the user's
                raise ConfigError(f"train.out_dir {out} holds config.yaml, which cdlpose did not write there: a run "
                                  "would replace it; choose a new train.out_dir, or give --overwrite to replace it")
            return folder
        if found["foreign"]:
            raise ConfigError(
                f"--resume: train.out_dir {out} holds {_listing(found['foreign'])}, which cdlpose did not write (or "
                "which changed since) and the resumed run would replace: move it out of the folder and resume again")
        taken = [n for n in found["earlier"] if not n.startswith("tensorboard/")]
        if taken:
            for name in taken:
                folder.record(name, save=False)
            folder.save()
            print(f"resume: {_listing(taken)} in {out} are not in cdlpose's record of the folder (a run from before "
                  "cdlpose kept one, or stopped between a write and its record); they read as this run's files, so "
                  "they are taken as cdlpose's and continued", flush=True)
        return folder
    except BaseException:
        folder.release()
        raise


def claim_run_folder(out: Path, overwrite: bool, resume, is_main: bool, world: int) -> OutputFolder | None:
    """Rank 0 claims and checks ``out`` (:func:`_claim`); with several processes every rank learns its verdict, so
    that all stop together. Returns rank 0's folder (``None`` on the other ranks)."""
    folder, problem = None, None
    if is_main:
        try:
            folder = _claim(Path(out), overwrite, None if resume is None else Path(resume))
        except (ConfigError, OutputError) as e:
            problem = e
    if world > 1:
        import torch.distributed as dist

        verdict = [None if problem is None else (isinstance(problem, OutputError), str(problem))]
        dist.broadcast_object_list(verdict, src=0)
        if verdict[0] is not None and problem is None:
            problem = (OutputError if verdict[0][0] else ConfigError)(verdict[0][1])
    if problem is not None:
        raise problem
    return folder


def claim_report_folder(out, command: str, files, runs, overwrite: bool = False) -> OutputFolder:
    """Claim ``out`` for a command that writes the report ``files`` there and training runs into its sub-folders
    ``runs`` (``cdlpose demo``): a second live run into it is refused; unless ``overwrite``, so is a folder that
    holds an earlier report or run, or any of ``files`` that cdlpose did not write (a user's ``index.html``),
    before any work, naming only the command's own options (``--out``, ``--overwrite``)."""
    folder = OutputFolder(out, command)
    try:
        out = folder.path
        foreign = [str(p.relative_to(out)) for p in folder.foreign(files)]
        if foreign and not overwrite:
            raise ConfigError(f"{command} --out {out} holds {_listing(foreign)}, which cdlpose did not write (or which "
                              f"changed since): the {command} would replace it; choose another --out, or give "
                              "--overwrite to replace it")
        earlier = [n for n in files if folder.ours(n)]
        for run in runs:
            earlier += [f"{run}/{n}" for n in (*RUN_NAMES, *_tensorboard_events(out / run)) if _present(out / run / n)]
        if earlier and not overwrite:
            raise ConfigError(f"{command} --out {out} holds an earlier {command} ({_listing(earlier, 4)}): choose "
                              "another --out, or give --overwrite to replace it")
    except BaseException:
        folder.release()
        raise
    return folder


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def config_changes(old: dict, new: dict) -> dict[str, list]:
    """The config keys (dotted) whose values differ between two :func:`cdlpose.config.config_to_dict` dicts:
    ``{key: [old, new]}`` (a key one of them lacks has ``None`` there)."""
    a, b = _flatten(old), _flatten(new)
    return {k: [a.get(k), b.get(k)] for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _short(v) -> str:
    text = json.dumps(v)
    return text if len(text) <= 60 else text[:57] + "…"


def record_config_changes(folder: OutputFolder, changes: dict, step: int, epoch: int, checkpoint: Path) -> None:
    """Say which config keys differ from the resumed checkpoint's (one line, old → new) and append them to
    ``config-changes.jsonl``; ``config.yaml`` holds the config in use."""
    line = json.dumps({"step": step, "epoch": epoch, "checkpoint": str(checkpoint), "changes": changes,
                       "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds")})
    earlier = (folder.path / CONFIG_CHANGES).read_text() if folder.ours(CONFIG_CHANGES) else ""
    folder.write_text(CONFIG_CHANGES, earlier + ("\n" if earlier and not earlier.endswith("\n") else "") + line + "\n")
    said = "; ".join(f"{k} {_short(a)} → {_short(b)}" for k, (a, b) in changes.items())
    print(f"resume: the config differs from {checkpoint}'s (step {step}): {said} (config.yaml now holds the config "
          f"in use; the change is recorded in {folder.path / CONFIG_CHANGES})", flush=True)


def resume_command(config: str, checkpoint, overrides=(), device: str | None = None,
                   max_steps: int | None = None) -> str:
    """The command line that continues a run: ``cdlpose train CONFIG [--set …] --resume CHECKPOINT``."""
    cmd = ["cdlpose", "train", str(config)]
    if overrides:
        cmd += ["--set", *overrides]
    if device:
        cmd += ["--device", device]
    if max_steps is not None:
        cmd += ["--max-steps", str(max_steps)]
    return shlex.join(cmd + ["--resume", str(checkpoint)])


def how_to_resume(e: KeyboardInterrupt, out_dir, config, overrides=(), device=None, max_steps=None) -> str:
    """What a Ctrl-C in ``cdlpose train`` left (``e``: a :class:`TrainingInterrupted`, or a plain interrupt outside
    :meth:`~cdlpose.engine.Trainer.fit`), and the command that continues the run."""
    out = Path(out_dir)
    ckpt, step = getattr(e, "checkpoint", None), getattr(e, "step", None)
    if ckpt is None and (out / "last.pt").is_file():  # stopped outside fit(): the run's last checkpoint
        ckpt = out / "last.pt"
    if ckpt is not None:
        held = f"{ckpt} holds step {step}" if step is not None else f"the last checkpoint is {ckpt}"
        return f"{held}; continue with: {resume_command(config, ckpt, overrides, device, max_steps)}"
    again = ["cdlpose", "train", str(config)] + (["--set", *overrides] if overrides else [])
    if any((out / n).exists() for n in RUN_FILES) or _tensorboard_events(out):
        again.append("--overwrite")
    return f"no checkpoint was saved, nothing to resume; start again with: {shlex.join(again)}"


class StopOnCtrlC:
    """While active (in the main thread of a single process): the first Ctrl-C asks the loop to stop after the step
    in progress (``requested``), a second one interrupts at once."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True  # nothing printed here: a print may be under way in the interrupted code

    def __enter__(self) -> "StopOnCtrlC":
        if self.enabled and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


def worker_init_quiet(worker_id: int) -> None:
    """DataLoader workers: :func:`cdlpose.data.workers.worker_init`, and Ctrl-C left to the main process (which
    stops the run between steps; a worker that died of it would end the run with a loader error instead)."""
    from .data.workers import worker_init

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    worker_init(worker_id)

