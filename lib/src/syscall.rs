//! System call stubs (JOS's lib/syscall.c, and `sys_exofork` from inc/lib.h).
//!
//! Convention: `int $0x30` with EAX = number, EDX, ECX, EBX, EDI, ESI = arguments 1..5; the
//! result comes back in EAX, negative for `-E_*`. The kernel restores every other register
//! from the trap frame, so only EAX is an output.
//!
//! The wrappers return [`Result`]. Calls that change the caller's own mappings
//! (`sys_page_alloc`, `sys_page_map`, `sys_page_unmap`, `sys_ipc_recv`) are `unsafe`: like
//! `mmap`/`munmap`, they can replace or remove memory that Rust code still refers to. So is
//! `sys_env_set_pgfault_upcall`, which decides where the CPU jumps on the next fault.

use core::arch::asm;

use jos_inc::env::EnvId;
use jos_inc::error::{Error, Result, from_abi};
use jos_inc::mmu::Pte;
use jos_inc::syscall::*;
use jos_inc::trap::T_SYSCALL;

/// The system calls of up to four arguments: the trap with only the registers the call reads
/// loaded (the kernel reads each call's own arguments and no others), so a call with none
/// costs the trap alone rather than four more register loads.
macro_rules! short_syscall {
    ($(#[$m:meta])* $name:ident ($($arg:ident: $reg:tt),*)) => {
        $(#[$m])*
        #[inline(always)]
        fn $name(num: u32, $($arg: u32),*) -> i32 {
            let ret: i32;
            // SAFETY: the trap itself only clobbers EAX (the kernel restores the rest from
            // the trap frame). What the call does to our address space is each wrapper's
            // concern: the ones that can hurt the caller are `unsafe fn`s whose callers vouch
            // for them.
            unsafe {
                asm!(
                    "int ${t}",
                    t = const T_SYSCALL,
                    inlateout("eax") num => ret,
                    $(in($reg) $arg,)*
                    options(att_syntax),
                );
            }
            ret
        }
    };
}

short_syscall!(
    /// A system call without arguments.
    syscall0()
);
short_syscall!(
    /// A system call with one argument.
    syscall1(a1: "edx")
);
short_syscall!(
    /// A system call with two arguments.
    syscall2(a1: "edx", a2: "ecx")
);
short_syscall!(
    /// A system call with three arguments.
    syscall3(a1: "edx", a2: "ecx", a3: "ebx")
);
short_syscall!(
    /// A system call with four arguments. ESI is not touched: LLVM reserves it on i386
    /// (base pointer), so it cannot be an operand (see `syscall5`).
    syscall4(a1: "edx", a2: "ecx", a3: "ebx", a4: "edi")
);

/// A system call with five arguments. ESI (argument 5) cannot be an asm operand, and with
/// EAX, EDX, ECX, EBX and EDI taken no register is left to carry it: so EAX brings the
/// address of `[num, a5]`, and the asm saves ESI, loads both, traps and restores ESI.
#[inline(always)]
fn syscall5(num: u32, a1: u32, a2: u32, a3: u32, a4: u32, a5: u32) -> i32 {
    let num_a5 = [num, a5];
    let ret: i32;
    // SAFETY: as for `short_syscall`'s; `num_a5` lives across the asm, and ESI is restored before
    // the block ends, as LLVM requires of a reserved register.
    unsafe {
        asm!(
            "pushl %esi",
            "movl 4(%eax), %esi",
            "movl (%eax), %eax",
            "int ${t}",
            "popl %esi",
            t = const T_SYSCALL,
            inlateout("eax") num_a5.as_ptr() => ret,
            in("edx") a1,
            in("ecx") a2,
            in("ebx") a3,
            in("edi") a4,
            options(att_syntax),
        );
    }
    ret
}

/// The raw system call, with every argument exactly as given: for tests that must pass
/// values no typed wrapper would (bad pointers, bad ids, bad statuses).
///
/// # Safety
/// The call may do anything a system call can do to the caller: unmap or replace its memory,
/// set its page-fault upcall, block it. The caller must make sure that nothing Rust relies on
/// is affected.
pub unsafe fn syscall(num: u32, a1: u32, a2: u32, a3: u32, a4: u32, a5: u32) -> i32 {
    syscall5(num, a1, a2, a3, a4, a5)
}

/// JOS's `check` flag: calls that return 0 on success must never return a positive value.
/// (Inlined into the wrappers, which are inlined into their callers: the success path is a
/// test of EAX; the error decoding and the panic are out of line.)
#[inline(always)]
fn check(num: u32, ret: i32) -> Result<()> {
    if ret == 0 {
        return Ok(());
    }
    check_nonzero(num, ret)
}

/// `check` for a result other than 0: an error, or a positive value (a kernel bug).
#[cold]
#[inline(never)]
fn check_nonzero(num: u32, ret: i32) -> Result<()> {
    if ret > 0 {
        panic!("syscall {} returned {} (> 0)", num, ret);
    }
    from_abi(ret).map(|_| ())
}

/// Print `s` on the console. A pointer the kernel rejects destroys the environment.
pub fn sys_cputs(s: &[u8]) {
    // An empty slice's pointer may be dangling (e.g. 1), and JOS's user_mem_check rejects
    // the page it is in even for length 0: so print nothing without asking.
    if s.is_empty() {
        return;
    }
    syscall2(SYS_CPUTS, s.as_ptr() as u32, s.len() as u32);
}

/// The next console character, or 0 if none is waiting (does not block).
#[inline]
pub fn sys_cgetc() -> i32 {
    syscall0(SYS_CGETC)
}

/// The caller's environment id.
#[inline]
pub fn sys_getenvid() -> EnvId {
    syscall0(SYS_GETENVID)
}

/// Destroy `envid` (0 = the caller, in which case this does not return).
pub fn sys_env_destroy(envid: EnvId) -> Result<()> {
    check(SYS_ENV_DESTROY, syscall1(SYS_ENV_DESTROY, envid as u32))
}

/// Give up the CPU.
#[inline]
pub fn sys_yield() {
    syscall0(SYS_YIELD);
}

/// Map a fresh zeroed page at `va` in `envid` with `perm` (P and U required).
///
/// # Safety
/// If `envid` is the caller, whatever was mapped at `va` is replaced by zeros: no Rust
/// reference may point into that page.
#[inline]
pub unsafe fn sys_page_alloc(envid: EnvId, va: u32, perm: Pte) -> Result<()> {
    check(
        SYS_PAGE_ALLOC,
        syscall3(SYS_PAGE_ALLOC, envid as u32, va, perm.bits()),
    )
}

/// Map the page at `srcva` in `srcenv` at `dstva` in `dstenv` with `perm`.
///
/// # Safety
/// If `dstenv` is the caller, the page at `dstva` is replaced: no Rust reference may point
/// into it unless the new mapping has the same contents (as when only permissions change).
/// A writable mapping shared with another environment may change under the caller.
#[inline]
pub unsafe fn sys_page_map(
    srcenv: EnvId,
    srcva: u32,
    dstenv: EnvId,
    dstva: u32,
    perm: Pte,
) -> Result<()> {
    let r = syscall5(
        SYS_PAGE_MAP,
        srcenv as u32,
        srcva,
        dstenv as u32,
        dstva,
        perm.bits(),
    );
    check(SYS_PAGE_MAP, r)
}

/// Map at `dstva` in `envid` a new page holding a copy of the page at `srcva` there, with
/// `perm` (not in JOS: copy-on-write in one call; see the kernel's `sys_page_copy`).
///
/// # Safety
/// If `envid` is the caller, the page at `dstva` is replaced: no Rust reference may point into
/// it unless its contents stay the same (as when `srcva == dstva`).
#[inline]
pub unsafe fn sys_page_copy(envid: EnvId, srcva: u32, dstva: u32, perm: Pte) -> Result<()> {
    let r = syscall4(SYS_PAGE_COPY, envid as u32, srcva, dstva, perm.bits());
    check(SYS_PAGE_COPY, r)
}

/// Unmap the page at `va` in `envid` (no error if nothing is mapped there).
///
/// # Safety
/// If `envid` is the caller, no Rust reference may point into the page at `va`.
#[inline]
pub unsafe fn sys_page_unmap(envid: EnvId, va: u32) -> Result<()> {
    check(SYS_PAGE_UNMAP, syscall2(SYS_PAGE_UNMAP, envid as u32, va))
}

/// Create a child environment: `Ok(child id)` in the parent, `Ok(0)` in the child.
///
/// The child starts NOT_RUNNABLE with the parent's registers (EAX = 0) and an empty address
/// space; it resumes right after the `int $0x30` below, on whatever copy of the parent's
/// stack the parent gives it. That is why this is `#[inline(always)]` with its own asm (as
/// JOS's inline `sys_exofork`): a call would make the child return through a stack frame
/// that the parent has long since reused. Callers keep the child's path short.
#[inline(always)]
pub fn sys_exofork() -> Result<EnvId> {
    let ret: i32;
    // SAFETY: the call only creates a new, not-runnable environment; the caller's state is
    // untouched.
    unsafe {
        asm!(
            "int ${t}",
            t = const T_SYSCALL,
            inlateout("eax") SYS_EXOFORK => ret,
            options(att_syntax),
        );
    }
    from_abi(ret)
}

/// Set `envid`'s status to ENV_RUNNABLE or ENV_NOT_RUNNABLE.
#[inline]
pub fn sys_env_set_status(envid: EnvId, status: u32) -> Result<()> {
    check(
        SYS_ENV_SET_STATUS,
        syscall2(SYS_ENV_SET_STATUS, envid as u32, status),
    )
}

/// Set `envid`'s scheduling priority, `0..NPRIO` (not in JOS: a lab 4 challenge). Itself or
/// a child, and never above the caller's own priority (`Err(Error::Inval)`).
pub fn sys_env_set_priority(envid: EnvId, prio: u32) -> Result<()> {
    let r = syscall2(SYS_ENV_SET_PRIORITY, envid as u32, prio);
    check(SYS_ENV_SET_PRIORITY, r)
}

/// Set `envid`'s upcall for the exceptions other than page faults (not in JOS: a lab 4
/// challenge); 0 restores JOS's behaviour.
///
/// # Safety
/// If `envid` is the caller, its next such exception jumps to `func` on the exception stack:
/// `func` must be an upcall entry such as [`crate::exception::exception_upcall`].
pub unsafe fn sys_env_set_exception_upcall(envid: EnvId, func: u32) -> Result<()> {
    let r = syscall2(SYS_ENV_SET_EXCEPTION_UPCALL, envid as u32, func);
    check(SYS_ENV_SET_EXCEPTION_UPCALL, r)
}

/// Set `envid`'s page-fault upcall entry point.
///
/// # Safety
/// If `envid` is the caller, its next page fault jumps to `func` on the exception stack:
/// `func` must be an upcall entry such as [`crate::pgfault_upcall`].
pub unsafe fn sys_env_set_pgfault_upcall(envid: EnvId, func: u32) -> Result<()> {
    let r = syscall2(SYS_ENV_SET_PGFAULT_UPCALL, envid as u32, func);
    check(SYS_ENV_SET_PGFAULT_UPCALL, r)
}

/// Try once to send `value` (and the page at `srcva`, if below UTOP) to `envid`.
/// `Err(Error::IpcNotRecv)` if the target is not waiting in `sys_ipc_recv`.
#[inline]
pub fn sys_ipc_try_send(envid: EnvId, value: u32, srcva: u32, perm: Pte) -> Result<()> {
    let r = syscall4(SYS_IPC_TRY_SEND, envid as u32, value, srcva, perm.bits());
    from_abi(r).map(|_| ())
}

/// Send `value` (and the page at `srcva`, if below UTOP) to `envid`, blocking until it takes
/// the message (not in JOS: a lab 4 challenge). Errors as for [`sys_ipc_try_send`], except
/// that it never fails with "not receiving"; `Err(Error::Inval)` for a send to oneself.
#[inline]
pub fn sys_ipc_send(envid: EnvId, value: u32, srcva: u32, perm: Pte) -> Result<()> {
    let r = syscall4(SYS_IPC_SEND, envid as u32, value, srcva, perm.bits());
    check(SYS_IPC_SEND, r)
}

/// Block until a message arrives; a page sent along is mapped at `dstva` if it is below
/// UTOP. The message is then in `thisenv()`'s `env_ipc_*` fields.
///
/// # Safety
/// If `dstva` is below UTOP, the page there may be replaced: no Rust reference may point
/// into it.
#[inline]
pub unsafe fn sys_ipc_recv(dstva: u32) -> Result<()> {
    check(SYS_IPC_RECV, syscall1(SYS_IPC_RECV, dstva))
}

/// Why a batch stopped before its end: the index of the first call that did not take effect,
/// and the error of the call that failed there (`None` if the batch stopped because the call
/// before it destroyed or suspended the caller).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchError {
    pub index: usize,
    pub error: Option<Error>,
}

/// Make `calls` in one trap (not in JOS: a lab 4 challenge; see `SYS_BATCH`): each exactly as
/// if made alone, in order, until one fails. `Ok(())` if all took effect; else the failing
/// call's index and error, with the calls before it done and those after it not.
/// `Err(BatchError { index: 0, error: Some(Error::Inval) })` if there are more than
/// `BATCH_MAX` calls (none is made).
///
/// # Safety
/// As for each call in the batch made alone (several change the caller's own mappings).
pub unsafe fn sys_batch(calls: &[BatchCall]) -> core::result::Result<(), BatchError> {
    let (done, err): (i32, i32);
    // SAFETY: as for `syscall4`, except that EDX is an output too (the failing call's error);
    // the kernel only reads the array (it copies it in before making any call).
    unsafe {
        asm!(
            "int ${t}",
            t = const T_SYSCALL,
            inlateout("eax") SYS_BATCH => done,
            inlateout("edx") calls.as_ptr() as u32 => err,
            in("ecx") calls.len() as u32,
            options(att_syntax),
        );
    }
    if done < 0 {
        return Err(BatchError {
            index: 0,
            error: from_abi(done).err(),
        });
    }
    let done = done as usize;
    if done == calls.len() {
        return Ok(());
    }
    Err(BatchError {
        index: done,
        error: from_abi(err).err(),
    })
}

/// A `BatchCall` record: `num` with up to five arguments (unused ones 0).
pub const fn batch_call(num: u32, a: [u32; 5]) -> BatchCall {
    BatchCall { num, args: a }
}

/// fork's duppage over our pages in `[va, end)`, into our child `envid` at the same addresses
/// (not in JOS; see `SYS_PAGE_DUP`), to the end of the range (as many calls as the kernel's
/// bound on one call's work needs: one for a program of up to 1,024 pages in 16 tables).
///
/// # Safety
/// Our writable pages in the range become copy-on-write: nothing may rely on writing them
/// without a page fault handler that copies (fork's).
pub unsafe fn sys_page_dup(envid: EnvId, va: u32, end: u32) -> Result<()> {
    let mut from = va;
    loop {
        let r = syscall3(SYS_PAGE_DUP, envid as u32, from, end);
        match from_abi(r)? {
            0 => return Ok(()),
            next => from = (next as u32) << 12,
        }
    }
}

/// Map at `dstva` in `dstenv` a private copy of the page at `srcva` in `srcenv`, with `perm`
/// (not in JOS; see `SYS_PAGE_MAP_COPY`).
///
/// # Safety
/// If `dstenv` is the caller, the page at `dstva` is replaced: no Rust reference may point
/// into it unless its contents stay the same.
pub unsafe fn sys_page_map_copy(
    srcenv: EnvId,
    srcva: u32,
    dstenv: EnvId,
    dstva: u32,
    perm: Pte,
) -> Result<()> {
    let r = syscall5(
        SYS_PAGE_MAP_COPY,
        srcenv as u32,
        srcva,
        dstenv as u32,
        dstva,
        perm.bits(),
    );
    check(SYS_PAGE_MAP_COPY, r)
}

/// Send `value` (and the page at `srcva` with `perm`, if below UTOP) to `envid`, then receive
/// (a page at `dstva`, if below UTOP), in one call (not in JOS: Liedtke's combined send and
/// receive, `SYS_IPC_SEND_RECV`). Returns the message received: (value, sender, permissions),
/// which the kernel also leaves in `thisenv()`'s `env_ipc_*` fields. If `envid` is not waiting
/// yet, this waits for it to take the message, as [`sys_ipc_send`]. Errors as for
/// [`sys_ipc_send`], and `Err(Error::Inval)` for a misaligned `dstva`.
///
/// # Safety
/// If `dstva` is below UTOP, the page there may be replaced: no Rust reference may point
/// into it.
pub unsafe fn sys_ipc_send_recv(
    envid: EnvId,
    value: u32,
    srcva: u32,
    perm: Pte,
    dstva: u32,
) -> Result<(u32, EnvId, Pte)> {
    let num_a5 = [SYS_IPC_SEND_RECV, dstva];
    let (ret, v, from, p): (i32, u32, u32, u32);
    // SAFETY: as for `syscall5` (ESI saved and restored around the trap); the kernel returns
    // the message in EDX, ECX and EBX, declared as outputs here.
    unsafe {
        asm!(
            "pushl %esi",
            "movl 4(%eax), %esi",
            "movl (%eax), %eax",
            "int ${t}",
            "popl %esi",
            t = const T_SYSCALL,
            inlateout("eax") num_a5.as_ptr() => ret,
            inlateout("edx") envid as u32 => v,
            inlateout("ecx") value => from,
            inlateout("ebx") srcva => p,
            in("edi") perm.bits(),
            options(att_syntax),
        );
    }
    from_abi(ret)?;
    Ok((v, from as EnvId, Pte::from_bits_retain(p)))
}
