//! System calls (JOS's kern/syscall.c: every `sys_*` and the `syscall` dispatcher; its
//! user_mem_assert is pmap.rs's, as in JOS). Each call is a function returning `Result`; the
//! dispatcher turns errors into JOS's `-E_*` numbers, the only place they exist in the kernel.
//!
//! Beyond JOS (each said where it happens): a dying env is gone for every call but destroy
//! (-E_BAD_ENV); `set_status` never overwrites RUNNING and never cancels a receive; a page's
//! 16-bit reference count never wraps (-E_NO_MEM); a long `sys_cputs` releases the big lock
//! between bounded chunks; page-table changes to an env running on another CPU are shot down
//! from that CPU's TLB before the lock is released.
#![forbid(unsafe_code)]

use jos_inc::env::*;
use jos_inc::error::{Error, Result, to_abi};
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use jos_inc::syscall::*;
use jos_inc::trap::Trapframe;
use kern_logic::lifecycle::Life;

use crate::cpu::CpuId;
use crate::env::{self, Destroyed, EnvTable};
use crate::pmap::{self, PageTable, PgdirMut, UserPage, user_mem_assert};
use crate::spinlock::{self, Kernel};
use crate::{console, cprintf, printf, sched};
use kern_logic::envid::{EnvId, EnvIdx};

/// How much of a `sys_cputs` string is printed per hold of the big lock: JOS's user printf
/// buffer size, so a line a JOS program prints in one call still comes out in one piece.
const CPUTS_CHUNK: usize = 256;

/// Print a string to the system console. The string is exactly `len` characters long.
/// Destroys the environment on memory errors.
///
/// JOS prints the whole string holding the big kernel lock: one call of 4 MB stalled every
/// CPU for about 21 s. Here the string is copied out in bounded chunks; each is printed with
/// the big lock released (the env stays on this CPU, so it cannot be freed or run elsewhere
/// meanwhile; a suspension that arrives is honoured when the call returns, a destroy at the
/// next chunk), and
/// the mapping is checked again under the lock for each chunk, since the env's parent may
/// unmap the string's pages while the lock is released.
fn sys_cputs(mut k: Kernel, cur: EnvIdx, s: u32, len: u32) -> Kernel {
    let cpu = k.cpu();
    // Check that the user has permission to read memory [s, s+len): the whole string first,
    // so the message names its first bad address as JOS's does.
    if user_mem_assert(env::table(&mut k), cpu, cur, s, len, Pte::U).is_err() {
        return k;
    }
    let mut buf = [0u8; CPUTS_CHUNK];
    let mut done = 0u32;
    while done < len {
        let n = (len - done).min(CPUTS_CHUNK as u32);
        let t = env::table(&mut k);
        let chunk = &mut buf[..n as usize];
        let va = s + done; // cannot overflow: user_mem_check accepted [s, s+len)
        if user_mem_assert(t, cpu, cur, va, n, Pte::U).is_err()
            || pmap::copy_from_user(t.pgdir(cur), va, chunk).is_err()
        {
            return k;
        }
        k.unlock();
        printf::print_with(|out| out(chunk));
        k = spinlock::lock_kernel();
        done += n;
        // Destroyed while printing: stop here (the return path frees it). A suspension that
        // arrived meanwhile does not stop the print: it takes effect when the call returns
        // (the env is on this CPU until then), so a suspended-and-resumed env loses nothing.
        if env::table(&mut k).state(cur).dying() {
            break;
        }
    }
    k
}

/// Read a character from the system console without blocking. Returns the character, or 0
/// if there is no input waiting.
fn sys_cgetc() -> i32 {
    console::cons_getc().map_or(0, i32::from)
}

/// Destroy a given environment (possibly the currently running environment). Idempotent: a
/// second destroy of an env that is still dying on another CPU does nothing (JOS freed it
/// then, under the other CPU's feet).
fn sys_env_destroy(t: &mut EnvTable, cpu: CpuId, envid: EnvId) -> Result<i32> {
    let e = env::envid2env(t, cpu, envid, true)?;
    if t.state(e).life() == Life::Dying {
        return Ok(0);
    }
    let (id, cur_id) = (t.id(e), t.cur_id(cpu));
    if id == cur_id {
        cprintf!("[{:08x}] exiting gracefully\n", cur_id);
    } else {
        cprintf!("[{:08x}] destroying {:08x}\n", cur_id, id);
    }
    let d = env::env_destroy(t, cpu, e)?;
    debug_assert!(d != Destroyed::Already);
    Ok(0)
}

/// A system call's env-id argument (a register), as the kernel's `EnvId`: the one place the
/// ABI's `i32` id comes in (0 still means the caller, see `envid2env`).
#[inline(always)]
fn envid_arg(reg: u32) -> EnvId {
    EnvId::from_abi(reg as i32)
}

/// An env the caller may change: `envid2env`, and not dying (a dying env is gone for every
/// system call but destroy).
#[inline]
fn live_env(t: &mut EnvTable, cpu: CpuId, envid: EnvId, checkperm: bool) -> Result<EnvIdx> {
    let e = env::envid2env(t, cpu, envid, checkperm)?;
    if t.state(e).life() != Life::Live {
        return Err(Error::BadEnv);
    }
    Ok(e)
}

/// Allocate a new environment: a copy of the current env's registers (returning 0 in the
/// child) and FPU state, an empty address space, not runnable.
fn sys_exofork(t: &mut EnvTable, tf: &Trapframe, cpu: CpuId) -> Result<EnvId> {
    // LAB 4: BEGIN sys_exofork
    // HINT: env::exofork (`tf`: the caller's registers), returning the child's id.
    env::exofork(t, tf, cpu)
    // LAB 4: END sys_exofork
}

