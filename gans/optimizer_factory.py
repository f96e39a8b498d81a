"""The optimizer registry of GAN training: CLI name -> game optimizer, the GAN-specific
defaults, and :func:`build_optimizer` (hyperparameters as (generator, discriminator) pairs)."""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from .adam import AlternatingAdam, SimultaneousAdam

if TYPE_CHECKING:
    from .config import TrainConfig

#: CLI name -> optimizers.<class name> (game optimizers) or a local Adam baseline.
OPTIMIZERS = {"lead-adam": "LEADAdam", "lead": "LEAD", "gda": "GDA", "extra-adam": "ExtraAdam",
              "optimistic-adam": "OptimisticAdam", "co": "CO", "sga": "SGA", "cgd": "CGD",
              "fr": "FR", "adam": SimultaneousAdam, "adam-alt": AlternatingAdam,
              "derived": "from_rule"}

#: hyperparameters a GAN run needs that differ from the optimizer's own defaults (``--hyper``
#: overrides): FR App. D.2/D.4 -- 10 CG iterations, RMSprop preconditioning, Levenberg-
#: Marquardt damping (initial lambda 0.1: our choice, the paper gives none); CGD: 10 CG steps.
OPTIMIZER_DEFAULTS = {"fr": {"cg_max_iter": 10, "preconditioner": "rmsprop", "damping": 0.1,
                             "adaptive_damping": True},
                      "cgd": {"cg_max_iter": 10}}



def build_optimizer(cfg: TrainConfig, G, D):
    """The optimizer named ``cfg.optimizer`` over (generator, discriminator) parameters.
    Hyperparameters go as pairs ``(generator, discriminator)``; a flag the optimizer does
    not take is an error (``alpha`` and ``beta`` only when set explicitly or accepted)."""
    entry = OPTIMIZERS[cfg.optimizer]
    if cfg.optimizer == "derived":
        return build_derived(cfg, G, D)
    if isinstance(entry, str):
        import optimizers
        cls = getattr(optimizers, entry)
    else:
        cls = entry
    params = inspect.signature(cls).parameters
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    kw = {"lr": (cfg.lr_g, cfg.lr_d)}
    optional = {"betas": cfg.betas, "alpha": (cfg.alpha_g, cfg.alpha_d)}
    if cfg.beta is not None:
        optional["beta"] = cfg.beta
    for name, value in optional.items():
        if name in params:
            kw[name] = value
    if cfg.beta is not None and "beta" not in params:
        raise ValueError(f"optimizer {cfg.optimizer!r} takes no momentum beta")
    for name, value in {**OPTIMIZER_DEFAULTS.get(cfg.optimizer, {}), **cfg.hyper}.items():
        if name not in params and not takes_kwargs:
            raise ValueError(f"optimizer {cfg.optimizer!r} takes no hyperparameter {name!r} "
                             f"(it takes: {', '.join(p for p in params if p not in ('params_x', 'params_y'))})")
        kw[name] = value
    missing = [n for n, p in params.items() if p.default is p.empty and n not in kw
               and n not in ("params_x", "params_y") and p.kind is not p.VAR_KEYWORD]
    if missing:
        raise ValueError(f"optimizer {cfg.optimizer!r} needs {', '.join(missing)} "
                         f"(CLI: {', '.join('--' + m.replace('_', '-') for m in missing)} or --hyper)")
    try:
        return cls(list(G.parameters()), list(D.parameters()), **kw)
    except TypeError as err:
        raise ValueError(f"cannot build optimizer {cfg.optimizer!r}: {err}") from None


