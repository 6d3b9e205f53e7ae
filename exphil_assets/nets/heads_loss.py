"""The heads' teacher-forced imitation loss as one autograd node, with a hand-written backward.

It gives what `ControllerHeads.forward` followed by `training.loss.imitation_loss` gives
(per-head loss sums, and the logits for the metrics) up to fp32 rounding, tested so.
Why: autograd records about sixty small nodes for the heads and the loss (slices,
masks, concatenations, the cross-entropies and their backwards). On two CPU cores
they cost more than the heads' products; for the 512-wide MLP policy this node
takes the heads and loss from ~3.1 to ~2.0-2.5 ms of a batch of 256 (2 cores). The logits'
gradient (softmax minus target) is formed in the forward, and the backward is
six products and a few elementwise passes. The conditioning vector gets no
gradient, so only the shared units' columns of the hidden layer are multiplied back.

The loss, per frame: buttons, the mean over the 8 buttons of a binary
cross-entropy; each categorical head, a cross-entropy with label smoothing `eps`:
(1 - eps) * nll + eps * mean over classes of -log p.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from exphil_assets.nets.activation import activate, activation_backward
from exphil_assets.nets.heads import (
    CATEGORICAL_HEADS,
    NUM_BUTTONS,
    NUM_LABEL_COLUMNS,
    ControllerHeads,
    check_labels,
)
from exphil_assets.nets.linear import linear_no_grad

_STICKS = 4  # the first four categorical heads are the stick axes, with equal class counts
_STICK_CLASSES = CATEGORICAL_HEADS[0][2]
_SHOULDER_CLASSES = CATEGORICAL_HEADS[_STICKS][2]
assert [c for _, _, c in CATEGORICAL_HEADS] == [_STICK_CLASSES] * _STICKS + [_SHOULDER_CLASSES]
assert [col for _, col, _ in CATEGORICAL_HEADS] == list(range(NUM_BUTTONS, NUM_LABEL_COLUMNS))
_STICK_WIDTH = _STICKS * _STICK_CLASSES  # logits of the stick heads, then the shoulder's
_CLASSES = torch.tensor([c for _, _, c in CATEGORICAL_HEADS])


def fused_loss_applies(hidden: torch.Tensor) -> bool:
    """fp32 outside autocast: the hand-written backward keeps every tensor in fp32."""
    return hidden.dtype == torch.float32 and not torch.is_autocast_enabled(hidden.device.type)


def heads_imitation_loss(
    heads: ControllerHeads, hidden: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """hidden [..., H] fp32, labels int64 [..., 13] -> (detached logits per head, loss sums [6] over frames).

    The loss sums are in HEADS order (buttons, main_x, main_y, c_x, c_y, shoulder).
    """
    if not fused_loss_applies(hidden):
        raise ValueError(f"heads_imitation_loss: needs fp32 outside autocast, got {hidden.dtype}")
    check_labels(labels, hidden)
    lead = hidden.shape[:-1]
    first, out, losses = _HeadsLoss.apply(
        hidden.reshape(-1, hidden.shape[-1]), labels.reshape(-1, NUM_LABEL_COLUMNS), float(label_smoothing), heads,
        heads.first.weight, heads.first.bias, heads.hidden_layer.weight, heads.hidden_layer.bias,
        heads.output_layer.weight, heads.output_layer.bias,
    )  # fmt: skip
    return heads.split_logits(first, out, lead), losses


def _log_softmax_loss(
    logits: torch.Tensor, targets: torch.Tensor, eps: float, want_grad: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """logits [N, ..., C], targets [N, ...] -> (loss summed over N [...], d loss / d logits or None)."""
    logp = torch.log_softmax(logits, dim=-1)
    nll = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1).neg_()
    if eps:
        nll = nll.mul_(1.0 - eps).add_(logp.mean(-1).neg_(), alpha=eps)
    loss = nll.sum(0)
    if not want_grad:
        return loss, None
    grad = logp.exp_()  # softmax - smoothed one-hot
    if eps:
        grad.sub_(eps / logits.shape[-1])
    grad.scatter_add_(-1, targets.unsqueeze(-1), grad.new_full((*targets.shape, 1), eps - 1.0))
    return loss, grad


class _HeadsLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, labels, eps, heads, w_first, b_first, w_hidden, b_hidden, w_out, b_out):
        n = hidden.shape[0]
        first = linear_no_grad(hidden, w_first, b_first)  # [N, 8 + head_hidden]
        pre_shared = first[:, NUM_BUTTONS:]
        inp = heads.teacher_input(first, labels)  # [shared units | cond], cond: the label values (teacher forcing)
        # (the weights come in as arguments so that autograd hands them their gradients)
        masked_hidden, masked_out = heads.masked_weights()
        pre_units = linear_no_grad(inp, masked_hidden, b_hidden)  # [N, heads * head_hidden]
        units = activate(pre_units, heads.activation)
        out = linear_no_grad(units, masked_out, b_out)  # [N, all classes]

        want_grad = any(ctx.needs_input_grad)
        button_logits, pressed = first[:, :NUM_BUTTONS], labels[:, :NUM_BUTTONS].to(first.dtype)
        button_loss = F.binary_cross_entropy_with_logits(button_logits, pressed, reduction="sum") / NUM_BUTTONS
        sticks = labels[:, NUM_BUTTONS : NUM_BUTTONS + _STICKS]
        stick_loss, d_sticks = _log_softmax_loss(
            out[:, :_STICK_WIDTH].view(n, _STICKS, _STICK_CLASSES), sticks, eps, want_grad
        )
        shoulder_loss, d_shoulder = _log_softmax_loss(out[:, _STICK_WIDTH:], labels[:, -1], eps, want_grad)
        losses = torch.cat([button_loss.view(1), stick_loss, shoulder_loss.view(1)])
        ctx.mark_non_differentiable(first, out)
        if want_grad:
            d_buttons = torch.sigmoid(button_logits).sub_(pressed).div_(NUM_BUTTONS)
            d_out = torch.cat([d_sticks.view(n, _STICK_WIDTH), d_shoulder], dim=1)
            ctx.save_for_backward(hidden, w_first, masked_hidden, masked_out)
            # (pre_shared is a view of the returned `first`: callers read the logits, never write them)
            ctx.intermediates = (pre_shared, inp, pre_units, units, d_buttons, d_out)
            ctx.heads = heads
        return first, out, losses

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, _d_first, _d_out, d_losses):
        hidden, w_first, masked_hidden, masked_out = ctx.saved_tensors
        pre_shared, inp, pre_units, units, d_buttons, d_out = ctx.intermediates
        heads, width = ctx.heads, ctx.heads.head_hidden
        # Each head's logits scaled by the gradient of its own loss sum (one value each, in practice).
        # (out of place: a second backward through a retained graph must find them unscaled)
        d_out = d_out * torch.repeat_interleave(d_losses[1:], _CLASSES.to(d_losses.device))
        d_units = linear_no_grad(d_out, masked_out.t())
        d_pre_units = activation_backward(heads.activation, d_units, pre_units, units)
        # Back to the shared units only: the cond columns (labels) get no gradient.
        d_shared = linear_no_grad(d_pre_units, masked_hidden[:, :width].t())
        d_shared = activation_backward(heads.activation, d_shared, pre_shared, inp[:, :width])
        d_first = torch.cat([d_buttons * d_losses[0], d_shared], 1)
        need = ctx.needs_input_grad
        grads = [None] * 10
        if need[0]:
            grads[0] = linear_no_grad(d_first, w_first.t())
        if need[4] or need[5]:
            grads[4], grads[5] = linear_no_grad(d_first.t(), hidden.t()), d_first.sum(0)
        if need[6] or need[7]:
            grads[6] = linear_no_grad(d_pre_units.t(), inp.t()).mul_(heads._hidden_mask)
            grads[7] = d_pre_units.sum(0)
        if need[8] or need[9]:
            grads[8], grads[9] = linear_no_grad(d_out.t(), units.t()).mul_(heads._output_mask), d_out.sum(0)
        return tuple(grads)
