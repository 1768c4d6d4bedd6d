//! The matrix products of the time loop: column-major, allocation-free, vectorised at run time.
//!
//! ```
//! use rnn_core::gemm::{Mat, MatMut, gemm};
//!
//! // C ← A B with A 2×3 and B 3×2, all column-major.
//! let a = [1.0, 4.0, 2.0, 5.0, 3.0, 6.0];
//! let b = [1.0, 0.0, 1.0, 0.0, 1.0, 0.0];
//! let mut c = [0.0; 4];
//! gemm(
//!     MatMut::col_major(&mut c, 2, 2)?,
//!     Mat::col_major(&a, 2, 3)?,
//!     Mat::col_major(&b, 3, 2)?,
//!     false,
//! )?;
//! assert_eq!(c, [4.0, 10.0, 2.0, 5.0]);
//! # Ok::<(), rnn_core::Error>(())
//! ```
//!
//! # Why a product of our own
//!
//! A step of a recurrent cell is one product `W h` (and, backwards, `Wᵀ δ`) of a fixed weight
//! matrix with a thin batch of columns, thousands of times per sequence. The blocked GEMMs of
//! the Rust ecosystem (`matrixmultiply` behind nalgebra, the `gemm` crate) *pack* both
//! operands into a buffer they allocate inside every call: the allocation the time loop must
//! not make. The products here allocate nothing:
//!
//! * `C ← A B` ([`gemm`]) for fewer than 8 columns (the batch of a step) walks `A` in place in
//!   register tiles of `MR` rows by 4 columns (by 1 for a single column), reading columns of `A`
//!   contiguously and broadcasting entries of `B`, over slices of `KC = 256` of the inner
//!   dimension;
//! * from 8 columns on, each `MR × KC` panel of `A` (any strides, so `Aᵀ` too) is first copied
//!   into a buffer on the stack and then used by every `MR × 4` tile of its rows (`MR` = 48 in
//!   f32, 24 in f64): the copy is what a blocked GEMM's packing does, without the heap;
//! * `C ← Aᵀ B` ([`gemm_tn`], the backward `Wᵀ δ`) for fewer than 8 columns forms dot products
//!   of contiguous columns, 8 columns of `A` at a time, in vector-wide partial sums.
//!
//! All are plain safe Rust loops over fixed-size arrays, run through [`pulp`]'s run-time
//! dispatch so that they are compiled for AVX-512 or AVX2 when the CPU has it and for the
//! baseline otherwise; the compiler vectorises the loops. Where `matrixmultiply` reaches its
//! peak (every dimension in the hundreds) these products are slower (up to 1.3× its time at
//! the S3/S4 step shapes, `benches/README.md`); at batch 1 they are about twice as fast.
//! Multiplications and additions stay separate operations (no fused multiply–add), so the
//! result is the same on every machine. The order of summation differs from a naive loop:
//! results agree with it within the usual `γ_k`-sized rounding bound, not bit for bit.
//!
//! Any [`Scalar`] works (dual numbers run the same loops without vectors).

use crate::{Error, Scalar};
use std::mem::size_of;

/// A column-major matrix operand: entry `(i, j)` at `data[i * row_stride + j * col_stride]`.
#[derive(Clone, Copy, Debug)]
pub struct Mat<'a, T> {
    data: &'a [T],
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
}

/// The matrix a product writes: column-major, entry `(i, j)` at `data[i + j * col_stride]`.
#[derive(Debug)]
pub struct MatMut<'a, T> {
    data: &'a mut [T],
    rows: usize,
    cols: usize,
    col_stride: usize,
}

fn too_short(what: &str, needed: usize, found: usize) -> Error {
    Error::Length {
        what: format!("storage of the {what} matrix"),
        expected: needed,
        found,
    }
}

