"""Symbolic derivation (integrators.derive): Prop. 1 / App. B coefficients, printing, errors."""
import json

import pytest
import sympy as sp

from integrators.derive import delta, derive, m, mu, q
from integrators.rule import UpdateRule
from integrators.schemes import SCHEMES, Scheme
from mechanics import Curl, Friction, Magnetic


def same(a, b):
    return sp.simplify(a - b) == 0


def test_curl_only_is_gda_with_momentum_one():
    r = derive("curl", "semi-implicit")
    assert same(r.beta, 1) and same(r.alpha, 0) and same(r.eta, delta**2 / m)
    assert same(r.lookahead, 0) and same(r.alpha_implicit, 0)


def test_curl_friction_is_heavy_ball():
    r = derive(["curl", "friction"], "semi-implicit")
    assert same(r.beta, 1 - mu * delta / m)
    assert same(r.eta, delta**2 / m)
    assert same(r.alpha, 0)


@pytest.mark.parametrize("convention,factor", [("eq7", 1), ("slides", 2)])
def test_prop1_gives_lead_with_charge_convention(convention, factor):
    r = derive("curl,magnetic,friction", "semi-implicit", convention=convention)
    assert same(r.beta, 1 - mu * delta / m)
    assert same(r.eta, delta**2 / m)
    assert same(r.alpha, factor * q * delta / m)
    # with m = 1 this is Prop. 1 / eq. 34 (alpha = 2 q delta under the slides' 2q)
    assert same(r.alpha.subs(m, 1), factor * q * delta)


def test_convention_read_from_magnetic_force_and_mismatch_rejected():
    r = derive(Curl() + Magnetic(0.3, convention="slides") + Friction(0.1))
    assert r.convention == "slides" and same(r.alpha, 2 * q * delta / m)
    with pytest.raises(ValueError, match="convention"):
        derive(Curl() + Magnetic(0.3, convention="slides"), convention="eq7")


def test_other_schemes_coefficients():
    f = "curl,magnetic,friction"
    imp_f = derive(f, "implicit-friction")
    assert same(imp_f.beta, m / (m + mu * delta)) and same(imp_f.eta, delta**2 / (m + mu * delta))
    assert same(imp_f.alpha, q * delta / (m + mu * delta))
    imp_m = derive(f, "implicit-magnetic")
    assert same(imp_m.alpha, 0) and same(imp_m.alpha_implicit, q * delta / m)
    nes = derive(f, "nesterov")
    assert same(nes.lookahead, nes.beta) and same(nes.beta, 1 - mu * delta / m)
    exp = derive(f, "explicit")
    assert same(exp.lookahead, -1) and same(exp.beta, 1 - mu * delta / m)
    assert derive(f, "implicit-curl").implicit_gradient


def test_custom_scheme_and_numeric_extrapolation():
    s = Scheme("mine", friction="implicit", extrapolation=0.5)
    r = derive("curl,friction", s)
    assert same(r.lookahead, sp.Rational(1, 2)) and same(r.beta, m / (m + mu * delta))


def test_values_and_update_rule():
    r = derive("curl,magnetic,friction", convention="slides")
    v = r.values(delta=0.1, mu=0.5, q=2.0, mass=2.0)
    assert v["beta"] == pytest.approx(1 - 0.5 * 0.1 / 2.0, abs=1e-15)
    assert v["eta"] == pytest.approx(0.01 / 2.0, abs=1e-15)
    assert v["alpha"] == pytest.approx(2 * 2.0 * 0.1 / 2.0, abs=1e-15)
    rule = r.to_update_rule(0.1, mu=0.5, q=2.0, mass=2.0)
    assert isinstance(rule, UpdateRule) and rule.is_explicit
    assert (rule.beta, rule.eta, rule.alpha) == (v["beta"], v["eta"], v["alpha"])
    with pytest.raises(ValueError, match="needs a value for q"):
        r.values(delta=0.1, mu=0.5)
    with pytest.raises(ValueError, match="delta"):
        r.values(delta=-1, mu=0.5, q=1)
    assert not derive("curl,magnetic", "implicit-magnetic").to_update_rule(0.1, q=1).is_explicit
    prox = derive("curl", "implicit-curl").to_update_rule(0.1)
    assert prox.proximal and not prox.is_explicit
    with pytest.raises(ValueError, match="eta = 0"):
        derive("friction").to_update_rule(0.1, mu=0.1)


def test_text_and_latex():
    r = derive("curl,magnetic,friction", convention="slides")
    text = r.text()
    assert "alpha = 2*delta*q/m" in text and "beta = -delta*mu/m + 1" in text
    assert "x[k+1] = x[k] + beta*dx[k] - eta*grad_x f(p) - alpha*grad_xy f(p)*dy[k]" in text
    latex = r.latex()
    assert r"\frac{2 \delta q}{m}" in latex and latex.startswith(r"\begin{aligned}")
    assert "alpha_implicit" in derive("curl,magnetic", "implicit-magnetic").text()
    # the strings parse back to the same expressions
    for k, s in r.as_strings().items():
        assert same(sp.sympify(s, locals={"delta": delta, "m": m, "mu": mu, "q": q}),
                    getattr(r, k))
    json.dumps(r.as_strings())


def test_bad_input():
    with pytest.raises(ValueError, match="valid schemes: semi-implicit"):
        derive("curl", "leapfrog")
    with pytest.raises(ValueError, match="unknown force 'gravity'"):
        derive("curl,gravity")
    with pytest.raises(ValueError, match="twice"):
        derive("curl,curl")
    with pytest.raises(ValueError, match="convention"):
        derive("curl,magnetic", convention="cgs")
    with pytest.raises(ValueError, match="explicit' or 'implicit"):
        Scheme("bad", friction="half")
    with pytest.raises(ValueError, match="extrapolation needs"):
        Scheme("bad", position="explicit", extrapolation=0.5)
    with pytest.raises(TypeError):
        derive([3.0])
    assert set(SCHEMES) >= {"semi-implicit", "explicit", "implicit-friction",
                            "implicit-magnetic", "nesterov"}
