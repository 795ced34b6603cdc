// The qGAN training step compiled for one program shape: autoqml.compiled builds it with the shape's sizes as
// constants (-DAQ_G, -DAQ_WIDTHS, -DAQ_REAL, -DAQ_FLOAT) so that every discriminator loop has a fixed length the
// compiler vectorizes, and loads it with ctypes. The step is the one autoqml.qgan.Training runs in torch (its
// reference implementation, tests/test_compiled.py compares the two):
//
//   draws      real batch (qiskit's epoch walk, or with replacement) then batch_size uniforms for the Born batch
//   generator  exact probabilities of the statevector (float64), the Born batch's histogram
//   D step     backward of L_D = -sum r log D + g log(1 - D) from the kept forward pass, torch's fused AMSGrad
//   G step     forward pass after the update, dL_G/dtheta by the adjoint method, the generator's optimizer
//
// Rows are the outer loop and nothing of one row's arithmetic depends on another row, so a batch of rows trains
// exactly as each row alone. Each row draws from its own stream, 8 xoshiro256++ generators side by side (Blackman
// and Vigna 2018): per step first the real batch (a partial Fisher-Yates shuffle of the training set, restarted from its stored order every
// epoch, as many bounded draws as the batch holds; or batch_size uniforms against the target's CDF), then
// batch_size uniforms that land in bin x when CDF(x-1) < u <= CDF(x). `draw_steps` makes the same draws for the
// torch implementation.
#include <cmath>
#include <immintrin.h>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <type_traits>
#include <vector>

#ifndef AQ_FLOAT
#define AQ_FLOAT double
#endif
#ifndef AQ_G
#define AQ_G 4
#endif
#ifndef AQ_WIDTHS
#define AQ_WIDTHS 4
#endif
#ifndef AQ_REAL
#define AQ_REAL 1
#endif

#define AQ_UNROLL _Pragma("GCC unroll 64")