/// Entries a strided `rows × cols` matrix reaches, plus one; an error when that count
/// overflows (no slice is that long).
fn extent(
    what: &str,
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> Result<usize, Error> {
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    (rows - 1)
        .checked_mul(row_stride)
        .and_then(|r| (cols - 1).checked_mul(col_stride)?.checked_add(r))
        .and_then(|last| last.checked_add(1))
        .ok_or_else(|| Error::OutOfRange {
            what: format!("entries a strided {what} matrix reaches ({rows} × {cols}, strides {row_stride} and {col_stride})"),
            range: "0..=usize::MAX".to_owned(),
            found: "more".to_owned(),
        })
}

impl<'a, T> Mat<'a, T> {
    /// `rows × cols`, column `j` at `data[j * rows..]`.
    pub fn col_major(data: &'a [T], rows: usize, cols: usize) -> Result<Self, Error> {
        Self::strided(data, rows, cols, 1, rows)
    }

    /// `rows × cols` with entry `(i, j)` at `data[i * row_stride + j * col_stride]` (a transposed
    /// view has `row_stride` > 1 and `col_stride` = 1).
    pub fn strided(
        data: &'a [T],
        rows: usize,
        cols: usize,
        row_stride: usize,
        col_stride: usize,
    ) -> Result<Self, Error> {
        let needed = extent("operand", rows, cols, row_stride, col_stride)?;
        if data.len() < needed {
            return Err(too_short("operand", needed, data.len()));
        }
        Ok(Mat {
            data,
            rows,
            cols,
            row_stride,
            col_stride,
        })
    }

    /// The transpose, as a view of the same storage.
    pub fn t(self) -> Self {
        Mat {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            row_stride: self.col_stride,
            col_stride: self.row_stride,
        }
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }
}

impl<'a, T> MatMut<'a, T> {
    /// `rows × cols`, column `j` at `data[j * rows..]`.
    pub fn col_major(data: &'a mut [T], rows: usize, cols: usize) -> Result<Self, Error> {
        Self::with_col_stride(data, rows, cols, rows)
    }

    /// `rows × cols`, column `j` at `data[j * col_stride..]` (`col_stride ≥ rows`).
    pub fn with_col_stride(
        data: &'a mut [T],
        rows: usize,
        cols: usize,
        col_stride: usize,
    ) -> Result<Self, Error> {
        if col_stride < rows && cols > 1 {
            return Err(Error::OutOfRange {
                what: "column stride of the result matrix".into(),
                found: col_stride.to_string(),
                range: format!("at least its {rows} rows"),
            });
        }
        let needed = extent("result", rows, cols, 1, col_stride)?;
        if data.len() < needed {
            return Err(too_short("result", needed, data.len()));
        }
        Ok(MatMut {
            data,
            rows,
            cols,
            col_stride,
        })
    }
}

fn check_product(c: (usize, usize), a: (usize, usize), b: (usize, usize)) -> Result<(), Error> {
    if a.1 != b.0 {
        return Err(Error::Mismatch {
            what: "inner dimensions of a matrix product".into(),
            expected: format!("{} × {} times {} rows", a.0, a.1, a.1),
            found: format!("{} × {} times {} × {}", a.0, a.1, b.0, b.1),
        });
    }
    if c != (a.0, b.1) {
        return Err(Error::Shape {
            what: "result of a matrix product".into(),
            expected: (a.0, b.1),
            found: c,
        });
    }
    Ok(())
}

/// `C ← A B`, or `C ← C + A B` with `accumulate`. `B` may have any strides (a transposed
/// view included); so may `A`: from 8 columns on its panels are copied into the stack buffer
/// whatever its strides; below, a transposed view goes through [`gemm_tn`]'s dot products and
/// any other strided `A` through a plain entry-by-entry loop.
///
/// Errors: [`Error::Mismatch`] when the inner dimensions differ, [`Error::Shape`] when `C` is
/// not `rows(A) × cols(B)`.
pub fn gemm<T: Scalar>(
    c: MatMut<'_, T>,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
) -> Result<(), Error> {
    check_product((c.rows, c.cols), (a.rows, a.cols), (b.rows, b.cols))?;
    let packed = c.cols >= PACK_FROM && size_of::<T>() <= 8;
    if a.row_stride == 1 || a.rows <= 1 || packed {
        product(c, a, b, accumulate);
    } else if a.col_stride == 1 && b.row_stride == 1 {
        product_tn(c, a.t(), b, accumulate);
    } else {
        generic(c, a, b, accumulate);
    }
    Ok(())
}

/// Any strides, entry by entry (the rare layouts the fast paths do not take).
fn generic<T: Scalar>(c: MatMut<'_, T>, a: Mat<'_, T>, b: Mat<'_, T>, accumulate: bool) {
    for j in 0..c.cols {
        for i in 0..c.rows {
            let mut sum = T::zero();
            for p in 0..a.cols {
                sum +=
                    a.data[i * a.row_stride + p * a.col_stride] * b.data[p * b.row_stride + j * b.col_stride];
            }
            let out = &mut c.data[i + j * c.col_stride];
            *out = if accumulate { *out + sum } else { sum };
        }
    }
}

/// `C ← Aᵀ B`, or `C ← C + Aᵀ B` with `accumulate`, for `A` and `B` with contiguous columns:
/// dot products of their columns. Errors as [`gemm`].
pub fn gemm_tn<T: Scalar>(
    c: MatMut<'_, T>,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
) -> Result<(), Error> {
    check_product((c.rows, c.cols), (a.cols, a.rows), (b.rows, b.cols))?;
    for (operand, m) in [("left", &a), ("right", &b)] {
        if m.row_stride != 1 && m.rows > 1 {
            return Err(Error::OutOfRange {
                what: format!("row stride of the {operand} operand"),
                found: m.row_stride.to_string(),
                range: "1 (contiguous columns)".into(),
            });
        }
    }
    product_tn(c, a, b, accumulate);
    Ok(())
}

/// [`gemm`] without the checks, for callers whose shapes hold by construction. `A` may have
/// any strides when the product is packed (`B` of [`PACK_FROM`] columns or more, f32/f64).
pub(crate) fn product<T: Scalar>(c: MatMut<'_, T>, a: Mat<'_, T>, b: Mat<'_, T>, accumulate: bool) {
    debug_assert!(a.rows == c.rows && b.cols == c.cols && a.cols == b.rows);
    let k = a.cols;
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for j in 0..c.cols {
                let col = &mut c.data[j * c.col_stride..j * c.col_stride + c.rows];
                col.iter_mut().for_each(|x| *x = T::zero());
            }
        }
        return;
    }
    let packed = c.cols >= PACK_FROM && size_of::<T>() <= 8;
    debug_assert!(packed || a.row_stride == 1 || a.rows == 1);
    let narrow = size_of::<T>() <= 4;
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || match (packed, narrow) {
            (true, true) => nn_packed::<T, 48, 4>(c, a, b, accumulate),
            (true, false) => nn_packed::<T, 24, 4>(c, a, b, accumulate),
            (false, true) => nn::<T, 16, 64>(c, a, b, accumulate),
            (false, false) => nn::<T, 8, 32>(c, a, b, accumulate),
        },
    );
}

