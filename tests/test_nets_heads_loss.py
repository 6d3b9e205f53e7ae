"""The fused heads loss (one autograd node) against heads(...) + imitation_loss under autograd."""

from __future__ import annotations

import pytest
import torch
from tiny_policies import random_inputs, random_labels, tiny_policy

from exphil_assets.nets.activation import ACTIVATIONS
from exphil_assets.nets.heads import ControllerHeads
from exphil_assets.nets.heads_loss import fused_loss_applies, heads_imitation_loss
from exphil_assets.training.loss import HEADS, ImitationObjective, imitation_loss


def _heads(hidden: int, head_hidden: int, seed: int = 0, activation: str = "gelu") -> ControllerHeads:
    """Heads with every weight moved off its init, the masked ones kept at zero."""
    torch.manual_seed(seed)
    heads = ControllerHeads(hidden, head_hidden, activation)
    with torch.no_grad():
        for p in heads.parameters():
            p.add_(0.2 * torch.randn_like(p))
        heads.hidden_layer.weight.mul_(heads._hidden_mask)
        heads.output_layer.weight.mul_(heads._output_mask)
    return heads


def _reference(heads, hidden, labels, eps, weights):
    """Logits, loss sums [6] and gradients (hidden, then each parameter) under plain autograd."""
    hidden = hidden.detach().requires_grad_()
    logits = heads(hidden, labels)
    sums = torch.stack([imitation_loss(logits, labels, eps).heads[h] for h in HEADS])
    grads = torch.autograd.grad((sums * weights).sum(), [hidden, *heads.parameters()])
    return {k: v.detach() for k, v in logits.items()}, sums.detach(), grads


def _fused(heads, hidden, labels, eps, weights):
    hidden = hidden.detach().requires_grad_()
    logits, sums = heads_imitation_loss(heads, hidden, labels, eps)
    grads = torch.autograd.grad((sums * weights).sum(), [hidden, *heads.parameters()])
    return logits, sums.detach(), grads


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(
    ("hidden", "head_hidden", "lead", "eps"),
    [(24, 16, (3, 5), 0.0), (24, 16, (3, 5), 0.1), (512, 64, (256, 1), 0.0), (256, 64, (4, 60), 0.05)],
)
def test_fused_loss_matches_autograd_values_and_gradients(hidden, head_hidden, lead, eps, activation):
    # lead (256, 1) and (4, 60) are training batches: their products take the oneDNN path.
    heads = _heads(hidden, head_hidden, activation=activation)
    h = torch.randn(*lead, hidden, generator=torch.Generator().manual_seed(2))
    labels = random_labels(lead)
    weights = torch.tensor([0.7, 1.3, 0.2, 2.0, 0.9, 1.1])  # a different gradient per head's loss
    ref_logits, ref_sums, ref_grads = _reference(heads, h, labels, eps, weights)
    logits, sums, grads = _fused(heads, h, labels, eps, weights)
    assert logits.keys() == ref_logits.keys()
    for name in HEADS:
        assert logits[name].shape == ref_logits[name].shape, name
        assert torch.allclose(logits[name], ref_logits[name], rtol=1e-5, atol=1e-5), name
    assert torch.allclose(sums, ref_sums, rtol=1e-5), (sums, ref_sums)
    names = ["hidden"] + [n for n, _ in heads.named_parameters()]
    for name, a, r in zip(names, grads, ref_grads, strict=True):
        assert torch.allclose(a, r, rtol=1e-4, atol=1e-5 * float(r.abs().max())), name


def test_masked_head_weights_get_no_gradient():
    heads = _heads(24, 16)
    h = torch.randn(6, 1, 24)
    _, sums = heads_imitation_loss(heads, h, random_labels((6, 1)))
    sums.sum().backward()
    assert not heads.hidden_layer.weight.grad[heads._hidden_mask == 0].any()
    assert not heads.output_layer.weight.grad[heads._output_mask == 0].any()
    assert heads.hidden_layer.weight.grad[heads._hidden_mask == 1].abs().sum() > 0


def test_a_retained_graph_gives_the_same_gradient_twice():
    heads = _heads(24, 16)
    h = torch.randn(5, 2, 24, requires_grad=True)
    _, sums = heads_imitation_loss(heads, h, random_labels((5, 2)))
    first = torch.autograd.grad(sums.sum(), h, retain_graph=True)[0]
    second = torch.autograd.grad(sums.sum(), h)[0]
    assert torch.equal(first, second)


def test_without_grad_it_gives_the_same_losses():
    heads = _heads(24, 16)
    h, labels = torch.randn(4, 3, 24), random_labels((4, 3))
    _, with_graph = heads_imitation_loss(heads, h.requires_grad_(), labels, 0.1)
    with torch.no_grad():
        _, plain = heads_imitation_loss(heads, h, labels, 0.1)
    assert torch.equal(plain, with_graph.detach())


def test_it_refuses_bf16_and_autocast():
    heads = _heads(24, 16)
    with pytest.raises(ValueError, match="fp32"):
        heads_imitation_loss(heads, torch.randn(2, 1, 24).bfloat16(), random_labels((2, 1)))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not fused_loss_applies(torch.randn(2, 24))
    assert fused_loss_applies(torch.randn(2, 24))


@pytest.mark.parametrize("backbone", ["mlp", "gru"])
def test_objective_is_the_policy_forward_plus_imitation_loss(backbone):
    policy = tiny_policy(backbone).train()
    floats, ids = random_inputs(3, 4)
    labels = random_labels((3, 4))
    objective = ImitationObjective(policy, label_smoothing=0.1)
    torch.manual_seed(5)  # the same dropout masks in both runs
    logits, losses = objective(floats, ids, labels)
    torch.manual_seed(5)
    ref_logits, _ = policy(floats, ids, labels)
    reference = imitation_loss(ref_logits, labels, 0.1)
    assert losses.frames == reference.frames == 12
    for name in HEADS:
        assert losses.heads[name].item() == pytest.approx(reference.heads[name].item(), rel=1e-5), name
        assert torch.allclose(logits[name], ref_logits[name].detach(), atol=1e-5), name
    assert losses.total.item() == pytest.approx(reference.total.item(), rel=1e-5)


def test_objective_under_bf16_autocast_uses_the_reference_path():
    policy = tiny_policy("mlp").eval()
    floats, ids = random_inputs(2, 3)
    labels = random_labels((2, 3))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, losses = ImitationObjective(policy)(floats, ids, labels)
        ref_logits, _ = policy(floats, ids, labels)
    reference = imitation_loss(ref_logits, labels)
    assert losses.stacked is None and losses.total.dtype == torch.float32
    assert losses.total.item() == pytest.approx(reference.total.item(), rel=1e-6)
