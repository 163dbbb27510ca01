//! ELECTRA on the Arm MPS2+ board with the AN505 FPGA image (Cortex-M33, the RP2350 / nRF5340 class), as QEMU's
//! `mps2-an505` emulates it, running in the Secure state it resets in.
//!
//! The program is the shared one (`app/`, [`electra_firmware::run`]); this crate holds what differs per board:
//! the description below, the memory map (`memory.x`), and the target, CPU and QEMU runner (`.cargo/config.toml`).
#![no_std]
#![no_main]

use electra_firmware::Board;

const BOARD: Board = Board { machine: "mps2-an505", core: "Cortex-M33", systick_hz: 20_000_000, mve: false };

#[cortex_m_rt::entry]
fn main() -> ! {
    electra_firmware::run(&BOARD)
}