/// [`gemm_tn`] without the checks.
pub(crate) fn product_tn<T: Scalar>(c: MatMut<'_, T>, a: Mat<'_, T>, b: Mat<'_, T>, accumulate: bool) {
    debug_assert!(a.cols == c.rows && b.cols == c.cols && a.rows == b.rows);
    debug_assert!((a.row_stride == 1 || a.rows <= 1) && (b.row_stride == 1 || b.rows <= 1));
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    // An empty inner dimension (C = 0, or unchanged when accumulating) is the plain product's
    // case too: the dot products below would index columns of an empty `A`.
    if a.rows == 0 || (c.cols >= PACK_FROM && size_of::<T>() <= 8) {
        // Many columns: the packed product of the transposed view reuses each panel of `Aᵀ`.
        return product(c, a.t(), b, accumulate);
    }
    let narrow = size_of::<T>() <= 4;
    pulp::Arch::new().dispatch(
        #[inline(always)]
        || {
            if narrow {
                tn::<T, 8, 8>(c, a, b, accumulate)
            } else {
                tn::<T, 8, 4>(c, a, b, accumulate)
            }
        },
    );
}

/// Products with this many columns or more copy each `MR × KC` panel of `A` into a buffer on
/// the stack before using it for every column block (fewer, the panel would not be reused).
const PACK_FROM: usize = 8;