namespace {

using R = AQ_FLOAT;
constexpr int G = AQ_G;
constexpr int WIDTHS[] = {AQ_WIDTHS};
constexpr int HIDDEN = sizeof(WIDTHS) / sizeof(int);
constexpr R LEAKY = R(0.2);
constexpr R LOG_FLOOR = R(-100);

// exp and log of n values, through glibc's vector math library (libmvec, within 4 ulp) where there is one.
#if defined(__x86_64__) && defined(__AVX2__)
extern "C" __m256 _ZGVdN8v_expf(__m256);
extern "C" __m256 _ZGVdN8v_logf(__m256);
extern "C" __m256d _ZGVdN4v_exp(__m256d);
extern "C" __m256d _ZGVdN4v_log(__m256d);
inline __m256 vector_math(__m256 v, bool log) { return log ? _ZGVdN8v_logf(v) : _ZGVdN8v_expf(v); }
inline __m256d vector_math(__m256d v, bool log) { return log ? _ZGVdN4v_log(v) : _ZGVdN4v_exp(v); }
template <bool LOG>
void elementwise(const R* __restrict in, R* __restrict out, int n) {
    constexpr int W = int(32 / sizeof(R));
    int i = 0;
    for (; i + W <= n; i += W) {
        if constexpr (sizeof(R) == 4) {
            __m256 v;
            std::memcpy(&v, in + i, sizeof(v));
            v = vector_math(v, LOG);
            std::memcpy(out + i, &v, sizeof(v));
        } else {
            __m256d v;
            std::memcpy(&v, in + i, sizeof(v));
            v = vector_math(v, LOG);
            std::memcpy(out + i, &v, sizeof(v));
        }
    }
    for (; i < n; ++i) out[i] = LOG ? std::log(in[i]) : std::exp(in[i]);
}
#else
template <bool LOG>
void elementwise(const R* __restrict in, R* __restrict out, int n) {
    for (int i = 0; i < n; ++i) out[i] = LOG ? std::log(in[i]) : std::exp(in[i]);
}
#endif

// ---- random draws -------------------------------------------------------------------------------------------
// A row's stream is 8 xoshiro256++ generators side by side (state 4 x 8 words), read a block of 8 words at a
// time, so that drawing is vector arithmetic.

constexpr int LANES = 8;
constexpr int STREAM = 4 * LANES;

typedef uint64_t Words __attribute__((vector_size(8 * LANES), aligned(8)));
inline Words rotl(Words x, int k) { return (x << k) | (x >> (64 - k)); }

// `blocks` blocks of LANES random words into out, advancing the stream's state (4 x LANES words).
inline void fill(uint64_t* __restrict state, uint64_t* __restrict out, int blocks) {
    Words s[4];
    std::memcpy(s, state, sizeof(s));
    for (int b = 0; b < blocks; ++b) {
        const Words result = rotl(s[0] + s[3], 23) + s[0];
        std::memcpy(out + b * LANES, &result, sizeof(Words));
        const Words t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = rotl(s[3], 45);
    }
    std::memcpy(state, s, sizeof(s));
}

// Counts of values in [0, bins) kept in four interleaved histograms, so that a run of equal values does not wait
// on its own increments.
struct Histogram {
    std::vector<int32_t> parts;
    int bins;
    explicit Histogram(int bins_) : parts(4 * bins_), bins(bins_) {}
    void clear() { std::fill(parts.begin(), parts.end(), 0); }
    void add(int i, int value) { ++parts[(i & 3) * bins + value]; }
    void total(int32_t* out) const {
        for (int x = 0; x < bins; ++x) out[x] = parts[x] + parts[bins + x] + parts[2 * bins + x] + parts[3 * bins + x];
    }
};

inline int blocks_for(int words) { return (words + LANES - 1) / LANES; }

// A uniform in (0, 1) from a 32-bit random value k: (k + 1/2) / 2^32, never 0, so a bin of probability 0 never
// receives a sample. u <= c exactly when k <= floor(c 2^32 - 1/2) (both sides exact in double), so the bins are
// found by comparing 32-bit integers, 16 to a vector.
inline double uniform(uint32_t k) { return (double(k) + 0.5) * 0x1.0p-32; }
inline int64_t threshold(double c) { return int64_t(std::floor(c * 0x1.0p32 - 0.5)); }

typedef uint32_t Uints __attribute__((vector_size(64), aligned(4)));
constexpr int UL = 16;  // 32-bit values per vector

// How many of k[0..n) are <= edge (edge in [-1, 2^32 - 1]); k has room for n rounded up to UL.
inline int64_t at_most(const uint32_t* __restrict k, int n, int64_t edge) {
    if (edge < 0) return 0;
    const int whole = n / UL * UL;
    int64_t total = 0;
#ifdef __AVX512F__
    __m512i acc = _mm512_setzero_si512();
    const __m512i e = _mm512_set1_epi32(int(uint32_t(edge)));
    const __m512i one = _mm512_set1_epi32(1);
    for (int i = 0; i < whole; i += UL) {
        const __m512i v = _mm512_loadu_si512(k + i);
        acc = _mm512_mask_add_epi32(acc, _mm512_cmple_epu32_mask(v, e), acc, one);
    }
    total = _mm512_reduce_add_epi32(acc);
#else
    Uints acc = Uints{};
    const Uints e = Uints{} + uint32_t(edge);
    for (int i = 0; i < whole; i += UL) {
        Uints v;
        std::memcpy(&v, k + i, sizeof(v));
        acc -= (v <= e);  // true is all ones
    }
    for (int l = 0; l < UL; ++l) total += acc[l];
#endif
    for (int i = whole; i < n; ++i) total += k[i] <= uint64_t(edge);
    return total;
}

// The normalized CDF of p over `bins` values (a power of two) and the counts of uniforms in each bin: sample u
// lands in the first x with u <= cdf[x]. Up to 64 bins, bin x's count is #(u <= cdf[x]) - #(u <= cdf[x - 1]),
// every comparison a vector lane, no branch; more bins are searched by halving the range, without branches.
struct Search {
    std::vector<double> cdf;
    std::vector<int64_t> edges;  // threshold(cdf[x])
    explicit Search(int bins) : cdf(bins), edges(bins) {}
    void build(const double* p) {
        const int bins = int(cdf.size());
        double sum = 0;
        for (int x = 0; x < bins; ++x) cdf[x] = sum += p[x];
        for (int x = 0; x < bins; ++x) edges[x] = threshold(cdf[x] / sum);
        edges[bins - 1] = 0xFFFFFFFF;  // cdf 1: every sample
    }
    // The bins of the n 32-bit uniforms k into counts (bins values).
    void count(const uint32_t* __restrict k, int n, int32_t* __restrict counts) const {
        const int64_t* __restrict e = edges.data();
        const int bins = int(edges.size());
        if (bins <= 64) {
            int64_t below = 0;
            for (int x = 0; x < bins - 1; ++x) {
                const int64_t within = at_most(k, n, e[x]);
                counts[x] = int32_t(within - below);
                below = within;
            }
            counts[bins - 1] = int32_t(n - below);
            return;
        }
        std::memset(counts, 0, sizeof(int32_t) * bins);
        for (int i = 0; i < n; ++i) {
            int x = 0;
            for (int half = bins / 2; half > 0; half /= 2) x += e[x + half - 1] < int64_t(k[i]) ? half : 0;
            ++counts[x];
        }
    }
};

// One row's draws, step by step: the real batch's counts, then the Born batch's 32-bit uniforms. The epoch
// walk's order is kept in the narrowest integers that hold a grid index (`Index`), so that it stays in the
// core's first-level cache; `work` (int32) holds it between calls that end inside an epoch.
template <class Index>
struct Draws {
    uint64_t* state;      // the row's stream
    int batch;
    int n;                // training-set size (epoch walk), 0 for with replacement
    const int32_t* set;   // the training set, grid indices, in its stored order
    int32_t* work;        // the walk's order this epoch, between calls
    const Search* target; // with replacement: the target's CDF
    std::vector<uint64_t> words;
    std::vector<Index> order;
    Histogram histogram;
    bool mid_epoch = false;

    Draws(uint64_t* state_, int batch_, int n_, const int32_t* set_, int32_t* work_, const Search* target_,
          int bins, int first)
        : state(state_), batch(batch_), n(n_), set(set_), work(work_), target(target_),
          words(LANES * blocks_for(batch_)), order(n_), histogram(bins) {
        if (n > 0 && first > 0) std::copy(work, work + n, order.begin());
    }
    Draws(const Draws&) = delete;
    ~Draws() {  // an epoch left unfinished continues from `work`
        if (mid_epoch) std::copy(order.begin(), order.end(), work);
    }

    // A uniform integer in [0, range) from a 32-bit word, without bias (Lemire 2019, arXiv:1805.10941): on the
    // rare rejection, from the first word of a fresh block.
    uint32_t bounded(uint32_t word, uint32_t range) {
        uint64_t m = uint64_t(word) * range;
        if (uint32_t(m) < range) {
            const uint32_t limit = uint32_t(0 - range) % range;
            while (uint32_t(m) < limit) {
                uint64_t fresh[LANES];
                fill(state, fresh, 1);
                m = uint64_t(uint32_t(fresh[0])) * range;
            }
        }
        return uint32_t(m >> 32);
    }

    const uint32_t* halves() const { return reinterpret_cast<const uint32_t*>(words.data()); }

