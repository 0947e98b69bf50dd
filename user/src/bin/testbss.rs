//! testbss (JOS's user/testbss.c): checks that the 4 MiB bss array starts zeroed and is writable,
//! then writes one page past its end, which must fault (`user fault va 00c.....`).
#![no_std]
#![no_main]

use core::ptr::{addr_of_mut, read_volatile, write_volatile};

use jos_lib::println;

jos_lib::entry!(umain);

const ARRAYSIZE: usize = 1024 * 1024;

static mut BIGARRAY: [u32; ARRAYSIZE] = [0; ARRAYSIZE];

fn umain() {
    // Volatile accesses: the compiler knows the array starts zeroed and would otherwise
    // check nothing. The array is the last big object of the image, so one page past its end
    // is past the end of bss and unmapped.
    let a = addr_of_mut!(BIGARRAY).cast::<u32>();
    println!("\nMaking sure bss works right...");
    for i in 0..ARRAYSIZE {
        // SAFETY: i < ARRAYSIZE; nothing else refers to the array.
        if unsafe { read_volatile(a.add(i)) } != 0 {
            panic!("bigarray[{}] isn't cleared!", i);
        }
    }
    for i in 0..ARRAYSIZE {
        // SAFETY: as above.
        unsafe { write_volatile(a.add(i), i as u32) };
    }
    for i in 0..ARRAYSIZE {
        // SAFETY: as above.
        if unsafe { read_volatile(a.add(i)) } != i as u32 {
            panic!("bigarray[{}] didn't hold its value!", i);
        }
    }

    println!("Yes, good.  Now doing a wild write off the end...");
    // SAFETY: none, deliberately: this address is past the end of the program's memory and
    // must fault, so the write never happens.
    unsafe { write_volatile(a.wrapping_add(ARRAYSIZE + 1024), 0) };
    panic!("SHOULD HAVE TRAPPED!!!");
}
