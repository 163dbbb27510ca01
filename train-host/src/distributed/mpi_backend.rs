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

use super::{DistError, GradBucket, GradPrecision, ReducedBucket};
use half::bf16;
use mpi::collective::{SystemOperation, UnsafeUserOperation};
use mpi::environment::{Threading, Universe};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use std::os::raw::{c_int, c_void};
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
    /// Send and receive buffers of bf16 allreduces ([`GradPrecision::Bf16`]), kept likewise.
    wire: BfWire,
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
        let wire = BfWire::default();
        Ok(Self { world, recv: Vec::new(), wire, comm: None, threading, checked_len: None, _universe: universe })
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

    pub(super) fn allreduce_mean_f32(&mut self, values: &mut [f32], precision: GradPrecision) -> Result<(), DistError> {
        self.check_same_length(values.len())?;
        self.recv.resize(values.len(), 0.0);
        match precision {
            GradPrecision::F32 => self.world.all_reduce_into(&*values, &mut self.recv[..], SystemOperation::sum()),
            GradPrecision::Bf16 => self.wire.all_reduce(&self.world, values, &mut self.recv),
        }
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
    let mut wire = BfWire::default();
    while let Ok(bucket) = jobs.recv() {
        let started = Instant::now();
        let GradBucket { offset, values, mut sums, precision } = bucket;
        sums.clear();
        sums.resize(values.len(), 0.0);
        match precision {
            GradPrecision::F32 => mpi::request::scope(|scope| {
                let request =
                    world.immediate_all_reduce_into(scope, &values[..], &mut sums[..], SystemOperation::sum());
                wait_polling(request);
            }),
            GradPrecision::Bf16 => {
                let (send, recv, op) = wire.load(&values);
                mpi::request::scope(|scope| wait_polling(world.immediate_all_reduce_into(scope, send, recv, op)));
                wire.unload(&mut sums);
            }
        }
        let reduced = ReducedBucket { offset, sums, spare: values, busy: started.elapsed() };
        if done.send(reduced).is_err() {
            return;
        }
    }
}

/// Runs a non-blocking collective to completion, testing it every [`POLL_INTERVAL`] and sleeping in between.
fn wait_polling<'a, D: ?Sized, S: mpi::request::Scope<'a>>(mut request: mpi::request::Request<'a, D, S>) {
    loop {
        match request.test() {
            Ok(_) => break,
            Err(pending) => {
                request = pending;
                std::thread::sleep(POLL_INTERVAL);
            }
        }
    }
}

/// The bf16 side of [`GradPrecision::Bf16`]: send and receive buffers of bf16 bits, and the `MPI_Op` that sums
/// them, created on first use by the thread that uses it (each thread its own: an `MPI_Op` is a local handle).
#[derive(Default)]
struct BfWire {
    send: Vec<u16>,
    recv: Vec<u16>,
    op: Option<UnsafeUserOperation>,
}

impl BfWire {
    /// Rounds `values` to bf16 into the send buffer, sizes the receive buffer, and returns both with the op.
    fn load(&mut self, values: &[f32]) -> (&[u16], &mut [u16], &UnsafeUserOperation) {
        self.send.clear();
        self.send.extend(values.iter().map(|&v| bf16::from_f32(v).to_bits()));
        self.recv.clear();
        self.recv.resize(values.len(), 0);
        // SAFETY: `sum_bf16` has MPI's user-function signature and only touches the two buffers MPI passes.
        let op = self.op.get_or_insert_with(|| unsafe { UnsafeUserOperation::commutative(sum_bf16) });
        (&self.send, &mut self.recv, op)
    }

    /// The reduced bf16 sums, widened to f32 into `sums`.
    fn unload(&self, sums: &mut Vec<f32>) {
        sums.clear();
        sums.extend(self.recv.iter().map(|&b| bf16::from_bits(b).to_f32()));
    }

    /// A blocking bf16 allreduce of `values`, the f32 sums into `sums`.
    fn all_reduce(&mut self, world: &SimpleCommunicator, values: &[f32], sums: &mut Vec<f32>) {
        let (send, recv, op) = self.load(values);
        world.all_reduce_into(send, recv, op);
        self.unload(sums);
    }
}

/// `MPI_Op` function of [`GradPrecision::Bf16`]: `inout[i] ← bf16(f32(in[i]) + f32(inout[i]))` over the `*len`
/// bf16 values (as `u16` bits) of both buffers.
unsafe extern "C" fn sum_bf16(
    invec: *mut c_void,
    inoutvec: *mut c_void,
    len: *mut c_int,
    _: *mut mpi::ffi::MPI_Datatype,
) {
    // SAFETY: MPI passes two distinct buffers of `*len` elements of the collective's datatype, `u16` here.
    let (a, b) = unsafe {
        let n = usize::try_from(*len).unwrap_or(0);
        (std::slice::from_raw_parts(invec as *const u16, n), std::slice::from_raw_parts_mut(inoutvec as *mut u16, n))
    };
    for (x, y) in a.iter().zip(b.iter_mut()) {
        *y = bf16::from_f32(bf16::from_bits(*x).to_f32() + bf16::from_bits(*y).to_f32()).to_bits();
    }
}
