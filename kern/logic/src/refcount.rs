//! Physical page reference counts (JOS's `pp_ref`), checked.
//!
//! `pp_ref` is 16 bits because user space reads the `pages` array at UPAGES with JOS's layout.
//! JOS increments it unchecked, so one page mapped 65,537 times wrapped to 1 and the next unmap
//! freed a page that was still mapped 65,536 times (the user then got it back as a page table
//! it could write). Here a count never wraps: taking a reference of a saturated page is
//! refused, and the kernel turns that into -E_NO_MEM (the kernel cannot record another
//! reference: a resource limit, like running out of pages for a page table).

use crate::addr::PageNum;

/// The most references one page can have.
pub const MAX_REFS: u16 = u16::MAX;

/// Taking a reference would overflow the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saturated;

/// The count after taking one more reference.
pub fn incref(count: u16) -> Result<u16, Saturated> {
    count.checked_add(1).ok_or(Saturated)
}

/// The count after dropping a reference, and whether the page is now unreferenced (to be
/// freed). `None` if there was no reference to drop: a kernel bug the caller reports.
pub fn decref(count: u16) -> Option<(u16, bool)> {
    let n = count.checked_sub(1)?;
    Some((n, n == 0))
}

/// What mapping page `new` at an address currently mapping `old` does to the counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Remap {
    /// The same page again (a permission change): no count changes, so it works even when
    /// the page's count is saturated.
    Same,
    /// Take a reference on the new page first (it may be refused), then drop the old page's
    /// reference if there was one.
    Replace { old: Option<PageNum> },
}

pub fn remap(old: Option<PageNum>, new: PageNum) -> Remap {
    match old {
        Some(o) if o == new => Remap::Same,
        _ => Remap::Replace { old },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_wraps() {
        assert_eq!(incref(0), Ok(1));
        assert_eq!(incref(MAX_REFS - 1), Ok(MAX_REFS));
        assert_eq!(incref(MAX_REFS), Err(Saturated));
        assert_eq!(decref(1), Some((0, true)));
        assert_eq!(decref(MAX_REFS), Some((MAX_REFS - 1, false)));
        assert_eq!(decref(0), None);
    }

    #[test]
    fn the_jos_attack_is_refused() {
        // Map one page 65,537 times: the 65,536th reference is refused, so one unmap can
        // never free a page still mapped elsewhere.
        let mut c = 0u16;
        let mut mapped = 0u32;
        for _ in 0..65_537 {
            match incref(c) {
                Ok(n) => {
                    c = n;
                    mapped += 1;
                }
                Err(Saturated) => break,
            }
        }
        assert_eq!((c, mapped), (MAX_REFS, 65_535));
        let (c, freed) = decref(c).unwrap();
        assert!(!freed && c == MAX_REFS - 1);
    }

    #[test]
    fn remapping_the_same_page_changes_no_count() {
        let p = |n| PageNum::new(n, 16).unwrap();
        assert_eq!(remap(Some(p(7)), p(7)), Remap::Same);
        assert_eq!(remap(Some(p(7)), p(8)), Remap::Replace { old: Some(p(7)) });
        assert_eq!(remap(None, p(8)), Remap::Replace { old: None });
    }
}
