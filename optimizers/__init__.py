"""optimizers: game optimizers for PyTorch (LEAD, LEAD-Adam, derived rules, baselines)."""
