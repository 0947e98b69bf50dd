//! The kernel-only links between env slots (not in JOS, which has neither): the parent/child
//! tree that lets a parent's death reclaim the children nobody can ever run again, and the
//! queues of senders blocked in `sys_ipc_send` on each receiver. Kept beside `envs[]` (user
//! space never sees them) and factored out of the kernel so that the order in which a death
//! reclaims envs and fails their sends is host-tested (`reap`).

use jos_inc::env::NENV;

use crate::envid::EnvIdx;

/// A link to an env slot, or to none, in 16 bits (the kernel keeps eight per env).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Link(u16);

const _: () = assert!(NENV < u16::MAX as usize);

impl Link {
    pub const NONE: Link = Link(u16::MAX);

    #[inline]
    pub const fn to(i: EnvIdx) -> Link {
        Link(i.index() as u16)
    }

    /// The slot it names.
    #[inline]
    pub const fn get(self) -> Option<EnvIdx> {
        EnvIdx::new(self.0 as usize)
    }
}

impl From<Option<EnvIdx>> for Link {
    #[inline]
    fn from(i: Option<EnvIdx>) -> Link {
        match i {
            Some(i) => Link::to(i),
            None => Link::NONE,
        }
    }
}

/// One env's links.
#[derive(Clone, Copy, Debug)]
struct Node {
    parent: Link,
    first_child: Link,
    next_sibling: Link,
    prev_sibling: Link,
    /// While blocked in sys_ipc_send: the receiver, and the next sender queued on it.
    send_to: Link,
    send_next: Link,
    /// Senders blocked on this env, first come first served.
    senders: Link,
    senders_tail: Link,
}

impl Node {
    const EMPTY: Node = Node {
        parent: Link::NONE,
        first_child: Link::NONE,
        next_sibling: Link::NONE,
        prev_sibling: Link::NONE,
        send_to: Link::NONE,
        send_next: Link::NONE,
        senders: Link::NONE,
        senders_tail: Link::NONE,
    };
}

/// Every slot's links.
pub struct Links {
    nodes: [Node; NENV],
}

impl Default for Links {
    fn default() -> Self {
        Self::new()
    }
}

impl Links {
    pub const fn new() -> Links {
        Links {
            nodes: [Node::EMPTY; NENV],
        }
    }

    #[inline]
    fn n(&mut self, i: EnvIdx) -> &mut Node {
        &mut self.nodes[i.index()]
    }

    /// Forget every link of slot `i` (it is free; nothing links to it any more).
    pub fn clear(&mut self, i: EnvIdx) {
        *self.n(i) = Node::EMPTY;
    }

    pub fn parent(&self, i: EnvIdx) -> Option<EnvIdx> {
        self.nodes[i.index()].parent.get()
    }

    pub fn first_child(&self, i: EnvIdx) -> Option<EnvIdx> {
        self.nodes[i.index()].first_child.get()
    }

    /// The receiver `i` is blocked sending to, if any.
    pub fn send_to(&self, i: EnvIdx) -> Option<EnvIdx> {
        self.nodes[i.index()].send_to.get()
    }

    /// Whether senders are queued on `r`.
    #[inline]
    pub fn has_senders(&self, r: EnvIdx) -> bool {
        self.nodes[r.index()].senders != Link::NONE
    }

    /// Add `child` to `parent`'s children.
    pub fn adopt(&mut self, parent: EnvIdx, child: EnvIdx) {
        let head = self.n(parent).first_child;
        let c = self.n(child);
        c.parent = Link::to(parent);
        c.next_sibling = head;
        c.prev_sibling = Link::NONE;
        if let Some(h) = head.get() {
            self.n(h).prev_sibling = Link::to(child);
        }
        self.n(parent).first_child = Link::to(child);
    }

    /// Remove `i` from its parent's children, if it has a parent.
    pub fn disown(&mut self, i: EnvIdx) {
        let Node {
            parent,
            next_sibling,
            prev_sibling,
            ..
        } = *self.n(i);
        let Some(p) = parent.get() else { return };
        match prev_sibling.get() {
            Some(prev) => self.n(prev).next_sibling = next_sibling,
            None => self.n(p).first_child = next_sibling,
        }
        if let Some(next) = next_sibling.get() {
            self.n(next).prev_sibling = prev_sibling;
        }
        let n = self.n(i);
        n.parent = Link::NONE;
        n.next_sibling = Link::NONE;
        n.prev_sibling = Link::NONE;
    }

    /// Queue sender `s` (blocking) on receiver `r`.
    pub fn queue_sender(&mut self, r: EnvIdx, s: EnvIdx) {
        let n = self.n(s);
        n.send_to = Link::to(r);
        n.send_next = Link::NONE;
        match self.n(r).senders_tail.get() {
            Some(tail) => self.n(tail).send_next = Link::to(s),
            None => self.n(r).senders = Link::to(s),
        }
        self.n(r).senders_tail = Link::to(s);
    }

