//! The MPI backend (rsmpi): one `MPI_COMM_WORLD`, float32 gradients averaged with `MPI_Allreduce`.

use super::DistError;
use mpi::collective::SystemOperation;
use mpi::environment::Universe;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;

pub(super) struct MpiBackend {
    world: SimpleCommunicator,
    /// Receive buffer of the allreduce, kept between steps so a step allocates nothing.
    recv: Vec<f32>,
    /// Keeps MPI initialised; finalises it when dropped. Declared last: dropped after `world`.
    _universe: Universe,
}

impl MpiBackend {
    pub(super) fn initialize() -> Result<Self, DistError> {
        let universe = mpi::initialize().ok_or(DistError::MpiInit)?;
        let world = universe.world();
        Ok(Self { world, recv: Vec::new(), _universe: universe })
    }

    pub(super) fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    pub(super) fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// Every rank must pass the same length: checked against rank 0's first, so a mismatch is an error
    /// rather than a hang or a buffer overrun inside MPI.
    fn check_same_length(&self, len: usize) -> Result<(), DistError> {
        let mut root_len = len as u64;
        self.world.process_at_rank(0).broadcast_into(&mut root_len);
        if root_len != len as u64 {
            return Err(DistError::LengthMismatch { expected: root_len as usize, found: len });
        }
        Ok(())
    }

    pub(super) fn allreduce_mean_f32(&mut self, values: &mut [f32]) -> Result<(), DistError> {
        self.check_same_length(values.len())?;
        self.recv.resize(values.len(), 0.0);
        self.world.all_reduce_into(&*values, &mut self.recv[..], SystemOperation::sum());
        let scale = 1.0 / self.size() as f32;
        for (v, sum) in values.iter_mut().zip(&self.recv) {
            *v = sum * scale;
        }
        Ok(())
    }

    pub(super) fn allreduce_sum_f64(&mut self, values: &mut [f64]) -> Result<(), DistError> {
        self.check_same_length(values.len())?;
        let mut sums = vec![0.0f64; values.len()];
        self.world.all_reduce_into(&*values, &mut sums[..], SystemOperation::sum());
        values.copy_from_slice(&sums);
        Ok(())
    }

    pub(super) fn broadcast_f32(&mut self, values: &mut [f32]) -> Result<(), DistError> {
        self.check_same_length(values.len())?;
        self.world.process_at_rank(0).broadcast_into(values);
        Ok(())
    }

    pub(super) fn barrier(&self) {
        self.world.barrier();
    }
}
