// ANI atomic environment vectors: geometry pass, per-atom forward and analytic backward.
// Part of the alal engine kernels (see kernels.cpp); every header is included once, into kernels.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "simd.h"
#include "threads.h"

namespace {

// ------------------------------------------------------------------------------------------ AEV

struct AevSpec {
    int n_species, nR, nA, nS;
    double rcr, rca, eta_r, eta_a, zeta;
    const double* shift_r;  // nR
    const double* shift_a;  // nA
    const double* cos_s;    // nS
    const double* sin_s;    // nS
    const int32_t* triu;    // n_species^2 -> species-pair block
    int64_t n_features() const {
        return (int64_t)n_species * nR + (int64_t)n_species * (n_species + 1) / 2 * nA * nS;
    }
    int64_t angular_offset() const { return (int64_t)n_species * nR; }
};

// Distances, displacement vectors and cutoff values for every entry; returns the smallest distance.
// cells holds one cell per system (9 doubles each); atom_cell[i] is the system of atom i, so a batch of
// systems with their own cells is one flat list (nullptr: one system, cells[0:9]).
template <typename T>
double geometry(int64_t n, const int64_t* offsets, const int32_t* nbr, const int32_t* shift, const double* pos,
                const double* cells, const int32_t* atom_cell, const AevSpec& sp, int64_t epad, T* geo, int nt) {
    T *dx = geo, *dy = geo + epad, *dz = geo + 2 * epad, *rr = geo + 3 * epad;
    std::vector<double> rmins(std::max(1, nt), 1e300);
    parallel(nt, [&](int t, int tn) {
        int64_t begin, end;
        split(n, t, tn, begin, end);
        double rmin = 1e300;
        for (int64_t i = begin; i < end; ++i) {
            const double* cell = cells + (atom_cell ? 9 * (int64_t)atom_cell[i] : 0);
            for (int64_t e = offsets[i]; e < offsets[i + 1]; ++e) {
                int64_t j = nbr[e];
                double n0 = shift[3 * e], n1 = shift[3 * e + 1], n2 = shift[3 * e + 2];
                double x = pos[3 * j] - pos[3 * i] + n0 * cell[0] + n1 * cell[3] + n2 * cell[6];
                double y = pos[3 * j + 1] - pos[3 * i + 1] + n0 * cell[1] + n1 * cell[4] + n2 * cell[7];
                double z = pos[3 * j + 2] - pos[3 * i + 2] + n0 * cell[2] + n1 * cell[5] + n2 * cell[8];
                double r = std::sqrt(x * x + y * y + z * z);
                dx[e] = (T)x;
                dy[e] = (T)y;
                dz[e] = (T)z;
                rr[e] = (T)r;
                rmin = std::min(rmin, r);
            }
        }
        rmins[t] = rmin;
    });
    double rmin = *std::min_element(rmins.begin(), rmins.end());
    const int W = Simd<T>::W;
    const int64_t ne = offsets[n];
    for (int64_t e = ne; e < epad; ++e) rr[e] = T(1);  // padding: harmless values
    parallel(nt, [&](int t, int tn) {
        int64_t begin, end;
        split(epad / W, t, tn, begin, end);
        for (int64_t e = begin * W; e < end * W; e += W) {
            Vec<T> r = load(rr + e), fc, dfc;
            cosine_cutoff<T>(r, (T)sp.rcr, fc, dfc);
            store(geo + 4 * epad + e, fc);
            store(geo + 5 * epad + e, dfc);
            cosine_cutoff<T>(r, (T)sp.rca, fc, dfc);
            store(geo + 6 * epad + e, fc);
            store(geo + 7 * epad + e, dfc);
        }
    });
    return rmin;
}

// Per-thread scratch for one centre atom's angular neighbours, grouped by species, each group followed by
// at least W zero slots so a vector chunk never reads into the next group.
template <typename T> struct AngularSlots {
    std::vector<T> x, y, z, r, inv_r, fc, dfc;  // inv_r: divisions done once per slot, not per triplet
    std::vector<int64_t> entry;
    std::vector<int> group_begin, group_end, group_species;
    int size = 0;

    void gather(int64_t e0, int64_t e1, const int32_t* nbr, const int32_t* species, const T* geo, int64_t epad,
                const AevSpec& sp) {
        const int W = Simd<T>::W;
        const T rca = (T)sp.rca;
        int need = (int)(e1 - e0) + sp.n_species * W + W;
        if ((int)x.size() < need) {
            for (auto* v : {&x, &y, &z, &r, &inv_r, &fc, &dfc}) v->resize(need);
            entry.resize(need);
        }
        group_begin.clear();
        group_end.clear();
        group_species.clear();
        int k = 0;
        const T* rr = geo + 3 * epad;
        for (int s = 0; s < sp.n_species; ++s) {
            int begin = k;
            for (int64_t e = e0; e < e1; ++e) {
                if (rr[e] < rca && (sp.n_species == 1 || species[nbr[e]] == s)) {
                    x[k] = geo[e];
                    y[k] = geo[epad + e];
                    z[k] = geo[2 * epad + e];
                    r[k] = rr[e];
                    inv_r[k] = T(1) / rr[e];
                    fc[k] = geo[6 * epad + e];
                    dfc[k] = geo[7 * epad + e];
                    entry[k] = e;
                    ++k;
                }
            }
            if (k == begin) continue;
            group_begin.push_back(begin);
            group_end.push_back(k);
            group_species.push_back(s);
            for (int p = 0; p < W; ++p, ++k) {  // zero padding: fc = 0 kills every contribution
                x[k] = y[k] = z[k] = 0;
                r[k] = inv_r[k] = 1;
                fc[k] = dfc[k] = 0;
                entry[k] = -1;
            }
        }
        size = k;
    }

    // upper bound on the number of vector chunks of triplets (for the angular-factor cache)
    int64_t max_chunks() const {
        const int W = Simd<T>::W;
        int64_t total = 0, ng = (int64_t)group_begin.size();
        for (size_t g = 0; g < group_begin.size(); ++g) {
            int64_t len = group_end[g] - group_begin[g];
            total += len * (len / W + 1 + ng);
        }
        return total;
    }
};

// Constants of the angular terms in the working precision (converted once, not per use).
template <typename T> struct AngularConst {
    std::vector<T> half_cos, half_sin;  // 0.5 cos(theta_s), 0.5 sin(theta_s)
    std::vector<T> dcos, shift;         // 0.5 * 0.95 cos(theta_s); radial shifts b_t
    // Gaussians exp(-eta (x - b_t)^2) of equally spaced shifts from three exps: around b_t0,
    // R_{t0+k} = E0 q^k c_k with E0 = exp(-eta u^2), q = exp(2 eta D u), c_k = exp(-eta D^2 k^2), u = x - b_t0.
    bool uniform = false;
    int t0 = 0;
    T two_eta_step = 0;
    std::vector<T> ck;  // c_k for k = t - t0

    AngularConst(const AevSpec& sp) {
        for (int s = 0; s < sp.nS; ++s) {
            half_cos.push_back(T(0.5 * sp.cos_s[s]));
            half_sin.push_back(T(0.5 * sp.sin_s[s]));
            dcos.push_back(T(0.5 * 0.95 * sp.cos_s[s]));
        }
        for (int t = 0; t < sp.nA; ++t) shift.push_back(T(sp.shift_a[t]));
        if (sp.nA >= 3) {
            const double step = sp.shift_a[1] - sp.shift_a[0];
            bool exact = step > 0;
            for (int t = 0; t < sp.nA && exact; ++t) exact = sp.shift_a[t] == sp.shift_a[0] + t * step;
            t0 = (sp.nA - 1) / 2;
            // every factor must stay a normal number: |u| <= max(b_t0, rca - b_t0) since 0 < ravg < rca
            const double umax = std::max(sp.shift_a[t0], sp.rca - sp.shift_a[t0]);
            const double kmax = std::max(t0, sp.nA - 1 - t0);
            const double limit = sizeof(T) == 4 ? 75.0 : 650.0;
            uniform = exact && sp.eta_a * umax * umax < limit && 2 * sp.eta_a * step * umax * kmax < limit;
            two_eta_step = T(2 * sp.eta_a * step);
            for (int t = 0; t < sp.nA; ++t) ck.push_back(T(std::exp(-sp.eta_a * step * step * (t - t0) * (t - t0))));
        }
    }

    // R_t = exp(-eta_a (x - b_t)^2) for all t (NA > 0: compile-time count)
    template <int NA> inline void gaussians(Vec<T> x, T eta_a, int nA_runtime, Vec<T>* R) const {
        const int nA = NA > 0 ? NA : nA_runtime;
        if (!uniform) {
            for (int t = 0; t < nA; ++t) {
                Vec<T> d = x - shift[t];
                R[t] = vexp<T>(-eta_a * d * d);
            }
            return;
        }
        const Vec<T> u = x - shift[t0];
        const Vec<T> e0 = vexp<T>(-eta_a * u * u);
        const Vec<T> q = vexp<T>(two_eta_step * u);
        const Vec<T> qi = vexp<T>(-two_eta_step * u);
        R[t0] = e0;
        Vec<T> p = e0;
        for (int t = t0 + 1; t < nA; ++t) {
            p = p * q;
            R[t] = p * ck[t];
        }
        p = e0;
        for (int t = t0 - 1; t >= 0; --t) {
            p = p * qi;
            R[t] = p * ck[t];
        }
    }
};

// Geometry of one vector chunk of triplets (centre i, slot j, slots k..k+W-1).
template <typename T> struct TripletChunk {
    static constexpr int MAXS = 32;
    Vec<T> c, inv_rr, ct, st, ravg, fcfc, xk, yk, zk, rk, inv_rk, fck, dfck;
    Vec<T> base[MAXS];

    template <int NS> inline void geometry(const AngularSlots<T>& sl, int j, int k, const AngularConst<T>& ac, int nS_runtime) {
        const int nS = NS > 0 ? NS : nS_runtime;
        const T xj = sl.x[j], yj = sl.y[j], zj = sl.z[j], rj = sl.r[j];
        xk = load(&sl.x[k]);
        yk = load(&sl.y[k]);
        zk = load(&sl.z[k]);
        rk = load(&sl.r[k]);
        inv_rk = load(&sl.inv_r[k]);
        fck = load(&sl.fc[k]);
        dfck = load(&sl.dfc[k]);
        Vec<T> dot = xk * xj + yk * yj + zk * zj;
        inv_rr = inv_rk * sl.inv_r[j];  // distances are >= 0.5 A (checked): torchani's 1e-10 clamp never acts
        c = dot * inv_rr;
        ct = c * T(0.95);  // torchani: acos(0.95 cos) keeps the derivative finite at 0 and pi
        st = vsqrt(vmax<T>(T(1) - ct * ct, Vec<T>{}));
        ravg = (rk + rj) * T(0.5);
        fcfc = fck * sl.fc[j];
        for (int s = 0; s < nS; ++s) {
            // (1 + cos(theta - theta_s)) / 2 with cos(theta) = 0.95 c, sin(theta) = sqrt(1 - cos^2) >= 0
            Vec<T> b = T(0.5) + ct * ac.half_cos[s] + st * ac.half_sin[s];
            base[s] = vmax<T>(b, bc<T>(T(1e-30)));
        }
    }
};

// The AEV of one atom and its backward pass. The forward stores, per triplet chunk and section,
// Q_s = zeta A_s / base_s (A_s the angular factor); the backward rebuilds A_s = Q_s base_s / zeta and
// dA_s/dc = Q_s dbase_s/dc from it, so it needs no log/exp/division for the angular factors.
// NR, NA, NS > 0 fix the numbers of radial shifts, angular shifts and sections at compile time (fully
// unrolled loops: ANI-Al's 32/8/8); 0 means "read them from the spec".
template <typename T, int NR, int NA, int NS> struct AtomAev {
    static constexpr int W = Simd<T>::W;
    const AevSpec& sp;
    const T* geo;
    int64_t epad;
    const int64_t* offsets;
    const int32_t* nbr;
    const int32_t* species;
    int nRv, nS, nA, nTS, n_pairs;
    std::vector<T> shr;  // radial shifts padded to whole vectors with far-away values (exp -> 0)
    AngularSlots<T> sl;
    AngularConst<T> ac;
    std::vector<Vec<T>> acc_ang, acc_rad, gj, gvec;
    std::vector<T> grad, grad_rad;

    AtomAev(const AevSpec& spec, const T* geo_, int64_t epad_, const int64_t* off, const int32_t* nbr_,
            const int32_t* species_)
        : sp(spec), geo(geo_), epad(epad_), offsets(off), nbr(nbr_), species(species_), ac(spec) {
        nRv = ((NR > 0 ? NR : sp.nR) + W - 1) / W;
        nS = NS > 0 ? NS : sp.nS;
        nA = NA > 0 ? NA : sp.nA;
        nTS = nA * nS;
        n_pairs = sp.n_species * (sp.n_species + 1) / 2;
        shr.assign(nRv * W, T(1e4));
        for (int t = 0; t < sp.nR; ++t) shr[t] = (T)sp.shift_r[t];
        acc_ang.resize(n_pairs * nTS);
        acc_rad.resize(sp.n_species * nRv);
    }

    // AEV of atom i into out[0:F]. With cache != nullptr, appends the Q_s of every chunk at cache[pos...]
    // (growing it as needed) and returns the new end position.
    int64_t forward(int64_t i, T* out, std::vector<Vec<T>>* cache, int64_t pos) {
        constexpr int W_ = W;
        const int nRv = NR > 0 ? (NR + W_ - 1) / W_ : this->nRv;
        const int nS = NS > 0 ? NS : this->nS, nA = NA > 0 ? NA : this->nA, nTS = nS * nA;
        const T eta_r = (T)sp.eta_r, eta_a = (T)sp.eta_a, rcr = (T)sp.rcr, zeta = (T)sp.zeta;
        const T* rr = geo + 3 * epad;
        const T* fcr = geo + 4 * epad;
        // radial: lanes over shifts
        std::fill(acc_rad.begin(), acc_rad.end(), Vec<T>{});
        for (int64_t e = offsets[i]; e < offsets[i + 1]; ++e) {
            if (!(rr[e] < rcr)) continue;
            const T r = rr[e], w = T(0.25) * fcr[e];
            Vec<T>* acc = &acc_rad[(sp.n_species == 1 ? 0 : species[nbr[e]]) * nRv];
            for (int q = 0; q < nRv; ++q) {
                Vec<T> d = r - load(&shr[q * W]);
                acc[q] += w * vexp<T>(-eta_r * d * d);
            }
        }
        for (int s = 0; s < sp.n_species; ++s)
            for (int t = 0; t < sp.nR; ++t) out[s * sp.nR + t] = acc_rad[s * nRv + t / W][t % W];
        // angular: lanes over k, loop over j
        std::fill(acc_ang.begin(), acc_ang.end(), Vec<T>{});
        sl.gather(offsets[i], offsets[i + 1], nbr, species, geo, epad, sp);
        if (cache) {
            int64_t need = pos + sl.max_chunks() * nS;
            if ((int64_t)cache->size() < need) cache->resize(need + need / 2);
        }
        const int ng = (int)sl.group_begin.size();
        TripletChunk<T> tc;  // locals: the optimiser sees they do not alias the accumulators
        Vec<T> Af[TripletChunk<T>::MAXS], Rf[TripletChunk<T>::MAXS];
        Vec<T>* __restrict cq = cache ? cache->data() : nullptr;
        for (int gj_ = 0; gj_ < ng; ++gj_) {
            for (int j = sl.group_begin[gj_]; j < sl.group_end[gj_]; ++j) {
                for (int gk = gj_; gk < ng; ++gk) {
                    const int kbeg = gk == gj_ ? j + 1 : sl.group_begin[gk];
                    const int kend = sl.group_end[gk];
                    const int blk = sp.triu[sl.group_species[gj_] * sp.n_species + sl.group_species[gk]];
                    Vec<T>* __restrict acc = &acc_ang[blk * nTS];
                    for (int k = kbeg; k < kend; k += W) {
                        tc.template geometry<NS>(sl, j, k, ac, nS);
                        for (int s = 0; s < nS; ++s) Af[s] = T(2) * vexp<T>(zeta * vlog<T>(tc.base[s]));
                        if (cq) {
                            for (int s = 0; s < nS; ++s) cq[pos + s] = zeta * Af[s] / tc.base[s];
                            pos += nS;
                        }
                        ac.template gaussians<NA>(tc.ravg, eta_a, nA, Rf);
                        for (int t = 0; t < nA; ++t) {
                            const Vec<T> Rt = Rf[t] * tc.fcfc;
                            for (int s = 0; s < nS; ++s) acc[t * nS + s] += Rt * Af[s];
                        }
                    }
                }
            }
        }
        T* ang = out + sp.angular_offset();
        for (int q = 0; q < n_pairs * nTS; ++q) ang[q] = hsum<T>(acc_ang[q]);
        return pos;
    }

    // dE_c/dd_e for the entries of atom i into gv (C, E, 3); g + c * gstride is dE_c/dAEV_i.
    void backward(int64_t i, const T* g, int64_t gstride, int C, const Vec<T>* cache, T* gv, int64_t E) {
        constexpr int W_ = W;
        const int nRv = NR > 0 ? (NR + W_ - 1) / W_ : this->nRv;
        const int nS = NS > 0 ? NS : this->nS, nA = NA > 0 ? NA : this->nA, nTS = nS * nA;
        const T eta_r = (T)sp.eta_r, eta_a = (T)sp.eta_a, rcr = (T)sp.rcr;
        const T inv_zeta = T(1) / (T)sp.zeta;
        const T *dx = geo, *dy = geo + epad, *dz = geo + 2 * epad, *rr = geo + 3 * epad;
        const T *fcr = geo + 4 * epad, *dfcr = geo + 5 * epad;
        // radial: dE/dr = 0.25 sum_t g_t exp(-eta (r - a_t)^2) (dfc - 2 eta (r - a_t) fc)
        grad_rad.assign((size_t)C * sp.n_species * nRv * W, T(0));
        for (int c = 0; c < C; ++c)
            for (int s = 0; s < sp.n_species; ++s)
                for (int t = 0; t < sp.nR; ++t)
                    grad_rad[(c * sp.n_species + s) * nRv * W + t] = g[c * gstride + s * sp.nR + t];
        for (int64_t e = offsets[i]; e < offsets[i + 1]; ++e) {
            if (!(rr[e] < rcr)) {
                for (int c = 0; c < C; ++c) {
                    T* o = &gv[(c * E + e) * 3];
                    o[0] = o[1] = o[2] = 0;
                }
                continue;
            }
            const T r = rr[e], fc = fcr[e], dfc = dfcr[e];
            const int s = sp.n_species == 1 ? 0 : species[nbr[e]];
            for (int c = 0; c < C; ++c) {
                const T* gr = &grad_rad[(c * sp.n_species + s) * nRv * W];
                Vec<T> acc{};
                for (int q = 0; q < nRv; ++q) {
                    Vec<T> d = r - load(&shr[q * W]);
                    acc += load(gr + q * W) * vexp<T>(-eta_r * d * d) * (dfc - T(2) * eta_r * d * fc);
                }
                const T dEdr_over_r = T(0.25) * hsum<T>(acc) / r;
                T* o = &gv[(c * E + e) * 3];
                o[0] = dEdr_over_r * dx[e];
                o[1] = dEdr_over_r * dy[e];
                o[2] = dEdr_over_r * dz[e];
            }
        }
        // angular
        sl.gather(offsets[i], offsets[i + 1], nbr, species, geo, epad, sp);
        const int ns = sl.size;
        if ((int)grad.size() < C * 3 * ns) grad.resize(C * 3 * ns);
        std::fill(grad.begin(), grad.begin() + C * 3 * ns, T(0));
        if ((int)gj.size() < 3 * C) gj.resize(3 * C);
        const int ng = (int)sl.group_begin.size();
        // dE_c/dG_ts as vectors, so the contractions below are FMAs with a memory operand
        const int nvec = n_pairs * nTS;
        if ((int)gvec.size() < C * nvec) gvec.resize(C * nvec);
        for (int c = 0; c < C; ++c)
            for (int q = 0; q < nvec; ++q) gvec[c * nvec + q] = bc<T>(g[c * gstride + sp.angular_offset() + q]);
        int64_t pos = 0;
        constexpr int MAXS = TripletChunk<T>::MAXS;
        TripletChunk<T> tc;
        Vec<T> Ab[MAXS], Apb[MAXS], Rb[MAXS], Rpb[MAXS];
        for (int gjx = 0; gjx < ng; ++gjx) {
            for (int j = sl.group_begin[gjx]; j < sl.group_end[gjx]; ++j) {
                const T xj = sl.x[j], yj = sl.y[j], zj = sl.z[j], inv_rj = sl.inv_r[j];
                const T fcj = sl.fc[j], dfcj = sl.dfc[j];
                for (int q = 0; q < 3 * C; ++q) gj[q] = Vec<T>{};
                for (int gk = gjx; gk < ng; ++gk) {
                    const int kbeg = gk == gjx ? j + 1 : sl.group_begin[gk];
                    const int kend = sl.group_end[gk];
                    const int blk = sp.triu[sl.group_species[gjx] * sp.n_species + sl.group_species[gk]];
                    for (int k = kbeg; k < kend; k += W) {
                        tc.template geometry<NS>(sl, j, k, ac, nS);
                        // dst/dc with st = sqrt(1 - (0.95 c)^2); dbase_s/dc = 0.5 (0.95 cos_s + dst/dc sin_s)
                        const Vec<T> dst_dc = -(T(0.95) * tc.ct) / vmax<T>(tc.st, bc<T>(T(1e-30)));
                        for (int s = 0; s < nS; ++s) {
                            const Vec<T> q = cache[pos++];
                            Ab[s] = q * tc.base[s] * inv_zeta;
                            Apb[s] = q * (ac.dcos[s] + dst_dc * ac.half_sin[s]);
                        }
                        ac.template gaussians<NA>(tc.ravg, eta_a, nA, Rb);
                        for (int t = 0; t < nA; ++t) Rpb[t] = (T(-2) * eta_a) * (tc.ravg - ac.shift[t]) * Rb[t];
                        for (int c = 0; c < C; ++c) {
                            const Vec<T>* __restrict gb = &gvec[c * nvec + blk * nTS];
                            // P_s = sum_t g_ts R_t, Q_s = sum_t g_ts R'_t; two passes keep each set in registers
                            Vec<T> P[MAXS] = {}, Q[MAXS] = {};
                            for (int s = 0; s < nS; ++s) P[s] = gb[s] * Rb[0];
                            for (int t = 1; t < nA; ++t)
                                for (int s = 0; s < nS; ++s) P[s] += gb[t * nS + s] * Rb[t];
                            for (int s = 0; s < nS; ++s) Q[s] = gb[s] * Rpb[0];
                            for (int t = 1; t < nA; ++t)
                                for (int s = 0; s < nS; ++s) Q[s] += gb[t * nS + s] * Rpb[t];
                            Vec<T> dEdf = P[0] * Ab[0], dEdc = P[0] * Apb[0], dEdravg = Q[0] * Ab[0];
                            for (int s = 1; s < nS; ++s) {
                                dEdf += P[s] * Ab[s];
                                dEdc += P[s] * Apb[s];
                                dEdravg += Q[s] * Ab[s];
                            }
                            dEdc *= tc.fcfc;
                            dEdravg *= tc.fcfc;
                            // c = d_j.d_k / (r_j r_k); ravg = (r_j + r_k)/2; fcfc = fc(r_j) fc(r_k)
                            const Vec<T> beta = dEdc * tc.inv_rr;
                            const Vec<T> half_ravg = T(0.5) * dEdravg;
                            const Vec<T> dc_c = dEdc * tc.c;
                            const Vec<T> aj = (half_ravg + dEdf * (dfcj * tc.fck) - dc_c * inv_rj) * inv_rj;
                            const Vec<T> ak = (half_ravg + dEdf * (fcj * tc.dfck) - dc_c * tc.inv_rk) * tc.inv_rk;
                            gj[3 * c] += aj * xj + beta * tc.xk;
                            gj[3 * c + 1] += aj * yj + beta * tc.yk;
                            gj[3 * c + 2] += aj * zj + beta * tc.zk;
                            T* gx = &grad[(c * 3) * ns];
                            T* gy = gx + ns;
                            T* gz = gy + ns;
                            store(gx + k, load(gx + k) + ak * tc.xk + beta * xj);
                            store(gy + k, load(gy + k) + ak * tc.yk + beta * yj);
                            store(gz + k, load(gz + k) + ak * tc.zk + beta * zj);
                        }
                    }
                }
                for (int c = 0; c < C; ++c) {
                    T* gx = &grad[(c * 3) * ns];
                    gx[j] += hsum<T>(gj[3 * c]);
                    gx[ns + j] += hsum<T>(gj[3 * c + 1]);
                    gx[2 * ns + j] += hsum<T>(gj[3 * c + 2]);
                }
            }
        }
        for (int gjx = 0; gjx < ng; ++gjx) {
            for (int q = sl.group_begin[gjx]; q < sl.group_end[gjx]; ++q) {
                const int64_t e = sl.entry[q];
                for (int c = 0; c < C; ++c) {
                    T* o = &gv[(c * E + e) * 3];
                    o[0] += grad[(c * 3) * ns + q];
                    o[1] += grad[(c * 3 + 1) * ns + q];
                    o[2] += grad[(c * 3 + 2) * ns + q];
                }
            }
        }
    }
};

// AEVs only (tests and diagnostics).
template <typename T, int NR, int NA, int NS>
void aev_forward(int64_t n, const int64_t* offsets, const int32_t* nbr, const int32_t* species, const T* geo,
                 int64_t epad, const AevSpec& sp, T* aev, int nt) {
    const int64_t F = sp.n_features();
    Dispenser atoms(n, 8);
    parallel(nt, [&](int, int) {
        AtomAev<T, NR, NA, NS> aa(sp, geo, epad, offsets, nbr, species);
        int64_t begin, end;
        while (atoms.take(begin, end))
            for (int64_t i = begin; i < end; ++i) aa.forward(i, aev + i * F, nullptr, 0);
    });
}

}  // namespace
