"""Follow-the-Ridge Sec. 6.1 (Fig. 3 of FR): g1, g2, g3 with GDA, OGDA, EG, SGA, CO, FR, LEAD.

The experiment lives in :mod:`gamemech.experiments.fr_toy_games` (the claims ledger imports it
from there); this script runs it:

    python examples/fr_toy_games.py --help
"""
from gamemech.experiments.fr_toy_games import main

if __name__ == "__main__":
    main()
