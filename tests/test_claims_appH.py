"""The lead-appH row of the claims ledger follows the recorded lead-code runs of
examples/gan_appH.py (made-up records here; the verdict must move with them)."""
import json

from gamemech.claims import CAVEAT, CLAIMS, UNCHECKABLE
from gamemech.claims import gan as cgan


def _write(path, modes_by_opt, width=256):
    lines = [json.dumps({"width": width, "seed": s, "optimizer": o, "modes_covered": m})
             for o, ms in modes_by_opt.items() for s, m in enumerate(ms)]
    path.write_text("\n".join(lines) + "\n")


def test_reproduced_when_lead_covers_all_and_adam_collapses(tmp_path, monkeypatch):
    f = tmp_path / "runs.jsonl"
    monkeypatch.setattr(cgan, "APPH_RUNS", f)
    _write(f, {"lead-adam": [8] * 5, "adam-alt": [3, 8, 2, 5, 4], "adam": [1, 2, 8, 3, 6]})
    r = CLAIMS["lead-appH"].check(False)
    assert r.verdict == CAVEAT and "width 256" in r.computed and r.data["width_256"]["p_lead_greater"] < 0.05


def test_not_reproduced_when_lead_misses_modes(tmp_path, monkeypatch):
    f = tmp_path / "runs.jsonl"
    monkeypatch.setattr(cgan, "APPH_RUNS", f)
    _write(f, {"lead-adam": [8, 7, 8], "adam-alt": [8, 8, 8], "adam": [8, 8, 6]})
    r = CLAIMS["lead-appH"].check(False)
    assert r.verdict == UNCHECKABLE and "does not reproduce" in r.evidence
    monkeypatch.setattr(cgan, "APPH_RUNS", tmp_path / "none.jsonl")
    assert "run `python examples/gan_appH.py" in CLAIMS["lead-appH"].check(False).evidence
