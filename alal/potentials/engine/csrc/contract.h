// The trainer's force contraction (alal/al/trainer.py, fast path): per atom, a small dense Jacobian block
// times the ensemble's dE/dAEV, and its transpose for the backward pass.
// Part of the alal engine kernels (see kernels.cpp); every header is included once, into kernels.cpp.
//
// Why not torch.bmm: the blocks are tiny (rows ~100 x F = 32 or 64, times M <= 8 members) and every atom has
// its own, so bmm runs them as thousands of small GEMMs far from the machine's peak (measured 10 GFLOP/s on
// 2 cores, a third of an epoch). Here the M members are one SIMD vector: each Jacobian entry is loaded once
// and used in one fused multiply-add across all members, with dE/dAEV of the atom held in L1.
//
// Layouts (float32):
//   g:     (M, A, ldg) standardised dE/dAEV of every member; features [f0, f0 + F) are this block's.
//   scale: (ldg) per-feature factor applied to g (1/std of the standardisation).
//   jac:   per atom a, the address of its (rows[a], F) row-major block.
//   out:   per atom a, rows[a] x M values (members contiguous) starting at out + out_off[a].
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "simd.h"
#include "threads.h"

namespace {

constexpr int kContractAtomsPerChunk = 16;

// out_a = J_a (g_a * scale): out[a][r][m] = sum_f J_a[r][f] g[m][a][f0 + f] scale[f0 + f]
inline void jac_contract(int64_t A, int M, int F, int f0, int64_t ldg, const float* g, const float* scale,
                         const int64_t* jac, const int64_t* rows, const int64_t* out_off, float* out, int nt) {
    typedef Vec<float> V;
    Dispenser work(A, kContractAtomsPerChunk);
    parallel(nt, [&](int, int) {
        std::vector<V> buf(F);
        int64_t begin, end;
        while (work.take(begin, end)) {
            for (int64_t a = begin; a < end; ++a) {
                for (int f = 0; f < F; ++f) {
                    V v{};
                    for (int m = 0; m < M; ++m) v[m] = g[(m * A + a) * ldg + f0 + f] * scale[f0 + f];
                    buf[f] = v;
                }
                const float* J = reinterpret_cast<const float*>(jac[a]);
                float* o = out + out_off[a];
                const int64_t R = rows[a];
                int64_t r = 0;
                for (; r + 4 <= R; r += 4) {  // four rows at once: independent accumulators hide FMA latency
                    const float *j0 = J + r * F, *j1 = j0 + F, *j2 = j1 + F, *j3 = j2 + F;
                    V a0{}, a1{}, a2{}, a3{};
                    for (int f = 0; f < F; ++f) {
                        const V x = buf[f];
                        a0 += bc(j0[f]) * x;
                        a1 += bc(j1[f]) * x;
                        a2 += bc(j2[f]) * x;
                        a3 += bc(j3[f]) * x;
                    }
                    std::memcpy(o + (r + 0) * M, &a0, sizeof(float) * M);
                    std::memcpy(o + (r + 1) * M, &a1, sizeof(float) * M);
                    std::memcpy(o + (r + 2) * M, &a2, sizeof(float) * M);
                    std::memcpy(o + (r + 3) * M, &a3, sizeof(float) * M);
                }
                for (; r < R; ++r) {
                    const float* j0 = J + r * F;
                    V a0{};
                    for (int f = 0; f < F; ++f) a0 += bc(j0[f]) * buf[f];
                    std::memcpy(o + r * M, &a0, sizeof(float) * M);
                }
            }
        }
    });
}

// The transpose, for the backward pass: grad_g[m][a][f0 + f] = scale[f0 + f] sum_r J_a[r][f] gout[a][r][m].
// Writes features [f0, f0 + F) of every atom of grad_g (M, A, ldg); nothing else.
inline void jac_contract_t(int64_t A, int M, int F, int f0, int64_t ldg, const float* gout, const float* scale,
                           const int64_t* jac, const int64_t* rows, const int64_t* out_off, float* grad_g, int nt) {
    typedef Vec<float> V;
    Dispenser work(A, kContractAtomsPerChunk);
    parallel(nt, [&](int, int) {
        std::vector<V> go, acc(F);
        int64_t begin, end;
        while (work.take(begin, end)) {
            for (int64_t a = begin; a < end; ++a) {
                const float* J = reinterpret_cast<const float*>(jac[a]);
                const float* src = gout + out_off[a];
                const int64_t R = rows[a];
                go.resize(R);
                for (int64_t r = 0; r < R; ++r) {  // this atom's output gradient, members padded to a vector
                    V v{};
                    std::memcpy(&v, src + r * M, sizeof(float) * M);
                    go[r] = v;
                }
                int f = 0;
                for (; f + 4 <= F; f += 4) {  // four features at once, accumulators in registers
                    V a0{}, a1{}, a2{}, a3{};
                    for (int64_t r = 0; r < R; ++r) {
                        const float* j = J + r * F + f;
                        const V x = go[r];
                        a0 += bc(j[0]) * x;
                        a1 += bc(j[1]) * x;
                        a2 += bc(j[2]) * x;
                        a3 += bc(j[3]) * x;
                    }
                    acc[f] = a0;
                    acc[f + 1] = a1;
                    acc[f + 2] = a2;
                    acc[f + 3] = a3;
                }
                for (; f < F; ++f) {
                    V a0{};
                    for (int64_t r = 0; r < R; ++r) a0 += bc(J[r * F + f]) * go[r];
                    acc[f] = a0;
                }
                for (int m = 0; m < M; ++m) {
                    float* dst = grad_g + (m * A + a) * ldg + f0;
                    for (int k = 0; k < F; ++k) dst[k] = acc[k][m] * scale[f0 + k];
                }
            }
        }
    });
}

}  // namespace