/// Set envid's status to ENV_RUNNABLE or ENV_NOT_RUNNABLE. See env::set_status: a running
/// env is never made to run twice, nor a receive cancelled.
fn sys_env_set_status(t: &mut EnvTable, cpu: CpuId, envid: EnvId, status: u32) -> Result<i32> {
    // LAB 4: BEGIN sys_env_set_status
    // HINT: ENV_RUNNABLE or ENV_NOT_RUNNABLE (else Inval), for the caller or a child (live_env).
    let runnable = match EnvStatus::try_from(status) {
        Ok(EnvStatus::Runnable) => true,
        Ok(EnvStatus::NotRunnable) => false,
        _ => return Err(Error::Inval),
    };
    let e = live_env(t, cpu, envid, true)?;
    env::set_status(t, e, runnable)?;
    Ok(0)
    // LAB 4: END sys_env_set_status
}

/// What the upcall setters share: `envid` must be the caller or a child, and live; then
/// `record` stores the entry point. (The entry is checked when an upcall is delivered.)
fn set_upcall(
    t: &mut EnvTable,
    cpu: CpuId,
    envid: EnvId,
    record: impl FnOnce(&mut EnvTable, EnvIdx),
) -> Result<i32> {
    let e = live_env(t, cpu, envid, true)?;
    record(t, e);
    Ok(0)
}

/// Set the page fault upcall for 'envid'.
fn sys_env_set_pgfault_upcall(
    t: &mut EnvTable,
    cpu: CpuId,
    envid: EnvId,
    func: u32,
) -> Result<i32> {
    // LAB 4: BEGIN sys_env_set_pgfault_upcall
    // HINT: Record func as the env's env_pgfault_upcall (set_upcall checks envid).
    set_upcall(t, cpu, envid, |t, e| t.env(e).env_pgfault_upcall = func)
    // LAB 4: END sys_env_set_pgfault_upcall
}

// CHALLENGE: BEGIN priorities
// STUB: // (a system call that sets an env's scheduling priority)
/// Set `envid`'s scheduling priority (not in JOS: a lab 4 challenge). The caller may change
/// itself or its children (JOS's permission rule) and only to a priority at most its own, so
/// nobody rises above the env that made it: -E_INVAL otherwise.
fn sys_env_set_priority(t: &mut EnvTable, cpu: CpuId, envid: EnvId, prio: u32) -> Result<i32> {
    let e = live_env(t, cpu, envid, true)?;
    let cur = crate::cpu::cpu(cpu).env().ok_or(Error::BadEnv)?;
    if prio >= NPRIO || prio > t.prio(cur) {
        return Err(Error::Inval);
    }
    t.set_prio(e, prio);
    Ok(0)
}
// CHALLENGE: END priorities

// CHALLENGE: BEGIN exception-upcall
// STUB: // (a system call that sets an env's upcall for the other exceptions)
/// Set the upcall for `envid`'s exceptions other than page faults (not in JOS: a lab 4
/// challenge; `trap::USER_EXCEPTIONS`). 0 restores JOS's behaviour (the env is destroyed).
fn sys_env_set_exception_upcall(
    t: &mut EnvTable,
    cpu: CpuId,
    envid: EnvId,
    func: u32,
) -> Result<i32> {
    set_upcall(t, cpu, envid, |t, e| t.set_exc_upcall(e, func))
}
// CHALLENGE: END exception-upcall

/// A user virtual address the page calls accept: below UTOP, page-aligned, not below UMAPMIN
/// (not JOS's rule: see `UserPage`).
fn check_va(va: u32) -> Result<UserPage> {
    UserPage::new(va).ok_or(Error::Inval)
}

/// PTE_U | PTE_P must be set; PTE_AVAIL | PTE_W may or may not be; nothing else may be.
fn check_perm(perm: u32) -> Result<Pte> {
    let p = Pte::from_bits(perm).ok_or(Error::Inval)?;
    if !p.contains(Pte::U | Pte::P) || !Pte::SYSCALL.contains(p) {
        return Err(Error::Inval);
    }
    Ok(p)
}

/// After changing env `e`'s page tables: if it runs on another CPU, make that CPU forget the
/// old translations before the big lock is released (pmap::tlb_shootdown).
fn shootdown(t: &EnvTable, cpu: CpuId, e: EnvIdx) {
    if let Some(c) = t.state(e).cpu()
        && c != cpu
    {
        shootdown_on(c);
    }
}

/// The rare case, out of line: the env runs on CPU `c`.
#[cold]
#[inline(never)]
fn shootdown_on(c: CpuId) {
    pmap::tlb_shootdown(c);
}

/// Allocate a page of memory and map it at 'va' with permission 'perm' in the address space
/// of 'envid'. If a page is already mapped at 'va', that page is unmapped as a side effect.
fn sys_page_alloc(t: &mut EnvTable, cpu: CpuId, envid: EnvId, va: u32, perm: u32) -> Result<i32> {
    // LAB 4: BEGIN sys_page_alloc
    // HINT: Check env, va (check_va) and perm (check_perm); map a zeroed page (page_insert, freeing
    // HINT: the page if that fails); shootdown stale TLB entries on other CPUs.
    let e = live_env(t, cpu, envid, true)?;
    let va = check_va(va)?;
    let perm = check_perm(perm)?;
    let pp = pmap::page_alloc(true).ok_or(Error::NoMem)?;
    if let Err(err) = pmap::page_insert(&mut t.pgdir_mut(e), pp, va, perm) {
        pmap::page_free(pp);
        return Err(err);
    }
    shootdown(t, cpu, e);
    Ok(0)
    // LAB 4: END sys_page_alloc
}

