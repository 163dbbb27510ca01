//! The reference twins: one dot product per output, as written in the definition.

/// `c[i·ldc + j] = Σ_{p<k} a[i·lda + p] · b[j·ldb + p]`.
pub fn gemm_i8(m: usize, n: usize, k: usize, a: &[i8], lda: usize, b: &[i8], ldb: usize, c: &mut [i32], ldc: usize) {
    for i in 0..m {
        let a_row = &a[i * lda..i * lda + k];
        for j in 0..n {
            let b_row = &b[j * ldb..j * ldb + k];
            c[i * ldc + j] = a_row.iter().zip(b_row).map(|(&x, &y)| x as i32 * y as i32).sum();
        }
    }
}

/// The same with int16 `a`.
pub fn gemm_i16_i8(
    m: usize,
    n: usize,
    k: usize,
    a: &[i16],
    lda: usize,
    b: &[i8],
    ldb: usize,
    c: &mut [i32],
    ldc: usize,
) {
    for i in 0..m {
        let a_row = &a[i * lda..i * lda + k];
        for j in 0..n {
            let b_row = &b[j * ldb..j * ldb + k];
            c[i * ldc + j] = a_row.iter().zip(b_row).map(|(&x, &y)| x as i32 * y as i32).sum();
        }
    }
}