/// The inner dimension is cut into slices of this length (a tile of `A`, `MR × KC`, stays in
/// the L1 cache while every column block of `B` uses it).
const KC: usize = 256;

/// Strides and the slice of the inner dimension a tile works on.
struct Ctx {
    kc: usize,
    lda: usize,
    brs: usize,
    bcs: usize,
    ldc: usize,
    add: bool,
}

/// `C ← (C +) A B` in `MR × 4` tiles (and `WIDE × 1` tiles for single columns, the
/// matrix–vector product of batch 1), remainders in tiles of 8 and 1 rows; `A` is read in
/// place (contiguous columns).
#[inline(always)]
fn nn<T: Scalar, const MR: usize, const WIDE: usize>(
    c: MatMut<'_, T>,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    let (lda, ldc) = (a.col_stride, c.col_stride);
    let (brs, bcs) = (b.row_stride, b.col_stride);
    let c = c.data;
    let mut kb = 0;
    while kb < k {
        let kc = KC.min(k - kb);
        let add = accumulate || kb > 0;
        let a = &a.data[kb * lda..];
        let b = &b.data[kb * brs..];
        let quads = n / 4 * 4;
        let ctx = Ctx {
            kc,
            lda,
            brs,
            bcs,
            ldc,
            add,
        };
        // Columns in blocks of 4.
        let mut i = 0;
        i = rows_nn::<T, MR, 4>(&ctx, a, b, c, i, m, 0, quads);
        i = rows_nn::<T, 8, 4>(&ctx, a, b, c, i, m, 0, quads);
        rows_nn::<T, 1, 4>(&ctx, a, b, c, i, m, 0, quads);
        // The remaining columns one by one.
        let mut i = 0;
        i = rows_nn::<T, WIDE, 1>(&ctx, a, b, c, i, m, quads, n);
        i = rows_nn::<T, 8, 1>(&ctx, a, b, c, i, m, quads, n);
        rows_nn::<T, 1, 1>(&ctx, a, b, c, i, m, quads, n);
        kb += kc;
    }
}

/// Tiles of `MR × NR` over rows `first..` (as many whole tiles as fit below `m`) and columns
/// `j0..j1` (a multiple of `NR` wide); returns the first row not done.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn rows_nn<T: Scalar, const MR: usize, const NR: usize>(
    ctx: &Ctx,
    a: &[T],
    b: &[T],
    c: &mut [T],
    first: usize,
    m: usize,
    j0: usize,
    j1: usize,
) -> usize {
    let mut i = first;
    while i + MR <= m {
        let mut j = j0;
        while j + NR <= j1 {
            let acc = tile::<T, MR, NR>(ctx, |p| &a[i + p * ctx.lda..][..MR], &b[j * ctx.bcs..]);
            store::<T, MR, NR>(ctx, &acc, &mut c[i + j * ctx.ldc..], MR, NR);
            j += NR;
        }
        i += MR;
    }
    i
}