// CHALLENGE: BEGIN sys_page_copy
// STUB: // (a system call that replaces a page by a private copy of itself)
/// Map at `dstva` in `envid`'s address space a new page holding a copy of the page now mapped
/// at `srcva` there, with `perm` (checked as for sys_page_alloc). Not in JOS: its COW handler
/// allocates a zeroed page at PFTEMP, copies, maps it over the faulting page and unmaps
/// PFTEMP, three system calls and a 4 KiB zeroing that the copy then overwrites; this is the
/// same user-level decision in one call. `srcva == dstva` (the COW case) replaces the page.
/// -E_INVAL if nothing is mapped at `srcva` or it is not user-readable.
fn sys_page_copy(
    t: &mut EnvTable,
    cpu: CpuId,
    [envid, srcva, dstva, perm]: [u32; 4],
) -> Result<i32> {
    let e = live_env(t, cpu, envid_arg(envid), true)?;
    let srcva = check_va(srcva)?;
    let dstva = check_va(dstva)?;
    let perm = check_perm(perm)?;
    copy_into((t.pgdir(e), srcva), (&mut t.pgdir_mut(e), dstva), perm)?;
    shootdown(t, cpu, e);
    Ok(0)
}
// CHALLENGE: END sys_page_copy

// CHALLENGE: BEGIN copy_into
// STUB: // (what the page-copying system calls share)
/// Map at `dstva` in `dst` a new page holding a copy of the page mapped at `srcva` in `src`
/// (arguments checked by the caller, who shoots down the destination's TLB entries):
/// sys_page_copy (one address space) and sys_page_map_copy. -E_INVAL if nothing is mapped at
/// `srcva` or it is not user-readable.
#[inline(always)]
fn copy_into(
    (src, srcva): (PageTable, UserPage),
    (dst, dstva): (&mut PgdirMut, UserPage),
    perm: Pte,
) -> Result<()> {
    let (from, pte) = pmap::page_lookup(src, srcva.addr()).ok_or(Error::Inval)?;
    if !pte.get().contains(Pte::U) {
        return Err(Error::Inval);
    }
    // Not zeroed: every byte is overwritten by the copy before anyone can see it.
    let pp = pmap::page_alloc(false).ok_or(Error::NoMem)?;
    pmap::copy_page(pp, from);
    if let Err(err) = pmap::page_insert(dst, pp, dstva, perm) {
        pmap::page_free(pp);
        return Err(err);
    }
    Ok(())
}
// CHALLENGE: END copy_into

/// Map the page of memory at 'srcva' in srcenvid's address space at 'dstva' in dstenvid's
/// address space with permission 'perm'. -E_NO_MEM also when the page already has the most
/// references a 16-bit count can hold (JOS wrapped it).
#[inline]
fn sys_page_map(
    t: &mut EnvTable,
    cpu: CpuId,
    (srcenvid, srcva, dstenvid, dstva, perm): (u32, u32, u32, u32, u32),
) -> Result<i32> {
    // LAB 4: BEGIN sys_page_map
    // HINT: Check both envs, both addresses and perm; map the source page (page_map_checked: no
    // HINT: writable mapping of a read-only page); then the TLBs: which address space changed,
    // HINT: and which other CPUs may run it (`shootdown`'s doc)?
    let src = live_env(t, cpu, envid_arg(srcenvid), true)?;
    let dst = live_env(t, cpu, envid_arg(dstenvid), true)?;
    let srcva = check_va(srcva)?;
    let dstva = check_va(dstva)?;
    let perm = check_perm(perm)?;
    page_map_checked(t.pgdir(src), srcva, &mut t.pgdir_mut(dst), dstva, perm)?;
    shootdown(t, cpu, dst);
    Ok(0)
    // LAB 4: END sys_page_map
}

// LAB 4: BEGIN page_map_checked
// HINT: sys_page_map's core, shared with IPC's page transfer: the source page must be mapped,
// HINT: a writable mapping needs a writable source; then page_insert. Helpers of your own.
// STUB: // (sys_page_map's page checks and mapping: yours to write)
/// The part of page_map shared with IPC: srcva must be mapped, and a writable mapping needs
/// a writable source.
fn page_map_checked(
    src: PageTable,
    srcva: UserPage,
    dst: &mut PgdirMut,
    dstva: UserPage,
    perm: Pte,
) -> Result<()> {
    let pp = source_page(src, srcva, perm)?;
    pmap::page_insert(dst, pp, dstva, perm)
}

/// The page at `srcva` of `src`, if it may be mapped elsewhere with `perm`. (Out of line: it
/// is on no hot path, and inlined it made check_send_page too big to inline into the IPC
/// system calls, whose no-page case then paid a call: `make bench`, IPC rows.)
#[inline(never)]
fn source_page(src: PageTable, srcva: UserPage, perm: Pte) -> Result<pmap::PageNum> {
    let (pp, pte) = pmap::page_lookup(src, srcva.addr()).ok_or(Error::Inval)?;
    if perm.contains(Pte::W) && !pte.get().contains(Pte::W) {
        return Err(Error::Inval);
    }
    Ok(pp)
}
// LAB 4: END page_map_checked

// CHALLENGE: BEGIN sys_page_map_copy
// STUB: // (system calls that make fork's page copies and mappings in fewer traps)
/// Map at `dstva` in `dstenvid` a private copy of the page at `srcva` in `srcenvid`, with
/// `perm` (not in JOS: `SYS_PAGE_MAP_COPY`). The envs and addresses are checked as for
/// sys_page_map and `perm` as for sys_page_alloc; the source must be mapped and user-readable
/// (-E_INVAL otherwise), as for sys_page_copy. fork gives its child a copy of the parent's
/// stack page this way: the copy-on-write fault each of them would take at once on its stack
/// (about 1,500 instructions each) becomes one page copy.
fn sys_page_map_copy(
    t: &mut EnvTable,
    cpu: CpuId,
    (srcenvid, srcva, dstenvid, dstva, perm): (u32, u32, u32, u32, u32),
) -> Result<i32> {
    let src = live_env(t, cpu, envid_arg(srcenvid), true)?;
    let dst = live_env(t, cpu, envid_arg(dstenvid), true)?;
    let srcva = check_va(srcva)?;
    let dstva = check_va(dstva)?;
    let perm = check_perm(perm)?;
    copy_into((t.pgdir(src), srcva), (&mut t.pgdir_mut(dst), dstva), perm)?;
    shootdown(t, cpu, dst);
    Ok(0)
}

