// SIMD vectors (GCC/Clang vector extensions) and vectorised exp, log, sin/cos, cutoff function.
// Part of the alal engine kernels (see kernels.cpp); every header is included once, into kernels.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ALAL_X86 1
#endif

namespace {

// ------------------------------------------------------------------------------------------ SIMD helpers
// GCC/Clang vector extensions: 32-byte vectors (AVX2 when compiled with -mavx2, split into SSE otherwise).

template <typename T> struct Simd;
template <> struct Simd<float> {
    typedef float V __attribute__((vector_size(32)));
    typedef int32_t I __attribute__((vector_size(32)));
    static constexpr int W = 8;
};
template <> struct Simd<double> {
    typedef double V __attribute__((vector_size(32)));
    typedef int64_t I __attribute__((vector_size(32)));
    static constexpr int W = 4;
};

template <typename T> using Vec = typename Simd<T>::V;
template <typename T> using IVec = typename Simd<T>::I;

template <typename T> inline Vec<T> bc(T x) { return Vec<T>{} + x; }
// unaligned loads/stores through memcpy: exact aliasing information for the optimiser
template <typename T> inline Vec<T> load(const T* p) {
    Vec<T> v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
}
template <typename T> inline void store(T* p, Vec<T> v) { __builtin_memcpy(p, &v, sizeof(v)); }
template <typename T> inline T hsum(Vec<T> v) {
    T s = 0;
    for (int l = 0; l < Simd<T>::W; ++l) s += v[l];
    return s;
}
// max/min: one instruction with AVX (the generic select compiles to compare + blend)
template <typename T> inline Vec<T> vmax(Vec<T> a, Vec<T> b) { return a > b ? a : b; }
template <typename T> inline Vec<T> vmin(Vec<T> a, Vec<T> b) { return a < b ? a : b; }
#if defined(__AVX__)
template <> inline Vec<float> vmax<float>(Vec<float> a, Vec<float> b) { return (Vec<float>)_mm256_max_ps((__m256)a, (__m256)b); }
template <> inline Vec<float> vmin<float>(Vec<float> a, Vec<float> b) { return (Vec<float>)_mm256_min_ps((__m256)a, (__m256)b); }
template <> inline Vec<double> vmax<double>(Vec<double> a, Vec<double> b) { return (Vec<double>)_mm256_max_pd((__m256d)a, (__m256d)b); }
template <> inline Vec<double> vmin<double>(Vec<double> a, Vec<double> b) { return (Vec<double>)_mm256_min_pd((__m256d)a, (__m256d)b); }
#endif

inline Vec<float> vsqrt(Vec<float> x) {
#if defined(__AVX__)
    return (Vec<float>)_mm256_sqrt_ps((__m256)x);
#else
    Vec<float> r;
    for (int l = 0; l < 8; ++l) r[l] = std::sqrt(x[l]);
    return r;
#endif
}
inline Vec<double> vsqrt(Vec<double> x) {
#if defined(__AVX__)
    return (Vec<double>)_mm256_sqrt_pd((__m256d)x);
#else
    Vec<double> r;
    for (int l = 0; l < 4; ++l) r[l] = std::sqrt(x[l]);
    return r;
#endif
}

// exp and log: Cody-Waite range reduction + Taylor polynomials, accurate to a few ulp (float and double).
// Arguments below the underflow threshold return exactly 0 (as torchani's exp does, up to 1e-38/1e-308).
template <typename T> struct MathConst;
template <> struct MathConst<float> {
    static constexpr float exp_lo = -87.0f, exp_hi = 88.0f, magic = 12582912.0f;  // 1.5 * 2^23
    static constexpr float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    static constexpr int mant = 23, bias = 127;
    static constexpr int32_t mant_mask = 0x007fffff, one_bits = 0x3f800000, exp_mask = 0xff;
};
template <> struct MathConst<double> {
    static constexpr double exp_lo = -708.0, exp_hi = 709.0, magic = 6755399441055744.0;  // 1.5 * 2^52
    static constexpr double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    static constexpr int mant = 52, bias = 1023;
    static constexpr int64_t mant_mask = 0x000fffffffffffffLL, one_bits = 0x3ff0000000000000LL, exp_mask = 0x7ff;
};

template <typename T> inline Vec<T> exp_poly(Vec<T> r);
template <> inline Vec<float> exp_poly<float>(Vec<float> r) {  // minimax (Cephes expf) on |r| <= ln2/2
    Vec<float> p = bc(1.9875691500E-4f);
    p = p * r + 1.3981999507E-3f;
    p = p * r + 8.3334519073E-3f;
    p = p * r + 4.1665795894E-2f;
    p = p * r + 1.6666665459E-1f;
    p = p * r + 5.0000001201E-1f;
    return p * (r * r) + r + 1.0f;
}
template <> inline Vec<double> exp_poly<double>(Vec<double> r) {  // Taylor to r^13 (error < 1e-17)
    static const double c[14] = {1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
                                 1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
                                 1.0 / 6227020800.0};
    Vec<double> p = bc(c[13]);
    for (int k = 12; k >= 0; --k) p = p * r + c[k];
    return p;
}

// exp for arguments <= ~ +80 (every use here: Gaussians, (base <= 1)^zeta, celu of negatives, q^k with
// bounded exponents). Below the smallest normal result it returns exp(exp_lo) (~1e-38 / 1e-308) instead
// of 0: harmless, and denormals are flushed anyway.
template <typename T> inline Vec<T> vexp(Vec<T> x) {
    typedef MathConst<T> K;
    x = vmax<T>(x, bc<T>(K::exp_lo));
    const Vec<T> magic = bc<T>(K::magic);
    Vec<T> t = x * T(1.4426950408889634) + magic;  // round(x / ln2) in the low mantissa bits
    Vec<T> n = t - magic;
    IVec<T> ni = (IVec<T>)t - (IVec<T>)magic;
    Vec<T> r = x - n * K::ln2_hi;
    r = r - n * K::ln2_lo;
    Vec<T> p = exp_poly<T>(r);
    return (Vec<T>)((IVec<T>)p + (ni << K::mant));
}

// log for positive normal arguments: x = m 2^e with m in [sqrt(1/2), sqrt(2)).
template <typename T> inline Vec<T> vlog(Vec<T> x);
template <> inline Vec<float> vlog<float>(Vec<float> x) {  // Cephes logf polynomial (no division)
    typedef MathConst<float> K;
    typedef IVec<float> I;
    I xi = (I)x;
    I e = ((xi >> K::mant) & K::exp_mask) - K::bias;
    Vec<float> m = (Vec<float>)((xi & K::mant_mask) | K::one_bits);
    I big = m > 1.4142135623730951f;
    m = big ? m * 0.5f : m;
    e = e - big;  // big is -1 where true
    Vec<float> f = m - 1.0f;
    Vec<float> z = f * f;
    Vec<float> p = bc(7.0376836292E-2f);
    p = p * f - 1.1514610310E-1f;
    p = p * f + 1.1676998740E-1f;
    p = p * f - 1.2420140846E-1f;
    p = p * f + 1.4249322787E-1f;
    p = p * f - 1.6668057665E-1f;
    p = p * f + 2.0000714765E-1f;
    p = p * f - 2.4999993993E-1f;
    p = p * f + 3.3333331174E-1f;
    Vec<float> ef = __builtin_convertvector(e, Vec<float>);
    Vec<float> y = p * f * z + ef * K::ln2_lo - 0.5f * z;
    return f + y + ef * K::ln2_hi;
}
template <> inline Vec<double> vlog<double>(Vec<double> x) {  // 2 atanh(f / (2 + f)) series
    typedef MathConst<double> K;
    typedef IVec<double> I;
    I xi = (I)x;
    I e = ((xi >> K::mant) & K::exp_mask) - K::bias;
    Vec<double> m = (Vec<double>)((xi & K::mant_mask) | K::one_bits);
    I big = m > 1.4142135623730951;
    m = big ? m * 0.5 : m;
    e = e - big;
    Vec<double> f = m - 1.0;
    Vec<double> s = f / (f + 2.0);
    Vec<double> z = s * s;
    const int nterms = 11;  // |s| <= 0.1716: error < 1e-17
    Vec<double> p = bc(1.0 / (2 * nterms + 1));
    for (int k = nterms - 1; k >= 1; --k) p = p * z + 1.0 / (2 * k + 1);
    p = p * z;
    Vec<double> two_s = s + s;
    Vec<double> logm = two_s + two_s * p;
    Vec<double> ef = __builtin_convertvector(e, Vec<double>);
    return ef * K::ln2_hi + (ef * K::ln2_lo + logm);
}

// sin and cos of u in [-pi/2, pi/2] (Taylor; float to u^13 / u^12, double to u^23 / u^22).
// SIN_COEF[m] = (-1)^m / (2m+1)!, COS_COEF[m] = (-1)^m / (2m)!
static const double SIN_COEF[12] = {1.0, -1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880, -1.0 / 39916800,
                                    1.0 / 6227020800.0, -1.0 / 1307674368000.0, 1.0 / 355687428096000.0,
                                    -1.0 / 121645100408832000.0, 1.0 / 51090942171709440000.0,
                                    -1.0 / 25852016738884976640000.0};
static const double COS_COEF[12] = {1.0, -1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800,
                                    1.0 / 479001600, -1.0 / 87178291200.0, 1.0 / 20922789888000.0,
                                    -1.0 / 6402373705728000.0, 1.0 / 2432902008176640000.0,
                                    -1.0 / 1124000727777607680000.0};
template <typename T> inline void vsincos_half(Vec<T> u, Vec<T>& s, Vec<T>& c) {
    const int nt = sizeof(T) == 4 ? 7 : 12;
    Vec<T> z = u * u;
    Vec<T> ps = bc<T>(T(SIN_COEF[nt - 1]));
    for (int k = nt - 2; k >= 0; --k) ps = ps * z + T(SIN_COEF[k]);
    Vec<T> pc = bc<T>(T(COS_COEF[nt - 1]));
    for (int k = nt - 2; k >= 0; --k) pc = pc * z + T(COS_COEF[k]);
    s = ps * u;
    c = pc;
}

// Cosine cutoff fc(r) = 0.5 cos(pi r / rc) + 0.5 and its derivative, zero at and beyond rc (torchani's).
template <typename T> inline void cosine_cutoff(Vec<T> r, T rc, Vec<T>& fc, Vec<T>& dfc) {
    const T k = T(M_PI) / rc;
    Vec<T> theta = vmin<T>(r * k, bc<T>(T(M_PI)));
    Vec<T> u = theta - T(M_PI / 2);  // cos(theta) = -sin(u), sin(theta) = cos(u)
    Vec<T> su, cu;
    vsincos_half<T>(u, su, cu);
    IVec<T> inside = r < rc;
    fc = inside ? (T(0.5) - T(0.5) * su) : Vec<T>{};
    dfc = inside ? (T(-0.5) * k * cu) : Vec<T>{};
}

// Denormals make exp tails and tiny cutoff products 100x slower; flush them (per thread, restored after).
struct FlushDenormals {
#ifdef ALAL_X86
    unsigned int saved;
    FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040); }
    ~FlushDenormals() { _mm_setcsr(saved); }
#endif
};

}  // namespace