    // The real batch's counts (bins values).
    void real(int step_in_epoch, int32_t* counts) {
        if (n == 0) {
            target->count(born(), batch, counts);
            return;
        }
        histogram.clear();
        if (step_in_epoch == 0) std::copy(set, set + n, order.begin());
        const int start = step_in_epoch * batch;
        fill(state, words.data(), blocks_for((batch + 1) / 2));
        Index* __restrict walk = order.data();
        for (int i = 0; i < batch; ++i) {
            const int at = start + i;
            const int j = at + int(bounded(halves()[i], uint32_t(n - at)));
            const Index picked = walk[j];
            walk[j] = walk[at];
            walk[at] = picked;
            histogram.add(i, picked);
        }
        histogram.total(counts);
        mid_epoch = start + 2 * batch <= n;  // another step of this epoch may follow in a later call
    }

    // The Born batch's 32-bit uniforms (batch of them).
    const uint32_t* born() {
        fill(state, words.data(), blocks_for((batch + 1) / 2));
        return halves();
    }
};

// The narrowest unsigned integer that holds a grid index below G.
template <int BINS>
using IndexFor = std::conditional_t<(BINS <= 256), uint8_t, std::conditional_t<(BINS <= 65536), uint16_t, int32_t>>;

// ---- the generator: statevector simulation and its adjoint gradient ------------------------------------------

#if AQ_REAL
struct Amp {
    double re;
    Amp operator*(const Amp& o) const { return {re * o.re}; }
    Amp operator+(const Amp& o) const { return {re + o.re}; }
};
inline Amp conj(Amp a) { return a; }
inline double real_dot(Amp a, Amp b) { return a.re * b.re; }  // Re(conj(a) b)
inline double norm2(Amp a) { return a.re * a.re; }
inline Amp amp(const double* data, int64_t i) { return {data[i]}; }
inline Amp scaled(Amp a, double s) { return {a.re * s}; }
#else
struct Amp {
    double re, im;
    Amp operator*(const Amp& o) const { return {re * o.re - im * o.im, re * o.im + im * o.re}; }
    Amp operator+(const Amp& o) const { return {re + o.re, im + o.im}; }
};
inline Amp conj(Amp a) { return {a.re, -a.im}; }
inline double real_dot(Amp a, Amp b) { return a.re * b.re + a.im * b.im; }
inline double norm2(Amp a) { return a.re * a.re + a.im * a.im; }
inline Amp amp(const double* data, int64_t i) { return {data[2 * i], data[2 * i + 1]}; }
inline Amp scaled(Amp a, double s) { return {a.re * s, a.im * s}; }
#endif

}  // namespace

extern "C" {

// The compiled program: the circuit's gates, every row's state, and where the step writes. Mirrored by
// autoqml.compiled.Program (ctypes); arrays are C-contiguous, rows first.
struct Program {
    int32_t rows, params, batch, n_set, walk;
    // circuit: kind 0 = monomial (state[i] <- phase[i] state[perm[i]]), 1 = fixed k-qubit matrix, 2 = rotation
    // A + cos(angle / 2) B + sin(angle / 2) C with angle = coeff theta[param] + offset
    int32_t n_ops;
    const int32_t* op_kind;
    const int32_t* op_k;
    const int32_t* op_qubits;  // 3 per gate
    const int32_t* op_param;
    const double* op_coeff;
    const double* op_offset;
    const int64_t* op_data;    // first value of the gate's matrices (or phases) in `mats`
    const int64_t* op_perm;    // first value of the gate's permutation in `perms`
    const double* mats;        // complex values interleaved (re, im) unless real
    const int32_t* perms;
    const double* initial;     // rows x G amplitudes
    // the generator's optimizer: per_step (qiskit's restarted ADAM) or persistent (Adam, AMSGrad)
    double* theta;             // rows x params
    int32_t persistent;
    const double* g_lr;
    const double* g_b1;
    const double* g_b2;
    const double* g_noise;
    double* g_m;
    double* g_v;
    double* g_vmax;
    int64_t* g_step;
    // the discriminator: flat padded weights per row, torch's fused AMSGrad moments
    const void* x;             // rows x G inputs
    void* w;                   // rows x width
    void* d_m;
    void* d_v;
    void* d_vmax;
    int64_t* d_step;
    int32_t width;
    double d_lr, d_b1, d_b2, d_eps;
    // draws
    uint64_t* rng;             // rows x STREAM words
    const int32_t* set;        // rows x n_set
    int32_t* work;             // rows x n_set
    const double* target;      // rows x G
    // outputs
    double* loss_d;            // rows, the last step's (when asked)
    double* loss_g;
    double* probs_first;       // rows x G, the probabilities at the first step
};

}  // extern "C"

namespace {

constexpr int QUBITS = __builtin_ctz(G);

// psi <- M psi for a one-qubit matrix M = (m0 m1; m2 m3) on qubit Q: pairs (i, i + 2^Q) with bit Q of i clear.
template <int Q>
void apply_one(Amp* __restrict psi, const Amp* m) {
    constexpr int S = 1 << Q;
    const Amp m0 = m[0], m1 = m[1], m2 = m[2], m3 = m[3];
    for (int base = 0; base < G; base += 2 * S)
        for (int i = base; i < base + S; ++i) {
            const Amp a = psi[i], b = psi[i + S];
            psi[i] = m0 * a + m1 * b;
            psi[i + S] = m2 * a + m3 * b;
        }
}

// The adjoint pass through a one-qubit rotation U with derivative D on qubit Q, in one sweep: psi <- U^dagger psi,
// returns Re <lam| D |psi> (psi after the undo), then lam <- U^dagger lam.
template <int Q>
double undo_one(Amp* __restrict psi, Amp* __restrict lam, const Amp* u, const Amp* d) {
    constexpr int S = 1 << Q;
    const Amp v0 = conj(u[0]), v1 = conj(u[2]), v2 = conj(u[1]), v3 = conj(u[3]);  // U^dagger
    const Amp d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3];
    double dot = 0;
    for (int base = 0; base < G; base += 2 * S)
        for (int i = base; i < base + S; ++i) {
            const Amp a = v0 * psi[i] + v1 * psi[i + S], b = v2 * psi[i] + v3 * psi[i + S];
            const Amp la = lam[i], lb = lam[i + S];
            dot += real_dot(la, d0 * a + d1 * b) + real_dot(lb, d2 * a + d3 * b);
            psi[i] = a, psi[i + S] = b;
            lam[i] = v0 * la + v1 * lb, lam[i + S] = v2 * la + v3 * lb;
        }
    return dot;
}

