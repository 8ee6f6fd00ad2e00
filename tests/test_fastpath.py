"""The fast KD path computes what the plain path computes: bf16 teacher, channels_last, metric accounting."""

from __future__ import annotations

import copy
import warnings

import pytest
import torch
import torch.nn.functional as F

from kdcore.batches import DeviceBatches
from kdcore.data import synthetic
from kdcore.fit import TrainConfig, fit, fold_batchnorm, prepare_teacher
from kdcore.losses.kd import KD
from kdcore.models import build_model
from kdcore.splits import Split

T, W_CE, W_KD = 4.0, 0.9, 0.1


def _resnet(depth: int = 8, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_model(f"resnet{depth}", 3, 10, 16)
    with torch.no_grad():  # non-trivial BatchNorm running statistics, so eval mode is not the identity
        for _ in range(3):
            model(torch.randn(32, 3, 16, 16) * 2 + 0.5)
    return model


def _batch(n: int = 32, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(10, (n,), generator=g)


def _reference_loss(student, teacher, x, y) -> torch.Tensor:
    """CE + KD written out in fp32 from the definition: T² · mean_i Σ_c p_t (log p_t − log p_s)."""
    s = student(x)
    with torch.no_grad():
        t = teacher.eval()(x)
    p_t = torch.softmax(t / T, 1)
    kl = (p_t * (torch.log(p_t) - torch.log_softmax(s / T, 1))).sum(1).mean()
    return W_CE * F.cross_entropy(s, y) + W_KD * T * T * kl


def _loss_and_grads(loss_fn, model) -> tuple[float, torch.Tensor]:
    model.zero_grad(set_to_none=True)
    loss = loss_fn()
    loss.backward()
    return loss.item(), torch.cat([p.grad.flatten() for p in model.parameters()])


def test_prepare_teacher_on_cpu_is_a_frozen_exact_copy():
    teacher = _resnet(20)
    x, _ = _batch()
    frozen = prepare_teacher(teacher, "cpu")
    assert frozen is not teacher and not frozen.training
    assert not any(p.requires_grad for p in frozen.parameters())
    assert all(p.requires_grad and p.dtype == torch.float32 for p in teacher.parameters())  # original kept
    with torch.no_grad():
        assert torch.equal(frozen(x), teacher.eval()(x))


def test_prepare_teacher_bf16_keeps_batchnorm_in_fp32():
    teacher = _resnet()
    frozen = prepare_teacher(teacher, "cpu", dtype=torch.bfloat16, channels_last=True)
    assert frozen.conv1.weight.dtype == torch.bfloat16 and frozen.fc.weight.dtype == torch.bfloat16
    assert frozen.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    frozen_modules = dict(frozen.named_modules())
    norms = [(n, m) for n, m in teacher.named_modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(norms) == 9  # resnet8: stem, 3 blocks × 2, 2 shortcuts
    for name, norm in norms:  # exact fp32 copies of the weights and running statistics
        for key, value in norm.state_dict().items():
            copied = frozen_modules[name].state_dict()[key]
            assert copied.dtype == value.dtype and torch.equal(copied, value), (name, key)


@pytest.mark.parametrize("arch, left", [("resnet8x4", 0), ("resnet20", 0), ("vgg11", 0), ("wrn-16-2", 6)])
def test_fold_batchnorm_keeps_the_function_and_the_zeros(arch, left):
    torch.manual_seed(0)
    teacher = build_model(arch, 3, 10, 16).eval()
    for norm in (m for m in teacher.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # statistics not 0 / 1
        norm.running_mean.uniform_(-0.5, 0.5), norm.running_var.uniform_(0.5, 2.0)
        norm.weight.data.uniform_(0.5, 1.5), norm.bias.data.uniform_(-0.2, 0.2)
    conv = next(m for m in teacher.modules() if isinstance(m, torch.nn.Conv2d))
    conv.weight.data[::2] = 0  # a pruned teacher: half of the first convolution's filters
    folded = fold_batchnorm(teacher)
    norms = [m for m in folded.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == left  # wrn's pre-activation norms come before their convolutions: they stay
    assert not folded.training and not any(p.requires_grad for p in folded.parameters())
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), teacher(x), rtol=1e-4, atol=1e-5)
    first = next(m for m in folded.modules() if isinstance(m, torch.nn.Conv2d))
    assert torch.equal(first.weight[::2], torch.zeros_like(first.weight[::2]))
    assert teacher.training is False and any(isinstance(m, torch.nn.BatchNorm2d) for m in teacher.modules())


def test_fold_batchnorm_leaves_a_model_it_cannot_trace_unfolded():
    class Branchy(torch.nn.Module):  # control flow on the data: torch.fx cannot trace it
        def __init__(self):
            super().__init__()
            self.conv, self.norm = torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4)

        def forward(self, x):
            return self.norm(self.conv(x)) if x.sum() > 0 else x

    model = Branchy().eval()
    folded = fold_batchnorm(model)
    assert isinstance(folded, Branchy) and folded is not model and isinstance(folded.norm, torch.nn.BatchNorm2d)
    x = torch.rand(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(folded(x), model(x))


def test_kd_objective_matches_the_fp32_definition():
    student, teacher = _resnet(8, seed=2), _resnet(20)
    x, y = _batch()
    objective = KD(copy.deepcopy(student).train(), prepare_teacher(teacher, "cpu"), T, W_CE, W_KD)
    loss, grads = _loss_and_grads(lambda: sum(objective(x, y)[1].values()), objective.student)
    ref_loss, ref_grads = _loss_and_grads(lambda: _reference_loss(student.train(), teacher, x, y), student)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    torch.testing.assert_close(grads, ref_grads, rtol=1e-4, atol=1e-5)


def test_fast_kd_step_matches_the_fp32_reference():
    """bf16 autocast, bf16 channels_last teacher, channels_last student and inputs (what fit does on CUDA,
    here under CPU autocast) against the plain fp32 step on the same batch."""
    student, teacher = _resnet(8, seed=2), _resnet(20)
    x, y = _batch()
    fast_student = copy.deepcopy(student).to(memory_format=torch.channels_last).train()
    fast_teacher = prepare_teacher(teacher, "cpu", dtype=torch.bfloat16, channels_last=True)
    objective = KD(fast_student, fast_teacher, T, W_CE, W_KD)
    x_cl = x.contiguous(memory_format=torch.channels_last)

    def fast_loss():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return sum(objective(x_cl, y)[1].values())

    loss, grads = _loss_and_grads(fast_loss, fast_student)
    ref_loss, ref_grads = _loss_and_grads(lambda: _reference_loss(student.train(), teacher, x, y), student)
    assert loss == pytest.approx(ref_loss, rel=5e-3)
    # bf16 rounds every activation to 8 bits of mantissa, and a batch-mean gradient at initialization is a sum
    # of terms that mostly cancel, so its relative error is about 10 %; its direction must still agree.
    assert F.cosine_similarity(grads, ref_grads, dim=0) > 0.99
    assert (grads - ref_grads).norm() / ref_grads.norm() < 0.2


def test_bf16_teacher_logits_match_fp32():
    teacher = _resnet(20)
    x, _ = _batch()
    fast_teacher = prepare_teacher(teacher, "cpu", dtype=torch.bfloat16, channels_last=True)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        fast = fast_teacher(x.contiguous(memory_format=torch.channels_last)).float()
    with torch.no_grad():
        ref = teacher.eval()(x)
    assert (fast - ref).norm() / ref.norm() < 2e-2
    assert torch.equal(fast.argmax(1), ref.argmax(1))


def test_a_bf16_teacher_copy_runs_outside_autocast():
    """A hand-written fp32 loop (no autocast) with the bf16 copy a Distiller makes on CUDA: the teacher's
    forward must not fail on fp32 inputs (the device check's baseline (a) did, on an H200)."""
    student, teacher = _resnet(8, seed=2), _resnet(20)
    x, y = _batch()
    kd = KD(student.train(), prepare_teacher(teacher, "cpu", dtype=torch.bfloat16), T, W_CE, W_KD)
    with torch.no_grad():
        logits = kd.teacher_logits(x)
        ref = teacher.eval()(x)
    assert logits.dtype == torch.float32
    assert (logits - ref).norm() / ref.norm() < 2e-2
    _, losses = kd(x, y)
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in student.parameters())


def test_channels_last_matches_contiguous_in_fp32():
    student, teacher = _resnet(8, seed=2), _resnet(20)
    x, y = _batch()
    plain = KD(copy.deepcopy(student).train(), prepare_teacher(teacher, "cpu"), T, W_CE, W_KD)
    fast = KD(
        copy.deepcopy(student).to(memory_format=torch.channels_last).train(),
        prepare_teacher(teacher, "cpu", channels_last=True),
        T, W_CE, W_KD,
    )  # fmt: skip
    x_cl = x.contiguous(memory_format=torch.channels_last)
    loss, grads = _loss_and_grads(lambda: sum(plain(x, y)[1].values()), plain.student)
    loss_cl, grads_cl = _loss_and_grads(lambda: sum(fast(x_cl, y)[1].values()), fast.student)
    assert loss_cl == pytest.approx(loss, rel=1e-5)
    torch.testing.assert_close(grads_cl, grads, rtol=1e-4, atol=1e-5)


def test_device_batches_stay_channels_last_through_augmentation():
    data = synthetic(num_train=40, shape=(3, 8, 8))
    split = Split(data.train_x, data.train_y)
    kwargs = dict(batch_size=16, shuffle=True, crop_padding=2, hflip=True, seed=3)
    plain = list(DeviceBatches(split, data.mean, data.std, **kwargs))
    fast = list(DeviceBatches(split, data.mean, data.std, channels_last=True, **kwargs))
    assert [len(y) for _, y in fast] == [16, 16, 8]
    for (x, y), (x_cl, y_cl) in zip(plain, fast):
        assert x_cl.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(x_cl, x) and torch.equal(y_cl, y)


@pytest.mark.parametrize("drop_last", [False, True])
def test_fit_epoch_metrics_are_the_means_of_the_batch_losses(drop_last):
    """With lr = 0 the weights stay put, so the batches' losses can be recomputed independently after fit
    and the epoch's numbers must be their example-weighted means (over the examples actually seen)."""
    data = synthetic(num_train=70, shape=(3, 16, 16))
    split = Split(data.train_x, data.train_y)
    train = DeviceBatches(split, data.mean, data.std, 32, shuffle=True, crop_padding=2, hflip=True, drop_last=drop_last)
    objective = KD(_resnet(8, seed=2), prepare_teacher(_resnet(20), "cpu"), T, W_CE, W_KD)
    config = TrainConfig(epochs=1, batch_size=32, lr=0.0, momentum=0.0, weight_decay=0.0, schedule="constant", seed=5)
    (row,) = fit(objective, train, config, progress=False)

    train.generator.manual_seed(config.seed)  # the same batches and augmentation as fit drew
    sums, correct, seen = {"ce": 0.0, "kd": 0.0}, 0, 0
    with torch.no_grad():
        for x, y in train:
            logits, losses = objective.train()(x, y)
            for name in sums:
                sums[name] += losses[name].item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
    assert seen == (64 if drop_last else 70)
    assert row["ce"] == pytest.approx(sums["ce"] / seen, rel=1e-5)
    assert row["kd"] == pytest.approx(sums["kd"] / seen, rel=1e-5)
    assert row["loss"] == pytest.approx((sums["ce"] + sums["kd"]) / seen, rel=1e-5)
    assert row["train_acc"] == pytest.approx(correct / seen, rel=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fit_does_not_synchronize_inside_an_epoch():
    """The number of host syncs per epoch does not grow with the number of batches."""
    device = torch.device("cuda")
    data = synthetic(num_train=256, shape=(3, 16, 16))
    split = Split(data.train_x, data.train_y)

    def syncs(batch_size: int) -> int:
        train = DeviceBatches(
            split, data.mean, data.std, batch_size, shuffle=True, crop_padding=2, hflip=True,
            device=device, channels_last=True, drop_last=True,
        )  # fmt: skip
        student = _resnet(8).to(device, memory_format=torch.channels_last)
        objective = KD(student, prepare_teacher(_resnet(20), device), T, W_CE, W_KD)
        fit(
            objective, train, TrainConfig(epochs=1, batch_size=batch_size), progress=False
        )  # warm-up (cuDNN autotuning)
        torch.cuda.set_sync_debug_mode("warn")
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit(objective, train, TrainConfig(epochs=1, batch_size=batch_size), progress=False)
        finally:
            torch.cuda.set_sync_debug_mode(0)
        return sum("synchroniz" in str(w.message) for w in caught)

    assert syncs(128) == syncs(16)  # 2 batches vs 16 batches per epoch


def test_a_distiller_leaves_the_callers_teacher_as_it_was_and_caches_a_bf16_teachers_logits():
    data = synthetic(64, 16, num_classes=4)
    batches = DeviceBatches(Split(data.train_x, data.train_y), data.mean, data.std, 16, with_index=True)
    torch.manual_seed(0)
    teacher, student = build_model("mlp-32", 1, 4), build_model("mlp-16", 1, 4)
    kd = KD(student, teacher, T, W_CE, W_KD)
    assert kd.teacher is not teacher and not any(p.requires_grad for p in kd.teacher.parameters())
    assert teacher.training and all(p.requires_grad for p in teacher.parameters())  # on every device
    # a bf16 copy (as on CUDA) gets its logits cached under the same autocast as teacher_logits uses
    fast = KD(student, prepare_teacher(teacher, "cpu", dtype=torch.bfloat16), T, W_CE, W_KD)
    fast.cache_teacher_logits(batches)
    x, _, index = next(iter(batches))
    assert fast.cached_logits.dtype == torch.float32
    assert torch.equal(fast.teacher_logits(x, index), fast.teacher_logits(x))
