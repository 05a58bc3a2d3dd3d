"""cdlpose.resnet builds torchvision's ResNets without importing torchvision (whose import costs seconds of
`cdlpose predict`'s start-up): the same parameter names, the same initial values from the same seed, the same
random numbers drawn, the same outputs. Catches a trunk that drifts from torchvision's (a checkpoint or ImageNet
weights that no longer load, a seeded training run that changes)."""

import pytest
import torch

from cdlpose.resnet import Bottleneck, ResNet

torchvision = pytest.importorskip("torchvision")  # the reference (cdlpose[detector])
from torchvision.models.resnet import Bottleneck as TorchvisionBottleneck  # noqa: E402


@pytest.mark.parametrize("name", ["resnet18", "resnet34", "resnet50"])
def test_the_trunk_is_torchvisions_bit_for_bit(name):
    torch.manual_seed(0)
    ref = torchvision.models.get_model(name, weights=None)
    after_ref = torch.rand(4)
    torch.manual_seed(0)
    mine = ResNet(name)
    assert torch.equal(torch.rand(4), after_ref)  # the same random numbers were drawn
    a, b = ref.state_dict(), mine.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = torch.randn(2, 3, 64, 64)
    trunk_ref, trunk = (torch.nn.Sequential(*list(n.children())[:-2]).eval() for n in (ref, mine))
    with torch.no_grad():
        assert torch.equal(trunk_ref(x), trunk(x))


def test_the_head_bottleneck_is_torchvisions():
    torch.manual_seed(1)
    ref = TorchvisionBottleneck(512, 128).eval()
    torch.manual_seed(1)
    mine = Bottleneck(512, 128).eval()
    assert list(ref.state_dict()) == list(mine.state_dict())
    assert all(torch.equal(ref.state_dict()[k], mine.state_dict()[k]) for k in ref.state_dict())
    x = torch.randn(1, 512, 8, 8)
    with torch.no_grad():
        assert torch.equal(ref(x), mine(x))
