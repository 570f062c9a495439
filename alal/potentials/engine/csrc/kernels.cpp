// Fast ANI kernels for alal: cell-list neighbour list, AEV forward pass, AEV backward pass (analytic
// derivatives), force/virial gather, the trainer's Jacobian contraction (contract.h). Plain C ABI, loaded
// with ctypes (alal/potentials/engine/native.py); no torch headers, so a build takes seconds. Threads: a
// small persistent pool whose idle workers sleep (condition variables) instead of spinning: on a shared,
// busy machine spinning OpenMP workers steal the cores the computing threads need (measured 4x slower with
// 2 threads on a loaded 2-core machine).
//
// Conventions
//   positions x: (N,3) double. cell C: (3,3) double, rows are lattice vectors; fractional s = x C^-1.
//   Neighbour list: CSR over centre atoms. Entry e = (centre i, neighbour j, integer image shift n) with
//   displacement d_e = x_j - x_i + n C. Every pair appears twice (i->j and j->i); partner[e] is the reverse.
//   Batches: B independent systems are one flat list (atoms and entries concatenated, indices shifted);
//   atom_system[i] names the system (its cell in the geometry pass, its virial in the gather).
//   Geometry buffer geo: 8 rows of length Epad (SoA): dx, dy, dz, r, fc_rad, dfc_rad, fc_ang, dfc_ang.
//   AEV layout is torchani's: radial blocks per neighbour species (nR each), then angular blocks per
//   unordered species pair (triu order; nA*nS each, feature index t*nS + s).
//   A "channel" is one set of energy gradients: 1 for the ensemble mean, M for per-member forces.
//   gv: (C, E, 3): dE_c/dd_e through the centre atom's own AEV. Forces then need only a gather:
//   F_i = sum_{e in i} (gv_e - gv_partner(e)); virial W = sum_e d_e (x) gv_e.

#include <cstdint>
#include <cstring>
#include <vector>

#include "aev.h"
#include "contract.h"
#include "neighbors.h"
#include "network.h"
#include "simd.h"
#include "threads.h"

