"""The command line's examples: the top-level help's and the two or three that end every subcommand's
``--help`` (``cdlpose train --help`` … ``examples:``), set on the parser by :func:`add_examples`."""

from __future__ import annotations

import argparse

__all__ = ["COMMAND_EXAMPLES", "EXAMPLES", "add_examples"]

EXAMPLES = """first run:
  cdlpose demo                                    train and evaluate a small model on synthetic data (CPU,
                                                  minutes); report in cdlpose-demo/index.html
  cdlpose synth --style plain --split test --out synth-test
                                                  held-out synthetic images in the style the demo trains on
  cdlpose predict --checkpoint cdlpose-demo/finetune/last.pt synth-test/images --out poses/
                                                  the demo model on them; it has seen no photo, and its poses
                                                  on photos are unrelated to the people (predict prints what
                                                  a model was trained on)

on the real data sets (licensed; see docs/datasets.md for where to get them and the layout):
  cdlpose data check configs/h36m_p1.yaml         read every annotation and image before training
  cdlpose train configs/h36m_p1.yaml              stage 1, then: cdlpose train configs/h36m_p1_stage2.yaml
  cdlpose evaluate configs/h36m_p1.yaml --checkpoint runs/h36m_p1_stage2/last.pt
  cdlpose export --checkpoint runs/h36m_p1_stage2/last.pt --format weights

photos: without --checkpoint predict runs the shipped cdlpose-photo-v4, trained on rendered people only (a start:
79% PCK@0.2 on real photos, the mean pose 57%, docs/model-card.md); better, one trained on real images, e.g. Moon et al.'s
published PoseNet weights (Human3.6M + MPII; download a snapshot from their repository's README), or one you
trained on the real data sets above:
  cdlpose predict photo.jpg --box 120 40 200 420
  cdlpose import posenet snapshot_24.pth.tar --joints h36m --out posenet_h36m.pt
  cdlpose predict --checkpoint posenet_h36m.pt photo.jpg --box 120 40 200 420 --out poses/

`cdlpose COMMAND --help` describes a command's options.
"""

#: ``{subcommand path: [(command line, what it does)]}``, two or three each.
COMMAND_EXAMPLES = {
    "synth": [("cdlpose synth --style plain --split test -n 200 --out synth-test",
               "200 held-out images in the style the demo trains on"),
              ("cdlpose synth --poses poses.npz --cameras cameras.npz --subjects S9 --every 10 --out s9",
               "given Human3.6M-layout poses rendered from their cameras")],
    "data": [("cdlpose data check configs/h36m_p1.yaml", "read every annotation and image of a recipe"),
             ("cdlpose data check configs/h36m_p1.yaml --set data.root=/datasets", "with the data elsewhere")],
    "data check": [("cdlpose data check configs/h36m_p1.yaml", "every data set of a recipe (base: merged in)"),
                   ("cdlpose data check configs/h36m_p1.yaml --set data.root=/datasets",
                    "the data under another root, as train would read them"),
                   ("cdlpose data check my-data.yaml", "a plain list: a top-level 'datasets' list")],
    "train": [("cdlpose train configs/synthetic_cpu.yaml", "stage 1 on the synthetic data, on a CPU"),
              ("cdlpose train configs/h36m_p1.yaml --set data.root=/datasets train.lr=5e-4",
               "a recipe with overrides"),
              ("cdlpose train configs/h36m_p1.yaml --resume", "continue a stopped run from its last.pt")],
    "evaluate": [("cdlpose evaluate configs/h36m_p1.yaml --checkpoint runs/h36m_p1_stage2/last.pt",
                  "the recipe's test data, by its protocol"),
                 ("cdlpose evaluate --checkpoint runs/h36m_p1_stage2/last.pt --protocol h36m-p2",
                  "the checkpoint's own test data, PA-MPJPE"),
                 ("cdlpose evaluate configs/muco_mupots.yaml --checkpoint best.pt --detections boxes.json",
                  "MuPoTS-3D with detected boxes")],
    "demo": [("cdlpose demo", "the full demo (about 9 minutes on 2 cores); report in cdlpose-demo/index.html"),
             ("cdlpose demo --quick --out quick-demo", "a smaller, quicker run with its own pass line"),
             ("cdlpose demo --steps 600 --min-ratio 1.5", "fewer steps, a lower bar")],
    "predict": [("cdlpose predict --checkpoint posenet_h36m.pt photo.jpg --box 120 40 200 420",
                 "one person in a photo; outputs in photo-poses/"),
                ("cdlpose predict --checkpoint model.pt \"shots/*.jpg\" --detector --out poses",
                 "every person found by the detector"),
                ("cdlpose predict --onnx model.onnx clip.mp4 --detector --smooth", "a video, smoothed, in ONNX Runtime")],
    "export": [("cdlpose export --checkpoint runs/h36m_p1_stage2/last.pt",
                "ONNX (last.onnx), checked against ONNX Runtime"),
               ("cdlpose export --checkpoint last.pt --format weights --half",
                "weights and config only, float16 (last-weights.pt)")],
    "import": [("cdlpose import posenet snapshot_24.pth.tar --joints h36m --out posenet_h36m.pt",
                "Moon et al.'s Human3.6M + MPII model"),
               ("cdlpose import posenet snapshot_24.pth.tar --joints muco --out posenet_muco.pt",
                "their MuCo-3DHP model, for MuPoTS-3D")],
}
COMMAND_EXAMPLES["import posenet"] = COMMAND_EXAMPLES["import"]


class ExamplesFormatter(argparse.HelpFormatter):
    """Wraps descriptions as argparse does, keeps the examples' lines as written."""

    def _fill_text(self, text, width, indent):
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def _epilog(examples: list[tuple[str, str]]) -> str:
    return "examples:\n" + "\n".join(f"  {cmd}\n      {what}" for cmd, what in examples)


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            yield from action.choices.items()


def add_examples(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Give every subcommand of ``parser`` (nested ones too) its examples as an epilog, its line breaks kept."""
    for name, sub in _subparsers(parser):
        key = f"{path} {name}".strip()
        if key in COMMAND_EXAMPLES:
            sub.epilog = _epilog(COMMAND_EXAMPLES[key])
            sub.formatter_class = ExamplesFormatter
        add_examples(sub, key)