/// fork's duppage over the caller's pages in `[va, end)` into its child `envid` (not in JOS:
/// `SYS_PAGE_DUP`): every mapping is the one the library's duppage would make with
/// sys_page_map, and passes the checks that call makes (see pmap::dup_range), but the walk
/// of the page tables and the mappings take one trap instead of one or two per page. The
/// range must be page-aligned and end at or below UTOP (-E_INVAL); `envid` is checked as
/// sys_page_map checks its destination. A call does a bounded amount of work
/// (pmap::DUP_MAX_PAGES, DUP_MAX_TABLES): it returns 0 when the range is done, else the page
/// number to go on from. On an error the mappings made before it stand.
fn sys_page_dup(
    t: &mut EnvTable,
    cpu: CpuId,
    cur: EnvIdx,
    [envid, va, end]: [u32; 3],
) -> Result<i32> {
    let dst = live_env(t, cpu, envid_arg(envid), true)?;
    if !va.is_multiple_of(PGSIZE) || !end.is_multiple_of(PGSIZE) || va > end || end > UTOP {
        return Err(Error::Inval);
    }
    let (from, to) = (pgnum(va), pgnum(end));
    let (src_dir, dst_dir) = t.pgdirs_mut(cur, dst);
    let d = pmap::dup_range(src_dir, dst_dir, from, to);
    // (The caller's own changes were flushed here; it runs on no other CPU.)
    shootdown(t, cpu, dst);
    d.result?;
    Ok(if d.next == to { 0 } else { d.next as i32 })
}
// CHALLENGE: END sys_page_map_copy

// CHALLENGE: BEGIN batch_call
// STUB: // (a system call that makes many calls in one trap)
/// A batched call (`sys_batch`): the same functions, checks and results as the dispatcher's
/// for the calls `batchable` admits; -E_INVAL for any other number.
fn batch_call(t: &mut EnvTable, cpu: CpuId, cur: EnvIdx, c: BatchCall) -> Result<i32> {
    // The ABI's list (inc::syscall::batchable) decides; the match below makes exactly those.
    if !batchable(c.num) {
        return Err(Error::Inval);
    }
    let [a1, a2, a3, a4, a5] = c.args;
    match c.num {
        SYS_CGETC => Ok(sys_cgetc()),
        SYS_GETENVID => Ok(t.id(cur).abi()),
        SYS_ENV_DESTROY => sys_env_destroy(t, cpu, envid_arg(a1)),
        SYS_PAGE_ALLOC => sys_page_alloc(t, cpu, envid_arg(a1), a2, a3),
        SYS_PAGE_MAP => sys_page_map(t, cpu, (a1, a2, a3, a4, a5)),
        SYS_PAGE_UNMAP => sys_page_unmap(t, cpu, envid_arg(a1), a2),
        SYS_ENV_SET_STATUS => sys_env_set_status(t, cpu, envid_arg(a1), a2),
        SYS_ENV_SET_PGFAULT_UPCALL => sys_env_set_pgfault_upcall(t, cpu, envid_arg(a1), a2),
        SYS_IPC_TRY_SEND => sys_ipc_try_send(t, cpu, cur, [a1, a2, a3, a4]),
        SYS_PAGE_COPY => sys_page_copy(t, cpu, [a1, a2, a3, a4]),
        SYS_ENV_SET_PRIORITY => sys_env_set_priority(t, cpu, envid_arg(a1), a2),
        SYS_ENV_SET_EXCEPTION_UPCALL => sys_env_set_exception_upcall(t, cpu, envid_arg(a1), a2),
        SYS_PAGE_MAP_COPY => sys_page_map_copy(t, cpu, (a1, a2, a3, a4, a5)),
        // (batchable() admits only the numbers above.)
        _ => Err(Error::Inval),
    }
}

/// How a batch ended: how many calls took effect, and the error of the one that failed.
struct BatchEnd {
    done: u32,
    error: Option<Error>,
}

/// Make the `n` calls of the `BatchCall` array at user address `calls` (not in JOS: a lab 4
/// challenge, `SYS_BATCH`), one after another, each exactly as if made alone (`batch_call`),
/// until one fails (its index and error are the result) or one destroys or suspends the
/// caller (the rest are not made). The array is copied in once, after JOS's user_mem_check
/// of all of it (a bad pointer destroys the caller, as for sys_cputs); so a call that unmaps
/// it does not change the calls after it. -E_INVAL if `n` > BATCH_MAX: the work done under
/// the big lock stays bounded (see BATCH_MAX).
fn sys_batch(t: &mut EnvTable, cpu: CpuId, cur: EnvIdx, calls: u32, n: u32) -> Result<BatchEnd> {
    const REC: usize = core::mem::size_of::<BatchCall>();
    if n as usize > BATCH_MAX {
        return Err(Error::Inval);
    }
    let n = n as usize;
    if n == 0 {
        return Ok(BatchEnd {
            done: 0,
            error: None,
        });
    }
    let len = (n * REC) as u32;
    user_mem_assert(t, cpu, cur, calls, len, Pte::U)?;
    let mut buf = [const { core::mem::MaybeUninit::<u8>::uninit() }; BATCH_MAX * REC];
    let bytes = pmap::copy_from_user_uninit(t.pgdir(cur), calls, &mut buf[..n * REC])?;
    for (i, rec) in bytes.chunks_exact(REC).enumerate() {
        let word = |k: usize| {
            u32::from_le_bytes([rec[4 * k], rec[4 * k + 1], rec[4 * k + 2], rec[4 * k + 3]])
        };
        let c = BatchCall {
            num: word(0),
            args: [word(1), word(2), word(3), word(4), word(5)],
        };
        if let Err(e) = batch_call(t, cpu, cur, c) {
            return Ok(BatchEnd {
                done: i as u32,
                error: Some(e),
            });
        }
        if !t.state(cur).continues() {
            return Ok(BatchEnd {
                done: i as u32 + 1,
                error: None,
            });
        }
    }
    Ok(BatchEnd {
        done: n as u32,
        error: None,
    })
}
// CHALLENGE: END batch_call

