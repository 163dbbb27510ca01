//! ELECTRA on the Arm MPS2 board with the AN386 FPGA image (Cortex-M4F), as QEMU's `mps2-an386` emulates it.
//!
//! The program is the shared one (`app/`, [`electra_firmware::run`]); this crate holds what differs per board:
//! the description below, the memory map (`memory.x`), and the target, CPU and QEMU runner (`.cargo/config.toml`).
#![no_std]
#![no_main]

use electra_firmware::Board;

const BOARD: Board = Board { machine: "mps2-an386", core: "Cortex-M4F", systick_hz: 25_000_000, mve: false };

#[cortex_m_rt::entry]
fn main() -> ! {
    electra_firmware::run(&BOARD)
}
