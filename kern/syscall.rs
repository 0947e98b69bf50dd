//! System calls (JOS's kern/syscall.c). Each call is a function returning `Result`; the
//! dispatcher turns errors into JOS's `-E_*` numbers, the only place they exist in the kernel.

use jos_inc::env::*;
use jos_inc::error::{Error, Result, to_abi};
use jos_inc::memlayout::*;
use jos_inc::mmu::*;
use jos_inc::syscall::*;

use crate::pmap::{self, PageTable};
use crate::{console, cprintf, cpu, env, sched};

fn curenv() -> usize {
    cpu::curenv().expect("system call without a current env")
}

/// Check that env `i` may access [va, va+len) with `perm | PTE_U`. If it cannot, print JOS's
/// message and destroy it; when it is the current env this does not return.
pub fn user_mem_assert(i: usize, va: u32, len: u32, perm: Pte) {
    if let Err(bad) = pmap::user_mem_check(env::env_pgdir(i), va, len, perm | Pte::U) {
        let id = env::with_env(i, |e| e.env_id);
        cprintf!(
            "[{:08x}] user_mem_check assertion failure for va {:08x}\n",
            id,
            bad
        );
        env::env_destroy(i); // may not return
    }
}

/// Print a string to the system console. The string is exactly `len` characters long.
/// Destroys the environment on memory errors.
fn sys_cputs(s: u32, len: u32) {
    let cur = curenv();
    // Check that the user has permission to read memory [s, s+len).
    user_mem_assert(cur, s, len, Pte::U);
    let pgdir = env::env_pgdir(cur);
    console::print_with(|out| {
        // Checked above: every page is mapped and readable, so this cannot fail.
        let _ = env::read_user(pgdir, s, len, |chunk| out(chunk));
    });
}

/// Read a character from the system console without blocking. Returns the character, or 0
/// if there is no input waiting.
fn sys_cgetc() -> i32 {
    console::cons_getc().map_or(0, i32::from)
}

/// Returns the current environment's envid.
fn sys_getenvid() -> EnvId {
    env::curenv_id()
}

/// Destroy a given environment (possibly the currently running environment).
fn sys_env_destroy(envid: EnvId) -> Result<i32> {
    let e = env::envid2env(envid, true)?;
    let (id, cur_id) = (env::with_env(e, |e| e.env_id), env::curenv_id());
    if id == cur_id {
        cprintf!("[{:08x}] exiting gracefully\n", cur_id);
    } else {
        cprintf!("[{:08x}] destroying {:08x}\n", cur_id, id);
    }
    env::env_destroy(e);
    Ok(0)
}

/// Deschedule current environment and pick a different one to run.
fn sys_yield() -> ! {
    sched::sched_yield()
}

/// Allocate a new environment: a copy of the current env's registers (returning 0 in the
/// child), an empty address space, not runnable.
fn sys_exofork() -> Result<i32> {
    let cur = curenv();
    let parent_id = env::curenv_id();
    let child = env::env_alloc(parent_id)?;
    let tf = env::with_env(cur, |e| e.env_tf);
    let id = env::with_env(child, |e| {
        e.env_status = ENV_NOT_RUNNABLE;
        e.env_tf = tf;
        // Tweak so sys_exofork will appear to return 0 in the child.
        e.env_tf.tf_regs.reg_eax = 0;
        e.env_id
    });
    Ok(id)
}

/// Set envid's env_status to status, which must be ENV_RUNNABLE or ENV_NOT_RUNNABLE.
fn sys_env_set_status(envid: EnvId, status: u32) -> Result<i32> {
    if status != ENV_RUNNABLE && status != ENV_NOT_RUNNABLE {
        return Err(Error::Inval);
    }
    let e = env::envid2env(envid, true)?;
    env::with_env(e, |e| e.env_status = status);
    Ok(0)
}

/// Set the page fault upcall for 'envid'.
fn sys_env_set_pgfault_upcall(envid: EnvId, func: u32) -> Result<i32> {
    let e = env::envid2env(envid, true)?;
    env::with_env(e, |e| e.env_pgfault_upcall = func);
    Ok(0)
}

/// A user virtual address the page calls accept: below UTOP and page-aligned.
fn check_va(va: u32) -> Result<()> {
    if va >= UTOP || !va.is_multiple_of(PGSIZE) {
        Err(Error::Inval)
    } else {
        Ok(())
    }
}

/// PTE_U | PTE_P must be set; PTE_AVAIL | PTE_W may or may not be; nothing else may be.
fn check_perm(perm: u32) -> Result<Pte> {
    let p = Pte::from_bits(perm).ok_or(Error::Inval)?;
    if !p.contains(Pte::U | Pte::P) || !Pte::SYSCALL.contains(p) {
        return Err(Error::Inval);
    }
    Ok(p)
}

/// Allocate a page of memory and map it at 'va' with permission 'perm' in the address space
/// of 'envid'. If a page is already mapped at 'va', that page is unmapped as a side effect.
fn sys_page_alloc(envid: EnvId, va: u32, perm: u32) -> Result<i32> {
    let e = env::envid2env(envid, true)?;
    check_va(va)?;
    let perm = check_perm(perm)?;
    let pp = pmap::page_alloc(true).ok_or(Error::NoMem)?;
    if let Err(err) = pmap::page_insert(env::env_pgdir(e), pp, va, perm) {
        pmap::page_free(pp);
        return Err(err);
    }
    Ok(0)
}