/// Unmap the page of memory at 'va' in the address space of 'envid'. If no page is mapped,
/// the function silently succeeds.
fn sys_page_unmap(t: &mut EnvTable, cpu: CpuId, envid: EnvId, va: u32) -> Result<i32> {
    // LAB 4: BEGIN sys_page_unmap
    // HINT: page_remove after the checks; shootdown.
    let e = live_env(t, cpu, envid, true)?;
    let va = check_va(va)?;
    pmap::page_remove(&mut t.pgdir_mut(e), va);
    shootdown(t, cpu, e);
    Ok(0)
    // LAB 4: END sys_page_unmap
}

/// The page part of a send from env `src`: `None` when no page is offered (srcva >= UTOP);
/// else the page and the permissions, once srcva is aligned, perm valid and the page mapped
/// (with W only if the source is writable), all -E_INVAL otherwise.
fn check_send_page(
    t: &mut EnvTable,
    src: EnvIdx,
    srcva: u32,
    perm: u32,
) -> Result<Option<(UserPage, Pte)>> {
    // LAB 4: BEGIN check_send_page
    // HINT: None when srcva >= UTOP; else aligned srcva, valid perm, a mapped page (writable if
    // HINT: perm has W), each Inval otherwise.
    if srcva >= UTOP {
        return Ok(None);
    }
    let srcva = check_va(srcva)?;
    let p = check_perm(perm)?;
    source_page(t.pgdir(src), srcva, p)?;
    Ok(Some((srcva, p)))
    // LAB 4: END check_send_page
}

/// Move a message's page (`page`: where in env `src`, with which permissions) to env `dst`,
/// which receives at `dstva`: only when both sides want a page (sys_ipc_recv refused a
/// `dstva` below UTOP that is no `UserPage`, so one that is no `UserPage` is UTOP or above:
/// no page).
/// Returns the permissions the receiver is told (0: no page).
/// Neither env runs on another CPU (the receiver blocks or is the caller; so is the sender),
/// so no TLB shootdown is needed. (Inline: with no page offered it folds to nothing.)
#[inline(always)]
fn transfer_page(
    t: &mut EnvTable,
    src: EnvIdx,
    page: Option<(UserPage, Pte)>,
    dst: EnvIdx,
    dstva: u32,
) -> Result<i32> {
    // LAB 4: BEGIN transfer_page
    // HINT: Map the page into the receiver at dstva when both sides want one; the perm it gets.
    match (page, UserPage::new(dstva)) {
        (Some((srcva, p)), Some(dstva)) => {
            page_map_checked(t.pgdir(src), srcva, &mut t.pgdir_mut(dst), dstva, p)?;
            Ok(p.bits() as i32)
        }
        _ => Ok(0),
    }
    // LAB 4: END transfer_page
}

/// Try to send 'value' to the target env 'envid'. If srcva < UTOP, then also send the page
/// currently mapped at 'srcva', so that receiver gets a duplicate mapping of the same page.
/// Fails with -E_IPC_NOT_RECV if the target is not blocked in sys_ipc_recv, -E_BAD_ENV if it
/// is dying.
fn sys_ipc_try_send(
    t: &mut EnvTable,
    cpu: CpuId,
    cur: EnvIdx,
    [envid, value, srcva, perm]: [u32; 4],
) -> Result<i32> {
    // LAB 4: BEGIN sys_ipc_try_send
    // HINT: IpcNotRecv unless the target is receiving; check and transfer the page; env::deliver.
    let dst = live_env(t, cpu, envid_arg(envid), false)?;
    if !t.state(dst).recving() {
        return Err(Error::IpcNotRecv);
    }
    let p = check_send_page(t, cur, srcva, perm)?;
    let dstva = t.env(dst).env_ipc_dstva;
    let sent = transfer_page(t, cur, p, dst, dstva)?;
    let from = t.id(cur);
    env::deliver(t, cpu, dst, from, value, sent);
    Ok(0)
    // LAB 4: END sys_ipc_try_send
}

// CHALLENGE: BEGIN sys_ipc_send
// STUB: // (a send that blocks until the receiver takes the message)
/// Send as sys_ipc_try_send does, but if the target is not receiving yet, block until it is
/// (a JOS lab 4 challenge: JOS's ipc_send polls with try_send and sys_yield). Senders to one
/// receiver are served first come first served. The page is checked now and again when the
/// receiver takes the message (the sender may have lost it meanwhile). -E_INVAL for a send
/// to oneself (it could never be received), -E_BAD_ENV if the receiver dies first.
fn sys_ipc_send(
    mut k: Kernel,
    cur: EnvIdx,
    envid: u32,
    value: u32,
    srcva: u32,
    perm: u32,
) -> (Kernel, Result<i32>) {
    let cpu = k.cpu();
    let t = env::table(&mut k);
    let dst = match live_env(t, cpu, envid_arg(envid), false) {
        Ok(d) if d == cur => return (k, Err(Error::Inval)),
        Ok(d) => d,
        Err(e) => return (k, Err(e)),
    };
    let p = match check_send_page(t, cur, srcva, perm) {
        Ok(p) => p,
        Err(e) => return (k, Err(e)),
    };
    if t.state(dst).recving() {
        let dstva = t.env(dst).env_ipc_dstva;
        let r = transfer_page(t, cur, p, dst, dstva).map(|sent| {
            let from = t.id(cur);
            env::deliver(t, cpu, dst, from, value, sent);
            0
        });
        return (k, r);
    }
    env::block_send(t, cur, dst, [value, srcva, perm]);
    // Let the receiver run next, if it can: the sender is waiting for it. (give_up_cpu's
    // hand-off, without the round trip through this CPU's hand-off slot.)
    if t.may_hand_off(dst) {
        env::run_blocked_to(k, dst)
    }
    t.set_handoff_none(cpu);
    sched::sched_yield(k)
}
// CHALLENGE: END sys_ipc_send

