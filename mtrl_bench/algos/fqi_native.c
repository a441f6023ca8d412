/* One fit step of the FQI network (task input map -> one shared layer -> task head) on a CPU core:
 * loss and hand-derived gradients for every member, with a tile of rows held in registers and the
 * L1 cache from its forward pass to its backward pass.
 *
 * Layout: rows are the vector lanes. A tile is NB blocks of VL rows of one (member, task); every
 * activation of the tile is a [feature][block] array of vectors. Weight gradients are accumulated
 * lane-wise (one vector per weight) over all tiles and summed across the lanes once per member and
 * task, so the order of every sum is fixed by VL and NB: one build gives the same numbers every time,
 * and a member's numbers do not depend on which other members share the call.
 *
 * Shapes (float32, C order; S members, T tasks, N rows per task, D inputs, J input-map units,
 * K shared units, A actions):
 *   x (T, D, N)      action (T, N) int32      coef (T, N): weight / real rows of all tasks
 *   y (S, T, N) targets
 *   w_in (S, T, D, J)  b_in (S, T, J)  w_sh (S, J, K)  b_sh (S, K)  w_hd (S, T, K, A)  b_hd (S, T, A)
 *   loss (S,) and gradients of the same shapes as the parameters (overwritten).
 * Loss of a member: sum over tasks and rows of coef * (act_out(q)[taken] - y)^2.
 * Activation codes: 0 identity, 1 sigmoid, 2 tanh, 3 relu.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Rows per vector: the widest registers the target has (a 64-byte vector split into AVX2 halves
 * runs ~10x slower than 32-byte vectors there). Rows per tile: 64, or 32 with 16-byte registers. */
#ifndef VL
#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif
#endif
#ifndef NB
#define NB (VL == 16 ? 4 : 8) /* vectors (row blocks) per tile */
#endif
#define TILE (VL * NB)

typedef float vf __attribute__((vector_size(VL * 4)));
typedef int32_t vi __attribute__((vector_size(VL * 4)));

static inline vf splat(float a) { return (vf){0} + a; }
static inline vf select_v(vi mask, vf yes, vf no) { return (vf)((mask & (vi)yes) | (~mask & (vi)no)); }
static inline vf max_v(vf a, vf b) { return select_v(a > b, a, b); }
static inline vf min_v(vf a, vf b) { return select_v(a < b, a, b); }

