#!/usr/bin/env python3
"""Fits the rational erf that GELU uses (include/tanzhen/kernels/cpu/vec_avx512.h, erf_poly):
erf(z) ~ z P(z^2) / Q(z^2) on [0, C], P and Q of degree 5, Q(0) = 1.

Linearised least squares (z P(u) - erf(z) Q(u) = 0, each point weighted by 1 / |Q_prev(u)|),
with Lawson's reweighting towards the minimax solution; then checks GELU built from the
float32-rounded coefficients against 0.5 x (1 + erf(x / sqrt 2)) in double. Needs numpy.

    /usr/bin/python3 scripts/fit_erf_rational.py [--clamp 3.92] [--degrees 5 5]
"""
import argparse
import math

import numpy as np


def fit(deg_p, deg_q, clamp, iters=60):
    t = np.cos(np.linspace(0, np.pi, 6000)) * 0.5 + 0.5  # denser near both ends
    z = np.unique(np.clip(np.concatenate([np.linspace(1e-4, clamp, 4000), t * clamp]), 1e-5, clamp))
    u, f = z * z, np.array([math.erf(v) for v in z])
    w, q_prev, best = np.ones_like(z), np.ones_like(z), None
    for _ in range(iters):
        a = np.concatenate([np.stack([z * u**i for i in range(deg_p + 1)], 1),
                            np.stack([-f * u**j for j in range(1, deg_q + 1)], 1)], 1)
        sw = np.sqrt(w) / q_prev
        sol = np.linalg.lstsq(a * sw[:, None], f * sw, rcond=None)[0]
        p, q = sol[:deg_p + 1], np.concatenate([[1.0], sol[deg_p + 1:]])
        qv = np.polyval(q[::-1], u)
        err = z * np.polyval(p[::-1], u) / qv - f
        m = np.abs(err).max()
        if best is None or m < best[0]:
            best = (m, p, q)
        q_prev = np.abs(qv)
        w = w * (np.abs(err) / m + 1e-3)
        w /= w.sum()
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clamp", type=float, default=3.92)
    ap.add_argument("--degrees", type=int, nargs=2, default=[5, 5])
    a = ap.parse_args()
    m, p, q = fit(a.degrees[0], a.degrees[1], a.clamp)
    print(f"max |error| of the fit on [0, {a.clamp}]: {m:.2e}; 1 - erf(clamp) = {1 - math.erf(a.clamp):.1e}")
    print("kP =", [float(np.float32(c)) for c in p])
    print("kQ =", [float(np.float32(c)) for c in q])
    pf, qf = p.astype(np.float32), q.astype(np.float32)
    x = np.linspace(-12, 12, 2_000_001).astype(np.float32)
    z = np.clip(x * np.float32(1 / math.sqrt(2)), np.float32(-a.clamp), np.float32(a.clamp))
    u = z * z
    pv, qv = np.full_like(u, pf[-1]), np.full_like(u, qf[-1])
    for i in range(len(pf) - 2, -1, -1):
        pv = pv * u + pf[i]
    for i in range(len(qf) - 2, -1, -1):
        qv = qv * u + qf[i]
    gelu = np.float32(0.5) * x * (np.float32(1) + z * pv / qv)
    xd = x.astype(np.float64)
    exact = 0.5 * xd * (1 + np.array([math.erf(v / math.sqrt(2)) for v in xd]))
    rel = np.abs(gelu - exact) / np.maximum(1.0, np.abs(xd))
    # numpy rounds every product and sum; the kernel's fused multiply-adds round less, and its
    # test (tests/model/dtype_linear_test.cc) holds 3e-7.
    print(f"GELU in float32 without FMA on [-12, 12]: max |error| / max(1, |x|) = {rel.max():.2e}")


if __name__ == "__main__":
    main()
