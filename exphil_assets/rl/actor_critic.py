"""The actor-critic of PPO: an imitation Policy (any backbone) plus a value head.

The actor IS the imitation policy, its encoder, backbone and autoregressive heads
unchanged, so before any update it gives exactly the imitation policy's action
distribution. The critic is a small MLP on the same backbone hidden state.

Two ways to run it, which must agree (tested):
- `act`: one frame per call in step mode, carrying the backbone state through a
  rollout (the state of a game that just ended is reset first);
- `evaluate`: a whole rollout segment [B, T] at once through the parallel forward,
  started from the state stored at the segment's start and reset where a game
  starts inside the segment. The PPO update uses it, so recurrent policies get
  gradients through time exactly for the actions they took.

The network is kept in eval mode: dropout would make the PPO ratio differ from 1
on data the policy has not changed on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from exphil_assets.nets.heads import CATEGORICAL_HEADS, action_entropy, action_log_prob
from exphil_assets.nets.linear import Linear
from exphil_assets.nets.policy import Policy

State = tuple[torch.Tensor, ...]  # backbone state: tensors with the batch on dim 1 (empty for the MLP)


def select_state(state: State, index: torch.Tensor) -> State:
    """The state of some batch rows (batch on dim 1)."""
    return tuple(s.index_select(1, index) for s in state)


def action_kl(logits: dict[str, torch.Tensor], ref_logits: dict[str, torch.Tensor]) -> torch.Tensor:
    """Sum over heads of KL(p || ref) [...], both sets of logits teacher-forced on the same actions.

    Buttons are 8 Bernoullis, the other heads categoricals. With later heads
    conditioned on the taken earlier values, the sum's expectation over actions
    drawn from p is the KL of the joint action distributions (chain rule).
    """
    b, rb = logits["buttons"].float(), ref_logits["buttons"].float()
    logp1, logp0 = F.logsigmoid(b), F.logsigmoid(-b)
    total = (logp1.exp() * (logp1 - F.logsigmoid(rb)) + logp0.exp() * (logp0 - F.logsigmoid(-rb))).sum(-1)
    for name, _, _ in CATEGORICAL_HEADS:
        logp = torch.log_softmax(logits[name].float(), -1)
        ref = torch.log_softmax(ref_logits[name].float(), -1)
        total = total + (logp.exp() * (logp - ref)).sum(-1)
    return total


@dataclass
class ActOutput:
    """One step of N games: sampled actions and what PPO stores about them."""

    action: torch.Tensor  # int64 [N, 13], label layout
    log_prob: torch.Tensor  # [N]
    value: torch.Tensor  # [N]


@dataclass
class Evaluation:
    """A rollout segment re-run through the parallel forward; tensors [B, T]."""

    log_prob: torch.Tensor
    entropy: torch.Tensor
    value: torch.Tensor
    logits: dict[str, torch.Tensor]  # teacher-forced on the taken actions, [B, T, classes]
    final_state: State


class ActorCritic(nn.Module):
    """An imitation Policy (the actor) plus a value head on its backbone's hidden state."""

    def __init__(self, policy: Policy, value_hidden: int = 64):
        super().__init__()
        self.policy = policy
        self.value_head = nn.Sequential(
            Linear(policy.hidden_size, value_hidden), nn.Tanh(), Linear(value_hidden, 1)
        )
        # V = 0 at the start: the critic learns the scale; the actor is untouched by the init.
        nn.init.zeros_(self.value_head[-1].weight)
        nn.init.zeros_(self.value_head[-1].bias)
        self.eval()

    @classmethod
    def from_pretrained(cls, path: str | Path, value_hidden: int = 64) -> tuple[ActorCritic, dict[str, Any]]:
        """Actor-critic from an exported policy (`*_policy.safetensors` / `.json` / stem): (model, policy meta)."""
        from exphil_assets.training.checkpoints import load_policy

        policy, meta = load_policy(path)
        return cls(policy, value_hidden), meta

    def train(self, mode: bool = True) -> ActorCritic:
        # Always eval (no dropout); gradients still flow. See the module docstring.
        return super().train(False)

    def init_state(self, batch: int, device: torch.device | str | None = None) -> State:
        return self.policy.init_state(batch, device)

    def reset_state(self, state: State, done: torch.Tensor) -> State:
        """Fresh state for rows where done [N] is True (their game ended)."""
        return self.policy.reset_state(state, done) if len(state) else state

    def value(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.value_head(hidden).squeeze(-1)

    @torch.no_grad()
    def act(
        self,
        state: State,
        floats: torch.Tensor,
        ids: torch.Tensor,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[State, ActOutput]:
        """One frame of N games in step mode: floats [N, F], ids [N, K] -> (state, ActOutput)."""
        state, hidden = self.policy.step(state, floats, ids)
        action = self.policy.heads.sample(hidden, deterministic, generator)
        log_prob = action_log_prob(self.policy.heads(hidden, action), action)
        return state, ActOutput(action, log_prob, self.value(hidden))

    def evaluate(
        self,
        floats: torch.Tensor,
        ids: torch.Tensor,
        actions: torch.Tensor,
        state0: State,
        starts: torch.Tensor | None = None,
    ) -> Evaluation:
        """Re-run a segment in parallel: floats [B,T,F], ids [B,T,K], actions [B,T,13].

        `state0` is the backbone state before step 0 and `starts` [B, T] bool marks
        steps that are the first frame of a new game (the state is reset before them).
        """
        hidden, final = hidden_with_resets(self.policy, floats, ids, state0, starts)
        logits = self.policy.heads(hidden, actions)
        return Evaluation(
            log_prob=action_log_prob(logits, actions),
            entropy=action_entropy(logits),
            value=self.value(hidden),
            logits=logits,
            final_state=final,
        )


def hidden_with_resets(
    policy: Policy, floats: torch.Tensor, ids: torch.Tensor, state0: State, starts: torch.Tensor | None
) -> tuple[torch.Tensor, State]:
    """Backbone hidden [B, T, H] of segments that may contain game starts, and the final state.

    Rows with no game start after step 0 run as one batch; the (rare) rows where a
    game starts mid-segment run piece by piece, each piece from a fresh state.
    """
    B, T = floats.shape[:2]
    if starts is None:
        starts = torch.zeros(B, T, dtype=torch.bool, device=floats.device)
    if len(state0) == 0:  # stateless backbone (MLP): every frame stands alone
        return policy.features(floats, ids, state0)
    state0 = policy.reset_state(state0, starts[:, 0])
    cut = starts[:, 1:].any(1)
    if not bool(cut.any()):
        return policy.features(floats, ids, state0)

    plain, split = (~cut).nonzero()[:, 0], cut.nonzero()[:, 0]
    rows: list[torch.Tensor] = []
    finals: list[State] = []
    order: list[torch.Tensor] = []
    if plain.numel():
        h, s = policy.features(floats[plain], ids[plain], select_state(state0, plain))
        rows.append(h)
        finals.append(s)
        order.append(plain)
    for b in split.tolist():
        bounds = [0, *(starts[b, 1:].nonzero()[:, 0] + 1).tolist(), T]
        s = select_state(state0, torch.tensor([b], device=floats.device))
        pieces = []
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            if lo > 0:
                s = policy.init_state(1, floats.device)
            h, s = policy.features(floats[b : b + 1, lo:hi], ids[b : b + 1, lo:hi], s)
            pieces.append(h)
        rows.append(torch.cat(pieces, dim=1))
        finals.append(s)
        order.append(torch.tensor([b], device=floats.device))
    # Put the rows back in their original order (index_copy keeps the autograd graph).
    index = torch.cat(order)
    stacked = torch.cat(rows, dim=0)
    hidden = stacked.new_zeros(stacked.shape).index_copy(0, index, stacked)
    final = tuple(
        torch.cat(parts, dim=1).new_zeros(torch.cat(parts, dim=1).shape).index_copy(1, index, torch.cat(parts, dim=1))
        for parts in zip(*finals, strict=True)
    )
    return hidden, final