static inline vf loadu(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline float hsum(vf v) {
    float s = 0.0f;
    for (int i = 0; i < VL; i++) s += v[i];
    return s;
}

/* exp(x), about 1 ulp: x = n ln2 + r with |r| <= ln2 / 2, a degree-7 polynomial in r (Cephes' expf
 * coefficients), 2^n put into the exponent bits. x is clamped to the finite range of float. */
static inline vf exp_v(vf x) {
    x = min_v(max_v(x, splat(-87.33654475f)), splat(88.37626266f));
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    vf shifted = x * 1.44269504088896341f + magic;
    vi n = (vi)shifted - 0x4B400000;
    vf nf = shifted - magic;
    vf r = x - nf * 0.693359375f;
    r = r - nf * -2.12194440e-4f;
    vf p = splat(1.9875691500e-4f);
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    return p * (vf)((n + 127) << 23);
}

/* tanh: an odd polynomial below |x| = 0.625 (Cephes' tanhf), 1 - 2 / (exp(2|x|) + 1) above. */
static inline vf tanh_v(vf x) {
    vi sign = (vi)x & (int32_t)0x80000000;
    vf a = (vf)((vi)x & 0x7FFFFFFF);
    vf x2 = x * x;
    vf p = splat(-5.70498872745e-3f);
    p = p * x2 + 2.06390887954e-2f;
    p = p * x2 - 5.37397155531e-2f;
    p = p * x2 + 1.33314422036e-1f;
    p = p * x2 - 3.33332819422e-1f;
    vf small = a + a * x2 * p;
    vf large = 1.0f - 2.0f / (exp_v(a + a) + 1.0f);
    vf t = select_v(a < 0.625f, small, large);
    return (vf)((vi)t | sign);
}

static inline vf activate(int code, vf a) {
    switch (code) {
    case 1: return 1.0f / (1.0f + exp_v(-a));
    case 2: return tanh_v(a);
    case 3: return max_v(a, splat(0.0f));
    default: return a;
    }
}

/* d act / d pre-activation, from the activation's output z. */
static inline vf derivative(int code, vf z) {
    switch (code) {
    case 1: return z * (1.0f - z);
    case 2: return 1.0f - z * z;
    case 3: return select_v(z > 0.0f, splat(1.0f), splat(0.0f));
    default: return splat(1.0f);
    }
}

typedef struct {
    int S, T, N, D, J, K, A, act_in, act_sh, act_out;
} Dims;

typedef struct {
    vf *z0, *z1, *d0, *d1, *q, *x, *y, *c; /* tile activations and inputs */
    vi *taken;
    vf *g_in, *g_bin, *g_sh, *g_bsh, *g_hd, *g_bhd, *loss; /* lane-wise gradient accumulators */
} Work;

/* Rows r0 .. r0 + U - 1 (U <= 4, a constant where inlined) of out = M in (+ bias), where M[r][i] =
 * m[r * rs + i * is]: out[r][b] = bias[r] + sum_i M[r][i] in[i][b] (bias NULL: 0), summed in the order
 * of i with the U x NB sums held in registers. */
static inline __attribute__((always_inline)) void row_block(const float *m, int rs, int is, int r0, const int U,
                                                            int n_in, const vf *in, const float *bias, vf *out) {
    vf acc[4][NB];
    for (int u = 0; u < U; u++)
        for (int b = 0; b < NB; b++) acc[u][b] = splat(bias ? bias[r0 + u] : 0.0f);
    for (int i = 0; i < n_in; i++) {
        vf v[NB];
        for (int b = 0; b < NB; b++) v[b] = in[i * NB + b];
        for (int u = 0; u < U; u++) {
            float weight = m[(r0 + u) * rs + i * is];
            for (int b = 0; b < NB; b++) acc[u][b] += weight * v[b];
        }
    }
    for (int u = 0; u < U; u++)
        for (int b = 0; b < NB; b++) out[(r0 + u) * NB + b] = acc[u][b];
}

/* out (n_out x NB vectors) = M in + bias for M[r][i] = m[r * rs + i * is] (rs = n_in, is = 1: m is
 * M row-major; rs = 1, is = n_out: m is M's transpose) and in (n_in x NB vectors): four rows at a
 * time, then one at a time. */
static inline void rows_times(const float *m, int rs, int is, int n_out, int n_in, const vf *in, const float *bias,
                              vf *out) {
    int r = 0;
    for (; r + 4 <= n_out; r += 4) row_block(m, rs, is, r, 4, n_in, in, bias, out);
    for (; r < n_out; r++) row_block(m, rs, is, r, 1, n_in, in, bias, out);
}

/* Forward and backward of one tile of one member and task; accumulates into the lane sums. */
static void tile(const Dims *d, Work *w, const float *w_in, const float *b_in, const float *w_sh,
                 const float *b_sh, const float *w_hd, const float *b_hd) {
    const int D = d->D, J = d->J, K = d->K, A = d->A;
    vf *z0 = w->z0, *z1 = w->z1, *d0 = w->d0, *d1 = w->d1, *q = w->q, *x = w->x;

    /* forward: the task's input map (w_in is D x J), the shared layer (w_sh is J x K), the head (K x A) */
    rows_times(w_in, 1, J, J, D, x, b_in, z0);
    for (int i = 0; i < J * NB; i++) z0[i] = activate(d->act_in, z0[i]);
    rows_times(w_sh, 1, K, K, J, z0, b_sh, z1);
    for (int i = 0; i < K * NB; i++) z1[i] = activate(d->act_sh, z1[i]);
    rows_times(w_hd, 1, A, A, K, z1, b_hd, q);
    for (int i = 0; i < A * NB; i++) q[i] = activate(d->act_out, q[i]);
    /* loss, and its gradient at the head's pre-activation (non-zero only at the taken action) */
    for (int b = 0; b < NB; b++) {
        vf taken_q = splat(0.0f);
        for (int a = 0; a < A; a++) taken_q = select_v(w->taken[b] == a, q[a * NB + b], taken_q);
        vf diff = taken_q - w->y[b];
        vf weighted = w->c[b] * diff;
        *w->loss += weighted * diff;
        for (int a = 0; a < A; a++) {
            vf g = select_v(w->taken[b] == a, 2.0f * weighted, splat(0.0f));
            q[a * NB + b] = g * derivative(d->act_out, q[a * NB + b]);
        }
    }
    /* backward: the head's gradients and the gradient at the shared layer's pre-activation */
    for (int a = 0; a < A; a++)
        for (int b = 0; b < NB; b++) w->g_bhd[a] += q[a * NB + b];
    for (int kk = 0; kk < K; kk++) {
        vf back[NB];
        for (int b = 0; b < NB; b++) back[b] = splat(0.0f);
        for (int a = 0; a < A; a++) {
            vf acc = w->g_hd[kk * A + a];
            float wka = w_hd[kk * A + a];
            for (int b = 0; b < NB; b++) {
                acc += z1[kk * NB + b] * q[a * NB + b];
                back[b] += wka * q[a * NB + b];
            }
            w->g_hd[kk * A + a] = acc;
        }
        vf bias = w->g_bsh[kk];
        for (int b = 0; b < NB; b++) {
            d1[kk * NB + b] = back[b] * derivative(d->act_sh, z1[kk * NB + b]);
            bias += d1[kk * NB + b];
        }
        w->g_bsh[kk] = bias;
    }
    /* backward: the shared weights' gradients (lane-wise), then the gradient at the input map */
    for (int j = 0; j < J; j++) {
        vf zj[NB];
        for (int b = 0; b < NB; b++) zj[b] = z0[j * NB + b];
        vf *g = w->g_sh + (size_t)j * K;
        for (int kk = 0; kk < K; kk++) {
            vf acc = g[kk];
            for (int b = 0; b < NB; b++) acc += zj[b] * d1[kk * NB + b];
            g[kk] = acc;
        }
    }
    rows_times(w_sh, K, 1, J, K, d1, NULL, d0);
    for (int i = 0; i < J * NB; i++) d0[i] *= derivative(d->act_in, z0[i]);
    /* backward: the input map's gradients */
    for (int jj = 0; jj < J; jj++) {
        vf bias = w->g_bin[jj];
        for (int b = 0; b < NB; b++) bias += d0[jj * NB + b];
        w->g_bin[jj] = bias;
        for (int i = 0; i < D; i++) {
            vf acc = w->g_in[i * J + jj];
            for (int b = 0; b < NB; b++) acc += x[i * NB + b] * d0[jj * NB + b];
            w->g_in[i * J + jj] = acc;
        }
    }
}

static void clear(vf *v, size_t n) { memset(v, 0, n * sizeof(vf)); }

static void reduce_into(const vf *lanes, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = hsum(lanes[i]);
}

/* One thread's workspace (a single allocation), or NULL. */
static vf *new_work(const Dims *d, Work *w) {
    const int D = d->D, J = d->J, K = d->K, A = d->A;
    size_t vectors = (size_t)NB * (2 * J + 2 * K + A + D + 3) + (size_t)D * J + J + (size_t)J * K + K
                     + (size_t)K * A + A + 1;
    vf *pool = aligned_alloc(sizeof(vf), vectors * sizeof(vf));
    if (!pool) return NULL;
    vf *p = pool;
    w->z0 = p; p += (size_t)NB * J;
    w->d0 = p; p += (size_t)NB * J;
    w->z1 = p; p += (size_t)NB * K;
    w->d1 = p; p += (size_t)NB * K;
    w->q = p; p += (size_t)NB * A;
    w->x = p; p += (size_t)NB * D;
    w->y = p; p += NB;
    w->c = p; p += NB;
    w->taken = (vi *)p; p += NB;
    w->g_in = p; p += (size_t)D * J;
    w->g_bin = p; p += J;
    w->g_sh = p; p += (size_t)J * K;
    w->g_bsh = p; p += K;
    w->g_hd = p; p += (size_t)K * A;
    w->g_bhd = p; p += A;
    w->loss = p;
    return pool;
}

/* Loss and gradients of member s (every task, every tile). */
static void member(const Dims *d, Work *w, int s, const float *x, const int32_t *action, const float *coef,
                   const float *y, const float *w_in, const float *b_in, const float *w_sh, const float *b_sh,
                   const float *w_hd, const float *b_hd, float *loss, float *g_w_in, float *g_b_in,
                   float *g_w_sh, float *g_b_sh, float *g_w_hd, float *g_b_hd) {
    const int T = d->T, N = d->N, D = d->D, J = d->J, K = d->K, A = d->A;
    const float *ws = w_sh + (size_t)s * J * K;
    clear(w->g_sh, (size_t)J * K);
    clear(w->g_bsh, K);
    clear(w->loss, 1);
    for (int t = 0; t < T; t++) {
        size_t st = (size_t)s * T + t;
        const float *wi = w_in + st * D * J, *bi = b_in + st * J;
        const float *wh = w_hd + st * K * A, *bh = b_hd + st * A;
        const float *xt = x + (size_t)t * D * N, *ct = coef + (size_t)t * N, *yt = y + st * N;
        const int32_t *at = action + (size_t)t * N;
        clear(w->g_in, (size_t)D * J);
        clear(w->g_bin, J);
        clear(w->g_hd, (size_t)K * A);
        clear(w->g_bhd, A);
        for (int n0 = 0; n0 < N; n0 += TILE) {
            if (n0 + TILE <= N) {
                for (int b = 0; b < NB; b++) {
                    int r = n0 + b * VL;
                    for (int i = 0; i < D; i++) w->x[i * NB + b] = loadu(xt + (size_t)i * N + r);
                    w->y[b] = loadu(yt + r);
                    w->c[b] = loadu(ct + r);
                    memcpy(&w->taken[b], at + r, sizeof(vi));
                }
            } else { /* the last, partial tile: rows past N have coef 0 and count for nothing */
                float *xf = (float *)w->x, *yf = (float *)w->y, *cf = (float *)w->c;
                int32_t *af = (int32_t *)w->taken;
                memset(w->x, 0, (size_t)NB * D * sizeof(vf));
                memset(w->y, 0, NB * sizeof(vf));
                memset(w->c, 0, NB * sizeof(vf));
                memset(w->taken, 0, NB * sizeof(vi));
                for (int r = n0; r < N; r++) {
                    int b = (r - n0) / VL, lane = (r - n0) % VL;
                    for (int i = 0; i < D; i++) xf[(i * NB + b) * VL + lane] = xt[(size_t)i * N + r];
                    yf[b * VL + lane] = yt[r];
                    cf[b * VL + lane] = ct[r];
                    af[b * VL + lane] = at[r];
                }
            }
            tile(d, w, wi, bi, ws, b_sh + (size_t)s * K, wh, bh);
        }
        reduce_into(w->g_in, g_w_in + st * D * J, (size_t)D * J);
        reduce_into(w->g_bin, g_b_in + st * J, J);
        reduce_into(w->g_hd, g_w_hd + st * K * A, (size_t)K * A);
        reduce_into(w->g_bhd, g_b_hd + st * A, A);
    }
    reduce_into(w->g_sh, g_w_sh + (size_t)s * J * K, (size_t)J * K);
    reduce_into(w->g_bsh, g_b_sh + (size_t)s * K, K);
    loss[s] = hsum(*w->loss);
}

/* The step for every member; dims = (S, T, N, D, J, K, A, act_in, act_sh, act_out, threads). Members
 * are shared among `threads` OpenMP threads (when built with OpenMP), each with its own workspace;
 * a member's numbers do not depend on the thread count. Returns 0, or 1 when a workspace could not be
 * allocated. */
int fqi_native_step(const int32_t *dims, const float *x, const int32_t *action, const float *coef,
                    const float *y, const float *w_in, const float *b_in, const float *w_sh,
                    const float *b_sh, const float *w_hd, const float *b_hd, float *loss, float *g_w_in,
                    float *g_b_in, float *g_w_sh, float *g_b_sh, float *g_w_hd, float *g_b_hd) {
    Dims d = {dims[0], dims[1], dims[2], dims[3], dims[4], dims[5], dims[6], dims[7], dims[8], dims[9]};
    int threads = dims[10] < 1 ? 1 : dims[10];
    if (threads > d.S) threads = d.S < 1 ? 1 : d.S;
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        Work w;
        vf *pool = new_work(&d, &w);
        if (!pool) failed = 1;
#pragma omp for schedule(dynamic, 1)
        for (int s = 0; s < d.S; s++)
            if (pool)
                member(&d, &w, s, x, action, coef, y, w_in, b_in, w_sh, b_sh, w_hd, b_hd, loss, g_w_in, g_b_in,
                       g_w_sh, g_b_sh, g_w_hd, g_b_hd);
        free(pool);
    }
    return failed;
}

