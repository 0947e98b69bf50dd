//! leakcheck (ours, no JOS counterpart): fork and exit must not leak environments or
//! physical pages.
//!
//! Counts the free `envs[]` slots (ENV_FREE) and the free physical pages (`pp_ref == 0` in
//! the read-only `pages` array at UPAGES; its length is however much of UPAGES is mapped),
//! runs a forktree-like tree of children three levels deep (14 descendants, each exiting),
//! waits until every descendant is gone, and counts again. The tree runs twice and only the
//! second run is measured: the first may leave lasting but legitimate allocations behind
//! (the page table that maps PFTEMP, our exception stack, our own copies of COW pages).
//! Prints `leakcheck: free pages before B after A, free envs before B after A: ok` (or
//! `LEAK`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

use jos_lib::inc::env::{ENV_FREE, NENV};
use jos_lib::inc::memlayout::PageInfo;
use jos_lib::inc::mmu::{PGSIZE, PTSIZE};
use jos_lib::{envs, exit, fork, page_info, println, sys_yield};

jos_lib::entry!(umain);

const DEPTH: u32 = 3;

/// How many times to yield waiting for the tree to finish before declaring it stuck.
const PATIENCE: u32 = 100_000;

fn free_envs() -> usize {
    envs().iter().filter(|e| e.env_status() == ENV_FREE).count()
}

/// Free physical pages, and how many `PageInfo` records are mapped at UPAGES.
fn free_pages() -> (usize, usize) {
    let max = (PTSIZE / core::mem::size_of::<PageInfo>() as u32) as usize;
    let per_page = PGSIZE as usize / core::mem::size_of::<PageInfo>();
    let (mut free, mut records) = (0, 0);
    let mut ppn = 0;
    while ppn < max {
        if page_info(ppn).is_none() {
            // This page of the array is not mapped: skip all its records.
            ppn += per_page;
            continue;
        }
        for p in ppn..ppn + per_page {
            if let Some(info) = page_info(p) {
                records += 1;
                if info.pp_ref == 0 {
                    free += 1;
                }
            }
        }
        ppn += per_page;
    }
    (free, records)
}

/// Fork two children, each of which builds its own subtree and exits.
fn tree(depth: u32) {
    if depth == DEPTH {
        return;
    }
    for _ in 0..2 {
        match fork() {
            Ok(0) => {
                tree(depth + 1);
                exit();
            }
            Ok(_) => {}
            Err(e) => panic!("fork: {}", e),
        }
    }
}

/// Run the tree and wait for it to be gone. Every descendant is created by a live
/// descendant, so once the free count is back to `baseline` no descendant exists or ever
/// will again. Returns false if it never got there.
fn run_tree(baseline: usize) -> bool {
    tree(0);
    for _ in 0..PATIENCE {
        if free_envs() == baseline {
            // Pages are freed before the slot is marked free; yield a few more times anyway
            // so that any CPU still finishing a destroy has done so.
            for _ in 0..10 {
                sys_yield();
            }
            return true;
        }
        sys_yield();
    }
    false
}

fn umain() {
    let (_, records) = free_pages();
    println!(
        "leakcheck: {} page records at UPAGES, {} env slots",
        records, NENV
    );

    // Warm-up round.
    let envs0 = free_envs();
    if !run_tree(envs0) {
        println!("leakcheck: the warm-up tree never finished: LEAK");
        return;
    }

    // The measured round.
    let envs_before = free_envs();
    let (pages_before, _) = free_pages();
    let finished = run_tree(envs_before);
    let envs_after = free_envs();
    let (pages_after, _) = free_pages();

    let ok = finished && envs_before == envs_after && pages_before == pages_after;
    println!(
        "leakcheck: free pages before {} after {}, free envs before {} after {}: {}",
        pages_before,
        pages_after,
        envs_before,
        envs_after,
        if ok { "ok" } else { "LEAK" }
    );
}