def derive_rule(cfg: TrainConfig):
    """The :class:`~integrators.rule.UpdateRule` that ``integrators.derive`` derives for
    ``cfg.forces`` under ``cfg.scheme`` with time step ``delta`` (friction ``mu``, charge
    ``q``, consensus ``gamma``). A momentum coefficient ``|beta| > 1`` is refused: the
    rule's momentum alone would grow like ``|beta|^k`` (LEAD refuses beta outside (-1, 1)
    for the same reason; ``beta = 1``, a rule without friction, is allowed)."""
    from integrators.derive import derive
    if cfg.delta is None:
        raise ValueError("optimizer 'derived' needs the time step delta (--delta)")
    try:
        rule = derive(cfg.forces.split(","), cfg.scheme).to_update_rule(
            cfg.delta, cfg.mu, cfg.q, gamma=cfg.gamma)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"cannot derive the rule: {err}") from None
    if abs(rule.beta) > 1.0:
        raise ValueError(f"the derived rule's momentum beta = {rule.beta:.6g} lies outside "
                         f"[-1, 1] (delta={cfg.delta}, mu={cfg.mu}): its iterates would grow "
                         "like |beta|^k; use a smaller --delta")
    return rule


def build_derived(cfg: TrainConfig, G, D):
    """``optimizers.from_rule`` of :func:`derive_rule`; the rule's coefficients replace
    lr/alpha, or with ``precondition="adam"`` its direction goes through Adam (lr, betas:
    the Adam ones)."""
    from optimizers import from_rule
    rule = derive_rule(cfg)
    try:
        kw = dict(cfg.hyper)
        if cfg.precondition == "adam":
            kw.update(precondition="adam", lr=(cfg.lr_g, cfg.lr_d))
            if cfg.betas is not None:
                kw["betas"] = cfg.betas
        return from_rule(rule, list(G.parameters()), list(D.parameters()), **kw)
    except TypeError as err:
        raise ValueError(f"cannot build the derived optimizer: {err}") from None


def _plain(v):
    if isinstance(v, (tuple, list)):
        return [_plain(u) for u in v]
    if isinstance(v, (bool, int, float, str)) or v is None:
        return v
    return repr(v)


def describe_optimizer(cfg: TrainConfig, opt) -> dict:
    """What ran, for metrics.json: ``{"class", "hyperparameters": {"generator": {...},
    "discriminator": {...}}, "options"}`` read from the optimizer itself (its param groups),
    and for ``derived`` the forces, scheme, delta, mu, q, gamma and the rule's coefficients
    (further terms included), and for an implicit member its inner iterations (summed), last
    solve (``optimizers.rule.SolveStats``) and the number of inner solves that ended above
    their tol (``unconverged_solves``; non-zero only with ``--hyper unconverged=accept``)."""
    if hasattr(opt, "adams"):                       # gans.adam baselines: one Adam per player
        groups = [("x", opt.adams["x"].param_groups[0]), ("y", opt.adams["y"].param_groups[0])]
    else:
        groups = [(g.get("player", "xy"[min(i, 1)]), g) for i, g in enumerate(opt.param_groups)]
    hyper = {}
    for player, g in groups:
        name = "generator" if player == "x" else "discriminator"
        if name not in hyper:                       # (the first group of each player)
            hyper[name] = {k: _plain(v) for k, v in g.items()
                           if k not in ("params", "player", "param_names")}
    out = {"class": type(opt).__name__, "hyperparameters": hyper,
           "options": {k: _plain(v) for k, v in getattr(opt, "options", {}).items()}}
    if hasattr(opt, "mixed_mode"):
        out["options"]["mixed_mode"] = opt.mixed_mode
    if hasattr(opt, "mixed_mode_choice"):       # LEAD-Adam: what "auto" measured and chose
        out["options"]["mixed_mode_choice"] = dict(opt.mixed_mode_choice)
    if cfg.optimizer == "derived":
        rule = derive_rule(cfg)
        out["derived"] = {"forces": cfg.forces.split(","), "scheme": cfg.scheme,
                          "delta": cfg.delta, "mu": cfg.mu, "q": cfg.q, "gamma": cfg.gamma,
                          "coefficients": rule.coefficients()}
        solve = getattr(opt, "last_solve", None)      # implicit members: their inner solves
        if solve is not None:
            out["derived"]["inner_iterations"] = opt.inner_iterations
            out["derived"]["last_solve"] = solve._asdict()
            out["derived"]["unconverged_solves"] = opt.unconverged_solves
    return out