    /// The first sender queued on `r`, removed from the queue.
    pub fn pop_sender(&mut self, r: EnvIdx) -> Option<EnvIdx> {
        let s = self.n(r).senders.get()?;
        let next = self.n(s).send_next;
        let rn = self.n(r);
        rn.senders = next;
        if next == Link::NONE {
            rn.senders_tail = Link::NONE;
        }
        let n = self.n(s);
        n.send_to = Link::NONE;
        n.send_next = Link::NONE;
        Some(s)
    }

    /// Take `s` out of the queue of the receiver it is blocked on, if any. A walk of that
    /// queue: only freeing a blocked sender needs it.
    pub fn unqueue_sender(&mut self, s: EnvIdx) {
        let Some(r) = self.n(s).send_to.get() else {
            return;
        };
        let mut prev: Option<EnvIdx> = None;
        let mut cur = self.n(r).senders.get();
        while let Some(c) = cur {
            if c == s {
                let next = self.n(s).send_next;
                match prev {
                    Some(p) => self.n(p).send_next = next,
                    None => self.n(r).senders = next,
                }
                if self.n(r).senders_tail == Link::to(s) {
                    self.n(r).senders_tail = prev.into();
                }
                break;
            }
            prev = cur;
            cur = self.n(c).send_next.get();
        }
        let n = self.n(s);
        n.send_to = Link::NONE;
        n.send_next = Link::NONE;
    }
}

/// What reaping needs from the env table besides the links.
pub trait Reap {
    fn links(&mut self) -> &mut Links;
    /// Apply the lifecycle's `ParentGone` to `c`: true if that frees it (it was suspended
    /// and off every CPU, so nobody could ever resume it).
    fn parent_gone(&mut self, c: EnvIdx) -> bool;
    /// The blocked sender `s`'s receiver is gone: its `sys_ipc_send` returns -E_BAD_ENV.
    fn fail_send(&mut self, s: EnvIdx);
    /// Release env `x`'s memory and slot (its links are already cleared).
    fn release(&mut self, x: EnvIdx);
}

