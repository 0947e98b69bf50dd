//! The physical page free list over JOS's `struct PageInfo` array (kern/pmap.c's
//! `page_free_list`). Links are kernel virtual addresses of the next record, as JOS stores them
//! (user space can read the array at UPAGES), so the list needs the array's base address.

use jos_inc::memlayout::PageInfo;

use crate::addr::PageNum;

/// Size of one `PageInfo` record.
const REC: u32 = core::mem::size_of::<PageInfo>() as u32;

/// A LIFO free list threaded through `pp_link`. Pages go on and come off as [`PageNum`]s;
/// every method takes the `pages` array (whose length is the number of physical pages), so
/// a page number it hands out is one of that array's.
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

    /// The head page.
    #[inline]
    pub fn head(&self, pages: &[PageInfo]) -> Option<PageNum> {
        self.page_of(pages, self.head)
    }

    /// Whether page `pp` is the head of the list (page_free's cheap double-free check).
    #[inline(always)]
    pub fn is_head(&self, pp: PageNum) -> bool {
        self.head == self.link(pp)
    }

    /// The link to page `pp`'s record: the record exists (a `PageNum` is below the number
    /// of pages), so its address cannot overflow: wrapping arithmetic, no overflow check on
    /// the free path.
    #[inline(always)]
    fn link(&self, pp: PageNum) -> u32 {
        self.base
            .wrapping_add((pp.index() as u32).wrapping_mul(REC))
    }

    fn link_of(&self, pp: Option<PageNum>) -> u32 {
        pp.map_or(0, |p| self.link(p))
    }

    /// The page whose record `link` points at (None for 0, the end of the list). A link
    /// past the array (a corrupt list) panics.
    #[inline(always)]
    fn page_of(&self, pages: &[PageInfo], link: u32) -> Option<PageNum> {
        if link == 0 {
            return None;
        }
        let i = (link.wrapping_sub(self.base) / REC) as usize;
        Some(PageNum::new(i, pages.len()).expect("free list links past the pages array"))
    }

    /// Push page `pp` on the head of the list.
    #[inline(always)]
    pub fn push(&mut self, pages: &mut [PageInfo], pp: PageNum) {
        // LAB 2: BEGIN freelist-push
        // HINT: Record pp's link to the old head in pages[pp.index()].pp_link; pp becomes the
        // HINT: head (self.link(pp)); one more page on the list.
        pages[pp.index()].pp_link = self.head;
        self.head = self.link(pp);
        // At most one entry per record (pushing a page that is on the list is a double free,
        // which page_free refuses), so `len` <= pages.len() and cannot overflow.
        self.len = self.len.wrapping_add(1);
        // LAB 2: END freelist-push
    }

    /// Push the pages of `range` (page numbers, checked against the array by slicing it) in
    /// descending order, so they come off the list ascending, in front of what was there
    /// (page_init's bulk of 32,768 pages: a plain loop, not a push per page).
    pub fn push_range_desc(&mut self, pages: &mut [PageInfo], range: core::ops::Range<usize>) {
        // LAB 2: BEGIN freelist-push-range
        // HINT: The same list as pushing each page of `range` from the top down (its host test
        // HINT: compares with exactly that); a loop of `push` is a fine first version.
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
            // (In the array: the slice above checked it.)
            self.head = self.base + range.start as u32 * REC;
            self.len += range.len();
        }
        // LAB 2: END freelist-push-range
    }

    /// Pop the head page; its `pp_link` is cleared (JOS's page_alloc does so, and page_free
    /// uses a non-zero link to catch double frees).
    #[inline]
    pub fn pop(&mut self, pages: &mut [PageInfo]) -> Option<PageNum> {
        // LAB 2: BEGIN freelist-pop
        // HINT: None if empty; else the head page (self.page_of(pages, self.head)), its pp_link
        // HINT: the new head, its own pp_link cleared (page_free's double-free check relies on it).
        let pp = self.page_of(pages, self.head)?;
        let rec = &mut pages[pp.index()];
        self.head = rec.pp_link;
        rec.pp_link = 0;
        self.len -= 1;
        Some(pp)
        // LAB 2: END freelist-pop
    }

    /// The page after `pp` on the list.
    #[inline]
    pub fn next(&self, pages: &[PageInfo], pp: PageNum) -> Option<PageNum> {
        self.page_of(pages, pages[pp.index()].pp_link)
    }

    /// Call `f` on each page of the list from the head: the same order as [`Self::iter`], as a
    /// plain loop (the boot-time checks walk 32,768 pages twice). Stops early, returning
    /// false, when `f` does. A corrupt link panics (an index out of bounds) before `f` sees
    /// it.
    #[inline]
    pub fn walk(&self, pages: &[PageInfo], mut f: impl FnMut(PageNum) -> bool) -> bool {
        let mut link = self.head;
        while link != 0 {
            let i = (link.wrapping_sub(self.base) / REC) as usize;
            // The next link first: the index is bounds-checked before `f` sees it (and the
            // page number's own check is that same test, which the compiler drops).
            link = pages[i].pp_link;
            let Some(pp) = PageNum::new(i, pages.len()) else {
                unreachable!("indexed above")
            };
            if !f(pp) {
                return false;
            }
        }
        true
    }

    /// Iterate the list from the head.
    #[inline]
    pub fn iter<'a>(&'a self, pages: &'a [PageInfo]) -> impl Iterator<Item = PageNum> + 'a {
        let mut cur = self.head(pages);
        core::iter::from_fn(move || {
            let i = cur?;
            cur = self.next(pages, i);
            Some(i)
        })
    }

    /// Reorder so that the pages `low(idx)` says are low come first, keeping the relative order
    /// within each group (check_page_free_list: until the kernel's own page directory is
    /// loaded, only the first 4 MiB are mapped).
    pub fn low_first(&mut self, pages: &mut [PageInfo], low: impl Fn(PageNum) -> bool) {
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
        let mut lows: Option<(PageNum, PageNum)> = None; // (first, last)
        let mut highs: Option<(PageNum, PageNum)> = None;
        let mut cur = self.head(pages);
        while let Some(i) = cur {
            cur = self.next(pages, i);
            let group = if low(i) { &mut lows } else { &mut highs };
            match group {
                None => *group = Some((i, i)),
                Some((_, last)) => {
                    pages[last.index()].pp_link = self.link(i);
                    *last = i;
                }
            }
        }
        if let Some((_, last)) = highs {
            pages[last.index()].pp_link = 0;
        }
        match lows {
            Some((first, last)) => {
                pages[last.index()].pp_link = self.link_of(highs.map(|h| h.0));
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

    /// Page `i` of the tests' arrays (at most 16 pages).
    fn p(i: usize) -> PageNum {
        PageNum::new(i, 16).unwrap()
    }

    /// The list's pages from the head, as numbers.
    fn order(fl: &FreeList, pages: &[PageInfo]) -> Vec<usize> {
        fl.iter(pages).map(PageNum::index).collect()
    }

    #[test]
    fn lab2_lifo_with_kva_links() {
        let mut pages = vec![PageInfo::default(); 8];
        let mut fl = FreeList::new(BASE);
        for i in [1, 2, 5] {
            fl.push(&mut pages, p(i));
        }
        assert_eq!(fl.len(), 3);
        assert_eq!(pages[5].pp_link, BASE + 2 * 8);
        assert_eq!(pages[1].pp_link, 0);
        assert_eq!(order(&fl, &pages), [5, 2, 1]);
        assert_eq!(fl.pop(&mut pages), Some(p(5)));
        assert_eq!(pages[5].pp_link, 0);
        assert_eq!(fl.pop(&mut pages), Some(p(2)));
        assert_eq!(fl.pop(&mut pages), Some(p(1)));
        assert_eq!(fl.pop(&mut pages), None);
        assert!(fl.is_empty());
        assert_eq!(fl.len(), 0);
    }

    #[test]
    fn lab2_is_head_names_only_the_head() {
        let mut pages = vec![PageInfo::default(); 8];
        let mut fl = FreeList::new(BASE);
        assert!(!fl.is_head(p(0)), "an empty list has no head");
        fl.push(&mut pages, p(0));
        fl.push(&mut pages, p(6));
        assert!(fl.is_head(p(6)));
        assert!(!fl.is_head(p(0)) && !fl.is_head(p(5)));
        assert_eq!(fl.pop(&mut pages), Some(p(6)));
        assert!(fl.is_head(p(0)));
        assert_eq!(fl.pop(&mut pages), Some(p(0)));
        assert!(!fl.is_head(p(0)));
    }

    #[test]
    fn lab2_walk_is_iter() {
        let mut pages = vec![PageInfo::default(); 16];
        let mut fl = FreeList::new(BASE);
        for i in [3, 9, 1, 15, 0] {
            fl.push(&mut pages, p(i));
        }
        let mut seen = Vec::new();
        assert!(fl.walk(&pages, |pp| {
            seen.push(pp.index());
            true
        }));
        assert_eq!(seen, order(&fl, &pages));
        assert_eq!(seen, [0, 15, 1, 9, 3]);
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
                fb.push(&mut b, p(i));
            }
        }
        assert_eq!(a, b);
        assert_eq!((fa.head(&a), fa.len()), (fb.head(&b), fb.len()));
        assert_eq!(order(&fa, &a), [1, 2, 3, 4, 9, 10, 11, 12, 13, 14, 15]);
    }

    #[test]
    fn lab2_low_first_on_a_list_already_in_order() {
        let mut pages = vec![PageInfo::default(); 16];
        let mut fl = FreeList::new(BASE);
        for i in (0..16).rev() {
            fl.push(&mut pages, p(i));
        }
        let before = order(&fl, &pages);
        fl.low_first(&mut pages, |pp| pp.index() < 4);
        assert_eq!(order(&fl, &pages), before);
        assert_eq!(before[..4], [0, 1, 2, 3]);
    }

    #[test]
    fn lab2_low_first_keeps_order_and_all_pages() {
        let mut pages = vec![PageInfo::default(); 16];
        let mut fl = FreeList::new(BASE);
        for i in 0..16 {
            fl.push(&mut pages, p(i));
        }
        fl.low_first(&mut pages, |pp| pp.index() < 4);
        let low_first = order(&fl, &pages);
        assert_eq!(
            low_first,
            [3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4]
        );
        // No low pages at all, and only low pages.
        fl.low_first(&mut pages, |_| false);
        assert_eq!(fl.iter(&pages).count(), 16);
        fl.low_first(&mut pages, |_| true);
        assert_eq!(order(&fl, &pages), low_first);
    }

    #[test]
    #[should_panic(expected = "past the pages array")]
    fn lab2_a_link_past_the_array_is_refused() {
        let mut pages = vec![PageInfo::default(); 4];
        let mut fl = FreeList::new(BASE);
        fl.push(&mut pages, PageNum::new(3, 4).unwrap());
        // Page 3's record links to where a fifth record would be.
        pages[3].pp_link = BASE + 4 * 8;
        fl.pop(&mut pages);
        fl.pop(&mut pages);
    }
}
