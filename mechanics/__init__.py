"""mechanics: two-player games as particles under forces (LEAD Sec. 3-4).

- :mod:`mechanics.game`: :class:`Game` (general-sum) and :class:`ZeroSumGame`.
- :mod:`mechanics.catalogue`: the games of the papers, each with its equilibrium.
- :mod:`mechanics.forces`: :class:`Curl` (eq. 6), :class:`Magnetic` (eq. 7),
  :class:`Friction` (eq. 8), :class:`Consensus`, composable with ``+``; each declares
  its discrete terms (docs/DERIVATION.md), so user forces derive and run too.
- :mod:`mechanics.dynamics`: :class:`Particle` (eq. 10) and :class:`GradientFlow`.
- :mod:`mechanics.energy`: energies, incl. :class:`LeadEnergy` (Thm. 1, eq. 37).
- :mod:`mechanics.lyapunov`: energies along trajectories, :func:`verify_energy`,
  :func:`certified_rate`, Thm. 1's bound :func:`thm1_rate` (eq. 43).
- :mod:`mechanics.utils`: the low-level helpers every package shares (atomic writes,
  random number state, figures, the check of the top-level names).
"""
__distribution__ = "game-mechanics"   # the marker mechanics.utils.names looks for

from .utils.names import check_top_level_names

check_top_level_names()
from .catalogue import (GAMES, bilinear, coop_adversarial, dirac_gan, fr_g1, fr_g2, fr_g3,
                        fr_momentum_quadratic, gamma_quadratic, make_game, quadratic)
from .dynamics import Dynamics, GradientFlow, Particle
from .forces import (CHARGE_CONVENTIONS, Consensus, Curl, Force, ForceSum, Friction, Magnetic,
                     PhaseState, Term, forces_from_names, register_force, symbol)
from .energy import (ENERGY_NAMES, Energy, FunctionEnergy, HamiltonianEnergy, KineticEnergy,
                     LeadEnergy, energy_from_name, quadratic_parameters)
from .game import Game, ZeroSumGame
from .lyapunov import (CertifiedRate, EnergyReport, EnergyTrace, Thm1Certificate, Thm1Setting,
                       certified_rate, energy_rate, phase_states_from_iterates,
                       thm1_certificate, thm1_rate, thm1_setting, track_energy, track_iterates,
                       verify_energy, verify_iterates)

__all__ = [
    "Game", "ZeroSumGame", "GAMES", "make_game", "bilinear", "quadratic", "coop_adversarial",
    "gamma_quadratic", "fr_g1", "fr_g2", "fr_g3", "fr_momentum_quadratic", "dirac_gan",
    "Force", "ForceSum", "Curl", "Magnetic", "Friction", "Consensus", "Term", "register_force", "symbol",
    "PhaseState", "forces_from_names",
    "CHARGE_CONVENTIONS", "Dynamics", "Particle", "GradientFlow",
    "Energy", "LeadEnergy", "KineticEnergy", "HamiltonianEnergy", "FunctionEnergy",
    "ENERGY_NAMES", "energy_from_name", "quadratic_parameters", "EnergyTrace", "EnergyReport",
    "CertifiedRate", "Thm1Setting", "track_energy", "track_iterates", "verify_energy",
    "verify_iterates", "certified_rate", "energy_rate", "thm1_rate", "thm1_setting",
    "thm1_certificate", "Thm1Certificate", "phase_states_from_iterates",
]
