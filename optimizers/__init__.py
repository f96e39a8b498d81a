"""optimizers: game optimizers for PyTorch (LEAD, LEAD-Adam, derived rules, baselines).

Every optimizer takes ``(params_x, params_y, **hyper)`` and ``step(closure)`` where the
closure returns ``(loss_x, loss_y)`` (the loss each player minimises) or takes one
argument ``player`` and returns that loss alone. See docs/OPTIMIZERS.md.
"""
from .autodiff import Evaluation, GameClosure, NonFiniteError
from .base import GameOptimizer, Hyper
from .extragradient import ExtraAdam, ExtraGradient
from .gda import GDA, MomentumGDA
from .lead import LEAD, TwoStepOptimizer
from .lead_adam import LEADAdam
from .optimistic import OGDA, OptimisticAdam
from .rule import RuleOptimizer, from_rule

EG = ExtraGradient

__all__ = ["GameOptimizer", "Hyper", "Evaluation", "GameClosure", "NonFiniteError",
           "LEAD", "LEADAdam", "from_rule", "RuleOptimizer", "TwoStepOptimizer",
           "GDA", "MomentumGDA", "ExtraGradient", "EG", "ExtraAdam", "OGDA", "OptimisticAdam"]

# --- second-order baselines (helper 6b) ---
from .cgd import CGD, conjugate_gradient  # noqa: E402
from .complex_momentum import ComplexMomentum, beta_polar  # noqa: E402
from .consensus import CO  # noqa: E402
from .follow_ridge import FR  # noqa: E402
from .sga import SGA  # noqa: E402

__all__ += ["CO", "SGA", "CGD", "FR", "ComplexMomentum", "beta_polar", "conjugate_gradient"]
