//! System call numbers (JOS's inc/syscall.h). Calling convention: `int $0x30` with EAX = number,
//! EDX, ECX, EBX, EDI, ESI = arguments 1-5; the result comes back in EAX.

pub const SYS_CPUTS: u32 = 0;
pub const SYS_CGETC: u32 = 1;
pub const SYS_GETENVID: u32 = 2;
pub const SYS_ENV_DESTROY: u32 = 3;
pub const SYS_PAGE_ALLOC: u32 = 4;
pub const SYS_PAGE_MAP: u32 = 5;
pub const SYS_PAGE_UNMAP: u32 = 6;
pub const SYS_EXOFORK: u32 = 7;
pub const SYS_ENV_SET_STATUS: u32 = 8;
pub const SYS_ENV_SET_PGFAULT_UPCALL: u32 = 9;
pub const SYS_YIELD: u32 = 10;
pub const SYS_IPC_TRY_SEND: u32 = 11;
pub const SYS_IPC_RECV: u32 = 12;
/// Not in JOS (a lab 4 challenge): `sys_ipc_try_send` that blocks until the receiver takes the
/// message, instead of failing with -E_IPC_NOT_RECV.
pub const SYS_IPC_SEND: u32 = 13;
/// Not in JOS: replace the page at `srcva` of an env with a private copy of it (copy-on-write
/// resolved in one call, with no page zeroed only to be overwritten).
pub const SYS_PAGE_COPY: u32 = 14;
/// Not in JOS (a lab 4 challenge): set an env's scheduling priority (see `env::NPRIO`).
pub const SYS_ENV_SET_PRIORITY: u32 = 15;
/// Not in JOS (a lab 4 challenge): set the upcall for the exceptions in
/// `trap::USER_EXCEPTIONS` (divide, debug, breakpoint, overflow, ...), which gets a `UExcframe`.
pub const SYS_ENV_SET_EXCEPTION_UPCALL: u32 = 16;
/// Not in JOS (a lab 4 challenge): make up to `BATCH_MAX` system calls in one trap. EDX points
/// at an array of `n` (ECX) [`BatchCall`] records. Each call is made, and checked, exactly as
/// if it were made alone, in order, until one fails: EAX then says how many took effect (the
/// failing call's index) and EDX holds its error (`-E_*`); EAX = n if all did. The batch stops
/// early (EDX = 0) after a call that destroys or suspends the caller. Only calls that neither
/// block, nor switch envs, nor create one may be batched (`batchable`); any other number fails
/// with -E_INVAL at its index. -E_INVAL (nothing done) if n > `BATCH_MAX`; a bad array
/// pointer is JOS's `user_mem_check assertion failure` (the caller is destroyed). Results that
/// are values (an env id, a character) are not returned from a batch.
pub const SYS_BATCH: u32 = 17;
/// Not in JOS: fork's `duppage` over a range of the caller's pages, into a child at the same
/// addresses, each mapping as the library's `sys_page_map`s would make it (PTE_SHARE pages as
/// they are, writable or copy-on-write ones copy-on-write in both, others read-only), checked
/// as such. Arguments: the child, the start and the end of the range (page-aligned, end at
/// most UTOP). Returns 0 when the range is done; a call does a bounded amount of work and
/// otherwise returns the page number to go on from (> 0).
pub const SYS_PAGE_DUP: u32 = 18;
/// Not in JOS: `sys_page_map`'s arguments, but `dstenv` gets a private copy of the page at
/// `srcva` of `srcenv` (fork gives a child its copy of the stack page this way, instead of a
/// copy-on-write fault in each env). The source must be mapped and user-readable; `perm` is
/// checked as for `sys_page_alloc`.
pub const SYS_PAGE_MAP_COPY: u32 = 19;
/// Not in JOS (Liedtke's IPC, a JOS lab 4 challenge): `sys_ipc_send` then `sys_ipc_recv` in
/// one call. Arguments: the receiver, the value, the page to send (srcva, perm: as for
/// `sys_ipc_send`), and where to receive a page (dstva: as for recv). The message goes to the
/// receiver (blocking until it takes it, as `sys_ipc_send`), then the caller waits for a
/// message, without returning in between; a receiver that is waiting runs at once on this CPU
/// (no scheduler pass). Returns 0 with the message received both in `envs[]` (as every
/// receive) and in registers: EDX = value, ECX = sender, EBX = permissions. Fails, having
/// done nothing, as `sys_ipc_send` fails (-E_BAD_ENV, -E_INVAL for a bad page or a send to
/// oneself), or with -E_INVAL for a bad dstva; or, having sent, with the error a blocked
/// send can end with (-E_BAD_ENV if the receiver died, -E_INVAL if the page was gone).
pub const SYS_IPC_SEND_RECV: u32 = 20;
/// One past the last system call number.
pub const NSYSCALLS: u32 = 21;

/// The most calls one `SYS_BATCH` takes. The kernel holds the big lock for the whole batch,
/// so this bounds how long other CPUs can wait for it: 64 calls of the costliest batchable
/// kind (a page allocated and zeroed, or copied: about 1,000 instructions each) are about what
/// one fork of a 64-page program held the lock for when it made one call per page; and the
/// kernel copies the array onto its stack (64 * 24 = 1,536 bytes).
pub const BATCH_MAX: usize = 64;

/// One call of a `SYS_BATCH`: the number and the five arguments, in the registers' order
/// (EDX, ECX, EBX, EDI, ESI).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BatchCall {
    pub num: u32,
    pub args: [u32; 5],
}

const _: () = assert!(core::mem::size_of::<BatchCall>() == 24);

/// Whether a call may be part of a `SYS_BATCH`: not one that blocks (`sys_ipc_recv`,
/// `sys_ipc_send`), gives up the CPU (`sys_yield`), creates an env from the caller's registers
/// (`sys_exofork`), prints with the big lock released (`sys_cputs`), has a result that must
/// be read to make progress (`SYS_PAGE_DUP`), or is a batch itself.
pub const fn batchable(num: u32) -> bool {
    matches!(
        num,
        SYS_CGETC
            | SYS_GETENVID
            | SYS_ENV_DESTROY
            | SYS_PAGE_ALLOC
            | SYS_PAGE_MAP
            | SYS_PAGE_UNMAP
            | SYS_ENV_SET_STATUS
            | SYS_ENV_SET_PGFAULT_UPCALL
            | SYS_IPC_TRY_SEND
            | SYS_PAGE_COPY
            | SYS_ENV_SET_PRIORITY
            | SYS_ENV_SET_EXCEPTION_UPCALL
            | SYS_PAGE_MAP_COPY
    )
}
