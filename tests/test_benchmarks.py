"""Smoke tests of the benchmark scripts: each ``--quick`` mode end to end, checking the
structure of what it writes (JSON, markdown table, plot), never speed."""
import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch

ROOT = Path(__file__).resolve().parent.parent


def _run(name, tmp_path, *extra):
    mod = importlib.import_module(f"benchmarks.{name}")
    payload = mod.main(["--quick", "--out", str(tmp_path), *extra])
    for suffix in ("json", "md", "png"):
        assert (tmp_path / f"{name}.{suffix}").stat().st_size > 0
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave nothing behind
    on_disk = json.loads((tmp_path / f"{name}.json").read_text())
    assert on_disk["quick"] is True and on_disk["rows"]
    assert on_disk["machine"]["torch_threads"] >= 1 and "under_load" in on_disk
    table = (tmp_path / f"{name}.md").read_text()
    lines = [ln for ln in table.splitlines() if ln.startswith("|")]
    assert len({ln.count("|") for ln in lines}) == 1  # a well-formed markdown table
    assert len(lines) == 2 + len(payload["rows"]) or name == "cost_per_iteration"
    return payload, on_disk


def test_simulation_throughput_quick(tmp_path, monkeypatch):
    """The library's three backends and the plain numpy loop, with torchode direct when it
    is installed; diffrax is made unimportable here (its jit compile takes ~20 s), which
    must skip it with a note, not fail."""
    monkeypatch.setitem(sys.modules, "jax", None)
    keys = ["lib-torchdiffeq", "lib-scipy", "numpy-loop", "diffrax"]
    try:
        import torchode  # noqa: F401
        keys += ["lib-torchode", "torchode"]
    except ImportError:
        pass
    payload, _ = _run("simulation_throughput", tmp_path, "--games", "2-D",
                      "--solvers", ",".join(keys))
    rows = payload["rows"]
    assert {r["key"] for r in rows} == set(keys) - {"diffrax"}
    (res,) = payload["results"]
    assert any(n.startswith("diffrax") and "skipped" in n for n in res["notes"])
    for r in rows:
        assert r["success"] and r["ms_per_trajectory"] > 0
        # every solver at rtol 1e-7 agrees with expm to well below the state's scale (~2)
        assert r["max_abs_error"] < 1e-5
    assert res["ratios"]["lib-scipy / numpy-loop"] > 0
    assert (tmp_path / "simulation_throughput.md").read_text().count("Ratios, 2-D") == 1


def test_torchode_compile_quick_matches_eager(tmp_path):
    """torch.compile on torchode's step (2-D, 16 ICs, t in [0, 1]): same steps as eager and
    the same solution to rounding (a dozen ulps of states of size ~2)."""
    pytest.importorskip("torchode")
    from benchmarks import torchode_compile
    payload = torchode_compile.main(["--quick", "--games", "2-D", "--out", str(tmp_path)])
    (row,) = payload["rows"]
    assert row["success"] and row["same_steps"] and row["steps"] > 5
    assert row["max_abs_difference"] < 1e-13
    assert row["first_compiled_call_seconds"] > 0 and row["speedup"] > 0
    assert json.loads((tmp_path / "torchode_compile.json").read_text())["rows"]
    assert "eager / compiled" in (tmp_path / "torchode_compile.md").read_text()


def test_einsum_order_quick(tmp_path):
    """Every order gives the stage sum to rounding; the grid says which order simulate uses."""
    pytest.importorskip("torchode")
    pytest.importorskip("opt_einsum")
    from benchmarks import einsum_order
    from integrators.simulate import STAGE_SUM_SEARCH_MIN
    payload = einsum_order.main(["--quick", "--games", "2-D", "--grid", "16x4,200x50",
                                 "--out", str(tmp_path)])
    (res,) = payload["results"]
    assert [r["order"] for r in res["rows"]] == list(einsum_order.ORDERS)
    for r in res["rows"]:
        assert r["einsum_max_abs_err"] < 1e-12 and r["einsum_us"] > 0 and r["solve_seconds"] > 0
    assert [g["simulate_uses"] for g in payload["grid"]] == [
        "off" if b * f < STAGE_SUM_SEARCH_MIN else "greedy" for b, f in ((16, 4), (200, 50))]
    assert "simulate uses" in (tmp_path / "einsum_order.md").read_text()


