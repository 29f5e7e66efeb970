"""The seeds of the chaos suite's randomised phases: given on the command line to replay a run,
drawn and printed otherwise, and recorded in reliability.json either way."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

RANDOMISED = ("fuzz", "mlflow_outage")
"""The phases that draw random numbers: fuzz (the schemathesis and Hypothesis cases) and
mlflow_outage (the backoff jitter of its retrying client). The others are deterministic:
fixed-rate arrivals, kills on a fixed schedule, the same promotions every run."""


@dataclass
class Seeds:
    """`--seed N` (every randomised phase) and `--seed PHASE=N` (one phase); a phase given
    neither draws its own seed when it starts."""

    given: dict[str, int] = field(default_factory=dict)
    common: int | None = None
    used: dict[str, int] = field(default_factory=dict)
    """phase → the seed it ran with, for the report."""

    @classmethod
    def parse(cls, values: list[str]) -> Seeds:
        """Seeds from `--seed` values; ValueError naming the value that is neither `N` nor
        `PHASE=N` with PHASE one of RANDOMISED."""
        seeds = cls()
        for value in values:
            phase, _, number = value.rpartition("=")
            if not number.isascii() or not number.isdigit():
                raise ValueError(f"--seed {value}: give N or PHASE=N with N a whole number")
            if not phase:
                seeds.common = int(number)
            elif phase in RANDOMISED:
                seeds.given[phase] = int(number)
            else:
                raise ValueError(f"--seed {value}: PHASE is one of {', '.join(RANDOMISED)}")
        return seeds

    def of(self, phase: str) -> int:
        """The seed `phase` runs with (given, else drawn), recorded and printed."""
        seed = self.given.get(phase, self.common)
        drawn = seed is None
        if seed is None:
            seed = secrets.randbelow(2**32)
        self.used[phase] = seed
        how = "drawn" if drawn else "given"
        print(f"[chaos] {phase} seed {seed} ({how}; replay with --seed {phase}={seed})", flush=True)
        return seed

    def replay(self) -> str:
        """The `--seed` arguments that replay every randomised phase run so far."""
        return " ".join(f"--seed {phase}={seed}" for phase, seed in self.used.items())
