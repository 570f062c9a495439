// The ensemble networks on a block of atoms: register-tiled GEMMs, CELU, hand-written backward.
// Part of the alal engine kernels (see kernels.cpp); every header is included once, into kernels.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "simd.h"

namespace {

// ------------------------------------------------------------------------------------------ networks
// Packed weights, per species and member, per layer l (padded widths pi -> po, multiples of 2W):
// Wt[pi][po] (forward), W[po][pi] (backward), b[po]; zero padding keeps padded activations at 0.

// Y[r][c0:c0+2W] = init + sum_k A[r][k] B[k][c0:c0+2W] for R rows (init: bias, Y itself, or 0).
template <typename T, int R>
inline void gemm_tile(int K, const T* A, int lda, const T* B, int ldb, const T* bias, T* Y, int ldy, int c0,
                      bool accumulate) {
    constexpr int W = Simd<T>::W;
    Vec<T> a0[R], a1[R];
    for (int r = 0; r < R; ++r) {
        if (accumulate) {
            a0[r] = load(Y + r * ldy + c0);
            a1[r] = load(Y + r * ldy + c0 + W);
        } else if (bias) {
            a0[r] = load(bias + c0);
            a1[r] = load(bias + c0 + W);
        } else {
            a0[r] = Vec<T>{};
            a1[r] = Vec<T>{};
        }
    }
    for (int k = 0; k < K; ++k) {
        const Vec<T> b0 = load(B + (int64_t)k * ldb + c0), b1 = load(B + (int64_t)k * ldb + c0 + W);
        for (int r = 0; r < R; ++r) {
            const T a = A[r * lda + k];
            a0[r] += a * b0;
            a1[r] += a * b1;
        }
    }
    for (int r = 0; r < R; ++r) {
        store(Y + r * ldy + c0, a0[r]);
        store(Y + r * ldy + c0 + W, a1[r]);
    }
}

// Y (nr x N) = init + A (nr x K) B (K x N); N a multiple of 2W.
template <typename T>
void gemm(int nr, int K, int N, const T* A, int lda, const T* B, int ldb, const T* bias, T* Y, int ldy,
          bool accumulate) {
    constexpr int W = Simd<T>::W;
    for (int c0 = 0; c0 < N; c0 += 2 * W) {
        int r = 0;
        for (; r + 6 <= nr; r += 6) gemm_tile<T, 6>(K, A + r * lda, lda, B, ldb, bias, Y + r * ldy, ldy, c0, accumulate);
        switch (nr - r) {
            case 5: gemm_tile<T, 5>(K, A + r * lda, lda, B, ldb, bias, Y + r * ldy, ldy, c0, accumulate); break;
            case 4: gemm_tile<T, 4>(K, A + r * lda, lda, B, ldb, bias, Y + r * ldy, ldy, c0, accumulate); break;
            case 3: gemm_tile<T, 3>(K, A + r * lda, lda, B, ldb, bias, Y + r * ldy, ldy, c0, accumulate); break;
            case 2: gemm_tile<T, 2>(K, A + r * lda, lda, B, ldb, bias, Y + r * ldy, ldy, c0, accumulate); break;
            case 1: gemm_tile<T, 1>(K, A + r * lda, lda, B, ldb, bias, Y + r * ldy, ldy, c0, accumulate); break;
            default: break;
        }
    }
}

template <typename T> inline void celu_inplace(T* x, int64_t len, T alpha) {
    constexpr int W = Simd<T>::W;
    const T inv_alpha = T(1) / alpha;
    for (int64_t q = 0; q < len; q += W) {
        Vec<T> z = load(x + q);
        Vec<T> neg = alpha * (vexp<T>(vmin<T>(z, Vec<T>{}) * inv_alpha) - T(1));
        store(x + q, z > T(0) ? z : neg);
    }
}

// dz = da * celu'(activation) with celu'(z) = min(celu(z)/alpha + 1, 1)
template <typename T> inline void celu_grad_mul(T* da, const T* act, int64_t len, T alpha) {
    constexpr int W = Simd<T>::W;
    const T inv_alpha = T(1) / alpha;
    for (int64_t q = 0; q < len; q += W)
        store(da + q, load(da + q) * vmin<T>(load(act + q) * inv_alpha + T(1), bc<T>(T(1))));
}

struct NetLayout {
    int n_layers;
    const int32_t* dims;   // padded widths d_0..d_L
    int64_t offset;        // of member 0 in the weights array
    int64_t member_stride;
};

// The M networks of one species on nb atoms: outputs out[m * out_stride + r], and when C > 0 the input
// gradients G (C x nb x d0), channel c = member m (C = M) or the cw-weighted sum over members (C = 1).
template <typename T> struct NetworkBlock {
    std::vector<std::vector<T>> act;  // activations per hidden layer
    std::vector<T> z, da, dz;

    void run(const NetLayout& L, const T* weights, int M, T alpha, int nb, const T* X, int C, const T* cw, T* out,
             int64_t out_stride, T* G) {
        const int nl = L.n_layers;
        const int* d = L.dims;
        int wmax = 0;
        for (int l = 0; l <= nl; ++l) wmax = std::max(wmax, d[l]);
        if ((int)act.size() < nl + 1) act.resize(nl + 1);
        for (int l = 1; l < nl; ++l)
            if ((int)act[l].size() < nb * d[l]) act[l].resize(nb * d[l]);
        if ((int)z.size() < nb * wmax) {
            z.resize(nb * wmax);
            da.resize(nb * wmax);
            dz.resize(nb * wmax);
        }
        std::vector<const T*> Wt(nl), Wb(nl), bias(nl);
        for (int m = 0; m < M; ++m) {
            const T* p = weights + L.offset + (int64_t)m * L.member_stride;
            for (int l = 0; l < nl; ++l) {
                Wt[l] = p;
                Wb[l] = p + (int64_t)d[l] * d[l + 1];
                bias[l] = Wb[l] + (int64_t)d[l + 1] * d[l];
                p = bias[l] + d[l + 1];
            }
            // forward
            const T* in = X;
            for (int l = 0; l < nl; ++l) {
                T* y = l < nl - 1 ? act[l + 1].data() : z.data();
                gemm<T>(nb, d[l], d[l + 1], in, d[l], Wt[l], d[l + 1], bias[l], y, d[l + 1], false);
                if (l < nl - 1) celu_inplace<T>(y, (int64_t)nb * d[l + 1], alpha);
                in = y;
            }
            for (int r = 0; r < nb; ++r) out[m * out_stride + r] = z[r * d[nl]];
            if (C == 0) continue;
            // backward from d(sum of outputs)/d(output) = cw[m]
            std::fill(dz.begin(), dz.begin() + nb * d[nl], T(0));
            for (int r = 0; r < nb; ++r) dz[r * d[nl]] = cw[m];
            for (int l = nl - 1; l >= 0; --l) {
                if (l == 0) {
                    T* g = G + (C == 1 ? 0 : (int64_t)m * nb * d[0]);
                    gemm<T>(nb, d[1], d[0], dz.data(), d[1], Wb[0], d[0], nullptr, g, d[0], C == 1 && m > 0);
                } else {
                    gemm<T>(nb, d[l + 1], d[l], dz.data(), d[l + 1], Wb[l], d[l], nullptr, da.data(), d[l], false);
                    celu_grad_mul<T>(da.data(), act[l].data(), (int64_t)nb * d[l], alpha);
                    std::swap(da, dz);
                }
            }
        }
    }
};

}  // namespace
