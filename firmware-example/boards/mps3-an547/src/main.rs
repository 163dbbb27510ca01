//! ELECTRA on the Arm MPS3 board with the AN547 FPGA image (Cortex-M55 with Helium, the Alif Ensemble class), as
//! QEMU's `mps3-an547` emulates it, running in the Secure state it resets in.
//!
//! The program is the shared one (`app/`, [`electra_firmware::run`]); this crate holds what differs per board:
//! the description below, the memory map (`memory.x`), and the target, CPU and QEMU runner (`.cargo/config.toml`).
#![no_std]
#![no_main]

use electra_firmware::Board;

const BOARD: Board = Board { machine: "mps3-an547", core: "Cortex-M55", systick_hz: 32_000_000, mve: true };

#[cortex_m_rt::entry]
fn main() -> ! {
    electra_firmware::run(&BOARD)
}
