/* ExPhil's compiled CPU kernels, built at first use by cpu_kernels.py (-O3 -march=native,
   and OpenMP on the thread pool that torch already runs, where torch uses GNU OpenMP). */
#include <stdint.h>

/* MurmurHash3's 32-bit finaliser: a bijection that spreads every input bit over every output bit. */
static inline uint32_t fmix32(uint32_t h) {
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* out[i] = x[i] * (keep(i) ? scale : 0). keep(i): a 16-bit uniform u(i) in [-32768, 32767],
   hashed from (seed, i), is >= threshold; so a mask is a pure function of its seed, and the
   backward pass (the same call on the gradient) recomputes it instead of storing it.
   A multiply, not a select: NaN and inf still reach the loss, as with torch's dropout. */
void exphil_dropout(const float *restrict x, float *restrict out, int64_t n, int32_t threshold, float scale,
                    uint32_t seed_lo, uint32_t seed_hi) {
#pragma omp parallel for simd schedule(static) if (n >= 65536)
    for (int64_t i = 0; i < n; i++) {
        uint32_t h = fmix32(fmix32((uint32_t)i * 0x9e3779b9u + seed_lo) ^ seed_hi);
        int32_t u = (int32_t)(h >> 16) - 32768;
        out[i] = x[i] * (u >= threshold ? scale : 0.0f);
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
