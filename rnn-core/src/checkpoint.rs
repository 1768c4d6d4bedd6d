//! Checkpoints: parameters and optimizer state in one safetensors file, written atomically
//! (temporary file, then rename), so an interrupted write never leaves a half file behind.
//! Values are stored at full precision (`F64`, or `F32` for an `f32` model), so resuming from a
//! checkpoint continues training bit for bit.
//!
//! A checkpoint holds one parameter set under a [`Slot`] and its optimizer's state as the vector
//! `optimizer.<slot>`; save a model of several parts (cell, readout) as one checkpoint per part.

use crate::optim::Optimizer;
use crate::weights::{Slot, WeightFile, WeightWriter};
use crate::{Error, ParamSet, Scalar};
use std::path::Path;

/// Writes one parameter set and its optimizer's state to `path`, atomically. A state that
/// [`load`] would refuse (not finite, or not of these parameters) is an error and writes
/// nothing.
pub fn save<T: Scalar, P: ParamSet<T>, O: Optimizer<T>>(
    path: impl AsRef<Path>,
    params: &P,
    slot: Slot,
    optimizer: &O,
) -> Result<(), Error> {
    let state = optimizer.state();
    // What `load` would refuse (a diverged, non-finite state; a state of other parameters) is
    // not written.
    optimizer.check_state(&state, params.param_count())?;
    let mut writer = WeightWriter::new();
    writer.add(params, slot)?;
    writer.add_vector(&format!("optimizer.{}", slot.key("state")), &state)?;
    writer.save(path)
}

/// Reads what [`save`] wrote into `params` and `optimizer`; every tensor of the file must be used.
///
/// All or nothing: the parameters and the optimizer state are read and checked in full (shapes,
/// element types, the optimizer state's length against the parameters, no tensor left over)
/// before either is changed; on any error both are left as they were.
pub fn load<T: Scalar, P: ParamSet<T>, O: Optimizer<T> + Clone>(
    path: impl AsRef<Path>,
    params: &mut P,
    slot: Slot,
    optimizer: &mut O,
) -> Result<(), Error> {
    let mut file = WeightFile::open(path)?;
    let mut staged_params = params.clone();
    file.load(&mut staged_params, slot)?;
    let state = file.take_vector::<T>(&format!("optimizer.{}", slot.key("state")))?;
    optimizer.check_state(&state, staged_params.param_count())?;
    let mut staged_optimizer = optimizer.clone();
    staged_optimizer.set_state(&state)?;
    file.finish()?;
    *params = staged_params;
    *optimizer = staged_optimizer;
    Ok(())
}