/// One `MR × NR` tile: `Σ_p A[.., p] B[p, ..]` over `ctx.kc` of the inner dimension, with
/// column `p` of the tile of `A` given by `column(p)` and `B` from `b[0]`.
#[inline(always)]
fn tile<'a, T: Scalar + 'a, const MR: usize, const NR: usize>(
    ctx: &Ctx,
    column: impl Fn(usize) -> &'a [T],
    b: &[T],
) -> [[T; MR]; NR] {
    let mut acc = [[T::zero(); MR]; NR];
    for p in 0..ctx.kc {
        let column: [T; MR] = std::array::from_fn(|r| column(p)[r]);
        for (j, acc) in acc.iter_mut().enumerate() {
            let x = b[p * ctx.brs + j * ctx.bcs];
            for r in 0..MR {
                acc[r] += column[r] * x;
            }
        }
    }
    acc
}

/// Writes (or adds) the first `rows × cols` of a tile into `C` from `c[0]`.
#[inline(always)]
fn store<T: Scalar, const MR: usize, const NR: usize>(
    ctx: &Ctx,
    acc: &[[T; MR]; NR],
    c: &mut [T],
    rows: usize,
    cols: usize,
) {
    for (j, acc) in acc.iter().enumerate().take(cols) {
        let out = &mut c[j * ctx.ldc..][..rows];
        if ctx.add {
            for (o, &x) in out.iter_mut().zip(acc) {
                *o += x;
            }
        } else {
            out.copy_from_slice(&acc[..rows]);
        }
    }
}

/// `C ← (C +) A B` for many columns: each `MR × KC` panel of `A` (any strides) is copied
/// into a contiguous buffer once and used by every `MR × NR` tile of its rows.
#[inline(always)]
fn nn_packed<T: Scalar, const MR: usize, const NR: usize>(
    c: MatMut<'_, T>,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
) {
    let (m, n, k) = (c.rows, c.cols, a.cols);
    let (ars, acs) = (a.row_stride, a.col_stride);
    let ldc = c.col_stride;
    let c = c.data;
    let mut panel = [[T::zero(); MR]; KC];
    let mut kb = 0;
    while kb < k {
        let kc = KC.min(k - kb);
        let ctx = Ctx {
            kc,
            lda: MR,
            brs: b.row_stride,
            bcs: b.col_stride,
            ldc,
            add: accumulate || kb > 0,
        };
        let b_block = &b.data[kb * b.row_stride..];
        let mut i = 0;
        while i < m {
            let rows = MR.min(m - i);
            if ars == 1 {
                for (p, column) in panel.iter_mut().take(kc).enumerate() {
                    let base = (kb + p) * acs + i;
                    column[..rows].copy_from_slice(&a.data[base..base + rows]);
                    column[rows..].iter_mut().for_each(|x| *x = T::zero());
                }
            } else {
                // A transposed view: each row of the panel is contiguous in memory.
                for r in 0..MR {
                    if r < rows {
                        let start = kb * acs + (i + r) * ars;
                        for (p, column) in panel.iter_mut().take(kc).enumerate() {
                            column[r] = a.data[start + p * acs];
                        }
                    } else {
                        panel.iter_mut().take(kc).for_each(|column| column[r] = T::zero());
                    }
                }
            }
            let mut j = 0;
            while j < n {
                let cols = NR.min(n - j);
                let b_tile = &b_block[j * b.col_stride..];
                let out = &mut c[i + j * ldc..];
                if cols == NR {
                    let acc = tile::<T, MR, NR>(&ctx, |p| &panel[p][..], b_tile);
                    store::<T, MR, NR>(&ctx, &acc, out, rows, NR);
                } else {
                    for jj in 0..cols {
                        let acc = tile::<T, MR, 1>(&ctx, |p| &panel[p][..], &b_tile[jj * b.col_stride..]);
                        store::<T, MR, 1>(&ctx, &acc, &mut out[jj * ldc..], rows, 1);
                    }
                }
                j += cols;
            }
            i += rows;
        }
        kb += kc;
    }
}

