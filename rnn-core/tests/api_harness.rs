//! A property-based hunt for panics and silent garbage in the public API.
//!
//! Every entry point is called with random shapes, sequence lengths, batch sizes (0 included),
//! values (NaN, ±∞, ±1e300, subnormals, negative or zero limits, learning rates and
//! temperatures), with records made by one object handed to another (trajectories, packed
//! trajectories, decoder and stack runs, windows, gradients, weight files, checkpoints), and
//! with objects edited where their public fields allow it. Each call must either return `Ok`
//! with a correctly shaped result — finite when every input was finite and moderate (|x| ≤ 1e3,
//! subnormals included) — or a typed `Err(rnn_core::Error)`; it must never panic. Where the
//! documentation promises more, that is checked too: gradients against central differences
//! (smooth cells), batch columns against sequences run alone, NaN padding changing nothing,
//! bit-for-bit claims (TBPTT over one window, checkpoints resumed, weights written and read),
//! update rules and loss gradients against their formulas, products against naive sums.
//!
//! A failure names the entry point, its arguments and the panic location (with the library
//! frame that called into the standard library or a dependency), and proptest prints the
//! minimal case. Randomness comes from the strategies only (free functions returning
//! `impl Strategy`); per-case work is small (T ≤ 6 mostly, B ≤ 4 mostly, now and then 20–30
//! state rows and 5–12 columns to reach the packed products).
//!
//! Counts as huge as `1 << 40` or `usize::MAX / 2` may make a library abort on allocation
//! failure, which no `catch_unwind` survives: [`huge_counts`] runs each of those calls in a
//! child process (this test binary, re-run on one filtered test) with a memory and a time
//! limit.
//!
//! Case counts scale with `PROPTEST_CASES` (256 is the default scale); the default run makes
//! at least 100 000 public calls, which [`at_least_100k_calls`] asserts.
//! `API_HARNESS_SURVEY=1` records every distinct panic location and wrong result instead of
//! stopping at the first, and prints them from `at_least_100k_calls` (`--nocapture`).

use nalgebra::{DMatrix, DVector};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use rnn_core::cells::{
    Cifg, CifgDims, Elman, ElmanConcat, ElmanConcatDims, ElmanDims, Gru, GruDims, HardLstm, HardLstmDims,
    IndRnn, IndRnnDims, Leaky, LeakyDims, Lstm, LstmDims, Mgu, MguDims, PeepholeLstm, PeepholeLstmDims,
    Reservoir, ReservoirDims, RnnRelu, RnnReluDims, RnnTanh, RnnTanhDims, RunningSum, RunningSumDims,
};
use rnn_core::drivers::{
    self, Decoder, DecoderRun, EncoderDecoder, EncoderDecoderRun, Feed, PackedTrajectory, TruncatedBptt,
    Window,
};
use rnn_core::layers::{Direction, Layer, Stack};
use rnn_core::optim::Optimizer;
use rnn_core::seq::{self, Options, Trajectory};
use rnn_core::{Cell, Error, ParamSet, Saved, Scalar, Tensors, recurrent};
use std::cell::{Cell as StdCell, RefCell};
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, Once, OnceLock};

// ---------------------------------------------------------------------------------------------
// Record accessors: the one place that knows how forward records expose their contents.
// ---------------------------------------------------------------------------------------------

fn trajectory_states<T: Scalar, C: Cell<T>>(t: &Trajectory<T, C>) -> &[C::State] {
    t.states()
}

fn packed_outputs<T: Scalar, C: Cell<T>>(p: &PackedTrajectory<T, C>) -> &[DMatrix<T>] {
    p.outputs()
}

fn packed_final<T: Scalar, C: Cell<T>>(p: &PackedTrajectory<T, C>) -> &C::State {
    p.final_state()
}

fn decoder_outputs<T: Scalar, C: Cell<T>>(r: &DecoderRun<T, C>) -> &[DMatrix<T>] {
    r.outputs()
}

fn decoder_teacher_fed<T: Scalar, C: Cell<T>>(r: &DecoderRun<T, C>) -> &[bool] {
    r.teacher_fed()
}

fn decoder_states<T: Scalar, C: Cell<T>>(r: &DecoderRun<T, C>) -> &[C::State] {
    r.states()
}

/// New steps, re-run steps, first step, trajectory.
fn window_parts<T: Scalar, C: Cell<T>>(w: &Window<T, C>) -> (usize, usize, usize, &Trajectory<T, C>) {
    (w.new_steps(), w.rerun(), w.first_step(), w.trajectory())
}

fn encoder_decoder_parts<T: Scalar, E: Cell<T>, D: Cell<T>>(
    r: &EncoderDecoderRun<T, E, D>,
) -> (&Trajectory<T, E>, &DecoderRun<T, D>) {
    (r.encoder(), r.decoder())
}

// ---------------------------------------------------------------------------------------------
// Calls: counted, guarded against panics, failures naming the entry point and its arguments.
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// Public calls made on this thread (a property runs on one thread).
    static CALLS: StdCell<usize> = const { StdCell::new(0) };
    /// Inside a guarded call: the panic hook records instead of printing.
    static GUARDED: StdCell<bool> = const { StdCell::new(false) };
    /// The last panic inside a guarded call: message and location.
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
    /// The last call made: entry point and arguments, for the messages of result checks.
    static LAST: RefCell<(&'static str, String)> = const { RefCell::new(("", String::new())) };
}

/// Distinct findings of a survey run (`API_HARNESS_SURVEY=1`): key → description.
static SURVEY: Mutex<BTreeMap<String, String>> = Mutex::new(BTreeMap::new());

fn survey_mode() -> bool {
    static MODE: OnceLock<bool> = OnceLock::new();
    *MODE.get_or_init(|| std::env::var("API_HARNESS_SURVEY").is_ok_and(|v| v == "1"))
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(StdCell::get) {
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "(non-string payload)".to_owned());
                let location = info
                    .location()
                    .map_or_else(String::new, |l| format!("{}:{}", l.file(), l.line()));
                // A panic inside the standard library or a dependency: name the library frame
                // that called it too.
                let caller = if location.starts_with("rnn-core/src") {
                    String::new()
                } else {
                    let trace = std::backtrace::Backtrace::force_capture().to_string();
                    trace
                        .lines()
                        .map(str::trim)
                        .find_map(|l| {
                            l.strip_prefix("at ./src/")
                                .map(|f| format!(" (called from rnn-core/src/{f})"))
                        })
                        .unwrap_or_default()
                };
                PANIC.with(|p| *p.borrow_mut() = Some(format!("'{message}' at {location}{caller}")));
            } else {
                default(info);
            }
        }));
    });
}

/// Records a finding: fails the case, or in a survey, notes it and skips the rest of the case.
fn finding(key: String, description: String) -> TestCaseError {
    if survey_mode() {
        SURVEY
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_insert(description);
        TestCaseError::reject("survey: finding recorded")
    } else {
        TestCaseError::fail(description)
    }
}

/// Calls `f` as the public entry point `entry` with `args` (a description of the arguments).
fn guarded<R>(entry: &'static str, args: String, f: impl FnOnce() -> R) -> Result<R, TestCaseError> {
    install_panic_hook();
    CALLS.with(|c| c.set(c.get() + 1));
    GUARDED.with(|g| g.set(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(false));
    match result {
        Ok(value) => {
            LAST.with(|l| *l.borrow_mut() = (entry, args));
            Ok(value)
        }
        Err(_) => {
            let panic = PANIC
                .with(|p| p.borrow_mut().take())
                .unwrap_or_else(|| "(no message)".to_owned());
            let location = panic.rsplit(" at ").next().unwrap_or("").to_owned();
            Err(finding(
                format!("panic at {location} in {entry}"),
                format!("{entry} panicked: {panic}\n    arguments: {args}"),
            ))
        }
    }
}

/// `call!(entry, expression; "argument description", ...)`: a guarded, counted public call.
macro_rules! call {
    ($entry:expr, $body:expr) => {
        guarded($entry, String::new(), || $body)?
    };
    ($entry:expr, $body:expr; $($args:tt)+) => {
        guarded($entry, format!($($args)+), || $body)?
    };
}

/// `check!(condition, "what is wrong", ...)`: a result check on the last call.
macro_rules! check {
    ($cond:expr, $($what:tt)+) => {{
        let ok: bool = $cond;
        if !ok {
            let what = format!($($what)+);
            let (entry, args) = LAST.with(|l| l.borrow().clone());
            return Err(finding(
                format!("wrong result of {entry}: {}", what.split(':').next().unwrap_or("")),
                format!("{entry} returned {what}\n    arguments: {args}"),
            ));
        }
    }};
}

// ---------------------------------------------------------------------------------------------
// Values: a pool of numbers drawn by proptest, read cyclically to fill matrices.
// ---------------------------------------------------------------------------------------------

/// Moderate values: uniform in ±2, zeros, subnormals, ±1.
fn tame_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => -2.0..2.0f64,
        1 => prop::sample::select(vec![0.0, -0.0, 5e-324, -5e-324, 1e-310, f64::MIN_POSITIVE, -1e-300, 1.0, -1.0]),
    ]
}

/// Anything: moderate values, NaN, ±∞ and huge ones.
fn wild_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        3 => tame_value(),
        1 => prop::sample::select(vec![
            f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e300, f64::MAX, f64::MIN, 1e150, -1e150
        ]),
    ]
}

/// A scalar setting (learning rate, limit, temperature, probability, ...): mostly sensible,
/// sometimes zero, negative, subnormal, huge or not finite.
fn setting() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => 0.0..1.0f64,
        1 => prop::sample::select(vec![
            0.0, -0.0, -0.5, -1.0, 1.0, 2.0, 5e-324, 1e-300, 1e-45, 1e300, f64::MAX, f64::NAN, f64::INFINITY,
            f64::NEG_INFINITY
        ]),
    ]
}

/// The numbers of a case, read cyclically.
#[derive(Clone, Debug)]
struct Pool(Vec<f64>);

fn pool() -> impl Strategy<Value = Pool> {
    prop_oneof![
        3 => prop::collection::vec(tame_value(), 1..40).prop_map(Pool),
        1 => prop::collection::vec(wild_value(), 1..40).prop_map(Pool),
    ]
}

impl Pool {
    /// Every value finite and moderate: results must then be finite.
    fn tame(&self) -> bool {
        self.0.iter().all(|x| x.is_finite() && x.abs() <= 1e3)
    }

    fn at(&self, k: usize) -> f64 {
        self.0[k % self.0.len()]
    }
}

/// One optional perturbation of a case: the `index`-th matrix built gets another shape.
#[derive(Clone, Copy, Debug)]
enum Jitter {
    /// One more row.
    MoreRows,
    /// One row fewer (none if it has none).
    FewerRows,
    /// One more column.
    MoreCols,
    /// No column.
    NoCols,
}

fn jitter() -> impl Strategy<Value = Option<(usize, Jitter)>> {
    prop_oneof![
        5 => Just(None),
        2 => (0..40usize, prop::sample::select(vec![Jitter::MoreRows, Jitter::FewerRows, Jitter::MoreCols, Jitter::NoCols]))
            .prop_map(Some),
    ]
}

/// Builds matrices from a pool, perturbing at most one of them.
struct Maker<'a> {
    pool: &'a Pool,
    offset: usize,
    count: usize,
    jitter: Option<(usize, Jitter)>,
}

impl<'a> Maker<'a> {
    fn new(pool: &'a Pool, jitter: Option<(usize, Jitter)>) -> Self {
        Maker {
            pool,
            offset: 0,
            count: 0,
            jitter,
        }
    }

    fn shape(&mut self, rows: usize, cols: usize) -> (usize, usize) {
        let k = self.count;
        self.count += 1;
        match self.jitter {
            Some((i, j)) if i == k => match j {
                Jitter::MoreRows => (rows + 1, cols),
                Jitter::FewerRows => (rows.saturating_sub(1), cols),
                Jitter::MoreCols => (rows, cols + 1),
                Jitter::NoCols => (rows, 0),
            },
            _ => (rows, cols),
        }
    }

    fn values<T: Scalar>(&mut self, n: usize) -> Vec<T> {
        let start = self.offset;
        self.offset += n.max(1);
        (0..n).map(|k| T::of_f64(self.pool.at(start + k))).collect()
    }

    /// A `rows × cols` matrix (or the perturbed shape).
    fn matrix<T: Scalar>(&mut self, rows: usize, cols: usize) -> DMatrix<T> {
        let (r, c) = self.shape(rows, cols);
        DMatrix::from_vec(r, c, self.values(r * c))
    }

    fn state<T: Scalar, C: Cell<T>>(&mut self, cell: &C, batch: usize) -> C::State {
        C::State::from_fn(|k| self.matrix(cell.state_rows(k), batch))
    }

    fn input<T: Scalar, C: Cell<T>>(&mut self, cell: &C, batch: usize) -> C::Input {
        C::Input::from_fn(|k| self.matrix(cell.input_rows(k), batch))
    }

    fn states<T: Scalar, C: Cell<T>>(&mut self, cell: &C, batch: usize, n: usize) -> Vec<C::State> {
        (0..n).map(|_| self.state(cell, batch)).collect()
    }

    fn inputs<T: Scalar, C: Cell<T>>(&mut self, cell: &C, batch: usize, n: usize) -> Vec<C::Input> {
        (0..n).map(|_| self.input(cell, batch)).collect()
    }

