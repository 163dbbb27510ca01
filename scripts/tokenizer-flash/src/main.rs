//! Measures the flash the tokenizer takes (see measure.sh); not part of the workspace.
#![no_std]
#![no_main]
#![allow(static_mut_refs)]
#[allow(unused_imports)]
use core::ptr::{read_volatile, write_volatile};

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[no_mangle]
static mut INPUT: [usize; 8] = [0; 8];
#[no_mangle]
static mut OUTPUT: [u32; 8] = [0; 8];

#[no_mangle]
pub extern "C" fn tok_entry() -> ! {
    unsafe {
        let i: [usize; 8] = read_volatile(&raw const INPUT);
        let vocab = core::slice::from_raw_parts(i[0] as *const u8, i[1]);
        let index = core::slice::from_raw_parts_mut(i[2] as *mut u32, i[3]);
        let text = core::str::from_utf8_unchecked(core::slice::from_raw_parts(i[4] as *const u8, i[5]));
        let _ = (vocab, &index, text);
        #[cfg(feature = "build_index")]
        {
            let r = electra_core::tokenizer::build_index(vocab, index).is_ok() as u32;
            write_volatile(&raw mut OUTPUT[7], r);
        }
        #[cfg(feature = "tokenizer")]
        if let Ok(tok) = electra_core::tokenizer::Tokenizer::new(vocab, index) {
            let mut ids = [0u32; 128];
            let n = tok.encode(text, &mut ids).unwrap_or(0);
            write_volatile(&raw mut OUTPUT[0], n as u32);
            write_volatile(&raw mut OUTPUT[1], ids[i[6] % 128]);
            write_volatile(&raw mut OUTPUT[2], tok.id_to_token(ids[0]).map_or(0, |t| t.len() as u32));
            #[cfg(feature = "pair")]
            {
                let mut types = [0u8; 128];
                let n = tok.encode_pair(text, Some(text), i[7], &mut ids, &mut types).unwrap_or(0);
                write_volatile(&raw mut OUTPUT[3], n as u32 + types[i[6] % 128] as u32 + ids[i[6] % 128]);
            }
        }
    }
    loop {}
}
