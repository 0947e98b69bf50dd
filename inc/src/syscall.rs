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
/// One past the last system call number.
pub const NSYSCALLS: u32 = 17;