template <int Q = 0>
void apply_one_on(int q, Amp* psi, const Amp* m) {
    if constexpr (Q < QUBITS) {
        if (q == Q) return apply_one<Q>(psi, m);
        return apply_one_on<Q + 1>(q, psi, m);
    }
}

template <int Q = 0>
double undo_one_on(int q, Amp* psi, Amp* lam, const Amp* u, const Amp* d) {
    if constexpr (Q < QUBITS) {
        if (q == Q) return undo_one<Q>(psi, lam, u, d);
        return undo_one_on<Q + 1>(q, psi, lam, u, d);
    }
    return 0;
}

// Gates applied to one row's state: every gate's matrix (and a rotation's derivative in its angle) at this
// step's parameters, 64 entries per gate.
struct Circuit {
    const Program& p;
    std::vector<Amp> u, du;

    explicit Circuit(const Program& prog) : p(prog), u(64 * prog.n_ops), du(64 * prog.n_ops) {
        for (int op = 0; op < p.n_ops; ++op)
            if (p.op_kind[op] == 1) {
                const int d = 1 << p.op_k[op];
                for (int e = 0; e < d * d; ++e) u[64 * op + e] = amp(p.mats + p.op_data[op], e);
            }
    }

    // The rotations' matrices A + cos(angle / 2) B + sin(angle / 2) C and derivatives (C cos - B sin) / 2.
    void angles(const double* theta) {
        for (int op = 0; op < p.n_ops; ++op) {
            if (p.op_kind[op] != 2) continue;
            const double half = (theta[p.op_param[op]] * p.op_coeff[op] + p.op_offset[op]) / 2;
            const double cs = std::cos(half), sn = std::sin(half);
            const int d = 1 << p.op_k[op], block = d * d;
            const double* m = p.mats + p.op_data[op];
            for (int e = 0; e < block; ++e) {
                const Amp a = amp(m, e), b = amp(m, block + e), c = amp(m, 2 * block + e);
                u[64 * op + e] = a + scaled(b, cs) + scaled(c, sn);
                du[64 * op + e] = scaled(c, cs * 0.5) + scaled(b, -sn * 0.5);
            }
        }
    }

    // psi <- M psi for a gate's matrix M (64 entries, d x d used) on its qubits; `adjoint` applies M^dagger.
    void apply(int op, Amp* psi, const Amp* matrix, bool adjoint) const {
        const int k = p.op_k[op], d = 1 << k;
        const int32_t* q = p.op_qubits + 3 * op;
        Amp m[64];
        for (int i = 0; i < d; ++i)
            for (int j = 0; j < d; ++j) m[i * d + j] = adjoint ? conj(matrix[j * d + i]) : matrix[i * d + j];
        if (k == 1) return apply_one_on(q[0], psi, m);
        int mask = 0, offset[8];
        for (int j = 0; j < k; ++j) mask |= 1 << q[j];
        for (int s = 0; s < d; ++s) {
            offset[s] = 0;
            for (int j = 0; j < k; ++j)
                if (s >> j & 1) offset[s] |= 1 << q[j];
        }
        Amp in[8];
        for (int base = 0; base < G; ++base) {
            if (base & mask) continue;
            for (int s = 0; s < d; ++s) in[s] = psi[base + offset[s]];
            for (int i = 0; i < d; ++i) {
                Amp sum = m[i * d] * in[0];
                for (int j = 1; j < d; ++j) sum = sum + m[i * d + j] * in[j];
                psi[base + offset[i]] = sum;
            }
        }
    }

    void permute(int op, Amp* psi, Amp* scratch, bool undo) const {
        const int32_t* perm = p.perms + p.op_perm[op];
        const double* phase = p.mats + p.op_data[op];
        if (!undo) {
            for (int i = 0; i < G; ++i) scratch[i] = amp(phase, i) * psi[perm[i]];
        } else {
            for (int i = 0; i < G; ++i) scratch[perm[i]] = conj(amp(phase, i)) * psi[i];
        }
        std::memcpy(psi, scratch, sizeof(Amp) * G);
    }

    // The final state from the row's initial state.
    void forward(const double* initial, Amp* psi, Amp* scratch) const {
        for (int i = 0; i < G; ++i) psi[i] = amp(initial, i);
        for (int op = 0; op < p.n_ops; ++op) {
            if (p.op_kind[op] == 0) permute(op, psi, scratch, false);
            else apply(op, psi, &u[64 * op], false);
        }
    }

