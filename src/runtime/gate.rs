//! A shard's gate: one holder at a time, handed over in arrival order.
//!
//! Release gives the gate straight to the oldest waiter instead of opening it. With an open
//! gate and a woken waiter that has not run yet, the releasing task could take the gate again
//! at once (glommio's `Semaphore` allows that), and a core whose transactions follow each other
//! without a pause would keep a shard from every other core's transactions.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Clone, Default)]
pub struct Gate(Rc<GateState>);

#[derive(Default)]
struct GateState {
    held: Cell<bool>,
    waiters: RefCell<VecDeque<Rc<Waiter>>>,
}

#[derive(Default)]
struct Waiter {
    /// Set when the gate is handed over: the waiter holds it from then on.
    granted: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

/// Holding the gate; dropping it hands the gate on (or opens it).
pub struct GatePass(Rc<GateState>);

impl Drop for GatePass {
    fn drop(&mut self) {
        self.0.hand_on();
    }
}

impl GateState {
    fn hand_on(&self) {
        let next = self.waiters.borrow_mut().pop_front();
        match next {
            Some(w) => {
                w.granted.set(true);
                if let Some(waker) = w.waker.borrow_mut().take() {
                    waker.wake();
                }
            }
            None => self.held.set(false),
        }
    }
}

impl Gate {
    /// The gate now, if nobody holds it or waits for it.
    pub fn try_enter(&self) -> Option<GatePass> {
        if self.0.held.get() {
            return None;
        }
        self.0.held.set(true);
        Some(GatePass(self.0.clone()))
    }

    /// Waits for the gate behind everyone already waiting.
    pub async fn enter(&self) -> GatePass {
        if let Some(pass) = self.try_enter() {
            return pass;
        }
        let waiter = Rc::new(Waiter::default());
        self.0.waiters.borrow_mut().push_back(waiter.clone());
        Enter {
            gate: self.0.clone(),
            waiter,
            done: false,
        }
        .await
    }
}

struct Enter {
    gate: Rc<GateState>,
    waiter: Rc<Waiter>,
    done: bool,
}

impl Future for Enter {
    type Output = GatePass;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<GatePass> {
        if self.waiter.granted.get() {
            self.done = true;
            return Poll::Ready(GatePass(self.gate.clone()));
        }
        *self.waiter.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Enter {
    /// A waiter given up: out of the queue, or, if the gate was already handed to it, on to
    /// the next.
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if self.waiter.granted.get() {
            self.gate.hand_on();
        } else {
            self.gate.waiters.borrow_mut().retain(|w| !Rc::ptr_eq(w, &self.waiter));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(f).poll(&mut cx)
    }

    #[test]
    fn released_gate_goes_to_the_oldest_waiter_not_to_a_newcomer() {
        let gate = Gate::default();
        let first = gate.try_enter().expect("open gate");
        let mut a = Box::pin(gate.enter());
        let mut b = Box::pin(gate.enter());
        assert!(poll_once(&mut a).is_pending());
        assert!(poll_once(&mut b).is_pending());
        drop(first);
        // Handed to `a`: a newcomer cannot slip in before `a` runs.
        assert!(gate.try_enter().is_none());
        let Poll::Ready(pass_a) = poll_once(&mut a) else {
            panic!("a was handed the gate")
        };
        assert!(poll_once(&mut b).is_pending());
        drop(pass_a);
        assert!(matches!(poll_once(&mut b), Poll::Ready(_)));
    }

    #[test]
    fn a_waiter_that_gives_up_passes_the_gate_on() {
        let gate = Gate::default();
        let first = gate.try_enter().expect("open gate");
        let mut a = Box::pin(gate.enter());
        let mut b = Box::pin(gate.enter());
        let mut c = Box::pin(gate.enter());
        assert!(poll_once(&mut a).is_pending());
        assert!(poll_once(&mut b).is_pending());
        assert!(poll_once(&mut c).is_pending());
        drop(b);
        drop(first);
        drop(a); // granted, never polled again: the gate moves on to `c`
        let Poll::Ready(pass_c) = poll_once(&mut c) else {
            panic!("c was handed the gate")
        };
        assert!(gate.try_enter().is_none());
        drop(pass_c);
        assert!(gate.try_enter().is_some(), "open again with nobody waiting");
    }
}