namespace {

// ------------------------------------------------------------------------------------------ fused evaluation
// Blocks of atoms of one species (block_starts index into order): AEVs -> networks -> AEV backward, all in
// cache. Outputs: out (M x n) per-atom outputs of every member; gv (C x E x 3) when C > 0.
template <typename T, int NR, int NA, int NS>
void evaluate(int64_t n, const int64_t* offsets, const int32_t* nbr, const int32_t* species, const T* geo,
              int64_t epad, const AevSpec& sp, const int32_t* order, const int64_t* block_starts, int64_t nblocks,
              const NetLayout* layouts, const T* weights, int M, T alpha, int C, const T* cw, T* out, T* gv, int nt) {
    const int64_t E = offsets[n];
    Dispenser blocks(nblocks, 1);
    parallel(nt, [&](int, int) {
        AtomAev<T, NR, NA, NS> aa(sp, geo, epad, offsets, nbr, species);
        NetworkBlock<T> net;
        std::vector<T> X, G, outb;
        std::vector<Vec<T>> cache;
        std::vector<int64_t> cache_at;
        int64_t b, b_end;
        while (blocks.take(b, b_end)) {
            const int64_t a0 = block_starts[b];
            const int nb = (int)(block_starts[b + 1] - a0);
            const int s = species[order[a0]];
            const NetLayout& L = layouts[s];
            const int d0 = L.dims[0];
            X.assign((size_t)nb * d0, T(0));
            cache_at.assign(nb + 1, 0);
            for (int r = 0; r < nb; ++r)
                cache_at[r + 1] = aa.forward(order[a0 + r], X.data() + (int64_t)r * d0, C > 0 ? &cache : nullptr, cache_at[r]);
            if (C > 0) G.assign((size_t)C * nb * d0, T(0));
            outb.resize((size_t)M * nb);
            net.run(L, weights, M, alpha, nb, X.data(), C, cw, outb.data(), nb, C > 0 ? G.data() : nullptr);
            for (int m = 0; m < M; ++m)
                for (int r = 0; r < nb; ++r) out[(int64_t)m * n + order[a0 + r]] = outb[(int64_t)m * nb + r];
            for (int r = 0; r < nb && C > 0; ++r)
                aa.backward(order[a0 + r], G.data() + (int64_t)r * d0, (int64_t)nb * d0, C, cache.data() + cache_at[r], gv, E);
        }
    });
}

// forces (C, n, 3) = sum over a centre's entries of gv_e - gv_partner(e); virial of system b (nsys x 9) =
// sum_c w_c sum over the entries of b's atoms of d_e (x) gv_e. atom_system nullptr: one system.
template <typename T>
void gather_forces(int64_t n, const int64_t* offsets, const int64_t* partner, const T* geo, int64_t epad,
                   const T* gv, int C, const double* vweights, const int32_t* atom_system, int64_t nsys,
                   double* forces, double* virial, int nt) {
    const int64_t E = offsets[n];
    const int nthreads = std::max(1, nt);
    std::vector<double> partial(virial ? 9 * nsys * nthreads : 0, 0.0);
    parallel(nt, [&](int t, int tn) {
        int64_t begin, end;
        split(n, t, tn, begin, end);
        for (int64_t i = begin; i < end; ++i) {
            for (int c = 0; c < C; ++c) {
                double f0 = 0, f1 = 0, f2 = 0;
                const T* gc = gv + (int64_t)c * E * 3;
                for (int64_t e = offsets[i]; e < offsets[i + 1]; ++e) {
                    const int64_t p = partner[e];
                    f0 += (double)gc[3 * e] - (double)gc[3 * p];
                    f1 += (double)gc[3 * e + 1] - (double)gc[3 * p + 1];
                    f2 += (double)gc[3 * e + 2] - (double)gc[3 * p + 2];
                }
                double* o = forces + ((int64_t)c * n + i) * 3;
                o[0] = f0;
                o[1] = f1;
                o[2] = f2;
            }
            if (virial) {
                double* Wt = &partial[9 * ((int64_t)t * nsys + (atom_system ? atom_system[i] : 0))];
                for (int64_t e = offsets[i]; e < offsets[i + 1]; ++e) {
                    const double d[3] = {(double)geo[e], (double)geo[epad + e], (double)geo[2 * epad + e]};
                    for (int c = 0; c < C; ++c) {
                        const T* gc = gv + ((int64_t)c * E + e) * 3;
                        for (int a = 0; a < 3; ++a)
                            for (int b = 0; b < 3; ++b) Wt[3 * a + b] += vweights[c] * d[a] * (double)gc[b];
                    }
                }
            }
        }
    });
    if (virial) {
        for (int64_t q = 0; q < 9 * nsys; ++q) virial[q] = 0;
        for (int t = 0; t < nthreads; ++t)
            for (int64_t q = 0; q < 9 * nsys; ++q) virial[q] += partial[9 * nsys * t + q];
    }
}

AevSpec make_spec(const int32_t* dims, const double* scal, const double* shift_r, const double* shift_a,
                  const double* cos_s, const double* sin_s, const int32_t* triu) {
    AevSpec sp;
    sp.n_species = dims[0];
    sp.nR = dims[1];
    sp.nA = dims[2];
    sp.nS = dims[3];
    sp.rcr = scal[0];
    sp.rca = scal[1];
    sp.eta_r = scal[2];
    sp.eta_a = scal[3];
    sp.zeta = scal[4];
    sp.shift_r = shift_r;
    sp.shift_a = shift_a;
    sp.cos_s = cos_s;
    sp.sin_s = sin_s;
    sp.triu = triu;
    return sp;
}

// ANI-Al's descriptor sizes get a fully unrolled instantiation; everything else the generic one.
bool ani_al_sizes(const AevSpec& sp) { return sp.nR == 32 && sp.nA == 8 && sp.nS == 8; }

}  // namespace

// ------------------------------------------------------------------------------------------ C ABI