    // dL/dtheta for L = sum_x grad_probs[x] |psi[x]|^2, from the final state (overwritten): the circuit run
    // backwards, undoing each gate on psi and on lam = dL/dpsi*, each rotation adding 2 Re <lam| dU |psi>.
    void adjoint(Amp* psi, const double* grad_probs, double* grad, Amp* lam, Amp* moved, Amp* scratch) const {
        for (int i = 0; i < G; ++i) lam[i] = scaled(psi[i], grad_probs[i]);
        std::memset(grad, 0, sizeof(double) * p.params);
        for (int op = p.n_ops - 1; op >= 0; --op) {
            const int kind = p.op_kind[op];
            if (kind == 0) {
                permute(op, psi, scratch, true);
                permute(op, lam, scratch, true);
            } else if (kind == 2 && p.op_k[op] == 1) {
                const double dot = undo_one_on(p.op_qubits[3 * op], psi, lam, &u[64 * op], &du[64 * op]);
                grad[p.op_param[op]] += p.op_coeff[op] * (2 * dot);
            } else {
                apply(op, psi, &u[64 * op], true);
                if (kind == 2) {
                    std::memcpy(moved, psi, sizeof(Amp) * G);
                    apply(op, moved, &du[64 * op], false);
                    double dot = 0;
                    for (int i = 0; i < G; ++i) dot += real_dot(lam[i], moved[i]);
                    grad[p.op_param[op]] += p.op_coeff[op] * (2 * dot);
                }
                apply(op, lam, &u[64 * op], true);
            }
        }
    }
};

// ---- the discriminator: fixed-size layers, activations grid-point major (h[g][j]) ---------------------------
// Inside a call the weights, their gradient and Adam's moments live in a padded layout: every layer's width rounded
// up to whole vectors of L values (zero weights in the padding, so the sums are unchanged), so that each product
// is whole-vector arithmetic with several independent sums in registers. Every sum runs in a fixed order.

constexpr int L = 64 / int(sizeof(R));  // values per 512-bit vector
typedef R V __attribute__((vector_size(64), aligned(alignof(R))));

// Loads and stores through the vector type itself: a memcpy of 64 bytes is split into 32-byte halves bounced
// through the stack (measured 3.5x slower products), and 0 + x is not x for x = -0, so x - 0 broadcasts in one
// instruction.
inline V load(const R* p) { return *reinterpret_cast<const V*>(p); }
inline void store(R* p, V v) { *reinterpret_cast<V*>(p) = v; }
inline V splat(R x) { return x - V{}; }
inline V leaky(V v) { return v > 0 ? v : v * LEAKY; }
inline R hsum(V v) { R s = 0; for (int i = 0; i < L; ++i) s += v[i]; return s; }

constexpr int padded(int n) { return (n + L - 1) / L * L; }

// Width of activation I (0: the input value, HIDDEN + 1: the logit) and its padded width.
template <int I>
constexpr int width_of() {
    if constexpr (I == 0 || I == HIDDEN + 1) return 1;
    else return WIDTHS[I - 1];
}
template <int I>
constexpr int pad_of() {
    if constexpr (I == 0 || I == HIDDEN + 1) return 1;
    else return padded(WIDTHS[I - 1]);
}

// Offsets of layer I's weight (fan-in x fan-out, row-major) and bias: in torch's flat row (flat_*) and padded.
template <int I>
constexpr int flat_weight() {
    if constexpr (I == 0) return 0;
    else return flat_weight<I - 1>() + width_of<I - 1>() * width_of<I>() + width_of<I>();
}
template <int I>
constexpr int flat_bias() { return flat_weight<I>() + width_of<I>() * width_of<I + 1>(); }
template <int I>
constexpr int pad_weight() {
    if constexpr (I == 0) return 0;
    else return pad_weight<I - 1>() + pad_of<I - 1>() * pad_of<I>() + padded(pad_of<I>());
}
template <int I>
constexpr int pad_bias() { return pad_weight<I>() + pad_of<I>() * pad_of<I + 1>(); }

constexpr int PARAMS = flat_weight<HIDDEN + 1>();
constexpr int PADDED = padded(pad_weight<HIDDEN + 1>());

// Copy between torch's flat layout and the padded one (padding left as it is: zero), either way.
template <bool TO_PADDED, int I = 0>
void relayout(R* flat, R* pad) {
    constexpr int IN = width_of<I>(), OUT = width_of<I + 1>(), POUT = pad_of<I + 1>();
    auto copy = [&](int f, int q) {
        if constexpr (TO_PADDED) pad[q] = flat[f];
        else flat[f] = pad[q];
    };
    for (int i = 0; i < IN; ++i)
        for (int j = 0; j < OUT; ++j) copy(flat_weight<I>() + i * OUT + j, pad_weight<I>() + i * POUT + j);
    for (int j = 0; j < OUT; ++j) copy(flat_bias<I>() + j, pad_bias<I>() + j);
    if constexpr (I < HIDDEN) relayout<TO_PADDED, I + 1>(flat, pad);
}

// Rows of a product computed at once: as many as keep about 24 sums of NV vectors each in registers.
constexpr int accumulated(int nv) { return nv >= 24 ? 1 : (24 / nv > 8 ? 8 : 24 / nv); }

constexpr int block_of(int m, int most) {
    for (int b = most; b > 1; --b)
        if (m % b == 0) return b;
    return 1;
}

// out[m][:] = bias + sum_k a[m][k] b[k][:] for M rows (a: M x K with rows KS apart, b: K x N, N whole vectors);
// K is the real (unpadded) length of the sum.
template <int M, int K, int N, int KS>
inline void product(const R* __restrict a, const R* __restrict b, const R* __restrict bias, R* __restrict out) {
    constexpr int NV = N / L, MB = block_of(M, accumulated(NV));
    for (int m0 = 0; m0 < M; m0 += MB) {
        V acc[MB][NV];
        AQ_UNROLL for (int m = 0; m < MB; ++m)
            AQ_UNROLL for (int n = 0; n < NV; ++n) acc[m][n] = bias ? load(bias + n * L) : V{};
        for (int k = 0; k < K; ++k) {
            V row[NV];
            AQ_UNROLL for (int n = 0; n < NV; ++n) row[n] = load(b + k * N + n * L);
            AQ_UNROLL for (int m = 0; m < MB; ++m) {
                const V v = splat(a[(m0 + m) * KS + k]);
                AQ_UNROLL for (int n = 0; n < NV; ++n) acc[m][n] += v * row[n];
            }
        }
        AQ_UNROLL for (int m = 0; m < MB; ++m)
            AQ_UNROLL for (int n = 0; n < NV; ++n) store(out + (m0 + m) * N + n * L, acc[m][n]);
    }
}

