//! How [`Model::run`](crate::model_file::Model::run) runs a sequence: on which workers, and with
//! which pre-packed weights. What it runs (ids, token types, mask) is the
//! [`SequenceInput`](crate::input::SequenceInput); how much memory it gets is the arena, sized by
//! [`Model::arena_bytes`](crate::model_file::Model::arena_bytes) for an
//! [`ArenaOptions`](super::ArenaOptions). No option changes the logits: they are the same bits
//! with every combination.

use super::parallel::{Parallel, Sequential};
use super::prepack::PackedWeights;
use core::fmt;

/// Options of [`Model::run`](crate::model_file::Model::run). The default is what a
/// microcontroller wants: one core ([`Sequential`]) and no pre-packed weights.
///
/// ```
/// # use electra_core::quant::{Parallel, RunOptions, Sequential};
/// let on_one_core = RunOptions::default();
/// let also_on_one_core = RunOptions::default().parallel(&Sequential);
/// assert_eq!(on_one_core.parallel.workers(), also_on_one_core.parallel.workers());
/// ```
///
/// `#[non_exhaustive]`: build it from [`RunOptions::default`] and its builder methods, so that
/// an option added later is not a breaking change.
#[non_exhaustive]
pub struct RunOptions<'o, P: Parallel = Sequential> {
    /// Spreads the work of each phase over this executor's workers (a host passes a thread pool).
    /// The arena must then hold [`ArenaOptions`](super::ArenaOptions)`::workers` =
    /// `parallel.workers()` scratches.
    pub parallel: &'o P,
    /// The encoder weights packed once by
    /// [`Model::pack_weights`](crate::model_file::Model::pack_weights) from the model that runs,
    /// so that the packed kernel (x86 AVX-512 VNNI) does not pack them on every call. `None`
    /// (the default, and the only choice without that kernel): the kernels read the file's weights.
    pub packed: Option<&'o PackedWeights<'o>>,
}

impl Default for RunOptions<'static> {
    /// One core, no pre-packed weights.
    fn default() -> Self {
        Self { parallel: &Sequential, packed: None }
    }
}

impl<'o, P: Parallel> RunOptions<'o, P> {
    /// These options with the work spread over `parallel`'s workers.
    pub fn parallel<Q: Parallel>(self, parallel: &'o Q) -> RunOptions<'o, Q> {
        RunOptions { parallel, packed: self.packed }
    }

    /// These options with the encoder weights read from `packed` (`None`: from the model file).
    pub fn packed(self, packed: Option<&'o PackedWeights<'o>>) -> Self {
        Self { packed, ..self }
    }
}

// Written out rather than derived: a derive would ask `P` itself to be `Clone`/`Copy`/`Debug`,
// while the options only hold a reference to it.
impl<P: Parallel> Clone for RunOptions<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P: Parallel> Copy for RunOptions<'_, P> {}

impl<P: Parallel> fmt::Debug for RunOptions<'_, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunOptions")
            .field("workers", &self.parallel.workers())
            .field("packed", &self.packed.is_some())
            .finish()
    }
}