def test_phase_matrix_is_the_particle_jacobian():
    """The benchmark's reference (eq. 36 in numpy) against the library's autograd Jacobian,
    and expm against the library's own tight solve."""
    from benchmarks.simulation_throughput import make_game, phase_matrix, reference
    from integrators import simulate
    from mechanics import Curl, Friction, Magnetic, Particle
    game, A = make_game(3, 0.2, seed=1)
    mu = 0.7
    q = 2 / mu + mu
    dyn = Particle(game, Curl() + Magnetic(q) + Friction(mu))
    M = phase_matrix(0.2, A, mu, q)
    np.testing.assert_allclose(dyn.jacobian().numpy(), M, rtol=0, atol=1e-12)
    z0 = np.random.default_rng(0).standard_normal((2, dyn.dim))
    ts = np.array([0.0, 0.5, 1.0])
    traj = simulate(dyn, torch.as_tensor(z0), ts, rtol=1e-11, atol=1e-13)
    np.testing.assert_allclose(traj.zs.numpy(), reference(M, z0, ts), atol=1e-9)
    assert np.allclose(reference(M, z0, [0.0])[0], z0)
    assert np.allclose(scipy.linalg.expm(M * 0.0), np.eye(dyn.dim))


def test_cost_per_iteration_quick(tmp_path):
    payload, _ = _run("cost_per_iteration", tmp_path, "--methods",
                      "lead-adam,extra-adam,cgd,adam-alt-fused", "--modes",
                      "double_backward,forward,reverse_over_forward", "--styles", "fixed")
    labels = {r["label"] for r in payload["rows"]}
    modes = ("double_backward", "forward", "reverse_over_forward")
    assert labels == {"adam-alt", "adam-alt-fused", "extra-adam",
                      *(f"{m} [{mode}]" for m in ("lead-adam", "cgd") for mode in modes)}
    base = next(r for r in payload["rows"] if r["label"] == "adam-alt")
    assert base["ratio_to_adam_alt"] == 1.0 and base["flop_ratio_to_adam_alt"] == 1.0
    for r in payload["rows"]:
        assert r["ms_per_iter"] > 0 and r["gflop_per_iter"] > 0
    # FLOPs are deterministic: an exact mixed term costs more than plain gradients
    flops = {r["label"]: r["flop_ratio_to_adam_alt"] for r in payload["rows"]}
    assert flops["lead-adam [double_backward]"] > 1.0
    # one reverse pass over a JVP does less arithmetic than differentiating a gradient
    assert flops["lead-adam [reverse_over_forward]"] < flops["lead-adam [double_backward]"]
    assert set(payload["lead_adam_target"]) == {f"width 16 [{m}]" for m in modes}
    target = payload["lead_adam_target"].values()
    assert not any(v["target_applies"] for v in target)
    assert all(v["ratio_to_adam_alt_fused"] > 0 for v in target)


def test_cost_per_iteration_training_style_quick(tmp_path):
    """All three styles (fresh data and z per closure call: ``train``; the library's
    training step ``gans.run.Run.step`` of the lead-code preset: ``loop``, which runs only
    its methods), LEAD-Adam's ``auto`` timed after its calibration, ratios to both
    baselines, issue 19's targets per width and per number of torch threads."""
    from benchmarks.cost_per_iteration import target_for
    payload, _ = _run("cost_per_iteration", tmp_path, "--methods",
                      "lead-adam,adam-alt-fused,extra-adam", "--modes", "auto", "--no-flops",
                      "--thread-counts", "1,2")
    rows = payload["rows"]
    labels = ("adam-alt", "adam-alt-fused", "lead-adam [auto]")
    assert sorted((r["threads"], r["style"], r["label"]) for r in rows) == sorted(
        [(t, s, lab) for t in (1, 2) for s in ("fixed", "train") for lab in labels + ("extra-adam",)]
        + [(t, "loop", lab) for t in (1, 2) for lab in labels])
    for r in rows:
        assert r["ms_per_iter"] > 0 and r["ratio_to_adam_alt_fused"] > 0
        assert (r["auto_choice"] is not None) == (r["mixed_mode"] == "auto")
        if r["auto_choice"]:            # calibrated before it was timed
            assert set(r["auto_choice"]) == {"x", "y"} and None not in r["auto_choice"].values()
    target = payload["lead_adam_target"]
    assert set(target) == {f"{t} threads {s}width 16 [auto]" for t in (1, 2)
                           for s in ("", "train ", "loop ")}
    assert all(v["target"] == 2.0 for v in target.values())
    assert all((v["relative_to_extra_adam"] is None) == (v["style"] == "loop")
               for v in target.values())
    assert (target_for(256), target_for(1024), target_for(2000)) == (2.0, 1.8, 1.8)
    assert torch.get_num_threads() == 1           # --threads (1) restored afterwards


def test_derivative_passes_quick(tmp_path):
    payload, _ = _run("derivative_passes", tmp_path)
    kinds = [r["kind"] for r in payload["rows"]]
    assert kinds == ["gradient", "double_backward", "forward", "reverse_over_forward"]
    for r in payload["rows"]:
        assert r["ms_x"] > 0 and r["ms_y"] > 0
        assert (r["ratio_both"] == 1.0) == (r["kind"] == "gradient")


