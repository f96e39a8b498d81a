"""The claims ledger from Python: the same checks as ``gamemech claims``.

    python examples/claims.py --quick                 # about a minute, prints the verdicts
    python examples/claims.py --out docs/CLAIMS.md    # the full ledger (about 10 minutes)
    python examples/claims.py --only lead-thm3,fr-thm1 --json
"""
from __future__ import annotations

import sys

from gamemech.cli import main

if __name__ == "__main__":
    sys.exit(main(["claims", *sys.argv[1:]]))