/// Block until a value is ready. Record that you want to receive using the env_ipc_recving
/// and env_ipc_dstva fields, mark yourself not runnable, and give up the CPU. If dstva is
/// < UTOP, then you are willing to receive a page of data.
fn sys_ipc_recv(mut k: Kernel, cur: EnvIdx, dstva: u32) -> (Kernel, Result<i32>) {
    // LAB 4: BEGIN sys_ipc_recv
    // HINT: Check dstva (Inval if below UTOP but not a page the page calls accept), then block
    // HINT: receiving at dstva (env::block_recv) and give up the CPU (give_up_cpu).
    if dstva < UTOP && check_va(dstva).is_err() {
        return (k, Err(Error::Inval));
    }
    let t = env::table(&mut k);
    // CHALLENGE: BEGIN sys_ipc_recv-senders
    // STUB: // (no sender ever waits here: the blocking send is a challenge)
    // A sender already blocked in sys_ipc_send on us is served at once: the message (and
    // page) is taken, the sender is woken, and we return 0 without blocking. A queued sender
    // whose page is no longer sendable gets its error and the next one is tried.
    while let Some((s, [value, srcva, perm])) = env::take_sender(t, cur) {
        let r = check_send_page(t, s, srcva, perm).and_then(|p| transfer_page(t, s, p, cur, dstva));
        match r {
            Ok(sent) => {
                let from = t.id(s);
                env::set_message(t, cur, from, value, sent);
                env::finish_send(t, s, Ok(()));
                return (k, Ok(0));
            }
            Err(e) => env::finish_send(t, s, Err(e)),
        }
    }
    // CHALLENGE: END sys_ipc_recv-senders
    env::block_recv(t, cur, dstva);
    give_up_cpu(k)
    // LAB 4: END sys_ipc_recv
}

/// The current env has blocked: run the env it just woke with a message, if that can run
/// (a direct hand-off: no scheduler pass, and the reply is likely to come from there), else
/// schedule as usual.
#[inline(always)]
fn give_up_cpu(mut k: Kernel) -> ! {
    let cpu = k.cpu();
    match env::table(&mut k).take_handoff(cpu) {
        // (Through the IPC fast path when it applies: env::run_blocked_to.)
        Some(h) => env::run_blocked_to(k, h),
        None => sched::sched_yield(k),
    }
}

// CHALLENGE: BEGIN sys_ipc_send_recv
// STUB: // (a send and a receive in one call)
/// Send to `envid` and receive, in one call (not in JOS: `SYS_IPC_SEND_RECV`, Liedtke's
/// combined send and receive for a caller that expects a reply). The send is sys_ipc_send's,
/// with its checks and errors (nothing is done then): if the receiver is not waiting yet we
/// block until it takes the message, then wait for ours without returning to user mode; the
/// receive is sys_ipc_recv's at `dstva`, checked first. A receiver that is waiting runs at
/// once on this CPU, without a scheduler pass (env::send_recv_switch), unless a sender is
/// already waiting for us: then, as sys_ipc_recv, we take its message and return at once.
/// The message we receive comes back in registers too (EDX value, ECX sender, EBX
/// permissions).
fn sys_ipc_send_recv(
    mut k: Kernel,
    cur: EnvIdx,
    frame: env::LiveFrame,
    [envid, value, srcva, perm, dstva]: [u32; 5],
) -> (Kernel, Result<i32>) {
    if dstva < UTOP && check_va(dstva).is_err() {
        return (k, Err(Error::Inval));
    }
    let cpu = k.cpu();
    // The caller's live frame too: a message taken at once comes back in its registers.
    let (t, tf) = frame.with_table(&mut k);
    let dst = match live_env(t, cpu, envid_arg(envid), false) {
        Ok(d) if d == cur => return (k, Err(Error::Inval)),
        Ok(d) => d,
        Err(e) => return (k, Err(e)),
    };
    if !t.state(dst).recving() {
        // Not waiting yet: block as sys_ipc_send does (the receiver runs next, if it can);
        // when it takes the message we wait for ours (env::finish_send).
        let msg = [value, srcva, perm];
        if let Err(e) = check_send_page(t, cur, srcva, perm) {
            return (k, Err(e));
        }
        env::block_send_recv(t, cur, dst, msg, dstva);
        t.set_handoff(cpu, dst);
        give_up_cpu(k)
    }
    let sent = check_send_page(t, cur, srcva, perm).and_then(|p| {
        let dst_va = t.env(dst).env_ipc_dstva;
        transfer_page(t, cur, p, dst, dst_va)
    });
    let sent = match sent {
        Ok(s) => s,
        Err(e) => return (k, Err(e)),
    };
    let from = t.id(cur);
    if !t.has_senders(cur) {
        env::send_recv_switch(k, cur, dst, (from, value, sent), dstva)
    }
    let Some(mut next) = env::take_sender(t, cur) else {
        unreachable!("a sender is queued")
    };
    // A sender was waiting for us: our message is delivered (its receiver runs when the
    // scheduler, or our own next block, lets it), and the receive takes the waiting one's.
    env::deliver(t, cpu, dst, from, value, sent);
    loop {
        let (s, [v, s_va, s_perm]) = next;
        let r =
            check_send_page(t, s, s_va, s_perm).and_then(|p| transfer_page(t, s, p, cur, dstva));
        match r {
            Ok(got) => {
                let s_id = t.id(s);
                env::set_message(t, cur, s_id, v, got);
                env::finish_send(t, s, Ok(()));
                tf.tf_regs.reg_edx = v;
                tf.tf_regs.reg_ecx = s_id.abi() as u32;
                tf.tf_regs.reg_ebx = got as u32;
                return (k, Ok(0));
            }
            Err(e) => env::finish_send(t, s, Err(e)),
        }
        match env::take_sender(t, cur) {
            Some(n) => next = n,
            None => break,
        }
    }
    env::block_recv(t, cur, dstva);
    give_up_cpu(k)
}
// CHALLENGE: END sys_ipc_send_recv

