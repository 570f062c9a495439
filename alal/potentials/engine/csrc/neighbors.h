// Cell-list neighbour search for any triclinic cell (periodic images for small cells), symmetric CSR output.
// Part of the alal engine kernels (see kernels.cpp); every header is included once, into kernels.cpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "threads.h"

namespace {

inline int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

// ------------------------------------------------------------------------------------------ neighbour list

struct NeighborList {
    std::vector<int64_t> offsets;  // N + 1
    std::vector<int32_t> nbr;      // E
    std::vector<int32_t> shift;    // E * 3
    std::vector<int64_t> partner;  // E
    std::string error;
};

bool invert3(const double* a, double* inv) {
    double det = a[0] * (a[4] * a[8] - a[5] * a[7]) - a[1] * (a[3] * a[8] - a[5] * a[6]) +
                 a[2] * (a[3] * a[7] - a[4] * a[6]);
    if (!(std::fabs(det) > 0)) return false;
    double id = 1.0 / det;
    inv[0] = (a[4] * a[8] - a[5] * a[7]) * id;
    inv[1] = (a[2] * a[7] - a[1] * a[8]) * id;
    inv[2] = (a[1] * a[5] - a[2] * a[4]) * id;
    inv[3] = (a[5] * a[6] - a[3] * a[8]) * id;
    inv[4] = (a[0] * a[8] - a[2] * a[6]) * id;
    inv[5] = (a[2] * a[3] - a[0] * a[5]) * id;
    inv[6] = (a[3] * a[7] - a[4] * a[6]) * id;
    inv[7] = (a[1] * a[6] - a[0] * a[7]) * id;
    inv[8] = (a[0] * a[4] - a[1] * a[3]) * id;
    return true;
}

struct HalfPair {
    int32_t i, j, n0, n1, n2;
};

// Cell list in fractional coordinates (works for any triclinic cell): bins of width >= cutoff/2 measured
// perpendicular to the cell faces; neighbouring bins up to ceil(cutoff / width) away, with periodic images,
// so cells smaller than the cutoff get all the images they need.
NeighborList* build_neighbor_list(int64_t n, const double* pos, const double* cell, const int32_t* pbc,
                                  double cutoff, int nthreads) {
    NeighborList* nl = new NeighborList();
    double inv[9];
    if (!invert3(cell, inv)) {
        nl->error = "the cell is singular";
        return nl;
    }
    const double* a0 = cell;
    const double* a1 = cell + 3;
    const double* a2 = cell + 6;
    auto cross_norm = [](const double* u, const double* v) {
        double c0 = u[1] * v[2] - u[2] * v[1], c1 = u[2] * v[0] - u[0] * v[2], c2 = u[0] * v[1] - u[1] * v[0];
        return std::sqrt(c0 * c0 + c1 * c1 + c2 * c2);
    };
    double vol = std::fabs(a0[0] * (a1[1] * a2[2] - a1[2] * a2[1]) - a0[1] * (a1[0] * a2[2] - a1[2] * a2[0]) +
                           a0[2] * (a1[0] * a2[1] - a1[1] * a2[0]));
    double spacing[3] = {vol / cross_norm(a1, a2), vol / cross_norm(a2, a0), vol / cross_norm(a0, a1)};

    // fractional coordinates, wrapped along periodic axes (image offset kept so shifts refer to the input)
    std::vector<double> s(3 * n);
    std::vector<int64_t> off(3 * n, 0);
    double smin[3] = {1e300, 1e300, 1e300}, smax[3] = {-1e300, -1e300, -1e300};
    for (int64_t i = 0; i < n; ++i) {
        for (int a = 0; a < 3; ++a) {
            double v = pos[3 * i] * inv[a] + pos[3 * i + 1] * inv[3 + a] + pos[3 * i + 2] * inv[6 + a];
            if (pbc[a]) {
                double f = std::floor(v);
                double w = v - f;
                if (w >= 1.0) {
                    w -= 1.0;
                    f += 1.0;
                }
                if (std::fabs(f) > 1e9) {
                    nl->error = "atoms are more than 1e9 cell lengths outside the cell";
                    return nl;
                }
                off[3 * i + a] = (int64_t)f;
                v = w;
            }
            s[3 * i + a] = v;
            smin[a] = std::min(smin[a], v);
            smax[a] = std::max(smax[a], v);
        }
    }
    int64_t nb[3], reach[3];
    double lo[3], span[3];
    for (int a = 0; a < 3; ++a) {
        if (pbc[a]) {
            lo[a] = 0.0;
            span[a] = 1.0;
        } else {
            lo[a] = smin[a];
            span[a] = std::max(smax[a] - smin[a], 0.0);
        }
        double length = span[a] * spacing[a];  // physical extent perpendicular to the faces
        int64_t cap = std::max<int64_t>(1, (int64_t)std::cbrt((double)n) * 2 + 1);
        nb[a] = std::max<int64_t>(1, std::min<int64_t>(cap, (int64_t)std::floor(2.0 * length / cutoff)));
        double width = length / nb[a];
        int64_t r = width > 0 ? (int64_t)std::ceil(cutoff / width) : nb[a];
        if (!pbc[a]) r = std::min<int64_t>(r, nb[a] - 1);
        reach[a] = r;
    }
    const int64_t nbins = nb[0] * nb[1] * nb[2];
    std::vector<int64_t> bin_of(n), bin_start(nbins + 1, 0), bin_atoms(n);
    std::vector<int64_t> bidx(3 * n);
    for (int64_t i = 0; i < n; ++i) {
        int64_t b[3];
        for (int a = 0; a < 3; ++a) {
            double f = span[a] > 0 ? (s[3 * i + a] - lo[a]) / span[a] : 0.0;
            int64_t k = (int64_t)std::floor(f * nb[a]);
            b[a] = std::min<int64_t>(std::max<int64_t>(k, 0), nb[a] - 1);
            bidx[3 * i + a] = b[a];
        }
        bin_of[i] = (b[0] * nb[1] + b[1]) * nb[2] + b[2];
        bin_start[bin_of[i] + 1]++;
    }
    for (int64_t b = 0; b < nbins; ++b) bin_start[b + 1] += bin_start[b];
    {
        std::vector<int64_t> fill(bin_start.begin(), bin_start.end() - 1);
        for (int64_t i = 0; i < n; ++i) bin_atoms[fill[bin_of[i]]++] = i;
    }

    const double cut2 = cutoff * cutoff;
    int nt = std::max(1, nthreads);
    std::vector<std::vector<HalfPair>> found(nt);
    parallel(nt, [&](int t, int tn) {
        int64_t begin, end;
        split(n, t, tn, begin, end);
        std::vector<HalfPair>& out = found[t];
        for (int64_t i = begin; i < end; ++i) {
            const double xi = pos[3 * i], yi = pos[3 * i + 1], zi = pos[3 * i + 2];
            for (int64_t d0 = -reach[0]; d0 <= reach[0]; ++d0) {
                int64_t q0 = bidx[3 * i] + d0, m0 = 0;
                if (pbc[0]) {
                    m0 = floor_div(q0, nb[0]);
                    q0 -= m0 * nb[0];
                } else if (q0 < 0 || q0 >= nb[0]) {
                    continue;
                }
                for (int64_t d1 = -reach[1]; d1 <= reach[1]; ++d1) {
                    int64_t q1 = bidx[3 * i + 1] + d1, m1 = 0;
                    if (pbc[1]) {
                        m1 = floor_div(q1, nb[1]);
                        q1 -= m1 * nb[1];
                    } else if (q1 < 0 || q1 >= nb[1]) {
                        continue;
                    }
                    for (int64_t d2 = -reach[2]; d2 <= reach[2]; ++d2) {
                        int64_t q2 = bidx[3 * i + 2] + d2, m2 = 0;
                        if (pbc[2]) {
                            m2 = floor_div(q2, nb[2]);
                            q2 -= m2 * nb[2];
                        } else if (q2 < 0 || q2 >= nb[2]) {
                            continue;
                        }
                        int64_t b = (q0 * nb[1] + q1) * nb[2] + q2;
                        for (int64_t p = bin_start[b]; p < bin_start[b + 1]; ++p) {
                            int64_t j = bin_atoms[p];
                            // image shift relative to the input (unwrapped) positions
                            int64_t n0 = m0 - off[3 * j] + off[3 * i];
                            int64_t n1 = m1 - off[3 * j + 1] + off[3 * i + 1];
                            int64_t n2 = m2 - off[3 * j + 2] + off[3 * i + 2];
                            // keep each unordered pair once: j > i, or j == i with a positive image
                            if (j < i) continue;
                            if (j == i) {
                                bool positive = n0 > 0 || (n0 == 0 && (n1 > 0 || (n1 == 0 && n2 > 0)));
                                if (!positive) continue;
                            }
                            double dx = pos[3 * j] - xi + n0 * a0[0] + n1 * a1[0] + n2 * a2[0];
                            double dy = pos[3 * j + 1] - yi + n0 * a0[1] + n1 * a1[1] + n2 * a2[1];
                            double dz = pos[3 * j + 2] - zi + n0 * a0[2] + n1 * a1[2] + n2 * a2[2];
                            if (dx * dx + dy * dy + dz * dz < cut2)
                                out.push_back({(int32_t)i, (int32_t)j, (int32_t)n0, (int32_t)n1, (int32_t)n2});
                        }
                    }
                }
            }
        }
    });
    // expand the half list into a symmetric CSR list with partner links
    std::vector<int64_t> deg(n + 1, 0);
    int64_t npairs = 0;
    for (auto& v : found) {
        npairs += (int64_t)v.size();
        for (auto& h : v) {
            deg[h.i]++;
            deg[h.j]++;
        }
    }
    nl->offsets.assign(n + 1, 0);
    for (int64_t i = 0; i < n; ++i) nl->offsets[i + 1] = nl->offsets[i] + deg[i];
    const int64_t ne = 2 * npairs;
    nl->nbr.resize(ne);
    nl->shift.resize(3 * ne);
    nl->partner.resize(ne);
    std::vector<int64_t> cursor(nl->offsets.begin(), nl->offsets.end() - 1);
    for (auto& v : found) {
        for (auto& h : v) {
            int64_t ea = cursor[h.i]++;
            int64_t eb = cursor[h.j]++;
            nl->nbr[ea] = h.j;
            nl->shift[3 * ea] = h.n0;
            nl->shift[3 * ea + 1] = h.n1;
            nl->shift[3 * ea + 2] = h.n2;
            nl->nbr[eb] = h.i;
            nl->shift[3 * eb] = -h.n0;
            nl->shift[3 * eb + 1] = -h.n1;
            nl->shift[3 * eb + 2] = -h.n2;
            nl->partner[ea] = eb;
            nl->partner[eb] = ea;
        }
        std::vector<HalfPair>().swap(v);
    }
    return nl;
}

}  // namespace
