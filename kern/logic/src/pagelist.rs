//! The physical page free list over JOS's `struct PageInfo` array (kern/pmap.c's
//! `page_free_list`). Links are kernel virtual addresses of the next record, as JOS stores them
//! (user space can read the array at UPAGES), so the list needs the array's base address.

use jos_inc::memlayout::PageInfo;

/// Size of one `PageInfo` record.
const REC: u32 = core::mem::size_of::<PageInfo>() as u32;

/// A LIFO free list threaded through `pp_link`.
#[derive(Clone, Copy, Debug)]
pub struct FreeList {
    /// Kernel virtual address of `pages[0]`: never 0 once the array exists (it is in the
    /// kernel's half), so no record's link is 0, the end of the list. (0 only in the
    /// placeholder list of no pages before mem_init.)
    base: u32,
    /// The link to the head record, as JOS's `page_free_list` (0: empty). Kept as the link,
    /// not an index, so a push stores it as is (the free path is on every unmap).
    head: u32,
    len: usize,
}

impl FreeList {
    pub const fn new(base: u32) -> FreeList {
        FreeList {
            base,
            head: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.head == 0
    }

    pub fn head(&self) -> Option<usize> {
        self.index_of(self.head)
    }

    /// Whether page `idx` is the head of the list (page_free's cheap double-free check).
    #[inline(always)]
    pub fn is_head(&self, idx: usize) -> bool {
        self.head == self.link(idx)
    }

    /// The link to record `idx`. Callers have indexed `pages[idx]` already, so the record
    /// exists and its address cannot overflow: wrapping arithmetic, no overflow check on the
    /// free path.
    #[inline(always)]
    fn link(&self, i: usize) -> u32 {
        self.base.wrapping_add((i as u32).wrapping_mul(REC))
    }

    fn link_of(&self, idx: Option<usize>) -> u32 {
        idx.map_or(0, |i| self.link(i))
    }

    fn index_of(&self, link: u32) -> Option<usize> {
        if link == 0 {
            None
        } else {
            Some(((link - self.base) / REC) as usize)
        }
    }

    /// Push page `idx` on the head of the list.
    #[inline(always)]
    pub fn push(&mut self, pages: &mut [PageInfo], idx: usize) {
        // LAB 2: BEGIN freelist-push
        // HINT: Record idx's link to the old head in pages[idx].pp_link; idx becomes the head
        // HINT: (self.link(idx)); one more page on the list.
        pages[idx].pp_link = self.head;
        self.head = self.link(idx);
        // At most one entry per record (pushing a page that is on the list is a double free,
        // which page_free refuses), so `len` <= pages.len() and cannot overflow.
        self.len = self.len.wrapping_add(1);
        // LAB 2: END freelist-push
    }

    /// Push the pages of `range` in descending order, so they come off the list ascending, in
    /// front of what was there (page_init's bulk of 32,768 pages: a plain loop, not a push
    /// per page).
    pub fn push_range_desc(&mut self, pages: &mut [PageInfo], range: core::ops::Range<usize>) {
        // Each record links to the next one up; the top one to the old head.
        let slice = &mut pages[range.clone()];
        if let Some((top, rest)) = slice.split_last_mut() {
            top.pp_link = self.head;
            let mut next = self.base + (range.start as u32 + 1) * REC;
            for p in rest {
                p.pp_link = next;
                // Cannot overflow: `next` stays inside the pages array's addresses.
                next = next.wrapping_add(REC);
            }
        }
        if !range.is_empty() {
            self.head = self.link(range.start);
            self.len += range.len();
        }
    }

    /// Pop the head page; its `pp_link` is cleared (JOS's page_alloc does so, and page_free
    /// uses a non-zero link to catch double frees).
    pub fn pop(&mut self, pages: &mut [PageInfo]) -> Option<usize> {
        // LAB 2: BEGIN freelist-pop
        // HINT: None if empty; else the head's index (index_of), its pp_link the new head, its
        // HINT: own pp_link cleared (page_free's double-free check relies on it).
        let idx = self.index_of(self.head)?;
        self.head = pages[idx].pp_link;
        pages[idx].pp_link = 0;
        self.len -= 1;
        Some(idx)
        // LAB 2: END freelist-pop
    }

    /// The page after `idx` on the list.
    pub fn next(&self, pages: &[PageInfo], idx: usize) -> Option<usize> {
        self.index_of(pages[idx].pp_link)
    }

    /// Call `f` on each page of the list from the head: the same order as [`Self::iter`], as a
    /// plain loop (the boot-time checks walk 32,768 pages twice). Stops early, returning
    /// false, when `f` does. Every index `f` gets is `< pages.len()` (a corrupt link panics
    /// first, as an index out of bounds).
    #[inline]
    pub fn walk(&self, pages: &[PageInfo], mut f: impl FnMut(usize) -> bool) -> bool {
        let mut link = self.head;
        while link != 0 {
            let i = (link.wrapping_sub(self.base) / REC) as usize;
            // The next link first: the index is bounds-checked before `f` sees it, so `f`
            // may rely on `i < pages.len()`.
            link = pages[i].pp_link;
            if !f(i) {
                return false;
            }
        }
        true
    }

    /// Iterate the list from the head.
    pub fn iter<'a>(&'a self, pages: &'a [PageInfo]) -> impl Iterator<Item = usize> + 'a {
        let mut cur = self.head();
        core::iter::from_fn(move || {
            let i = cur?;
            cur = self.next(pages, i);
            Some(i)
        })
    }

    /// Reorder so that the pages `low(idx)` says are low come first, keeping the relative order
    /// within each group (check_page_free_list: until the kernel's own page directory is
    /// loaded, only the first 4 MiB are mapped).
    pub fn low_first(&mut self, pages: &mut [PageInfo], low: impl Fn(usize) -> bool) {
        // Already in that order (page_init builds it so)? Then one read-only walk is all.
        let mut high = false;
        let partitioned = self.iter(pages).all(|i| {
            if low(i) {
                !high
            } else {
                high = true;
                true
            }
        });
        if partitioned {
            return;
        }
        let mut lows: Option<(usize, usize)> = None; // (first, last)
        let mut highs: Option<(usize, usize)> = None;
        let mut cur = self.head();
        while let Some(i) = cur {
            cur = self.next(pages, i);
            let group = if low(i) { &mut lows } else { &mut highs };
            match group {
                None => *group = Some((i, i)),
                Some((_, last)) => {
                    pages[*last].pp_link = self.link_of(Some(i));
                    *last = i;
                }
            }
        }
        if let Some((_, last)) = highs {
            pages[last].pp_link = 0;
        }
        match lows {
            Some((first, last)) => {
                pages[last].pp_link = self.link_of(highs.map(|h| h.0));
                self.head = self.link(first);
            }
            None => self.head = self.link_of(highs.map(|h| h.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    const BASE: u32 = 0xF011_8000;

    #[test]
    fn lab2_lifo_with_kva_links() {
        let mut pages = vec![PageInfo::default(); 8];
        let mut fl = FreeList::new(BASE);
        for i in [1, 2, 5] {
            fl.push(&mut pages, i);
        }
        assert_eq!(fl.len(), 3);
        assert_eq!(pages[5].pp_link, BASE + 2 * 8);
        assert_eq!(pages[1].pp_link, 0);
        assert_eq!(fl.iter(&pages).collect::<Vec<_>>(), [5, 2, 1]);
        assert_eq!(fl.pop(&mut pages), Some(5));
        assert_eq!(pages[5].pp_link, 0);
        assert_eq!(fl.pop(&mut pages), Some(2));
        assert_eq!(fl.pop(&mut pages), Some(1));
        assert_eq!(fl.pop(&mut pages), None);
        assert!(fl.is_empty());
        assert_eq!(fl.len(), 0);
    }

    #[test]
    fn lab2_is_head_names_only_the_head() {
        let mut pages = vec![PageInfo::default(); 8];
        let mut fl = FreeList::new(BASE);
        assert!(!fl.is_head(0), "an empty list has no head");
        fl.push(&mut pages, 0);
        fl.push(&mut pages, 6);
        assert!(fl.is_head(6));
        assert!(!fl.is_head(0) && !fl.is_head(5));
        assert_eq!(fl.pop(&mut pages), Some(6));
        assert!(fl.is_head(0));
        assert_eq!(fl.pop(&mut pages), Some(0));
        assert!(!fl.is_head(0));
    }

    #[test]
    fn lab2_walk_is_iter() {
        let mut pages = vec![PageInfo::default(); 16];
        let mut fl = FreeList::new(BASE);
        for i in [3, 9, 1, 15, 0] {
            fl.push(&mut pages, i);
        }
        let mut seen = Vec::new();
        assert!(fl.walk(&pages, |i| {
            seen.push(i);
            true
        }));
        assert_eq!(seen, fl.iter(&pages).collect::<Vec<_>>());
        let mut n = 0;
        assert!(!fl.walk(&pages, |_| {
            n += 1;
            n < 2
        }));
        assert_eq!(n, 2);
    }

    #[test]
    fn lab2_push_range_is_pushing_each_page() {
        let mut a = vec![PageInfo::default(); 16];
        let mut b = vec![PageInfo::default(); 16];
        let (mut fa, mut fb) = (FreeList::new(BASE), FreeList::new(BASE));
        for (lo, hi) in [(9, 16), (3, 3), (1, 5)] {
            fa.push_range_desc(&mut a, lo..hi);
            for i in (lo..hi).rev() {
                fb.push(&mut b, i);
            }
        }
        assert_eq!(a, b);
        assert_eq!((fa.head(), fa.len()), (fb.head(), fb.len()));
        assert_eq!(
            fa.iter(&a).collect::<Vec<_>>(),
            [1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15]
        );
    }

    #[test]
    fn lab2_low_first_on_a_list_already_in_order() {
        let mut pages = vec![PageInfo::default(); 16];
        let mut fl = FreeList::new(BASE);
        for i in (0..16).rev() {
            fl.push(&mut pages, i);
        }
        let before: Vec<_> = fl.iter(&pages).collect();
        fl.low_first(&mut pages, |i| i < 4);
        assert_eq!(fl.iter(&pages).collect::<Vec<_>>(), before);
        assert_eq!(before[..4], [0, 1, 2, 3]);
    }

    #[test]
    fn lab2_low_first_keeps_order_and_all_pages() {
        let mut pages = vec![PageInfo::default(); 16];
        let mut fl = FreeList::new(BASE);
        for i in 0..16 {
            fl.push(&mut pages, i);
        }
        fl.low_first(&mut pages, |i| i < 4);
        let order: Vec<_> = fl.iter(&pages).collect();
        assert_eq!(
            order,
            [3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4]
        );
        // No low pages at all, and only low pages.
        fl.low_first(&mut pages, |_| false);
        assert_eq!(fl.iter(&pages).count(), 16);
        fl.low_first(&mut pages, |_| true);
        assert_eq!(fl.iter(&pages).collect::<Vec<_>>(), order);
    }
}
