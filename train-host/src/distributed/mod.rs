//! Data-parallel training across processes: one [`World`] per process, MPI underneath when the crate is built
//! with the `mpi` feature and the process was started by `mpirun`/`srun`, a world of one otherwise.
//!
//! Every rank holds the full model. Each step, every rank computes gradients on its share of the global batch,
//! [`World::allreduce_mean`] averages them, and every rank takes the same optimizer step, so the parameters stay
//! identical without ever being sent. Only rank 0 logs and writes checkpoints.

mod launcher;
#[cfg(feature = "mpi")]
mod mpi_backend;

pub use launcher::{check_world_size, launcher_rank, launcher_world_size, LauncherWorld};

use std::fmt;
use std::time::{Duration, Instant};

/// Why the process group could not be set up or used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DistError {
    /// The launcher announced N processes but this process sees a world of another size: a misconfigured
    /// `srun`/`mpirun` (for example MPI support not compiled in) would otherwise train N copies of rank 0.
    WorldSizeMismatch { launcher_var: &'static str, launcher_size: usize, world_size: usize },
    /// Launched with several processes but this binary was built without the `mpi` feature.
    MpiNotBuilt { launcher_var: &'static str, launcher_size: usize },
    /// MPI could not be initialised (already initialised, or the library refused).
    MpiInit,
    /// A collective was called with buffers of different lengths on different ranks.
    LengthMismatch { expected: usize, found: usize },
}

impl fmt::Display for DistError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WorldSizeMismatch { launcher_var, launcher_size, world_size } => write!(
                f,
                "{launcher_var}={launcher_size} but the MPI world has {world_size} process(es): every process \
                 would train alone; check that srun/mpirun and the MPI library match (srun --mpi=pmix)"
            ),
            Self::MpiNotBuilt { launcher_var, launcher_size } => write!(
                f,
                "launched as {launcher_size} processes ({launcher_var}) but this `electra` was built without MPI; \
                 rebuild with `cargo build --release -p electra-train --features mpi`"
            ),
            Self::MpiInit => write!(f, "MPI could not be initialised"),
            Self::LengthMismatch { expected, found } => {
                write!(f, "collective buffer has {found} elements on this rank, {expected} on rank 0")
            }
        }
    }
}

impl std::error::Error for DistError {}

/// The group of processes training one model together.
pub struct World {
    backend: Backend,
    /// Time spent inside gradient allreduces since the last [`World::take_comm_time`].
    comm_time: Duration,
}

enum Backend {
    Single,
    #[cfg(feature = "mpi")]
    Mpi(mpi_backend::MpiBackend),
}

impl World {
    /// A world of one process: no communication at all.
    pub fn single() -> Self {
        Self { backend: Backend::Single, comm_time: Duration::ZERO }
    }

    /// Joins the world the launcher started, and checks its size against the launcher's environment.
    ///
    /// Under `mpirun`/`srun` with the `mpi` feature this initialises MPI; without a launcher it is a world of one.
    /// Without the `mpi` feature, a launcher that announces several processes is an error rather than N
    /// independent runs.
    pub fn from_environment() -> Result<Self, DistError> {
        let launcher = launcher_world_size(|k| std::env::var(k).ok());
        #[cfg(feature = "mpi")]
        {
            if launcher.is_some() {
                let backend = mpi_backend::MpiBackend::initialize()?;
                let world = Self { backend: Backend::Mpi(backend), comm_time: Duration::ZERO };
                check_world_size(world.world_size(), launcher)?;
                return Ok(world);
            }
        }
        if let Some(l) = launcher {
            if l.size > 1 {
                return Err(DistError::MpiNotBuilt { launcher_var: l.var, launcher_size: l.size });
            }
        }
        Ok(Self::single())
    }

    /// This process's index, 0-based.
    pub fn rank(&self) -> usize {
        match &self.backend {
            Backend::Single => 0,
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => m.rank(),
        }
    }

    /// How many processes train together.
    pub fn world_size(&self) -> usize {
        match &self.backend {
            Backend::Single => 1,
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => m.size(),
        }
    }

    /// Rank 0 alone logs, shows progress and writes checkpoints.
    pub fn is_root(&self) -> bool {
        self.rank() == 0
    }

    /// Replaces `values` by their mean over all ranks (the gradient allreduce). Timed into [`World::take_comm_time`].
    pub fn allreduce_mean(&mut self, values: &mut [f32]) -> Result<(), DistError> {
        let start = Instant::now();
        let result = match &mut self.backend {
            Backend::Single => {
                let _ = values;
                Ok(())
            }
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => m.allreduce_mean_f32(values),
        };
        self.comm_time += start.elapsed();
        result
    }

    /// Replaces `values` by their sum over all ranks, in float64 (token counts, loss sums for logging).
    pub fn allreduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), DistError> {
        match &mut self.backend {
            Backend::Single => {
                let _ = values;
                Ok(())
            }
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => m.allreduce_sum_f64(values),
        }
    }

    /// Copies rank 0's `values` to every rank (weights on resume, so every rank starts identical).
    pub fn broadcast_f32(&mut self, values: &mut [f32]) -> Result<(), DistError> {
        match &mut self.backend {
            Backend::Single => {
                let _ = values;
                Ok(())
            }
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => m.broadcast_f32(values),
        }
    }

    /// Waits until every rank gets here.
    pub fn barrier(&self) {
        match &self.backend {
            Backend::Single => {}
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) => m.barrier(),
        }
    }

    /// Time spent in gradient allreduces since the last call, and resets it.
    pub fn take_comm_time(&mut self) -> Duration {
        std::mem::take(&mut self.comm_time)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_world_of_one_leaves_values_alone() -> Result<(), DistError> {
        let mut world = World::single();
        let mut values = vec![1.0f32, -2.5, 3.0];
        world.allreduce_mean(&mut values)?;
        world.broadcast_f32(&mut values)?;
        assert_eq!(values, [1.0, -2.5, 3.0]);
        assert_eq!((world.rank(), world.world_size(), world.is_root()), (0, 1, true));
        Ok(())
    }
}