def test_mixed_term_smoke(capsys):
    from benchmarks import mixed_term
    mixed_term.main(["--width", "8", "--steps", "1", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "rof/GDA" in out and "per_player" in out


def test_derived_vs_handwritten_quick(tmp_path):
    payload, _ = _run("derived_vs_handwritten", tmp_path, "--modes", "double_backward")
    assert [r["problem"] for r in payload["rows"]] == ["gan-16", "quadratic-100"]
    for r in payload["rows"]:
        assert r["ratio"] > 0 and r["steps_timed"] == 2
        assert r["max_abs_iterate_difference"] <= 1e-6  # same rule, same iterates
    # Prop. 1 (eq. 7 charge): beta = 1 - mu delta, eta = delta^2, alpha = q delta
    rule = payload["rule"]
    assert rule["beta"] == pytest.approx(0.99) and rule["eta"] == pytest.approx(1e-4)
    assert rule["alpha"] == pytest.approx(0.03)
    members = {(r["problem"], r["member"]): r for r in payload["member_rows"]}
    assert len(members) == 2 * 7 and (tmp_path / "derived_vs_handwritten_members.md").exists()
    for (problem, member), r in members.items():
        if "error" in r:    # only a proximal step on the ReLU GAN may fail (a 2-cycle)
            assert "implicit curl" in member and problem.startswith("gan")
            assert "did not converge" in r["error"]
            continue
        # equal members give equal iterates; implicit ones iterate
        assert r["max_abs_iterate_difference"] <= 1e-5 or not r["same_iterates"]
        assert (r["inner_per_step"] >= 1) == r["implicit"]
    assert all("error" not in r for (p, _), r in members.items() if p.startswith("quadratic"))


def test_iterations_to_converge_quick(tmp_path):
    payload, _ = _run("iterations_to_converge", tmp_path, "--methods", "gda,eg")
    rows = payload["rows"]
    assert {(r["game"], r["method"]) for r in rows} == {
        (g, m) for g in ("quadratic", "coop-adversarial") for m in ("gda", "eg")}
    for r in rows:
        assert 0 < r["spectral_radius"]
        if r["iterations"] is not None:
            assert r["final_distance"] < 1e-6
            assert r["distances"][0] == pytest.approx(r["initial_distance"])


def test_bad_arguments_exit_2(tmp_path):
    from benchmarks import cost_per_iteration, simulation_throughput
    with pytest.raises(SystemExit) as e:
        cost_per_iteration.main(["--methods", "nope", "--out", str(tmp_path)])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        simulation_throughput.main(["--games", "3-D", "--out", str(tmp_path)])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        simulation_throughput.main(["--solvers", "julia", "--out", str(tmp_path)])
    assert e.value.code == 2
    from benchmarks import torchode_compile
    for bad in (["--parts", "solver"], ["--games", "3-D"], ["--saves", "1"]):
        with pytest.raises(SystemExit) as e:
            torchode_compile.main([*bad, "--out", str(tmp_path)])
        assert e.value.code == 2, bad
    from benchmarks import einsum_order
    for bad in (["--grid", "10x"], ["--grid", "0x4"], ["--games", "3-D"]):
        with pytest.raises(SystemExit) as e:
            einsum_order.main([*bad, "--out", str(tmp_path)])
        assert e.value.code == 2, bad
    assert not list(tmp_path.iterdir())


def test_runs_as_a_script(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "iterations_to_converge.py"),
                          "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0 and "--quick" in out.stdout


def test_adam_kernels_quick(tmp_path):
    """Smoke run of the Adam-kernel comparison (the update's values are tested against
    an elementwise reference in tests/test_optimizers_core.py)."""
    from benchmarks import adam_kernels
    payload = adam_kernels.main(["--quick", "--out", str(tmp_path)])
    assert [r["kernel"] for r in payload["rows"]] == ["fused", "foreach formulas",
                                                      "torch.optim.Adam"]
    assert payload["rows"][0]["ratio_to_fused"] == 1.0
    assert all(r["ms"] > 0 for r in payload["rows"])
    assert (tmp_path / "adam_kernels.md").stat().st_size > 0


def test_cost_per_iteration_methods_with_their_own_modes(tmp_path):
    """``--methods name:mode+mode`` runs that method in those modes only; a method without
    modes, or an unknown mode, is a usage error (exit 2)."""
    from benchmarks.cost_per_iteration import parse, variants
    args = parse(["--out", str(tmp_path), "--methods",
                  "lead-adam,lead-adam-nograd:reverse_over_forward", "--modes",
                  "auto,double_backward"])
    assert [lab for lab, _, _ in variants(args.methods, args.modes, args.own_modes)] == [
        "adam-alt", "lead-adam [auto]", "lead-adam [double_backward]",
        "lead-adam-nograd [reverse_over_forward]"]
    for bad in ("adam-sim:auto", "lead-adam:sideways"):
        with pytest.raises(SystemExit) as err:
            parse(["--out", str(tmp_path), "--methods", bad])
        assert err.value.code == 2
