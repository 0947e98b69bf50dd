//! Error codes (JOS's inc/error.h). Inside the kernel and the user library errors are the
//! [`Error`] enum; the negative integers exist only at the system-call boundary.

use core::fmt;

/// Declares the errors from one table: the [`Error`] enum (discriminant = JOS's `E_*` value),
/// the `E_*` constants, `MAXERROR`, and the code and string conversions, so a code and its
/// string can never drift apart.
macro_rules! errors {
    ($( $(#[$doc:meta])* $variant:ident = $code:ident = $value:literal, $msg:literal; )*) => {
        /// A JOS error. The discriminant is JOS's `E_*` value.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(i32)]
        pub enum Error {
            $( $(#[$doc])* $variant = $value, )*
        }

        $( pub const $code: i32 = $value; )*

        impl Error {
            /// Every error, in code order.
            pub const ALL: [Error; [$($value),*].len()] = [$(Error::$variant),*];

            /// The error for a positive `E_*` code, if it is one.
            pub const fn from_code(code: i32) -> Option<Error> {
                match code {
                    $( $code => Some(Error::$variant), )*
                    _ => None,
                }
            }

            /// The string printfmt's `%e` prints (JOS's lib/printfmt.c `error_string`).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Error::$variant => $msg, )*
                }
            }
        }
    };
}

errors! {
    /// Unspecified or unknown problem.
    Unspecified = E_UNSPECIFIED = 1, "unspecified error";
    /// Environment doesn't exist or otherwise cannot be used in requested action.
    BadEnv = E_BAD_ENV = 2, "bad environment";
    /// Invalid parameter.
    Inval = E_INVAL = 3, "invalid parameter";
    /// Request failed due to memory shortage.
    NoMem = E_NO_MEM = 4, "out of memory";
    /// Attempt to create a new environment beyond the maximum allowed.
    NoFreeEnv = E_NO_FREE_ENV = 5, "out of environments";
    /// Memory fault.
    Fault = E_FAULT = 6, "segmentation fault";
    /// Attempt to send to env that is not recving.
    IpcNotRecv = E_IPC_NOT_RECV = 7, "env is not recving";
    /// Unexpected end of file.
    Eof = E_EOF = 8, "unexpected end of file";
}

/// One past the last error code (JOS's `MAXERROR`, the size of printfmt's string table).
pub const MAXERROR: i32 = Error::ALL.len() as i32 + 1;

// The ABI: JOS's codes are 1..MAXERROR in this order, MAXERROR is 9, and each code maps back
// to its own error; every error has a message.
const _: () = {
    assert!(MAXERROR == 9);
    let mut i = 0;
    while i < Error::ALL.len() {
        let e = Error::ALL[i];
        assert!(e as i32 == i as i32 + 1);
        assert!(matches!(Error::from_code(e as i32), Some(x) if x as i32 == e as i32));
        assert!(!e.as_str().is_empty());
        i += 1;
    }
};

pub type Result<T> = core::result::Result<T, Error>;

impl Error {
    /// JOS's `E_*` code (positive).
    pub const fn code(self) -> i32 {
        self as i32
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
    fn jos_strings() {
        // lib/printfmt.c's error_string[], in code order.
        let jos = [
            "unspecified error",
            "bad environment",
            "invalid parameter",
            "out of memory",
            "out of environments",
            "segmentation fault",
            "env is not recving",
            "unexpected end of file",
        ];
        let ours: std::vec::Vec<&str> = Error::ALL.iter().map(|e| e.as_str()).collect();
        assert_eq!(ours, jos);
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