/// Map the page of memory at 'srcva' in srcenvid's address space at 'dstva' in dstenvid's
/// address space with permission 'perm'.
fn sys_page_map(
    srcenvid: EnvId,
    srcva: u32,
    dstenvid: EnvId,
    dstva: u32,
    perm: u32,
) -> Result<i32> {
    let src = env::envid2env(srcenvid, true)?;
    let dst = env::envid2env(dstenvid, true)?;
    check_va(srcva)?;
    check_va(dstva)?;
    let perm = check_perm(perm)?;
    page_map_checked(env::env_pgdir(src), srcva, env::env_pgdir(dst), dstva, perm)
}

/// The part of page_map shared with IPC: srcva must be mapped, and a writable mapping needs
/// a writable source.
fn page_map_checked(
    src: PageTable,
    srcva: u32,
    dst: PageTable,
    dstva: u32,
    perm: Pte,
) -> Result<i32> {
    let (pp, pte) = pmap::page_lookup(src, srcva).ok_or(Error::Inval)?;
    if perm.contains(Pte::W) && pte.get() & Pte::W.bits() == 0 {
        return Err(Error::Inval);
    }
    pmap::page_insert(dst, pp, dstva, perm)?;
    Ok(0)
}

/// Unmap the page of memory at 'va' in the address space of 'envid'. If no page is mapped,
/// the function silently succeeds.
fn sys_page_unmap(envid: EnvId, va: u32) -> Result<i32> {
    let e = env::envid2env(envid, true)?;
    check_va(va)?;
    pmap::page_remove(env::env_pgdir(e), va);
    Ok(0)
}

/// Try to send 'value' to the target env 'envid'. If srcva < UTOP, then also send the page
/// currently mapped at 'srcva', so that receiver gets a duplicate mapping of the same page.
/// Fails with -E_IPC_NOT_RECV if the target is not blocked in sys_ipc_recv.
fn sys_ipc_try_send(envid: EnvId, value: u32, srcva: u32, perm: u32) -> Result<i32> {
    let dst = env::envid2env(envid, false)?;
    let (recving, dstva) = env::with_env(dst, |e| (e.env_ipc_recving, e.env_ipc_dstva));
    if !recving {
        return Err(Error::IpcNotRecv);
    }
    let mut sent_perm = 0;
    if srcva < UTOP {
        if !srcva.is_multiple_of(PGSIZE) {
            return Err(Error::Inval);
        }
        let p = check_perm(perm)?;
        let src_pgdir = env::env_pgdir(curenv());
        // Only transfer a page when the receiver asked for one too.
        if dstva < UTOP {
            page_map_checked(src_pgdir, srcva, env::env_pgdir(dst), dstva, p)?;
            sent_perm = perm as i32;
        } else {
            // Still validate the source as JOS does (unmapped / W on read-only: -E_INVAL).
            let (_, pte) = pmap::page_lookup(src_pgdir, srcva).ok_or(Error::Inval)?;
            if p.contains(Pte::W) && pte.get() & Pte::W.bits() == 0 {
                return Err(Error::Inval);
            }
        }
    }
    let from = env::curenv_id();
    env::with_env(dst, |e| {
        e.env_ipc_recving = false;
        e.env_ipc_from = from;
        e.env_ipc_value = value;
        e.env_ipc_perm = sent_perm;
        e.env_status = ENV_RUNNABLE;
        // The receiver's sys_ipc_recv returns 0.
        e.env_tf.tf_regs.reg_eax = 0;
    });
    Ok(0)
}

/// Block until a value is ready. Record that you want to receive using the env_ipc_recving
/// and env_ipc_dstva fields, mark yourself not runnable, and give up the CPU. If dstva is
/// < UTOP, then you are willing to receive a page of data.
fn sys_ipc_recv(dstva: u32) -> Result<i32> {
    if dstva < UTOP && !dstva.is_multiple_of(PGSIZE) {
        return Err(Error::Inval);
    }
    let cur = curenv();
    env::with_env(cur, |e| {
        e.env_ipc_recving = true;
        e.env_ipc_dstva = dstva;
        e.env_status = ENV_NOT_RUNNABLE;
    });
    sched::sched_yield()
}

/// Dispatches to the correct kernel function, passing the arguments.
pub fn syscall(num: u32, a1: u32, a2: u32, a3: u32, a4: u32, a5: u32) -> i32 {
    let r: Result<i32> = match num {
        SYS_CPUTS => {
            sys_cputs(a1, a2);
            Ok(0)
        }
        SYS_CGETC => Ok(sys_cgetc()),
        SYS_GETENVID => Ok(sys_getenvid()),
        SYS_ENV_DESTROY => sys_env_destroy(a1 as EnvId),
        SYS_PAGE_ALLOC => sys_page_alloc(a1 as EnvId, a2, a3),
        SYS_PAGE_MAP => sys_page_map(a1 as EnvId, a2, a3 as EnvId, a4, a5),
        SYS_PAGE_UNMAP => sys_page_unmap(a1 as EnvId, a2),
        SYS_EXOFORK => sys_exofork(),
        SYS_ENV_SET_STATUS => sys_env_set_status(a1 as EnvId, a2),
        SYS_ENV_SET_PGFAULT_UPCALL => sys_env_set_pgfault_upcall(a1 as EnvId, a2),
        SYS_YIELD => sys_yield(),
        SYS_IPC_TRY_SEND => sys_ipc_try_send(a1 as EnvId, a2, a3, a4),
        SYS_IPC_RECV => sys_ipc_recv(a1),
        _ => Err(Error::Inval),
    };
    to_abi(r)
}
