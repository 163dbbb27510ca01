//! How a run is planned and spread over workers: the plan it picks for the arena it is given (the
//! most rows per block that fit, with the cache of the quantized hidden state if that fits too),
//! and each phase split into one task per worker, each with its own outputs and scratch.

use super::arena::{ArenaOptions, Carver, Dims, Plan, Shared};
use super::encoder::MIN_ROWS_PER_BLOCK;
use super::error::RunError;
use super::parallel::{Parallel, MAX_WORKERS};
use crate::model_file::Model;
use core::ops::Range;

/// Rows per block that [`Model::run`] tries, largest first; it takes the largest that fits the
/// arena it is given. The last is [`MIN_ROWS_PER_BLOCK`], so [`Model::arena_bytes`] of
/// [`ArenaOptions::SMALLEST`] is the least `run` accepts.
const ROW_BLOCKS: [usize; 7] = [128, 64, 32, 16, 8, 4, MIN_ROWS_PER_BLOCK];

/// The arena of one run, carved: the plan's sizes, the regions every worker shares, and one
/// scratch per worker.
pub(super) struct RunArena<'r> {
    pub d: Dims,
    pub shared: Shared<'r>,
    pub scratches: heapless::Vec<&'r mut [u8], MAX_WORKERS>,
}

/// Chooses the plan for `t` tokens on `workers` workers that `arena` holds and carves it; an
/// error if there are too many workers, or the arena is misaligned or too small for any plan.
pub(super) fn plan_arena<'r>(
    model: &Model,
    t: usize,
    workers: usize,
    arena: &'r mut [u8],
) -> Result<RunArena<'r>, RunError> {
    let workers = workers.max(1);
    if workers > MAX_WORKERS {
        return Err(RunError::TooManyWorkers { workers, max: MAX_WORKERS });
    }
    let address = arena.as_ptr() as usize;
    if !address.is_multiple_of(4) {
        return Err(RunError::ArenaMisaligned { address });
    }
    let (config, head, found) = (model.config(), model.head(), arena.len());
    let fits = |r: usize, cache_x: bool| -> Option<(Dims, Plan)> {
        let dims = Dims::new(config, head, t, r, cache_x);
        let plan = Plan::new(&dims).ok()?;
        (plan.total(workers)? <= found).then_some((dims, plan))
    };
    let chosen = ROW_BLOCKS.iter().find_map(|&r| fits(r.min(t), true).or_else(|| fits(r.min(t), false)));
    let Some((d, plan)) = chosen else {
        let needed = model.arena_bytes(t, ArenaOptions { workers, ..ArenaOptions::SMALLEST });
        return Err(RunError::ArenaTooSmall { needed, found });
    };

    let (shared_bytes, rest) = arena.split_at_mut(plan.shared);
    let mut scratches: heapless::Vec<&mut [u8], MAX_WORKERS> = heapless::Vec::new();
    for chunk in rest.chunks_exact_mut(plan.scratch.max(1)).take(workers) {
        let _ = scratches.push(chunk);
    }
    let shared = Shared::carve(&mut Carver::new(shared_bytes), &d)?;
    Ok(RunArena { d, shared, scratches })
}

/// One slice of a phase's work.
struct Task<'x, O> {
    /// Token rows, or heads for attention.
    items: Range<usize>,
    out: &'x mut [O],
    /// The context scales of `items` (attention), or the scales of their quantized rows.
    out_scale: &'x mut [f32],
    /// The quantized rows of `items` (phases that write the hidden state, with the cache).
    out_q: &'x mut [i8],
    scratch: &'x mut [u8],
    result: Result<(), RunError>,
}

/// A phase's work on `(items, out, out_scale, out_q, scratch)`.
pub(super) type TaskFn<'f, O> =
    dyn Fn(Range<usize>, &mut [O], &mut [f32], &mut [i8], &mut [u8]) -> Result<(), RunError> + Sync + 'f;

/// Per-item chunks of the outputs of a phase: `(slice, elements per item)`.
pub(super) struct Outputs<'x, O> {
    out: (&'x mut [O], usize),
    scale: (&'x mut [f32], usize),
    q: (&'x mut [i8], usize),
}

impl<'x, O> Outputs<'x, O> {
    pub(super) fn new(out: &'x mut [O], per_item: usize) -> Self {
        Self { out: (out, per_item), scale: (&mut [], 0), q: (&mut [], 0) }
    }

    pub(super) fn with_scale(self, scale: &'x mut [f32], per_item: usize) -> Self {
        Self { scale: (scale, per_item), ..self }
    }

    pub(super) fn with_q(self, q: &'x mut [i8], per_item: usize) -> Self {
        Self { q: (q, per_item), ..self }
    }
}

/// The hidden state's rows (`[T, H]` f16) and, with the cache, their quantized rows and scales.
pub(super) fn hidden_outputs<'x>(
    d: &Dims,
    hidden: &'x mut [u16],
    x_q: &'x mut [i8],
    x_scale: &'x mut [f32],
) -> Outputs<'x, u16> {
    let per_row = |n: usize| if d.cache_x { n } else { 0 };
    Outputs::new(hidden, d.h).with_q(x_q, per_row(d.h)).with_scale(x_scale, per_row(1))
}

/// The first `items · per_item` elements of `rest` (as many as there are), leaving the others.
fn take_chunk<'x, T>(rest: &mut &'x mut [T], items: usize, per_item: usize) -> &'x mut [T] {
    let len = (items * per_item).min(rest.len());
    let (chunk, tail) = core::mem::take(rest).split_at_mut(len);
    *rest = tail;
    chunk
}

/// Splits `0..count` into one contiguous range per worker, each output into the matching chunks
/// of its per-item elements, runs `f` on each, and returns the first error.
pub(super) fn run_tasks<P: Parallel, O: Send>(
    parallel: &P,
    scratches: &mut [&mut [u8]],
    count: usize,
    outputs: Outputs<'_, O>,
    f: &TaskFn<'_, O>,
) -> Result<(), RunError> {
    let available = scratches.len();
    let workers = available.min(count).max(1);
    let chunk = count.div_ceil(workers);
    let mut tasks: heapless::Vec<Task<O>, MAX_WORKERS> = heapless::Vec::new();
    let Outputs { out: (mut out_rest, per_item), scale: (mut scale_rest, per_scale), q: (mut q_rest, per_q) } = outputs;
    for (w, scratch) in scratches.iter_mut().enumerate().take(workers) {
        let items = (w * chunk).min(count)..((w + 1) * chunk).min(count);
        let out = take_chunk(&mut out_rest, items.len(), per_item);
        let out_scale = take_chunk(&mut scale_rest, items.len(), per_scale);
        let out_q = take_chunk(&mut q_rest, items.len(), per_q);
        let task = Task { items, out, out_scale, out_q, scratch, result: Ok(()) };
        if tasks.push(task).is_err() {
            return Err(RunError::TooManyWorkers { workers: available, max: MAX_WORKERS });
        }
    }
    parallel.for_each(&mut tasks, &|t: &mut Task<O>| {
        t.result = f(t.items.clone(), t.out, t.out_scale, t.out_q, t.scratch);
    });
    tasks.into_iter().map(|t| t.result).find(|r| r.is_err()).unwrap_or(Ok(()))
}
