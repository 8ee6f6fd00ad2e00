"""Knowledge Representing (Liu, Wen et al. 2019): the teacher's parameters as a
prior for the student's.

**Reconstruction.** Only the paper's abstract (arXiv 1911.05329) could be read,
and no code was published. The abstract names two parts: a *knowledge
aggregation* that brings the teacher's parameter distribution to "a more
abstract level", and a *sparse recoding penalty* under which the student "learns
with penalized gradients". Everything below is our reconstruction of that
description, not the paper's formulation:

* **Layer matching** (:func:`match_layers`): weight layers are the ``nn.Linear``
  and ``nn.Conv*`` modules in module order, grouped by kind and kernel size
  (Linear; 3×3 conv; 1×1 conv; …). Within a group, the student's ``i``-th of
  ``n_s`` layers is matched to the teacher's layer at the same relative depth,
  ``round(i · (n_t − 1) / (n_s − 1))``: first to first, last to last, and the
  ``i``-th to the ``i``-th when the counts are equal (an MLP's ``i``-th Linear
  to the teacher's ``i``-th Linear). A group the teacher lacks gets no prior.
  Two MLPs of different depths are matched from the input instead
  (:func:`chain_pairs`), so that each student unit is pooled from the same
  teacher units on its way in and on its way out.
* **Aggregation** (:func:`aggregate`): the matched teacher weight is
  average-pooled to the student weight's shape, axis by axis
  (``adaptive_avg_pool1d`` on every axis whose size differs; matched layers have
  the same kernel, so only the output and input axes change). Adaptive pooling
  is separable, so this is ``adaptive_avg_pool2d`` over the (out, in) axes with
  the kernel axes kept.
* **Which units are merged** (:func:`order_units`): pooling merges *consecutive*
  units, but a layer's unit order is arbitrary, so merging units 0–3 averages
  unrelated features. For a chain of Linear layers (an MLP) we first reorder the
  teacher's hidden units, without changing its function, so that similar units
  (by the cosine of their incoming weights) sit next to each other; pooling then
  merges similar units.
* **Prior** (:func:`prior_loss`): ``½ Σ_l ‖W_S^l − Ŵ_l‖²`` with ``Ŵ_l = A_l ·
  std(W_S^l) / std(A_l)``, the aggregated teacher weight rescaled to the student
  layer's current spread (:func:`rescale_std`), so the prior pulls the *pattern*
  of the weights and leaves their scale to training. Its gradient, ``β (W_S −
  Ŵ)``, is a weight decay toward the aggregated teacher instead of toward zero,
  so ``β`` has the units of a weight-decay coefficient.
* **Sparse recoding** (:func:`recode_gradient`): the prior's gradient, and only
  it, is recoded before it reaches the weights: keep its top-ρ fraction by
  magnitude (:func:`top_fraction`) or soft-threshold it
  (:func:`soft_threshold`). The CE and KD gradients pass unchanged.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn

from ..objectives import Distiller
from .kd import kd_loss

# below this spread a tensor has no pattern (constant, or one entry): it
# standardizes to zeros, not to inf
FLAT = 1e-12


def weight_layers(model: nn.Module) -> dict[tuple, list[nn.Module]]:
    """``model``'s ``nn.Linear`` and ``nn.Conv*`` modules in module order
    (definition order for kdcore's models), grouped by ``("linear",)`` or
    ``("conv", *kernel_size)``."""
    groups: dict[tuple, list[nn.Module]] = {}
    for m in model.modules():
        if isinstance(m, nn.Linear):
            groups.setdefault(("linear",), []).append(m)
        elif isinstance(m, nn.modules.conv._ConvNd):
            groups.setdefault(("conv", *m.weight.shape[2:]), []).append(m)
    return groups


def relative_depth_index(i: int, n_student: int, n_teacher: int) -> int:
    """The teacher layer at the same relative depth as the student's ``i``-th of
    ``n_student`` layers.

    ``round(i · (n_t − 1) / (n_s − 1))`` (halves up): first to first, last to
    last, identity when the counts are equal. A single student layer is matched
    to the teacher's last (the classifier, for linear layers).
    """
    if n_student == 1:
        return n_teacher - 1
    return math.floor(i * (n_teacher - 1) / (n_student - 1) + 0.5)


def linear_chain(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of ``model`` if it is a chain of them (an MLP: every
    parametrized leaf is a Linear and each feeds the next); raises
    ``ValueError`` otherwise."""
    leaves = [
        m
        for m in model.modules()
        if next(m.children(), None) is None
        and any(True for _ in m.parameters())
    ]
    chain = [m for m in leaves if isinstance(m, nn.Linear)]
    links_fit = all(a.out_features == b.in_features for a, b in pairwise(chain))
    if not chain or len(chain) != len(leaves) or not links_fit:
        raise ValueError(
            "not an MLP (a chain of Linear layers with elementwise activations)"
        )
    return chain


def chain_pairs(
    student: list[nn.Linear], teacher: list[nn.Linear]
) -> list[tuple[nn.Linear, nn.Linear]]:
    """Match two MLPs' Linear layers from the input: the ``i``-th to the
    ``i``-th while both have a hidden layer there, and output layer to output
    layer only if the depths are equal (**our choice**).

    A student unit's prior must come from the same teacher units on the way in
    (its row of layer ``i``) and on the way out (its column of layer ``i+1``),
    or the prior does not describe one network. With ``mlp-32`` (two Linear
    layers) against ``mlp-512-512`` (three), the student's output layer would
    need a teacher layer from the *first* hidden layer to the classes, which a
    deeper teacher does not have; so only its hidden layer gets a prior.
    (Matching from the output would keep the classifier and drop the first
    layer instead; we keep the layer whose inputs, the pixels, are the same
    in both networks.)
    """
    hidden = min(len(student), len(teacher)) - 1
    pairs = list(zip(student[:hidden], teacher[:hidden]))
    if len(student) == len(teacher):
        pairs.append((student[-1], teacher[-1]))
    return pairs


def match_layers(
    student: nn.Module, teacher: nn.Module, matching: str = "chain"
) -> list[tuple[nn.Module, nn.Module]]:
    """``(student_layer, teacher_layer)`` pairs, by relative depth within each
    group of :func:`weight_layers`; two MLPs by :func:`chain_pairs` unless
    ``matching="depth"`` (relative depth for them too, which misaligns a
    shallower MLP's prior: kept to show what that costs).

    **Reconstructed** rule (the abstract does not say how layers are matched).
    Two MLPs of the same depth: the ``i``-th Linear to the ``i``-th Linear.
    Networks of different depths (resnet32x4 → resnet8x4): the student's 7 3×3
    convs take teacher 3×3 convs 0, 5, 10, …, 30 (stem to stem, last to last,
    the rest spread evenly in between), its three 1×1 shortcuts take the
    teacher's three, and fc takes fc; teacher layers in between are not used.
    Pairs keep their order but need not sit in the same stage.
    """
    if matching not in ("chain", "depth"):
        raise ValueError(
            f"unknown matching {matching!r}: use 'chain' or 'depth'"
        )
    if matching == "chain":
        try:
            return chain_pairs(linear_chain(student), linear_chain(teacher))
        except ValueError:
            pass  # not two MLPs
    teacher_groups = weight_layers(teacher)
    pairs = []
    for key, s_layers in weight_layers(student).items():
        t_layers = teacher_groups.get(key, [])
        if t_layers:
            n_s, n_t = len(s_layers), len(t_layers)
            pairs += [
                (s, t_layers[relative_depth_index(i, n_s, n_t)])
                for i, s in enumerate(s_layers)
            ]
    return pairs


def aggregate(
    weight: torch.Tensor, shape: torch.Size | tuple[int, ...]
) -> torch.Tensor:
    """Average-pool ``weight`` to ``shape``, axis by axis (**reconstructed**
    knowledge aggregation).

    Each axis whose size differs is pooled with ``adaptive_avg_pool1d``: output
    ``j`` of ``m`` averages the inputs ``floor(j·n/m) … ceil((j+1)·n/m) − 1`` of
    ``n``, so a 512→128 output axis averages groups of 4 consecutive units. Axes
    of equal size (e.g. 3×3 kernels on both sides) are kept. Adaptive pooling is
    separable, so pooling axis by axis equals ``adaptive_avg_pool2d`` over (out,
    in). An axis the student has more of is stretched (entries repeated), which
    adaptive pooling also defines.
    """
    if weight.dim() != len(shape):
        raise ValueError(
            f"cannot aggregate a {tuple(weight.shape)} weight to "
            f"{tuple(shape)}: ranks differ"
        )
    out = weight
    for axis, size in enumerate(shape):
        if out.shape[axis] != size:
            moved = out.movedim(axis, -1)
            pooled = F.adaptive_avg_pool1d(
                moved.reshape(-1, 1, moved.shape[-1]), size
            )
            out = pooled.reshape(*moved.shape[:-1], size).movedim(-1, axis)
    return out


def similarity_order(vectors: torch.Tensor) -> torch.Tensor:
    """A permutation of the rows of ``vectors`` that puts similar rows next to
    each other.

    Greedy nearest-neighbour chaining: start at row 0, then repeatedly step to
    the unvisited row of highest cosine similarity to the current one. (One host
    sync per row; it runs once, before training.)
    """
    unit = F.normalize(vectors.float(), dim=1)
    similarity = unit @ unit.T
    visited = torch.zeros(len(unit), dtype=torch.bool, device=unit.device)
    order = [0]
    visited[0] = True
    for _ in range(len(unit) - 1):
        nearest = int(similarity[order[-1]].masked_fill(visited, -2.0).argmax())
        order.append(nearest)
        visited[nearest] = True
    return torch.tensor(order, device=unit.device)


@torch.no_grad()
def order_units(model: nn.Module) -> nn.Module:
    """A copy of the MLP ``model`` that computes the same function, with each
    hidden layer's units ordered by :func:`similarity_order` of their incoming
    weights and bias (**our choice**, see the module docstring).

    Permuting a hidden layer's units (its rows and bias) and, consistently, the
    next layer's input columns leaves the network's output unchanged, because
    the activation acts elementwise.
    """
    model = copy.deepcopy(model)
    chain = linear_chain(model)
    for layer, following in pairwise(chain):
        incoming = (
            torch.cat([layer.weight, layer.bias[:, None]], 1)
            if layer.bias is not None
            else layer.weight
        )
        order = similarity_order(incoming)
        # a pruned teacher's masks (weight_mask, bias_mask) move with their
        # entries, so the copy stays the same masked network
        for tensor in [*layer.parameters(), *layer.buffers()]:
            tensor.copy_(tensor[order])
        for tensor in (
            following.weight,
            getattr(following, "weight_mask", None),
        ):
            if tensor is not None:
                tensor.copy_(tensor[:, order])
    return model


def standardize(t: torch.Tensor) -> torch.Tensor:
    """``t / std(t)``: its pattern at spread 1 (zeros if ``t`` has none)."""
    spread = t.std()
    return t / spread if spread > FLAT else torch.zeros_like(t)


def rescale_std(target: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``target · std(like) / std(target)``: the aggregated weight at the
    student layer's spread.

    Averaging shrinks a tensor's spread (4 independent units averaged: half the
    std), so without this the prior would mostly pull the student's weights
    toward zero. Call it with ``like`` detached: the scale is a target, not
    something to optimize through. :class:`KR` computes it in two steps:
    :func:`standardize` once, then times ``std(like)`` at every step.
    """
    return standardize(target) * like.std()


def prior_loss(
    weights: list[torch.Tensor], targets: list[torch.Tensor]
) -> torch.Tensor:
    """``½ Σ_l ‖W_l − Ŵ_l‖²``: its gradient with respect to ``W_l`` is ``W_l −
    Ŵ_l`` (**reconstructed**)."""
    return sum(0.5 * (w - t).pow(2).sum() for w, t in zip(weights, targets))


def top_fraction(grad: torch.Tensor, rho: float) -> torch.Tensor:
    """Keep the ``k = round(ρ · numel)`` entries of largest magnitude, zero the
    rest.

    Exactly ``k`` entries are kept even with ties: of the entries equal to the
    ``k``-th largest magnitude, the first ones in flat (row-major) order are
    kept. Runs on the tensor's device without host syncs (``k`` comes from the
    shape).
    """
    if not 0.0 <= rho <= 1.0:
        raise ValueError(f"rho must be a fraction in [0, 1], got {rho}")
    k = round(rho * grad.numel())
    if k == 0:
        return torch.zeros_like(grad)
    if k >= grad.numel():
        return grad.clone()
    magnitude = grad.detach().abs().flatten()
    # the k-th largest magnitude
    threshold = magnitude.topk(k, sorted=False).values.min()
    above = magnitude > threshold
    tied = magnitude == threshold
    keep = above | (tied & (tied.cumsum(0) <= k - above.sum()))
    return torch.where(keep.view_as(grad), grad, torch.zeros_like(grad))


def soft_threshold(
    grad: torch.Tensor, lam: float | torch.Tensor
) -> torch.Tensor:
    """``sign(g) · max(|g| − λ, 0)``: the proximal step of an L1 penalty (sparse
    coding's shrinkage). Written as ``g`` minus its part inside ``[−λ, λ]``:
    the same values, and a plain ``0`` (not ``-0``) where ``|g| ≤ λ``."""
    return grad - grad.clamp(-lam, lam)


class _RecodeGradient(torch.autograd.Function):
    """Identity in the forward pass; ``recode(grad)`` in the backward pass."""

    @staticmethod
    def forward(ctx, tensor, recode):
        ctx.recode = recode
        return tensor.view_as(tensor)

    @staticmethod
    def backward(ctx, grad):
        return ctx.recode(grad), None


def recode_gradient(
    tensor: torch.Tensor, recode: Callable[[torch.Tensor], torch.Tensor]
) -> torch.Tensor:
    """``tensor`` unchanged, but the gradient flowing back *through this use of
    it* is ``recode(grad)``.

    Wrap a weight where it enters the prior term only: the gradients of other
    terms that use the same weight (CE, KD) reach it through other paths and are
    not recoded; autograd adds the recoded prior gradient to them in ``.grad``.
    """
    return _RecodeGradient.apply(tensor, recode)


def make_recoder(
    rule: str, rho: float = 0.1, tau: float = 1.0
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The per-layer recoding of the prior's gradient: ``"topk"`` (keep the
    top-ρ fraction by magnitude), ``"soft"`` (soft-threshold at ``λ = τ ·
    mean|g|``, relative to the layer's gradient, so one ``τ`` fits layers of any
    size and any ``β``) or ``"none"``."""
    if rule == "topk":
        return lambda grad: top_fraction(grad, rho)
    if rule == "soft":
        return lambda grad: soft_threshold(grad, tau * grad.abs().mean())
    if rule == "none":
        return lambda grad: grad
    raise ValueError(f"unknown recoding {rule!r}: use 'topk', 'soft' or 'none'")


class KR(Distiller):
    """``w_ce · CE + w_kd · kd_loss(s, t, T) + β · prior`` with the prior's
    gradient sparsely recoded.

    **Reconstructed** from the abstract (see the module docstring). ``w_kd=0``
    is KR alone; ``w_kd>0`` is KD+KR. The aggregated teacher weights are
    computed once (the teacher is frozen) and kept as buffers; at each step they
    are rescaled to the student's current per-layer std. The reported ``"kr"``
    term is the true value of ``β · prior``; only its gradient is recoded,
    inside the autograd graph, so :func:`kdcore.fit.fit` needs no hook: it sums
    and backpropagates the terms as usual.

    Args:
        beta: weight of the prior, a weight-decay-like rate toward the
            aggregated teacher.
        recode, rho, tau: see :func:`make_recoder`.
        unit_order: ``"similar"`` merges similar teacher units
            (:func:`order_units`; MLP teachers only); ``"index"`` pools the
            teacher's units in their stored order (any architecture).
        matching: how layers are paired, see :func:`match_layers`.
        temperature, w_ce, w_kd: as in :class:`~kdcore.losses.kd.KD`.
    """

    def __init__(
        self,
        student: nn.Module,
        teacher: nn.Module,
        beta: float = 5e-3,
        recode: str = "topk",
        rho: float = 0.1,
        tau: float = 1.0,
        temperature: float = 4.0,
        w_ce: float = 1.0,
        w_kd: float = 0.0,
        unit_order: str = "similar",
        matching: str = "chain",
    ):
        super().__init__(student, teacher)
        self.beta, self.temperature, self.w_ce, self.w_kd = (
            beta,
            temperature,
            w_ce,
            w_kd,
        )
        # settings, so that a cache key (teachers.describe) tells rules apart
        self.recode_rule, self.rho, self.tau = recode, rho, tau
        self.unit_order, self.matching = unit_order, matching
        self.recode = make_recoder(recode, rho, tau)
        if unit_order not in ("similar", "index"):
            raise ValueError(
                f"unknown unit_order {unit_order!r}: use 'similar' or 'index'"
            )
        pairs = match_layers(
            student,
            order_units(teacher) if unit_order == "similar" else teacher,
            matching,
        )
        if not pairs:
            raise ValueError(
                "KR needs a student layer with a teacher counterpart; "
                "none matched (see match_layers)"
            )
        # a plain list: the modules are registered in self.model
        self.student_layers = [s for s, _ in pairs]
        # standardize(A_l), once: rescale_std(A_l, W) = that · std(W) at every
        # step (prior)
        with torch.no_grad():
            for i, (s, t) in enumerate(pairs):
                aggregated = aggregate(t.weight.float(), s.weight.shape)
                self.register_buffer(f"prior_{i}", standardize(aggregated))

    def priors(self) -> list[torch.Tensor]:
        """The aggregated teacher weight of each matched student layer,
        standardized to std 1."""
        return [
            getattr(self, f"prior_{i}") for i in range(len(self.student_layers))
        ]

    def prior(self) -> torch.Tensor:
        """``β · ½ Σ_l ‖W_S^l − Ŵ_l‖²``, whose gradient reaches the student's
        weights recoded."""
        weights = [layer.weight for layer in self.student_layers]
        targets = [
            a * w.detach().float().std() for a, w in zip(self.priors(), weights)
        ]
        return self.beta * prior_loss(
            [recode_gradient(w, self.recode) for w in weights], targets
        )

    @property
    def runs_teacher(self) -> bool:
        return bool(self.w_kd)  # KR alone never looks at the teacher's outputs

    def forward(self, x, y, index=None):
        logits = self.student(x)
        losses = {"ce": self.w_ce * F.cross_entropy(logits, y)}
        if self.w_kd:
            losses["kd"] = self.w_kd * kd_loss(
                logits, self.teacher_logits(x, index), self.temperature
            )
        losses["kr"] = self.prior()
        return logits, losses
