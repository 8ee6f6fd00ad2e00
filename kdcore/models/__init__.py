"""Model zoo and one builder: ``build_model(name, in_channels, num_classes, image_size)``.

Names:

* ``mlp-W1-W2-…``: an MLP with those hidden widths (``mlp-512-512``; ``mlp`` alone has no hidden layer);
* ``lenet5``;
* ``resnet8/14/20/32/44/56/110``, ``resnet8x4``, ``resnet32x4`` (CIFAR ResNets);
* ``vgg8/11/13/16/19``: CIFAR VGG with BN in prune-then-distill's layout (four max-pools; Park & No 2022);
* ``vgg8-rd``, ``vgg11-rd``, … ``vgg19-rd``: the same blocks in RepDistiller's layout (three max-pools on
  32×32 inputs, the CRD benchmark's ``vgg8``/``vgg13``); see :mod:`kdcore.models.vgg` for both;
* ``wrn-16-1``, ``wrn-16-2``, ``wrn-40-1``, ``wrn-40-2`` (any ``wrn-d-k``).
"""

from __future__ import annotations

import re

import torch
from torch import nn

from .lenet import LeNet5
from .mlp import MLP
from .resnet import CifarResNet
from .vgg import REPDISTILLER_SUFFIX, VGG_CONFIGS, CifarVGG, repdistiller_config
from .wrn import WideResNet

__all__ = ["ARCHITECTURES", "MLP", "CifarResNet", "CifarVGG", "LeNet5", "WideResNet", "build_model", "is_architecture"]

RESNET_DEPTHS = (8, 14, 20, 32, 44, 56, 110)
ARCHITECTURES = (
    "mlp-W1-W2-…",
    "lenet5",
    *(f"resnet{d}" for d in RESNET_DEPTHS),
    "resnet8x4",
    "resnet32x4",
    *VGG_CONFIGS,
    *(name + REPDISTILLER_SUFFIX for name in VGG_CONFIGS),
    "wrn-d-k",
)


def build_model(name: str, in_channels: int = 1, num_classes: int = 10, image_size: int = 28) -> nn.Module:
    """Build an architecture by name (see the module docstring) for the given input and class count.

    The model keeps its name as ``model.arch`` (the cost ledger, :mod:`kdcore.cost`, reports by it).
    """
    model = _build(name, in_channels, num_classes, image_size)
    model.arch = name
    return model


def _build(name: str, in_channels: int, num_classes: int, image_size: int) -> nn.Module:
    if m := re.fullmatch(r"mlp((?:-\d+)*)", name):
        widths = tuple(int(w) for w in m.group(1).split("-")[1:])
        return MLP(in_channels, num_classes, widths, image_size)
    if name == "lenet5":
        return LeNet5(in_channels, num_classes, image_size)
    if m := re.fullmatch(r"resnet(\d+)(x4)?", name):
        depth, wide = int(m.group(1)), bool(m.group(2))
        if wide and depth in (8, 32):
            return CifarResNet(depth, (32, 64, 128, 256), in_channels, num_classes)
        if not wide and depth in RESNET_DEPTHS:
            return CifarResNet(depth, (16, 16, 32, 64), in_channels, num_classes)
    if name in VGG_CONFIGS:
        return CifarVGG(VGG_CONFIGS[name], in_channels, num_classes)
    if name.endswith(REPDISTILLER_SUFFIX) and (base := name.removesuffix(REPDISTILLER_SUFFIX)) in VGG_CONFIGS:
        return CifarVGG(repdistiller_config(base, image_size), in_channels, num_classes)
    if m := re.fullmatch(r"wrn-(\d+)-(\d+)", name):
        depth, widen = int(m.group(1)), int(m.group(2))
        if (depth - 4) % 6 == 0 and widen > 0:
            return WideResNet(depth, widen, in_channels, num_classes)
    raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")


def is_architecture(name: str) -> bool:
    """Whether :func:`build_model` knows ``name``. Builds on the meta device, so it allocates nothing."""
    try:
        with torch.device("meta"):
            build_model(name)
    except ValueError:
        return False
    return True