// out[m][:] = sum_k a[k][m] b[k][:] for the M real rows: a (K x M, rows MS apart) transposed times b (K x N): a
// weight gradient, k over the grid.
template <int M, int K, int N, int MS>
inline void product_t(const R* __restrict a, const R* __restrict b, R* __restrict out) {
    constexpr int NV = N / L, MB = block_of(M, accumulated(NV));
    for (int m0 = 0; m0 < M; m0 += MB) {
        V acc[MB][NV];
        AQ_UNROLL for (int m = 0; m < MB; ++m)
            AQ_UNROLL for (int n = 0; n < NV; ++n) acc[m][n] = V{};
        for (int k = 0; k < K; ++k) {
            V row[NV];
            AQ_UNROLL for (int n = 0; n < NV; ++n) row[n] = load(b + k * N + n * L);
            AQ_UNROLL for (int m = 0; m < MB; ++m) {
                const V v = splat(a[k * MS + m0 + m]);
                AQ_UNROLL for (int n = 0; n < NV; ++n) acc[m][n] += v * row[n];
            }
        }
        AQ_UNROLL for (int m = 0; m < MB; ++m)
            AQ_UNROLL for (int n = 0; n < NV; ++n) store(out + (m0 + m) * N + n * L, acc[m][n]);
    }
}

// out[:] = sum_k a[k][:], K rows of N (whole vectors): a bias gradient.
template <int K, int N>
inline void column_sums(const R* __restrict a, R* __restrict out) {
    constexpr int NV = N / L;
    V acc[NV];
    AQ_UNROLL for (int n = 0; n < NV; ++n) acc[n] = V{};
    for (int k = 0; k < K; ++k)
        AQ_UNROLL for (int n = 0; n < NV; ++n) acc[n] += load(a + k * N + n * L);
    AQ_UNROLL for (int n = 0; n < NV; ++n) store(out + n * L, acc[n]);
}

// Padded activations of one row: h[l] = hidden layer l's output (G x its padded width), delta[l] = dL/d(its
// pre-activation); the transposed weight for the backward pass; D's logit and value on the grid.
struct Activations {
    static constexpr int offset(int l) {
        int at = 0;
        for (int i = 0; i < l; ++i) at += G * padded(WIDTHS[i]);
        return at;
    }
    std::vector<R> h, delta, wt;
    std::vector<R> logit, d;  // logit holds -logit after a forward pass
    Activations() : h(offset(HIDDEN)), delta(offset(HIDDEN)), wt(PADDED), logit(G), d(G) {}
    R* layer(int l) { return h.data() + offset(l); }
    R* dlayer(int l) { return delta.data() + offset(l); }
};

template <int I>
void forward_hidden(const R* w, const R* x, Activations& a) {
    constexpr int IN = width_of<I>(), PIN = pad_of<I>(), POUT = pad_of<I + 1>();
    const R* weight = w + pad_weight<I>();
    const R* bias = w + pad_bias<I>();
    R* out = a.layer(I);
    if constexpr (I == 0) {
        for (int g = 0; g < G; ++g)
            AQ_UNROLL for (int n = 0; n < POUT; n += L)
                store(out + g * POUT + n, leaky(load(bias + n) + splat(x[g]) * load(weight + n)));
    } else {
        product<G, IN, POUT, PIN>(a.layer(I - 1), weight, bias, out);
        for (int i = 0; i < G * POUT; i += L) store(out + i, leaky(load(out + i)));
    }
    if constexpr (I + 1 < HIDDEN) forward_hidden<I + 1>(w, x, a);
}

// D on the grid at (padded) weights w; activations kept for the backward pass.
void forward(const R* w, const R* x, Activations& a) {
    forward_hidden<0>(w, x, a);
    constexpr int PIN = pad_of<HIDDEN>();
    const R* weight = w + pad_weight<HIDDEN>();
    const R bias = w[pad_bias<HIDDEN>()];
    const R* in = a.layer(HIDDEN - 1);
    for (int g = 0; g < G; ++g) {
        V acc = V{};
        AQ_UNROLL for (int n = 0; n < PIN; n += L) acc += load(in + g * PIN + n) * load(weight + n);
        a.logit[g] = -(hsum(acc) + bias);
    }
    elementwise<false>(a.logit.data(), a.d.data(), G);  // exp(-logit)
    for (int g = 0; g < G; ++g) a.d[g] = R(1) / (R(1) + a.d[g]);
}

template <int I>
void backward_hidden(const R* w, const R* x, Activations& a, R* grad) {
    // a.dlayer(I) holds dL/d(pre-activation of hidden layer I)
    constexpr int IN = width_of<I>(), OUT = width_of<I + 1>(), PIN = pad_of<I>(), POUT = pad_of<I + 1>();
    const R* delta = a.dlayer(I);
    column_sums<G, POUT>(delta, grad + pad_bias<I>());
    if constexpr (I == 0) {
        product_t<1, G, POUT, 1>(x, delta, grad + pad_weight<I>());
    } else {
        const R* in = a.layer(I - 1);
        product_t<IN, G, POUT, PIN>(in, delta, grad + pad_weight<I>());
        // dL/d(layer I-1's output) = delta W^T, through the transposed weight; then LeakyReLU's derivative (its
        // output has its input's sign)
        const R* weight = w + pad_weight<I>();
        R* wt = a.wt.data();
        for (int i = 0; i < IN; ++i)  // the padding of wt stays zero
            for (int j = 0; j < OUT; ++j) wt[j * PIN + i] = weight[i * POUT + j];
        R* below = a.dlayer(I - 1);
        product<G, OUT, PIN, POUT>(delta, wt, nullptr, below);
        for (int i = 0; i < G * PIN; i += L) {
            const V up = load(below + i);
            store(below + i, load(in + i) > 0 ? up : up * LEAKY);
        }
        backward_hidden<I - 1>(w, x, a, grad);
    }
}

