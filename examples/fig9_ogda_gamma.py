"""LEAD App. J, Fig. 9: OGDA against LEAD / GDA / CGD on f(x, y) = gamma (x^2 - y^2).

The experiment lives in :mod:`gamemech.experiments.fig9_ogda_gamma` (the claims ledger imports it
from there); this script runs it:

    python examples/fig9_ogda_gamma.py --help
"""
from gamemech.experiments.fig9_ogda_gamma import main

if __name__ == "__main__":
    main()
