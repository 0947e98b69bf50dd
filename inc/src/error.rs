//! Error codes (JOS's inc/error.h). Inside the kernel and the user library errors are the
//! [`Error`] enum; the negative integers exist only at the system-call boundary.

use core::fmt;

/// A JOS error. The discriminant is JOS's `E_*` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Error {
    /// Unspecified or unknown problem.
    Unspecified = 1,
    /// Environment doesn't exist or otherwise cannot be used in requested action.
    BadEnv = 2,
    /// Invalid parameter.
    Inval = 3,
    /// Request failed due to memory shortage.
    NoMem = 4,
    /// Attempt to create a new environment beyond the maximum allowed.
    NoFreeEnv = 5,
    /// Memory fault.
    Fault = 6,
    /// Attempt to send to env that is not recving.
    IpcNotRecv = 7,
    /// Unexpected end of file.
    Eof = 8,
}

pub const E_UNSPECIFIED: i32 = 1;
pub const E_BAD_ENV: i32 = 2;
pub const E_INVAL: i32 = 3;
pub const E_NO_MEM: i32 = 4;
pub const E_NO_FREE_ENV: i32 = 5;
pub const E_FAULT: i32 = 6;
pub const E_IPC_NOT_RECV: i32 = 7;
pub const E_EOF: i32 = 8;
pub const MAXERROR: i32 = 9;

pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// JOS's `E_*` code (positive).
    pub const fn code(self) -> i32 {
        self as i32
    }

    /// The error for a positive `E_*` code, if it is one.
    pub const fn from_code(code: i32) -> Option<Error> {
        Some(match code {
            E_UNSPECIFIED => Error::Unspecified,
            E_BAD_ENV => Error::BadEnv,
            E_INVAL => Error::Inval,
            E_NO_MEM => Error::NoMem,
            E_NO_FREE_ENV => Error::NoFreeEnv,
            E_FAULT => Error::Fault,
            E_IPC_NOT_RECV => Error::IpcNotRecv,
            E_EOF => Error::Eof,
            _ => return None,
        })
    }

    /// The string printfmt's `%e` prints.
    pub const fn as_str(self) -> &'static str {
        match self {
            Error::Unspecified => "unspecified error",
            Error::BadEnv => "bad environment",
            Error::Inval => "invalid parameter",
            Error::NoMem => "out of memory",
            Error::NoFreeEnv => "out of environments",
            Error::Fault => "segmentation fault",
            Error::IpcNotRecv => "env is not recving",
            Error::Eof => "unexpected end of file",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// JOS's `%e`: formats a (negative or positive) error number as printfmt does: the error's
/// string, or `error %d` for a number that is not one.
#[derive(Clone, Copy, Debug)]
pub struct ErrNum(pub i32);

impl fmt::Display for ErrNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.0.checked_abs().unwrap_or(i32::MAX);
        match Error::from_code(code) {
            Some(e) => f.write_str(e.as_str()),
            None => write!(f, "error {}", code),
        }
    }
}

/// Encode a syscall result for the ABI: `Ok(v)` as `v`, `Err(e)` as `-E_x`.
pub fn to_abi(r: Result<i32>) -> i32 {
    match r {
        Ok(v) => v,
        Err(e) => -e.code(),
    }
}

/// Decode a syscall return value: negative values in range are errors.
pub fn from_abi(v: i32) -> Result<i32> {
    if v < 0 {
        Err(Error::from_code(v.checked_neg().unwrap_or(0)).unwrap_or(Error::Unspecified))
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;

    #[test]
    fn codes_and_strings() {
        for code in 1..MAXERROR {
            let e = Error::from_code(code).unwrap();
            assert_eq!(e.code(), code);
        }
        assert_eq!(Error::from_code(0), None);
        assert_eq!(Error::from_code(MAXERROR), None);
        assert_eq!(format!("{}", ErrNum(-E_NO_MEM)), "out of memory");
        assert_eq!(format!("{}", ErrNum(E_IPC_NOT_RECV)), "env is not recving");
        assert_eq!(format!("{}", ErrNum(-42)), "error 42");
        assert_eq!(
            format!("{}", ErrNum(i32::MIN)),
            format!("error {}", i32::MAX)
        );
    }

    #[test]
    fn abi_round_trip() {
        assert_eq!(to_abi(Err(Error::BadEnv)), -2);
        assert_eq!(to_abi(Ok(7)), 7);
        assert_eq!(from_abi(-3), Err(Error::Inval));
        assert_eq!(from_abi(-100), Err(Error::Unspecified));
        assert_eq!(from_abi(5), Ok(5));
    }
}