/// The first `N` arguments of the system call the env on `k`'s CPU made (edx, ecx, ebx, edi,
/// esi, in the ABI's order), from its live frame.
// HANDOUT: #[allow(dead_code)] // the dispatcher's (lab 3) once written
#[inline(always)]
fn args<const N: usize>(frame: env::LiveFrame, k: &mut Kernel) -> [u32; N] {
    let r = &frame.get(k).tf_regs;
    let all = [r.reg_edx, r.reg_ecx, r.reg_ebx, r.reg_edi, r.reg_esi];
    core::array::from_fn(|i| all[i])
}

// CHALLENGE: BEGIN syscall_continuing
// STUB: // (the system call entry's fast return: a challenge)
/// The system call entry's dispatch for an env whose state `continues()` (tested by the
/// entry): the calls that cannot change their caller's lifecycle state nor release the big
/// lock (reading its id, and the page calls, whose every effect is on page tables) return
/// to it at once, since it still continues afterwards (another CPU can change its state only
/// under the big lock, held throughout); `syscall` makes every other call, as for any env.
/// Same functions, arguments and results as `syscall`'s.
#[inline(always)]
pub fn syscall_continuing(mut k: Kernel, cur: EnvIdx, frame: env::LiveFrame) -> ! {
    let cpu = k.cpu();
    let (t, tf) = frame.with_table(&mut k);
    let r = &tf.tf_regs;
    let (a1, a2, a3, a4) = (|| r.reg_edx, || r.reg_ecx, || r.reg_ebx, || r.reg_edi);
    let a5 = || r.reg_esi;
    let ret = match r.reg_eax {
        // (Its own return: the env's record, read for the id, is where the return counts
        // the run, one address computation for both.)
        SYS_GETENVID => {
            let id = t.id(cur);
            env::env_resume_from(k, cur, frame, id.abi() as u32)
        }
        SYS_PAGE_ALLOC if a1() == 0 => page_alloc_self(t, cur, a2(), a3()),
        SYS_PAGE_ALLOC => sys_page_alloc(t, cpu, envid_arg(a1()), a2(), a3()),
        SYS_PAGE_MAP => sys_page_map(t, cpu, (a1(), a2(), a3(), a4(), a5())),
        SYS_PAGE_UNMAP if a1() == 0 => page_unmap_self(t, cur, a2()),
        SYS_PAGE_UNMAP => sys_page_unmap(t, cpu, envid_arg(a1()), a2()),
        SYS_PAGE_COPY if a1() == 0 && a2() == a3() => page_copy_self(t, cur, a2(), a4()),
        SYS_PAGE_COPY => sys_page_copy(t, cpu, [a1(), a2(), a3(), a4()]),
        SYS_PAGE_MAP_COPY => sys_page_map_copy(t, cpu, (a1(), a2(), a3(), a4(), a5())),
        _ => syscall(k, cur, frame),
    };
    env::env_resume_from(k, cur, frame, to_abi(ret) as u32)
}

/// sys_page_alloc on the caller itself (envid 0), for `syscall_continuing`: envid2env would
/// return the caller, live (its state continues), and the shootdown has nothing to do (the
/// caller runs on this CPU alone); the checks that follow, and so the errors, are the same.
#[inline(always)]
fn page_alloc_self(t: &mut EnvTable, cur: EnvIdx, va: u32, perm: u32) -> Result<i32> {
    let va = check_va(va)?;
    let perm = check_perm(perm)?;
    pmap::page_alloc_map(t.pgdir_mut(cur), va, perm)?;
    Ok(0)
}

/// sys_page_unmap on the caller itself (envid 0), for `syscall_continuing` (as
/// `page_alloc_self`).
#[inline(always)]
fn page_unmap_self(t: &mut EnvTable, cur: EnvIdx, va: u32) -> Result<i32> {
    let va = check_va(va)?;
    pmap::page_remove(&mut t.pgdir_mut(cur), va);
    Ok(0)
}

/// sys_page_copy on the caller itself (envid 0) with the same source and destination `va`
/// (the copy-on-write fault's call), for `syscall_continuing` (as `page_alloc_self`): the
/// same checks in the same order, so the same errors (`va` checked once for both).
#[inline(always)]
fn page_copy_self(t: &mut EnvTable, cur: EnvIdx, va: u32, perm: u32) -> Result<i32> {
    let va = check_va(va)?;
    let perm = check_perm(perm)?;
    pmap::page_copy_here(t.pgdir_mut(cur), va, perm)?;
    Ok(0)
}
// CHALLENGE: END syscall_continuing

