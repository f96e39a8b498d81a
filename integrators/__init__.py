"""integrators: continuous-time simulation of game dynamics and its discretizations.

- :func:`simulate` (scipy.integrate.solve_ivp or torchdiffeq.odeint backends).
- :class:`Trajectory`: the result, with numpy/torch access and ``.npz`` save/load.
- :class:`Scheme`, :data:`SCHEMES`: implicit-explicit discretizations (Prop. 1, eq. 32).
- :func:`derive`: the two-step rule of a scheme, symbolically (sympy), as a
  :class:`DerivedRule`; :class:`UpdateRule`: its numeric form (the optimizers' input).
- :func:`iterate`, :func:`rule_step`: run a rule on a game in discrete time.
"""
from .derive import DerivedRule, derive
from .discrete import iterate, rule_step
from .rule import UpdateRule
from .schemes import SCHEMES, Scheme, get_scheme
from .simulate import (BACKENDS, SCIPY_METHODS, TORCHDIFFEQ_METHODS, simulate)
from .trajectory import Trajectory

__all__ = ["simulate", "Trajectory", "BACKENDS", "SCIPY_METHODS", "TORCHDIFFEQ_METHODS",
           "UpdateRule", "Scheme", "SCHEMES", "get_scheme", "derive", "DerivedRule",
           "iterate", "rule_step"]
