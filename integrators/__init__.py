"""integrators: continuous-time simulation of game dynamics (and, later, discretizations).

- :func:`simulate` (scipy.integrate.solve_ivp or torchdiffeq.odeint backends).
- :class:`Trajectory`: the result, with numpy/torch access and ``.npz`` save/load.
"""
from .simulate import (BACKENDS, SCIPY_METHODS, TORCHDIFFEQ_METHODS, simulate)
from .trajectory import Trajectory

__all__ = ["simulate", "Trajectory", "BACKENDS", "SCIPY_METHODS", "TORCHDIFFEQ_METHODS"]
