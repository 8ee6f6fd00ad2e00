"""kdcore's two VGG layouts against reference modules written in the style of each paper's official code.

Each reference is rebuilt here from the published source (module structure and forward pass; not imported):
RepDistiller's ``models/vgg.py`` (HobbitLong/RepDistiller) and prune-then-distill's ``models/cifar_vgg.py``
(ososos888/prune-then-distill). The same weights, copied in order, must give the same logits.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from kdcore.models import build_model, is_architecture
from kdcore.models.vgg import VGG_BLOCKS, VGG_CONFIGS


class RepDistillerVGG(nn.Module):
    """RepDistiller's CIFAR VGG: five blocks, max-pools after blocks 0-2 (and 3 on 64×64), global average pool."""

    def __init__(self, cfg, num_classes):
        super().__init__()
        widths_in = [3] + [block[-1] for block in cfg[:-1]]
        for i, (block, c_in) in enumerate(zip(cfg, widths_in)):
            setattr(self, f"block{i}", self._make_layers(block, c_in))
        self.pool0, self.pool1, self.pool2, self.pool3 = (nn.MaxPool2d(kernel_size=2, stride=2) for _ in range(4))
        self.pool4 = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(512, num_classes)

    @staticmethod
    def _make_layers(cfg, in_channels):
        layers = []
        for v in cfg:
            layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
            in_channels = v
        return nn.Sequential(*layers[:-1])  # the block's last ReLU is applied in forward

    def forward(self, x):
        h = x.shape[2]
        x = self.pool0(F.relu(self.block0(x)))
        x = self.pool1(F.relu(self.block1(x)))
        x = self.pool2(F.relu(self.block2(x)))
        x = F.relu(self.block3(x))
        if h == 64:
            x = self.pool3(x)
        x = F.relu(self.block4(x))
        return self.classifier(self.pool4(x).view(x.size(0), -1))


class ConvBNModule(nn.Module):
    def __init__(self, in_filters, out_filters):
        super().__init__()
        self.conv = nn.Conv2d(in_filters, out_filters, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(out_filters)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class PruneThenDistillVGG(nn.Module):
    """prune-then-distill's CIFAR VGG: a flat plan with 'M' max-pools, then AvgPool2d(2) and one Linear."""

    def __init__(self, plan, num_classes):
        super().__init__()
        layer_list, filters = [], 3
        for spec in plan:
            if spec == "M":
                layer_list.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layer_list.append(ConvBNModule(filters, spec))
                filters = spec
        self.layers = nn.Sequential(*layer_list)
        self.fc = nn.Linear(plan[-1], num_classes)

    def forward(self, x):
        x = nn.AvgPool2d(2)(self.layers(x))
        return self.fc(x.view(x.size(0), -1))


# prune-then-distill's own plans for VGG-11 and VGG-19 (models/cifar_vgg.py, _plan), written out independently
PTD_PLANS = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
}
# RepDistiller's cfg S (vgg8) and B (vgg13), its CRD benchmark students and teacher
RD_CFGS = {
    "vgg8": [[64], [128], [256], [512], [512]],
    "vgg13": [[64, 64], [128, 128], [256, 256], [512, 512], [512, 512]],
}


def randomized(reference: nn.Module, seed: int = 0) -> nn.Module:
    """Random weights and BatchNorm statistics, so that a misplaced layer or pool changes the logits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in reference.state_dict().items():
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=g))
            elif tensor.is_floating_point():
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=g))
    return reference


def copy_weights_in_order(source: nn.Module, target: nn.Module) -> None:
    """Copy every parameter and buffer by position (the two modules name their layers differently)."""
    pairs = list(zip(source.state_dict().values(), target.state_dict().values(), strict=True))
    assert all(a.shape == b.shape for a, b in pairs)
    target.load_state_dict(dict(zip(target.state_dict(), (a.clone() for a, _ in pairs))))


def assert_same_logits(reference: nn.Module, ours: nn.Module, image_size: int) -> None:
    copy_weights_in_order(reference, ours)
    x = torch.randn(4, 3, image_size, image_size, generator=torch.Generator().manual_seed(1))
    for mode in (False, True):  # running statistics, then batch statistics
        reference.train(mode), ours.train(mode)
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("name", "image_size"), [("vgg8", 32), ("vgg13", 32), ("vgg8", 64)])
def test_rd_names_compute_repdistillers_vgg(name, image_size):
    reference = randomized(RepDistillerVGG(RD_CFGS[name], num_classes=100)).eval()
    ours = build_model(f"{name}-rd", in_channels=3, num_classes=100, image_size=image_size)
    assert_same_logits(reference, ours, image_size)


@pytest.mark.parametrize("name", ["vgg11", "vgg19"])
def test_plain_names_compute_prune_then_distills_vgg(name):
    reference = randomized(PruneThenDistillVGG(PTD_PLANS[name], num_classes=100)).eval()
    ours = build_model(name, in_channels=3, num_classes=100, image_size=32)
    assert_same_logits(reference, ours, 32)


def test_the_two_layouts_differ_on_cifar_and_agree_on_64x64():
    reference = randomized(RepDistillerVGG(RD_CFGS["vgg8"], num_classes=10)).eval()
    plain = build_model("vgg8", in_channels=3, num_classes=10, image_size=32)
    copy_weights_in_order(reference, plain)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    assert not torch.allclose(plain.eval()(x), reference(x), atol=1e-3)  # one max-pool more: another network
    assert build_model("vgg8", 3, 10, 64).config == build_model("vgg8-rd", 3, 10, 64).config


def test_blocks_match_repdistillers_cfgs_and_every_rd_name_is_known():
    assert VGG_BLOCKS["vgg8"] == RD_CFGS["vgg8"] and VGG_BLOCKS["vgg13"] == RD_CFGS["vgg13"]
    assert VGG_CONFIGS["vgg11"] == PTD_PLANS["vgg11"] and VGG_CONFIGS["vgg19"] == PTD_PLANS["vgg19"]
    assert all(is_architecture(f"{name}-rd") for name in VGG_CONFIGS)
    assert not is_architecture("vgg12-rd") and not is_architecture("vgg8-rdx")
