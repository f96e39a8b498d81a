"""The claims ledger from Python: the same checks as ``gamemech claims``.

    python examples/claims.py --quick                 # 65 s on 2 idle cores; lead-sec5, fr-sec6.1 differ
    python examples/claims.py --out docs/CLAIMS.md    # the full ledger (281 s on 2 idle cores)
    python examples/claims.py --only lead-thm3,fr-thm1 --json

(Timings as measured for issue 18; see README, "the claims ledger", for the verdicts that
``--quick``'s smaller experiments change.)
"""
from __future__ import annotations

import sys

from gamemech.cli import main

if __name__ == "__main__":
    sys.exit(main(["claims", *sys.argv[1:]]))
