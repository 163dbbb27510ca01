//! The core's memory promise, checked from outside the allocator (issue 17): a forward pass needs nothing but
//! the model, the caller's input and the arena that `arena_bytes` / `scratch_len` promise. Each scenario
//! runs in a child process (this binary again, `harness = false`) that loads its model, records the address space
//! it has mapped (`VmSize`), lowers `RLIMIT_AS` (what `ulimit -v` sets) to that + the promised arena +
//! [`MARGIN_BYTES`], maps the arena, and runs ELECTRA-Small at 128 tokens. Then it asks for one page more than the
//! margin, which must be refused: the limit was binding, so the run really fitted in it. `tests/no_alloc.rs` shows that
//! the same paths make no heap allocation; this shows that nothing else (stack, lazily mapped tables, a hidden
//! `mmap`) grows beyond the arena either.
//!
//! Linux only (`/proc/self/status`, `setrlimit`); the test command runs on Linux.

mod common;

use common::{HfModel, Init, Rng};
use electra_core::float::gemm::NaiveGemm;
use electra_core::float::{forward, logits_len, scratch_len, ElectraWeights, ParamLayout};
use electra_core::{ArenaOptions, ElectraConfig, HeadKind, Model, RunOptions, SequenceInput};
use std::process::{Command, ExitCode};

/// What the child may map beyond the arena during a run: the main thread's stack growing under the inference's
/// frames (the Cortex-M boards measure a 19.5 KB high-water mark for the whole run; x86 frames with vector spills
/// are larger, and the kernel maps the stack in whole pages), and the page rounding of the arena mapping. 128 KiB
/// is a fixed allowance about 6× that stack, and under 0.1% of ELECTRA-Small's model file.
const MARGIN_BYTES: usize = 128 * 1024;

/// The smallest mapping: an arena's mapping is rounded up to whole pages.
const PAGE_BYTES: usize = 4096;

/// Tokens per sequence: ELECTRA-Small's fine-tuning length, where the arena is largest.
const TOKENS: usize = 128;

const CHILD_ENV: &str = "ELECTRA_ADDRESS_SPACE_CHILD";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// The int8 model file, smallest plan (2 rows per block).
    Int8Smallest,
    /// The int8 model file, 32 rows per block with the quantized-hidden cache (the largest plan the boards run).
    Int8Fast,
    /// The float path (`float::forward` with the allocation-free `NaiveGemm`), scratch of `scratch_len`.
    Float,
}

const SCENARIOS: [Scenario; 3] = [Scenario::Int8Smallest, Scenario::Int8Fast, Scenario::Float];

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Int8Smallest => "int8-smallest",
            Self::Int8Fast => "int8-fast",
            Self::Float => "float",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        SCENARIOS.into_iter().find(|s| s.name() == name)
    }
}

fn config() -> ElectraConfig {
    ElectraConfig::small()
}

fn ids() -> Vec<u32> {
    let mut rng = Rng(5);
    // Ids 1000.. as a real sentence has (not the special tokens), the first one [CLS].
    core::iter::once(101).chain((1..TOKENS).map(|_| 1000 + (rng.next_u64() % 20_000) as u32)).collect()
}

