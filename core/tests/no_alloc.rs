//! The core's promise, checked: a forward pass allocates nothing. The float path (with any `Gemm` that does not
//! allocate, such as `NaiveGemm`) and the int8 path (`Model::run`, with its executor, the pre-packed weights and
//! the tokenizer) run under an allocator that counts every allocation made on the test's thread while armed; the
//! count must stay 0. `float::MatrixMultiply` (feature `matrixmultiply`) is the one exception the crate documents:
//! `matrixmultiply::sgemm` allocates its packing buffers on every call, and this test shows that too, so the
//! exception stays stated and true.

mod common;

use common::{arena, random_ids, HfModel, Init, Rng};
use electra_core::float::gemm::NaiveGemm;
use electra_core::float::{forward, logits_len, scratch_len, ElectraWeights, Gemm, MatrixMultiply, ParamLayout};
use electra_core::{ArenaOptions, ElectraConfig, HeadKind, Model, RunOptions, SequenceInput};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting what this thread allocates while [`ARMED`] is set.
struct CountingAllocator;

thread_local! {
    /// Set only around the code under test, and only on its thread: the test harness's other threads (and this
    /// thread's set-up) allocate freely.
    static ARMED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to `System`; the counters are const-initialised thread-locals, so
// touching them never allocates (no re-entrance).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded with the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

fn count() {
    // `try_with`: during thread teardown the thread-locals may be gone; nothing is armed then.
    let _ = ARMED.try_with(|armed| {
        if armed.get() {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
    });
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// How many allocations `f` makes on this thread.
fn allocations_in(f: impl FnOnce()) -> usize {
    ALLOCATIONS.with(|n| n.set(0));
    ARMED.with(|a| a.set(true));
    f();
    ARMED.with(|a| a.set(false));
    ALLOCATIONS.with(|n| n.get())
}

const HEADS: [HeadKind; 4] = [
    HeadKind::ReplacedTokenDetection,
    HeadKind::MaskedLm,
    HeadKind::SequenceClassification { num_labels: 3 },
    HeadKind::TokenClassification { num_labels: 5 },
];

#[test]
fn the_counter_sees_an_allocation() {
    // The harness itself: without this, a counter that never counts would pass every test below.
    let n = allocations_in(|| drop(std::hint::black_box(vec![1u8; 100])));
    assert_eq!(n, 1);
}

#[test]
fn float_forward_allocates_nothing() {
    let config = ElectraConfig { vocab_size: 120, max_position_embeddings: 64, ..ElectraConfig::tiny() };
    let mut rng = Rng(3);
    for head in HEADS {
        let layout = ParamLayout::new(&config, head).expect("layout");
        let params: Vec<f32> = (0..layout.len()).map(|_| rng.normal() * 0.05).collect();
        let weights = ElectraWeights::new(&config, head, &params).expect("weights");
        let ids = random_ids(&mut rng, 40, config.vocab_size);
        let mask: Vec<u8> = (0..40).map(|i| u8::from(i < 33)).collect();
        let input = SequenceInput { input_ids: &ids, token_type_ids: None, attention_mask: Some(&mask) };
        let mut scratch = vec![0.0f32; scratch_len(&config, head, ids.len())];
        let mut logits = vec![0.0f32; logits_len(&config, head, ids.len())];
        let mut run = |gemm: &dyn Gemm| {
            allocations_in(|| forward(gemm, &weights, &input, &mut scratch, &mut logits).expect("forward"))
        };
        assert_eq!(run(&NaiveGemm), 0, "{head:?}: the float forward pass allocated");
        // The documented exception (feature `matrixmultiply`): its packing buffers come from the heap.
        assert!(run(&MatrixMultiply) > 0, "MatrixMultiply no longer allocates: update the crate's promise");
    }
}

#[test]
fn int8_forward_allocates_nothing() {
    let config = ElectraConfig { vocab_size: 120, max_position_embeddings: 64, ..ElectraConfig::tiny() };
    for (seed, head) in HEADS.into_iter().enumerate() {
        let hf = HfModel::random(config, head, Init { std: 0.1, random_affine: true }, seed as u64);
        let file = hf.model_file(None);
        let model = Model::from_bytes(file.bytes()).expect("model file");
        let ids = random_ids(&mut Rng(11), 40, config.vocab_size);
        let types = vec![0u32; ids.len()];
        let mask: Vec<u8> = (0..40).map(|i| u8::from(i < 33)).collect();
        for options in [ArenaOptions::SMALLEST, ArenaOptions::fast(1)] {
            let len = model.arena_bytes(ids.len(), options);
            let mut a = arena(len);
            let bytes: &mut [u8] = &mut bytemuck::cast_slice_mut(&mut a)[..len];
            let input = SequenceInput::ids(&ids).with_token_types(&types).with_attention_mask(&mask);
            let n = allocations_in(|| {
                model.run(&input, &mut *bytes, &RunOptions::default()).expect("int8 run");
            });
            assert_eq!(n, 0, "{head:?}, {options:?}: the int8 forward pass allocated");
        }
    }
}
