// The qGAN training step compiled for one program shape: autoqml.compiled builds it with the shape's sizes as
// constants (-DAQ_G, -DAQ_WIDTHS, -DAQ_REAL, -DAQ_FLOAT) so that every discriminator loop has a fixed length the
// compiler vectorizes, and loads it with ctypes. The step is the one autoqml.qgan.Training runs in torch (its
// reference implementation, tests/test_compiled.py compares the two):
//
//   draws      real batch (qiskit's epoch walk, or with replacement) then batch_size uniforms for the Born batch
//   generator  exact probabilities of the statevector (float64), the Born batch's histogram
//   D step     backward of L_D = -sum r log D + g log(1 - D) from the kept forward pass, torch's AMSGrad
//   G step     forward pass after the update, dL_G/dtheta by the adjoint method, the generator's optimizer
//
// Rows are the outer loop and nothing of one row's arithmetic depends on another row, so a batch of rows trains
// exactly as each row alone. Each row draws from its own stream, 8 xoshiro256++ generators side by side (Blackman
// and Vigna 2018): per step first the real batch (the epoch walk, as many bounded draws as the batch holds, each
// uniform among the values left this epoch: `Draws`; or batch_size uniforms against the target's CDF), then
// batch_size 32-bit uniforms that land in bin x when CDF(x-1) < u <= CDF(x). `draw_steps` makes the same draws for
// the torch implementation.
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
extern "C" __m256d _ZGVdN4v_cos(__m256d);
extern "C" __m256d _ZGVdN4v_sin(__m256d);
// cos and sin of n angles (x padded to a multiple of 4 values).
inline void cos_sin(const double* x, double* c, double* s, int n) {
    for (int i = 0; i < n; i += 4) {
        __m256d v;
        std::memcpy(&v, x + i, sizeof(v));
        const __m256d cv = _ZGVdN4v_cos(v), sv = _ZGVdN4v_sin(v);
        std::memcpy(c + i, &cv, sizeof(cv));
        std::memcpy(s + i, &sv, sizeof(sv));
    }
}
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
inline void cos_sin(const double* x, double* c, double* s, int n) {
    for (int i = 0; i < n; ++i) c[i] = std::cos(x[i]), s[i] = std::sin(x[i]);
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
    std::vector<int64_t> edges;  // threshold(cdf[x])
    explicit Search(int bins) : edges(bins) {}
    void build(const double* p) {
        const int bins = int(edges.size());
        double total = 0;
        for (int x = 0; x < bins; ++x) total += p[x];
        double sum = 0;
        for (int x = 0; x < bins; ++x) edges[x] = threshold((sum += p[x]) / total);
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

typedef int32_t Ints __attribute__((vector_size(64), aligned(4)));
constexpr int IL = 16;         // int32 values per vector
constexpr int COUNTED = 64;    // grids up to this size walk their epoch by counts

// One row's draws, step by step: the real batch's counts, then the Born batch's 32-bit uniforms.
//
// The epoch walk draws the batch's values one by one without replacement, each uniformly among the values left
// this epoch. Up to COUNTED bins it keeps only how many values of each bin are left, as cumulative counts in a few
// vectors: draw r uniform below the number left, the value's bin is the first whose cumulative count exceeds r,
// and every cumulative count above r drops by one (one compare and one masked add per vector, no memory). Larger
// grids shuffle the training set itself (a partial Fisher-Yates shuffle, its order kept in the narrowest integers
// that hold a grid index, `Index`). Either way the batches are qiskit's shuffle-and-walk in distribution.
template <class Index>
struct Draws {
    uint64_t* state;        // the row's stream
    int batch;
    int n;                  // training-set size (epoch walk), 0 for with replacement
    int bins;
    const int32_t* set;     // the training set, grid indices, in its stored order
    const int32_t* counts;  // ... its values per bin
    int32_t* work;          // between calls inside an epoch: what is left (the walk's order, or counts per bin)
    const Search* target;   // with replacement: the target's CDF
    std::vector<uint64_t> words;
    std::vector<Index> order;
    std::vector<int32_t> cumulative;  // values left in bins 0..x, padded to whole vectors
    Histogram histogram;
    bool by_counts, mid_epoch = false;

    Draws(uint64_t* state_, int batch_, int n_, int bins_, const int32_t* set_, const int32_t* counts_,
          int32_t* work_, const Search* target_, int first)
        : state(state_), batch(batch_), n(n_), bins(bins_), set(set_), counts(counts_), work(work_),
          target(target_), words(LANES * blocks_for(batch_)), histogram(bins_), by_counts(bins_ <= COUNTED) {
        if (n == 0) return;
        if (by_counts) {
            cumulative.resize((bins + IL - 1) / IL * IL);
            if (first > 0) accumulate(work);
        } else {
            order.resize(n);
            if (first > 0) std::copy(work, work + n, order.begin());
        }
    }
    Draws(const Draws&) = delete;
    ~Draws() {  // an epoch left unfinished continues from `work`
        if (!mid_epoch) return;
        if (!by_counts) std::copy(order.begin(), order.end(), work);
        else for (int x = 0; x < bins; ++x) work[x] = cumulative[x] - (x ? cumulative[x - 1] : 0);
    }

    void accumulate(const int32_t* per_bin) {
        int32_t sum = 0;
        for (int x = 0; x < bins; ++x) cumulative[x] = sum += per_bin[x];
        for (size_t x = bins; x < cumulative.size(); ++x) cumulative[x] = sum;  // empty bins above the grid
    }

    // A uniform integer in [0, range) from a 32-bit word, without bias (Lemire 2019, arXiv:1805.10941): on the
    // rare rejection, from the first word of a fresh block.
    uint32_t bounded(uint32_t word, uint32_t range) {
        const uint64_t m = uint64_t(word) * range;
        return uint32_t(m) < range ? rejecting(m, range) : uint32_t(m >> 32);
    }
    // Out of line, so that the drawing loops keep their vectors in registers (inlined, its stream vectors made
    // GCC spill the walk's counts to the stack: twice the cycles per draw).
    __attribute__((noinline, cold)) uint32_t rejecting(uint64_t m, uint32_t range) {
        const uint32_t limit = uint32_t(0 - range) % range;
        while (uint32_t(m) < limit) {
            uint64_t fresh[LANES];
            fill(state, fresh, 1);
            m = uint64_t(uint32_t(fresh[0])) * range;
        }
        return uint32_t(m >> 32);
    }

    const uint32_t* halves() const { return reinterpret_cast<const uint32_t*>(words.data()); }

    // One batch drawn from the cumulative counts (NV vectors): out = the counts drawn per bin.
    // (Out of line: inlined into the training step, GCC kept part of `c` on the stack.)
    template <int NV>
    __attribute__((noinline)) void draw_counts(int start, int32_t* out) {
        Ints c[NV], before[NV];
        std::memcpy(c, cumulative.data(), sizeof(c));
        std::memcpy(before, c, sizeof(c));
        const uint32_t* h = halves();
        for (int i = 0; i < batch; ++i) {
            const int32_t r = int32_t(bounded(h[i], uint32_t(n - start - i)));
#ifdef __AVX512F__  // a masked subtraction: the compare's mask feeds it directly (4 cycles a draw, not 5)
            const __m512i rv = _mm512_set1_epi32(r), one = _mm512_set1_epi32(1);
            AQ_UNROLL for (int v = 0; v < NV; ++v) {
                const __m512i cv = (__m512i)c[v];
                c[v] = (Ints)_mm512_mask_sub_epi32(cv, _mm512_cmpgt_epi32_mask(cv, rv), cv, one);
            }
#else
            AQ_UNROLL for (int v = 0; v < NV; ++v) c[v] += (c[v] > (Ints{} + r));  // true is -1
#endif
        }
        std::memcpy(cumulative.data(), c, sizeof(c));
        int32_t drawn[NV * IL];
        AQ_UNROLL for (int v = 0; v < NV; ++v) {
            const Ints left_before = before[v] - c[v];  // cumulative counts drawn
            std::memcpy(drawn + v * IL, &left_before, sizeof(Ints));
        }
        for (int x = 0; x < bins; ++x) out[x] = drawn[x] - (x ? drawn[x - 1] : 0);
    }

    // The real batch's counts (bins values).
    void real(int step_in_epoch, int32_t* out) {
        if (n == 0) {
            target->count(born(), batch, out);
            return;
        }
        const int start = step_in_epoch * batch;
        fill(state, words.data(), blocks_for((batch + 1) / 2));
        mid_epoch = start + 2 * batch <= n;  // another step of this epoch may follow in a later call
        if (by_counts) {
            if (step_in_epoch == 0) accumulate(counts);
            switch (cumulative.size() / IL) {
                case 1: return draw_counts<1>(start, out);
                case 2: return draw_counts<2>(start, out);
                default: return draw_counts<4>(start, out);
            }
        }
        histogram.clear();
        if (step_in_epoch == 0) std::copy(set, set + n, order.begin());
        Index* __restrict walk = order.data();
        for (int i = 0; i < batch; ++i) {
            const int at = start + i;
            const int j = at + int(bounded(halves()[i], uint32_t(n - at)));
            const Index picked = walk[j];
            walk[j] = walk[at];
            walk[at] = picked;
            histogram.add(i, picked);
        }
        histogram.total(out);
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
    const int32_t* set_counts; // rows x G: the training set's values per bin
    int32_t* work;             // rows x max(n_set, G): the epoch walk's state between calls
    const double* target;      // rows x G
    // outputs
    double* loss_d;            // rows, the last step's (when asked)
    double* loss_g;
    double* probs_first;       // rows x G, the probabilities at the first step
};

}  // extern "C"

namespace {

constexpr int QUBITS = __builtin_ctz(G);

#if AQ_REAL
// A real state in vectors of DL amplitudes. A one-qubit gate M = (m0 m1; m2 m3) on qubit Q pairs amplitudes i and
// i + S (S = 2^Q, bit Q of i clear): from S = DL on they are whole vectors apart; below, they are lanes l and
// l ^ S of one vector, so M is c1 v + c2 v' with v' the vector's lanes exchanged, c1 = (m0 or m3) and c2 = (m1 or
// m2) by lane.
constexpr int DL = G < 8 ? G : 8;
typedef double VD __attribute__((vector_size(DL * sizeof(double)), aligned(alignof(double)), may_alias));
typedef int64_t VDI __attribute__((vector_size(DL * sizeof(double))));
inline VD load_amps(const Amp* p) { return *reinterpret_cast<const VD*>(p); }
inline void store_amps(Amp* p, VD v) { *reinterpret_cast<VD*>(p) = v; }
inline VD splat_amp(double x) { return x - VD{}; }

template <int S>
inline VD exchanged(VD v) {
    VDI lanes;
    for (int l = 0; l < DL; ++l) lanes[l] = l ^ S;
    return __builtin_shuffle(v, lanes);
}

// A one-qubit matrix as applied to pairs S apart: whole vectors (S >= DL) or within vectors.
template <int S>
struct Pairs {
    VD c1, c2;  // within vectors: per lane
    double m0, m1, m2, m3;
    explicit Pairs(const Amp* m) : m0(m[0].re), m1(m[1].re), m2(m[2].re), m3(m[3].re) {
        if constexpr (S < DL) {
            VDI high;  // lanes with bit Q set
            for (int l = 0; l < DL; ++l) high[l] = l & S ? -1 : 0;
            c1 = high ? splat_amp(m3) : splat_amp(m0);
            c2 = high ? splat_amp(m2) : splat_amp(m1);
        }
    }
    // M applied to the vectors at lo and (S >= DL) lo + S.
    void apply(Amp* lo) const {
        if constexpr (S < DL) {
            const VD v = load_amps(lo);
            store_amps(lo, c1 * v + c2 * exchanged<S>(v));
        } else {
            const VD a = load_amps(lo), b = load_amps(lo + S);
            store_amps(lo, splat_amp(m0) * a + splat_amp(m1) * b);
            store_amps(lo + S, splat_amp(m2) * a + splat_amp(m3) * b);
        }
    }
    // Re <lam| M |psi> over the same vectors, accumulated.
    VD dot(const Amp* psi, const Amp* lam) const {
        if constexpr (S < DL) {
            const VD v = load_amps(psi);
            return load_amps(lam) * (c1 * v + c2 * exchanged<S>(v));
        } else {
            const VD a = load_amps(psi), b = load_amps(psi + S);
            return load_amps(lam) * (splat_amp(m0) * a + splat_amp(m1) * b) +
                   load_amps(lam + S) * (splat_amp(m2) * a + splat_amp(m3) * b);
        }
    }
};

// The first amplitude of every vector (or vector pair) a gate on pairs S apart works on.
template <int S, class F>
inline void for_each_block(F f) {
    if constexpr (S < DL) {
        for (int i = 0; i < G; i += DL) f(i);
    } else {
        for (int base = 0; base < G; base += 2 * S)
            for (int i = base; i < base + S; i += DL) f(i);
    }
}

template <int Q>
void apply_one(Amp* __restrict psi, const Amp* m) {
    const Pairs<1 << Q> gate(m);
    for_each_block<1 << Q>([&](int i) { gate.apply(psi + i); });
}

// The adjoint pass through a one-qubit rotation U with derivative D on qubit Q, in one sweep: psi <- U^T psi,
// returns <lam| D |psi> (psi after the undo), then lam <- U^T lam.
template <int Q>
double undo_one(Amp* __restrict psi, Amp* __restrict lam, const Amp* u, const Amp* d) {
    const Amp ut[4] = {u[0], u[2], u[1], u[3]};
    const Pairs<1 << Q> undo(ut), derivative(d);
    VD acc = VD{};
    for_each_block<1 << Q>([&](int i) {
        undo.apply(psi + i);
        acc += derivative.dot(psi + i, lam + i);
        undo.apply(lam + i);
    });
    double dot = 0;
    for (int l = 0; l < DL; ++l) dot += acc[l];
    return dot;
}
#else
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
#endif

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
    std::vector<double> halves, cosines, sines;  // the rotations' half angles, padded to whole vectors

    explicit Circuit(const Program& prog)
        : p(prog), u(64 * prog.n_ops), du(64 * prog.n_ops), halves(prog.n_ops + 4), cosines(prog.n_ops + 4),
          sines(prog.n_ops + 4) {
        for (int op = 0; op < p.n_ops; ++op)
            if (p.op_kind[op] == 1) {
                const int d = 1 << p.op_k[op];
                for (int e = 0; e < d * d; ++e) u[64 * op + e] = amp(p.mats + p.op_data[op], e);
            }
    }

    // The rotations' matrices A + cos(angle / 2) B + sin(angle / 2) C and derivatives (C cos - B sin) / 2.
    void angles(const double* theta) {
        int n = 0;
        for (int op = 0; op < p.n_ops; ++op)
            if (p.op_kind[op] == 2) halves[n++] = (theta[p.op_param[op]] * p.op_coeff[op] + p.op_offset[op]) / 2;
        cos_sin(halves.data(), cosines.data(), sines.data(), n);
        n = 0;
        for (int op = 0; op < p.n_ops; ++op) {
            if (p.op_kind[op] != 2) continue;
            const double cs = cosines[n], sn = sines[n++];
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

// ---- the discriminator: activations feature-major (h[j][g]) ---------------------------------------------------
// A hidden unit's values on the whole grid are whole vectors (the grid is a power of two), so the forward pass and
// the gradient of each layer's input are products with one broadcast weight at a time and no padding. A hidden
// layer's weight gradient sums over the grid: it is the product of the unit deltas with the layer's input
// transposed (grid-major, h^T[g][i], rows padded to whole vectors), which gives the weight transposed, so
// hidden-to-hidden weights are kept as W^T[o][i] with padded rows. The remaining sums over the grid (biases, the
// first and last layers' weights) are horizontal sums. Every sum runs in a fixed order.
//
// Inside a call the weights, their gradient and Adam's moments live in this layout (`Layout`): every segment
// padded to whole vectors with zeros, which stay zero (their gradient is zero), so that AMSGrad runs over the
// whole array.

constexpr int L = 64 / int(sizeof(R));  // values per 512-bit vector
constexpr int GL = G < L ? G : L;        // values per grid vector
constexpr int NG = G / GL;               // grid vectors per unit

// (Not a template: GCC keeps a dependent vector type's reduced alignment for alignof but not for its loads.)
typedef R V __attribute__((vector_size(L * sizeof(R)), aligned(alignof(R))));
typedef R VG __attribute__((vector_size(GL * sizeof(R)), aligned(alignof(R))));

// Loads and stores through the vector type itself (a memcpy of 64 bytes is split into 32-byte halves bounced
// through the stack: measured 3.5x slower products); 0 + x is not x for x = -0, so x - 0 broadcasts in one
// instruction.
// (Not templates: a type's reduced alignment does not survive as a template argument.)
inline V load(const R* p) { return *reinterpret_cast<const V*>(p); }
inline void store(R* p, V v) { *reinterpret_cast<V*>(p) = v; }
inline VG load_grid(const R* p) { return *reinterpret_cast<const VG*>(p); }
inline void store_grid(R* p, VG v) { *reinterpret_cast<VG*>(p) = v; }
template <class T>
inline T splat(R x) { return x - T{}; }
template <class T>
inline T leaky(T v) { return v > 0 ? v : v * LEAKY; }
// LeakyReLU's derivative applied to `up`, from the activation's output (it has its input's sign)
template <class T>
inline T leaky_back(T up, T out) { return out > 0 ? up : up * LEAKY; }

inline R hsum(VG v) {
#ifdef __AVX512F__
    if constexpr (GL == L) {
        if constexpr (sizeof(R) == 4) return _mm512_reduce_add_ps(reinterpret_cast<__m512&>(v));
        else return _mm512_reduce_add_pd(reinterpret_cast<__m512d&>(v));
    }
#endif
    R s = 0;
    for (int i = 0; i < GL; ++i) s += v[i];
    return s;
}

// sum_g a[g] (times w[g] when given) for a unit's G values.
inline R grid_sum(const R* __restrict a, const R* __restrict w) {
    VG acc = load_grid(a);
    if (w) acc *= load_grid(w);
    for (int n = 1; n < NG; ++n) acc += w ? load_grid(a + n * GL) * load_grid(w + n * GL) : load_grid(a + n * GL);
    return hsum(acc);
}

constexpr int padded(int n) { return (n + L - 1) / L * L; }

// Width of activation I (0: the input value, HIDDEN + 1: the logit).
template <int I>
constexpr int width_of() {
    if constexpr (I == 0 || I == HIDDEN + 1) return 1;
    else return WIDTHS[I - 1];
}

// Offsets of layer I's weight (fan-in x fan-out, row-major) and bias in torch's flat row.
template <int I>
constexpr int flat_weight() {
    if constexpr (I == 0) return 0;
    else return flat_weight<I - 1>() + width_of<I - 1>() * width_of<I>() + width_of<I>();
}
template <int I>
constexpr int flat_bias() { return flat_weight<I>() + width_of<I>() * width_of<I + 1>(); }
constexpr int PARAMS = flat_weight<HIDDEN + 1>();

// The call's layout of layer I: the first layer's weight is a padded vector over its outputs, the last layer's
// over its inputs, a hidden-to-hidden layer's is W^T[o][i] with rows of padded(fan-in); biases padded vectors.
template <int I>
struct Layout {
    static constexpr int IN = width_of<I>(), OUT = width_of<I + 1>();
    static constexpr bool FIRST = I == 0, LAST = I == HIDDEN;
    static constexpr int ROW = padded(IN);  // a transposed weight's row
    static constexpr int weight_size = FIRST ? padded(OUT) : LAST ? padded(IN) : OUT * ROW;
    static constexpr int weight() {
        if constexpr (I == 0) return 0;
        else return Layout<I - 1>::bias() + padded(Layout<I - 1>::OUT);
    }
    static constexpr int bias() { return weight() + weight_size; }
    static constexpr int at(int i, int o) { return weight() + (FIRST ? o : LAST ? i : o * ROW + i); }
};
constexpr int PADDED = Layout<HIDDEN>::bias() + padded(1);

// Copy between torch's flat layout and the call's (padding left as it is: zero), either way.
template <bool TO_PADDED, int I = 0>
void relayout(R* flat, R* pad) {
    using Y = Layout<I>;
    auto copy = [&](int f, int q) {
        if constexpr (TO_PADDED) pad[q] = flat[f];
        else flat[f] = pad[q];
    };
    for (int i = 0; i < Y::IN; ++i)
        for (int o = 0; o < Y::OUT; ++o) copy(flat_weight<I>() + i * Y::OUT + o, Y::at(i, o));
    for (int o = 0; o < Y::OUT; ++o) copy(flat_bias<I>() + o, Y::bias() + o);
    if constexpr (I < HIDDEN) relayout<TO_PADDED, I + 1>(flat, pad);
}

constexpr int block_of(int m, int most) {
    for (int b = most; b > 1; --b)
        if (m % b == 0) return b;
    return 1;
}

// Grid vectors handled at once by a product, and how many units share them (about 24 sums in registers).
constexpr int GB = NG < 4 ? NG : 4;
constexpr int units_per_block(int units) { return block_of(units, 24 / GB > 1 ? 24 / GB : 1); }

// out[u][:] = bias[u] + sum_k weight(u, k) in[k][:] for U units from K input units (feature-major, G values each):
// the products of the forward pass (bias given) and of an input's gradient (no bias). weight(u, k) is
// w[u * US + k * KS].
template <int U, int K, int US, int KS>
inline void product(const R* __restrict w, const R* __restrict bias, const R* __restrict in, R* __restrict out) {
    constexpr int UB = units_per_block(U);
    for (int g0 = 0; g0 < NG; g0 += GB)
        for (int u0 = 0; u0 < U; u0 += UB) {
            VG acc[UB][GB];
            AQ_UNROLL for (int u = 0; u < UB; ++u)
                AQ_UNROLL for (int n = 0; n < GB; ++n) acc[u][n] = bias ? splat<VG>(bias[u0 + u]) : VG{};
            for (int k = 0; k < K; ++k) {
                VG x[GB];
                AQ_UNROLL for (int n = 0; n < GB; ++n) x[n] = load_grid(in + k * G + (g0 + n) * GL);
                AQ_UNROLL for (int u = 0; u < UB; ++u) {
                    const VG s = splat<VG>(w[(u0 + u) * US + k * KS]);
                    AQ_UNROLL for (int n = 0; n < GB; ++n) acc[u][n] += s * x[n];
                }
            }
            AQ_UNROLL for (int u = 0; u < UB; ++u)
                AQ_UNROLL for (int n = 0; n < GB; ++n) store_grid(out + (u0 + u) * G + (g0 + n) * GL, acc[u][n]);
        }
}

// out[o][:] = sum_g delta[o][g] inT[g][:] for O output units: a hidden layer's weight gradient, transposed
// (inT: G rows of ROW values, whole vectors).
template <int O, int ROW>
inline void weight_gradient(const R* __restrict delta, const R* __restrict inT, R* __restrict out) {
    constexpr int NV = ROW / L, VB = block_of(NV, 4), OB = block_of(O, 24 / VB > 1 ? 24 / VB : 1);
    for (int v0 = 0; v0 < NV; v0 += VB)
        for (int o0 = 0; o0 < O; o0 += OB) {
            V acc[OB][VB];
            AQ_UNROLL for (int o = 0; o < OB; ++o)
                AQ_UNROLL for (int n = 0; n < VB; ++n) acc[o][n] = V{};
            for (int g = 0; g < G; ++g) {
                V row[VB];
                AQ_UNROLL for (int n = 0; n < VB; ++n) row[n] = load(inT + g * ROW + (v0 + n) * L);
                AQ_UNROLL for (int o = 0; o < OB; ++o) {
                    const V s = splat<V>(delta[(o0 + o) * G + g]);
                    AQ_UNROLL for (int n = 0; n < VB; ++n) acc[o][n] += s * row[n];
                }
            }
            AQ_UNROLL for (int o = 0; o < OB; ++o)
                AQ_UNROLL for (int n = 0; n < VB; ++n) store(out + (o0 + o) * ROW + (v0 + n) * L, acc[o][n]);
        }
}

// One row's activations: h[l] = hidden layer l's output (width x G), delta[l] = dL/d(its pre-activation), hT[l]
// = h[l] grid-major for the layers whose weight gradient needs it (inputs of hidden-to-hidden layers); D's
// logit and value on the grid.
struct Activations {
    static constexpr int offset(int l) {
        int at = 0;
        for (int i = 0; i < l; ++i) at += G * WIDTHS[i];
        return at;
    }
    static constexpr int offset_t(int l) {
        int at = 0;
        for (int i = 0; i < l; ++i) at += G * padded(WIDTHS[i]);
        return at;
    }
    std::vector<R> h, delta, ht;
    std::vector<R> logit, d;  // logit holds -logit after a forward pass
    Activations() : h(offset(HIDDEN)), delta(offset(HIDDEN)), ht(offset_t(HIDDEN), R(0)), logit(G), d(G) {}
    R* layer(int l) { return h.data() + offset(l); }        // hidden layer l = 0 .. HIDDEN - 1
    R* dlayer(int l) { return delta.data() + offset(l); }
    R* tlayer(int l) { return ht.data() + offset_t(l); }
};

// h[l] grid-major into hT[l] (padding stays zero).
template <int W>
inline void transpose(const R* __restrict h, R* __restrict ht) {
    for (int j = 0; j < W; ++j)
        for (int g = 0; g < G; ++g) ht[g * padded(W) + j] = h[j * G + g];
}

template <int I>
void forward_hidden(const R* w, const R* x, Activations& a) {
    using Y = Layout<I>;
    R* out = a.layer(I);
    if constexpr (I == 0) {
        const R* weight = w + Y::weight();
        const R* bias = w + Y::bias();
        for (int o = 0; o < Y::OUT; ++o) {
            const VG wo = splat<VG>(weight[o]), bo = splat<VG>(bias[o]);
            AQ_UNROLL for (int n = 0; n < NG; ++n)
                store_grid(out + o * G + n * GL, leaky(bo + wo * load_grid(x + n * GL)));
        }
        if constexpr (HIDDEN > 1) {  // grid-major too, for the next layer's weight gradient
            constexpr int ROW = padded(Y::OUT);
            R* out_t = a.tlayer(0);
            for (int g = 0; g < G; ++g) {
                const V xg = splat<V>(x[g]);
                AQ_UNROLL for (int n = 0; n < ROW; n += L)
                    store(out_t + g * ROW + n, leaky(load(bias + n) + xg * load(weight + n)));
            }
        }
    } else {
        product<Y::OUT, Y::IN, Y::ROW, 1>(w + Y::weight(), w + Y::bias(), a.layer(I - 1), out);
        for (int i = 0; i < Y::OUT * G; i += GL) store_grid(out + i, leaky(load_grid(out + i)));
        if constexpr (I + 1 < HIDDEN) transpose<Y::OUT>(out, a.tlayer(I));
    }
    if constexpr (I + 1 < HIDDEN) forward_hidden<I + 1>(w, x, a);
}

// D on the grid at weights w (the call's layout); activations kept for the backward pass.
void forward(const R* w, const R* x, Activations& a) {
    forward_hidden<0>(w, x, a);
    using Y = Layout<HIDDEN>;
    const R* in = a.layer(HIDDEN - 1);
    const R* weight = w + Y::weight();
    const VG bias = splat<VG>(w[Y::bias()]);
    for (int n = 0; n < NG; ++n) {
        VG acc = bias;
        for (int i = 0; i < Y::IN; ++i) acc += splat<VG>(weight[i]) * load_grid(in + i * G + n * GL);
        store_grid(a.logit.data() + n * GL, -acc);
    }
    elementwise<false>(a.logit.data(), a.d.data(), G);  // exp(-logit)
    for (int g = 0; g < G; ++g) a.d[g] = R(1) / (R(1) + a.d[g]);
}

// Gradients of layers I .. 0 (the call's layout) from a.dlayer(I) = dL/d(pre-activation of hidden layer I).
template <int I>
void backward_hidden(const R* w, const R* x, Activations& a, R* grad) {
    const R* delta = a.dlayer(I);
    if constexpr (I == 0) {
        using Y = Layout<0>;
        for (int o = 0; o < Y::OUT; ++o) {
            grad[Y::at(0, o)] = grid_sum(delta + o * G, x);
            grad[Y::bias() + o] = grid_sum(delta + o * G, nullptr);
        }
    } else {
        using Y = Layout<I>;  // hidden layer I - 1 (IN) -> hidden layer I (OUT)
        for (int o = 0; o < Y::OUT; ++o) grad[Y::bias() + o] = grid_sum(delta + o * G, nullptr);
        weight_gradient<Y::OUT, Y::ROW>(delta, a.tlayer(I - 1), grad + Y::weight());
        // dL/d(layer I-1's output)[i] = sum_o W^T[o][i] delta[o], then LeakyReLU's derivative
        R* below = a.dlayer(I - 1);
        const R* in = a.layer(I - 1);
        product<Y::IN, Y::OUT, 1, Y::ROW>(w + Y::weight(), nullptr, delta, below);
        for (int i = 0; i < Y::IN * G; i += GL)
            store_grid(below + i, leaky_back(load_grid(below + i), load_grid(in + i)));
        backward_hidden<I - 1>(w, x, a, grad);
    }
}

// dL/dweights (the call's layout) from dL/dlogit (G values) at the kept forward pass.
void backward(const R* w, const R* x, const R* grad_logit, Activations& a, R* grad) {
    using Y = Layout<HIDDEN>;
    const R* in = a.layer(HIDDEN - 1);
    const R* weight = w + Y::weight();
    R* below = a.dlayer(HIDDEN - 1);
    for (int i = 0; i < Y::IN; ++i) {
        grad[Y::at(i, 0)] = grid_sum(in + i * G, grad_logit);
        const VG wi = splat<VG>(weight[i]);
        AQ_UNROLL for (int n = 0; n < NG; ++n)
            store_grid(below + i * G + n * GL,
                  leaky_back(wi * load_grid(grad_logit + n * GL), load_grid(in + i * G + n * GL)));
    }
    grad[Y::bias()] = grid_sum(grad_logit, nullptr);
    backward_hidden<HIDDEN - 1>(w, x, a, grad);
}

// Square root, and reciprocal by the vector estimate refined by Newton steps to the last bit or two: AMSGrad's
// divisions on the divider unit were half of the discriminator's whole update (measured 2.6k of 5k cycles per
// step at N = 5).
inline V square_root(V v) {
#ifdef __AVX512F__
    if constexpr (sizeof(R) == 4) return (V)_mm512_sqrt_ps((__m512)v);
    else return (V)_mm512_sqrt_pd((__m512d)v);
#else
    for (int i = 0; i < L; ++i) v[i] = std::sqrt(v[i]);
    return v;
#endif
}
inline V reciprocal(V d) {
#ifdef __AVX512F__
    V r;
    if constexpr (sizeof(R) == 4) r = (V)_mm512_rcp14_ps((__m512)d);  // 14 bits, then 28, 56
    else r = (V)_mm512_rcp14_pd((__m512d)d);
    r = r * (2 - d * r);
    r = r * (2 - d * r);
    if constexpr (sizeof(R) == 8) r = r * (2 - d * r);
    return r;
#else
    return 1 / d;
#endif
}

// torch's Adam with AMSGrad (torch.optim.Adam(amsgrad=True)) at one step count, in the fused CPU kernel's order
// of operations but for the last division, a multiplication by the reciprocal (equal to rounding).
struct AmsGrad {
    R beta1, beta2, step_size, inv_root2, eps;
    AmsGrad(int64_t step, double lr, double b1, double b2, double e)
        : beta1(R(b1)), beta2(R(b2)), step_size(R(lr / (1 - std::pow(b1, double(step))))),
          inv_root2(R(1 / std::sqrt(1 - std::pow(b2, double(step))))), eps(R(e)) {}

    // n values, a multiple of L.
    void update(R* __restrict param, const R* __restrict grad, R* __restrict m, R* __restrict v,
                R* __restrict vmax, int n) const {
        for (int i = 0; i < n; i += L) {
            const V g = load(grad + i);
            const V mi = load(m + i) + (g - load(m + i)) * (1 - beta1);
            const V vi = load(v + i) * beta2 + g * g * (1 - beta2);
            const V top = load(vmax + i) > vi ? load(vmax + i) : vi;
            store(m + i, mi);
            store(v + i, vi);
            store(vmax + i, top);
            store(param + i, load(param + i) - step_size * mi * reciprocal(square_root(top) * inv_root2 + eps));
        }
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
    Draws<IndexFor<G>> draws(rng, p.batch, p.walk ? p.n_set : 0, G, p.set + int64_t(r) * p.n_set,
                             p.set_counts + int64_t(r) * G, p.work + int64_t(r) * std::max(p.n_set, G), &target,
                             first);
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
        AmsGrad(p.d_step[0] + s + 1, p.d_lr, p.d_b1, p.d_b2, p.d_eps).update(w, grad_w.data(), dm, dv, dvmax, PADDED);
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
                uint64_t* rng, const int32_t* set, const int32_t* set_counts, int32_t* work, const double* target,
                double* real, double* uniforms) {
    std::vector<int32_t> counts(bins);
    for (int r = 0; r < rows; ++r) {
        Search search(bins);
        if (n_set == 0) search.build(target + int64_t(r) * bins);
        Draws<int32_t> draws(rng + STREAM * int64_t(r), batch, n_set, bins, set + int64_t(r) * n_set,
                             set_counts + int64_t(r) * bins, work + int64_t(r) * std::max(n_set, bins), &search,
                             first);
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
