//! ELECTRA on the Arm MPS2 board with the AN500 FPGA image (Cortex-M7, the STM32H7 class), as QEMU's `mps2-an500`
//! emulates it.
//!
//! The program is the shared one (`app/`, [`electra_firmware::run`]); this crate holds what differs per board:
//! the description below, the memory map (`memory.x`), and the target, CPU and QEMU runner (`.cargo/config.toml`).
#![no_std]
#![no_main]

use electra_firmware::Board;

const BOARD: Board = Board { machine: "mps2-an500", core: "Cortex-M7", systick_hz: 25_000_000, mve: false };

#[cortex_m_rt::entry]
fn main() -> ! {
    electra_firmware::run(&BOARD)
}
