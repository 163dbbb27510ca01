//! ELECTRA replaced-token detection on a Cortex-M4F.
#![no_std]
#![no_main]

mod board;

use cortex_m_rt::entry;
use cortex_m_semihosting::hprintln;

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().unwrap_or_else(|| board::exit_failure());
    board::ensure_fpu_enabled(&mut core.SCB);
    let counter = board::InstructionCounter::start(core.SYST);
    let calibration = counter.calibrate();
    hprintln!("hello from the Cortex-M4F; calibration loop: {} instructions (expected 4000000)", calibration);
    let x = core::hint::black_box(1.5f32) * core::hint::black_box(2.25f32);
    hprintln!("float check: 1.5 * 2.25 = {}", x);
    hprintln!("stack high-water mark: {} of {} bytes", board::stack_high_water_bytes(), board::stack_capacity_bytes());
    board::exit_success();
}