/// Free `root` (the lifecycle already made it `Free`) and, transitively, the children its
/// death leaves unable to ever run.
///
/// The order matters: an env the lifecycle has made `Free` is taken out of the sender queue
/// it sits in at that very moment, before anything else is freed. Otherwise a reaped child
/// blocked sending to a sibling that is reaped after it (or before it) would still be in
/// that sibling's queue when the sibling fails its senders, and `fail_send` would be applied
/// to a free env (the kernel panic of a parent exiting with a suspended receiver and a
/// suspended sender blocked on it). So: every env given to `fail_send` is live, and every
/// env given to `release` is out of every queue and every child list.
pub fn reap<R: Reap>(t: &mut R, root: EnvIdx) {
    let l = t.links();
    l.disown(root);
    l.unqueue_sender(root);
    // The envs to free, linked through next_sibling (each is out of every child list).
    let mut work = Some(root);
    while let Some(x) = work {
        let l = t.links();
        work = l.nodes[x.index()].next_sibling.get();
        // The senders waiting for it get -E_BAD_ENV, as a send to a freed env does.
        while let Some(s) = t.links().pop_sender(x) {
            t.fail_send(s);
        }
        // Its children lose their parent; the ones only it could have resumed go too.
        while let Some(c) = t.links().first_child(x) {
            t.links().disown(c);
            if t.parent_gone(c) {
                let l = t.links();
                l.unqueue_sender(c);
                l.n(c).next_sibling = work.into();
                work = Some(c);
            }
        }
        t.links().clear(x);
        t.release(x);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::cpuid::CpuId;
    use crate::lifecycle::{EnvState, Event, Life, step};
    use std::vec::Vec;

    fn e(i: usize) -> EnvIdx {
        EnvIdx::new(i).unwrap()
    }

    /// A model env table: lifecycle states, links, and a record of what reaping did.
    struct Model {
        links: Links,
        state: Vec<EnvState>,
        failed: Vec<EnvIdx>,
        released: Vec<EnvIdx>,
    }

    impl Reap for Model {
        fn links(&mut self) -> &mut Links {
            &mut self.links
        }
        fn parent_gone(&mut self, c: EnvIdx) -> bool {
            let s = step(self.state[c.index()], Event::ParentGone).expect("ParentGone refused");
            self.state[c.index()] = s;
            s.life() == Life::Free
        }
        fn fail_send(&mut self, s: EnvIdx) {
            // What the kernel's `must` does: a refusal here is the kernel panic.
            let n = step(self.state[s.index()], Event::SendDone)
                .unwrap_or_else(|r| panic!("SendDone refused ({r:?}) for env {s}"));
            self.state[s.index()] = n;
            self.failed.push(s);
        }
        fn release(&mut self, x: EnvIdx) {
            assert_eq!(
                self.state[x.index()].life(),
                Life::Free,
                "released a live env"
            );
            self.released.push(x);
        }
    }

    impl Model {
        fn new(n: usize) -> Model {
            Model {
                links: Links::new(),
                state: std::vec![EnvState::FREE; n],
                failed: Vec::new(),
                released: Vec::new(),
            }
        }
        fn ev(&mut self, i: usize, ev: Event) {
            self.state[i] = step(self.state[i], ev).unwrap();
        }
        /// A child of `p`, suspended, never run (exofork's child).
        fn child(&mut self, p: Option<usize>, i: usize) {
            self.ev(
                i,
                Event::Alloc {
                    suspended: true,
                    orphan: p.is_none(),
                },
            );
            if let Some(p) = p {
                self.links.adopt(e(p), e(i));
            }
        }
        /// Env `i` runs, blocks sending to `r`, and is suspended by its parent.
        fn blocked_sender(&mut self, i: usize, r: usize, suspend: bool) {
            self.ev(i, Event::SetStatus { runnable: true });
            self.ev(i, Event::Dispatch { cpu: CpuId::FIRST });
            self.ev(i, Event::SendWait);
            self.links.queue_sender(e(r), e(i));
            self.ev(i, Event::Deschedule);
            if suspend {
                self.ev(i, Event::SetStatus { runnable: false });
            }
        }
        fn destroy(&mut self, i: usize) {
            self.ev(i, Event::Destroy { by: CpuId::FIRST });
            assert_eq!(self.state[i].life(), Life::Free);
            reap(self, e(i));
        }
        /// No freed env is linked from anywhere.
        fn check_clean(&self) {
            for (i, n) in self.links.nodes.iter().enumerate().take(self.state.len()) {
                for l in [
                    n.parent,
                    n.first_child,
                    n.next_sibling,
                    n.prev_sibling,
                    n.send_to,
                    n.send_next,
                    n.senders,
                    n.senders_tail,
                ] {
                    if let Some(t) = l.get() {
                        assert_ne!(
                            self.state[t.index()].life(),
                            Life::Free,
                            "{i} links to free {t}"
                        );
                    }
                }
                if self.state[i].life() == Life::Free {
                    assert_eq!(n.parent, Link::NONE);
                    assert_eq!(n.senders, Link::NONE);
                }
            }
        }
    }

    /// The reported panic: a parent exits with a suspended, never-run receiver and a younger
    /// suspended child blocked sending to it. Both orders of the children in the list.
    #[test]
    fn reaped_sender_in_a_reaped_siblings_queue() {
        for younger_sends in [true, false] {
            let mut m = Model::new(4);
            m.child(None, 0);
            m.ev(0, Event::SetStatus { runnable: true });
            m.child(Some(0), 1);
            m.child(Some(0), 2);
            let (r, s) = if younger_sends { (1, 2) } else { (2, 1) };
            m.blocked_sender(s, r, true);
            m.destroy(0);
            assert!(m.failed.is_empty(), "no live sender was failed");
            assert_eq!(m.released.len(), 3);
            m.check_clean();
        }
    }

    /// A live (runnable) sender blocked on a reaped receiver gets its send failed, once.
    #[test]
    fn live_sender_of_a_reaped_receiver_fails() {
        let mut m = Model::new(4);
        m.child(None, 0);
        m.ev(0, Event::SetStatus { runnable: true });
        m.child(Some(0), 1); // receiver, suspended, reaped
        m.child(None, 2); // an unrelated sender, not suspended
        m.blocked_sender(2, 1, false);
        m.destroy(0);
        assert_eq!(m.failed, std::vec![e(2)]);
        assert!(!m.state[2].sending());
        m.check_clean();
    }

    /// Random forests of suspended children with sender queues among them (and live senders
    /// from outside), reaped from random roots: never a refused event, never a freed env left
    /// linked, every env freed exactly once.
    #[test]
    fn random_reaping() {
        let mut rnd = crate::testrng::below(0x2545_f491_u32);
        for _ in 0..2000 {
            let n = 2 + rnd(14);
            let mut m = Model::new(n);
            m.child(None, 0);
            m.ev(0, Event::SetStatus { runnable: true });
            for i in 1..n {
                // Parent: any earlier env, or none.
                let p = if rnd(5) == 0 { None } else { Some(rnd(i)) };
                m.child(p, i);
                if rnd(3) != 0 {
                    m.ev(i, Event::SetStatus { runnable: true });
                }
            }
            // Some envs block sending to another, and some of those get suspended.
            for i in 1..n {
                if m.state[i].runnable() && rnd(2) == 0 {
                    let r = rnd(n);
                    if r != i && m.state[r].life() == Life::Live {
                        m.blocked_sender(i, r, rnd(2) == 0);
                    }
                }
            }
            let root = rnd(n);
            if m.state[root].life() != Life::Live {
                continue;
            }
            m.destroy(root);
            let mut released = m.released.clone();
            released.sort();
            released.dedup();
            assert_eq!(released.len(), m.released.len(), "an env freed twice");
            for (i, s) in m.state.iter().enumerate() {
                let freed = m.released.contains(&e(i));
                assert_eq!(s.life() == Life::Free, freed, "env {i}: free iff released");
            }
            m.check_clean();
        }
    }
}