// dL/dweights (padded) from dL/dlogit (G values) at the kept forward pass.
void backward(const R* w, const R* x, const R* grad_logit, Activations& a, R* grad) {
    constexpr int PIN = pad_of<HIDDEN>(), NV = PIN / L;
    const R* weight = w + pad_weight<HIDDEN>();
    const R* in = a.layer(HIDDEN - 1);
    R* below = a.dlayer(HIDDEN - 1);
    V acc[NV];
    AQ_UNROLL for (int n = 0; n < NV; ++n) acc[n] = V{};
    R bias = 0;
    for (int g = 0; g < G; ++g) {
        const V delta = splat(grad_logit[g]);
        bias += grad_logit[g];
        AQ_UNROLL for (int n = 0; n < NV; ++n) {
            const V h = load(in + g * PIN + n * L), up = delta * load(weight + n * L);
            acc[n] += h * delta;
            store(below + g * PIN + n * L, h > 0 ? up : up * LEAKY);
        }
    }
    AQ_UNROLL for (int n = 0; n < NV; ++n) store(grad + pad_weight<HIDDEN>() + n * L, acc[n]);
    grad[pad_bias<HIDDEN>()] = bias;
    backward_hidden<HIDDEN - 1>(w, x, a, grad);
}

// torch's Adam with AMSGrad (torch.optim.Adam(amsgrad=True), the fused CPU kernel's order of operations) at one
// step count.
struct AmsGrad {
    R beta1, beta2, step_size, root2, eps;
    AmsGrad(int64_t step, double lr, double b1, double b2, double e)
        : beta1(R(b1)), beta2(R(b2)), step_size(R(lr / (1 - std::pow(b1, double(step))))),
          root2(R(std::sqrt(1 - std::pow(b2, double(step))))), eps(R(e)) {}

    void update(R* __restrict param, const R* __restrict grad, R* __restrict m, R* __restrict v,
                R* __restrict vmax, int n) const {
        for (int i = 0; i < n; ++i) {
            const R g = grad[i];
            m[i] += (g - m[i]) * (1 - beta1);
            v[i] = v[i] * beta2 + g * g * (1 - beta2);
            vmax[i] = vmax[i] > v[i] ? vmax[i] : v[i];
            param[i] -= step_size * m[i] / (std::sqrt(vmax[i]) / root2 + eps);
        }
    }

    // The real weights only (padded layout): each layer's rows and bias, skipping the padding, which stays zero
    // (its gradient is zero).
    template <int I = 0>
    void layers(R* w, const R* grad, R* m, R* v, R* vmax) const {
        constexpr int IN = width_of<I>(), OUT = width_of<I + 1>(), POUT = pad_of<I + 1>();
        auto span = [&](int at, int n) { update(w + at, grad + at, m + at, v + at, vmax + at, n); };
        if constexpr (OUT == POUT) span(pad_weight<I>(), IN * OUT);
        else for (int i = 0; i < IN; ++i) span(pad_weight<I>() + i * POUT, OUT);
        span(pad_bias<I>(), OUT);
        if constexpr (I < HIDDEN) layers<I + 1>(w, grad, m, v, vmax);
    }
};

