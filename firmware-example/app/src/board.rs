//! What the firmware needs from the board: console, exit status, an instruction counter, stack measurement,
//! and the fault handlers that make sure a broken build can never hang a test.
//!
//! Everything here talks to the Cortex-M core only (SysTick, SCB, the FPU's feature registers), not to MPS2/MPS3
//! peripherals, so it is the same on every board (ARMv7E-M and ARMv8-M Mainline alike); only the SysTick clock,
//! which each board's [`crate::Board`] gives, is QEMU-specific.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::{SCB, SYST};
use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::debug::{self, EXIT_FAILURE, EXIT_SUCCESS};
use cortex_m_semihosting::hprintln;

/// Ends the program: QEMU exits with status 0.
pub fn exit_success() -> ! {
    debug::exit(EXIT_SUCCESS);
    // Reached only without a debugger attached (a real board running stand-alone): stop here.
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Ends the program: QEMU exits with a non-zero status.
pub fn exit_failure() -> ! {
    debug::exit(EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}

/// Media and VFP Feature Register 0 (SCB, ARMv7-M and ARMv8-M): bits 7:4 single precision, 11:8 double precision
/// (0b0010 = supported).
const MVFR0: *const u32 = 0xE000_EF40 as *const u32;
/// Media and VFP Feature Register 1: bits 11:8 are the M-profile Vector Extension on ARMv8.1-M (0 = none,
/// 1 = integer, 2 = integer and floating point); reserved, reading 0, on ARMv7-M and ARMv8.0-M.
const MVFR1: *const u32 = 0xE000_EF44 as *const u32;

/// What [`ensure_fpu_enabled`] found, for the boot report.
pub struct FpuReport {
    cpacr: u32,
    mvfr0: u32,
    mvfr1: u32,
}

impl FpuReport {
    fn double_precision(&self) -> bool {
        (self.mvfr0 >> 8) & 0xf == 0b0010
    }

    /// MVFR1.MVE: 0 none, 1 integer, 2 integer and floating point.
    fn mve(&self) -> u32 {
        (self.mvfr1 >> 8) & 0xf
    }
}

impl core::fmt::Display for FpuReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let precision = if self.double_precision() { "single and double precision" } else { "single precision" };
        let mve = match self.mve() {
            0 => "no vector extension",
            1 => "MVE (Helium) integer",
            _ => "MVE (Helium) integer and floating point",
        };
        write!(f, "FPU: {}, {}; CPACR = {:#010x} (CP10/CP11 full access)", precision, mve, self.cpacr)
    }
}

/// Checks that the FPU, and with `mve` the vector extension, may be used, before any float code runs.
///
/// cortex-m-rt's reset handler (assembly, before `main` and before any Rust code but `__pre_init`) sets
/// CPACR.CP10/CP11 to full access on `eabihf` targets. Without that, the first float instruction is a UsageFault
/// (NOCP), and if the fault handler's own code touches an FPU or vector register too, the core locks up and QEMU
/// sits there until the test's timeout. On ARMv8.1-M the same two fields grant access to the M-profile Vector
/// Extension (Helium) as well: MVE has no enable of its own, it shares the FPU's registers and access control.
/// Re-enabling is idempotent, so do it here too and verify; with `mve` (a `target-cpu=cortex-m55` build, whose
/// code LLVM may vectorize with MVE) also check that the core has MVE (MVFR1), so an M55 build booted on a core
/// without it stops with an error instead of an undefined-instruction fault somewhere in the model code.
pub fn ensure_fpu_enabled(scb: &mut SCB, mve: bool) -> FpuReport {
    scb.enable_fpu();
    cortex_m::asm::dsb();
    cortex_m::asm::isb();
    // SCB.CPACR: bits 23:20 = CP11 and CP10 access, 0b11 each = full access.
    const CPACR_CP10_CP11_FULL: u32 = 0b1111 << 20;
    let cpacr = scb.cpacr.read();
    if cpacr & CPACR_CP10_CP11_FULL != CPACR_CP10_CP11_FULL {
        hprintln!("error: FPU still disabled (CPACR = {:#010x})", cpacr);
        exit_failure();
    }
    // SAFETY: MVFR0/MVFR1 are read-only identification registers of every core with an FPU (all eabihf targets).
    let (mvfr0, mvfr1) = unsafe { (core::ptr::read_volatile(MVFR0), core::ptr::read_volatile(MVFR1)) };
    let report = FpuReport { cpacr, mvfr0, mvfr1 };
    if mve && report.mve() == 0 {
        hprintln!(
            "error: this build uses Helium (target-cpu=cortex-m55) but the core has no MVE (MVFR1 = {:#010x})",
            mvfr1
        );
        exit_failure();
    }
    report
}

