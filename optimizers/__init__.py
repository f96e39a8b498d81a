"""optimizers: game optimizers for PyTorch (LEAD, LEAD-Adam, derived rules, baselines).

Every optimizer takes ``(params_x, params_y, **hyper)`` and ``step(closure)`` where the
closure returns ``(loss_x, loss_y)`` (the loss each player minimises) or takes one
argument ``player`` and returns that loss alone. They follow torch.optim's conventions
(param groups, lazy state, ``state_dict`` resume, learning-rate schedulers, ``.grad``
after ``step``, ``zero_grad``) and take ``max_grad_norm`` for per-player gradient
clipping. See docs/OPTIMIZERS.md.
"""
__distribution__ = "game-mechanics"   # the marker mechanics.utils.names looks for

import mechanics as _base  # checks the top-level names (docs/ARCHITECTURE.md, "Names")
if getattr(_base, "__distribution__", None) != "game-mechanics":
    raise ImportError(f"'mechanics' at {getattr(_base, '__file__', None)} is another "
                      "distribution's package; see 'Names' in docs/ARCHITECTURE.md")

from .autodiff import Evaluation, GameClosure, NonFiniteError
from .base import GameOptimizer, Hyper
from .cgd import CGD, conjugate_gradient
from .complex_momentum import ComplexMomentum, beta_polar
from .consensus import CO
from .extragradient import ExtraAdam, ExtraGradient
from .follow_ridge import FR
from .gda import GDA, MomentumGDA
from .lead import LEAD, TwoStepOptimizer
from .lead_adam import LEADAdam
from .optimistic import OGDA, OptimisticAdam
from .rule import RuleOptimizer, from_rule
from .sga import SGA

EG = ExtraGradient

__all__ = ["GameOptimizer", "Hyper", "Evaluation", "GameClosure", "NonFiniteError",
           "LEAD", "LEADAdam", "from_rule", "RuleOptimizer", "TwoStepOptimizer",
           "GDA", "MomentumGDA", "ExtraGradient", "EG", "ExtraAdam", "OGDA", "OptimisticAdam",
           "CO", "SGA", "CGD", "FR", "ComplexMomentum", "beta_polar", "conjugate_gradient"]
