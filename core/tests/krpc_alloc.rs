//! Decoding allocates nothing: a counting global allocator proves zero allocations per decode
//! of the five benchmark messages, including walking their nodes and peers and re-encoding
//! them into a stack buffer.

#![allow(unsafe_code)] // The GlobalAlloc impl below; the codec itself forbids unsafe code.

mod krpc_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tokengo_core::krpc::{Body, decode};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

struct Counting;

// SAFETY: forwards every call to the system allocator unchanged; only counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: as for `alloc` and `dealloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 100]);
    assert!(allocations() > before);
    drop(v);
}

#[test]
fn decoding_the_benchmark_messages_allocates_nothing() {
    let messages = krpc_support::benchmark_messages();
    for (name, datagram) in &messages {
        let mut buf = [0u8; 1500];
        let before = allocations();
        for _ in 0..100 {
            let message = decode(std::hint::black_box(datagram)).expect("decodes");
            let mut walked = 0usize;
            if let Body::Response(r) = &message.body {
                walked += r.nodes.map_or(0, |n| n.iter().count());
                walked += r.values.map_or(0, |v| v.iter().count());
            }
            std::hint::black_box(walked);
            let len = message.encode(&mut buf).expect("encodes");
            std::hint::black_box(&buf[..len]);
        }
        assert_eq!(allocations() - before, 0, "{name} allocated");
    }
}
