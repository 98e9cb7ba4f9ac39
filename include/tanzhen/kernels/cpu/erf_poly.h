// The rational erf both GELU epilogues use (vec_avx512.h, vec_avx2.h): the same constants,
// so the ISAs differ only in how they take 1 / Q.
#pragma once

namespace tanzhen::kernels {

// erf(z) for |z| <= kClamp as z P(z^2) / Q(z^2), P and Q of degree 5: a rational fit to
// erf on [0, 3.92] (least squares, Lawson-weighted towards minimax: scripts/fit_erf_rational.py),
// |error| <= 1.7e-8 before float rounding. Past the clamp erf is +-1 in float (1 - erf(3.92) = 3e-8, below half an ulp).
// It replaced Abramowitz & Stegun 7.1.26 (t = 1 / (1 + p|z|), a polynomial in t times
// e^(-z^2)), which took twice the instructions: GELU is the epilogue of the first FFN GEMM,
// and was a tenth of that GEMM's time.
namespace erf_poly {
constexpr float kClamp = 3.92f;
constexpr float kP[6] = {1.128378987312317f,     0.19276157021522522f,  0.053059887140989304f,
                         0.0038681351579725742f, 0.0002874606871046126f, 2.034575800280436e-06f};
constexpr float kQ[6] = {1.0f,                  0.5041621923446655f,    0.11508334428071976f,
                         0.015171940438449383f, 0.001188040478155017f, 3.806798849836923e-05f};
constexpr float kInvSqrt2 = 0.70710678118654752f;
}  // namespace erf_poly

}  // namespace tanzhen::kernels
