"""gans: GAN experiments of the LEAD and Follow-the-Ridge papers, trained with the game
optimizers of :mod:`optimizers` (data, models, losses, metrics, one training loop)."""
