"""The claims ledger's machinery: a registry of checks, the runner, and the renderers.

A *claim* is one quantitative statement of a paper (LEAD, its slides, Follow-the-Ridge,
the lecture notes). Its *check* is a function ``check(quick: bool) -> ClaimResult`` that
computes what the statement predicts with the library and returns a verdict in
:data:`VERDICTS`, the numbers it computed (with settings and seeds) and a short evidence
string. Checks are registered with :func:`claim`; :func:`run_claims` runs them and
returns :class:`Row` values; :func:`render_markdown` and :func:`rows_to_json` format them.
"""
from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence

#: The four verdicts a row can carry.
HOLDS = "holds"
CAVEAT = "holds with a stated caveat"
FAILS = "fails as stated"
UNCHECKABLE = "not checkable here"
VERDICTS = (HOLDS, CAVEAT, FAILS, UNCHECKABLE)


@dataclass
class ClaimResult:
    """What a check returns: a verdict, the numbers computed, and why the verdict follows."""

    verdict: str
    computed: str
    evidence: str
    data: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class Claim:
    """A registered claim: where it is stated, what it says, and the function checking it."""

    id: str
    paper: str
    where: str
    statement: str
    check: Callable[[bool], ClaimResult]


@dataclass
class Row:
    """One line of the ledger: the claim, the check's result, run mode and time."""

    id: str
    paper: str
    where: str
    statement: str
    verdict: str
    computed: str
    evidence: str
    quick: bool
    seconds: float
    data: Dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


#: id -> Claim, in ledger order.
CLAIMS: Dict[str, Claim] = {}


def claim(id: str, *, paper: str, where: str, statement: str):
    """Decorator registering ``check(quick) -> ClaimResult`` as the check of claim ``id``."""
    def register(fn: Callable[[bool], ClaimResult]):
        if id in CLAIMS:
            raise ValueError(f"claim {id!r} is registered twice")
        CLAIMS[id] = Claim(id, paper, where, statement, fn)
        return fn
    return register


def select(only: Optional[Iterable[str]] = None) -> List[Claim]:
    """The claims named in ``only`` (all when None), in ledger order; an unknown id raises
    ``ValueError`` listing the valid ones."""
    if only is None:
        return list(CLAIMS.values())
    wanted = [s.strip() for s in only if s and s.strip()]
    unknown = [s for s in wanted if s not in CLAIMS]
    if unknown:
        raise ValueError(f"unknown claim id {unknown[0]!r}; valid ids: {', '.join(CLAIMS)}")
    if not wanted:
        raise ValueError("no claim id given")
    return [c for c in CLAIMS.values() if c.id in wanted]


def run_claim(c: Claim, quick: bool = False) -> Row:
    """Run one check. An exception inside a check becomes a row with verdict
    'not checkable here' and the error recorded (``Row.error``), so one broken check
    does not hide the others; callers should treat ``error`` rows as failures of the tool."""
    t0 = time.perf_counter()
    try:
        r = c.check(quick)
        if not isinstance(r, ClaimResult):
            raise TypeError(f"check of {c.id!r} returned {type(r).__name__}, not ClaimResult")
        err = None
    except Exception as exc:  # noqa: BLE001 -- recorded, reported, and flagged to the caller
        err = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        r = ClaimResult(UNCHECKABLE, "the check raised an error", err)
    return Row(c.id, c.paper, c.where, c.statement, r.verdict, r.computed, r.evidence, quick,
               time.perf_counter() - t0, r.data, err)


def run_claims(only: Optional[Sequence[str]] = None, quick: bool = False,
               log: Optional[Callable[[str], None]] = None) -> List[Row]:
    """Run the selected checks (all by default) and return their rows in ledger order."""
    rows = []
    for c in select(only):
        row = run_claim(c, quick)
        rows.append(row)
        if log is not None:
            log(f"{row.id:28s} {row.verdict:28s} {row.seconds:6.1f} s")
    return rows


# ---------------------------------------------------------------------- rendering
def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render_markdown(rows: Sequence[Row], command: str = "gamemech claims") -> str:
    """The ledger as markdown: a summary table, then one section per claim."""
    quick = any(r.quick for r in rows)
    total = sum(r.seconds for r in rows)
    counts = {v: sum(r.verdict == v for r in rows) for v in VERDICTS}
    out = ["# Claims ledger", "",
           f"Generated by `{command}`{' (quick mode: reduced sizes)' if quick else ''}; "
           f"{len(rows)} claim{'s' if len(rows) != 1 else ''} checked in {total:.0f} s of computation. Every number below "
           "was computed by that command with the library (`gamemech/claims/`); nothing is "
           "typed by hand. Papers: LEAD (`000_*`), its slides (`001_*`), Follow-the-Ridge "
           "(`002_*`), lecture notes \"The Numerics of GANs\" (`004_*`) in `shared/seeds`.", "",
           "Each claim below has the statement as the paper makes it (slips named in "
           "`shared/seeds/README.md` are checked as printed where the claim is the printed "
           "form), what the library computed (settings and seeds included), the verdict, and "
           "the command that reruns it alone. A claim that fails is reported failing, with "
           "the evidence; 'not checkable here' says why.", "",
           "Verdicts: " + ", ".join(f"**{v}**: {n}" for v, n in counts.items()) + ".", "",
           "| id | paper | where | verdict | evidence |", "| --- | --- | --- | --- | --- |"]
    for r in rows:
        out.append(f"| [{r.id}](#{r.id}) | {_cell(r.paper)} | {_cell(r.where)} | "
                   f"**{r.verdict}** | {_cell(r.evidence)} |")
    out.append("")
    for r in rows:
        out += [f"## {r.id}", "",
                f"- **Paper:** {r.paper}, {r.where}",
                f"- **Statement:** {r.statement}",
                f"- **Verdict:** **{r.verdict}**",
                f"- **Evidence:** {r.evidence}",
                f"- **Computed:** {r.computed}",
                f"- **Reproduce:** `gamemech claims --only {r.id}{' --quick' if r.quick else ''} "
                f"--json` ({r.seconds:.1f} s here)"]
        if r.error:
            out.append(f"- **Error in the check:** `{r.error}`")
        out.append("")
    return "\n".join(out)


def rows_to_json(rows: Sequence[Row]) -> List[Dict[str, Any]]:
    """JSON-ready rows (``data`` holds the raw numbers of each check)."""
    return [r.as_dict() for r in rows]
