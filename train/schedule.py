"""Learning-rate schedules as pure functions of the step, so a resumed run needs only the step number.

- `cosine`: linear warmup from 0 to `peak` over `warmup` steps, then cosine decay to `peak * min_ratio` at
  `total` steps (held there after).
- `wsd` (warmup-stable-decay): the same warmup, `peak` held, then a linear decay to `peak * min_ratio`
  over the last `decay_fraction` of the steps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Schedule:
    kind: Literal["cosine", "wsd"]
    peak: float
    total: int
    warmup: int = 0
    min_ratio: float = 0.1
    decay_fraction: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.warmup <= self.total:
            raise ValueError(f"warmup {self.warmup} must be between 0 and total steps {self.total}")
        if not 0 <= self.min_ratio <= 1 or not 0 < self.decay_fraction <= 1:
            raise ValueError("min_ratio must be in [0, 1] and decay_fraction in (0, 1]")

    def __call__(self, step: int) -> float:
        """The learning rate of optimizer step `step` (0-based)."""
        if step < self.warmup:
            return self.peak * (step + 1) / self.warmup
        floor = self.peak * self.min_ratio
        if self.kind == "cosine":
            span = max(self.total - self.warmup, 1)
            progress = min((step - self.warmup) / span, 1.0)
            return floor + (self.peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))
        decay_steps = max(round(self.total * self.decay_fraction), 1)
        decay_start = self.total - decay_steps
        if step < decay_start:
            return self.peak
        progress = min((step - decay_start) / decay_steps, 1.0)
        return self.peak + (floor - self.peak) * progress