/* The core's float32 multiply-add peak, for the benchmark's yardstick: 12 independent chains of
 * vector a = a * m + c (enough to cover the latency of two FMA pipes). Returns the FLOPs done. */
volatile float fqi_native_sink, fqi_native_scale = 0.9999999f, fqi_native_shift = 1e-7f;

double fqi_native_fma_probe(int64_t iterations) {
    vf a[12];
    for (int i = 0; i < 12; i++) a[i] = splat(1.0f + 1e-3f * (float)i);
    vf m = splat(fqi_native_scale), c = splat(fqi_native_shift); /* unknown to the compiler */
    for (int64_t it = 0; it < iterations; it++)
        for (int i = 0; i < 12; i++) a[i] = a[i] * m + c;
    float s = 0.0f;
    for (int i = 0; i < 12; i++) s += hsum(a[i]);
    fqi_native_sink = s;
    return (double)iterations * 12.0 * VL * 2.0;
}

/* One Adam step of every member where active[s] != 0, with MemberAdam's arithmetic (written as
 * torch.optim.Adam): n tensors, tensor i holding numel[i] floats per member, (S, numel[i]) in C order;
 * steps (S,) counts each member's steps (float64, as MemberAdam keeps it). Inactive members are not
 * touched. */
void fqi_native_adam(int32_t n, int64_t S, const int64_t *numel, float *const *p, float *const *m,
                     float *const *v, const float *const *g, const uint8_t *active, double *steps,
                     double lr, double beta1, double beta2, double eps, double decay) {
    const float one_b1 = (float)(1.0 - beta1), one_b2 = (float)(1.0 - beta2);
    const float fb1 = (float)beta1, fb2 = (float)beta2, feps = (float)eps, flr = (float)lr, fdecay = (float)decay;
    for (int64_t s = 0; s < S; s++) {
        if (!active[s]) continue;
        steps[s] += 1.0;
        double c1 = 1.0 - pow(beta1, steps[s]), c2 = 1.0 - pow(beta2, steps[s]);
        const float b1 = (float)(c1 > 1e-30 ? c1 : 1e-30), b2 = (float)(c2 > 1e-30 ? c2 : 1e-30);
        const float root_b2 = sqrtf(b2);
        for (int32_t i = 0; i < n; i++) {
            const int64_t size = numel[i];
            float *ps = p[i] + s * size, *ms = m[i] + s * size, *vs = v[i] + s * size;
            const float *gs = g[i] + s * size;
            for (int64_t k = 0; k < size; k++) {
                float grad = fdecay != 0.0f ? gs[k] + fdecay * ps[k] : gs[k];
                ms[k] = ms[k] * fb1 + grad * one_b1;
                vs[k] = vs[k] * fb2 + grad * one_b2 * grad;
                float denom = sqrtf(vs[k]) / root_b2 + feps;
                ps[k] = ps[k] - ms[k] / b1 / denom * flr;
            }
        }
    }
}
