//! Data-parallel training across processes: one [`World`] per process, MPI underneath when the crate is built
//! with the `mpi` feature and the process was started by `mpirun`/`srun`, a world of one otherwise.
//!
//! Every rank holds the full model. Each step, every rank computes gradients on its share of the global batch,
//! [`World::allreduce_mean`] averages them, and every rank takes the same optimizer step, so the parameters stay
//! identical without ever being sent. Only rank 0 logs and writes checkpoints.
//!
//! The gradient reduction overlaps the backward pass: [`World::begin_gradient_mean`] hands out a
//! [`GradientPoster`]; the step posts each part of the gradient blob as soon as it is final (in ELECTRA, the
//! discriminator's tensors before the generator's backward runs), cut into buckets of [`DEFAULT_BUCKET_BYTES`]
//! that a communication thread reduces with `MPI_Iallreduce`; [`World::finish_gradient_mean`] waits for them
//! just before the optimizer step. Environment knobs: `ELECTRA_GRAD_BUCKET_MB` (bucket size, MB) and
//! `ELECTRA_GRAD_OVERLAP=0` (one blocking allreduce after the backward, the previous design, for comparison).
//!
//! Gradients travel as float32, or as bfloat16 ([`GradPrecision::Bf16`], `electra pretrain --grad-precision bf16`)
//! for slow networks: half the bytes on the wire, sums taken in float32.

mod launcher;
#[cfg(feature = "mpi")]
mod mpi_backend;

pub use launcher::{check_world_size, launcher_rank, launcher_world_size, oversubscription, LauncherWorld};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

/// Default gradient bucket: 25 MiB, PyTorch DDP's default. Each bucket is one `MPI_Iallreduce` run to completion
/// by the communication thread before the next starts, so every bucket pays the collective's start-up and the
/// thread's polling granularity. Measured on ELECTRA-Small across 2 simulated machines at 1 Gbit/s
/// (docs/DISTRIBUTED.md, on a loaded 2-core box): 4 MiB buckets kept the reduction in flight 1.6 s a step and the
/// step waited 1.0 s; 64 MB buckets (one per posted region) 1.1 s and 0.5 s. With 25 MiB, the discriminator's
/// ~38 MB region (67% of the blob) goes out as two buckets.
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;
/// Environment variable overriding the bucket size, in MB (decimal, > 0).
pub const BUCKET_ENV: &str = "ELECTRA_GRAD_BUCKET_MB";
/// Environment variable turning the overlap off (`0`): one blocking allreduce after the whole backward pass.
pub const OVERLAP_ENV: &str = "ELECTRA_GRAD_OVERLAP";

/// How gradients travel between ranks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GradPrecision {
    /// float32: the sums are exact float32 sums, in the MPI library's order.
    #[default]
    F32,
    /// bfloat16 on the wire (half the bytes): each rank's gradient is rounded to bf16 (to nearest, ties to even),
    /// every addition of the reduction is done in float32 and its result rounded to bf16 again before it travels
    /// on, and the mean over ranks is taken in float32 from the bf16 sum. bf16 keeps float32's exponent range, so
    /// no gradient overflows or needs loss scaling; each value keeps 8 significant bits.
    Bf16,
}

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
    /// The communication thread of the overlapped gradient reduction failed.
    CommThread { message: String },
    /// An environment knob of this module holds a value it cannot use.
    BadEnv { var: &'static str, value: String, expected: &'static str },
    /// A step posted another part of the gradient blob than the whole of it, exactly once.
    IncompleteGradient { posted: usize, len: usize },
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
            Self::CommThread { message } => write!(f, "gradient communication thread: {message}"),
            Self::BadEnv { var, value, expected } => write!(f, "{var}={value:?}: expected {expected}"),
            Self::IncompleteGradient { posted, len } => write!(
                f,
                "the step posted {posted} gradient values for reduction, the blob has {len}: every value must be \
                 posted exactly once"
            ),
        }
    }
}

impl std::error::Error for DistError {}

/// The group of processes training one model together.
pub struct World {
    backend: Backend,
    /// Time spent inside gradient allreduces since the last [`World::take_comm_time`]: with the overlap, only
    /// the wait after the backward pass (the communication the step still sees).
    comm_time: Duration,
    /// Time the communication thread spent reducing buckets since the last [`World::take_comm_busy`]: hidden
    /// behind the backward pass plus the part in `comm_time`.
    comm_busy: Duration,
    /// Floats per gradient bucket.
    bucket_len: usize,
    /// Whether [`World::begin_gradient_mean`] overlaps (false: `ELECTRA_GRAD_OVERLAP=0`).
    overlap: bool,
    /// Spare bucket buffers, kept between steps so a step allocates nothing.
    pool: Vec<Vec<f32>>,
    /// How gradient means travel ([`World::set_grad_precision`]).
    precision: GradPrecision,
}

