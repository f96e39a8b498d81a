"""Small versions of the GAN experiment scripts (examples/gan_appH.py, gan_digits.py): the
resumable run queue, the table statistics against independent computations, the report."""
from __future__ import annotations

import importlib.util
import os
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))   # the scripts import their shared helper module


def load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


common = load("_gan_experiments")


def test_bootstrap_interval_against_the_normal_approximation():
    x = np.random.default_rng(0).standard_normal(400)
    lo, hi = common.bootstrap_interval(x)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)      # the CLT interval, ~ the bootstrap's
    assert lo == pytest.approx(x.mean() - half, abs=0.02) and hi == pytest.approx(x.mean() + half, abs=0.02)
    assert common.bootstrap_interval([3.0, 3.0, 3.0]) == (3.0, 3.0)
    assert all(np.isnan(common.bootstrap_interval([1.0])))


def test_mann_whitney_by_counting_pairs():
    """Exact two-sided p-value for samples without ties: the U statistic counted pair by
    pair, its null distribution by enumerating every split of the ranks."""
    from itertools import combinations
    a, b = [0.1, 0.5, 0.9, 1.3], [0.2, 1.0, 1.5, 1.7, 2.0]
    u = sum(x > y for x in a for y in b)
    ranks = range(len(a) + len(b))
    null = [sum(i > j for i in s for j in ranks if j not in s) for s in combinations(ranks, len(a))]
    mean = len(a) * len(b) / 2
    p = np.mean([abs(v - mean) >= abs(u - mean) for v in null])
    assert common.mann_whitney(a, b) == pytest.approx(p, rel=1e-12)
    assert np.isnan(common.mann_whitney([1, 1], [1, 1])) and np.isnan(common.mann_whitney([], [1]))


MD = ("# Title\n\nprose before\n<!-- generated: t begin -->\nold table\nold caption\n"
      "<!-- generated: t end -->\n\nprose after\n<!-- generated: u begin -->\nu\n<!-- generated: u end -->\n")


def test_splice_block_replaces_only_the_named_block(tmp_path):
    md = tmp_path / "R.md"
    md.write_text(MD)
    common.splice_block(md, "t", "| a |\n|---|\n| 1 |")
    assert md.read_text() == MD.replace("old table\nold caption\n", "| a |\n|---|\n| 1 |\n")
    common.splice_block(md, "t", "x\n")                    # a final newline is not doubled
    assert md.read_text() == MD.replace("old table\nold caption\n", "x\n")
    assert [f.name for f in tmp_path.iterdir()] == ["R.md"]   # no temporary file left


@pytest.mark.parametrize("doc, marker, count", [
    (MD.replace("<!-- generated: t end -->\n", ""), "<!-- generated: t end -->", "0 times"),
    (MD.replace("<!-- generated: t begin -->\n", ""), "<!-- generated: t begin -->", "0 times"),
    (MD + "<!-- generated: t begin -->\n", "<!-- generated: t begin -->", "2 times"),
    (MD.replace("prose after", "<!-- generated: t end -->"), "<!-- generated: t end -->", "2 times"),
    (MD.replace("t begin", "T").replace("t end", "t begin").replace("T", "t end"),
     "<!-- generated: t end -->", "comes before"),
])
def test_splice_block_errors_name_the_file_and_marker_and_write_nothing(tmp_path, doc, marker, count):
    md = tmp_path / "R.md"
    md.write_text(doc)
    with pytest.raises(ValueError) as err:
        common.splice_block(md, "t", "new")
    assert str(md) in str(err.value) and repr(marker) in str(err.value) and count in str(err.value)
    assert md.read_text() == doc and [f.name for f in tmp_path.iterdir()] == ["R.md"]