/// Dispatches to the correct kernel function, passing the arguments, then returns to the
/// current env with the result in EAX (or schedules, if it blocked, exited or was destroyed).
/// The caller's registers are `frame`, `k`'s CPU's live frame.
#[inline(always)]
pub fn syscall(mut k: Kernel, cur: EnvIdx, frame: env::LiveFrame) -> ! {
    let cpu = k.cpu();
    // The arguments are read where each call needs them (not all six up front): `args`, or
    // the closures below on the frame borrowed with the env table.
    let num = frame.get(&mut k).tf_regs.reg_eax;
    // LAB 3: BEGIN syscall
    // HINT: Dispatch on the system call number (num: eax) to the sys_* functions with their
    // HINT: arguments (edx, ecx, ebx, edi, esi: args); an unknown number is Error::Inval.
    // STUB: let ret: Result<i32> = todo!("LAB 3: syscall");
    let ret: Result<i32> = match num {
        SYS_CPUTS => {
            let [s, len] = args(frame, &mut k);
            k = sys_cputs(k, cur, s, len);
            Ok(0)
        }
        SYS_YIELD => {
            // Nothing else runnable: sched_yield would choose the caller again (JOS's rule:
            // the current env if nothing else can run), so go back to it at once.
            let t = env::table(&mut k);
            if !t.any_runnable() && t.state(cur).continues() {
                env::env_resume(k, cur)
            }
            sched::sched_yield(k)
        }
        SYS_IPC_RECV => {
            let r;
            let [dstva] = args(frame, &mut k);
            (k, r) = sys_ipc_recv(k, cur, dstva);
            r
        }
        // CHALLENGE: BEGIN sys_ipc_send-call
        // STUB: // (the blocking send's system call)
        SYS_IPC_SEND => {
            let r;
            // (The arguments one by one: an array would be copied to the stack first.)
            let [envid, value, srcva, perm] = args(frame, &mut k);
            (k, r) = sys_ipc_send(k, cur, envid, value, srcva, perm);
            r
        }
        // CHALLENGE: END sys_ipc_send-call
        // CHALLENGE: BEGIN sys_ipc_send_recv-call
        // STUB: // (the combined send and receive's system call)
        SYS_IPC_SEND_RECV => {
            let r;
            let a = args(frame, &mut k);
            (k, r) = sys_ipc_send_recv(k, cur, frame, a);
            r
        }
        // CHALLENGE: END sys_ipc_send_recv-call
        // CHALLENGE: BEGIN batch-call
        // STUB: // (the batch's system call)
        SYS_BATCH => {
            let [calls, n] = args(frame, &mut k);
            let t = env::table(&mut k);
            match sys_batch(t, cpu, cur, calls, n) {
                Ok(end) => {
                    // The failing call's error in EDX (0 if none failed).
                    let edx = end.error.map_or(0, |e| to_abi(Err(e))) as u32;
                    frame.get(&mut k).tf_regs.reg_edx = edx;
                    Ok(end.done as i32)
                }
                Err(e) => Err(e),
            }
        }
        // CHALLENGE: END batch-call
        num => {
            let (t, tf) = frame.with_table(&mut k);
            let r = &tf.tf_regs;
            let (a1, a2, a3, a4) = (|| r.reg_edx, || r.reg_ecx, || r.reg_ebx, || r.reg_edi);
            let a5 = || r.reg_esi;
            match num {
                SYS_CGETC => Ok(sys_cgetc()),
                SYS_GETENVID => Ok(t.id(cur).abi()),
                SYS_ENV_DESTROY => sys_env_destroy(t, cpu, envid_arg(a1())),
                SYS_PAGE_ALLOC => sys_page_alloc(t, cpu, envid_arg(a1()), a2(), a3()),
                SYS_PAGE_MAP => sys_page_map(t, cpu, (a1(), a2(), a3(), a4(), a5())),
                SYS_PAGE_UNMAP => sys_page_unmap(t, cpu, envid_arg(a1()), a2()),
                SYS_EXOFORK => sys_exofork(t, tf, cpu).map(EnvId::abi),
                SYS_ENV_SET_STATUS => sys_env_set_status(t, cpu, envid_arg(a1()), a2()),
                SYS_ENV_SET_PGFAULT_UPCALL => {
                    sys_env_set_pgfault_upcall(t, cpu, envid_arg(a1()), a2())
                }
                SYS_IPC_TRY_SEND => sys_ipc_try_send(t, cpu, cur, [a1(), a2(), a3(), a4()]),
                // CHALLENGE: BEGIN sys_page_copy-call
                // STUB: // (the page copy's system call)
                SYS_PAGE_COPY => sys_page_copy(t, cpu, [a1(), a2(), a3(), a4()]),
                // CHALLENGE: END sys_page_copy-call
                // CHALLENGE: BEGIN priorities-call
                // STUB: // (the priority's system call)
                SYS_ENV_SET_PRIORITY => sys_env_set_priority(t, cpu, envid_arg(a1()), a2()),
                // CHALLENGE: END priorities-call
                // CHALLENGE: BEGIN exception-upcall-call
                // STUB: // (the exception upcall's system call)
                SYS_ENV_SET_EXCEPTION_UPCALL => {
                    sys_env_set_exception_upcall(t, cpu, envid_arg(a1()), a2())
                }
                // CHALLENGE: END exception-upcall-call
                // CHALLENGE: BEGIN sys_page_map_copy-call
                // STUB: // (the system calls of fork's page copies and mappings)
                SYS_PAGE_DUP => sys_page_dup(t, cpu, cur, [a1(), a2(), a3()]),
                SYS_PAGE_MAP_COPY => sys_page_map_copy(t, cpu, (a1(), a2(), a3(), a4(), a5())),
                // CHALLENGE: END sys_page_map_copy-call
                _ => Err(Error::Inval),
            }
        }
    };
    // LAB 3: END syscall
    // The current env gets the result in eax (if it was destroyed, nobody reads the frame).
    frame.get(&mut k).tf_regs.reg_eax = to_abi(ret) as u32;
    // Back to it if it may go on (sched::resume, knowing which env that is), else schedule.
    if env::table(&mut k).state(cur).continues() {
        env::env_resume(k, cur)
    }
    sched::sched_yield(k)
}
