"""LEAD Fig. 3: tuned spectral radius on the cooperative-adversarial game of eq. 31.

The experiment lives in :mod:`gamemech.experiments.fig3_coop_adversarial` (the claims ledger imports it
from there); this script runs it:

    python examples/fig3_coop_adversarial.py --help
"""
from gamemech.experiments.fig3_coop_adversarial import main

if __name__ == "__main__":
    main()