def test_results_md_option_is_checked_before_training(tmp_path, capsys):
    """``--results-md`` naming a file without the block: exit 2 with the message, before
    any run (nothing written under --out)."""
    md = tmp_path / "R.md"
    md.write_text(MD)
    with pytest.raises(SystemExit) as exc:
        load("gan_digits").main(["--out", str(tmp_path / "out"), "--results-md", str(md)])
    assert exc.value.code == 2 and "generated: digits begin" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() and md.read_text() == MD


def test_appH_small_run_resumes_and_reports(tmp_path, capsys):
    appH = load("gan_appH")
    argv = ["--out", str(tmp_path), "--widths", "8", "--seeds", "2", "--iters", "4",
            "--eval-every", "2", "--optimizers", "lead-adam", "adam-alt"]
    appH.main(argv)
    runs = [json.loads(l) for l in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert len(runs) == 4 and {r["optimizer"] for r in runs} == {"lead-adam", "adam-alt"}
    assert all(r["config"]["preset"] == "lead-code" and r["config"]["width"] == 8 for r in runs)
    assert all([i for i, _ in r["energy_curve"]] == [2, 4] for r in runs)
    appH.main(argv)                                            # everything done: no new run
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 4
    table = (tmp_path / "table.md").read_text()
    assert "**Width 8** (4 runs, seeds [0, 1])" in table and "p = " in table
    lead = [r["energy_distance"] for r in runs if r["optimizer"] == "lead-adam"]
    assert f"{np.mean(lead):.3g} [" in table
    for f in ("samples_w8.png", "energy_w8.png", "summary.json"):
        assert (tmp_path / f).stat().st_size > 0
    md = tmp_path / "R.md"
    md.write_text(MD.replace(" t ", " appH "))
    appH.main(argv + ["--report-only", "--results-md", str(md)])
    assert md.read_text() == MD.replace(" t ", " appH ").replace(
        "old table\nold caption\n", (tmp_path / "table.md").read_text().rstrip("\n") + "\n")


def test_appH_rows_in_a_fixed_order_whatever_the_file_order():
    """lead-adam, adam-alt, adam first, then the others as their runs first appear."""
    appH = load("gan_appH")
    names = ["adam", "sgd", "adam-alt", "lead-adam", "other", "adam"]
    runs = [{"optimizer": o, "modes_covered": i} for i, o in enumerate(names)]
    rows = appH.in_row_order(common.summarize(runs, "optimizer", {"modes_covered": "m"},
                                              "lead-adam"))
    assert [r["optimizer"] for r in rows] == ["lead-adam", "adam-alt", "adam", "sgd", "other"]
    assert rows[2]["n"] == 2 and rows[2]["metrics"]["modes_covered"]["mean"] == 2.5


def test_digits_small_run(tmp_path):
    digits = load("gan_digits")
    digits.main(["--out", str(tmp_path), "--seeds", "1", "--iters", "2", "--width", "2",
                 "--eval-every", "0", "--eval-samples", "100", "--batch-size", "8"])
    runs = [json.loads(l) for l in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert [r["optimizer"] for r in runs] == ["lead-adam", "adam-alt"]
    assert all(r["fid"] > 0 and r["config"]["init"] == "normal-0.02" for r in runs)
    assert (tmp_path / "samples.png").stat().st_size > 0 and (tmp_path / "classifier.pt").is_file()
    assert "digits-FID of one half of the real digits against the other" in (tmp_path / "table.md").read_text()
    # strict JSON: NaN (the reference's p-value, the interval of one seed) is written as null
    def no_nan(token):
        raise AssertionError(f"summary.json holds {token}")
    rows = json.loads((tmp_path / "summary.json").read_text(), parse_constant=no_nan)
    assert rows[0]["metrics"]["fid"]["p_vs_ref"] is None and rows[0]["metrics"]["fid"]["lo"] is None


def test_derived_groups_and_small_run(tmp_path):
    """The derived-optimizers experiment: members grouped by their Adam-preconditioned
    direction (LEAD's members couple with alpha/eta = q/delta = 0.6, the heavy-ball and GDA
    members are plain alternating Adam), and a tiny resumable run beside the reference runs."""
    derived = load("gan_derived")
    gs = {g["label"]: g for g in derived.groups()}
    assert ["curl+magnetic+friction", "semi-implicit"] in gs["derived: coupling 0.6"]["members"]
    assert ["curl+friction", "semi-implicit"] in gs["derived: gradient only"]["members"]
    assert ["curl+friction+consensus", "semi-implicit"] in gs["derived: consensus 0.3"]["members"]
    members = [tuple(m) for g in gs.values() for m in g["members"]]
    assert len(members) == len(set(members))                  # each member in one group
    appH = load("gan_appH")
    ref = tmp_path / "appH"
    appH.main(["--out", str(ref), "--widths", "8", "--seeds", "1", "--iters", "4",
               "--eval-every", "2", "--optimizers", "lead-adam", "adam-alt"])
    argv = ["--out", str(tmp_path / "d"), "--width", "8", "--seeds", "1", "--iters", "4",
            "--eval-every", "2", "--reference", str(ref / "runs.jsonl"),
            "--only", "derived: gradient only", "derived: coupling 0.6"]
    derived.main(argv)
    runs = [json.loads(l) for l in (tmp_path / "d" / "runs.jsonl").read_text().splitlines()]
    assert {r["group"] for r in runs} >= {"derived: gradient only", "derived: coupling 0.6"}
    assert all(r["config"]["optimizer"] == "derived" for r in runs)
    derived.main(argv)                                         # resumes: nothing new
    assert len((tmp_path / "d" / "runs.jsonl").read_text().splitlines()) == len(runs)
    table = (tmp_path / "d" / "table.md").read_text()
    assert "| lead-adam | 1 |" in table and "| derived: coupling 0.6 | 1 |" in table
    assert (tmp_path / "d" / "samples_w8.png").stat().st_size > 0
    # Adam on the gradient alone, alternating, is alternating Adam: the same samples
    ref_runs = {r["optimizer"]: r for r in
                (json.loads(l) for l in (ref / "runs.jsonl").read_text().splitlines())}
    grad_only = next(r for r in runs if r["group"] == "derived: gradient only")
    assert grad_only["energy_distance"] == pytest.approx(ref_runs["adam-alt"]["energy_distance"],
                                                         rel=1e-5)


def test_run_queue_shares_a_queue_between_processes(tmp_path):
    """A job claimed by a live process is left to it; a dead process's claim is taken over;
    a job recorded by another process meanwhile is not run again."""
    import hashlib
    import subprocess
    results = tmp_path / "runs.jsonl"
    key = lambda j: {"i": j["i"]}
    claims = tmp_path / ".claims"
    claims.mkdir()

    def claim_file(i):
        return claims / (hashlib.sha1(json.dumps({"i": i}).encode()).hexdigest()[:16] + ".pid")

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    claim_file(0).write_text(str(os.getppid()))               # alive: not ours
    claim_file(1).write_text(str(dead.pid))                   # dead: taken over
    ran = []

    def run_one(job):
        ran.append(job["i"])
        if job["i"] == 1:                                      # "another process" finishes 2
            common.append_run(results, {"i": 2, "x": -1})
        return {"x": job["i"]}

    runs = common.run_queue([{"i": i} for i in range(4)], results, run_one, key)
    assert ran == [1, 3]
    assert sorted(r["i"] for r in runs) == [1, 2, 3]
    assert list(claims.iterdir()) == [claim_file(0)]           # ours removed, theirs kept


def test_derived_group_whose_training_fails_is_reported(tmp_path):
    """A proximal member on ReLU networks whose inner fixed point does not converge: the
    failure is recorded (not retried on resume) and the table says why the group has no runs."""
    derived = load("gan_derived")
    argv = ["--out", str(tmp_path), "--width", "8", "--seeds", "2", "--iters", "4",
            "--eval-every", "2", "--reference", str(tmp_path / "none.jsonl"),
            "--only", "derived: coupling 0.6, proximal"]
    derived.main(argv)
    fails = [json.loads(l) for l in (tmp_path / "failures.jsonl").read_text().splitlines()]
    assert [f["group"] for f in fails] == ["derived: coupling 0.6, proximal"]
    assert "did not converge" in fails[0]["error"]
    derived.main(argv)                              # resume: the failed group is not retried
    assert len((tmp_path / "failures.jsonl").read_text().splitlines()) == 1
    assert "coupling 0.6, proximal** (not run: training failed (seed 0)" in \
        (tmp_path / "table.md").read_text()


def test_derived_implicit_group_records_its_inner_solves(tmp_path, monkeypatch):
    """An implicit coupling group's run records its GMRES statistics (the optimizer's,
    as metrics.json names them) and the report lists them; with GMRES capped at one
    iteration short of its tol the run raises and is recorded in failures.jsonl, as a proximal one is."""
    derived = load("gan_derived")
    group = "derived: implicit coupling 0.6"
    argv = ["--width", "8", "--seeds", "1", "--iters", "3", "--eval-every", "3",
            "--reference", str(tmp_path / "none.jsonl"), "--only", group]
    derived.main(["--out", str(tmp_path / "a")] + argv)
    run, = [json.loads(l) for l in (tmp_path / "a" / "runs.jsonl").read_text().splitlines()]
    assert run["inner_iterations"] >= 2 * 3 and run["unconverged_solves"] == 0
    assert "inner iterations per step" in (tmp_path / "a" / "table.md").read_text()
    plain = derived.overrides
    # (at width 8 one iteration reaches ~1e-7: below the float32 default tol, not below 1e-12)
    monkeypatch.setattr(derived, "overrides",
                        lambda g: {**plain(g), "hyper": {"max_iter": 1, "tol": 1e-12}})
    derived.main(["--out", str(tmp_path / "b")] + argv)
    fail, = [json.loads(l) for l in (tmp_path / "b" / "failures.jsonl").read_text().splitlines()]
    assert fail["group"] == group and "GMRES) did not converge at step 1" in fail["error"]
    assert not (tmp_path / "b" / "runs.jsonl").exists() or \
        not (tmp_path / "b" / "runs.jsonl").read_text().strip()


def test_run_queue_resumes_with_the_default_key(tmp_path):
    """Without a key a recorded run matches its job by the job's own fields (the records
    carry more fields: metrics, config), so a rerun skips it (gan_digits.py relies on it)."""
    results = tmp_path / "runs.jsonl"
    jobs = [{"seed": s, "optimizer": o} for s in range(2) for o in ("a", "b")]
    ran = []
    common.run_queue(jobs[:3], results, lambda j: ran.append(dict(j)) or {"fid": 1.0})
    common.run_queue(jobs, results, lambda j: ran.append(dict(j)) or {"fid": 2.0})
    assert ran == jobs                                         # each job once
    assert len(common.load_runs(results)) == 4


def test_derived_group_tags_are_distinct():
    """Each group keeps its own sample files: groups that differ only in the sign of the
    look-ahead once shared a tag, and the later run overwrote the earlier's samples."""
    derived = load("gan_derived")
    labels = [g["label"] for g in derived.groups()]
    tags = [derived.tag(label) for label in labels]
    assert len(set(tags)) == len(labels)
    assert derived.tag("derived: lookahead -1") != derived.tag("derived: lookahead +1")
    assert derived.tag("derived: coupling 0.6") == "derived__coupling_0_6"   # names kept


def test_derived_implicit_coupling_groups_accept_unconverged_solves_proximal_do_not():
    derived = load("gan_derived")
    for g in derived.groups():
        hyper = derived.overrides(g).get("hyper", {})
        if "implicit coupling" in g["label"]:
            assert hyper == {"unconverged": "accept"}
        else:                  # proximal and explicit groups: the library's default
            assert "unconverged" not in hyper