// ---------------------------------------------------------------------------------------------------------------
// Instruction counting.
//
// QEMU does not model the DWT cycle counter (CYCCNT reads 0), but its SysTick runs on the virtual clock, and with
// `-icount shift=0` the virtual clock advances exactly 1 ns per executed instruction. SysTick's "processor clock" is
// the board's SYSCLK (QEMU hw/arm/mps2.c: 25 MHz on the MPS2 boards, so one tick = 40 ns = 40 instructions;
// hw/arm/mps2-tz.c: 20 MHz on the AN505, 50 instructions, 32 MHz on the AN547, 31.25 instructions). SysTick is a
// 24-bit down-counter; the exception below counts wraps so the total never overflows.
// [`InstructionCounter::calibrate`] checks the clock against a loop of known length at every boot.

/// Nanoseconds per second: under `-icount shift=0`, instructions per second of QEMU's virtual clock.
const INSTRUCTIONS_PER_SECOND: u128 = 1_000_000_000;
/// SysTick reload: the full 24 bits, so an exception (one wrap) comes every 2^24 ticks.
const SYST_RELOAD: u32 = 0x00FF_FFFF;

static SYSTICK_WRAPS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    SYSTICK_WRAPS.fetch_add(1, Ordering::Relaxed);
}

/// A free-running 64-bit tick count built from SysTick and its wrap count.
pub struct InstructionCounter {
    syst: SYST,
    /// SysTick's clock in Hz ([`crate::Board::systick_hz`]).
    hz: u32,
}

impl InstructionCounter {
    /// Starts SysTick on the processor clock (`hz`), counting down from 2^24 - 1 with the wrap exception on.
    pub fn start(mut syst: SYST, hz: u32) -> Self {
        syst.disable_counter();
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(SYST_RELOAD);
        syst.clear_current();
        SYSTICK_WRAPS.store(0, Ordering::Relaxed);
        syst.enable_interrupt();
        syst.enable_counter();
        // The counter holds 0 until its first tick loads the reload value; start counting from there.
        while SYST::get_current() == 0 {}
        Self { syst, hz: hz.max(1) }
    }

    /// Ticks since [`InstructionCounter::start`].
    pub fn ticks(&self) -> u64 {
        let _ = &self.syst; // owning SYST proves nobody else reprograms it
        loop {
            let wraps_before = SYSTICK_WRAPS.load(Ordering::Relaxed);
            let current = SYST::get_current();
            let wraps_after = SYSTICK_WRAPS.load(Ordering::Relaxed);
            // The wrap exception fires as the counter reaches 0, so the value 0 may or may not be counted yet, and a
            // wrap between the two loads makes `current` ambiguous: read again (0 lasts one tick).
            if wraps_before == wraps_after && current != 0 {
                let into_period = u64::from(SYST_RELOAD - current);
                return u64::from(wraps_after) * (u64::from(SYST_RELOAD) + 1) + into_period;
            }
        }
    }

    /// Instructions executed since `start_ticks` (a value from [`InstructionCounter::ticks`]).
    pub fn instructions_since(&self, start_ticks: u64) -> u64 {
        // 128 bits: 2^64 ticks times 10^9 would not fit in 64 (this runs a few times per inference, off the hot path).
        let ticks = u128::from(self.ticks() - start_ticks);
        (ticks * INSTRUCTIONS_PER_SECOND / u128::from(self.hz)) as u64
    }

