"""The claims ledger: one check per quantitative claim of the papers, computed with the library.

``run_claims(only=None, quick=False)`` returns :class:`Row` values (claim id, paper,
section/equation/figure, statement, what was computed with its settings and seeds, a
verdict in :data:`VERDICTS`, evidence); ``render_markdown`` writes the ledger
(``docs/CLAIMS.md``); ``gamemech claims`` is the command. Checks live in
:mod:`gamemech.claims.lead` (LEAD paper and slides), :mod:`gamemech.claims.fr`
(Follow-the-Ridge), :mod:`gamemech.claims.notes` (lecture notes) and
:mod:`gamemech.claims.gan` (LEAD App. H) and :mod:`gamemech.claims.family` (the
optimizers of the literature the scheme family contains).
"""
from ._registry import (CAVEAT, CLAIMS, FAILS, HOLDS, UNCHECKABLE, VERDICTS, Claim, ClaimResult,
                        Row, claim, render_markdown, rows_to_json, run_claim, run_claims, select)
from . import lead, gan, fr, notes, family  # noqa: E402,F401  (registers the checks, in ledger order)

__all__ = ["CLAIMS", "VERDICTS", "HOLDS", "CAVEAT", "FAILS", "UNCHECKABLE", "Claim",
           "ClaimResult", "Row", "claim", "run_claim", "run_claims", "select",
           "render_markdown", "rows_to_json"]
