//! The MPI backend (rsmpi): one `MPI_COMM_WORLD`, float32 gradients averaged with `MPI_Allreduce`, or with
//! `MPI_Iallreduce` buckets on a communication thread while the backward pass still runs ([`GradientPoster`]).
//!
//! Why a thread: OpenMPI (like MPICH without an async progress thread) only moves a non-blocking collective
//! forward inside MPI calls. The backward pass runs for hundreds of milliseconds without one, so an
//! `MPI_Iallreduce` posted from the compute thread would sit idle until the wait. The communication thread posts
//! each bucket and calls `MPI_Test` every [`POLL_INTERVAL`], sleeping in between, so it progresses the transfer
//! while costing the compute thread's core almost nothing (a blocking `MPI_Allreduce` there would busy-poll and
//! take half the core from the backward pass). MPI is initialised with `MPI_THREAD_SERIALIZED`: the compute
//! thread makes no MPI call between posting the first bucket and receiving the last.

use super::{DistError, GradBucket, ReducedBucket};
use mpi::collective::SystemOperation;
use mpi::environment::{Threading, Universe};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the communication thread sleeps between two `MPI_Test`s of an in-flight bucket. Each test drives the
/// TCP/shared-memory progress engine once; 100 µs keeps a 10 Gbit/s link (1.25 MB per 100 µs, under a socket
/// buffer) fed while waking ~10,000 times a second, well under 1% of a core.
const POLL_INTERVAL: Duration = Duration::from_micros(100);

pub(super) struct MpiBackend {
    world: SimpleCommunicator,
    /// Receive buffer of the allreduce, kept between steps so a step allocates nothing.
    recv: Vec<f32>,
    /// The communication thread of overlapped gradient reductions, started on first use.
    comm: Option<CommThread>,
    /// The thread support MPI granted; overlap needs at least `Serialized`.
    threading: Threading,
    /// Length last checked against rank 0's by [`MpiBackend::check_same_length`].
    checked_len: Option<usize>,
    /// Keeps MPI initialised; finalises it when dropped. Declared last: dropped after `world`.
    _universe: Universe,
}

/// The communication thread and its two channels.
struct CommThread {
    jobs: Option<Sender<GradBucket>>,
    done: Receiver<ReducedBucket>,
    handle: Option<JoinHandle<()>>,
    /// Buckets sent and not yet received back: nonzero when a step failed half way.
    in_flight: usize,
}

impl MpiBackend {
    pub(super) fn initialize() -> Result<Self, DistError> {
        let (universe, threading) = mpi::initialize_with_threading(Threading::Serialized).ok_or(DistError::MpiInit)?;
        let world = universe.world();
        Ok(Self { world, recv: Vec::new(), comm: None, threading, checked_len: None, _universe: universe })
    }

    pub(super) fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    pub(super) fn size(&self) -> usize {
        self.world.size() as usize
    }

    /// Whether the MPI library lets a second thread make MPI calls (one at a time).
    pub(super) fn can_overlap(&self) -> bool {
        matches!(self.threading, Threading::Serialized | Threading::Multiple)
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

    /// Checks the blob length once per length (a broadcast), then hands out the channel buckets go into.
    pub(super) fn begin_overlap(&mut self, len: usize) -> Result<Sender<GradBucket>, DistError> {
        if self.checked_len != Some(len) {
            self.check_same_length(len)?;
            self.checked_len = Some(len);
        }
        if self.comm.is_none() {
            let (jobs, thread_jobs) = channel::<GradBucket>();
            let (thread_done, done) = channel::<ReducedBucket>();
            let handle = std::thread::Builder::new()
                .name("electra-allreduce".into())
                .spawn(move || comm_loop(thread_jobs, thread_done))
                .map_err(|e| DistError::CommThread { message: format!("could not start it: {e}") })?;
            self.comm = Some(CommThread { jobs: Some(jobs), done, handle: Some(handle), in_flight: 0 });
        }
        let comm = self.comm.as_mut().ok_or(DistError::CommThread { message: "not started".into() })?;
        if comm.in_flight != 0 {
            return Err(DistError::CommThread {
                message: format!("{} bucket(s) of an abandoned step are still in flight", comm.in_flight),
            });
        }
        comm.jobs.clone().ok_or(DistError::CommThread { message: "already shut down".into() })
    }

    /// Notes that `count` buckets were posted (so the wait knows how many to collect).
    pub(super) fn posted(&mut self, count: usize) {
        if let Some(comm) = self.comm.as_mut() {
            comm.in_flight += count;
        }
    }

    /// The next reduced bucket, blocking until the communication thread returns it.
    pub(super) fn next_reduced(&mut self) -> Result<ReducedBucket, DistError> {
        let comm = self.comm.as_mut().ok_or(DistError::CommThread { message: "not started".into() })?;
        let reduced = comm
            .done
            .recv()
            .map_err(|_| DistError::CommThread { message: "it stopped with buckets in flight".into() })?;
        comm.in_flight = comm.in_flight.saturating_sub(1);
        Ok(reduced)
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

impl Drop for MpiBackend {
    /// Stops the communication thread before `MPI_Finalize` (the universe drops after this). A thread still
    /// inside an allreduce of an abandoned step (this rank failed mid-step) is left behind rather than joined:
    /// joining would wait forever for ranks that will not post their half.
    fn drop(&mut self) {
        if let Some(mut comm) = self.comm.take() {
            comm.jobs = None;
            if comm.in_flight == 0 {
                if let Some(handle) = comm.handle.take() {
                    let _ = handle.join();
                }
            }
        }
    }
}

/// The communication thread: one `MPI_Iallreduce` (sum) per bucket, in the order posted (every rank posts the
/// same buckets in the same order, which collectives require), tested every [`POLL_INTERVAL`].
fn comm_loop(jobs: Receiver<GradBucket>, done: Sender<ReducedBucket>) {
    let world = SimpleCommunicator::world();
    while let Ok(bucket) = jobs.recv() {
        let started = Instant::now();
        let GradBucket { offset, values, mut sums } = bucket;
        sums.clear();
        sums.resize(values.len(), 0.0);
        mpi::request::scope(|scope| {
            let mut request =
                world.immediate_all_reduce_into(scope, &values[..], &mut sums[..], SystemOperation::sum());
            loop {
                match request.test() {
                    Ok(_) => break,
                    Err(pending) => {
                        request = pending;
                        std::thread::sleep(POLL_INTERVAL);
                    }
                }
            }
        });
        let reduced = ReducedBucket { offset, sums, spare: values, busy: started.elapsed() };
        if done.send(reduced).is_err() {
            return;
        }
    }
}