void train_row(const Program& p, int r, int steps, int first, bool want_loss) {
    const R* x = static_cast<const R*>(p.x) + int64_t(r) * G;
    // the discriminator's weights and moments, padded for the call (torch's flat rows: R* flat[4])
    R* const flat[4] = {static_cast<R*>(p.w) + int64_t(r) * p.width, static_cast<R*>(p.d_m) + int64_t(r) * p.width,
                        static_cast<R*>(p.d_v) + int64_t(r) * p.width,
                        static_cast<R*>(p.d_vmax) + int64_t(r) * p.width};
    std::vector<R> pads(4 * PADDED, R(0));
    for (int i = 0; i < 4; ++i) relayout<true>(flat[i], pads.data() + i * PADDED);
    R* w = pads.data();
    R *dm = w + PADDED, *dv = w + 2 * PADDED, *dvmax = w + 3 * PADDED;
    double* theta = p.theta + int64_t(r) * p.params;
    const double* initial = p.initial + int64_t(r) * G * (AQ_REAL ? 1 : 2);
    uint64_t* rng = p.rng + STREAM * int64_t(r);

    Circuit circuit(p);
    Search born(G), target(G);
    if (!p.walk) target.build(p.target + int64_t(r) * G);
    Draws<IndexFor<G>> draws(rng, p.batch, p.walk ? p.n_set : 0, p.set + int64_t(r) * p.n_set,
                             p.work + int64_t(r) * p.n_set, &target, G, first);
    Activations act;
    std::vector<Amp> psi(G), lam(G), moved(G), scratch(G);
    std::vector<double> probs(G), grad_theta(p.params), grad_probs(G);
    std::vector<int32_t> real(G), fake(G);
    std::vector<R> grad_w(PADDED, R(0)), grad_logit(G);
    forward(w, x, act);  // D at the current weights, kept from step to step
    const R floor_d = std::exp(LOG_FLOOR);
    std::vector<R> log_d(G);

    for (int s = 0; s < steps; ++s) {
        const bool last = want_loss && s == steps - 1;
        circuit.angles(theta);
        circuit.forward(initial, psi.data(), scratch.data());
        for (int i = 0; i < G; ++i) probs[i] = norm2(psi[i]);
        if (s == 0 && p.probs_first) std::memcpy(p.probs_first + int64_t(r) * G, probs.data(), sizeof(double) * G);
        draws.real(first + s, real.data());
        born.build(probs.data());
        born.count(draws.born(), p.batch, fake.data());

        // the discriminator's step; a clamped logarithm (log D <= -100, i.e. D <= e^-100) has no gradient
        double loss_d = 0;
        for (int g = 0; g < G; ++g) {
            const R rg = R(double(real[g]) / p.batch), fg = R(double(fake[g]) / p.batch);
            const R d = act.d[g], one_minus = 1 - d;
            grad_logit[g] = fg * d * R(one_minus > floor_d) - rg * one_minus * R(d > floor_d);
            if (last) {
                const R log_d = std::log(d), log_1md = std::log(one_minus);
                loss_d -= double(rg * (log_d > LOG_FLOOR ? log_d : LOG_FLOOR) +
                                 fg * (log_1md > LOG_FLOOR ? log_1md : LOG_FLOOR));
            }
        }
        backward(w, x, grad_logit.data(), act, grad_w.data());
        AmsGrad(p.d_step[0] + s + 1, p.d_lr, p.d_b1, p.d_b2, p.d_eps).layers(w, grad_w.data(), dm, dv, dvmax);
        forward(w, x, act);

        // the generator's step against the updated discriminator
        double loss_g = 0;
        elementwise<true>(act.d.data(), log_d.data(), G);
        for (int g = 0; g < G; ++g) {
            grad_probs[g] = -double(log_d[g] > LOG_FLOOR ? log_d[g] : LOG_FLOOR);
            loss_g += probs[g] * grad_probs[g];
        }
        circuit.adjoint(psi.data(), grad_probs.data(), grad_theta.data(), lam.data(), moved.data(), scratch.data());
        const double lr = p.g_lr[r], b1 = p.g_b1[r], b2 = p.g_b2[r];
        if (!p.persistent) {  // qiskit's ADAM restarted every step
            const double lr_eff = lr * std::sqrt(1 - b2) / (1 - b1);
            for (int j = 0; j < p.params; ++j) {
                const double g = grad_theta[j];
                const double m = (1 - b1) * g, v = (1 - b2) * g * g;
                theta[j] -= lr_eff * m / (std::sqrt(v) + p.g_noise[r]);
            }
        } else {  // autoqml.optim.BatchedAdam
            double* m = p.g_m + int64_t(r) * p.params;
            double* v = p.g_v + int64_t(r) * p.params;
            double* vmax = p.g_vmax + int64_t(r) * p.params;
            const int64_t t = p.g_step[0] + s + 1;
            const double correction1 = 1 - std::pow(b1, double(t));
            const double root2 = std::sqrt(1 - std::pow(b2, double(t)));
            for (int j = 0; j < p.params; ++j) {
                const double g = grad_theta[j];
                m[j] = m[j] * b1 + (1 - b1) * g;
                v[j] = v[j] * b2 + (1 - b2) * (g * g);
                vmax[j] = vmax[j] > v[j] ? vmax[j] : v[j];
                theta[j] -= (lr / correction1) * m[j] / (std::sqrt(vmax[j]) / root2 + 1e-8);
            }
        }
        if (last) {
            p.loss_d[r] = loss_d;
            p.loss_g[r] = loss_g;
        }
    }
    for (int i = 0; i < 4; ++i) relayout<false>(flat[i], pads.data() + i * PADDED);
}

}  // namespace

extern "C" {

// The grid size, discriminator parameter count, precision and state kind this build was made for (the loader
// checks them).
int32_t kernel_grid() { return G; }
int32_t kernel_disc_params() { return PARAMS; }
int32_t kernel_float_bytes() { return int32_t(sizeof(R)); }
int32_t kernel_real() { return AQ_REAL; }

// `steps` training steps of every row, the first being step `first` of its epoch (the walk restarts at 0); the
// losses of the last step when `want_loss`. Optimizer step counts are the caller's to advance.
void train_steps(const Program* p, int32_t steps, int32_t first, int32_t want_loss) {
    for (int r = 0; r < p->rows; ++r) train_row(*p, r, steps, first, want_loss != 0);
}

// The draws of `steps` steps per row for the torch implementation: real counts (steps x rows x bins) and the
// Born batch's uniforms (steps x rows x batch), in the stream order train_steps uses.
void draw_steps(int32_t rows, int32_t steps, int32_t first, int32_t batch, int32_t bins, int32_t n_set,
                uint64_t* rng, const int32_t* set, int32_t* work, const double* target, double* real,
                double* uniforms) {
    std::vector<int32_t> counts(bins);
    for (int r = 0; r < rows; ++r) {
        Search search(bins);
        if (n_set == 0) search.build(target + int64_t(r) * bins);
        Draws<int32_t> draws(rng + STREAM * int64_t(r), batch, n_set, set + int64_t(r) * n_set,
                             work + int64_t(r) * n_set, &search, bins, first);
        for (int s = 0; s < steps; ++s) {
            draws.real(first + s, counts.data());
            double* out = real + (int64_t(s) * rows + r) * bins;
            for (int x = 0; x < bins; ++x) out[x] = counts[x];
            const uint32_t* k = draws.born();
            double* u = uniforms + (int64_t(s) * rows + r) * batch;
            for (int i = 0; i < batch; ++i) u[i] = uniform(k[i]);
        }
    }
}

// Words of state per row's stream.
int32_t kernel_stream_words() { return STREAM; }

}  // extern "C"
