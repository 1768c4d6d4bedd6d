//! The suite catches wrong derivatives: a hand-written Elman cell whose backward step carries
//! one typical mistake at a time (its forward, and the dual-number path generated from the
//! forward description, stay correct). Every fault must fail both gradient checks; the
//! fault-free version must pass both.

use nalgebra::DMatrix;
use rnn_core::cells::{Elman, ElmanDims, ElmanGrad, ElmanInput, ElmanProjection, ElmanState};
use rnn_core::{Cell, Error, ParamSet, Saved, Scalar, Tensors};
use rnn_verify::{Problem, check_dual, check_finite_differences};

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    SignFlip,
    MissingRecurrentTerm,
    TransposedWeightGradient,
    OffByOneInTime,
    WrongActivationDerivative,
    DroppedBiasGradient,
}

#[derive(Clone, Debug)]
struct HandElman {
    inner: Elman<f64>,
    fault: Fault,
}

impl ParamSet<f64> for HandElman {
    fn visit(&self, f: impl FnMut(&'static str, &[usize], &[f64])) {
        self.inner.visit(f)
    }
    fn visit_mut(&mut self, f: impl FnMut(&'static str, &[usize], &mut [f64])) {
        self.inner.visit_mut(f)
    }
}

impl Cell<f64> for HandElman {
    type Dims = ElmanDims;
    type State = ElmanState<f64>;
    type Input = ElmanInput<f64>;
    type Projection = ElmanProjection<f64>;
    // The backward step reads the old and new states, which the drivers keep: nothing else.
    type Cache = ();
    type Workspace = ();
    type Grad = ElmanGrad<f64>;
    type Retyped<U: Scalar> = Elman<U>;
    const NAME: &'static str = "HandElman";
    const OUTPUT: usize = 0;

    fn dims(&self) -> ElmanDims {
        self.inner.dims()
    }
    fn retype<U: Scalar>(&self, f: impl Fn(f64) -> U) -> Elman<U> {
        self.inner.retype(f)
    }
    fn state_rows(&self, k: usize) -> usize {
        self.inner.state_rows(k)
    }
    fn input_rows(&self, k: usize) -> usize {
        self.inner.input_rows(k)
    }
    fn projection_rows(&self, k: usize) -> usize {
        self.inner.projection_rows(k)
    }
    fn check_params(&self) -> Result<(), Error> {
        self.inner.check_params()
    }
    fn zero_state(&self, batch: usize) -> ElmanState<f64> {
        self.inner.zero_state(batch)
    }
    fn zero_grad(&self) -> ElmanGrad<f64> {
        self.inner.zero_grad()
    }
    fn check_grad(&self, grad: &ElmanGrad<f64>) -> Result<(), Error> {
        self.inner.check_grad(grad)
    }
    fn cache_len(&self, _batch: usize) -> usize {
        0
    }
    fn project(&self, input: &ElmanInput<f64>) -> Result<ElmanProjection<f64>, Error> {
        // p0 = w_hx x + b, as the generated cell computes it.
        self.inner.project(input)
    }
    fn project_backward(
        &self,
        input: &ElmanInput<f64>,
        d_proj: &ElmanProjection<f64>,
        grad: &mut ElmanGrad<f64>,
    ) -> Result<ElmanInput<f64>, Error> {
        let d = d_proj.get(0).expect("one projection");
        grad.w_hx += d * input.x.transpose();
        if self.fault != Fault::DroppedBiasGradient {
            for j in 0..d.ncols() {
                grad.b += d.column(j);
            }
        }
        Ok(ElmanInput {
            x: self.inner.w_hx.transpose() * d,
        })
    }
    fn workspace(&self, _batch: usize, _steps: usize) {}
    fn new_cache(&self, _batch: usize) {}
    fn step_into(
        &self,
        proj: &ElmanProjection<f64>,
        column: usize,
        state: &ElmanState<f64>,
        next: &mut ElmanState<f64>,
        _cache: Option<&mut ()>,
        _workspace: &mut (),
    ) -> Result<(), Error> {
        let batch = state.h.ncols();
        let step = ElmanProjection::from_fn(|k| {
            proj.get(k)
                .expect("one projection")
                .columns(column, batch)
                .into_owned()
        });
        *next = self.inner.step(&step, state)?;
        Ok(())
    }
    fn step_backward_into(
        &self,
        saved: Saved<'_, ElmanState<f64>, ()>,
        d_next: &ElmanState<f64>,
        d_prev: &mut ElmanState<f64>,
        d_projection: &mut ElmanProjection<f64>,
        grad: &mut ElmanGrad<f64>,
        _workspace: &mut (),
    ) -> Result<(), Error> {
        let (h_prev, h_new) = (&saved.state.h, &saved.next.h);
        let derivative = if self.fault == Fault::WrongActivationDerivative {
            h_new.map(|h| 1.0 - h)
        } else {
            h_new.map(|h| 1.0 - h * h)
        };
        let delta = d_next.h.component_mul(&derivative);
        let weight_grad = match self.fault {
            Fault::TransposedWeightGradient => (&delta * h_prev.transpose()).transpose(),
            Fault::OffByOneInTime => &delta * h_new.transpose(),
            Fault::SignFlip => -(&delta * h_prev.transpose()),
            _ => &delta * h_prev.transpose(),
        };
        grad.w_hh += weight_grad;
        d_prev.h = if self.fault == Fault::MissingRecurrentTerm {
            DMatrix::zeros(delta.nrows(), delta.ncols())
        } else {
            self.inner.w_hh.transpose() * &delta
        };
        let d_p = d_projection.get_mut(0).expect("one projection");
        let mut block = d_p.columns_mut(saved.column, delta.ncols());
        block += &delta;
        Ok(())
    }
    fn flush_grad(&self, _workspace: &mut (), _grad: &mut ElmanGrad<f64>) -> Result<(), Error> {
        Ok(())
    }
}

fn problem(fault: Fault) -> Problem<f64, HandElman> {
    let inner = Elman::init(ElmanDims { H: 4, I: 3 }, 17).unwrap();
    Problem::seeded(HandElman { inner, fault }, 2, 6, 23).unwrap()
}

#[test]
fn the_fault_free_hand_cell_passes() {
    let p = problem(Fault::None);
    let fd = check_finite_differences(&p).unwrap();
    let dual = check_dual(&p).unwrap();
    assert!(fd.passed(), "{fd}");
    assert!(dual.passed(), "{dual}");
}

#[test]
fn every_injected_fault_is_caught() {
    for fault in [
        Fault::SignFlip,
        Fault::MissingRecurrentTerm,
        Fault::TransposedWeightGradient,
        Fault::OffByOneInTime,
        Fault::WrongActivationDerivative,
        Fault::DroppedBiasGradient,
    ] {
        let p = problem(fault);
        let fd = check_finite_differences(&p).unwrap();
        let dual = check_dual(&p).unwrap();
        assert!(!fd.passed(), "{fault:?} slipped past finite differences: {fd}");
        assert!(!dual.passed(), "{fault:?} slipped past dual numbers: {dual}");
        println!("{fault:?}: FD {fd}\n    dual {dual}");
    }
}
