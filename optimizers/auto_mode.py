"""``mixed_mode="auto"`` by measurement: time the exact mixed-term modes on the first steps.

LEAD-Adam's update direction ``g_i + alpha M_i`` (Alg. 2 lines 7 / 15) has two exact ways
of being computed (:mod:`optimizers.autodiff`): ``"reverse_over_forward"`` (one dual
evaluation, one reverse pass) and ``"double_backward"`` (a reverse pass with graph, then
a second one through it). Which is faster depends on the model, the width, the closure
(what it does per call, e.g. draw data) and the machine, so neither a parameter count
nor a fixed rule picks it well. A :class:`ModeCalibration` decides per player:

1. the player's first coupled step runs ``"reverse_over_forward"`` untimed (warm-up; a
   closure this mode cannot take is refused there and double backward is kept);
2. the next ``2 * rounds`` steps (:data:`ROUNDS` = 5) run the two modes in interleaved
   pairs, the order alternating from pair to pair (double backward first in the
   first), each step timed from the closure call to the finished direction
   (:class:`Stopwatch`);
3. from then on reverse over forward is used if the median over the pairs of its time
   over double backward's is below ``1 - MARGIN`` (:data:`MARGIN` = 3%), double backward
   otherwise (the ratio of neighbouring steps cancels slow drifts of the machine's load;
   the median ignores a pair disturbed by a burst of it; the margin keeps a near-tie on
   the mode that works for every closure).

The samples and the choice are part of the optimizer's checkpoint, so a run resumed
from a checkpoint keeps the choice of the run that wrote it. The two modes give the same
update up to rounding (``tests/test_dual.py``, ``tests/test_optimizers_core_reference.py``),
so the choice changes the cost, not the method; but two FRESH runs whose calibrations
choose differently (modes within a few percent of each other, or a machine whose load
swings) differ by rounding. Pass ``mixed_mode`` explicitly for fresh runs that must agree
bit for bit.
"""
from __future__ import annotations

import statistics
import time
from typing import Dict, List, Optional

import torch

#: the exact modes ``"auto"`` chooses between
CANDIDATES = ("reverse_over_forward", "double_backward")
#: timed steps per mode and player before the choice
ROUNDS = 5
#: reverse over forward is chosen when its median time ratio to double backward is below
#: ``1 - MARGIN``
MARGIN = 0.03
_PLAYERS = ("x", "y")


def decide(samples: Dict[str, List[float]]) -> str:
    """The mode :class:`ModeCalibration` keeps, from the paired ``samples`` (seconds per
    mode, pair k = the k-th sample of each): reverse over forward iff the median of its
    time over double backward's is below ``1 - MARGIN``."""
    rof, db = CANDIDATES
    ratios = [r / d if d > 0 else float("inf") for r, d in zip(samples[rof], samples[db])]
    return rof if statistics.median(ratios) < 1.0 - MARGIN else db


class ModeCalibration:
    """Per-player choice between :data:`CANDIDATES` by timing (module docstring)."""

    def __init__(self, rounds: int = ROUNDS):
        if rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {rounds}")
        self.rounds = rounds
        self.warm = {p: False for p in _PLAYERS}
        self.samples: Dict[str, Dict[str, List[float]]] = {
            p: {m: [] for m in CANDIDATES} for p in _PLAYERS}
        self.choice: Dict[str, Optional[str]] = {p: None for p in _PLAYERS}

    def mode(self, player: str) -> str:
        """The mode for ``player``'s next step."""
        if self.choice[player] is not None:
            return self.choice[player]
        if not self.warm[player]:
            return CANDIDATES[0]
        s = self.samples[player]
        rof, db = CANDIDATES
        if len(s[rof]) != len(s[db]):            # complete the pair
            return rof if len(s[rof]) < len(s[db]) else db
        return db if len(s[db]) % 2 == 0 else rof      # pairs alternate which goes first

    def timing(self, player: str) -> bool:
        """Is ``player``'s next step one to time?"""
        return self.choice[player] is None and self.warm[player]

    def record(self, player: str, mode: str, seconds: Optional[float]) -> None:
        """``player``'s step in ``mode`` took ``seconds`` (``None``: the warm-up step)."""
        if self.choice[player] is not None:
            return
        if not self.warm[player]:
            self.warm[player] = True
            return
        s = self.samples[player]
        s[mode].append(float(seconds))
        if all(len(s[m]) >= self.rounds for m in CANDIDATES):
            self.choice[player] = decide(s)

    # ------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict:
        return {"rounds": self.rounds, "warm": dict(self.warm),
                "samples": {p: {m: list(v) for m, v in s.items()} for p, s in self.samples.items()},
                "choice": dict(self.choice)}

    def load_state_dict(self, sd: dict) -> None:
        """Load what :meth:`state_dict` returned; ``ValueError`` naming what is wrong."""
        def bad(msg):      # one line, whatever the value (a tensor's repr spans lines)
            raise ValueError("malformed auto-mode calibration in the state dict: "
                             + " ".join(msg.split())[:300])

        if not isinstance(sd, dict) or set(sd) != {"rounds", "warm", "samples", "choice"}:
            bad("expected the keys rounds, warm, samples, choice")
        rounds = sd["rounds"]
        if not isinstance(rounds, int) or isinstance(rounds, bool) or rounds < 1:
            bad(f"rounds must be an integer >= 1, got {rounds!r}")
        for key in ("warm", "samples", "choice"):
            if not isinstance(sd[key], dict) or set(sd[key]) != set(_PLAYERS):
                bad(f"{key} must have one entry per player {_PLAYERS}")
        for p in _PLAYERS:
            if not isinstance(sd["warm"][p], bool):
                bad(f"warm[{p!r}] must be a bool")
            if sd["choice"][p] not in CANDIDATES + (None,):
                bad(f"choice[{p!r}] must be one of {CANDIDATES} or None, got "
                    f"{sd['choice'][p]!r}")
            s = sd["samples"][p]
            if not isinstance(s, dict) or set(s) != set(CANDIDATES) or not all(
                    isinstance(v, list) and all(isinstance(x, (int, float))
                                                and not isinstance(x, bool) and x >= 0
                                                for x in v) for v in s.values()):
                bad(f"samples[{p!r}] must map each of {CANDIDATES} to a list of seconds")
        self.rounds = rounds
        self.warm = dict(sd["warm"])
        self.samples = {p: {m: [float(x) for x in v] for m, v in s.items()}
                        for p, s in sd["samples"].items()}
        self.choice = dict(sd["choice"])


class Stopwatch:
    """Time of a block. On CPU with one torch thread the process's CPU time
    (``time.process_time``: other jobs on a shared machine preempt the process without
    counting, so the comparison of two modes is steadier than by wall time); with more
    threads wall time (CPU time would add up the threads, and their spin-waits, where the
    user waits for the slowest); on CUDA wall time, the device synchronised at both ends."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        one = not self.cuda and torch.get_num_threads() == 1
        self.clock = time.process_time if one else time.perf_counter

    def __enter__(self):
        if self.cuda:
            torch.cuda.synchronize()
        self.start = self.clock()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            torch.cuda.synchronize()
        self.seconds = self.clock() - self.start
        return False