    /// Runs a loop of exactly `2 × ITERATIONS` instructions and checks the counter reports that many within 1 %.
    /// Fails (exits non-zero) when the runner lacks `-icount shift=0`, since every count printed would be wrong.
    pub fn calibrate(&self) -> u64 {
        const ITERATIONS: u32 = 2_000_000;
        const LOOP_INSTRUCTIONS: u64 = 2 * ITERATIONS as u64;
        // Tolerance: the tick granularity (at most 50 instructions) and the counter reads themselves are < 0.01 %; 1 %
        // still rejects any other icount shift (a factor of 2 or more) and free-running (non-icount) QEMU.
        const TOLERANCE_PERCENT: u64 = 1;
        let start = self.ticks();
        // SAFETY: only touches r0 (declared as clobbered) and the flags.
        unsafe {
            core::arch::asm!(
                "2:",
                "subs {n}, {n}, #1", // 1 instruction
                "bne 2b",            // 1 instruction
                n = inout(reg) ITERATIONS => _,
                options(nomem, nostack),
            );
        }
        let measured = self.instructions_since(start);
        let error = measured.abs_diff(LOOP_INSTRUCTIONS);
        if error * 100 > LOOP_INSTRUCTIONS * TOLERANCE_PERCENT {
            hprintln!(
                "error: instruction counter off: a {}-instruction loop measured {} (is QEMU running with -icount shift=0?)",
                LOOP_INSTRUCTIONS,
                measured
            );
            exit_failure();
        }
        measured
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Stack high-water mark. cortex-m-rt's `paint-stack` feature fills [_stack_end, _stack_start) with 0xCCCCCCCC at
// reset; the deepest word no longer holding the paint marks how far the stack has ever grown.

/// The value cortex-m-rt paints the free stack with (its `STACK_PAINT_VALUE`).
const STACK_PAINT: u32 = 0xCCCC_CCCC;

extern "C" {
    /// Lowest address the stack may use (end of .bss/.uninit), from cortex-m-rt's link.x.
    static _stack_end: u32;
    /// Initial stack pointer (top of RAM), from link.x.
    static _stack_start: u32;
}

/// Bytes between the bottom of the stack region and the top: the most the stack can grow.
pub fn stack_capacity_bytes() -> usize {
    // Only the addresses of the linker symbols are taken, never their (meaningless) values.
    let (bottom, top) = (core::ptr::addr_of!(_stack_end) as usize, core::ptr::addr_of!(_stack_start) as usize);
    top - bottom
}

/// Deepest stack use since reset, in bytes: scans up from the bottom for the first word that lost its paint.
pub fn stack_high_water_bytes() -> usize {
    // SAFETY: [_stack_end, _stack_start) is RAM reserved for the stack; reading words below the live stack
    // pointer is harmless (volatile, so the compiler does not assume anything about them).
    unsafe {
        let bottom = core::ptr::addr_of!(_stack_end);
        let top = core::ptr::addr_of!(_stack_start);
        let mut word = bottom;
        while word < top && core::ptr::read_volatile(word) == STACK_PAINT {
            word = word.add(1);
        }
        top as usize - word as usize
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Faults: print what happened and exit QEMU with failure. Nothing may loop forever.

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    // SAFETY of the register reads: SCB fault status registers are read-only here and present on every ARMv7-M and
    // ARMv8-M Mainline core.
    let scb = &*SCB::PTR;
    hprintln!(
        "HARD FAULT at pc={:#010x} lr={:#010x} (HFSR={:#010x} CFSR={:#010x} MMFAR={:#010x} BFAR={:#010x})",
        frame.pc(),
        frame.lr(),
        scb.hfsr.read(),
        scb.cfsr.read(),
        scb.mmfar.read(),
        scb.bfar.read()
    );
    exit_failure();
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    hprintln!("unexpected exception or interrupt {}", irqn);
    exit_failure();
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("PANIC: {}", info);
    exit_failure();
}

// ---------------------------------------------------------------------------------------------------------------
// No heap. Two of electra-core's dependencies link the `alloc` crate even with their `std` features off
// (matrixmultiply, for the float encoder's packing buffers; tinyvec through unicode-normalization), and rustc then
// demands a global allocator, although nothing this firmware runs allocates. This one refuses every request: an
// allocation would stop the firmware with an error, so "no heap" stays checked, not assumed.

struct NoHeap;

// SAFETY: `alloc` never returns (so never hands out memory) and `dealloc` can only be reached with memory from it.
unsafe impl core::alloc::GlobalAlloc for NoHeap {
    unsafe fn alloc(&self, layout: core::alloc::Layout) -> *mut u8 {
        hprintln!("error: a heap allocation of {} bytes was attempted; this firmware has no heap", layout.size());
        exit_failure();
    }

    unsafe fn dealloc(&self, _ptr: *mut u8, _layout: core::alloc::Layout) {
        exit_failure();
    }
}

#[global_allocator]
static NO_HEAP: NoHeap = NoHeap;