/// A part of the gradient blob on its way to the communication thread. (Only the MPI backend reads
/// its fields and builds [`ReducedBucket`]s: a build without the `mpi` feature posts buckets to no one.)
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) struct GradBucket {
    pub offset: usize,
    pub values: Vec<f32>,
    /// Receive buffer (its contents are overwritten).
    pub sums: Vec<f32>,
    pub precision: GradPrecision,
}

/// A bucket summed over all ranks.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) struct ReducedBucket {
    pub offset: usize,
    pub sums: Vec<f32>,
    /// The send buffer, returned for reuse.
    pub spare: Vec<f32>,
    /// Time from the start of its `MPI_Iallreduce` to its completion.
    pub busy: Duration,
}

/// Posts final parts of one step's gradient blob for reduction; owns no borrow of the [`World`], so the step can
/// hold it next to the closure that sums token counts through the world.
pub struct GradientPoster {
    jobs: Sender<GradBucket>,
    bucket_len: usize,
    precision: GradPrecision,
    pool: Vec<Vec<f32>>,
    /// Buckets sent.
    buckets: usize,
    /// Values sent, to check that the whole blob was posted exactly once.
    values: usize,
}

impl GradientPoster {
    /// Copies `values` (the blob's elements from `offset` on, final for this step) into buckets and sends them to
    /// the communication thread, which starts reducing at once.
    pub fn post(&mut self, offset: usize, values: &[f32]) -> Result<(), DistError> {
        for (i, chunk) in values.chunks(self.bucket_len).enumerate() {
            let mut send = self.pool.pop().unwrap_or_default();
            send.clear();
            send.extend_from_slice(chunk);
            let sums = self.pool.pop().unwrap_or_default();
            let bucket =
                GradBucket { offset: offset + i * self.bucket_len, values: send, sums, precision: self.precision };
            self.jobs.send(bucket).map_err(|_| DistError::CommThread { message: "it has stopped".into() })?;
            self.buckets += 1;
            self.values += chunk.len();
        }
        Ok(())
    }
}

enum Backend {
    Single,
    #[cfg(feature = "mpi")]
    Mpi(Box<mpi_backend::MpiBackend>),
}

impl World {
    /// A world of one process: no communication at all.
    pub fn single() -> Self {
        Self {
            backend: Backend::Single,
            comm_time: Duration::ZERO,
            comm_busy: Duration::ZERO,
            bucket_len: DEFAULT_BUCKET_BYTES / 4,
            overlap: true,
            pool: Vec::new(),
            precision: GradPrecision::F32,
        }
    }

    /// How [`World::allreduce_mean`] and the overlapped gradient mean send gradients from now on (a run's
    /// setting: every rank must use the same).
    pub fn set_grad_precision(&mut self, precision: GradPrecision) {
        self.precision = precision;
    }

    /// Reads `ELECTRA_GRAD_BUCKET_MB` and `ELECTRA_GRAD_OVERLAP` through `env`.
    fn with_knobs(mut self, env: impl Fn(&str) -> Option<String>) -> Result<Self, DistError> {
        if let Some(value) = env(BUCKET_ENV) {
            let mb: f64 = value.trim().parse().unwrap_or(f64::NAN);
            let floats = (mb * 1e6 / 4.0).round();
            if !(mb > 0.0 && floats >= 1.0 && floats < usize::MAX as f64) {
                return Err(DistError::BadEnv { var: BUCKET_ENV, value, expected: "a size in MB above 0" });
            }
            self.bucket_len = floats as usize;
        }
        if let Some(value) = env(OVERLAP_ENV) {
            self.overlap = match value.trim() {
                "0" => false,
                "1" => true,
                _ => return Err(DistError::BadEnv { var: OVERLAP_ENV, value, expected: "0 or 1" }),
            };
        }
        Ok(self)
    }

