import pytest
import torch

from kdcore.models import build_model, is_architecture

CIFAR = ["resnet8", "resnet20", "resnet32", "resnet56", "resnet110", "resnet8x4", "resnet32x4",
         "vgg8", "vgg11", "vgg13", "vgg19", "wrn-16-2", "wrn-40-2"]  # fmt: skip


@pytest.mark.parametrize("name", CIFAR)
def test_cifar_families_take_channels_and_classes(name):
    model = build_model(name, in_channels=3, num_classes=100)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


@pytest.mark.parametrize("name", ["mlp-64-32", "mlp", "lenet5", "resnet8", "vgg8"])
def test_small_models_on_fashion_mnist_shape(name):
    model = build_model(name, in_channels=1, num_classes=10, image_size=28)
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)


def test_parameter_counts_match_repdistiller():
    count = lambda name: sum(p.numel() for p in build_model(name, 3, 100).parameters())
    assert round(count("resnet8x4") / 1e6, 2) == 1.23
    assert round(count("resnet32x4") / 1e6, 2) == 7.43
    assert round(count("wrn-40-2") / 1e6, 2) == 2.26


def test_unknown_architectures_are_refused():
    assert not is_architecture("resnet9") and not is_architecture("wrn-15-2") and not is_architecture("bert")
    assert is_architecture("mlp-1200-1200") and is_architecture("wrn-16-2")
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet9")
