"""Gradient descent-ascent and Polyak momentum GDA: eq. 12 of LEAD without the
coupling term (FR App. D.1 "GDA"; Gidel et al. 2019 for negative momentum).

Both reuse the two-step core of :mod:`optimizers.lead` (``alpha = 0``).
"""
from __future__ import annotations

from .base import Hyper, momentum, positive
from .lead import TwoStepOptimizer


class GDA(TwoStepOptimizer):
    """``theta_i <- theta_i - lr grad_i L_i``; simultaneous, or ``alternating=True``
    (y's gradient at ``(x_{k+1}, y_k)``)."""

    hyper = {"lr": Hyper(positive)}

    def __init__(self, params_x, params_y, lr, *, alternating=False, nonfinite="raise",
                 max_grad_norm=None, set_grad=True):
        super().__init__(params_x, params_y, dict(lr=lr), alternating=alternating,
                         nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)


class MomentumGDA(TwoStepOptimizer):
    """Heavy-ball GDA: ``theta_i <- theta_i + beta (theta_k - theta_{k-1}) - lr grad_i L_i``,
    ``beta`` in (-1, 1): positive or negative momentum (Gidel et al. 2019 use negative
    momentum with ``alternating=True``)."""

    hyper = {"lr": Hyper(positive), "beta": Hyper(momentum)}

    def __init__(self, params_x, params_y, lr, beta, *, alternating=False, nonfinite="raise",
                 max_grad_norm=None, set_grad=True):
        super().__init__(params_x, params_y, dict(lr=lr, beta=beta), alternating=alternating,
                         nonfinite=nonfinite,
                         max_grad_norm=max_grad_norm, set_grad=set_grad)