    /// Joins the world the launcher started, and checks its size against the launcher's environment.
    ///
    /// Under `mpirun`/`srun` with the `mpi` feature this initialises MPI; without a launcher it is a world of one.
    /// Without the `mpi` feature, a launcher that announces several processes is an error rather than N
    /// independent runs.
    pub fn from_environment() -> Result<Self, DistError> {
        let env = |k: &str| std::env::var(k).ok();
        let launcher = launcher_world_size(env);
        if let Some(warning) = oversubscription(env, rayon::current_num_threads()) {
            eprintln!("warning: {warning}");
        }
        #[cfg(feature = "mpi")]
        {
            if launcher.is_some() {
                let backend = mpi_backend::MpiBackend::initialize()?;
                let world = Self { backend: Backend::Mpi(Box::new(backend)), ..Self::single() }.with_knobs(env)?;
                check_world_size(world.world_size(), launcher)?;
                return Ok(world);
            }
        }
        if let Some(l) = launcher {
            if l.size > 1 {
                return Err(DistError::MpiNotBuilt { launcher_var: l.var, launcher_size: l.size });
            }
        }
        Self::single().with_knobs(env)
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
            Backend::Mpi(m) => m.allreduce_mean_f32(values, self.precision),
        };
        self.comm_time += start.elapsed();
        result
    }

    /// Starts an overlapped gradient mean over a blob of `len` floats: `Ok(None)` when there is nothing to
    /// overlap (a world of one, `ELECTRA_GRAD_OVERLAP=0`, or an MPI without `MPI_THREAD_SERIALIZED`); the caller
    /// then uses [`World::allreduce_mean`] after the backward pass. Every rank must post the same parts in the same
    /// order, and make no other call on this world until [`World::finish_gradient_mean`].
    pub fn begin_gradient_mean(&mut self, len: usize) -> Result<Option<GradientPoster>, DistError> {
        let _ = len;
        if !self.overlap {
            return Ok(None);
        }
        match &mut self.backend {
            Backend::Single => Ok(None),
            #[cfg(feature = "mpi")]
            Backend::Mpi(m) if m.can_overlap() => {
                let jobs = m.begin_overlap(len)?;
                let pool = std::mem::take(&mut self.pool);
                let (bucket_len, precision) = (self.bucket_len, self.precision);
                Ok(Some(GradientPoster { jobs, bucket_len, precision, pool, buckets: 0, values: 0 }))
            }
            #[cfg(feature = "mpi")]
            Backend::Mpi(_) => Ok(None),
        }
    }

    /// Waits for every bucket `poster` sent and writes the mean over ranks into `out` (the whole blob, which the
    /// step must have posted exactly once). The wait is timed into [`World::take_comm_time`], the buckets'
    /// reduction times into [`World::take_comm_busy`].
    pub fn finish_gradient_mean(&mut self, poster: GradientPoster, out: &mut [f32]) -> Result<(), DistError> {
        let start = Instant::now();
        let GradientPoster { jobs, pool, buckets, values, .. } = poster;
        drop(jobs);
        self.pool = pool;
        let scale = 1.0 / self.world_size() as f32;
        let mut result = Ok(());
        #[cfg(feature = "mpi")]
        {
            if let Backend::Mpi(m) = &mut self.backend {
                m.posted(buckets);
                for _ in 0..buckets {
                    let reduced = m.next_reduced()?;
                    self.comm_busy += reduced.busy;
                    let end = reduced.offset + reduced.sums.len();
                    match out.get_mut(reduced.offset..end) {
                        // The same `sum · (1/N)` as `allreduce_mean`: bit-identical for identical sums.
                        Some(dst) => dst.iter_mut().zip(&reduced.sums).for_each(|(d, &s)| *d = s * scale),
                        None => result = Err(DistError::IncompleteGradient { posted: end, len: out.len() }),
                    }
                    self.pool.push(reduced.sums);
                    self.pool.push(reduced.spare);
                }
            }
        }
        #[cfg(not(feature = "mpi"))]
        let _ = (buckets, scale);
        self.comm_time += start.elapsed();
        if result.is_ok() && values != out.len() {
            result = Err(DistError::IncompleteGradient { posted: values, len: out.len() });
        }
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

    /// Time spent in gradient allreduces since the last call, and resets it: with the overlap, the time the step
    /// waited for them after its backward pass.
    pub fn take_comm_time(&mut self) -> Duration {
        std::mem::take(&mut self.comm_time)
    }

    /// Time the communication thread spent reducing gradient buckets since the last call (hidden behind the
    /// backward pass or not), and resets it.
    pub fn take_comm_busy(&mut self) -> Duration {
        std::mem::take(&mut self.comm_busy)
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
        assert!(world.begin_gradient_mean(3)?.is_none(), "a world of one has nothing to overlap");
        Ok(())
    }

    #[test]
    fn knobs_are_read_and_checked() -> Result<(), DistError> {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let world = World::single().with_knobs(env(&[(BUCKET_ENV, "25"), (OVERLAP_ENV, "0")]))?;
        assert_eq!((world.bucket_len, world.overlap), (6_250_000, false));
        assert_eq!(World::single().with_knobs(env(&[]))?.bucket_len, DEFAULT_BUCKET_BYTES / 4);
        for bad in [[(BUCKET_ENV, "0")], [(BUCKET_ENV, "big")], [(OVERLAP_ENV, "yes")]] {
            let pairs: &'static [(&str, &str)] = Box::leak(Box::new(bad));
            assert!(matches!(World::single().with_knobs(env(pairs)), Err(DistError::BadEnv { .. })), "{bad:?}");
        }
        Ok(())
    }
}
