"""torchvision is optional (``cdlpose[detector]``): cdlpose builds its ResNet trunks itself. Without it the two
features that need it, the person detector and ImageNet weights, say so in one line, with the install commands, as
errors the command line prints in one line (InputError, ConfigError). Catches a bare ModuleNotFoundError traceback
where that message should be, a message without the way to install torchvision, and another missing module
reported as a missing torchvision."""

from __future__ import annotations

import sys

import pytest

from cdlpose.errors import ConfigError, InputError, lacks_torchvision

INSTALL = ('pip install ".[detector]"', "pip install torchvision --index-url https://download.pytorch.org/whl/cpu")


@pytest.fixture
def no_torchvision(monkeypatch):
    """torchvision cannot be imported: None in sys.modules for it and for its modules already loaded (which
    ``from torchvision.models.detection import`` would otherwise take from there)."""
    for name in ["torchvision"] + [n for n in sys.modules if n.startswith("torchvision.")]:
        monkeypatch.setitem(sys.modules, name, None)


def _says_how(excinfo, what: str) -> None:
    text = str(excinfo.value)
    assert text.startswith(f"{what} ") and "needs torchvision, which is not installed" in text and "\n" not in text
    assert all(cmd in text for cmd in INSTALL), text
    assert excinfo.value.__cause__ is None and excinfo.value.__suppress_context__  # no chained traceback


def test_the_detector_without_torchvision_says_how_to_install_it(no_torchvision):
    from cdlpose.detection import PersonDetector

    with pytest.raises(InputError) as e:
        PersonDetector("cpu")
    _says_how(e, "--detector")


def test_imagenet_weights_without_torchvision_say_how_to_install_it(no_torchvision):
    from cdlpose.model import build_backbone

    with pytest.raises(ConfigError) as e:
        build_backbone("resnet18", "imagenet")
    _says_how(e, "model.pretrained: imagenet")
    assert len(build_backbone("resnet18", None, stages=2)) > 0  # the trunk itself needs no torchvision
    # a module that torchvision (or anything else) imports, missing: not reported as a missing torchvision
    assert lacks_torchvision(ModuleNotFoundError("No module named 'torchvision'", name="torchvision"))
    assert lacks_torchvision(ModuleNotFoundError("'torchvision' is not a package", name="torchvision.models"))
    assert not lacks_torchvision(ModuleNotFoundError("No module named 'PIL'", name="PIL"))
    assert not lacks_torchvision(ImportError("cannot import name 'x' from 'torchvision'", name="torchvision"))
