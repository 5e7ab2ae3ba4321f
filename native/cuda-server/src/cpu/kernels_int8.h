// The int8 weight type's share of PackedMatrix and gemm (kernels.h): Q8_0-style blocks of 32
// int8 weights with one fp32 scale, multiplied with activations quantized the same way.
// Internal to the kernels; everything else goes through kernels.h.
#pragma once

#include "kernels.h"

namespace bg {

void int8_set_row(PackedMatrix& w, int row, const float* src);
void int8_row(const PackedMatrix& w, int row, float* out);
float int8_row_dot(const PackedMatrix& w, int row, const float* x);
// Y (M, N) = X (M, K) @ W^T for an Int8 matrix; `simd` picks the AVX2 or the scalar path.
void gemm_int8(const float* x, int m, int ldx, const PackedMatrix& w, float* y, int ldy,
               ThreadPool& pool, bool simd);

}  // namespace bg
