"""Autoregressive controller heads: buttons -> main x -> main y -> c x -> c y -> shoulder.

Label layout (ARCHITECTURE.md, int64 [..., 13]): columns 0-7 buttons A, B, X, Y,
Z, L, R, D-up (0/1); 8 main x, 9 main y, 10 c x, 11 c y (17 buckets); 12 shoulder
(5 buckets).

Each head sees the backbone's hidden state plus the values of the heads before
it: the labels in training (teacher forcing), the sampled values at play time.
The previous values are encoded as one vector `cond` (8 button bits, then a
one-hot per stick axis); head k reads the prefix of `cond` that covers the
heads before it, so one encoding serves both modes. The backbone state is first
projected once to `head_hidden` (shared by the five categorical heads), which
keeps the heads a small part of each step's cost however wide the backbone is.
Each categorical head is a 2-layer MLP (head_hidden units, then the policy's activation).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from exphil_assets.nets.activation import activate, check_activation
from exphil_assets.nets.linear import Linear, linear

NUM_BUTTONS = 8  # A, B, X, Y, Z, L, R, D-up
STICK_BUCKETS = 17  # per stick axis; bucket 8 is neutral
SHOULDER_BUCKETS = 5
NUM_LABEL_COLUMNS = NUM_BUTTONS + 4 + 1

# (name, label column, classes) of the categorical heads, in sampling order.
CATEGORICAL_HEADS: tuple[tuple[str, int, int], ...] = (
    ("main_x", 8, STICK_BUCKETS),
    ("main_y", 9, STICK_BUCKETS),
    ("c_x", 10, STICK_BUCKETS),
    ("c_y", 11, STICK_BUCKETS),
    ("shoulder", 12, SHOULDER_BUCKETS),
)
HEAD_NAMES: tuple[str, ...] = ("buttons",) + tuple(name for name, _, _ in CATEGORICAL_HEADS)


def _cond_dims() -> list[int]:
    """Width of the conditioning prefix each categorical head reads."""
    dims, width = [], NUM_BUTTONS
    for _, _, classes in CATEGORICAL_HEADS:
        dims.append(width)
        width += classes
    return dims


class ControllerHeads(nn.Module):
    """hidden [..., H] -> logits of the six heads, conditioned autoregressively.

    The heads are stored fused, so that teacher forcing is three matmuls:
    - `first`: H -> 8 button logits, then the shared `head_hidden` projection;
    - `hidden_layer`: [shared | cond] -> head_hidden units per categorical head,
      head k's rows masked to the conditioning prefix it may see;
    - `output_layer`: the heads' units -> their logits, block-diagonal.
    The masks are fixed buffers; masked weights start at zero and get no gradient.
    `sample` runs the same weights head by head.
    """

    def __init__(self, hidden_size: int, head_hidden: int = 64, activation: str = "gelu"):
        super().__init__()
        self.head_hidden = head_hidden
        self.activation = check_activation(activation)
        self.cond_dims = _cond_dims()
        full_cond = self.cond_dims[-1]
        heads = len(CATEGORICAL_HEADS)
        self.first = Linear(hidden_size, NUM_BUTTONS + head_hidden)
        self.hidden_layer = Linear(head_hidden + full_cond, heads * head_hidden)
        self.output_layer = Linear(heads * head_hidden, sum(classes for _, _, classes in CATEGORICAL_HEADS))
        self.blocks = self._blocks()
        hidden_mask = torch.zeros_like(self.hidden_layer.weight)
        output_mask = torch.zeros_like(self.output_layer.weight)
        for rows, out_rows, width in self.blocks:
            hidden_mask[rows, : head_hidden + width] = 1.0
            output_mask[out_rows, rows] = 1.0
            # nn.Linear's own init, with the fan-in each head really has.
            for layer, rows_k, fan_in in ((self.hidden_layer, rows, head_hidden + width),
                                          (self.output_layer, out_rows, head_hidden)):  # fmt: skip
                bound = fan_in**-0.5
                with torch.no_grad():
                    layer.weight[rows_k].uniform_(-bound, bound)
                    layer.bias[rows_k].uniform_(-bound, bound)
        self.register_buffer("_hidden_mask", hidden_mask, persistent=False)
        self.register_buffer("_output_mask", output_mask, persistent=False)
        with torch.no_grad():
            self.hidden_layer.weight.mul_(hidden_mask)
            self.output_layer.weight.mul_(output_mask)
        # where each stick axis's one-hot starts in the conditioning vector
        self.register_buffer("_stick_offsets", torch.tensor(self.cond_dims[:-1]), persistent=False)

    def _blocks(self) -> list[tuple[slice, slice, int]]:
        """Per categorical head: its rows in hidden_layer, its rows in output_layer, its cond width."""
        out, start = [], 0
        for k, ((_, _, classes), width) in enumerate(zip(CATEGORICAL_HEADS, self.cond_dims, strict=True)):
            rows = slice(k * self.head_hidden, (k + 1) * self.head_hidden)
            out.append((rows, slice(start, start + classes), width))
            start += classes
        return out

    def forward(self, hidden: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """Teacher-forced logits: every head is conditioned on the *label* values before it."""
        check_labels(labels, hidden)
        lead = hidden.shape[:-1]
        first = self.first(hidden.reshape(-1, hidden.shape[-1]))
        inp = self.teacher_input(first, labels.reshape(-1, NUM_LABEL_COLUMNS))
        w_hidden, w_out = self.masked_weights()
        z = activate(linear(inp, w_hidden, self.hidden_layer.bias), self.activation)
        return self.split_logits(first, linear(z, w_out, self.output_layer.bias), lead)

    def teacher_input(self, first: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """first [N, 8 + head_hidden], labels [N, 13] -> the hidden layer's input [shared units | cond]."""
        shared = activate(first[:, NUM_BUTTONS:], self.activation)
        return torch.cat([shared, self._teacher_condition(labels, shared.dtype)], dim=-1)

    def masked_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The hidden and output layers' weights, each head's rows cut to what it may see."""
        return self.hidden_layer.weight * self._hidden_mask, self.output_layer.weight * self._output_mask

    def split_logits(self, first: torch.Tensor, out: torch.Tensor, lead: torch.Size) -> dict[str, torch.Tensor]:
        """first [N, 8 + ...] and the output layer's out [N, all classes] -> logits per head, shaped [*lead, classes]."""
        logits = {"buttons": first[:, :NUM_BUTTONS].reshape(*lead, NUM_BUTTONS)}
        for (name, _, classes), (_, out_rows, _) in zip(CATEGORICAL_HEADS, self.blocks, strict=True):
            logits[name] = out[:, out_rows].reshape(*lead, classes)
        return logits

    def _teacher_condition(self, labels: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """labels [N, 13] -> cond [N, cond_dims[-1]]: the button bits, then a one-hot per stick axis."""
        cond = torch.zeros(labels.shape[0], self.cond_dims[-1], dtype=dtype, device=labels.device)
        cond[:, :NUM_BUTTONS] = labels[:, :NUM_BUTTONS]
        sticks = [col for _, col, _ in CATEGORICAL_HEADS[:-1]]
        return cond.scatter_(1, labels[:, sticks[0] : sticks[-1] + 1] + self._stick_offsets, 1.0)

    @torch.no_grad()
    def init_output_bias_(self, labels: torch.Tensor) -> None:
        """Set each head's output bias to the log-prior of `labels` [..., 13] (a fresh policy).

        The policy then starts at the class frequencies (loss: the labels' marginal
        entropy) instead of spending its first steps learning them; with one epoch at
        a small --lr, as in the quick preset, that was all it learned.
        """
        flat = labels.reshape(-1, NUM_LABEL_COLUMNS).cpu()
        pressed = flat[:, :NUM_BUTTONS].double().mean(0).clamp(1e-4, 1 - 1e-4)
        self.first.bias[:NUM_BUTTONS] = torch.log(pressed / (1 - pressed))
        for (_, col, classes), (_, out_rows, _) in zip(CATEGORICAL_HEADS, self.blocks, strict=True):
            freq = torch.bincount(flat[:, col], minlength=classes)[:classes].double() / max(flat.shape[0], 1)
            self.output_layer.bias[out_rows] = freq.clamp_min(1e-4).log()

    @torch.no_grad()
    def sample(
        self, hidden: torch.Tensor, deterministic: bool = True, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Sample a full action, head by head. Returns int64 [..., 13] in the label layout.

        deterministic: buttons pressed where p > 0.5, buckets by argmax, each head
        conditioned on the values already chosen. Otherwise draws from each head.
        """
        lead = hidden.shape[:-1]
        first = self.first(hidden.reshape(-1, hidden.shape[-1]))
        H = self.head_hidden
        # One input buffer [shared | cond] filled head by head (cheaper than cat + one_hot at batch 1).
        inp = first.new_zeros(first.shape[0], H + self.cond_dims[-1])
        inp[:, :H] = activate(first[:, NUM_BUTTONS:], self.activation)
        p_buttons = torch.sigmoid(first[:, :NUM_BUTTONS])
        if deterministic:
            buttons = (p_buttons > 0.5).long()
        else:
            buttons = torch.bernoulli(p_buttons, generator=generator).long()
        inp[:, H : H + NUM_BUTTONS] = buttons
        action = [buttons]
        hl, ol = self.hidden_layer, self.output_layer
        for (name, _, classes), (rows, out_rows, width) in zip(CATEGORICAL_HEADS, self.blocks, strict=True):
            z = activate(F.linear(inp[:, : H + width], hl.weight[rows, : H + width], hl.bias[rows]), self.activation)
            logits = F.linear(z, ol.weight[out_rows, rows], ol.bias[out_rows])
            if deterministic:
                value = logits.argmax(-1, keepdim=True)
            else:
                value = torch.multinomial(torch.softmax(logits.float(), -1), 1, generator=generator)
            action.append(value)
            if name != CATEGORICAL_HEADS[-1][0]:
                inp[:, H + width : H + width + classes].scatter_(1, value, 1.0)
        return torch.cat(action, dim=-1).reshape(*lead, NUM_LABEL_COLUMNS)

    def log_prob(self, hidden: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """log pi(action | hidden) [...]: the sum of the six heads' log-probs, each conditioned on `actions`."""
        return action_log_prob(self(hidden, actions), actions)

    def entropy(self, hidden: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Sum of per-head entropies [...], later heads conditioned on `actions` (teacher forcing)."""
        return action_entropy(self(hidden, actions))


def action_log_prob(logits: dict[str, torch.Tensor], actions: torch.Tensor) -> torch.Tensor:
    """Log-probability [...] of full actions [..., 13] under teacher-forced logits."""
    b_logits = logits["buttons"].float()
    total = -F.binary_cross_entropy_with_logits(
        b_logits, actions[..., :NUM_BUTTONS].to(b_logits.dtype), reduction="none"
    ).sum(-1)
    for name, col, _ in CATEGORICAL_HEADS:
        logp = torch.log_softmax(logits[name].float(), dim=-1)
        total = total + logp.gather(-1, actions[..., col : col + 1]).squeeze(-1)
    return total


def action_entropy(logits: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum of the heads' entropies [...] (buttons: sum of 8 Bernoulli entropies)."""
    b = logits["buttons"].float()
    p = torch.sigmoid(b)
    # H(Bernoulli) = softplus(l) - p*l, stable for large |l|.
    total = (F.softplus(b) - p * b).sum(-1)
    for name, _, _ in CATEGORICAL_HEADS:
        logp = torch.log_softmax(logits[name].float(), dim=-1)
        total = total - (logp.exp() * logp).sum(-1)
    return total


def check_labels(labels: torch.Tensor, hidden: torch.Tensor) -> None:
    if labels.shape[-1] != NUM_LABEL_COLUMNS or labels.shape[:-1] != hidden.shape[:-1]:
        raise ValueError(
            f"ControllerHeads: labels have shape {tuple(labels.shape)}, expected "
            f"{tuple(hidden.shape[:-1]) + (NUM_LABEL_COLUMNS,)} (hidden is {tuple(hidden.shape)})"
        )
    if labels.dtype != torch.long:
        raise ValueError(f"ControllerHeads: labels must be int64, got {labels.dtype}")