extern "C" {

int alal_abi_version() { return 7; }
int alal_simd_width_f32() { return Simd<float>::W; }
int alal_max_sections() { return TripletChunk<float>::MAXS; }

void* alal_nl_build(int64_t n, const double* pos, const double* cell, const int32_t* pbc, double cutoff, int nt) {
    return build_neighbor_list(n, pos, cell, pbc, cutoff, nt);
}
const char* alal_nl_error(void* h) { return static_cast<NeighborList*>(h)->error.c_str(); }
int64_t alal_nl_entries(void* h) { return (int64_t) static_cast<NeighborList*>(h)->nbr.size(); }
void alal_nl_export(void* h, int64_t* offsets, int32_t* nbr, int32_t* shift, int64_t* partner) {
    NeighborList* nl = static_cast<NeighborList*>(h);
    std::memcpy(offsets, nl->offsets.data(), nl->offsets.size() * sizeof(int64_t));
    std::memcpy(nbr, nl->nbr.data(), nl->nbr.size() * sizeof(int32_t));
    std::memcpy(shift, nl->shift.data(), nl->shift.size() * sizeof(int32_t));
    std::memcpy(partner, nl->partner.data(), nl->partner.size() * sizeof(int64_t));
}
void alal_nl_free(void* h) { delete static_cast<NeighborList*>(h); }

#define ALAL_DEFINE(T, SUFFIX)                                                                                  \
    double alal_geometry_##SUFFIX(int64_t n, const int64_t* offsets, const int32_t* nbr, const int32_t* shift,  \
                                  const double* pos, const double* cells, const int32_t* atom_cell,            \
                                  const int32_t* dims, const double* scal, int64_t epad, T* geo, int nt) {     \
        AevSpec sp = make_spec(dims, scal, nullptr, nullptr, nullptr, nullptr, nullptr);                       \
        return geometry<T>(n, offsets, nbr, shift, pos, cells, atom_cell, sp, epad, geo, nt);                  \
    }                                                                                                           \
    void alal_aev_forward_##SUFFIX(int64_t n, const int64_t* offsets, const int32_t* nbr,                       \
                                   const int32_t* species, const T* geo, int64_t epad, const int32_t* dims,     \
                                   const double* scal, const double* shift_r, const double* shift_a,            \
                                   const double* cos_s, const double* sin_s, const int32_t* triu, T* aev,       \
                                   int nt) {                                                                    \
        AevSpec sp = make_spec(dims, scal, shift_r, shift_a, cos_s, sin_s, triu);                               \
        if (ani_al_sizes(sp))                                                                                   \
            aev_forward<T, 32, 8, 8>(n, offsets, nbr, species, geo, epad, sp, aev, nt);                         \
        else                                                                                                    \
            aev_forward<T, 0, 0, 0>(n, offsets, nbr, species, geo, epad, sp, aev, nt);                          \
    }                                                                                                           \
    void alal_evaluate_##SUFFIX(int64_t n, const int64_t* offsets, const int32_t* nbr, const int32_t* species,    \
                                const T* geo, int64_t epad, const int32_t* dims, const double* scal,            \
                                const double* shift_r, const double* shift_a, const double* cos_s,              \
                                const double* sin_s, const int32_t* triu, const int32_t* order,                 \
                                const int64_t* block_starts, int64_t nblocks, const int64_t* net_info,          \
                                const int32_t* net_dims, const T* weights, int M, double alpha, int C,          \
                                const T* cw, T* out, T* gv, int nt) {                                           \
        AevSpec sp = make_spec(dims, scal, shift_r, shift_a, cos_s, sin_s, triu);                               \
        std::vector<NetLayout> layouts(sp.n_species);                                                           \
        for (int s = 0; s < sp.n_species; ++s)                                                                  \
            layouts[s] = NetLayout{(int)net_info[4 * s], net_dims + net_info[4 * s + 1], net_info[4 * s + 2],    \
                                   net_info[4 * s + 3]};                                                        \
        if (ani_al_sizes(sp))                                                                                   \
            evaluate<T, 32, 8, 8>(n, offsets, nbr, species, geo, epad, sp, order, block_starts, nblocks,         \
                                  layouts.data(), weights, M, (T)alpha, C, cw, out, gv, nt);                    \
        else                                                                                                    \
            evaluate<T, 0, 0, 0>(n, offsets, nbr, species, geo, epad, sp, order, block_starts, nblocks,          \
                                 layouts.data(), weights, M, (T)alpha, C, cw, out, gv, nt);                     \
    }                                                                                                           \
    void alal_gather_##SUFFIX(int64_t n, const int64_t* offsets, const int64_t* partner, const T* geo,          \
                              int64_t epad, const T* gv, int C, const double* vweights,                         \
                              const int32_t* atom_system, int64_t nsys, double* forces, double* virial,         \
                              int nt) {                                                                         \
        gather_forces<T>(n, offsets, partner, geo, epad, gv, C, vweights, atom_system, nsys, forces, virial, nt); \
    }

ALAL_DEFINE(float, f32)

// the trainer's force contraction (contract.h); float32 only, at most Simd<float>::W members
void alal_jac_contract_f32(int64_t A, int M, int F, int f0, int64_t ldg, const float* g, const float* scale,
                           const int64_t* jac, const int64_t* rows, const int64_t* out_off, float* out, int nt) {
    jac_contract(A, M, F, f0, ldg, g, scale, jac, rows, out_off, out, nt);
}
void alal_jac_contract_t_f32(int64_t A, int M, int F, int f0, int64_t ldg, const float* gout, const float* scale,
                             const int64_t* jac, const int64_t* rows, const int64_t* out_off, float* grad_g, int nt) {
    jac_contract_t(A, M, F, f0, ldg, gout, scale, jac, rows, out_off, grad_g, nt);
}
ALAL_DEFINE(double, f64)

}  // extern "C"
