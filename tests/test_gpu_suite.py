"""benchmarks/gpu_suite.py --smoke: every part of the GPU suite runs on the CPU at toy sizes
and writes what the GPU run would (structure only, never speed)."""
import json

import pytest
import torch

from benchmarks import gpu_suite


def test_smoke_runs_every_part(tmp_path):
    payload = gpu_suite.main(["--out", str(tmp_path), "--smoke"])
    on_disk = json.loads((tmp_path / "gpu_suite.json").read_text())
    assert payload["ok"] and on_disk["ok"] and on_disk["smoke"] is True
    parts = on_disk["parts"]
    assert list(parts) == list(gpu_suite.PARTS) and all(p["ok"] for p in parts.values())
    tests = parts["cuda_tests"]
    assert tests["tests"] >= 1 and tests["failures"] == tests["errors"] == 0
    if not torch.cuda.is_available():
        assert tests["skipped"] >= 1       # the CUDA-against-CPU tests skip without CUDA
    appH = parts["appH"]
    assert {r["optimizer"] for r in appH["runs"]} == set(gpu_suite.APPH_OPTIMIZERS)
    assert all(r["energy_distance"] > 0 and r["seconds_per_iter"] > 0 for r in appH["runs"])
    widths = {r["width"] for r in parts["cost"]["rows"]}
    assert widths == {16, 32} and (tmp_path / "cost_per_iteration.json").is_file()
    assert all(r["method"] == "adam-alt" or r["ratio_to_adam_alt"] > 0 for r in parts["cost"]["rows"])
    for row in parts["simulation"]["rows"]:
        assert row["success"] and row["max_abs_device_vs_cpu"] == 0.0   # cpu twice: identical
        # dopri5 at rtol 1e-7 against expm, states of order 1
        assert max(row["max_abs_error_vs_expm"].values()) < 1e-5
    assert [r["initial_conditions"] for r in parts["simulation"]["rows"]] == [100, 1000]
    assert "appH: ok" in (tmp_path / "gpu_suite.md").read_text()
    budget = on_disk["budget"]
    assert budget["budget_seconds"] == 480 and list(budget["parts_seconds"]) == list(gpu_suite.PARTS)
    assert 0 < budget["appH_seconds_given"] <= 480 - gpu_suite.SAFETY_SECONDS
    assert budget["total_seconds"] >= sum(budget["parts_seconds"].values()) - 0.05


def test_budget_is_enforced(tmp_path):
    """A budget too short for anything: the child running the cost part is stopped (or not
    started), App. H is not run, and the JSON says so -- no part overruns the budget."""
    payload = gpu_suite.main(["--out", str(tmp_path), "--smoke", "--parts", "appH,cost",
                              "--budget-seconds", "0.05"])
    parts = payload["parts"]
    assert list(parts) == ["cost", "appH"] and not payload["ok"]
    assert not parts["cost"]["ok"] and "budget" in parts["cost"]["error"]
    assert not parts["appH"]["ok"] and parts["appH"]["error"].startswith("not run: ")
    assert "runs" not in parts["appH"]
    assert payload["budget"]["appH_seconds_given"] == 0.0
    assert not list(tmp_path.glob(".*.part.json"))           # no child's file left behind


def test_needs_cuda_or_smoke(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(SystemExit) as e:
        gpu_suite.main(["--out", str(tmp_path)])
    assert e.value.code == 2 and "--smoke" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_suite.main(["--out", str(tmp_path), "--smoke", "--parts", "appH,nope"])
