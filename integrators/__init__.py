"""integrators: continuous-time simulation of game dynamics and its discretizations.

- :func:`simulate` (scipy.integrate.solve_ivp, torchdiffeq.odeint or torchode backends).
- :class:`Trajectory`: the result, with numpy/torch access and ``.npz`` save/load.
- :class:`Scheme`, :data:`SCHEMES`: implicit-explicit discretizations (Prop. 1, eq. 32).
- :func:`derive`: the two-step rule of a scheme, symbolically (sympy), as a
  :class:`DerivedRule`; :class:`UpdateRule`: its numeric form (the optimizers' input).
- :func:`iterate`, :func:`rule_step`: run a rule on a game in discrete time.
- :func:`spectrum`, :func:`step_jacobian`, :data:`METHODS`: eigenvalues of optimizers'
  step maps (Thm. 2); :func:`tune`: minimise the spectral radius.
- :func:`family`: every member (forces x schemes), the known optimizers among them and
  their tuned spectral radii.
"""
__distribution__ = "game-mechanics"   # the marker mechanics.utils.names looks for

import mechanics as _base  # checks the top-level names (docs/ARCHITECTURE.md, "Names")
if getattr(_base, "__distribution__", None) != "game-mechanics":
    raise ImportError(f"'mechanics' at {getattr(_base, '__file__', None)} is another "
                      "distribution's package; see 'Names' in docs/ARCHITECTURE.md")

from .derive import DerivedRule, derive
from .discrete import iterate, rule_step
from .rule import UpdateRule
from .schemes import SCHEMES, Scheme, get_scheme
from .spectral import (METHODS, Method, Spectrum, lead_formula_eigenvalues, register_method,
                       spectrum, step_jacobian)
from .simulate import (BACKENDS, SCIPY_METHODS, TORCHDIFFEQ_METHODS, TORCHODE_METHODS, simulate)
from .trajectory import Trajectory
from .tuning import TuningResult, tune
from .family import Member, family

__all__ = ["simulate", "Trajectory", "BACKENDS", "SCIPY_METHODS", "TORCHDIFFEQ_METHODS",
           "TORCHODE_METHODS",
           "UpdateRule", "Scheme", "SCHEMES", "get_scheme", "derive", "DerivedRule",
           "iterate", "rule_step", "spectrum", "step_jacobian", "Spectrum", "METHODS", "Method",
           "register_method", "lead_formula_eigenvalues", "tune", "TuningResult", "family",
           "Member"]