/// `C ← (C +) Aᵀ B` for few columns: each entry a dot product of two contiguous columns, `JR`
/// columns of `A` at a time, each a sum of `L`-wide partial sums.
#[inline(always)]
fn tn<T: Scalar, const JR: usize, const L: usize>(
    c: MatMut<'_, T>,
    a: Mat<'_, T>,
    b: Mat<'_, T>,
    accumulate: bool,
) {
    let (k, n) = (c.rows, c.cols);
    let ldc = c.col_stride;
    for col in 0..n {
        let mut j = 0;
        while j + JR <= k {
            tile_tn::<T, JR, L>(&a, &b, &mut *c.data, ldc, accumulate, j, col);
            j += JR;
        }
        while j < k {
            tile_tn::<T, 1, L>(&a, &b, &mut *c.data, ldc, accumulate, j, col);
            j += 1;
        }
    }
}

/// `C[j..j+JR, col] ← (C +) A[:, j..j+JR]ᵀ B[:, col]`.
#[inline(always)]
fn tile_tn<T: Scalar, const JR: usize, const L: usize>(
    a: &Mat<'_, T>,
    b: &Mat<'_, T>,
    c: &mut [T],
    ldc: usize,
    add: bool,
    j: usize,
    col: usize,
) {
    let m = a.rows;
    let a_cols: [&[T]; JR] = std::array::from_fn(|r| &a.data[(j + r) * a.col_stride..][..m]);
    let b_col = &b.data[col * b.col_stride..][..m];
    let mut acc = [[T::zero(); L]; JR];
    let whole = m / L * L;
    for (chunk, bv) in b_col[..whole].chunks_exact(L).enumerate() {
        let i = chunk * L;
        for r in 0..JR {
            let av = &a_cols[r][i..i + L];
            for l in 0..L {
                acc[r][l] += av[l] * bv[l];
            }
        }
    }
    for r in 0..JR {
        // Pairwise sum of the partial sums, then the rows past the last whole chunk.
        let mut lanes = acc[r];
        let mut width = L;
        while width > 1 {
            width /= 2;
            for l in 0..width {
                lanes[l] += lanes[l + width];
            }
        }
        let mut sum = lanes[0];
        for t in whole..m {
            sum += a_cols[r][t] * b_col[t];
        }
        let out = &mut c[col * ldc + j + r];
        if add {
            *out += sum;
        } else {
            *out = sum;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn matrix(rows: usize, cols: usize, seed: usize) -> DMatrix<f64> {
        DMatrix::from_fn(rows, cols, |i, j| {
            (((i * 31 + j * 17 + seed * 7) % 23) as f64 - 11.0) / 8.0
        })
    }

    /// Products of small integers over 8 are exact in f64 at these sizes, so every summation
    /// order gives the same, exact result.
    #[test]
    fn products_are_exact_on_dyadic_data_at_every_tile_boundary() {
        for (m, k, n) in [
            (1, 1, 1),
            (7, 3, 5),
            (16, 300, 4),
            (37, 9, 13),
            (64, 257, 1),
            (130, 33, 66),
            (9, 520, 3),
        ] {
            let (a, b) = (matrix(m, k, 1), matrix(k, n, 2));
            let expected = &a * &b;
            let c0 = matrix(m, n, 3);
            for accumulate in [false, true] {
                let mut c = c0.clone();
                gemm(
                    MatMut::col_major(c.as_mut_slice(), m, n).unwrap(),
                    Mat::col_major(a.as_slice(), m, k).unwrap(),
                    Mat::col_major(b.as_slice(), k, n).unwrap(),
                    accumulate,
                )
                .unwrap();
                let want = if accumulate {
                    &c0 + &expected
                } else {
                    expected.clone()
                };
                assert_eq!(c, want, "A B, {m}×{k}×{n}, accumulate {accumulate}");

                // Aᵀ B with A stored k × m.
                let at = a.transpose();
                let mut c = c0.clone();
                gemm_tn(
                    MatMut::col_major(c.as_mut_slice(), m, n).unwrap(),
                    Mat::col_major(at.as_slice(), k, m).unwrap(),
                    Mat::col_major(b.as_slice(), k, n).unwrap(),
                    accumulate,
                )
                .unwrap();
                assert_eq!(c, want, "Aᵀ B, {m}×{k}×{n}, accumulate {accumulate}");

                // B given as a transposed view (row stride > 1).
                let bt = b.transpose();
                let mut c = c0.clone();
                gemm(
                    MatMut::col_major(c.as_mut_slice(), m, n).unwrap(),
                    Mat::col_major(a.as_slice(), m, k).unwrap(),
                    Mat::col_major(bt.as_slice(), n, k).unwrap().t(),
                    accumulate,
                )
                .unwrap();
                assert_eq!(c, want, "A (Bᵀ)ᵀ, {m}×{k}×{n}, accumulate {accumulate}");

                // A given as a transposed view (dot products below 8 columns, packed above).
                let mut c = c0.clone();
                gemm(
                    MatMut::col_major(c.as_mut_slice(), m, n).unwrap(),
                    Mat::col_major(at.as_slice(), k, m).unwrap().t(),
                    Mat::col_major(b.as_slice(), k, n).unwrap(),
                    accumulate,
                )
                .unwrap();
                assert_eq!(c, want, "(Aᵀ)ᵀ B, {m}×{k}×{n}, accumulate {accumulate}");

                // Both transposed views: the entry-by-entry path below 8 columns.
                let mut c = c0.clone();
                gemm(
                    MatMut::col_major(c.as_mut_slice(), m, n).unwrap(),
                    Mat::col_major(at.as_slice(), k, m).unwrap().t(),
                    Mat::col_major(bt.as_slice(), n, k).unwrap().t(),
                    accumulate,
                )
                .unwrap();
                assert_eq!(c, want, "(Aᵀ)ᵀ (Bᵀ)ᵀ, {m}×{k}×{n}, accumulate {accumulate}");
            }
        }
    }

    #[test]
    fn f32_products_agree_with_nalgebra_within_the_summation_bound() {
        let (m, k, n) = (96, 300, 7);
        let a = matrix(m, k, 4).map(|x| (x * 1.3).sin() as f32);
        let b = matrix(k, n, 5).map(|x| (x * 0.7).cos() as f32);
        let expected = &a * &b;
        let mut c = DMatrix::<f32>::zeros(m, n);
        gemm(
            MatMut::col_major(c.as_mut_slice(), m, n).unwrap(),
            Mat::col_major(a.as_slice(), m, k).unwrap(),
            Mat::col_major(b.as_slice(), k, n).unwrap(),
            false,
        )
        .unwrap();
        // |Σ a b − fl(Σ a b)| ≤ 2 γ_k Σ |a| |b| for two different summation orders.
        let gamma = |k: usize| k as f32 * f32::EPSILON / 2.0 / (1.0 - k as f32 * f32::EPSILON / 2.0);
        let magnitude = a.abs() * b.abs();
        for j in 0..n {
            for i in 0..m {
                let (got, want) = (c[(i, j)], expected[(i, j)]);
                let bound = 2.0 * gamma(k) * magnitude[(i, j)];
                assert!(
                    (got - want).abs() <= bound,
                    "({i}, {j}): {got} against {want}, bound {bound}"
                );
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors_naming_both_sides() {
        let a = [0.0_f64; 6];
        let mut c = [0.0_f64; 4];
        let err = gemm(
            MatMut::col_major(&mut c, 2, 2).unwrap(),
            Mat::col_major(&a, 2, 3).unwrap(),
            Mat::col_major(&a, 2, 3).unwrap(),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("2 × 3 times 2 × 3"), "{err}");
        let err = Mat::col_major(&a, 4, 2).unwrap_err().to_string();
        assert!(err.contains('8') && err.contains('6'), "{err}");
    }
}
