/* ExPhil's compiled CPU kernels, built at first use by cpu_kernels.py (-O3 -march=native,
   and OpenMP on the thread pool that torch already runs, where torch uses GNU OpenMP). */
#include <stdint.h>
#include <stdlib.h>

/* MurmurHash3's 32-bit finaliser: a bijection that spreads every input bit over every output bit. */
static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Dropout's factor for element i: scale where keep(i), else 0. keep(i): a 16-bit uniform u(i) in
   [-32768, 32767], hashed from (seed, i), is >= threshold. A mask is a pure function of its seed,
   so backward passes recompute it instead of storing it, and every kernel here draws the same one.
   Callers multiply by it rather than select: NaN and inf still reach the loss, as with torch's dropout. */
static inline float keep_scale(int64_t i, int32_t threshold, float scale, uint32_t seed_lo, uint32_t seed_hi) {
    uint32_t h = fmix32(fmix32((uint32_t)i * 0x9e3779b9u + seed_lo) ^ seed_hi);
    int32_t u = (int32_t)(h >> 16) - 32768;
    return u >= threshold ? scale : 0.0f;
}

/* out[i] = x[i] * keep_scale(i); the backward pass is the same call on the gradient. */
void exphil_dropout(const float *restrict x, float *restrict out, int64_t n, int32_t threshold, float scale,
                    uint32_t seed_lo, uint32_t seed_hi) {
#pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * keep_scale(i, threshold, scale, seed_lo, seed_hi);
}

/* exp(x) for x <= 0 (Cephes' expf): 2^k * p(r), |r| <= ln2 / 2; relative error ~1e-7. */
static inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    float k = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest, branch-free */
    float r = x - k * 0.693359375f + k * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } two_k = {.i = ((int32_t)k + 127) << 23};
    return p * two_k.f;
}

/* The standard normal CDF, Phi(x) = (1 + erf(x / sqrt 2)) / 2, with erf by Abramowitz and
   Stegun 7.1.26 (|error| < 1.5e-7), the formula of torch's own vectorised erf. */
static inline float normal_cdf(float x) {
    float z = x * 0.70710678118654752f;
    float a = z < 0.0f ? -z : z;
    float t = 1.0f / (1.0f + 0.3275911f * a);
    float poly = ((((1.061405429f * t - 1.453152027f) * t + 1.421413741f) * t - 0.284496736f) * t + 0.254829592f) * t;
    float erf_a = 1.0f - poly * exp_nonpositive(-a * a);
    return 0.5f + 0.5f * (z < 0.0f ? -erf_a : erf_a);
}

/* out[i] = gelu(pre[i]) * keep_scale(i): exact (erf) GELU, then dropout, in one pass. */
void exphil_gelu_dropout(const float *restrict pre, float *restrict out, int64_t n, int32_t threshold, float scale,
                         uint32_t seed_lo, uint32_t seed_hi) {
#pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) {
        float x = pre[i];
        out[i] = x * normal_cdf(x) * keep_scale(i, threshold, scale, seed_lo, seed_hi);
    }
}

/* grad_pre[i] = grad[i] * keep_scale(i) * gelu'(pre[i]), gelu'(x) = Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi). */
void exphil_gelu_dropout_backward(const float *restrict grad, const float *restrict pre, float *restrict grad_pre,
                                  int64_t n, int32_t threshold, float scale, uint32_t seed_lo, uint32_t seed_hi) {
#pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) {
        float x = pre[i];
        float slope = normal_cdf(x) + x * 0.39894228040143268f * exp_nonpositive(-0.5f * x * x);
        grad_pre[i] = grad[i] * keep_scale(i, threshold, scale, seed_lo, seed_hi) * slope;
    }
}

/* out [cols, rows] = x [rows, cols] transposed, both row-major, in 16x16 tiles that stay in L1:
   ~3x faster than torch's strided copy, which oneDNN's weight-gradient products need. */
#define TRANSPOSE_TILE 16
void exphil_transpose(const float *restrict x, float *restrict out, int64_t rows, int64_t cols) {
#pragma omp parallel for collapse(2) schedule(static) if (rows * cols >= 65536)
    for (int64_t j0 = 0; j0 < cols; j0 += TRANSPOSE_TILE) {
        for (int64_t i0 = 0; i0 < rows; i0 += TRANSPOSE_TILE) {
            int64_t i1 = i0 + TRANSPOSE_TILE < rows ? i0 + TRANSPOSE_TILE : rows;
            int64_t j1 = j0 + TRANSPOSE_TILE < cols ? j0 + TRANSPOSE_TILE : cols;
            for (int64_t j = j0; j < j1; j++)
                for (int64_t i = i0; i < i1; i++) out[j * rows + i] = x[i * cols + j];
        }
    }
}

/* dst = the arrays src[0..count) (size[k] floats each; a NULL src is zeros) end to end; returns the
   sum of their squares. One pass where torch needs two (the concatenation, then the norm). The
   arrays are cut into chunks for the threads; each chunk's sum is in double and the chunks are
   added in order, so the result does not depend on the thread count. */
#define GATHER_CHUNK 32768
double exphil_gather_sumsq(const float *const *src, const int64_t *size, int64_t count, float *restrict dst) {
    int64_t nchunks = 0;
    for (int64_t k = 0; k < count; k++) nchunks += (size[k] + GATHER_CHUNK - 1) / GATHER_CHUNK;
    int64_t *chunk_of = malloc(sizeof(int64_t) * 3 * (size_t)(nchunks + 1)); /* (array, start, offset in dst) */
    double *chunk_sum = malloc(sizeof(double) * (size_t)(nchunks + 1));
    if (!chunk_of || !chunk_sum) {
        free(chunk_of);
        free(chunk_sum);
        return -1.0; /* no tables: the caller raises MemoryError */
    }
    int64_t c = 0, offset = 0;
    for (int64_t k = 0; k < count; k++) {
        for (int64_t start = 0; start < size[k]; start += GATHER_CHUNK, c++) {
            chunk_of[3 * c] = k;
            chunk_of[3 * c + 1] = start;
            chunk_of[3 * c + 2] = offset + start;
        }
        offset += size[k];
    }
#pragma omp parallel for schedule(static) if (offset >= 65536)
    for (int64_t j = 0; j < nchunks; j++) {
        int64_t k = chunk_of[3 * j], start = chunk_of[3 * j + 1];
        int64_t n = size[k] - start < GATHER_CHUNK ? size[k] - start : GATHER_CHUNK;
        float *restrict d = dst + chunk_of[3 * j + 2];
        double acc = 0.0;
        if (src[k]) {
            const float *restrict s = src[k] + start;
#pragma omp simd reduction(+ : acc)
            for (int64_t i = 0; i < n; i++) {
                d[i] = s[i];
                acc += (double)s[i] * (double)s[i];
            }
        } else {
            for (int64_t i = 0; i < n; i++) d[i] = 0.0f;
        }
        chunk_sum[j] = acc;
    }
    double total = 0.0;
    for (int64_t j = 0; j < nchunks; j++) total += chunk_sum[j];
    free(chunk_of);
    free(chunk_sum);
    return total;
}