    fn matrices<T: Scalar>(&mut self, rows: usize, cols: usize, n: usize) -> Vec<DMatrix<T>> {
        (0..n).map(|_| self.matrix(rows, cols)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Result checks.
// ---------------------------------------------------------------------------------------------

/// A matrix on one line: its shape and its entries, column by column.
fn m_text<T: Scalar>(m: &DMatrix<T>) -> String {
    format!("{}×{} {:?}", m.nrows(), m.ncols(), m.as_slice())
}

fn finite<T: Scalar>(m: &DMatrix<T>) -> bool {
    m.iter().all(|x| x.is_finite())
}

fn shape_text<T: Scalar, X: Tensors<T>>(x: &X) -> String {
    let shapes: Vec<String> = x.iter().map(|m| format!("{}×{}", m.nrows(), m.ncols())).collect();
    format!("[{}]", shapes.join(", "))
}

fn shapes_text<T: Scalar, X: Tensors<T>>(xs: &[X]) -> String {
    match xs.first() {
        None => "0 steps".to_owned(),
        Some(first) if xs.iter().all(|x| shape_text(x) == shape_text(first)) => {
            format!("{} × {}", xs.len(), shape_text(first))
        }
        Some(_) => format!("{:?}", xs.iter().map(shape_text).collect::<Vec<_>>()),
    }
}

fn matrices_text<T: Scalar>(ms: &[DMatrix<T>]) -> String {
    let shapes: Vec<(usize, usize)> = ms.iter().map(DMatrix::shape).collect();
    match shapes.first() {
        None => "0 matrices".to_owned(),
        Some(first) if shapes.iter().all(|s| s == first) => {
            format!("{} × {}×{}", shapes.len(), first.0, first.1)
        }
        Some(_) => format!("{shapes:?}"),
    }
}

/// Every matrix of `x` has rows `rows(k)` and `batch` columns (and is finite when `tame`).
fn check_tensors_shaped<T: Scalar, X: Tensors<T>>(
    x: &X,
    rows: impl Fn(usize) -> usize,
    batch: usize,
    tame: bool,
    what: &str,
) -> Result<(), TestCaseError> {
    for (k, name) in X::NAMES.iter().enumerate() {
        let Some(m) = x.get(k) else {
            check!(false, "{what}: no matrix `{name}`");
            continue;
        };
        check!(
            m.shape() == (rows(k), batch),
            "{what}: `{name}` of shape {:?}, expected {:?}",
            m.shape(),
            (rows(k), batch)
        );
        check!(
            !tame || finite(m),
            "{what}: `{name}` not finite from finite inputs: {m}"
        );
    }
    Ok(())
}

fn check_state<T: Scalar, C: Cell<T>>(
    cell: &C,
    s: &C::State,
    batch: usize,
    tame: bool,
    what: &str,
) -> Result<(), TestCaseError> {
    check_tensors_shaped(s, |k| cell.state_rows(k), batch, tame, what)
}

fn check_input<T: Scalar, C: Cell<T>>(
    cell: &C,
    x: &C::Input,
    batch: usize,
    tame: bool,
    what: &str,
) -> Result<(), TestCaseError> {
    check_tensors_shaped(x, |k| cell.input_rows(k), batch, tame, what)
}

fn params_finite<T: Scalar, P: ParamSet<T>>(p: &P) -> bool {
    let mut ok = true;
    p.visit(|_, _, data| ok &= data.iter().all(|x| x.is_finite()));
    ok
}

fn check_grad<T: Scalar, C: Cell<T>>(
    cell: &C,
    g: &C::Grad,
    tame: bool,
    what: &str,
) -> Result<(), TestCaseError> {
    let shaped = cell.check_grad(g);
    check!(
        shaped.is_ok(),
        "{what}: gradient not shaped as the cell: {shaped:?}"
    );
    check!(
        !tame || params_finite(g),
        "{what}: gradient not finite from finite inputs: {g:?}"
    );
    Ok(())
}

fn same_params<T: Scalar, P: ParamSet<T>>(a: &P, b: &P) -> bool {
    let (fa, fb) = (a.to_flat(), b.to_flat());
    fa.len() == fb.len() && fa.iter().zip(&fb).all(|(x, y)| x.to_bits_eq(y))
}

/// Bitwise equality that treats every NaN as equal to itself.
trait BitsEq {
    fn to_bits_eq(&self, other: &Self) -> bool;
}

impl<T: Scalar> BitsEq for T {
    fn to_bits_eq(&self, other: &Self) -> bool {
        self == other
            || (!self.is_finite()
                && !other.is_finite()
                && self.real_part().is_nan()
                && other.real_part().is_nan())
    }
}

/// Checks a directional derivative `analytic` (along a direction of Euclidean norm `norm`)
/// against central differences of `loss`, extrapolated (Richardson) from steps ε and 2ε with
/// ε = 1e-4 / norm (the message names `entry`, the backward).
fn against_differences(
    entry: &'static str,
    analytic: f64,
    norm: f64,
    loss: impl Fn(f64) -> Option<f64>,
) -> Result<(), TestCaseError> {
    CALLS.with(|k| k.set(k.get() + 4));
    LAST.with(|l| l.borrow_mut().0 = entry);
    if !(norm > 0.0 && norm.is_finite()) {
        return Ok(());
    }
    let eps = 1e-4 / norm;
    let (Some(p1), Some(m1), Some(p2), Some(m2)) = (loss(eps), loss(-eps), loss(2.0 * eps), loss(-2.0 * eps))
    else {
        return Ok(());
    };
    let (d1, d2) = ((p1 - m1) / (2.0 * eps), (p2 - m2) / (4.0 * eps));
    let fd = (4.0 * d1 - d2) / 3.0;
    let size = p1.abs().max(m1.abs()).max(p2.abs()).max(m2.abs()) * norm;
    check!(
        (fd - analytic).abs() <= 1e-6 * (norm + analytic.abs() + size),
        "a gradient unlike finite differences: directional derivative {analytic:e}, central differences {fd:e} (norm of the direction {norm:e})"
    );
    Ok(())
}

/// The Euclidean norm of a direction given in parts (flat vectors, collections, matrices).
fn norm_of(flat: &[&[f64]], tensors: &[f64]) -> f64 {
    (flat.iter().flat_map(|v| v.iter()).map(|x| x * x).sum::<f64>() + tensors.iter().sum::<f64>()).sqrt()
}

/// `p + eps · v`, `v` laid out as [`ParamSet::to_flat`].
fn moved<P: ParamSet<f64>>(p: &P, v: &[f64], eps: f64) -> Option<P> {
    let mut out = p.clone();
    let flat: Vec<f64> = p.to_flat().iter().zip(v).map(|(x, d)| x + eps * d).collect();
    out.set_flat(&flat).ok()?;
    Some(out)
}

/// `x + eps · u`, matrix by matrix.
fn moved_tensors<X: Tensors<f64>>(x: &X, u: &X, eps: f64) -> X {
    X::from_fn(|k| match (x.get(k), u.get(k)) {
        (Some(a), Some(d)) if a.shape() == d.shape() => a + d * eps,
        (Some(a), _) => a.clone(),
        _ => DMatrix::zeros(0, 0),
    })
}

/// `⟨g, v⟩` of a gradient and a direction laid out as [`ParamSet::to_flat`].
fn along<P: ParamSet<f64>>(g: &P, v: &[f64]) -> f64 {
    g.to_flat().iter().zip(v).map(|(a, d)| a * d).sum()
}

fn dot_all<X: Tensors<f64>>(a: &[X], b: &[X]) -> f64 {
    a.iter().zip(b).map(|(x, y)| dot(x, y)).sum()
}

fn dot_matrices(a: &[DMatrix<f64>], b: &[DMatrix<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .filter(|(x, y)| x.shape() == y.shape())
        .map(|(x, y)| x.dot(y))
        .sum()
}

/// Σ of the entry-wise products of two collections.
fn dot<X: Tensors<f64>>(a: &X, b: &X) -> f64 {
    (0..X::NAMES.len())
        .map(|k| match (a.get(k), b.get(k)) {
            (Some(x), Some(y)) if x.shape() == y.shape() => x.dot(y),
            _ => 0.0,
        })
        .sum()
}

/// Column `j` of every matrix.
fn column<T: Scalar, X: Tensors<T>>(x: &X, j: usize) -> X {
    X::from_fn(|k| {
        x.get(k)
            .map_or_else(|| DMatrix::zeros(0, 0), |m| m.columns(j, 1).into_owned())
    })
}

/// Equal within a rounding tolerance relative to the larger entries.
fn close_tensors<T: Scalar, X: Tensors<T>>(a: &X, b: &X) -> bool {
    (0..X::NAMES.len()).all(|k| match (a.get(k), b.get(k)) {
        (Some(x), Some(y)) => {
            let scale = x
                .iter()
                .chain(y.iter())
                .fold(1.0f64, |m, v| m.max(v.real_part().abs()));
            x.shape() == y.shape()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| (p.real_part() - q.real_part()).abs() <= 1e-10 * scale)
        }
        (None, None) => true,
        _ => false,
    })
}

fn same_matrix<T: Scalar>(a: &DMatrix<T>, b: &DMatrix<T>) -> bool {
    a.shape() == b.shape() && a.iter().zip(b.iter()).all(|(x, y)| x.to_bits_eq(y))
}

fn same_tensors<T: Scalar, X: Tensors<T>>(a: &X, b: &X) -> bool {
    (0..X::NAMES.len()).all(|k| match (a.get(k), b.get(k)) {
        (Some(x), Some(y)) => same_matrix(x, y),
        (None, None) => true,
        _ => false,
    })
}

// ---------------------------------------------------------------------------------------------
// Cells under test.
// ---------------------------------------------------------------------------------------------

recurrent! {
    /// Two inputs and a scalar parameter: what layers and decoders must refuse or handle.
    pub cell Two {
        input x[I], u[I];
        state h[H];
        param w[H, I], v[H, I], a;
        step {
            h = tanh(w * x + v * u + a * h);
        }
    }
}

recurrent! {
    /// Most of the DSL at once: the output is the second state (of another size), a shaped
    /// hyper-parameter, a scalar parameter, concatenation and split, every built-in function
    /// and one of the crate's `Activation`s.
    pub cell Exotic {
        input x[I];
        state h[H], c[2 * H];
        output c;
        param w[4 * H, I + H], g;
        hyper gain[H] = 0.5;
        fn softsign = rnn_core::Softsign;
        step {
            let [a, b, d, e] = split(w * [x; h]);
            h = gain * softsign(a) + g * tanh(b);
            c = [exp(-softplus(d)); relu(e) - identity(sigmoid(h))];
        }
    }
}

/// Cells the harness can build from two sizes `(H, I)` and edit.
trait Make: Cell<f64> + Clone + std::fmt::Debug + 'static {
    fn make(h: usize, i: usize) -> Result<Self, Error>;
    fn make_init(h: usize, i: usize, seed: u64) -> Result<Self, Error>;
    /// Replaces one parameter by one of another shape (the fields are public); false when the
    /// cell has no matrix parameter.
    fn corrupt(&mut self, which: usize) -> bool;
    /// Differentiable everywhere (no relu, no rounding): finite differences apply.
    fn smooth() -> bool;
}

macro_rules! make {
    ($cell:ident, |$h:ident, $i:ident| $dims:expr, [$($m:ident),*], [$($v:ident),*]) => {
        make!($cell, |$h, $i| $dims, [$($m),*], [$($v),*], true);
    };
    ($cell:ident, |$h:ident, $i:ident| $dims:expr, [$($m:ident),*], [$($v:ident),*], $smooth:expr) => {
        impl Make for $cell<f64> {
            fn smooth() -> bool {
                $smooth
            }
            fn make($h: usize, $i: usize) -> Result<Self, Error> {
                $cell::new($dims)
            }
            fn make_init($h: usize, $i: usize, seed: u64) -> Result<Self, Error> {
                $cell::init($dims, seed)
            }
            #[allow(unused_variables)]
            fn corrupt(&mut self, which: usize) -> bool {
                let names: &[&str] = &[$(stringify!($m),)* $(stringify!($v),)*];
                let Some(&name) = names.get(which % names.len().max(1)) else {
                    return false;
                };
                $(
                    if name == stringify!($m) {
                        self.$m = DMatrix::zeros(self.$m.nrows() + 1, self.$m.ncols());
                    }
                )*
                $(
                    if name == stringify!($v) {
                        self.$v = DVector::zeros(self.$v.len() + 1);
                    }
                )*
                true
            }
        }
    };
}

make!(Elman, |h, i| ElmanDims { H: h, I: i }, [w_hh, w_hx], [b]);
make!(Lstm, |h, i| LstmDims { H: h, I: i }, [w_ih, w_hh], [b_ih, b_hh]);
make!(Gru, |h, i| GruDims { H: h, I: i }, [w_ih, w_hh], [b_ih, b_hh]);
make!(RunningSum, |h, _i| RunningSumDims { H: h }, [], []);
make!(Leaky, |h, _i| LeakyDims { H: h }, [], []);
make!(IndRnn, |h, i| IndRnnDims { H: h, I: i }, [w], [u, b], false);
make!(Two, |h, i| TwoDims { H: h, I: i }, [w, v], []);
make!(Exotic, |h, i| ExoticDims { H: h, I: i }, [w], [], false);
make!(ElmanConcat, |h, i| ElmanConcatDims { H: h, I: i }, [w_h], [b]);
make!(
    RnnTanh,
    |h, i| RnnTanhDims { H: h, I: i },
    [w_ih, w_hh],
    [b_ih, b_hh]
);
make!(
    RnnRelu,
    |h, i| RnnReluDims { H: h, I: i },
    [w_ih, w_hh],
    [b_ih, b_hh],
    false
);
make!(
    PeepholeLstm,
    |h, i| PeepholeLstmDims { H: h, I: i },
    [w_ih, w_hh],
    [b, p_i, p_f, p_o]
);
make!(Cifg, |h, i| CifgDims { H: h, I: i }, [w_ih, w_hh], [b, p_i, p_o]);
make!(
    Mgu,
    |h, i| MguDims { H: h, I: i },
    [w_fx, w_fh, w_nx, w_nh],
    [b_f, b_n]
);
make!(
    HardLstm,
    |h, i| HardLstmDims { H: h, I: i },
    [w_ih, w_hh],
    [b],
    false
);
make!(Reservoir, |h, i| ReservoirDims { N: h, I: i }, [w, w_in], [b]);

// ---------------------------------------------------------------------------------------------
// Case counts and the property runner.
// ---------------------------------------------------------------------------------------------

/// `base` cases at the default scale; `PROPTEST_CASES` scales them (256 = 1×).
fn cases(base: u32) -> u32 {
    let scale = f64::from(Config::default().cases) / 256.0;
    ((f64::from(base) * scale).round() as u32).max(1)
}

/// The outcome of one property: the calls it made, and its failure if any.
#[derive(Clone, Debug)]
struct Outcome {
    calls: usize,
    seconds: f64,
    failure: Option<String>,
}

/// Runs `test` over `strategy` for `cases(base)` cases; returns the calls made.
fn run_property<S: Strategy>(
    name: &str,
    base: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) -> Outcome
where
    S::Value: std::fmt::Debug,
{
    let before = CALLS.with(StdCell::get);
    let start = std::time::Instant::now();
    let mut config = Config::with_cases(cases(base));
    config.source_file = Some(file!());
    config.failure_persistence = Some(Box::new(
        proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
    ));
    let mut runner = TestRunner::new(config);
    // A survey notes a finding and moves on to the next case (a rejected case would be
    // replaced by another, for ever if every case finds the same thing).
    let result = runner.run(&strategy, |value| match test(value) {
        Err(TestCaseError::Reject(_)) if survey_mode() => Ok(()),
        other => other,
    });
    let calls = CALLS.with(StdCell::get) - before;
    let failure = match result {
        Ok(()) => None,
        Err(TestError::Fail(reason, value)) => {
            Some(format!("{name}: {reason}\nminimal failing case: {value:#?}"))
        }
        Err(TestError::Abort(reason)) => Some(format!("{name}: aborted: {reason}")),
    };
    Outcome {
        calls,
        seconds: start.elapsed().as_secs_f64(),
        failure,
    }
}

macro_rules! properties {
    ($($name:ident => $body:ident),* $(,)?) => {
        /// Each property runs once per process, whichever test asks first: its own test, or
        /// `at_least_100k_calls`, which needs them all.
        mod outcome {
            $(
                pub fn $name() -> super::Outcome {
                    static SLOT: std::sync::OnceLock<super::Outcome> = std::sync::OnceLock::new();
                    SLOT.get_or_init(super::$body).clone()
                }
            )*
        }

        $(
            #[test]
            fn $name() {
                if let Some(failure) = outcome::$name().failure {
                    panic!("{failure}");
                }
            }
        )*

        /// Every property's outcome (running those no other test has run yet).
        fn all_properties() -> Vec<(&'static str, Outcome)> {
            vec![$((stringify!($name), outcome::$name())),*]
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Sequence drivers, step methods, decoders and layers over every kind of cell.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct SeqCase {
    /// Which cell type (see `prop_cells`).
    kind: usize,
    /// `(H, I)` of the cell.
    dims: (usize, usize),
    /// `(H, I)` of a second cell of the same type, handed the first one's records.
    other: (usize, usize),
    batch: usize,
    steps: usize,
    /// Truncation length, TBPTT's `k1` and `k2`, decoder steps, ...: small counts.
    k: (usize, usize, usize),
    /// Sequence lengths of `unroll_lengths` (may be too long, or too many).
    lengths: Vec<usize>,
    feed: Feed,
    /// Replace a parameter by one of another shape.
    corrupt: Option<usize>,
    /// One vector argument one element shorter (`false`) or longer (`true`).
    miscount: Option<(usize, bool)>,
    /// A step's projection column (drawn far out of range now and then).
    column: usize,
    /// Directions per layer and layers per stack.
    layout: (usize, usize),
    seed: u64,
    jitter: Option<(usize, Jitter)>,
    pool: Pool,
}

fn small_dim() -> impl Strategy<Value = usize> {
    prop_oneof![1 => Just(0usize), 12 => 1..=4usize]
}

fn feed() -> impl Strategy<Value = Feed> {
    prop_oneof![
        Just(Feed::Teacher),
        Just(Feed::Free),
        (setting(), any::<u64>()).prop_map(|(teacher_probability, seed)| Feed::Scheduled {
            teacher_probability,
            seed
        }),
    ]
}

fn seq_case(kinds: usize) -> impl Strategy<Value = SeqCase> {
    // Now and then a state of 20..30 rows and a batch of 5..12 columns: the products of the
    // time loop switch to packed panels from 8 columns, blocked Wᵀδ above 5, 24-row tiles.
    let dims = (prop_oneof![24 => small_dim(), 1 => 20..=30usize], small_dim());
    let other = (1..=4usize, 1..=4usize);
    let shape = (
        prop_oneof![1 => Just(0usize), 10 => 1..=4usize, 2 => 5..=12usize],
        prop_oneof![1 => Just(0usize), 10 => 1..=6usize],
        (0..=7usize, 0..=7usize, 0..=8usize),
        prop::collection::vec(prop_oneof![8 => 0..=7usize, 1 => Just(usize::MAX)], 0..=5),
    );
    let edits = (
        prop_oneof![6 => Just(None), 1 => (0..8usize).prop_map(Some)],
        prop_oneof![6 => Just(None), 1 => (0..12usize, any::<bool>()).prop_map(Some)],
        prop_oneof![8 => Just(0usize), 1 => 0..=12usize, 1 => Just(usize::MAX), 1 => Just(usize::MAX / 2)],
        (0..=2usize, 0..=2usize),
    );
    (
        0..kinds,
        dims,
        other,
        shape,
        feed(),
        edits,
        any::<u64>(),
        jitter(),
        pool(),
    )
        .prop_map(
            |(
                kind,
                dims,
                other,
                (batch, steps, k, lengths),
                feed,
                (corrupt, miscount, column, layout),
                seed,
                jitter,
                pool,
            )| {
                SeqCase {
                    kind,
                    dims,
                    other,
                    batch,
                    steps,
                    k,
                    lengths,
                    feed,
                    corrupt,
                    miscount,
                    column,
                    layout,
                    seed,
                    jitter,
                    pool,
                }
            },
        )
}

impl SeqCase {
    /// `n`, or one less or more when the case miscounts vector number `index`.
    fn count(&self, index: usize, n: usize) -> usize {
        match self.miscount {
            Some((i, longer)) if i == index => {
                if longer {
                    n + 1
                } else {
                    n.saturating_sub(1)
                }
            }
            _ => n,
        }
    }
}

impl Maker<'_> {
    /// True once the perturbed matrix has been built.
    fn perturbed(&self) -> bool {
        matches!(self.jitter, Some((i, _)) if i < self.count)
    }
}

/// What every section of [`exercise`] shares.
struct Setup<C> {
    cell: C,
    other: C,
    corrupted: bool,
    tame: bool,
}

/// `Err` is required for invalid arguments (`valid` false says nothing).
fn expect_ok<R>(r: &Result<R, Error>, valid: bool) -> Result<(), TestCaseError> {
    check!(
        !valid || r.is_ok(),
        "Err for valid arguments: {:?}",
        r.as_ref().err()
    );
    // Every error says something.
    if let Err(e) = r {
        let text = call!("Error::fmt", e.to_string());
        check!(!text.trim().is_empty(), "an error without a message: {e:?}");
    }
    Ok(())
}

fn exercise<C: Make>(c: &SeqCase) -> Result<(), TestCaseError> {
    let (h, i) = c.dims;
    let built =
        call!("Cell::init", C::make_init(h, i, c.seed); "{} dims ({h}, {i}), seed {}", C::NAME, c.seed);
    if h == 0 {
        check!(built.is_err(), "Ok for a zero dimension");
    }
    let Ok(mut cell) = built else { return Ok(()) };
    let _ = call!("Cell::new", C::make(h, i); "{} dims ({h}, {i})", C::NAME);
    // The same seed gives the same bits; visit, param_count and to_flat agree.
    let again =
        call!("Cell::init", C::make_init(h, i, c.seed); "{} dims ({h}, {i}), seed {} again", C::NAME, c.seed);
    check!(
        again.as_ref().is_ok_and(|a| same_params(a, &cell)),
        "another cell for the same seed"
    );
    let (mut visited, mut shapes_ok) = (0, true);
    call!(
        "ParamSet::visit",
        cell.visit(|_, shape, data| {
            visited += data.len();
            shapes_ok &= shape.iter().product::<usize>() == data.len();
        })
    );
    check!(
        visited == cell.param_count() && shapes_ok,
        "visit saw {visited} scalars (shapes consistent: {shapes_ok}), param_count says {}",
        cell.param_count()
    );
    let mut zeroed = cell.clone();
    call!("ParamSet::fill_zero", zeroed.fill_zero());
    check!(
        zeroed.to_flat().iter().all(|&x| x == 0.0),
        "fill_zero left a non-zero parameter"
    );
    // Parameters from the pool, through the public flat layout.
    let count = call!("ParamSet::param_count", cell.param_count());
    let mut maker = Maker::new(&c.pool, None);
    let flat: Vec<f64> = maker.values(count);
    let set = call!("ParamSet::set_flat", cell.set_flat(&flat); "{} params ({count} values)", C::NAME);
    check!(set.is_ok(), "Err for a flat vector of the right length: {set:?}");
    let back = call!("ParamSet::to_flat", cell.to_flat());
    check!(
        back.len() == count && back.iter().zip(&flat).all(|(a, b)| a.to_bits_eq(b)),
        "another vector than set_flat's"
    );
    let wrong = call!("ParamSet::set_flat", cell.clone().set_flat(&flat[..count.saturating_sub(1)]); "{count} params, {} values", count.saturating_sub(1));
    check!(count == 0 || wrong.is_err(), "Ok for a flat vector one short");
    let mut corrupted = false;
    if let Some(which) = c.corrupt {
        corrupted = cell.corrupt(which);
        let checked =
            call!("Cell::check_params", cell.check_params(); "{} with an edited parameter", C::NAME);
        check!(
            !corrupted || checked.is_err(),
            "Ok for a parameter of the wrong shape"
        );
    }
    let other = match call!("Cell::init", C::make_init(c.other.0, c.other.1, c.seed ^ 1); "{} dims {:?}", C::NAME, c.other)
    {
        Ok(other) => other,
        Err(e) => {
            check!(false, "Err for valid dimensions: {e}");
            return Ok(());
        }
    };
    let setup = Setup {
        cell,
        other,
        corrupted,
        tame: c.pool.tame(),
    };
    sequences(&setup, c)?;
    steps(&setup, c)?;
    packed(&setup, c)?;
    truncated(&setup, c)?;
    decoders(&setup, c)?;
    layers(&setup, c)?;
    Ok(())
}

/// `seq::{run, unroll, unroll_with, bptt, bptt_with, bptt_truncated}`, the adjoint helpers and
/// one-to-many, and the same records handed to a cell of other dimensions.
fn sequences<C: Make>(s: &Setup<C>, c: &SeqCase) -> Result<(), TestCaseError> {
    let Setup {
        cell,
        other,
        corrupted,
        tame,
    } = s;
    let (b, steps) = (c.batch, c.steps);
    let mut mk = Maker::new(&c.pool, c.jitter);
    let h0 = mk.state(cell, b);
    let n_inputs = c.count(0, steps);
    let xs = mk.inputs(cell, b, n_inputs);
    let valid = !mk.perturbed() && b > 0 && n_inputs > 0 && !corrupted;
    let args = || {
        format!(
            "{}: initial {}, inputs {}",
            C::NAME,
            shape_text(&h0),
            shapes_text(&xs)
        )
    };

    let run = call!("seq::run", seq::run(cell, &h0, &xs); "{}", args());
    expect_ok(&run, valid)?;
    if let Ok(states) = &run {
        check!(
            states.len() == n_inputs,
            "{} states for {n_inputs} steps",
            states.len()
        );
        for (t, state) in states.iter().enumerate() {
            check_state(cell, state, b, *tame, &format!("state after step {}", t + 1))?;
        }
    }

    let unrolled = call!("seq::unroll", seq::unroll(cell, &h0, &xs); "{}", args());
    expect_ok(&unrolled, valid)?;
    check!(
        unrolled.is_ok() == run.is_ok(),
        "Ok/Err unlike seq::run's: {:?} against {:?}",
        unrolled.as_ref().err(),
        run.as_ref().err()
    );
    let with = call!("seq::unroll_with", seq::unroll_with(cell, &h0, &xs, Options { check_finite: true }); "{} (check_finite)", args());
    if let Ok(trajectory) = &with {
        for (t, state) in trajectory_states(trajectory).iter().enumerate() {
            check_state(cell, state, b, true, &format!("state {t} (check_finite)"))?;
        }
    }
    if *tame {
        expect_ok(&with, valid)?;
    }
    let Ok(trajectory) = unrolled else { return Ok(()) };
    check!(
        trajectory.len() == n_inputs && !trajectory.is_empty(),
        "a trajectory of {} steps for {n_inputs} inputs",
        trajectory.len()
    );
    check!(
        trajectory.batch() == b,
        "a trajectory of batch {}, expected {b}",
        trajectory.batch()
    );
    let states = trajectory_states(&trajectory);
    check!(
        states.len() == n_inputs + 1,
        "{} states for {n_inputs} steps",
        states.len()
    );
    check!(
        same_tensors(&states[0], &h0),
        "an initial state other than the one given"
    );
    for (t, state) in states.iter().enumerate() {
        check_state(cell, state, b, *tame, &format!("trajectory state {t}"))?;
        if let (t @ 1.., Ok(ran)) = (t, &run) {
            check!(same_tensors(state, &ran[t - 1]), "state {t} unlike seq::run's");
        }
    }
    for t in (0..=n_inputs + 1).chain([usize::MAX]) {
        let output = call!("Trajectory::output", trajectory.output(t).cloned(); "t = {t} of {n_inputs}");
        check!(
            output.is_some() == (t <= n_inputs),
            "output({t}) of a {n_inputs}-step trajectory is {output:?}"
        );
        let cache = call!("Trajectory::cache", trajectory.cache(t).is_some(); "t = {t} of {n_inputs}");
        check!(
            cache == (1..=n_inputs).contains(&t),
            "cache({t}) of a {n_inputs}-step trajectory: {cache}"
        );
        let saved =
            call!("Trajectory::saved", trajectory.saved(t).map(|s| s.column); "t = {t} of {n_inputs}");
        check!(
            saved.is_some() == (1..=n_inputs).contains(&t),
            "saved({t}) of a {n_inputs}-step trajectory: {saved:?}"
        );
    }
    let last = call!("Trajectory::last_state", trajectory.last_state().clone());
    check!(
        same_tensors(&last, &states[n_inputs]),
        "a last state other than states()[T]"
    );

    // Backward, with adjoints drawn from the pool.
    let n_adjoints = c.count(1, n_inputs);
    let d_states = mk.states(cell, b, n_adjoints);
    let valid = valid && !mk.perturbed() && n_adjoints == n_inputs;
    let bargs = || {
        format!(
            "{}: trajectory {n_inputs} × batch {b}, d_states {}",
            C::NAME,
            shapes_text(&d_states)
        )
    };
    let grads = call!("seq::bptt", seq::bptt(cell, &trajectory, &d_states); "{}", bargs());
    expect_ok(&grads, valid)?;
    if let Ok(g) = &grads {
        check_grad(cell, &g.params, *tame, "bptt params")?;
        check!(
            g.inputs.len() == n_inputs,
            "{} input gradients for {n_inputs} steps",
            g.inputs.len()
        );
        for x in &g.inputs {
            check_input(cell, x, b, *tame, "bptt input gradient")?;
        }
        check_state(cell, &g.initial_state, b, *tame, "bptt initial-state gradient")?;
    }
    let with = call!("seq::bptt_with", seq::bptt_with(cell, &trajectory, &d_states, Options { check_finite: true }); "{} (check_finite)", bargs());
    if let Ok(g) = &with {
        check!(params_finite(&g.params), "non-finite gradients with check_finite");
        for x in &g.inputs {
            check_input(cell, x, b, true, "bptt_with input gradient")?;
        }
        check_state(
            cell,
            &g.initial_state,
            b,
            true,
            "bptt_with initial-state gradient",
        )?;
    }
    for k in [c.k.0, usize::MAX, n_inputs] {
        let truncated = call!("seq::bptt_truncated", seq::bptt_truncated(cell, &trajectory, &d_states, k); "{}, k = {k}", bargs());
        check!(k > 0 || truncated.is_err(), "Ok for k = 0");
        if let (Ok(t), Ok(g)) = (&truncated, &grads)
            && k >= n_inputs
        {
            check!(
                same_params(&t.params, &g.params) && same_tensors(&t.initial_state, &g.initial_state),
                "k ≥ T unlike full BPTT"
            );
        }
        if let Ok(t) = &truncated {
            check_grad(cell, &t.params, *tame, "bptt_truncated params")?;
            check_state(
                cell,
                &t.initial_state,
                b,
                *tame,
                "bptt_truncated initial-state gradient",
            )?;
        }
    }
    // A trajectory of this cell, differentiated by a cell of other dimensions.
    // The gradient against a central difference of L = Σ_t ⟨d_states[t], s_t⟩ along a direction
    // of the parameters and of the initial state.
    if let (Ok(g), true) = (&grads, valid && *tame && C::smooth() && b > 0) {
        let v: Vec<f64> = Maker::new(&c.pool, None).values(cell.param_count());
        let u = Maker::new(&c.pool, None).state(cell, b);
        let norm = norm_of(&[&v], &[dot(&u, &u)]);
        against_differences(
            "seq::bptt",
            along(&g.params, &v) + dot(&g.initial_state, &u),
            norm,
            |eps| {
                let run = seq::unroll(&moved(cell, &v, eps)?, &moved_tensors(&h0, &u, eps), &xs).ok()?;
                Some(dot_all(&trajectory_states(&run)[1..], &d_states))
            },
        )?;
    }
    // Batch independence: column 0 of the batch equals its sequence run alone (to rounding:
    // products of other widths take other paths).
    if let (Ok(g), true) = (&grads, valid && *tame && b >= 2) {
        let h0_0 = column(&h0, 0);
        let xs_0: Vec<C::Input> = xs.iter().map(|x| column(x, 0)).collect();
        let alone = call!("seq::unroll", seq::unroll(cell, &h0_0, &xs_0); "{}: column 0 alone", C::NAME);
        check!(
            alone.is_ok(),
            "Err for column 0 of a valid batch: {:?}",
            alone.as_ref().err()
        );
        if let Ok(alone) = &alone {
            for (t, (a, s)) in trajectory_states(alone).iter().zip(states).enumerate() {
                check!(
                    close_tensors(a, &column(s, 0)),
                    "state {t} of column 0 run alone unlike the batch's: {} vs {}",
                    shape_text(a),
                    shape_text(s)
                );
            }
            let d_0: Vec<C::State> = d_states.iter().map(|d| column(d, 0)).collect();
            let g0 = call!("seq::bptt", seq::bptt(cell, alone, &d_0); "{}: column 0 alone", C::NAME);
            if let Ok(g0) = &g0 {
                check!(
                    close_tensors(&g0.initial_state, &column(&g.initial_state, 0)),
                    "initial-state gradient of column 0 run alone unlike the batch's"
                );
                for (t, (a, x)) in g0.inputs.iter().zip(&g.inputs).enumerate() {
                    check!(
                        close_tensors(a, &column(x, 0)),
                        "input gradient {} of column 0 run alone unlike the batch's",
                        t + 1
                    );
                }
            }
        }
    }
    let foreign = call!("seq::bptt", seq::bptt(other, &trajectory, &d_states); "{} of dims {:?} given a trajectory of dims {:?}; {}", C::NAME, other.dims(), cell.dims(), bargs());
    if let Ok(g) = &foreign {
        check!(
            other.dims() == cell.dims(),
            "Ok for a trajectory of another cell's dimensions {:?} (cell {:?})",
            cell.dims(),
            other.dims()
        );
        check_grad(other, &g.params, *tame, "foreign bptt params")?;
    }

    // Adjoint helpers.
    let out_rows = cell.state_rows(C::OUTPUT);
    let n_outputs = c.count(2, n_inputs);
    let d_outputs = mk.matrices(out_rows, b, n_outputs);
    let adjoints = call!("drivers::output_adjoints", drivers::output_adjoints(cell, &d_outputs); "{}: d_outputs {}", C::NAME, matrices_text(&d_outputs));
    if let Ok(d) = &adjoints {
        check!(
            d.len() == n_outputs,
            "{} adjoints for {n_outputs} outputs",
            d.len()
        );
        for (t, (state, given)) in d.iter().zip(&d_outputs).enumerate() {
            check_state(cell, state, given.ncols(), *tame, &format!("adjoint {t}"))?;
            check!(
                state.get(C::OUTPUT).is_some_and(|m| same_matrix(m, given)),
                "adjoint {t} other than the output adjoint given"
            );
        }
        let g = call!("seq::bptt", seq::bptt(cell, &trajectory, d); "{} with output_adjoints {}", C::NAME, shapes_text(d));
        expect_ok(&g, valid && n_outputs == n_inputs && b > 0 && !mk.perturbed())?;
    }
    let d_last = mk.matrix(out_rows, b);
    for count in [c.k.1, n_inputs] {
        let last = call!("drivers::last_output_adjoint", drivers::last_output_adjoint(cell, count, &d_last); "{}: steps {count}, d_last {:?}", C::NAME, d_last.shape());
        check!(count > 0 || last.is_err(), "Ok for 0 steps");
        if let Ok(d) = &last {
            check!(d.len() == count, "{} adjoints for {count} steps", d.len());
            for state in d {
                check_state(cell, state, d_last.ncols(), *tame, "last-output adjoint")?;
            }
        }
    }

    // One-to-many: the first input as a context fed at every step.
    if let Some(context) = xs.first() {
        let count = c.k.2;
        let args = || {
            format!(
                "{}: initial {}, context {}, steps {count}",
                C::NAME,
                shape_text(&h0),
                shape_text(context)
            )
        };
        let run =
            call!("drivers::one_to_many", drivers::one_to_many(cell, &h0, context, count); "{}", args());
        expect_ok(&run, valid && count > 0)?;
        if let Ok(run) = &run {
            check!(
                run.len() == count && !run.is_empty(),
                "{} steps for {count}",
                run.len()
            );
            check!(
                run.states().len() == count + 1,
                "{} states for {count} steps",
                run.states().len()
            );
            for state in run.states() {
                check_state(cell, state, b, *tame, "one-to-many state")?;
            }
            let last = call!("ContextTrajectory::last_state", run.last_state().clone());
            check_state(cell, &last, b, *tame, "one-to-many last state")?;
            let output = call!("ContextTrajectory::output", run.output(count).cloned());
            check!(output.is_some(), "no output at the last step");
            let n = c.count(3, count);
            let d = mk.states(cell, b, n);
            let grads = call!("drivers::one_to_many_backward", drivers::one_to_many_backward(cell, run, &d); "{}, d_states {}", args(), shapes_text(&d));
            expect_ok(&grads, valid && n == count && !mk.perturbed())?;
            if let (Ok(g), true) = (
                &grads,
                valid && n == count && !mk.perturbed() && *tame && C::smooth(),
            ) {
                let v: Vec<f64> = Maker::new(&c.pool, None).values(cell.param_count());
                let mut dm = Maker::new(&c.pool, None);
                let (u, w) = (dm.input(cell, b), dm.state(cell, b));
                let analytic = along(&g.params, &v) + dot(&g.context, &u) + dot(&g.initial_state, &w);
                let norm = norm_of(&[&v], &[dot(&u, &u), dot(&w, &w)]);
                against_differences("drivers::one_to_many_backward", analytic, norm, |eps| {
                    let run = drivers::one_to_many(
                        &moved(cell, &v, eps)?,
                        &moved_tensors(&h0, &w, eps),
                        &moved_tensors(context, &u, eps),
                        count,
                    )
                    .ok()?;
                    Some(dot_all(&run.states()[1..], &d))
                })?;
            }
            // The same as unrolling with the context repeated at every step (to rounding: the
            // projection is differentiated once, of the summed adjoints).
            if let (Ok(g), true) = (&grads, valid && n == count && !mk.perturbed() && *tame) {
                let repeated = vec![context.clone(); count];
                let plain =
                    seq::unroll(cell, &h0, &repeated).and_then(|t| seq::bptt(cell, &t, &d).map(|g| (t, g)));
                if let Ok((t, g2)) = &plain {
                    check!(
                        run.states()
                            .iter()
                            .zip(trajectory_states(t))
                            .all(|(a, b)| close_tensors(a, b)),
                        "states unlike unrolling with the context at every step"
                    );
                    let summed = <C::Input as Tensors<f64>>::from_fn(|k| {
                        g2.inputs
                            .iter()
                            .filter_map(|x| x.get(k))
                            .fold(DMatrix::zeros(cell.input_rows(k), b), |acc, x| acc + x)
                    });
                    let (p1, p2) = (g.params.to_flat(), g2.params.to_flat());
                    let scale = p1.iter().chain(&p2).fold(1.0f64, |m, x| m.max(x.abs()));
                    check!(
                        p1.iter().zip(&p2).all(|(x, y)| (x - y).abs() <= 1e-10 * scale)
                            && close_tensors(&g.context, &summed)
                            && close_tensors(&g.initial_state, &g2.initial_state),
                        "gradients unlike those of unrolling with the context at every step"
                    );
                }
            }
            if let Ok(g) = &grads {
                check_grad(cell, &g.params, *tame, "one-to-many params")?;
                check_input(cell, &g.context, b, *tame, "one-to-many context gradient")?;
                check_state(
                    cell,
                    &g.initial_state,
                    b,
                    *tame,
                    "one-to-many initial-state gradient",
                )?;
            }
            let foreign = call!("drivers::one_to_many_backward", drivers::one_to_many_backward(other, run, &d); "{} of dims {:?} given a run of dims {:?}", C::NAME, other.dims(), cell.dims());
            if let Ok(g) = &foreign {
                check!(
                    other.dims() == cell.dims(),
                    "Ok for a run of another cell's dimensions {:?} (cell {:?})",
                    cell.dims(),
                    other.dims()
                );
                check_grad(other, &g.params, *tame, "foreign one-to-many params")?;
            }
        }
    }

    // The same cell in f32.
    let cell32 = call!("Cell::retype", cell.retype(|x| x as f32));
    let h0_32 = <C::Retyped<f32> as Cell<f32>>::State::from_fn(|k| {
        h0.get(k)
            .map_or_else(|| DMatrix::zeros(0, 0), |m| m.map(|x| x as f32))
    });
    let xs32: Vec<_> = xs
        .iter()
        .map(|x| {
            <C::Retyped<f32> as Cell<f32>>::Input::from_fn(|k| {
                x.get(k)
                    .map_or_else(|| DMatrix::zeros(0, 0), |m| m.map(|v| v as f32))
            })
        })
        .collect();
    let tame32 = *tame && c.pool.0.iter().all(|x| x.abs() <= 1e3);
    let run32 = call!("seq::unroll", seq::unroll(&cell32, &h0_32, &xs32); "{}<f32>: {}", C::NAME, args());
    expect_ok(&run32, valid)?;
    if let Ok(t32) = &run32 {
        for state in trajectory_states(t32) {
            check_state(&cell32, state, b, tame32, "f32 state")?;
        }
        let d32: Vec<_> = d_states
            .iter()
            .map(|d| {
                <C::Retyped<f32> as Cell<f32>>::State::from_fn(|k| {
                    d.get(k)
                        .map_or_else(|| DMatrix::zeros(0, 0), |m| m.map(|v| v as f32))
                })
            })
            .collect();
        let g32 = call!("seq::bptt", seq::bptt(&cell32, t32, &d32); "{}<f32>: {}", C::NAME, bargs());
        if let Ok(g) = &g32 {
            check_grad(&cell32, &g.params, tame32, "f32 bptt params")?;
        }
    }
    Ok(())
}

/// The step methods of `Cell`, called directly, with workspaces, caches and columns that may
/// belong to another batch or lie out of range.
fn steps<C: Make>(s: &Setup<C>, c: &SeqCase) -> Result<(), TestCaseError> {
    let Setup {
        cell,
        other,
        corrupted,
        tame,
    } = s;
    let b = c.batch;
    let mut mk = Maker::new(&c.pool, c.jitter);
    let state = mk.state(cell, b);
    let input = mk.input(cell, b);
    let valid = !mk.perturbed() && b > 0 && !corrupted;
    let args = || {
        format!(
            "{}: state {}, input {}",
            C::NAME,
            shape_text(&state),
            shape_text(&input)
        )
    };
    let zero = call!("Cell::zero_state", cell.zero_state(b); "batch {b}");
    check_state(cell, &zero, b, true, "zero state")?;
    let _ = call!("Cell::cache_len", cell.cache_len(b); "batch {b}");
    let grad0 = call!("Cell::zero_grad", cell.zero_grad());
    let own = call!("Cell::check_grad", cell.check_grad(&grad0));
    check!(own.is_ok(), "Err for its own zero gradient: {own:?}");
    let foreign = call!("Cell::check_grad", cell.check_grad(&other.zero_grad()); "{} {:?} given a gradient of {:?}", C::NAME, cell.dims(), other.dims());
    check!(
        foreign.is_err() || other.dims() == cell.dims() || cell.param_count() == 0,
        "Ok for the gradient of a cell of dimensions {:?}",
        other.dims()
    );
    let checked = call!("rnn_core::check_tensors", rnn_core::check_tensors("state", &state, |k| cell.state_rows(k), None); "{}", args());
    check!(
        checked.is_ok() == (!mk.perturbed() && b > 0) || mk.perturbed(),
        "check_tensors said {checked:?}"
    );

    let projection = call!("Cell::project", cell.project(&input); "{}", args());
    expect_ok(&projection, valid)?;
    let forward = call!("Cell::forward", cell.forward(&state, &input); "{}", args());
    expect_ok(&forward, valid)?;
    if let Ok(next) = &forward {
        check_state(cell, next, b, *tame, "forward")?;
    }
    let Ok(projection) = projection else { return Ok(()) };
    check_tensors_shaped(
        &projection,
        |k| cell.projection_rows(k),
        input.batch(),
        *tame,
        "projection",
    )?;
    let stepped = call!("Cell::step", cell.step(&projection, &state); "{}", args());
    expect_ok(&stepped, valid)?;
    let cached = call!("Cell::step_cached", cell.step_cached(&projection, &state); "{}", args());
    expect_ok(&cached, valid)?;
    if let (Ok(a), Ok((next, _))) = (&stepped, &cached) {
        check_state(cell, a, b, *tame, "step")?;
        check!(same_tensors(a, next), "step and step_cached disagree");
        if let Ok(f) = &forward {
            check!(same_tensors(a, f), "step and forward disagree");
        }
    }
    let Ok((next, cache)) = cached else { return Ok(()) };
    let d_next = mk.state(cell, b);
    let mut grad = cell.zero_grad();
    let saved = Saved {
        state: &state,
        next: &next,
        cache: &cache,
        column: c.column,
    };
    let back = call!("Cell::step_backward", cell.step_backward(saved, &d_next, &mut grad); "{}, d_next {}, column {}", args(), shape_text(&d_next), c.column);
    expect_ok(&back, valid && !mk.perturbed())?;
    if let Ok((d_prev, d_projection)) = &back {
        check_state(cell, d_prev, b, *tame, "step_backward state adjoint")?;
        check_tensors_shaped(
            d_projection,
            |k| cell.projection_rows(k),
            b,
            *tame,
            "step_backward projection adjoint",
        )?;
        check_grad(cell, &grad, *tame, "step_backward")?;
        let d_input = call!("Cell::project_backward", cell.project_backward(&input, d_projection, &mut grad); "{}", args());
        expect_ok(&d_input, valid)?;
        if let Ok(d) = &d_input {
            check_input(cell, d, b, *tame, "project_backward")?;
            check_grad(cell, &grad, *tame, "project_backward")?;
        }
        let mut foreign = other.zero_grad();
        let wrong = call!("Cell::project_backward", cell.project_backward(&input, d_projection, &mut foreign); "{} {:?} with a gradient of {:?}", C::NAME, cell.dims(), other.dims());
        check!(
            wrong.is_err() || other.dims() == cell.dims() || cell.param_count() == 0,
            "Ok into the gradient of a cell of dimensions {:?}",
            other.dims()
        );
    }

    // In place, with buffers made for this batch or another one, at the case's column.
    for (ws_batch, cache_batch) in [(b, b), (b + 1, b), (b, b + 1)] {
        let mut workspace =
            call!("Cell::workspace", cell.workspace(ws_batch, c.k.0); "batch {ws_batch}, steps {}", c.k.0);
        let mut cache = call!("Cell::new_cache", cell.new_cache(cache_batch); "batch {cache_batch}");
        let mut out = cell.zero_state(b);
        let args = || {
            format!(
                "{}, column {}, workspace batch {ws_batch}, cache batch {cache_batch}",
                args(),
                c.column
            )
        };
        let r = call!("Cell::step_into", cell.step_into(&projection, c.column, &state, &mut out, Some(&mut cache), &mut workspace); "{}", args());
        let fits = ws_batch == b
            && cache_batch == b
            && c.column
                .checked_add(b)
                .is_some_and(|end| end <= projection.batch());
        expect_ok(&r, valid && fits)?;
        check!(r.is_err() || fits, "Ok for buffers or a column that do not fit");
        if r.is_ok() {
            check_state(cell, &out, b, *tame, "step_into")?;
        }
        let mut d_prev = cell.zero_state(b);
        let mut d_projection =
            <C::Projection as Tensors<f64>>::from_fn(|k| DMatrix::zeros(cell.projection_rows(k), b));
        let mut grad = cell.zero_grad();
        let saved = Saved {
            state: &state,
            next: &out,
            cache: &cache,
            column: c.column,
        };
        let r = call!("Cell::step_backward_into", cell.step_backward_into(saved, &d_next, &mut d_prev, &mut d_projection, &mut grad, &mut workspace); "{}", args());
        let fits = ws_batch == b && cache_batch == b && c.column.checked_add(b).is_some_and(|end| end <= b);
        check!(r.is_err() || fits, "Ok for buffers or a column that do not fit");
        let flushed = call!("Cell::flush_grad", cell.flush_grad(&mut workspace, &mut grad); "{}", args());
        let mut foreign = other.zero_grad();
        let wrong = call!("Cell::flush_grad", cell.flush_grad(&mut workspace, &mut foreign); "{} {:?} into a gradient of {:?}", C::NAME, cell.dims(), other.dims());
        check!(
            wrong.is_err() || other.dims() == cell.dims() || cell.param_count() == 0,
            "Ok into the gradient of a cell of dimensions {:?}",
            other.dims()
        );
        if r.is_ok() && flushed.is_ok() {
            check_state(cell, &d_prev, b, *tame, "step_backward_into state adjoint")?;
            check_grad(cell, &grad, *tame, "step_backward_into")?;
        }
    }
    Ok(())
}

/// `drivers::{unroll_lengths, bptt_lengths}`, the packed record handed to another cell.
fn packed<C: Make>(s: &Setup<C>, c: &SeqCase) -> Result<(), TestCaseError> {
    let Setup {
        cell,
        other,
        corrupted,
        tame,
    } = s;
    let (b, steps) = (c.batch, c.steps);
    let mut mk = Maker::new(&c.pool, c.jitter);
    let h0 = mk.state(cell, b);
    let xs = mk.inputs(cell, b, steps);
    // Lengths: the case's, cut or padded to one per column (unless miscounted).
    let n_lengths = c.count(4, b);
    let lengths: Vec<usize> = (0..n_lengths)
        .map(|j| match c.lengths.get(j) {
            Some(&usize::MAX) => usize::MAX,
            Some(&l) => l % (steps + 1),
            None => steps,
        })
        .collect();
    let valid = !mk.perturbed()
        && b > 0
        && steps > 0
        && !corrupted
        && n_lengths == b
        && lengths.iter().all(|&l| l <= steps);
    let args = || {
        format!(
            "{}: initial {}, inputs {}, lengths {lengths:?}",
            C::NAME,
            shape_text(&h0),
            shapes_text(&xs)
        )
    };
    let run =
        call!("drivers::unroll_lengths", drivers::unroll_lengths(cell, &h0, &xs, &lengths); "{}", args());
    expect_ok(&run, valid)?;
    let Ok(run) = run else { return Ok(()) };
    check!(
        run.lengths() == lengths.as_slice(),
        "lengths() {:?}, given {lengths:?}",
        run.lengths()
    );
    let outputs = packed_outputs(&run);
    check!(
        outputs.len() == steps,
        "{} outputs for {steps} steps",
        outputs.len()
    );
    let out_rows = cell.state_rows(C::OUTPUT);
    for (t, y) in outputs.iter().enumerate() {
        check!(
            y.shape() == (out_rows, b),
            "output {t} of shape {:?}, expected {:?}",
            y.shape(),
            (out_rows, b)
        );
        check!(!tame || finite(y), "output {t} not finite from finite inputs");
        for (j, &l) in lengths.iter().enumerate() {
            check!(
                t < l || y.column(j).iter().all(|&v| v == 0.0),
                "output {} of sequence {j} (length {l}) is not zero",
                t + 1
            );
        }
    }
    check_state(cell, packed_final(&run), b, *tame, "final state")?;
    // Sequences of full length end where an unroll ends.
    if let Ok(full) = seq::unroll(cell, &h0, &xs) {
        for (j, &l) in lengths.iter().enumerate() {
            if l == steps {
                let ok = (0..C::State::NAMES.len()).all(|k| {
                    match (full.last_state().get(k), packed_final(&run).get(k)) {
                        (Some(a), Some(p)) => a
                            .column(j)
                            .iter()
                            .zip(p.column(j).iter())
                            .all(|(x, y)| x.to_bits_eq(y) || (x - y).abs() <= 1e-12 * (1.0 + x.abs())),
                        _ => false,
                    }
                });
                check!(ok, "final state of full-length sequence {j} unlike seq::unroll's");
            }
        }
    }
    let n = c.count(5, steps);
    let d_states = mk.states(cell, b, n);
    let d_final = mk.state(cell, b);
    let valid = valid && n == steps && !mk.perturbed();
    let bargs = || {
        format!(
            "{}, d_states {}, d_final {}",
            args(),
            shapes_text(&d_states),
            shape_text(&d_final)
        )
    };
    let grads =
        call!("drivers::bptt_lengths", drivers::bptt_lengths(cell, &run, &d_states, &d_final); "{}", bargs());
    expect_ok(&grads, valid)?;
    if valid && *tame {
        // NaN in the padding changes nothing, bit for bit.
        let padded: Vec<C::Input> = xs
            .iter()
            .enumerate()
            .map(|(t, x)| {
                let mut x = x.clone();
                for k in 0..C::Input::NAMES.len() {
                    if let Some(m) = x.get_mut(k) {
                        for (j, &l) in lengths.iter().enumerate() {
                            if t >= l {
                                m.column_mut(j).fill(f64::NAN);
                            }
                        }
                    }
                }
                x
            })
            .collect();
        let again = call!("drivers::unroll_lengths", drivers::unroll_lengths(cell, &h0, &padded, &lengths); "{} with NaN padding", args());
        check!(again.is_ok(), "Err with NaN padding: {:?}", again.as_ref().err());
        if let Ok(again) = &again {
            check!(
                packed_outputs(again)
                    .iter()
                    .zip(packed_outputs(&run))
                    .all(|(a, b)| same_matrix(a, b))
                    && same_tensors(packed_final(again), packed_final(&run)),
                "outputs or final states changed by NaN padding"
            );
            let g2 = call!("drivers::bptt_lengths", drivers::bptt_lengths(cell, again, &d_states, &d_final); "{} with NaN padding", bargs());
            if let (Ok(g), Ok(g2)) = (&grads, &g2) {
                check!(
                    same_params(&g.params, &g2.params)
                        && same_tensors(&g.initial_state, &g2.initial_state)
                        && g.inputs.iter().zip(&g2.inputs).all(|(a, b)| same_tensors(a, b)),
                    "gradients changed by NaN padding"
                );
            }
        }
        // Each column equals its sequence run alone (to rounding: other widths, other paths).
        for (j, &l) in lengths.iter().enumerate() {
            let initial = column(&h0, j);
            if l == 0 {
                check!(
                    same_tensors(&column(packed_final(&run), j), &initial),
                    "sequence {j} of length 0 does not end in its initial state"
                );
                continue;
            }
            let alone: Vec<C::Input> = xs[..l].iter().map(|x| column(x, j)).collect();
            if let Ok(single) = seq::unroll(cell, &initial, &alone) {
                check!(
                    close_tensors(single.last_state(), &column(packed_final(&run), j)),
                    "the final state of sequence {j} (length {l}) unlike the sequence run alone"
                );
                for t in 0..l {
                    if let (Some(a), Some(y)) = (single.output(t + 1), packed_outputs(&run).get(t)) {
                        let y = y.columns(j, 1).into_owned();
                        let scale = a.iter().chain(y.iter()).fold(1.0f64, |m, v| m.max(v.abs()));
                        check!(
                            (a - &y).iter().all(|d| d.abs() <= 1e-10 * scale),
                            "output {} of sequence {j} unlike the sequence run alone",
                            t + 1
                        );
                    }
                }
            }
        }
    }
    if let Ok(g) = &grads {
        check_grad(cell, &g.params, *tame, "bptt_lengths params")?;
        check!(
            g.inputs.len() == steps,
            "{} input gradients for {steps} steps",
            g.inputs.len()
        );
        for (t, x) in g.inputs.iter().enumerate() {
            check_input(cell, x, b, *tame, "bptt_lengths input gradient")?;
            for (j, &l) in lengths.iter().enumerate() {
                check!(
                    t < l || x.iter().all(|m| m.column(j).iter().all(|&v| v == 0.0)),
                    "input gradient {} of sequence {j} (length {l}) is not zero",
                    t + 1
                );
            }
        }
        check_state(
            cell,
            &g.initial_state,
            b,
            *tame,
            "bptt_lengths initial-state gradient",
        )?;
    }
    // L = Σ_t ⟨d_out[t], y_t⟩ + ⟨d_final, s_final⟩ (what the record shows) along the parameters
    // and the initial state.
    if valid && *tame && C::smooth() {
        let d_out = mk.matrices::<f64>(out_rows, b, steps);
        let adjoints = call!("drivers::output_adjoints", drivers::output_adjoints(cell, &d_out); "{}: {}", C::NAME, matrices_text(&d_out));
        if let (Ok(adjoints), false) = (&adjoints, mk.perturbed()) {
            let g = call!("drivers::bptt_lengths", drivers::bptt_lengths(cell, &run, adjoints, &d_final); "{}, output adjoints only", args());
            check!(g.is_ok(), "Err for valid arguments: {:?}", g.as_ref().err());
            if let Ok(g) = &g {
                let mut dm = Maker::new(&c.pool, None);
                let v: Vec<f64> = dm.values(cell.param_count());
                let u = dm.state(cell, b);
                let norm = norm_of(&[&v], &[dot(&u, &u)]);
                against_differences(
                    "drivers::bptt_lengths",
                    along(&g.params, &v) + dot(&g.initial_state, &u),
                    norm,
                    |eps| {
                        let run = drivers::unroll_lengths(
                            &moved(cell, &v, eps)?,
                            &moved_tensors(&h0, &u, eps),
                            &xs,
                            &lengths,
                        )
                        .ok()?;
                        Some(dot_matrices(packed_outputs(&run), &d_out) + dot(packed_final(&run), &d_final))
                    },
                )?;
            }
        }
    }
    let foreign = call!("drivers::bptt_lengths", drivers::bptt_lengths(other, &run, &d_states, &d_final); "{} of dims {:?} given a packed trajectory of dims {:?}; {}", C::NAME, other.dims(), cell.dims(), bargs());
    if let Ok(g) = &foreign {
        check!(
            other.dims() == cell.dims() || lengths.iter().all(|&l| l == 0),
            "Ok for a packed trajectory of another cell's dimensions {:?} (cell {:?})",
            cell.dims(),
            other.dims()
        );
        check_grad(other, &g.params, *tame, "foreign bptt_lengths params")?;
    }
    Ok(())
}

/// `TruncatedBptt` and its windows.
fn truncated<C: Make>(s: &Setup<C>, c: &SeqCase) -> Result<(), TestCaseError> {
    let Setup {
        cell,
        other,
        corrupted,
        tame,
    } = s;
    let (b, steps) = (c.batch, c.steps);
    let mut mk = Maker::new(&c.pool, c.jitter);
    let h0 = mk.state(cell, b);
    let xs = mk.inputs(cell, b, steps);
    let (k1, k2) = (c.k.0, c.k.1);
    let args = || format!("{}: initial {}, k1 {k1}, k2 {k2}", C::NAME, shape_text(&h0));
    let tbptt = call!("TruncatedBptt::new", TruncatedBptt::new(cell, &h0, k2); "{}", args());
    check!(k2 > 0 || tbptt.is_err(), "Ok for k2 = 0");
    let Ok(mut tbptt) = tbptt else { return Ok(()) };
    let valid = !mk.perturbed() && b > 0 && !corrupted && (1..=k2).contains(&k1);
    let mut taken = 0;
    for chunk in xs.chunks(k1.max(1)) {
        let steps_before = tbptt.steps();
        // A cell of other dimensions first: refused, and nothing carried.
        let wrong = call!("TruncatedBptt::window", tbptt.window(other, chunk).map(|_| ()); "{} of dims {:?} on a TBPTT started with {:?}", C::NAME, other.dims(), cell.dims());
        check!(
            wrong.is_err() || (0..C::State::NAMES.len()).all(|k| other.state_rows(k) == cell.state_rows(k)),
            "Ok for a cell of dimensions {:?}, whose states differ (started with {:?})",
            other.dims(),
            cell.dims()
        );
        if wrong.is_ok() {
            taken += chunk.len();
            continue;
        }
        check!(
            tbptt.steps() == steps_before,
            "an error, but the steps taken went from {steps_before} to {}",
            tbptt.steps()
        );
        let window = call!("TruncatedBptt::window", tbptt.window(cell, chunk); "{}, chunk of {}", args(), shapes_text(chunk));
        expect_ok(&window, valid)?;
        check!(
            window.is_ok() || tbptt.steps() == steps_before,
            "an error, but the steps taken went from {steps_before} to {}",
            tbptt.steps()
        );
        let Ok(window) = window else { break };
        taken += chunk.len();
        let (new, rerun, first, trajectory) = window_parts(&window);
        check!(
            new == chunk.len(),
            "a window of {new} new steps for a chunk of {}",
            chunk.len()
        );
        check!(
            trajectory.len() == rerun + new && trajectory.len() <= k2,
            "a window of {} steps ({rerun} rerun, {new} new, k2 {k2})",
            trajectory.len()
        );
        check!(
            first + rerun + new == taken + 1,
            "first step {first} with {rerun} rerun and {new} new after {taken} steps"
        );
        for j in (0..=new + 1).chain([usize::MAX]) {
            let state = call!("Window::new_state", window.new_state(j).cloned(); "j = {j} of {new} new");
            check!(
                state.is_some() == (j < new),
                "new_state({j}) with {new} new steps: {state:?}"
            );
            if let Some(state) = &state {
                check_state(cell, state, b, *tame, "window state")?;
            }
        }
        let n = c.count(6, new);
        let d_new = mk.states(cell, b, n);
        let grads = call!("Window::backward", window.backward(cell, &d_new); "{}, d_new {}", args(), shapes_text(&d_new));
        expect_ok(&grads, valid && n == new && !mk.perturbed())?;
        if let Ok(g) = &grads {
            check_grad(cell, &g.params, *tame, "window params")?;
            check!(
                g.inputs.len() == trajectory.len(),
                "{} input gradients for a window of {}",
                g.inputs.len(),
                trajectory.len()
            );
        }
        // One chunk covering the whole sequence (k2 ≥ T) is full BPTT, bit for bit.
        if let (Ok(g), true) = (&grads, first == 1 && rerun == 0 && new == xs.len()) {
            let full = seq::unroll(cell, &h0, &xs).and_then(|t| seq::bptt(cell, &t, &d_new));
            if let Ok(full) = &full {
                check!(
                    same_params(&g.params, &full.params)
                        && same_tensors(&g.initial_state, &full.initial_state)
                        && g.inputs.iter().zip(&full.inputs).all(|(a, b)| same_tensors(a, b)),
                    "a window over the whole sequence unlike full BPTT"
                );
            }
        }
        let foreign = call!("Window::backward", window.backward(other, &d_new); "{} of dims {:?} given a window of dims {:?}", C::NAME, other.dims(), cell.dims());
        if foreign.is_ok() {
            check!(
                other.dims() == cell.dims(),
                "Ok for a window of another cell's dimensions {:?} (cell {:?})",
                cell.dims(),
                other.dims()
            );
        }
    }
    let taken_now = call!("TruncatedBptt::steps", tbptt.steps());
    check!(taken_now == taken, "{taken_now} steps after {taken}");
    let state = call!("TruncatedBptt::state", tbptt.state().clone());
    check_state(cell, &state, h0.batch(), *tame, "carried state")?;
    Ok(())
}

/// `Decoder` (teacher forcing, free running, scheduled sampling, generation) and
/// `EncoderDecoder`, runs handed to decoders of other dimensions, edited public fields.
fn decoders<C: Make>(s: &Setup<C>, c: &SeqCase) -> Result<(), TestCaseError> {
    let Setup {
        cell,
        other,
        corrupted,
        tame,
    } = s;
    let (b, steps) = (c.batch, c.steps);
    let mut mk = Maker::new(&c.pool, c.jitter);
    let (i, h) = (cell.input_rows(0), cell.state_rows(C::OUTPUT));
    let readout = rnn_core::dense::Dense {
        w: mk.matrix(i, h),
        b: DVector::from_vec(mk.values(i)),
    };
    let decoder = Decoder {
        cell: cell.clone(),
        readout,
    };
    let h0 = mk.state(cell, b);
    let start = mk.matrix(i, b);
    let n = c.count(7, steps);
    let targets = mk.matrices(i, b, n);
    let single = C::Input::NAMES.len() == 1;
    let valid = !mk.perturbed() && b > 0 && n > 0 && !corrupted && single && probability_ok(c.feed);
    let args = || {
        format!(
            "{}: readout {:?}, initial {}, start {:?}, targets {}, {:?}",
            C::NAME,
            decoder.readout.w.shape(),
            shape_text(&h0),
            start.shape(),
            matrices_text(&targets),
            c.feed
        )
    };
    let run = call!("Decoder::forward", decoder.forward(&h0, &start, &targets, c.feed); "{}", args());
    expect_ok(&run, valid)?;
    check!(
        run.is_err() || (single && probability_ok(c.feed)),
        "Ok for a cell with {} inputs, {:?}",
        C::Input::NAMES.len(),
        c.feed
    );
    let generated =
        call!("Decoder::generate", decoder.generate(&h0, &start, c.k.2); "{}, {} steps", args(), c.k.2);
    expect_ok(&generated, valid)?;
    if let Ok(ys) = &generated {
        check!(ys.len() == c.k.2, "{} outputs for {} steps", ys.len(), c.k.2);
        for y in ys {
            check!(
                y.shape() == (i, b) && (!tame || finite(y)),
                "a generated output {y}, expected {i} × {b} finite"
            );
        }
    }
    // Generation is free running: the outputs of `forward` with `Feed::Free`.
    if let (Ok(ys), true) = (&generated, valid && c.k.2 > 0) {
        let free_targets = vec![start.clone(); c.k.2];
        let free = call!("Decoder::forward", decoder.forward(&h0, &start, &free_targets, Feed::Free); "{}, free running for {} steps", args(), c.k.2);
        if let Ok(free) = &free {
            for (t, (a, y)) in decoder_outputs(free).iter().zip(ys).enumerate() {
                let scale = a.iter().chain(y.iter()).fold(1.0f64, |m, v| m.max(v.abs()));
                check!(
                    a.shape() == y.shape() && (a - y).iter().all(|d| d.abs() <= 1e-10 * scale) || !tame,
                    "output {} of free running unlike generate's: {a} vs {y}",
                    t + 1
                );
            }
        }
    }
    let Ok(run) = run else { return Ok(()) };
    let outputs = decoder_outputs(&run);
    let fed = decoder_teacher_fed(&run);
    check!(
        outputs.len() == n && fed.len() == n && decoder_states(&run).len() == n + 1,
        "{} outputs, {} feed flags, {} states for {n} targets",
        outputs.len(),
        fed.len(),
        decoder_states(&run).len()
    );
    check!(!fed[0], "step 1 marked teacher-fed");
    match c.feed {
        Feed::Teacher => check!(
            fed[1..].iter().all(|&f| f),
            "teacher forcing with free steps: {fed:?}"
        ),
        Feed::Free => check!(
            fed.iter().all(|&f| !f),
            "free running with teacher-fed steps: {fed:?}"
        ),
        Feed::Scheduled { .. } => {}
    }
    for y in outputs {
        check!(
            y.shape() == (i, b) && (!tame || finite(y)),
            "an output {y}, expected {i} × {b} finite"
        );
    }
    for state in decoder_states(&run) {
        check_state(cell, state, b, *tame, "decoder state")?;
    }
    let n_d = c.count(8, n);
    let d_outputs = mk.matrices(i, b, n_d);
    let d_final = mk.state(cell, b);
    let bargs = || {
        format!(
            "{}, d_outputs {}, d_final {}",
            args(),
            matrices_text(&d_outputs),
            shape_text(&d_final)
        )
    };
    let grads = call!("Decoder::backward", decoder.backward(&run, &d_outputs, &d_final); "{}", bargs());
    expect_ok(&grads, valid && n_d == n && !mk.perturbed())?;
    // L = Σ_t ⟨d_outputs[t], y_t⟩ + ⟨d_final, s_T⟩ along the cell's and the readout's
    // parameters and the start (through every fed-back output).
    if let (Ok(g), true) = (
        &grads,
        valid && n_d == n && !mk.perturbed() && *tame && C::smooth(),
    ) {
        let mut dm = Maker::new(&c.pool, None);
        let v: Vec<f64> = dm.values(cell.param_count());
        let vr: Vec<f64> = dm.values(decoder.readout.param_count());
        let u = dm.matrix::<f64>(i, b);
        let analytic = along(&g.cell, &v) + along(&g.readout, &vr) + g.start.dot(&u);
        let norm = norm_of(&[&v, &vr], &[u.norm_squared()]);
        against_differences("Decoder::backward", analytic, norm, |eps| {
            let moved_decoder = Decoder {
                cell: moved(cell, &v, eps)?,
                readout: moved(&decoder.readout, &vr, eps)?,
            };
            let run = moved_decoder
                .forward(&h0, &(&start + &u * eps), &targets, c.feed)
                .ok()?;
            Some(
                dot_matrices(decoder_outputs(&run), &d_outputs) + dot(decoder_states(&run).last()?, &d_final),
            )
        })?;
    }
    if let Ok(g) = &grads {
        check_grad(cell, &g.cell, *tame, "decoder cell")?;
        check!(
            g.readout.w.shape() == (i, h) && g.readout.b.len() == i,
            "readout gradient {:?} / {}",
            g.readout.w.shape(),
            g.readout.b.len()
        );
        check!(
            !tame || (finite(&g.readout.w) && g.readout.b.iter().all(|x| x.is_finite())),
            "readout gradient not finite"
        );
        check_state(cell, &g.initial_state, b, *tame, "decoder initial-state gradient")?;
        check!(
            g.start.shape() == (i, b) && (!tame || finite(&g.start)),
            "start gradient {}",
            g.start
        );
        check!(
            g.targets.len() == n,
            "{} target gradients for {n} targets",
            g.targets.len()
        );
        for (t, d) in g.targets.iter().enumerate() {
            check!(
                d.shape() == (i, b) && (!tame || finite(d)),
                "target gradient {t}: {d}"
            );
            check!(
                t + 1 >= n || fed[t + 1] || d.iter().all(|&v| v == 0.0),
                "gradient of target {t}, which was not fed: {d}"
            );
        }
    }
    // The run handed to a decoder of other dimensions, and to one whose fields were edited.
    let foreign = Decoder {
        cell: other.clone(),
        readout: rnn_core::dense::Dense::init(other.input_rows(0), other.state_rows(C::OUTPUT), c.seed)
            .unwrap_or_else(|_| decoder.readout.clone()),
    };
    let wrong = call!("Decoder::backward", foreign.backward(&run, &d_outputs, &d_final); "a decoder of {} {:?} given a run of {:?}; {}", C::NAME, other.dims(), cell.dims(), bargs());
    if let Ok(g) = &wrong {
        check!(
            other.dims() == cell.dims(),
            "Ok for the run of a decoder of dimensions {:?} (this one {:?})",
            cell.dims(),
            other.dims()
        );
        check_grad(other, &g.cell, *tame, "foreign decoder")?;
    }
    let mut edited = decoder.clone();
    edited.readout.b = DVector::from_vec(mk.values(i + 1));
    let wrong = call!("Decoder::backward", edited.backward(&run, &d_outputs, &d_final); "a decoder whose readout bias has {} entries; {}", i + 1, bargs());
    check!(wrong.is_err(), "Ok with a readout bias of the wrong length");
    let wrong = call!("Decoder::forward", edited.forward(&h0, &start, &targets, c.feed); "a decoder whose readout bias has {} entries; {}", i + 1, args());
    check!(wrong.is_err(), "Ok with a readout bias of the wrong length");

    // Encoder–decoder: this cell encodes, the other decodes (when their states match).
    let other_i = other.input_rows(0);
    let model = EncoderDecoder {
        encoder: cell.clone(),
        decoder: Decoder {
            cell: other.clone(),
            readout: rnn_core::dense::Dense {
                w: mk.matrix(other_i, other.state_rows(C::OUTPUT)),
                b: DVector::from_vec(mk.values(other_i)),
            },
        },
    };
    let xs = mk.inputs(cell, b, steps);
    let start = mk.matrix(other_i, b);
    let targets = mk.matrices(other_i, b, c.k.2);
    let args = || {
        format!(
            "encoder {} {:?}, decoder {:?}: initial {}, inputs {}, start {:?}, targets {}, {:?}",
            C::NAME,
            cell.dims(),
            other.dims(),
            shape_text(&h0),
            shapes_text(&xs),
            start.shape(),
            matrices_text(&targets),
            c.feed
        )
    };
    let run =
        call!("EncoderDecoder::forward", model.forward(&h0, &xs, &start, &targets, c.feed); "{}", args());
    let Ok(run) = run else { return Ok(()) };
    let (encoder, decoder_run) = encoder_decoder_parts(&run);
    check!(
        encoder.len() == steps && decoder_outputs(decoder_run).len() == c.k.2,
        "{} encoder steps, {} outputs",
        encoder.len(),
        decoder_outputs(decoder_run).len()
    );
    for y in decoder_outputs(decoder_run) {
        check!(
            y.shape() == (other_i, b) && (!tame || finite(y)),
            "an output {y}, expected {other_i} × {b} finite"
        );
    }
    let d_outputs = mk.matrices(other_i, b, c.count(9, c.k.2));
    let grads = call!("EncoderDecoder::backward", model.backward(&run, &d_outputs); "{}, d_outputs {}", args(), matrices_text(&d_outputs));
    if let Ok(g) = &grads {
        check_grad(cell, &g.encoder.params, *tame, "encoder")?;
        check_grad(other, &g.decoder.cell, *tame, "decoder")?;
        check!(
            g.encoder.inputs.len() == steps,
            "{} encoder input gradients for {steps} steps",
            g.encoder.inputs.len()
        );
        check_state(
            cell,
            &g.encoder.initial_state,
            b,
            *tame,
            "encoder initial-state gradient",
        )?;
    }
    // An Elman encoder (one state) in front of this decoder: matching states are required.
    if let Ok(elman) = Elman::<f64>::init(
        ElmanDims {
            H: other.state_rows(0),
            I: cell.input_rows(0),
        },
        c.seed,
    ) {
        let mixed = EncoderDecoder {
            encoder: elman,
            decoder: model.decoder.clone(),
        };
        let e0 = mixed.encoder.zero_state(b);
        let exs: Vec<_> = xs
            .iter()
            .map(|x| rnn_core::cells::ElmanInput {
                x: x.get(0).cloned().unwrap_or_else(|| DMatrix::zeros(0, 0)),
            })
            .collect();
        let run = call!("EncoderDecoder::forward", mixed.forward(&e0, &exs, &start, &targets, c.feed); "Elman encoder {:?} into a {} decoder {:?}", mixed.encoder.dims(), C::NAME, other.dims());
        check!(
            run.is_err() || C::State::NAMES.len() == 1,
            "Ok for an encoder state of 1 matrix into a decoder state of {}",
            C::State::NAMES.len()
        );
        if let Ok(run) = &run {
            let grads = call!("EncoderDecoder::backward", mixed.backward(run, &d_outputs); "Elman encoder into a {} decoder, d_outputs {}", C::NAME, matrices_text(&d_outputs));
            if let Ok(g) = &grads {
                check_grad(&mixed.encoder, &g.encoder.params, *tame, "mixed encoder")?;
            }
        }
    }
    // The run handed to the model with encoder and decoder swapped.
    let swapped = EncoderDecoder {
        encoder: other.clone(),
        decoder: Decoder {
            cell: cell.clone(),
            readout: decoder.readout.clone(),
        },
    };
    let wrong = call!("EncoderDecoder::backward", swapped.backward(&run, &d_outputs); "the run of {:?} → {:?} given to {:?} → {:?}", cell.dims(), other.dims(), other.dims(), cell.dims());
    if let Ok(g) = &wrong {
        check!(other.dims() == cell.dims(), "Ok for the run of another model");
        check_grad(other, &g.encoder.params, *tame, "swapped encoder")?;
    }
    Ok(())
}

fn probability_ok(feed: Feed) -> bool {
    match feed {
        Feed::Scheduled {
            teacher_probability, ..
        } => (0.0..=1.0).contains(&teacher_probability),
        _ => true,
    }
}

/// `layers::{Direction, Layer, Stack}`: every layout (no direction, no layer included), runs
/// handed to layers and stacks of other shapes.
fn layers<C: Make>(s: &Setup<C>, c: &SeqCase) -> Result<(), TestCaseError> {
    let Setup {
        cell,
        other,
        corrupted,
        tame,
    } = s;
    let (b, steps) = (c.batch, c.steps);
    let (directions, depth) = c.layout;
    let mut mk = Maker::new(&c.pool, c.jitter);
    let (h, i) = c.dims;
    let i_rows = cell.input_rows(0);
    let single = C::Input::NAMES.len() == 1;
    let xs = mk.matrices(i_rows, b, steps);
    let h0 = mk.state(cell, b);

    // One direction.
    let direction = Direction::new(cell.clone(), c.seed % 2 == 1);
    let args = || {
        format!(
            "{} {:?} (reverse {}): xs {}, initial {}",
            C::NAME,
            cell.dims(),
            direction.reverse,
            matrices_text(&xs),
            shape_text(&h0)
        )
    };
    let valid = !mk.perturbed() && b > 0 && steps > 0 && !corrupted && single;
    let run = call!("Direction::forward", direction.forward(&xs, &h0); "{}", args());
    expect_ok(&run, valid)?;
    check!(
        run.is_err() || single,
        "Ok for a cell with {} inputs (a direction feeds one)",
        C::Input::NAMES.len()
    );
    if let Ok(run) = &run {
        let out_rows = cell.state_rows(C::OUTPUT);
        check!(
            run.outputs().len() == steps,
            "{} outputs for {steps} steps",
            run.outputs().len()
        );
        for y in run.outputs() {
            check!(
                y.shape() == (out_rows, b) && (!tame || finite(y)),
                "an output {y}, expected {out_rows} × {b} finite"
            );
        }
        check_state(cell, run.final_state(), b, *tame, "direction final state")?;
        // A reverse direction is an unroll over the reversed sequence, its outputs put back in
        // time order; the final state is that of the last step processed.
        if valid {
            let order: Vec<usize> = if direction.reverse {
                (0..steps).rev().collect()
            } else {
                (0..steps).collect()
            };
            let inputs: Vec<C::Input> = order
                .iter()
                .map(|&t| C::Input::from_fn(|_| xs[t].clone()))
                .collect();
            if let Ok(plain) = seq::unroll(cell, &h0, &inputs) {
                for (j, &t) in order.iter().enumerate() {
                    check!(
                        plain
                            .output(j + 1)
                            .is_some_and(|y| same_matrix(y, &run.outputs()[t])),
                        "output at t = {} unlike step {} of an unroll over the {} sequence",
                        t + 1,
                        j + 1,
                        if direction.reverse { "reversed" } else { "given" }
                    );
                }
                check!(
                    same_tensors(plain.last_state(), run.final_state()),
                    "a final state unlike the last step processed"
                );
            }
        }
        let d_outputs = mk.matrices(out_rows, b, c.count(10, steps));
        let d_final = mk.state(cell, b);
        let grads = call!("Direction::backward", direction.backward(run, &d_outputs, &d_final); "{}, d_outputs {}, d_final {}", args(), matrices_text(&d_outputs), shape_text(&d_final));
        expect_ok(&grads, valid && !mk.perturbed() && d_outputs.len() == steps)?;
        if let Ok(g) = &grads {
            check_grad(cell, &g.params, *tame, "direction")?;
            check!(
                g.inputs.len() == steps
                    && g.inputs
                        .iter()
                        .all(|x| x.shape() == (i_rows, b) && (!tame || finite(x))),
                "input gradients {}",
                matrices_text(&g.inputs)
            );
        }
        let flipped = Direction::new(cell.clone(), !direction.reverse);
        let wrong = call!("Direction::backward", flipped.backward(run, &d_outputs, &d_final); "the run of a direction (reverse {}) given to one (reverse {})", direction.reverse, flipped.reverse);
        check!(wrong.is_err(), "Ok for the run of the opposite direction");
        let foreign = Direction::new(other.clone(), direction.reverse);
        let wrong = call!("Direction::backward", foreign.backward(run, &d_outputs, &d_final); "the run of {:?} given to {:?}", cell.dims(), other.dims());
        check!(
            wrong.is_err() || other.dims() == cell.dims(),
            "Ok for the run of a direction of dimensions {:?} (this one {:?})",
            cell.dims(),
            other.dims()
        );
    }

    // A stack of `depth` layers of `directions` directions each (layer k > 0 reads D·H rows).
    // The reverse direction may have another state size (its rows add to the forward's).
    let skew = c.k.2 % 3;
    let mut layers = Vec::new();
    let mut input = i;
    for layer in 0..depth {
        let mut dirs = Vec::new();
        for d in 0..directions {
            let hd = if d == 1 { h + skew } else { h };
            if let Ok(cell) = C::make_init(hd, input, c.seed.wrapping_add((layer * 2 + d) as u64)) {
                dirs.push(Direction::new(cell, d == 1));
            }
        }
        input = dirs.iter().map(|d| d.cell.state_rows(C::OUTPUT)).sum();
        layers.push(Layer { directions: dirs });
    }
    let stack = Stack { layers };
    let count: usize = stack.layers.iter().map(|l| l.directions.len()).sum();
    let direction_cells: Vec<&C> = stack
        .layers
        .iter()
        .flat_map(|l| &l.directions)
        .map(|d| &d.cell)
        .collect();
    let mut initial: Vec<C::State> = direction_cells.iter().map(|d| mk.state(*d, b)).collect();
    initial.truncate(c.count(11, count));
    if initial.len() < c.count(11, count) {
        initial.push(mk.state(cell, b));
    }
    // Layer 0 must read the inputs' rows, layer k > 0 what layer k − 1 writes (not so for cells
    // whose input size is H).
    let reads_inputs = stack
        .layers
        .first()
        .is_none_or(|l| l.directions.iter().all(|d| d.cell.input_rows(0) == i_rows));
    let chained = reads_inputs
        && stack.layers.windows(2).all(|pair| {
            let rows: usize = pair[0]
                .directions
                .iter()
                .map(|d| d.cell.state_rows(C::OUTPUT))
                .sum();
            pair[1].directions.iter().all(|d| d.cell.input_rows(0) == rows)
        });
    let valid = !mk.perturbed()
        && b > 0
        && steps > 0
        && single
        && depth > 0
        && directions > 0
        && initial.len() == count
        && chained;
    let out_rows: usize = stack.layers.last().map_or(0, |l| {
        l.directions.iter().map(|d| d.cell.state_rows(C::OUTPUT)).sum()
    });
    let args = || {
        format!(
            "{} stack of {depth} × {directions} directions (H {h}, I {i}): xs {}, initial {}",
            C::NAME,
            matrices_text(&xs),
            shapes_text(&initial)
        )
    };
    if let Some(layer) = stack.layers.first() {
        let run = call!("Layer::forward", layer.forward(&xs, &initial[..initial.len().min(layer.directions.len())]); "{}", args());
        expect_ok(&run, valid && initial.len() >= layer.directions.len())?;
        check!(
            run.is_err() || single,
            "Ok for a cell with {} inputs (a layer feeds one)",
            C::Input::NAMES.len()
        );
        if let Ok(run) = &run {
            let rows: usize = layer
                .directions
                .iter()
                .map(|d| d.cell.state_rows(C::OUTPUT))
                .sum();
            check!(
                run.outputs().len() == steps && run.outputs().iter().all(|y| y.shape() == (rows, b)),
                "outputs {} from a layer of {} rows",
                matrices_text(run.outputs()),
                rows
            );
            check!(
                run.finals().len() == layer.directions.len(),
                "{} final states for {} directions",
                run.finals().len(),
                layer.directions.len()
            );
            // The layer's output at t is [h_fwd,t; h_rev,t], each direction's output stacked.
            for (t, y) in run.outputs().iter().enumerate() {
                let mut offset = 0;
                for d in run.directions() {
                    if let Some(part) = d.outputs().get(t) {
                        let fits = offset + part.nrows() <= y.nrows() && part.ncols() == y.ncols();
                        check!(
                            fits && same_matrix(&y.rows(offset, part.nrows()).into_owned(), part),
                            "output at t = {} unlike its directions' outputs stacked",
                            t + 1
                        );
                        offset += part.nrows();
                    }
                }
            }
            let d_outputs = mk.matrices(rows, b, steps);
            let d_finals: Vec<C::State> = layer.directions.iter().map(|d| mk.state(&d.cell, b)).collect();
            let grads = call!("Layer::backward", layer.backward(run, &d_outputs, &d_finals); "{}, d_outputs {}", args(), matrices_text(&d_outputs));
            expect_ok(
                &grads,
                valid && !mk.perturbed() && initial.len() >= layer.directions.len(),
            )?;
            if let Ok(g) = &grads {
                check!(
                    g.directions.len() == layer.directions.len(),
                    "{} direction gradients for {} directions",
                    g.directions.len(),
                    layer.directions.len()
                );
                check!(
                    g.inputs.len() == steps
                        && g.inputs
                            .iter()
                            .all(|x| x.shape() == (i_rows, b) && (!tame || finite(x))),
                    "input gradients {} (inputs {i_rows} × {b})",
                    matrices_text(&g.inputs)
                );
            }
        }
    }
    let run = call!("Stack::forward", stack.forward(&xs, &initial); "{}", args());
    expect_ok(&run, valid)?;
    check!(
        run.is_err() || (single && depth > 0 && directions > 0),
        "Ok for a stack of {depth} layers of {directions} directions of a cell with {} inputs",
        C::Input::NAMES.len()
    );
    let Ok(run) = run else { return Ok(()) };
    check!(
        run.outputs().len() == steps
            && run
                .outputs()
                .iter()
                .all(|y| y.shape() == (out_rows, b) && (!tame || finite(y))),
        "outputs {} (expected {out_rows} × {b})",
        matrices_text(run.outputs())
    );
    check!(
        run.finals().count() == count && run.layers().len() == depth,
        "{} final states, {} layers",
        run.finals().count(),
        run.layers().len()
    );
    let d_outputs = mk.matrices(out_rows, b, steps);
    let d_finals: Vec<C::State> = direction_cells.iter().map(|d| mk.state(*d, b)).collect();
    let bargs = || {
        format!(
            "{}, d_outputs {}, d_finals {}",
            args(),
            matrices_text(&d_outputs),
            shapes_text(&d_finals)
        )
    };
    let grads = call!("Stack::backward", stack.backward(&run, &d_outputs, &d_finals); "{}", bargs());
    expect_ok(&grads, valid && !mk.perturbed())?;
    // L = Σ_t ⟨d_outputs[t], y_t⟩ + Σ ⟨d_finals, finals⟩ along the first direction's parameters
    // and the inputs.
    if let (Ok(g), true, Some(first)) = (
        &grads,
        valid && !mk.perturbed() && *tame && C::smooth(),
        direction_cells.first(),
    ) {
        let mut dm = Maker::new(&c.pool, None);
        let v: Vec<f64> = dm.values(first.param_count());
        let u = dm.matrices::<f64>(i_rows, b, steps);
        let analytic =
            g.directions.first().map_or(0.0, |d| along(&d.params, &v)) + dot_matrices(&g.inputs, &u);
        let norm = norm_of(&[&v], &[u.iter().map(DMatrix::norm_squared).sum()]);
        against_differences("Stack::backward", analytic, norm, |eps| {
            let mut moved_stack = stack.clone();
            let d0 = moved_stack.layers.first_mut()?.directions.first_mut()?;
            d0.cell = moved(&d0.cell, &v, eps)?;
            let moved_xs: Vec<DMatrix<f64>> = xs.iter().zip(&u).map(|(x, d)| x + d * eps).collect();
            let run = moved_stack.forward(&moved_xs, &initial).ok()?;
            let finals: Vec<C::State> = run.finals().cloned().collect();
            Some(dot_matrices(run.outputs(), &d_outputs) + dot_all(&finals, &d_finals))
        })?;
    }
    if let Ok(g) = &grads {
        check!(
            g.directions.len() == count,
            "{} direction gradients for {count}",
            g.directions.len()
        );
        check!(
            g.inputs.len() == steps
                && g.inputs
                    .iter()
                    .all(|x| x.shape() == (i_rows, b) && (!tame || finite(x))),
            "input gradients {} (inputs {i_rows} × {b})",
            matrices_text(&g.inputs)
        );
        for (d, dir) in g
            .directions
            .iter()
            .zip(stack.layers.iter().flat_map(|l| &l.directions))
        {
            check_grad(&dir.cell, &d.params, *tame, "stack direction")?;
        }
    }
    // The run handed to a stack of another shape: one layer fewer, one direction fewer, or
    // cells of other dimensions.
    let mut shallower = stack.clone();
    shallower.layers.pop();
    let mut narrower = stack.clone();
    if let Some(layer) = narrower.layers.last_mut() {
        layer.directions.pop();
    }
    let mut other_cells = stack.clone();
    for layer in &mut other_cells.layers {
        for d in &mut layer.directions {
            d.cell = other.clone();
        }
    }
    for (what, wrong_stack) in [
        ("one layer fewer", &shallower),
        ("one direction fewer", &narrower),
        ("other cells", &other_cells),
    ] {
        let n: usize = wrong_stack.layers.iter().map(|l| l.directions.len()).sum();
        let d_finals: Vec<C::State> = wrong_stack
            .layers
            .iter()
            .flat_map(|l| &l.directions)
            .map(|d| mk.state(&d.cell, b))
            .collect();
        let wrong = call!("Stack::backward", wrong_stack.backward(&run, &d_outputs, &d_finals); "the run of {} given to a stack with {what}", args());
        if let Ok(g) = &wrong {
            check!(
                what == "other cells" && other.dims() == cell.dims()
                    || n == count && what != "one layer fewer",
                "Ok for the run of another stack ({what}): {} direction gradients",
                g.directions.len()
            );
        }
    }
    Ok(())
}

fn prop_cells() -> Outcome {
    run_property(
        "sequence drivers, steps, decoders and layers",
        4000,
        seq_case(18),
        |c| match c.kind {
            0 | 1 => exercise::<Elman<f64>>(&c),
            2 | 3 => exercise::<Lstm<f64>>(&c),
            4 => exercise::<Gru<f64>>(&c),
            5 => exercise::<RunningSum<f64>>(&c),
            6 => exercise::<Leaky<f64>>(&c),
            7 => exercise::<IndRnn<f64>>(&c),
            8 => exercise::<Two<f64>>(&c),
            9 => exercise::<Exotic<f64>>(&c),
            10 => exercise::<ElmanConcat<f64>>(&c),
            11 => exercise::<RnnTanh<f64>>(&c),
            12 => exercise::<RnnRelu<f64>>(&c),
            13 => exercise::<PeepholeLstm<f64>>(&c),
            14 => exercise::<Cifg<f64>>(&c),
            15 => exercise::<Mgu<f64>>(&c),
            16 => exercise::<HardLstm<f64>>(&c),
            _ => exercise::<Reservoir<f64>>(&c),
        },
    )
}

// ---------------------------------------------------------------------------------------------
// Losses.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct LossCase {
    shape: (usize, usize),
    jitter: Option<(usize, Jitter)>,
    temperature: f64,
    targets: Vec<usize>,
    pool: Pool,
}

fn loss_case() -> impl Strategy<Value = LossCase> {
    (
        (0..=4usize, 0..=4usize),
        jitter(),
        prop_oneof![3 => setting(), 1 => 0.5..4.0f64],
        prop::collection::vec(prop_oneof![8 => 0..=4usize, 1 => Just(usize::MAX)], 0..=5),
        pool(),
    )
        .prop_map(|(shape, jitter, temperature, targets, pool)| LossCase {
            shape,
            jitter,
            temperature,
            targets,
            pool,
        })
}

/// A temperature whose results must be finite for moderate logits.
fn moderate(x: f64) -> bool {
    (1e-3..=1e3).contains(&x)
}

fn prop_losses() -> Outcome {
    run_property("losses", 3000, loss_case(), |c| {
        let (rows, cols) = c.shape;
        let mut mk = Maker::new(&c.pool, c.jitter);
        let prediction: DMatrix<f64> = mk.matrix(rows, cols);
        let target: DMatrix<f64> = mk.matrix(rows, cols);
        let tame = c.pool.tame();
        let all_finite = c.pool.0.iter().all(|x| x.is_finite());
        let tau = c.temperature;
        let tau_ok = tau.is_finite() && tau > 0.0;
        let mse = call!("loss::mse", rnn_core::loss::mse(&prediction, &target); "prediction {:?}, target {:?}", prediction.shape(), target.shape());
        check!(
            mse.is_err() || (prediction.shape() == target.shape() && !prediction.is_empty()),
            "Ok for shapes {:?} and {:?}",
            prediction.shape(),
            target.shape()
        );
        if let Ok((loss, grad)) = &mse {
            check!(
                grad.shape() == prediction.shape(),
                "a gradient of shape {:?}",
                grad.shape()
            );
            check!(
                !tame || (loss.is_finite() && *loss >= 0.0 && finite(grad)),
                "loss {loss}, gradient {grad} from finite inputs"
            );
            let expected = (&prediction - &target).map(|d| d * d).sum() / prediction.len() as f64;
            check!(
                !tame || (loss - expected).abs() <= 1e-12 * expected.abs().max(1e-300),
                "loss {loss}, the mean of squares is {expected}"
            );
            let n = prediction.len() as f64;
            let expected = (&prediction - &target).map(|d| 2.0 * d / n);
            check!(
                !tame || (grad - &expected).amax() <= 1e-15 * (1.0 + expected.amax()),
                "a gradient {grad}, expected 2 (ŷ − y) / N = {expected}"
            );
        }
        let logits = prediction;
        for (entry, result) in [
            (
                "loss::log_softmax",
                call!("loss::log_softmax", rnn_core::loss::log_softmax(&logits, tau); "logits {:?}, temperature {tau:e}", logits.shape()),
            ),
            (
                "loss::softmax",
                call!("loss::softmax", rnn_core::loss::softmax(&logits, tau); "logits {:?}, temperature {tau:e}", logits.shape()),
            ),
        ] {
            check!(tau_ok || result.is_err(), "{entry}: Ok for temperature {tau:e}");
            let Ok(out) = &result else { continue };
            check!(
                out.shape() == logits.shape(),
                "{entry}: shape {:?} for logits {:?}",
                out.shape(),
                logits.shape()
            );
            if all_finite && rows > 0 {
                check!(
                    out.iter().all(|x| !x.is_nan()),
                    "{entry}: NaN from finite logits {logits} at temperature {tau:e}: {out}"
                );
                if entry == "loss::softmax" {
                    for column in out.column_iter() {
                        let sum: f64 = column.sum();
                        check!(
                            column.iter().all(|&p| (0.0..=1.0).contains(&p)) && (sum - 1.0).abs() <= 1e-12,
                            "{entry}: a column {column} (sum {sum}) from logits {logits}, temperature {tau:e}"
                        );
                    }
                } else {
                    check!(
                        out.iter().all(|&x| x <= 0.0),
                        "{entry}: a log-probability above 0: {out}"
                    );
                }
                if tame && moderate(tau) {
                    check!(
                        finite(out),
                        "{entry}: not finite from logits {logits} at temperature {tau:e}: {out}"
                    );
                }
            }
        }
        let n = c.targets.len().min(cols + 1);
        let targets: Vec<usize> = c.targets[..n]
            .iter()
            .map(|&y| if y == usize::MAX { y } else { y % (rows + 1) })
            .collect();
        let ce = call!("loss::cross_entropy", rnn_core::loss::cross_entropy(&logits, &targets, tau); "logits {:?}, targets {targets:?}, temperature {tau:e}", logits.shape());
        let (rows, cols) = logits.shape();
        let valid =
            tau_ok && targets.len() == cols && cols > 0 && rows > 0 && targets.iter().all(|&y| y < rows);
        check!(valid || ce.is_err(), "Ok for invalid arguments");
        if let Ok((loss, grad)) = &ce {
            check!(
                grad.shape() == logits.shape(),
                "a gradient of shape {:?}",
                grad.shape()
            );
            if all_finite {
                check!(
                    !loss.is_nan() && *loss >= -1e-12 && grad.iter().all(|x| !x.is_nan()),
                    "loss {loss}, gradient {grad} from finite logits {logits} at temperature {tau:e}"
                );
                if tame && moderate(tau) {
                    check!(
                        loss.is_finite() && finite(grad),
                        "loss {loss}, gradient {grad} from logits {logits} at temperature {tau:e}"
                    );
                    // −(1/B) Σ_b log softmax(z_b / τ)[y_b], and (softmax − onehot) / (τ B).
                    if let (Ok(log_p), Ok(p)) = (
                        rnn_core::loss::log_softmax(&logits, tau),
                        rnn_core::loss::softmax(&logits, tau),
                    ) {
                        let b = targets.len() as f64;
                        let expected = -targets
                            .iter()
                            .enumerate()
                            .map(|(j, &y)| log_p[(y, j)])
                            .sum::<f64>()
                            / b;
                        check!(
                            (loss - expected).abs() <= 1e-12 * (1.0 + expected.abs()),
                            "loss {loss}, −mean log softmax[y] is {expected}"
                        );
                        let mut onehot = DMatrix::zeros(rows, cols);
                        for (j, &y) in targets.iter().enumerate() {
                            onehot[(y, j)] = 1.0;
                        }
                        let expected = (p - onehot) / (tau * b);
                        check!(
                            (grad - &expected).amax() <= 1e-12 * (1.0 + expected.amax()),
                            "a gradient {grad}, (softmax − onehot) / (τ B) is {expected}"
                        );
                    }
                    for column in grad.column_iter() {
                        check!(
                            column.sum().abs() <= 1e-9 / tau,
                            "a gradient column summing to {} (expected 0): {grad}",
                            column.sum()
                        );
                    }
                }
            }
        }
        // The same in f32 (where 1e-45 is a subnormal temperature).
        let logits32 = logits.map(|x| x as f32);
        let tau32 = tau as f32;
        for (entry, result) in [
            (
                "loss::softmax",
                call!("loss::softmax", rnn_core::loss::softmax(&logits32, tau32); "f32 logits {:?}, temperature {tau32:e}", logits.shape()),
            ),
            (
                "loss::log_softmax",
                call!("loss::log_softmax", rnn_core::loss::log_softmax(&logits32, tau32); "f32 logits {:?}, temperature {tau32:e}", logits.shape()),
            ),
        ] {
            if let Ok(out) = &result
                && logits32.iter().all(|x| x.is_finite())
            {
                check!(
                    out.iter().all(|x| !x.is_nan()),
                    "{entry}: NaN from finite f32 logits {logits32} at temperature {tau32:e}: {out}"
                );
            }
        }
        let ce32 = call!("loss::cross_entropy", rnn_core::loss::cross_entropy(&logits32, &targets, tau as f32); "f32 logits {:?}, targets {targets:?}, temperature {tau:e}", logits.shape());
        if let Ok((loss, grad)) = &ce32 {
            check!(
                grad.shape() == logits.shape(),
                "a gradient of shape {:?}",
                grad.shape()
            );
            if tame && moderate(tau) {
                check!(
                    loss.is_finite() && grad.iter().all(|x| x.is_finite()),
                    "loss {loss}, gradient {grad} (f32) from logits {logits32} at temperature {tau:e}"
                );
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Clipping.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct ClipCase {
    len: usize,
    dense: (usize, usize),
    limit: f64,
    scale: f64,
    pool: Pool,
}

fn clip_case() -> impl Strategy<Value = ClipCase> {
    (
        0..=12usize,
        (0..=3usize, 0..=3usize),
        prop_oneof![3 => setting(), 1 => 0.0..5.0f64],
        prop::sample::select(vec![1.0, 1.0, 1.0, 1e-300, 1e150, 1e300, 1e-320]),
        pool(),
    )
        .prop_map(|(len, dense, limit, scale, pool)| ClipCase {
            len,
            dense,
            limit,
            scale,
            pool,
        })
}

/// ‖g‖₂ in f64, scaled like the library's (for comparison).
fn reference_norm(values: &[f64]) -> f64 {
    let largest = values.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    largest * values.iter().map(|x| (x / largest).powi(2)).sum::<f64>().sqrt()
}

fn clip_checks<P: ParamSet<f64> + std::fmt::Debug>(
    grad: &P,
    limit: f64,
    what: &str,
) -> Result<(), TestCaseError> {
    let before = grad.to_flat();
    let all_finite = before.iter().all(|x| x.is_finite());
    let limit_ok = limit.is_finite() && limit >= 0.0;
    let norm =
        call!("clip::global_norm", rnn_core::clip::global_norm(grad); "{what} of {} entries", before.len());
    let reference = reference_norm(&before);
    if all_finite {
        check!(
            norm >= 0.0 && (norm.is_finite() || !reference.is_finite() || reference > 1e307),
            "norm {norm} of finite entries {before:?}"
        );
        check!(
            (norm - reference).abs() <= 1e-12 * reference || !reference.is_finite(),
            "norm {norm}, expected {reference} for {before:?}"
        );
    }
    let mut clipped = grad.clone();
    let result = call!("clip::clip_global_norm", rnn_core::clip::clip_global_norm(&mut clipped, limit); "{what} of norm {norm:e}, max_norm {limit:e}");
    check!(limit_ok || result.is_err(), "Ok for max_norm {limit:e}");
    let after = clipped.to_flat();
    match &result {
        Err(_) => check!(
            same_params(&clipped, grad),
            "an error, but the gradient changed: {before:?} → {after:?}"
        ),
        Ok(returned) => {
            check!(
                returned.to_bits_eq(&norm),
                "returned norm {returned}, global_norm says {norm}"
            );
            let new_norm = rnn_core::clip::global_norm(&clipped);
            if norm <= limit {
                check!(
                    same_params(&clipped, grad),
                    "a gradient of norm {norm} ≤ {limit} changed: {before:?} → {after:?}"
                );
            } else {
                check!(
                    // (1e-10, not 1e-12: a norm near f64::MAX makes the scale τ/‖g‖ subnormal.)
                    new_norm <= limit * (1.0 + 1e-10) + f64::MIN_POSITIVE
                        && after.iter().all(|x| x.is_finite()),
                    "norm {new_norm} after clipping to {limit:e}: {before:?} → {after:?}"
                );
            }
        }
    }
    let mut clamped = grad.clone();
    let result = call!("clip::clip_elementwise", rnn_core::clip::clip_elementwise(&mut clamped, limit); "{what}, limit {limit:e}");
    check!(limit_ok || result.is_err(), "Ok for limit {limit:e}");
    let after = clamped.to_flat();
    match &result {
        Err(_) => check!(
            same_params(&clamped, grad),
            "an error, but the gradient changed: {before:?} → {after:?}"
        ),
        Ok(()) => {
            for (x, y) in before.iter().zip(&after) {
                let expected = if x.is_nan() { *x } else { x.clamp(-limit, limit) };
                check!(y.to_bits_eq(&expected), "{x} clamped to {y} with limit {limit:e}");
            }
        }
    }
    Ok(())
}

fn prop_clip() -> Outcome {
    run_property("clipping", 2000, clip_case(), |c| {
        let mut mk = Maker::new(&c.pool, None);
        let values: Vec<f64> = mk.values::<f64>(c.len).iter().map(|x| x * c.scale).collect();
        clip_checks(&rnn_core::clip::Flat(values.clone()), c.limit, "Flat")?;
        let (o, i) = c.dense;
        let dense = rnn_core::dense::DenseGrad {
            w: mk.matrix::<f64>(o, i).map(|x| x * c.scale),
            b: DVector::from_vec(mk.values(o)),
        };
        clip_checks(&dense, c.limit, "DenseGrad")?;
        let cell =
            Elman::<f64>::new(ElmanDims { H: 2, I: 1 }).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut grad = cell.zero_grad();
        let flat: Vec<f64> = mk
            .values::<f64>(grad.param_count())
            .iter()
            .map(|x| x * c.scale)
            .collect();
        grad.set_flat(&flat)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        clip_checks(&(grad, dense), c.limit, "(ElmanGrad, DenseGrad)")?;
        // f32: the norm must not overflow for entries near f32::MAX either.
        let values32: Vec<f32> = values.iter().map(|&x| x as f32).collect();
        let norm32 = call!("clip::global_norm", rnn_core::clip::global_norm(&rnn_core::clip::Flat(values32.clone())); "f32 Flat of {} entries", values32.len());
        let reference = reference_norm(&values32.iter().map(|&x| f64::from(x)).collect::<Vec<_>>());
        if values32.iter().all(|x| x.is_finite()) && reference < 3e38 {
            check!(
                (f64::from(norm32) - reference).abs() <= 1e-5 * reference,
                "f32 norm {norm32}, expected {reference}"
            );
        }
        let mut g32 = rnn_core::clip::Flat(values32);
        let r = call!("clip::clip_global_norm", rnn_core::clip::clip_global_norm(&mut g32, c.limit as f32); "f32 Flat, max_norm {}", c.limit as f32);
        check!(
            (c.limit as f32).is_finite() && c.limit >= 0.0 || r.is_err(),
            "Ok for max_norm {}",
            c.limit as f32
        );
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Optimizers.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct OptimCase {
    kind: usize,
    /// Parameters: a dense layer of this shape...
    params: (usize, usize),
    /// ...and gradients of this shape (the same mostly; the same count, transposed, sometimes).
    grads: (usize, usize),
    settings: (f64, f64, f64, f64),
    /// A state to restore: its length and whether to take it from another run.
    state_len: usize,
    steps: usize,
    pool: Pool,
}

fn optim_case() -> impl Strategy<Value = OptimCase> {
    let lr = prop_oneof![4 => 0.0..0.5f64, 1 => setting()];
    let beta = prop_oneof![4 => 0.0..0.999f64, 1 => setting()];
    let eps = prop_oneof![4 => Just(1e-8), 1 => setting()];
    (
        0..3usize,
        (0..=3usize, 0..=3usize),
        prop_oneof![4 => Just(None), 1 => (0..=3usize, 0..=3usize).prop_map(Some)],
        (lr, beta.clone(), beta, eps),
        0..=20usize,
        1..=3usize,
        pool(),
    )
        .prop_map(
            |(kind, params, grads, settings, state_len, steps, pool)| OptimCase {
                kind,
                params,
                grads: grads.unwrap_or(params),
                settings,
                state_len,
                steps,
                pool,
            },
        )
}

/// Runs the optimizer; `valid` says whether its settings are in range.
/// `kind`: 0 SGD, 1 momentum, 2 Adam.
fn optimizer_checks<O: rnn_core::optim::Optimizer<f64> + std::fmt::Debug>(
    mut opt: O,
    valid: bool,
    c: &OptimCase,
) -> Result<(), TestCaseError> {
    let kind = c.kind;
    // Finite results are required of moderate settings (a momentum of 1e308 overflows).
    let (lr, beta1, _, eps) = c.settings;
    let moderate_settings = lr <= 1e3 && beta1 <= 1e3 && eps <= 1e3;
    let mut mk = Maker::new(&c.pool, None);
    let (r, k) = c.params;
    let mut params = rnn_core::dense::Dense {
        w: mk.matrix::<f64>(r, k),
        b: DVector::from_vec(mk.values(r)),
    };
    let same_layout = c.grads == c.params;
    let tame = c.pool.tame();
    for step in 0..c.steps {
        let (gr, gk) = c.grads;
        let grads = rnn_core::dense::DenseGrad {
            w: mk.matrix::<f64>(gr, gk),
            b: DVector::from_vec(mk.values(gr)),
        };
        let before = params.clone();
        let state_before = opt.state();
        let result = call!("Optimizer::step", opt.step(&mut params, &grads); "{opt:?} at step {step}: params {:?}, grads {:?}", (r, k), (gr, gk));
        check!(
            result.is_err() || same_layout,
            "Ok for gradients of shape {:?} on parameters {:?}",
            (gr, gk),
            (r, k)
        );
        check!(result.is_err() || valid, "Ok for invalid settings");
        match &result {
            Err(_) => {
                check!(
                    same_params(&params, &before),
                    "an error, but the parameters changed"
                );
                check!(
                    opt.state().len() == state_before.len(),
                    "an error, but the state changed"
                );
            }
            Ok(()) => {
                check!(
                    !tame || !moderate_settings || params_finite(&params),
                    "parameters {params:?} not finite from finite parameters and gradients"
                );
                // The rules themselves, where they are simple: SGD (and momentum's first step,
                // b = g) is θ − η g; Adam's first step moves no entry by more than η.
                let (old, new, g) = (before.to_flat(), params.to_flat(), grads.to_flat());
                if tame && moderate_settings {
                    let plain = kind == 0 || (kind == 1 && state_before.is_empty());
                    for ((o, x), gi) in old.iter().zip(&new).zip(&g) {
                        if plain {
                            check!(
                                x.to_bits_eq(&(o - lr * gi)),
                                "θ = {o}, g = {gi}, η = {lr}: {x}, not θ − η g"
                            );
                        }
                        if kind == 2 && state_before.len() == 1 {
                            check!(
                                (x - o).abs() <= lr * (1.0 + 1e-9),
                                "a first Adam step of {} with η = {lr}",
                                x - o
                            );
                        }
                    }
                }
            }
        }
    }
    let n = params.param_count();
    let state = call!("Optimizer::state", opt.state(); "{opt:?}");
    let restored = call!("Optimizer::set_state", opt.set_state(&state); "{opt:?}, its own state of {} values", state.len());
    let finite_state = state.iter().all(|x| x.is_finite());
    check!(
        restored.is_ok() || !finite_state,
        "Err for its own state: {restored:?}"
    );
    let checked = call!("Optimizer::check_state", opt.check_state(&state, n); "{opt:?}, its own state of {} values, {n} params", state.len());
    check!(
        checked.is_ok() || !finite_state,
        "Err for its own state: {checked:?}"
    );
    let random: Vec<f64> = mk.values(c.state_len);
    let before = opt.state();
    let checked =
        call!("Optimizer::check_state", opt.check_state(&random, n); "{opt:?}, state {random:?}, {n} params");
    check!(same_state(&opt.state(), &before), "check_state changed the state");
    let set = call!("Optimizer::set_state", opt.set_state(&random); "{opt:?}, state {random:?}");
    if set.is_err() {
        check!(
            same_state(&opt.state(), &before),
            "an error, but the state changed"
        );
    }
    if checked.is_ok() {
        check!(
            set.is_ok(),
            "check_state accepted {random:?} but set_state refused it: {set:?}"
        );
    }
    // A step after restoring an arbitrary state.
    let grads = rnn_core::dense::DenseGrad {
        w: mk.matrix::<f64>(r, k),
        b: DVector::from_vec(mk.values(r)),
    };
    let before = params.clone();
    let result =
        call!("Optimizer::step", opt.step(&mut params, &grads); "{opt:?} after set_state({random:?})");
    match &result {
        Err(_) => check!(
            same_params(&params, &before),
            "an error, but the parameters changed"
        ),
        Ok(()) => check!(
            !tame || !moderate_settings || params_finite(&params),
            "parameters {params:?} not finite after set_state({random:?})"
        ),
    }
    Ok(())
}

fn same_state(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits_eq(y))
}

fn prop_optim() -> Outcome {
    use rnn_core::optim::{Adam, Momentum, Sgd};
    run_property("optimizers", 2500, optim_case(), |c| {
        let (lr, beta1, beta2, eps) = c.settings;
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        match c.kind {
            0 => optimizer_checks(Sgd { learning_rate: lr }, ok(lr), &c),
            1 => optimizer_checks(Momentum::new(lr, beta1), ok(lr) && ok(beta1), &c),
            _ => {
                let mut adam = Adam::new(lr);
                adam.beta1 = beta1;
                adam.beta2 = beta2;
                adam.epsilon = eps;
                optimizer_checks(
                    adam,
                    ok(lr) && ok(eps) && ok(beta1) && ok(beta2) && beta1 < 1.0 && beta2 < 1.0,
                    &c,
                )
            }
        }?;
        // Gradients of one cell handed to an optimizer stepping another with the same number
        // of parameters: Elman (H 2, I 1) and (H 1, I 6) both have 8.
        let mut a = Elman::<f64>::init(ElmanDims { H: 2, I: 1 }, 1)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let b = Elman::<f64>::init(ElmanDims { H: 1, I: 6 }, 2)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let before = a.clone();
        let r = call!("Optimizer::step", Sgd { learning_rate: 0.1 }.step(&mut a, &b.zero_grad()); "Elman (2, 1) params, Elman (1, 6) gradients");
        check!(
            r.is_err() && same_params(&a, &before),
            "Ok for the gradients of another cell with as many parameters"
        );
        // Adam's first step moves no entry by more than η, whatever ε > 0 and however small the
        // gradient (g² may underflow to 0).
        let mut adam = Adam::new(0.1_f64);
        adam.beta1 = 0.76;
        adam.beta2 = 0.1;
        adam.epsilon = 5e-324;
        let mut p = rnn_core::clip::Flat(vec![0.0_f64, 0.0]);
        let r = call!("Optimizer::step", adam.step(&mut p, &rnn_core::clip::Flat(vec![-1e-300, 1.0])); "Adam (η 0.1, β₁ 0.76, β₂ 0.1, ε 5e-324), params [0, 0], gradients [-1e-300, 1]");
        check!(
            r.is_err() || p.0.iter().all(|x| x.abs() <= 0.1 * (1.0 + 1e-9)),
            "a first step to {:?} (η = 0.1)",
            p.0
        );
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Dense layers.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct DenseCase {
    shape: (usize, usize),
    batch: usize,
    seed: u64,
    /// Replace `w` or `b` by a matrix of another shape, or set them from the pool.
    edit: usize,
    jitter: Option<(usize, Jitter)>,
    pool: Pool,
}

fn dense_case() -> impl Strategy<Value = DenseCase> {
    (
        (0..=4usize, 0..=4usize),
        0..=4usize,
        any::<u64>(),
        0..6usize,
        jitter(),
        pool(),
    )
        .prop_map(|(shape, batch, seed, edit, jitter, pool)| DenseCase {
            shape,
            batch,
            seed,
            edit,
            jitter,
            pool,
        })
}

fn prop_dense() -> Outcome {
    use rnn_core::dense::Dense;
    run_property("dense", 2500, dense_case(), |c| {
        let (o, i) = c.shape;
        let made = call!("Dense::init", Dense::<f64>::init(o, i, c.seed); "outputs {o}, inputs {i}");
        check!((o > 0 && i > 0) == made.is_ok(), "{made:?} for {o} × {i}");
        let Ok(mut dense) = made else { return Ok(()) };
        check!(
            dense.w.shape() == (o, i) && dense.b.len() == o && finite(&dense.w),
            "a layer {dense:?}"
        );
        let bound = (6.0 / (o + i) as f64).sqrt();
        check!(
            dense.w.iter().all(|x| x.abs() <= bound),
            "Xavier weights beyond ±{bound}: {}",
            dense.w
        );
        let mut mk = Maker::new(&c.pool, c.jitter);
        match c.edit {
            0 => dense.w = mk.matrix(o, i + 1),
            1 => dense.b = DVector::from_vec(mk.values(o + 1)),
            _ => {
                dense.w = mk.matrix(o, i);
                dense.b = DVector::from_vec(mk.values(o));
            }
        }
        let h: DMatrix<f64> = mk.matrix(i, c.batch);
        let tame = c.pool.tame();
        let o = dense.w.nrows();
        let valid = dense.b.len() == o && h.nrows() == dense.w.ncols();
        let y = call!("Dense::forward", dense.forward(&h); "w {:?}, b {}, h {:?}", dense.w.shape(), dense.b.len(), h.shape());
        expect_ok(&y, valid)?;
        if let Ok(y) = &y {
            check!(valid, "Ok for mismatched shapes");
            check!(
                y.shape() == (o, h.ncols()) && (!tame || finite(y)),
                "an output {y}"
            );
            if tame {
                let mut expected = &dense.w * &h;
                for mut column in expected.column_iter_mut() {
                    column += &dense.b;
                }
                check!(
                    (y - &expected).amax() <= 1e-12 * (1.0 + expected.amax()),
                    "an output {y}, W h + b is {expected}"
                );
            }
        }
        let d_y: DMatrix<f64> = mk.matrix(o, c.batch);
        let back = call!("Dense::backward", dense.backward(&h, &d_y); "w {:?}, b {}, h {:?}, d_y {:?}", dense.w.shape(), dense.b.len(), h.shape(), d_y.shape());
        let valid = valid && d_y.shape() == (o, h.ncols());
        expect_ok(&back, valid)?;
        check!(back.is_err() || valid, "Ok for mismatched shapes");
        if let Ok((g, d_h)) = &back {
            let (i, batch) = h.shape();
            check!(
                g.w.shape() == (o, i) && g.b.len() == o && d_h.shape() == (i, batch),
                "gradients {:?} {} {:?}",
                g.w.shape(),
                g.b.len(),
                d_h.shape()
            );
            if tame {
                let w = &d_y * h.transpose();
                let close = |a: &DMatrix<f64>, b: &DMatrix<f64>| (a - b).amax() <= 1e-12 * (1.0 + b.amax());
                check!(
                    close(&g.w, &w) && close(d_h, &dense.w.tr_mul(&d_y)),
                    "gradients unlike dL/dW = dY Hᵀ, dL/dH = Wᵀ dY"
                );
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Echo state networks.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct EsnCase {
    config: rnn_core::esn::EsnConfig,
    io: (usize, usize),
    steps: usize,
    batch: usize,
    generate: usize,
    /// Which public field to edit before fitting (none mostly).
    edit: usize,
    matrix: (usize, usize),
    ridge: f64,
    jitter: Option<(usize, Jitter)>,
    pool: Pool,
}

fn esn_case() -> impl Strategy<Value = EsnCase> {
    let config = (
        prop_oneof![1 => Just(0usize), 8 => 1..=6usize],
        prop_oneof![3 => 0.1..1.5f64, 1 => setting()],
        prop_oneof![3 => 0.3..=1.0f64, 1 => setting()],
        prop_oneof![3 => 0.1..2.0f64, 1 => setting()],
        prop_oneof![3 => 0.0..1.0f64, 1 => setting()],
        prop_oneof![3 => 0.1..=1.0f64, 1 => setting()],
        prop_oneof![3 => 1e-8..1e-2f64, 1 => setting()],
        0..=6usize,
        any::<u64>(),
    )
        .prop_map(
            |(
                reservoir_size,
                spectral_radius,
                density,
                input_scaling,
                bias_scaling,
                leak,
                ridge,
                washout,
                seed,
            )| {
                rnn_core::esn::EsnConfig {
                    reservoir_size,
                    spectral_radius,
                    density,
                    input_scaling,
                    bias_scaling,
                    leak,
                    ridge,
                    washout,
                    seed,
                }
            },
        );
    (
        config,
        (0..=3usize, 0..=3usize),
        0..=10usize,
        0..=3usize,
        0..=4usize,
        prop_oneof![6 => Just(9usize), 1 => 0..9usize],
        (0..=4usize, 0..=4usize),
        prop_oneof![3 => 1e-6..1.0f64, 1 => setting()],
        jitter(),
        pool(),
    )
        .prop_map(
            |(config, io, steps, batch, generate, edit, matrix, ridge, jitter, pool)| EsnCase {
                config,
                io,
                steps,
                batch,
                generate,
                edit,
                matrix,
                ridge,
                jitter,
                pool,
            },
        )
}

fn prop_esn() -> Outcome {
    use rnn_core::esn::{self, EchoStateNetwork};
    run_property("echo state networks", 1500, esn_case(), |c| {
        let tame = c.pool.tame();
        let mut mk = Maker::new(&c.pool, c.jitter);
        // The free functions first.
        let (r, k) = c.matrix;
        let m: DMatrix<f64> = mk.matrix(r, k);
        let radius = call!("esn::spectral_radius", esn::spectral_radius(&m); "{}", m_text(&m));
        // ‖M‖_F, scaled so that tiny entries do not underflow when squared.
        let frobenius = reference_norm(m.as_slice());
        if let Ok(radius) = radius {
            check!(
                m.is_square() && m.iter().all(|x| x.is_finite()),
                "Ok for a non-square or non-finite matrix"
            );
            check!(
                radius >= 0.0 && radius <= frobenius * (1.0 + 1e-9),
                "a radius beyond [0, ‖M‖_F]: {radius} (Frobenius norm {frobenius})"
            );
        }
        let features: DMatrix<f64> = mk.matrix(r, k);
        let targets: DMatrix<f64> = mk.matrix(c.io.1, k);
        let fit = call!("esn::ridge_regression", esn::ridge_regression(&features, &targets, c.ridge); "features {:?}, targets {:?}, ridge {:e}", features.shape(), targets.shape(), c.ridge);
        check!(
            fit.is_err()
                || (c.ridge > 0.0 && c.ridge.is_finite() && features.ncols() == targets.ncols() && k > 0),
            "Ok for invalid arguments"
        );
        if let Ok(readout) = &fit {
            check!(
                readout.w.shape() == (targets.nrows(), features.nrows())
                    && readout.b.len() == targets.nrows(),
                "a readout {:?} / {}",
                readout.w.shape(),
                readout.b.len()
            );
            check!(
                !tame || c.ridge < 1e-200 || (finite(&readout.w) && readout.b.iter().all(|x| x.is_finite())),
                "a non-finite readout {readout:?} from finite data"
            );
        }
        let predicted: DMatrix<f64> = mk.matrix(r, k);
        let (pr, pk) = predicted.shape();
        let taller = DMatrix::from_fn(pr + 1, pk, |i, j| if i < pr { predicted[(i, j)] } else { 0.5 });
        let mismatched = call!("esn::nrmse", esn::nrmse(&taller, &m); "predicted {:?}, target {:?}", taller.shape(), m.shape());
        check!(
            mismatched.is_err() || taller.shape() == m.shape(),
            "Ok for shapes {:?} and {:?}",
            taller.shape(),
            m.shape()
        );
        let score = call!("esn::nrmse", esn::nrmse(&predicted, &m); "predicted {:?}, target {:?}", predicted.shape(), m.shape());
        if let Ok(score) = score {
            check!(
                score.is_finite() && score >= 0.0,
                "a NRMSE not finite: {score} of {} against {}",
                m_text(&predicted),
                m_text(&m)
            );
        }

        // A network.
        let (inputs, outputs) = c.io;
        let config = c.config;
        let made = call!("EchoStateNetwork::new", EchoStateNetwork::new(inputs, outputs, config); "inputs {inputs}, outputs {outputs}, {config:?}");
        let Ok(mut net) = made else { return Ok(()) };
        let n = config.reservoir_size;
        check!(n > 0 && inputs > 0 && outputs > 0, "Ok for zero sizes");
        check!(
            net.reservoir.w.shape() == (n, n)
                && net.reservoir.w_in.shape() == (n, inputs)
                && net.readout.w.shape() == (outputs, n),
            "a network of shapes {:?} {:?} {:?}",
            net.reservoir.w.shape(),
            net.reservoir.w_in.shape(),
            net.readout.w.shape()
        );
        let finite_config = config.input_scaling.is_finite() && config.bias_scaling.is_finite();
        check!(
            !finite_config
                || (finite(&net.reservoir.w)
                    && finite(&net.reservoir.w_in)
                    && net.reservoir.b.iter().all(|x| x.is_finite())),
            "a non-finite reservoir from {config:?}"
        );
        if let Ok(radius) = esn::spectral_radius(&net.reservoir.w) {
            check!(
                (radius - config.spectral_radius).abs() <= 1e-6 * (1.0 + config.spectral_radius),
                "spectral radius {radius}, {} asked",
                config.spectral_radius
            );
        }
        match c.edit {
            0 => net.reservoir.w = mk.matrix(n + 1, n),
            1 => net.reservoir.w_in = mk.matrix(n, inputs + 1),
            2 => net.readout.w = mk.matrix(outputs, n + 1),
            3 => net.readout.b = DVector::from_vec(mk.values(outputs + 1)),
            4 => net.reservoir.leak = f64::NAN,
            5 => net.washout = usize::MAX,
            6 => net.ridge = -1.0,
            7 => net.reservoir.b = DVector::from_vec(mk.values(n + 1)),
            8 => net.readout.w = mk.matrix(inputs, n),
            _ => {}
        }
        let edited = c.edit < 8;
        // A NaN leak rate (edit 4) or a non-finite scaling makes every state NaN, rightly.
        // (Scalings near f64::MAX make pre-activations that f64 cannot hold: ∞ − ∞ is then
        // rightly NaN.)
        let moderate_config = [config.input_scaling, config.bias_scaling, config.spectral_radius]
            .iter()
            .all(|x| x.abs() <= 1e100);
        let tame = tame && c.edit != 4 && finite_config && moderate_config;
        let xs = mk.matrices::<f64>(inputs, c.batch, c.steps);
        let ys = mk.matrices::<f64>(outputs, c.batch, c.steps);
        // The batch the network sees: the first input's columns (a perturbed case may add one).
        let batch = xs.first().map_or(c.batch, DMatrix::ncols);
        let args = || {
            format!(
                "network {n} units, {inputs} in, {outputs} out (edit {}): inputs {}, targets {}",
                c.edit,
                matrices_text(&xs),
                matrices_text(&ys)
            )
        };
        let states = call!("EchoStateNetwork::states", net.states(&xs); "{}", args());
        if let Ok(states) = &states {
            check!(
                states.len() == c.steps
                    && states
                        .iter()
                        .all(|x| x.shape() == (n, batch) && (!tame || finite(x))),
                "states {}",
                matrices_text(states)
            );
        }
        let fit = call!("EchoStateNetwork::fit", net.fit(&xs, &ys); "{}", args());
        if let Ok(fit) = &fit {
            check!(
                fit.nrmse.is_finite() && fit.nrmse >= 0.0,
                "NRMSE {} from a fit",
                fit.nrmse
            );
            check!(
                fit.samples == (c.steps - net.washout.min(c.steps)) * batch,
                "{} samples from {} steps of {} after a washout of {}",
                fit.samples,
                c.steps,
                batch,
                net.washout
            );
            check!(
                !edited || c.edit == 2 || c.edit == 3 || c.edit == 8,
                "Ok after edit {}",
                c.edit
            );
            // The NRMSE reported is that of the trained readout's predictions after the washout.
            if let (Ok(predicted), false) = (net.predict(&xs), mk.perturbed()) {
                let w = net.washout.min(c.steps);
                let p = DMatrix::from_fn(outputs, (c.steps - w) * batch, |r, k| {
                    predicted[w + k / batch][(r, k % batch)]
                });
                let t = DMatrix::from_fn(outputs, (c.steps - w) * batch, |r, k| {
                    ys[w + k / batch][(r, k % batch)]
                });
                if let Ok(expected) = esn::nrmse(&p, &t) {
                    check!(
                        (fit.nrmse - expected).abs() <= 1e-9 * (1.0 + expected),
                        "NRMSE {} from a fit, the predictions give {expected}",
                        fit.nrmse
                    );
                }
            }
        }
        let predicted = call!("EchoStateNetwork::predict", net.predict(&xs); "{}", args());
        if let Ok(ys) = &predicted {
            check!(
                ys.len() == c.steps
                    && ys.iter().all(|y| y.shape() == (net.readout.w.nrows(), batch)
                        && (!tame || fit.is_err() || finite(y))),
                "predictions {}",
                matrices_text(ys)
            );
        }
        let generated = call!("EchoStateNetwork::generate", net.generate(&xs, c.generate); "{}, {} steps", args(), c.generate);
        // The first generated output is the prediction after the warm-up inputs.
        if let (Ok(ys), Ok(ps)) = (&generated, &predicted)
            && let (Some(y), Some(p)) = (ys.first(), ps.last())
            && tame
        {
            check!(
                same_matrix(y, p),
                "a first generated output {} unlike the last prediction {}",
                m_text(y),
                m_text(p)
            );
        }
        if let Ok(ys) = &generated {
            check!(
                ys.len() == c.generate && ys.iter().all(|y| y.shape() == (inputs, batch)),
                "generated {} for {} steps",
                matrices_text(ys),
                c.generate
            );
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Weight files and checkpoints.
// ---------------------------------------------------------------------------------------------

/// A directory of this process for the files of the properties, removed at the end of each.
fn scratch_dir(what: &str) -> std::path::PathBuf {
    static COUNT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let k = COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("rnn-api-harness-{}-{what}-{k}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// An edit of a weight file's JSON header, or of its bytes.
#[derive(Clone, Debug)]
enum FileEdit {
    None,
    /// Tensor `k`'s dtype becomes this.
    Dtype(usize, &'static str),
    /// Tensor `k`'s shape becomes this.
    Shape(usize, Vec<u64>),
    /// Tensor `k`'s data offsets move by this much (begin, end).
    Offsets(usize, i64, i64),
    /// Tensor `k` is removed from the header.
    Drop(usize),
    /// Tensor `k` is renamed.
    Rename(usize, &'static str),
    /// Another tensor (a copy of tensor `k` under a new name).
    Extra(usize),
    /// The bytes are cut to this fraction.
    Truncate(f64),
    /// Byte `position` (a fraction of the length) is xor-ed with this.
    Flip(f64, u8),
    /// The 8-byte header length is replaced.
    HeaderLength(u64),
    /// Bytes from the pool instead of a file.
    Garbage(usize),
    /// A `__metadata__` entry, as PyTorch's `save_file(..., metadata=...)` writes: harmless.
    Metadata,
}

fn file_edit() -> impl Strategy<Value = FileEdit> {
    let k = 0..6usize;
    prop_oneof![
        6 => Just(FileEdit::None),
        1 => Just(FileEdit::Metadata),
        1 => (k.clone(), prop::sample::select(vec!["F16", "BF16", "I64", "F32", "F64", "BOOL", "U8", "F4", "C64", "XYZ", ""])).prop_map(|(k, d)| FileEdit::Dtype(k, d)),
        1 => (k.clone(), prop::collection::vec(prop_oneof![4 => 0..6u64, 1 => Just(1u64 << 40), 1 => Just(u64::MAX)], 0..=3)).prop_map(|(k, s)| FileEdit::Shape(k, s)),
        1 => (k.clone(), -9..=9i64, -9..=9i64).prop_map(|(k, a, b)| FileEdit::Offsets(k, a, b)),
        1 => k.clone().prop_map(FileEdit::Drop),
        1 => (k.clone(), prop::sample::select(vec!["weight_ih", "bias", "optimizer.state", "", "weight_hh_l0_reverse"])).prop_map(|(k, n)| FileEdit::Rename(k, n)),
        1 => k.prop_map(FileEdit::Extra),
        1 => (0.0..1.0f64).prop_map(FileEdit::Truncate),
        1 => (0.0..1.0f64, 1..=255u8).prop_map(|(p, x)| FileEdit::Flip(p, x)),
        1 => prop::sample::select(vec![0u64, 1, 7, 8, 1 << 20, 1 << 40, u64::MAX]).prop_map(FileEdit::HeaderLength),
        1 => (0..64usize).prop_map(FileEdit::Garbage),
    ]
}

/// The JSON header of a safetensors file.
type Header = serde_json::Map<String, serde_json::Value>;

/// Applies `edit` to the bytes of a safetensors file.
fn edit_file(bytes: &[u8], edit: &FileEdit, pool: &Pool) -> Vec<u8> {
    let header_edit = |f: &dyn Fn(&mut Header, &[String])| -> Vec<u8> {
        let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
        let mut header: Header = serde_json::from_slice(&bytes[8..8 + n]).expect("a JSON header");
        let mut keys: Vec<String> = header.keys().filter(|k| *k != "__metadata__").cloned().collect();
        keys.sort_by_key(|k| header[k]["data_offsets"][0].as_u64());
        f(&mut header, &keys);
        let text = serde_json::to_vec(&header).expect("JSON");
        let mut out = (text.len() as u64).to_le_bytes().to_vec();
        out.extend_from_slice(&text);
        out.extend_from_slice(&bytes[8 + n..]);
        out
    };
    let pick = |keys: &[String], k: usize| keys.get(k % keys.len().max(1)).cloned();
    match edit {
        FileEdit::None => bytes.to_vec(),
        FileEdit::Metadata => header_edit(&|h, _| {
            h.insert("__metadata__".to_owned(), serde_json::json!({ "format": "pt" }));
        }),
        FileEdit::Dtype(k, dtype) => header_edit(&|h, keys| {
            if let Some(key) = pick(keys, *k) {
                h[&key]["dtype"] = serde_json::json!(dtype);
            }
        }),
        FileEdit::Shape(k, shape) => header_edit(&|h, keys| {
            if let Some(key) = pick(keys, *k) {
                h[&key]["shape"] = serde_json::json!(shape);
            }
        }),
        FileEdit::Offsets(k, a, b) => header_edit(&|h, keys| {
            if let Some(key) = pick(keys, *k) {
                let offsets = &h[&key]["data_offsets"];
                let (s, e) = (offsets[0].as_u64().unwrap_or(0), offsets[1].as_u64().unwrap_or(0));
                h[&key]["data_offsets"] =
                    serde_json::json!([s.saturating_add_signed(*a), e.saturating_add_signed(*b)]);
            }
        }),
        FileEdit::Drop(k) => header_edit(&|h, keys| {
            if let Some(key) = pick(keys, *k) {
                h.remove(&key);
            }
        }),
        FileEdit::Rename(k, name) => header_edit(&|h, keys| {
            if let Some(key) = pick(keys, *k)
                && let Some(v) = h.remove(&key)
            {
                h.insert((*name).to_owned(), v);
            }
        }),
        FileEdit::Extra(k) => header_edit(&|h, keys| {
            if let Some(key) = pick(keys, *k) {
                let v = h[&key].clone();
                h.insert(format!("{key}_extra"), v);
            }
        }),
        FileEdit::Truncate(f) => bytes[..(bytes.len() as f64 * f) as usize].to_vec(),
        FileEdit::Flip(p, x) => {
            let mut out = bytes.to_vec();
            let i = ((out.len() as f64 * p) as usize).min(out.len().saturating_sub(1));
            if let Some(b) = out.get_mut(i) {
                *b ^= x;
            }
            out
        }
        FileEdit::HeaderLength(n) => {
            let mut out = bytes.to_vec();
            out[..8].copy_from_slice(&n.to_le_bytes());
            out
        }
        FileEdit::Garbage(n) => (0..*n)
            .map(|k| (pool.at(k).to_bits() >> (8 * (k % 8))) as u8)
            .collect(),
    }
}

#[derive(Clone, Debug)]
struct WeightsCase {
    combo: usize,
    dims: (usize, usize),
    other: (usize, usize),
    slots: ((Option<usize>, bool), (Option<usize>, bool)),
    vector: Option<usize>,
    edit: FileEdit,
    through_disk: bool,
    pool: Pool,
}

fn slot() -> impl Strategy<Value = (Option<usize>, bool)> {
    (
        prop_oneof![1 => Just(None), 3 => (0..=2usize).prop_map(Some), 1 => Just(Some(usize::MAX))],
        any::<bool>(),
    )
}

fn weights_case() -> impl Strategy<Value = WeightsCase> {
    (
        0..7usize,
        (1..=3usize, 1..=3usize),
        prop_oneof![3 => Just(None), 1 => (1..=3usize, 1..=3usize).prop_map(Some)],
        prop_oneof![3 => slot().prop_map(|s| (s, s)), 1 => (slot(), slot())],
        prop_oneof![2 => Just(None), 1 => (0..6usize).prop_map(Some)],
        file_edit(),
        prop::bool::weighted(0.2),
        pool(),
    )
        .prop_map(
            |(combo, dims, other, slots, vector, edit, through_disk, pool)| WeightsCase {
                combo,
                dims,
                other: other.unwrap_or(dims),
                slots,
                vector,
                edit,
                through_disk,
                pool,
            },
        )
}

fn make_slot((layer, reverse): (Option<usize>, bool)) -> rnn_core::weights::Slot {
    use rnn_core::weights::Slot;
    let slot = layer.map_or_else(Slot::cell, Slot::layer);
    if reverse { slot.reverse() } else { slot }
}

/// Writes `source` under one slot (with an optional extra vector), edits the file, and loads it
/// into `target` under another slot.
fn weights_round<
    TA: Scalar,
    A: ParamSet<TA> + std::fmt::Debug,
    TB: Scalar,
    B: ParamSet<TB> + std::fmt::Debug,
>(
    mut source: A,
    mut target: B,
    same: bool,
    c: &WeightsCase,
) -> Result<(), TestCaseError> {
    use rnn_core::weights::{WeightFile, WeightWriter};
    let values: Vec<TA> = Maker::new(&c.pool, None).values(source.param_count());
    let _ = source.set_flat(&values);
    let (slot_a, slot_b) = (make_slot(c.slots.0), make_slot(c.slots.1));
    let mut writer = call!("WeightWriter::new", WeightWriter::new());
    // Names: PyTorch's for the usual ones, any string kept otherwise.
    for name in ["w", "b", "w_", "b_", "", "w_ih", "bias", "ŵ_ħ", "w_b_c"] {
        let torch = call!("weights::torch_name", rnn_core::weights::torch_name(name); "{name:?}");
        let key = call!("Slot::key", slot_a.key(name); "{slot_a:?}, {name:?}");
        check!(
            key.starts_with(&torch),
            "key {key:?} of {name:?} does not start with its torch name {torch:?}"
        );
    }
    let added = call!("WeightWriter::add", writer.add(&source, slot_a).map(|_| ()); "{} params under {slot_a:?}", source.param_count());
    check!(added.is_ok(), "Err for one parameter set: {added:?}");
    let vector: Vec<TA> = Maker::new(&c.pool, None).values(c.vector.unwrap_or(0));
    if c.vector.is_some() {
        let added = call!("WeightWriter::add_vector", writer.add_vector("optimizer.state", &vector).map(|_| ()); "{} values", vector.len());
        check!(added.is_ok(), "Err for a fresh key: {added:?}");
    }
    let again = call!("WeightWriter::add", writer.add(&source, slot_a).map(|_| ()); "the same parameters again under {slot_a:?}");
    check!(
        again.is_err() || source.param_count() == 0,
        "Ok for duplicate keys"
    );
    // A set whose second half collides with its first: refused, and nothing of it kept.
    let before = writer.to_bytes();
    let other_slot = make_slot((Some(7), true));
    let pair = (source.clone(), source.clone());
    let twice = call!("WeightWriter::add", writer.add(&pair, other_slot).map(|_| ()); "a pair of parameter sets with the same names under {other_slot:?}");
    check!(
        twice.is_err() || source.param_count() == 0,
        "Ok for a set with duplicate names"
    );
    let after = writer.to_bytes();
    check!(
        source.param_count() == 0 || before.as_ref().ok() == after.as_ref().ok(),
        "an error, but part of the set was added to the writer"
    );
    let bytes = call!("WeightWriter::to_bytes", writer.to_bytes());
    let Ok(bytes) = bytes else {
        check!(false, "Err for a valid writer: {bytes:?}");
        return Ok(());
    };
    let edited = edit_file(&bytes, &c.edit, &c.pool);
    let unedited = matches!(c.edit, FileEdit::None | FileEdit::Metadata);
    let file = if c.through_disk {
        let dir = scratch_dir("weights");
        let path = dir.join("w.safetensors");
        let saved = call!("WeightWriter::save", writer.save(&path); "{}", path.display());
        check!(saved.is_ok(), "Err writing into a fresh directory: {saved:?}");
        if !unedited {
            let _ = std::fs::write(&path, &edited);
        }
        let opened = call!("WeightFile::open", WeightFile::open(&path); "{} ({:?})", path.display(), c.edit);
        let to_dir = call!("WeightWriter::save", writer.save(&dir); "onto the directory {}", dir.display());
        check!(to_dir.is_err() && dir.is_dir(), "Ok writing onto a directory");
        let missing = call!("WeightFile::open", WeightFile::open(dir.join("missing")); "a missing file");
        check!(missing.is_err(), "Ok for a missing file");
        let _ = std::fs::remove_dir_all(&dir);
        opened
    } else {
        call!("WeightFile::from_bytes", WeightFile::from_bytes(edited.clone()); "{} bytes ({:?})", edited.len(), c.edit)
    };
    check!(
        file.is_ok() || !unedited,
        "Err for an unedited file: {:?}",
        file.as_ref().err()
    );
    let Ok(mut file) = file else { return Ok(()) };
    let unused: Vec<String> = call!(
        "WeightFile::unused_keys",
        file.unused_keys().map(str::to_owned).collect()
    );
    let before = target.clone();
    let loaded = call!("WeightFile::load", file.load(&mut target, slot_b); "{} params under {slot_b:?} from a file of {unused:?} ({:?})", target.param_count(), c.edit);
    let compatible = same && slot_a == slot_b && unedited;
    check!(
        loaded.is_ok() || !compatible,
        "Err loading what was written: {:?}",
        loaded.as_ref().err()
    );
    match &loaded {
        Err(_) => check!(
            same_params(&target, &before),
            "an error, but the parameters changed"
        ),
        Ok(()) if compatible => {
            let (a, b) = (source.to_flat(), target.to_flat());
            check!(
                a.len() == b.len()
                    && a.iter()
                        .zip(&b)
                        .all(|(x, y)| x.real_part().to_bits() == y.real_part().to_bits()),
                "other values than written: {a:?} → {b:?}"
            );
        }
        Ok(()) => {}
    }
    let taken = call!("WeightFile::take_vector", file.take_vector::<TB>("optimizer.state"); "({:?})", c.edit);
    if let (Ok(v), true) = (&taken, unedited && c.vector.is_some()) {
        check!(
            v.len() == vector.len(),
            "{} values for {} written",
            v.len(),
            vector.len()
        );
    }
    let finished = call!("WeightFile::finish", file.finish());
    if compatible && loaded.is_ok() {
        check!(
            finished.is_ok() == (c.vector.is_none() || taken.is_ok()),
            "finish said {finished:?}"
        );
    }
    Ok(())
}

fn prop_weights() -> Outcome {
    run_property("weight files", 2000, weights_case(), |c| {
        let ((h, i), (h2, i2)) = (c.dims, c.other);
        let same = c.dims == c.other;
        let fail = |e: Error| TestCaseError::fail(e.to_string());
        match c.combo {
            0 => weights_round(
                Lstm::<f64>::new(LstmDims { H: h, I: i }).map_err(fail)?,
                Lstm::<f64>::init(LstmDims { H: h2, I: i2 }, 3).map_err(fail)?,
                same,
                &c,
            ),
            1 => weights_round(
                Lstm::<f32>::new(LstmDims { H: h, I: i }).map_err(fail)?,
                Lstm::<f64>::init(LstmDims { H: h2, I: i2 }, 3).map_err(fail)?,
                same,
                &c,
            ),
            2 => weights_round(
                Lstm::<f64>::new(LstmDims { H: h, I: i }).map_err(fail)?,
                Lstm::<f32>::init(LstmDims { H: h2, I: i2 }, 3).map_err(fail)?,
                false,
                &c,
            ),
            3 => weights_round(
                Gru::<f64>::new(GruDims { H: h, I: i }).map_err(fail)?,
                Lstm::<f64>::init(LstmDims { H: h2, I: i2 }, 3).map_err(fail)?,
                false,
                &c,
            ),
            4 => weights_round(
                RnnTanh::<f32>::new(RnnTanhDims { H: h, I: i }).map_err(fail)?,
                RnnTanh::<f32>::init(RnnTanhDims { H: h2, I: i2 }, 3).map_err(fail)?,
                same,
                &c,
            ),
            5 => weights_round(
                Elman::<f64>::new(ElmanDims { H: h, I: i }).map_err(fail)?,
                rnn_core::dense::Dense::<f64>::init(h2, i2, 3).map_err(fail)?,
                false,
                &c,
            ),
            _ => weights_round(
                Two::<f64>::new(TwoDims { H: h, I: i }).map_err(fail)?,
                Two::<f64>::init(TwoDims { H: h2, I: i2 }, 3).map_err(fail)?,
                same,
                &c,
            ),
        }
    })
}

#[derive(Clone, Debug)]
struct CheckpointCase {
    /// Parameter sets saved and loaded: Elman of these dims, or a dense layer.
    models: (usize, usize),
    dims: ((usize, usize), (usize, usize)),
    /// Optimizers saving and loading, and the steps taken before saving.
    optimizers: (usize, usize),
    steps: usize,
    slots: ((Option<usize>, bool), (Option<usize>, bool)),
    edit: FileEdit,
    pool: Pool,
}

fn checkpoint_case() -> impl Strategy<Value = CheckpointCase> {
    (
        prop_oneof![3 => (0..2usize).prop_map(|m| (m, m)), 1 => (0..2usize, 0..2usize)],
        prop_oneof![3 => (1..=3usize, 1..=3usize).prop_map(|d| (d, d)), 1 => ((1..=3usize, 1..=3usize), (1..=3usize, 1..=3usize))],
        prop_oneof![3 => (0..3usize).prop_map(|o| (o, o)), 1 => (0..3usize, 0..3usize)],
        0..=2usize,
        prop_oneof![3 => slot().prop_map(|s| (s, s)), 1 => (slot(), slot())],
        prop_oneof![4 => Just(FileEdit::None), 1 => file_edit()],
        pool(),
    )
        .prop_map(|(models, dims, optimizers, steps, slots, edit, pool)| CheckpointCase { models, dims, optimizers, steps, slots, edit, pool })
}

/// The three optimizers behind one type, so that any can save and any load.
#[derive(Clone, Debug)]
enum AnyOptimizer {
    Sgd(rnn_core::optim::Sgd<f64>),
    Momentum(rnn_core::optim::Momentum<f64>),
    Adam(rnn_core::optim::Adam<f64>),
}

fn any_optimizer(kind: usize) -> AnyOptimizer {
    match kind {
        0 => AnyOptimizer::Sgd(rnn_core::optim::Sgd { learning_rate: 0.1 }),
        1 => AnyOptimizer::Momentum(rnn_core::optim::Momentum::new(0.1, 0.9)),
        _ => AnyOptimizer::Adam(rnn_core::optim::Adam::new(0.01)),
    }
}

/// A parameter set the checkpoint property saves and loads: Elman or a dense layer.
#[derive(Clone, Debug)]
enum Model {
    Elman(Elman<f64>),
    Dense(rnn_core::dense::Dense<f64>),
}

fn model(kind: usize, (h, i): (usize, usize)) -> Result<Model, TestCaseError> {
    let fail = |e: Error| TestCaseError::fail(e.to_string());
    Ok(match kind {
        0 => Model::Elman(Elman::init(ElmanDims { H: h, I: i }, 1).map_err(fail)?),
        _ => Model::Dense(rnn_core::dense::Dense::init(h, i, 1).map_err(fail)?),
    })
}

macro_rules! with_optimizer {
    ($opt:expr, |$o:ident| $body:expr) => {
        match $opt {
            AnyOptimizer::Sgd($o) => $body,
            AnyOptimizer::Momentum($o) => $body,
            AnyOptimizer::Adam($o) => $body,
        }
    };
}

macro_rules! with_model {
    ($model:expr, |$m:ident| $body:expr) => {
        match $model {
            Model::Elman($m) => $body,
            Model::Dense($m) => $body,
        }
    };
}

fn optimizer_state(o: &AnyOptimizer) -> Vec<f64> {
    with_optimizer!(o, |o| o.state())
}

fn model_flat(m: &Model) -> Vec<f64> {
    with_model!(m, |m| m.to_flat())
}

fn prop_checkpoints() -> Outcome {
    use rnn_core::checkpoint;
    run_property("checkpoints", 800, checkpoint_case(), |c| {
        let dir = scratch_dir("checkpoint");
        let path = dir.join("model.ckpt");
        let mut source = model(c.models.0, c.dims.0)?;
        let mut saver = any_optimizer(c.optimizers.0);
        let mut mk = Maker::new(&c.pool, None);
        for _ in 0..c.steps {
            with_model!(&mut source, |m| {
                let mut g = m.clone();
                let values: Vec<f64> = mk.values(g.param_count());
                let _ = g.set_flat(&values);
                with_optimizer!(&mut saver, |o| {
                    let _ = call!("Optimizer::step", o.step(m, &g); "{o:?}");
                });
            });
        }
        let (slot_a, slot_b) = (make_slot(c.slots.0), make_slot(c.slots.1));
        let saved = with_model!(&source, |m| with_optimizer!(
            &saver,
            |o| call!("checkpoint::save", checkpoint::save(&path, m, slot_a, o); "{} params, {o:?}, {slot_a:?}", m.param_count())
        ));
        let finite_state = optimizer_state(&saver).iter().all(|x| x.is_finite());
        check!(
            saved.is_ok() || !finite_state,
            "Err saving into a fresh directory: {saved:?}"
        );
        if let Ok(bytes) = std::fs::read(&path) {
            let _ = std::fs::write(&path, edit_file(&bytes, &c.edit, &c.pool));
        }
        let mut target = model(c.models.1, c.dims.1)?;
        let mut loader = any_optimizer(c.optimizers.1);
        let (params_before, state_before) = (model_flat(&target), optimizer_state(&loader));
        let loaded = with_model!(&mut target, |m| with_optimizer!(&mut loader, |o| {
            let n = m.param_count();
            call!("checkpoint::load", checkpoint::load(&path, m, slot_b, o); "{n} params, {o:?}, {slot_b:?}; saved {:?} with {:?} under {slot_a:?}, edit {:?}", c.models.0, c.optimizers.0, c.edit)
        }));
        // (A state made non-finite by huge or NaN gradients is refused.)
        let compatible = c.models.0 == c.models.1
            && c.dims.0 == c.dims.1
            && c.optimizers.0 == c.optimizers.1
            && slot_a == slot_b
            && matches!(c.edit, FileEdit::None | FileEdit::Metadata)
            && finite_state;
        check!(
            loaded.is_ok() || !compatible,
            "Err loading what was saved: {:?}",
            loaded.as_ref().err()
        );
        match &loaded {
            Err(_) => check!(
                same_state(&model_flat(&target), &params_before)
                    && same_state(&optimizer_state(&loader), &state_before),
                "an error, but the parameters or the optimizer changed"
            ),
            Ok(()) if compatible => {
                check!(
                    same_state(&model_flat(&target), &model_flat(&source))
                        && same_state(&optimizer_state(&loader), &optimizer_state(&saver)),
                    "other parameters or optimizer state than saved"
                );
                // Resuming continues bit for bit: one more step on both.
                let values: Vec<f64> = mk.values(model_flat(&source).len());
                let (mut a, mut b) = (source.clone(), target.clone());
                let (mut oa, mut ob) = (saver.clone(), loader.clone());
                let ra = with_model!(&mut a, |m| with_optimizer!(&mut oa, |o| {
                    let mut g = m.clone();
                    let _ = g.set_flat(&values);
                    o.step(m, &g).is_ok()
                }));
                let rb = with_model!(&mut b, |m| with_optimizer!(&mut ob, |o| {
                    let mut g = m.clone();
                    let _ = g.set_flat(&values);
                    call!("Optimizer::step", o.step(m, &g); "{o:?} after checkpoint::load").is_ok()
                }));
                check!(
                    ra == rb
                        && same_state(&model_flat(&a), &model_flat(&b))
                        && same_state(&optimizer_state(&oa), &optimizer_state(&ob)),
                    "a step after loading unlike the same step before saving"
                );
            }
            Ok(()) => {}
        }
        // Paths that cannot be read or written.
        let missing = with_model!(&mut target, |m| with_optimizer!(
            &mut loader,
            |o| call!("checkpoint::load", checkpoint::load(dir.join("missing"), m, slot_b, o); "a missing file")
        ));
        check!(missing.is_err(), "Ok for a missing file");
        let nowhere = with_model!(&source, |m| with_optimizer!(
            &saver,
            |o| call!("checkpoint::save", checkpoint::save(dir.join("no/such/dir/x"), m, slot_a, o); "into a missing directory")
        ));
        check!(nowhere.is_err(), "Ok saving into a missing directory");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// The allocation-free products.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct GemmCase {
    /// `C (m × n) ← A (m × k) · B (k × n)`.
    dims: (usize, usize, usize),
    /// Layouts of A and B: 0 column-major, 1 transposed storage, 2 padded columns, 3 row-major
    /// with padding (a general stride).
    layouts: (usize, usize),
    /// Extra rows between C's columns.
    c_pad: usize,
    accumulate: bool,
    transposed_product: bool,
    /// Storage one element short, or strides that overflow.
    broken: Option<usize>,
    pool: Pool,
}

fn gemm_case() -> impl Strategy<Value = GemmCase> {
    let dim = prop_oneof![6 => 0..=9usize, 2 => 10..=30usize, 1 => 250..=270usize];
    (
        (dim.clone(), prop_oneof![4 => 0..=9usize, 1 => 8..=20usize], dim),
        (0..6usize, 0..6usize),
        0..=2usize,
        any::<bool>(),
        prop::bool::weighted(0.3),
        prop_oneof![8 => Just(None), 1 => (0..5usize).prop_map(Some)],
        pool(),
    )
        .prop_map(
            |(dims, layouts, c_pad, accumulate, transposed_product, broken, pool)| GemmCase {
                dims,
                layouts,
                c_pad,
                accumulate,
                transposed_product,
                broken,
                pool,
            },
        )
}

/// Storage and strides `(row_stride, col_stride)` for a `rows × cols` operand in `layout`.
/// Layouts 4 and 5 are read-only views a slice allows: every row the same (row stride 0), and
/// overlapping columns (column stride 1: entry (i, j) at i + j).
fn operand_layout(rows: usize, cols: usize, layout: usize) -> (usize, usize, usize) {
    let extent = |rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    match layout {
        0 => (rows * cols, 1, rows),
        1 => (rows * cols, cols, 1),
        2 => ((rows + 2) * cols, 1, rows + 2),
        3 => (rows * (cols + 1), cols + 1, 1),
        4 => (extent(0, 1), 0, 1),
        _ => (extent(1, 1), 1, 1),
    }
}

fn prop_gemm() -> Outcome {
    run_property("gemm", 1500, gemm_case(), |c| {
        gemm_check::<f64>(&c)?;
        gemm_check::<f32>(&c)
    })
}

/// One product in `T` against a naive sum in f64 (within the rounding bound of `T`).
fn gemm_check<T: Scalar>(c: &GemmCase) -> Result<(), TestCaseError> {
    use rnn_core::gemm::{Mat, MatMut, gemm, gemm_tn};
    {
        let (m, n, k) = c.dims;
        let mut mk = Maker::new(&c.pool, None);
        // A as an m × k operand (gemm) or the k × m operand whose transpose is used (gemm_tn).
        let (a_rows, a_cols) = if c.transposed_product { (k, m) } else { (m, k) };
        // gemm_tn takes operands with contiguous columns (row stride 1) only.
        let contiguous = |l: usize| [0, 2, 5][l % 3];
        let a_layout = if c.transposed_product {
            contiguous(c.layouts.0)
        } else {
            c.layouts.0
        };
        let b_layout = if c.transposed_product {
            contiguous(c.layouts.1)
        } else {
            c.layouts.1
        };
        let (a_len, a_rs, a_cs) = operand_layout(a_rows, a_cols, a_layout);
        let (b_len, b_rs, b_cs) = operand_layout(k, n, b_layout);
        let a_data: Vec<T> = mk.values(a_len);
        let b_data: Vec<T> = mk.values(b_len);
        let c_stride = m + c.c_pad;
        let c_len = if n == 0 { 0 } else { c_stride * (n - 1) + m };
        let mut c_data: Vec<T> = mk.values(c_len);
        let c_before = c_data.clone();
        let a_entry = |i: usize, j: usize| a_data[i * a_rs + j * a_cs].real_part();
        let b_entry = |i: usize, j: usize| b_data[i * b_rs + j * b_cs].real_part();
        let short = |len: usize, which: usize| {
            if c.broken == Some(which) {
                len.saturating_sub(1)
            } else {
                len
            }
        };
        let a = call!("Mat::strided", Mat::strided(&a_data[..short(a_len, 0)], a_rows, a_cols, a_rs, a_cs); "{a_rows} × {a_cols}, strides ({a_rs}, {a_cs}), {} values", short(a_len, 0));
        let b = call!("Mat::strided", Mat::strided(&b_data[..short(b_len, 1)], k, n, b_rs, b_cs); "{k} × {n}, strides ({b_rs}, {b_cs}), {} values", short(b_len, 1));
        let huge = usize::MAX / 2 + 1;
        if c.broken == Some(3) {
            let r = call!("Mat::strided", Mat::strided(&a_data, 2, 2, huge, huge); "2 × 2, strides ({huge}, {huge}), {} values", a_data.len());
            check!(r.is_err(), "Ok for strides that overflow");
            let r = call!("Mat::col_major", Mat::col_major(&a_data, huge, 4); "{huge} × 4, {} values", a_data.len());
            check!(r.is_err(), "Ok for a size that overflows");
        }
        let c_len_given = short(c_len, 2);
        let out = call!("MatMut::with_col_stride", MatMut::with_col_stride(&mut c_data[..c_len_given], m, n, c_stride); "{m} × {n}, column stride {c_stride}, {c_len_given} values");
        if c.broken == Some(4) {
            let mut small = vec![T::zero(); 4];
            let r = call!("MatMut::with_col_stride", MatMut::with_col_stride(&mut small, 2, 2, huge).map(|_| ()); "2 × 2, column stride {huge}, 4 values");
            check!(r.is_err(), "Ok for a stride that overflows");
        }
        if let Ok(a) = &a {
            let t = call!("Mat::t", a.t());
            check!(
                t.rows() == a.cols() && t.cols() == a.rows(),
                "a transpose of {} × {} with {} × {}",
                a.rows(),
                a.cols(),
                t.rows(),
                t.cols()
            );
        }
        let (Ok(a), Ok(b), Ok(out)) = (a, b, out) else {
            return Ok(());
        };
        let result = if c.transposed_product {
            call!("gemm::gemm_tn", gemm_tn(out, a, b, c.accumulate); "Aᵀ B with A {a_rows} × {a_cols} (strides {a_rs}, {a_cs}), B {k} × {n} (strides {b_rs}, {b_cs}), C column stride {c_stride}, accumulate {}", c.accumulate)
        } else {
            call!("gemm::gemm", gemm(out, a, b, c.accumulate); "A {m} × {k} (strides {a_rs}, {a_cs}), B {k} × {n} (strides {b_rs}, {b_cs}), C column stride {c_stride}, accumulate {}", c.accumulate)
        };
        let Ok(()) = result else {
            check!(
                c_data.iter().zip(&c_before).all(|(x, y)| x.to_bits_eq(y)),
                "an error, but C changed"
            );
            return Ok(());
        };
        let tame = c.pool.tame();
        for j in 0..n {
            for i in 0..c_stride.min(if j + 1 == n { m } else { c_stride }) {
                let at = i + j * c_stride;
                if i >= m {
                    check!(
                        c_data[at].to_bits_eq(&c_before[at]),
                        "padding entry {at} of C changed: {} → {}",
                        c_before[at],
                        c_data[at]
                    );
                    continue;
                }
                let (mut sum, mut bound) = (0.0, 0.0);
                for p in 0..k {
                    let (x, y) = if c.transposed_product {
                        (a_entry(p, i), b_entry(p, j))
                    } else {
                        (a_entry(i, p), b_entry(p, j))
                    };
                    sum += x * y;
                    bound += (x * y).abs();
                }
                let base = if c.accumulate {
                    c_before[at].real_part()
                } else {
                    0.0
                };
                let expected = base + sum;
                let tolerance =
                    2.0 * (k as f64 + 2.0) * T::default_epsilon().real_part() * (bound + base.abs()) + 1e-300;
                // (f32 inputs round the pool's values, and may flush its subnormals, first.)
                if tame && (c_data[at].real_part() - expected).abs() > tolerance {
                    check!(
                        false,
                        "C[{i}, {j}] = {}, expected {expected} (± {tolerance:e})",
                        c_data[at]
                    );
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Scalar functions, initialisers and the generator.
// ---------------------------------------------------------------------------------------------

/// Units in the last place between two finite floats of one sign (`u64::MAX` otherwise).
fn ulps64(a: f64, b: f64) -> u64 {
    if a == b || (a.is_nan() && b.is_nan()) {
        return 0;
    }
    if !a.is_finite() || !b.is_finite() || a.is_sign_negative() != b.is_sign_negative() {
        return u64::MAX;
    }
    a.to_bits().abs_diff(b.to_bits())
}

fn ulps32(a: f32, b: f32) -> u64 {
    ulps64(f64::from(a), f64::from(b))
        .min(u64::from(a.to_bits().abs_diff(b.to_bits())))
        .max(u64::from(a != b && !(a.is_nan() && b.is_nan())))
}

#[derive(Clone, Debug)]
struct ScalarCase {
    x: f64,
    bits: u64,
    sizes: (usize, usize),
    radius: f64,
    bounds: (f64, f64),
    seed: u64,
}

fn scalar_case() -> impl Strategy<Value = ScalarCase> {
    (
        prop_oneof![3 => wild_value(), 1 => -800.0..800.0f64, 1 => -30.0..30.0f64],
        any::<u64>(),
        (0..=5usize, 0..=5usize),
        setting(),
        (wild_value(), wild_value()),
        any::<u64>(),
    )
        .prop_map(|(x, bits, sizes, radius, bounds, seed)| ScalarCase {
            x,
            bits,
            sizes,
            radius,
            bounds,
            seed,
        })
}

fn prop_scalars() -> Outcome {
    use rnn_core::{Activation, HardSigmoid, HardTanh, Softsign, vmath};
    run_property("scalar functions, initialisers", 1000, scalar_case(), |c| {
        for x in [c.x, f64::from_bits(c.bits)] {
            let x32 = x as f32;
            let s = call!("sigmoid", rnn_core::sigmoid(x); "{x:e}");
            check!(x.is_nan() || (0.0..=1.0).contains(&s), "sigmoid({x:e}) = {s}");
            let t = call!("tanh", rnn_core::tanh(x); "{x:e}");
            check!(x.is_nan() || (-1.0..=1.0).contains(&t), "tanh({x:e}) = {t}");
            let r = call!("relu", rnn_core::relu(x); "{x:e}");
            check!(x.is_nan() || r >= 0.0, "relu({x:e}) = {r}");
            let sp = call!("softplus", rnn_core::softplus(x); "{x:e}");
            check!(
                x.is_nan() || (sp >= 0.0 && sp >= x && (sp.is_finite() || x == f64::INFINITY)),
                "softplus({x:e}) = {sp}"
            );
            let e = call!("exp", rnn_core::exp(x); "{x:e}");
            check!(x.is_nan() || e >= 0.0, "exp({x:e}) = {e}");
            let id = call!("identity", rnn_core::identity(x); "{x:e}");
            check!(id.to_bits_eq(&x), "identity({x:e}) = {id}");
            let rounded = call!("round_half_even", rnn_core::round_half_even(x); "{x:e}");
            check!(
                !x.is_finite() || (rounded.fract() == 0.0 && (rounded - x).abs() <= 0.5),
                "round_half_even({x:e}) = {rounded}"
            );
            for (name, value, derivative) in [
                ("HardSigmoid", HardSigmoid::value(x), HardSigmoid::derivative(x)),
                ("HardTanh", HardTanh::value(x), HardTanh::derivative(x)),
                ("Softsign", Softsign::value(x), Softsign::derivative(x)),
            ] {
                CALLS.with(|k| k.set(k.get() + 2));
                check!(
                    !x.is_finite() || (value.is_finite() && derivative.is_finite()),
                    "{name} at {x:e}: {value}, {derivative}"
                );
            }
            // The kernels' functions against the standard library (vmath module docs).
            let bounds = [("exp", 1u64), ("tanh", 4), ("sigmoid", 2)];
            let exact64 = [x.exp(), x.tanh(), rnn_core::sigmoid(x)];
            let fast64 = [
                call!("vmath::exp_f64", vmath::exp_f64(x)),
                call!("vmath::tanh_f64", vmath::tanh_f64(x)),
                call!("vmath::sigmoid_f64", vmath::sigmoid_f64(x)),
            ];
            let generic64 = [
                call!("vmath::exp", vmath::exp(x)),
                call!("vmath::tanh", vmath::tanh(x)),
                call!("vmath::sigmoid", vmath::sigmoid(x)),
            ];
            let exact32 = [x32.exp(), x32.tanh(), rnn_core::sigmoid(x32)];
            let fast32 = [
                call!("vmath::exp_f32", vmath::exp_f32(x32)),
                call!("vmath::tanh_f32", vmath::tanh_f32(x32)),
                call!("vmath::sigmoid_f32", vmath::sigmoid_f32(x32)),
            ];
            for (k, (name, ulps)) in bounds.iter().enumerate() {
                check!(
                    ulps64(fast64[k], exact64[k]) <= *ulps,
                    "{name}_f64({x:e}) = {:e}, the standard library gives {:e}",
                    fast64[k],
                    exact64[k]
                );
                check!(
                    generic64[k].to_bits_eq(&fast64[k]),
                    "vmath::{name}({x:e}) = {:e}, {name}_f64 gives {:e}",
                    generic64[k],
                    fast64[k]
                );
                check!(
                    ulps32(fast32[k], exact32[k]) <= *ulps,
                    "{name}_f32({x32:e}) = {:e}, the standard library gives {:e}",
                    fast32[k],
                    exact32[k]
                );
            }
        }
        // The generator and the initialisers.
        let mut rng = call!("SplitMix64::new", rnn_core::SplitMix64::new(c.seed));
        let (lo, hi) = c.bounds;
        let u = call!("SplitMix64::uniform", rng.uniform(lo, hi); "[{lo:e}, {hi:e})");
        if lo.is_finite() && hi.is_finite() && lo < hi && (hi - lo).is_finite() {
            check!(lo <= u && u <= hi, "uniform({lo:e}, {hi:e}) = {u:e}");
        }
        let v = call!("SplitMix64::next_f64", rng.next_f64());
        check!((0.0..1.0).contains(&v), "next_f64() = {v}");
        let g = call!("SplitMix64::normal", rng.normal());
        check!(g.is_finite(), "normal() = {g}");
        let (r, k) = c.sizes;
        let w =
            call!("init::xavier_uniform", rnn_core::init::xavier_uniform::<f64>(&mut rng, r, k); "{r} × {k}");
        check!(w.is_ok(), "Err for a {r} × {k} matrix: {w:?}");
        if let Ok(w) = &w {
            let bound = (6.0 / (r + k).max(1) as f64).sqrt();
            check!(
                w.shape() == (r, k) && w.iter().all(|x| x.abs() <= bound),
                "a {:?} matrix beyond ±{bound}: {w}",
                w.shape()
            );
        }
        let q = call!("init::orthogonal", rnn_core::init::orthogonal::<f64>(&mut rng, r, c.radius); "n {r}, radius {:e}", c.radius);
        check!(
            q.is_ok() == c.radius.is_finite(),
            "{q:?} for radius {:e}",
            c.radius
        );
        if let Ok(q) = &q {
            check!(q.shape() == (r, r), "a {:?} matrix for n = {r}", q.shape());
            if c.radius.abs() < 1e100 {
                let gram = q.tr_mul(q);
                let expected = DMatrix::<f64>::identity(r, r) * (c.radius * c.radius);
                check!(
                    (gram - expected).amax() <= 1e-12 * (1.0 + c.radius * c.radius),
                    "QᵀQ ≠ {:e}² I: {q}",
                    c.radius
                );
            }
        }
        Ok(())
    })
}

// ---------------------------------------------------------------------------------------------
// Huge counts, each in a child process (an allocation failure aborts, which `catch_unwind`
// cannot survive), with a memory limit and a time limit.
// ---------------------------------------------------------------------------------------------

/// Counts no machine can hold: every call must return an error (or, where a count cannot be
/// refused, finish quickly) instead of aborting, panicking or running for ever.
const HUGE: [usize; 4] = [1 << 40, 1 << 62, usize::MAX / 2, usize::MAX];

/// The calls made with huge counts: (entry point, description).
fn huge_calls() -> Vec<(&'static str, usize)> {
    let entries = [
        "drivers::one_to_many (steps)",
        "drivers::last_output_adjoint (steps)",
        "Decoder::generate (steps)",
        "EchoStateNetwork::generate (steps)",
        "TruncatedBptt::new (k2)",
        "Dense::init (outputs, inputs)",
        "Lstm::new (H)",
        "Elman::init (H, I)",
        "EchoStateNetwork::new (reservoir size)",
        "Cell::cache_len (batch)",
        "Cell::workspace (steps)",
    ];
    entries
        .iter()
        .flat_map(|&e| HUGE.iter().map(move |&n| (e, n)))
        .collect()
}

/// Runs huge call number `which` in this (child) process; Ok if it returned without panicking.
fn huge_call(which: usize) -> Result<String, String> {
    let (entry, n) = huge_calls()[which];
    let cell = Elman::<f64>::init(ElmanDims { H: 2, I: 1 }, 1).map_err(|e| e.to_string())?;
    let h0 = cell.zero_state(1);
    let x = rnn_core::cells::ElmanInput {
        x: DMatrix::from_element(1, 1, 0.5),
    };
    let describe = |r: Result<String, Error>| r.unwrap_or_else(|e| format!("Err({e})"));
    let outcome = catch_unwind(AssertUnwindSafe(|| match entry {
        "drivers::one_to_many (steps)" => {
            describe(drivers::one_to_many(&cell, &h0, &x, n).map(|r| format!("Ok({} steps)", r.len())))
        }
        "drivers::last_output_adjoint (steps)" => describe(
            drivers::last_output_adjoint(&cell, n, &DMatrix::zeros(2, 1))
                .map(|d| format!("Ok({} adjoints)", d.len())),
        ),
        "Decoder::generate (steps)" => {
            let decoder = Decoder {
                cell: cell.clone(),
                readout: rnn_core::dense::Dense::init(1, 2, 1).expect("a readout"),
            };
            describe(
                decoder
                    .generate(&h0, &DMatrix::zeros(1, 1), n)
                    .map(|ys| format!("Ok({} outputs)", ys.len())),
            )
        }
        "EchoStateNetwork::generate (steps)" => {
            let config = rnn_core::esn::EsnConfig {
                reservoir_size: 3,
                density: 1.0,
                ..Default::default()
            };
            let net = rnn_core::esn::EchoStateNetwork::new(1, 1, config).expect("a network");
            describe(
                net.generate(&[DMatrix::zeros(1, 1)], n)
                    .map(|ys| format!("Ok({} outputs)", ys.len())),
            )
        }
        "TruncatedBptt::new (k2)" => {
            describe(TruncatedBptt::new(&cell, &h0, n).map(|t| format!("Ok({} steps)", t.steps())))
        }
        "Dense::init (outputs, inputs)" => {
            describe(rnn_core::dense::Dense::<f64>::init(n, 3, 1).map(|d| format!("Ok({:?})", d.w.shape())))
        }
        "Lstm::new (H)" => {
            describe(Lstm::<f64>::new(LstmDims { H: n, I: 1 }).map(|c| format!("Ok({:?})", c.dims())))
        }
        "Elman::init (H, I)" => {
            describe(Elman::<f64>::init(ElmanDims { H: 2, I: n }, 1).map(|c| format!("Ok({:?})", c.dims())))
        }
        "EchoStateNetwork::new (reservoir size)" => {
            let config = rnn_core::esn::EsnConfig {
                reservoir_size: n,
                ..Default::default()
            };
            describe(rnn_core::esn::EchoStateNetwork::new(1, 1, config).map(|_| "Ok".to_owned()))
        }
        "Cell::cache_len (batch)" => format!(
            "{}",
            Lstm::<f64>::new(LstmDims { H: 2, I: 1 })
                .expect("a cell")
                .cache_len(n)
        ),
        "Cell::workspace (steps)" => format!("{:?}", std::mem::size_of_val(&cell.workspace(1, n))),
        _ => unreachable!("no such huge call"),
    }));
    outcome.map_err(|_| "panicked".to_owned())
}

#[test]
fn huge_counts() {
    if let Ok(which) = std::env::var("API_HARNESS_HUGE") {
        // The child: one call; a panic or an abort makes the parent report it.
        let which: usize = which.parse().expect("a call number");
        let (entry, n) = huge_calls()[which];
        install_panic_hook();
        GUARDED.with(|g| g.set(true));
        match huge_call(which) {
            Ok(outcome) => println!("HUGE-RESULT {entry} with {n}: {outcome}"),
            Err(e) => {
                let panic = PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default();
                println!("HUGE-RESULT {entry} with {n}: {e} {panic}");
                std::process::exit(3);
            }
        }
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let calls = huge_calls();
    // All children at once, each limited to 2 GB of address space and 20 s.
    let mut children: Vec<_> = (0..calls.len())
        .map(|k| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg("ulimit -v 2000000; exec \"$0\" huge_counts --exact --nocapture --test-threads=1")
                .arg(&exe)
                .env("API_HARNESS_HUGE", k.to_string())
                .env("RUST_BACKTRACE", "0")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("a child process")
        })
        .collect();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut failures = Vec::new();
    for (k, child) in children.iter_mut().enumerate() {
        let (entry, n) = calls[k];
        let status = loop {
            match child.try_wait().expect("a child status") {
                Some(status) => break Some(status),
                None if std::time::Instant::now() > deadline => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
                None => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        };
        let mut out = String::new();
        let mut err = String::new();
        use std::io::Read;
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        let result = out
            .find("HUGE-RESULT")
            .map_or("", |i| out[i..].lines().next().unwrap_or(""))
            .to_owned();
        let abort = err
            .lines()
            .find(|l| l.contains("memory allocation"))
            .unwrap_or("");
        CALLS.with(|c| c.set(c.get() + 1));
        match status {
            Some(s) if s.success() => eprintln!("{result}"),
            Some(s) => failures.push(format!("{entry} with {n}: {s}; {result} {abort}")),
            None => failures.push(format!("{entry} with {n}: still running after 20 s (killed)")),
        }
    }
    assert!(failures.is_empty(), "huge counts:\n{}", failures.join("\n"));
}

properties! {
    cells_drivers_layers => prop_cells,
    losses => prop_losses,
    clipping => prop_clip,
    optimizers => prop_optim,
    dense => prop_dense,
    echo_state_networks => prop_esn,
    weight_files => prop_weights,
    checkpoints => prop_checkpoints,
    gemm => prop_gemm,
    scalars_and_initialisers => prop_scalars,
}

#[test]
fn at_least_100k_calls() {
    let outcomes = all_properties();
    let total: usize = outcomes.iter().map(|(_, o)| o.calls).sum();
    for (name, outcome) in &outcomes {
        eprintln!(
            "{name}: {} calls in {:.2} s{}",
            outcome.calls,
            outcome.seconds,
            if outcome.failure.is_some() {
                " (failed)"
            } else {
                ""
            }
        );
    }
    let scale = f64::from(Config::default().cases) / 256.0;
    eprintln!("{total} public calls in all (case scale {scale})");
    if survey_mode() {
        let found = SURVEY.lock().unwrap_or_else(|e| e.into_inner());
        eprintln!("== survey: {} distinct findings", found.len());
        for (key, description) in found.iter() {
            eprintln!("-- {key}\n   {description}");
        }
    }
    if scale >= 1.0 {
        assert!(total >= 100_000, "only {total} public calls");
    }
}