fn main() -> ExitCode {
    if let Ok(args) = std::env::var(CHILD_ENV) {
        return child(&args);
    }
    // `cargo test` passes harness flags (`--test-threads`, filters): a filter that names nothing here skips all.
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filter.is_empty() && !filter.iter().any(|f| "address_space".contains(f.as_str())) {
        println!("address_space: filtered out");
        return ExitCode::SUCCESS;
    }
    let dir = std::env::temp_dir().join(format!("electra-address-space-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let model_path = dir.join("small.elq");
    let hf = HfModel::random(config(), HeadKind::ReplacedTokenDetection, Init { std: 0.02, random_affine: false }, 1);
    std::fs::write(&model_path, hf.model_file(None).bytes()).expect("write model file");
    drop(hf);

    let exe = std::env::current_exe().expect("current exe");
    let mut failed = Vec::new();
    for scenario in SCENARIOS {
        let out = Command::new(&exe)
            .env(CHILD_ENV, format!("{} {}", scenario.name(), model_path.display()))
            .output()
            .expect("spawn child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        print!("{stdout}");
        if !out.status.success() {
            eprintln!("{}: child failed ({}):\n{stderr}", scenario.name(), out.status);
            failed.push(scenario);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    if failed.is_empty() {
        println!(
            "address_space: {} scenarios ran inside RLIMIT_AS = mapped + arena + {MARGIN_BYTES} B",
            SCENARIOS.len()
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("address_space: failed: {failed:?}");
        ExitCode::FAILURE
    }
}

/// `VmSize` of this process, in bytes.
fn mapped_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmSize:")).expect("VmSize line");
    let kib: usize = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("VmSize value");
    kib * 1024
}

fn set_address_space_limit(bytes: usize) {
    let limit = libc::rlimit { rlim_cur: bytes as libc::rlim_t, rlim_max: bytes as libc::rlim_t };
    // SAFETY: `setrlimit` reads the struct we pass; it has no other memory effects.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) };
    assert_eq!(rc, 0, "setrlimit(RLIMIT_AS, {bytes}) failed");
}

/// One anonymous private mapping of `len` bytes (page-aligned, zeroed): the arena as firmware has it, a region of
/// its own, not a heap block whose allocator might map more around it.
struct Mapping {
    ptr: *mut u8,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> Option<Self> {
        // SAFETY: an anonymous private mapping with no address hint; the result is checked below.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        (ptr != libc::MAP_FAILED).then_some(Self { ptr: ptr.cast(), len })
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: `ptr` is a live, writable mapping of `len` bytes owned by `self`.
        unsafe { core::slice::from_raw_parts_mut(self.ptr, self.len) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made.
        unsafe { libc::munmap(self.ptr.cast(), self.len) };
    }
}

/// Runs one scenario under the limit; prints one line; exits non-zero on any failure.
fn child(args: &str) -> ExitCode {
    let mut parts = args.splitn(2, ' ');
    let scenario = parts.next().and_then(Scenario::parse).expect("scenario");
    let model_path = parts.next().expect("model path");
    let config = config();
    let ids = ids();
    // Everything that lives through the run is made before the limit: the model, the input, the output copy.
    let file = common::AlignedBytes::from(&std::fs::read(model_path).expect("read model file"));
    let head = HeadKind::ReplacedTokenDetection;
    let float_params: Vec<f32> = match scenario {
        Scenario::Float => {
            let layout = ParamLayout::new(&config, head).expect("layout");
            let mut rng = Rng(2);
            (0..layout.len()).map(|_| rng.normal() * 0.02).collect()
        }
        _ => Vec::new(),
    };
    let mut float_logits = vec![0.0f32; logits_len(&config, head, ids.len())];
    let mut first_logits = [0.0f32; 4];
    let model = Model::from_bytes(file.bytes()).expect("model file");
    let arena_len = match scenario {
        Scenario::Int8Smallest => model.arena_bytes(ids.len(), ArenaOptions::SMALLEST),
        Scenario::Int8Fast => {
            model.arena_bytes(ids.len(), ArenaOptions { rows_per_block: 32, ..ArenaOptions::fast(1) })
        }
        Scenario::Float => scratch_len(&config, head, ids.len()) * core::mem::size_of::<f32>(),
    };
    // stdout's buffer is allocated on first use: use it now, before the limit.
    println!("{}: arena {arena_len} B, starting", scenario.name());

    let baseline = mapped_bytes();
    set_address_space_limit(baseline + arena_len + MARGIN_BYTES);
    let Some(mut arena) = Mapping::new(arena_len) else {
        eprintln!("{}: the arena's {arena_len} B could not be mapped under the limit", scenario.name());
        return ExitCode::FAILURE;
    };
    let outcome: Result<(), String> = match scenario {
        Scenario::Int8Smallest | Scenario::Int8Fast => {
            match model.run(&SequenceInput::ids(&ids), arena.bytes(), &RunOptions::default()) {
                Ok(logits) => {
                    for (dst, src) in first_logits.iter_mut().zip(logits.values) {
                        *dst = *src;
                    }
                    Ok(())
                }
                Err(e) => Err(format!("int8 run: {e}")),
            }
        }
        Scenario::Float => match ElectraWeights::new(&config, head, &float_params) {
            Ok(weights) => {
                let scratch: &mut [f32] = bytemuck::cast_slice_mut(arena.bytes());
                let input = SequenceInput { input_ids: &ids, token_type_ids: None, attention_mask: None };
                forward(&NaiveGemm, &weights, &input, scratch, &mut float_logits).map_err(|e| format!("float: {e}"))
            }
            Err(e) => Err(format!("float weights: {e}")),
        },
    };
    let after = mapped_bytes();
    // The limit binds: what is left of it is at most the margin, so one page more than the margin is refused.
    let refused = Mapping::new(MARGIN_BYTES + PAGE_BYTES).is_none();
    if let Err(e) = outcome {
        eprintln!("{}: {e}", scenario.name());
        return ExitCode::FAILURE;
    }
    if scenario == Scenario::Float {
        first_logits.copy_from_slice(&float_logits[..4]);
    }
    if !first_logits.iter().all(|v| v.is_finite()) {
        eprintln!("{}: non-finite logits {first_logits:?}", scenario.name());
        return ExitCode::FAILURE;
    }
    if !refused {
        eprintln!(
            "{}: a further {} B mapping succeeded: the limit did not bind",
            scenario.name(),
            MARGIN_BYTES + PAGE_BYTES
        );
        return ExitCode::FAILURE;
    }
    println!(
        "{}: ran under RLIMIT_AS = {baseline} mapped + {arena_len} arena + {MARGIN_BYTES} margin; mapped after the \
         run: {} B beyond baseline + arena; first logits {first_logits:?}",
        scenario.name(),
        after.saturating_sub(baseline + arena_len),
    );
    ExitCode::SUCCESS
}
