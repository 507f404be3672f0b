"""REINFORCE (Williams 1992) over a categorical policy per edge, with an exponential-moving-average baseline.

Adam on the logits with learning rate 0.01 and EMA momentum 0.9, as NATS-Bench documents its command
(`reinforce.py --learning_rate 0.01`). NB201's README passes 0.5 (`REINFORCE.sh cifar10 0.5`); measured here under
the nb201 protocol (12-epoch table, 12,000 s, 100 seeds) 0.5 reaches 90.41 +- 0.92, far below NB201's Table 5
(91.09 +- 0.37, Welch z = -7.3), while 0.01 reaches 91.06 +- 0.27 (z = -1.1): Table 5 matches 0.01.
The answer is the best-scored arch queried, as xautodl's `exps/algos/reinforce.py` answers (`max(trace)`; its
comment calls the policy's argmax, `policy.genotype()`, the "first version"); `answer="policy"` answers the argmax
op of every edge of the policy instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from harness import space
from harness.checks import require_choice, require_number
from harness.registry import configured
from searchers import register
from searchers.base import BlackBoxSearcher, Oracle

ANSWERS: tuple[str, ...] = ("best", "policy")


@dataclass(frozen=True)
class Reinforce(BlackBoxSearcher):
    """Logits (6 edges x 5 ops), Adam on -(reward - baseline) * log p(arch); reward = the estimated score."""

    lr: float = field(default=0.01, metadata={"help": "Adam learning rate of the policy", "flag": "policy-lr"})
    momentum: float = field(default=0.9, metadata={"help": "momentum of the reward baseline", "flag": "ema-momentum"})
    answer: str = field(
        default="best",
        metadata={"help": "'best': the best-scored arch queried (NB201's code); 'policy': the final policy's argmax"},
    )
    name: str = field(default="reinforce", init=False)

    def __post_init__(self) -> None:
        require_number("Reinforce", "lr", self.lr, 0, math.inf, low_open=True, high_open=True)
        require_number("Reinforce", "momentum", self.momentum, 0, 1, high_open=True)
        require_choice("Reinforce", "answer", self.answer, ANSWERS)

    @property
    def config(self) -> dict:
        return {"lr": self.lr, "momentum": self.momentum, "answer": self.answer}

    def run(self, oracle: Oracle, rng: np.random.Generator, metadata: dict) -> None:
        logits = torch.nn.Parameter(torch.from_numpy(1e-3 * rng.standard_normal((space.NUM_EDGES, len(space.OPS)))))
        optimizer = torch.optim.Adam([logits], lr=self.lr)
        baseline = Baseline(self.momentum)
        try:
            self._learn(oracle, rng, logits, optimizer, baseline)
        finally:
            metadata["policy"] = logits.detach().softmax(dim=1).tolist()
            if self.answer == "policy":
                argmax = logits.detach().argmax(dim=1).tolist()
                metadata["answer"] = oracle.index(space.format_ops([space.OPS[k] for k in argmax]))

    def _learn(
        self,
        oracle: Oracle,
        rng: np.random.Generator,
        logits: torch.Tensor,
        optimizer: torch.optim.Optimizer,
        baseline: Baseline,
    ) -> None:
        while True:
            log_probs = torch.log_softmax(logits, dim=1)
            probs = log_probs.detach().exp().numpy()
            actions = [int(rng.choice(len(space.OPS), p=p / p.sum())) for p in probs]
            arch = oracle.index(space.format_ops([space.OPS[a] for a in actions]))
            reward = oracle.score(arch)
            if not math.isfinite(reward):
                continue  # a failed estimation teaches nothing about the policy
            baseline.update(reward)
            log_prob = log_probs[torch.arange(space.NUM_EDGES), torch.tensor(actions)].sum()
            loss = -(reward - baseline.value) * log_prob
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()


class Baseline:
    """Bias-corrected exponential moving average of the rewards seen so far."""

    def __init__(self, momentum: float) -> None:
        self.momentum = momentum
        self._numerator = self._denominator = 0.0

    def update(self, value: float) -> None:
        self._numerator = self.momentum * self._numerator + (1 - self.momentum) * value
        self._denominator = self.momentum * self._denominator + (1 - self.momentum)

    @property
    def value(self) -> float:
        return self._numerator / self._denominator


@register("reinforce", family="query", options=Reinforce)
def reinforce(config: Reinforce | None = None, **fields: float | str) -> Reinforce:
    """REINFORCE: a categorical policy per edge, Adam (lr 0.01), EMA reward baseline (momentum 0.9)."""
    return configured(Reinforce, config, fields)
