//! How the encoder spreads independent work over cores, without the core crate owning threads.
//!
//! Each phase of a layer splits into at most [`Parallel::workers`] tasks with disjoint outputs and
//! their own slice of the arena (attention: a group of heads each; everything else: a group of
//! token rows each). [`Sequential`] runs them one after the other (microcontrollers); the host
//! passes a thread pool (`electra_train::infer` uses rayon).

/// Upper bound on workers: the task lists live on the stack.
pub const MAX_WORKERS: usize = 16;

/// Runs a phase's tasks, possibly at the same time.
pub trait Parallel: Sync {
    /// How many tasks may run at once (each gets its own scratch; `1..=MAX_WORKERS`).
    fn workers(&self) -> usize;
    /// Calls `task` once on every item, in any order, possibly concurrently; returns when all are done.
    fn for_each<I: Send>(&self, items: &mut [I], task: &(dyn Fn(&mut I) + Sync));
}

/// One task after the other on the calling thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sequential;

impl Parallel for Sequential {
    fn workers(&self) -> usize {
        1
    }

    fn for_each<I: Send>(&self, items: &mut [I], task: &(dyn Fn(&mut I) + Sync)) {
        items.iter_mut().for_each(task)
    }
}
