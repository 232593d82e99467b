//! The allocator and raw memory access.
//!
//! OPA's ABI exposes the heap as a single pointer (`opa_heap_ptr_get`/`_set`): the host
//! snapshots it once the policy and its data are loaded and rewinds to it before each
//! evaluation. A bump allocator whose top is that pointer gives exactly those semantics:
//! rewinding frees everything allocated since.
//!
//! So that an evaluation does not grow memory with every temporary (a compiled regex is
//! ~200 KB), blocks up to 64 KiB come in power-of-two size classes and freed blocks go on a
//! per-class free list, reused by later allocations of the same class. Every rewind empties
//! the free lists (their blocks may be above the new top). Larger or over-aligned blocks are
//! bumped and reclaimed by the rewind (or at once when they are the most recent block).
//!
//! This module holds every `unsafe` block of the runtime that touches memory, each with its
//! `SAFETY:` argument.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;

const PAGE: usize = 65_536;

unsafe extern "C" {
    /// Provided by the linker: the first address after static data and the stack.
    static __heap_base: u8;
}

struct Bump {
    top: UnsafeCell<usize>,
}

// SAFETY: wasm32-unknown-unknown without the atomics feature is single-threaded; there is
// never concurrent access to `top`.
unsafe impl Sync for Bump {}

static BUMP: Bump = Bump {
    top: UnsafeCell::new(0),
};

/// Size classes: 16 B (2^4) to 64 KiB (2^16).
const MIN_CLASS: u32 = 4;
const MAX_CLASS: u32 = 16;
const CLASSES: usize = (MAX_CLASS - MIN_CLASS + 1) as usize;
/// Blocks are 16-aligned; requests with a larger alignment bypass the classes.
const CLASS_ALIGN: usize = 16;

struct FreeLists {
    heads: UnsafeCell<[usize; CLASSES]>,
}

// SAFETY: single-threaded, as `Bump`.
unsafe impl Sync for FreeLists {}

static FREE: FreeLists = FreeLists {
    heads: UnsafeCell::new([0; CLASSES]),
};

/// The class index of `layout`, if it is served by the free lists.
fn class_of(layout: &Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN || layout.size() > 1 << MAX_CLASS {
        return None;
    }
    let bits = layout
        .size()
        .max(1)
        .next_power_of_two()
        .trailing_zeros()
        .max(MIN_CLASS);
    Some((bits - MIN_CLASS) as usize)
}

fn class_size(class: usize) -> usize {
    1 << (class as u32 + MIN_CLASS)
}

fn clear_free_lists() {
    // SAFETY: single-threaded; plain write.
    unsafe { *FREE.heads.get() = [0; CLASSES] }
}

#[global_allocator]
static ALLOCATOR: BumpAlloc = BumpAlloc;

struct BumpAlloc;

fn align_up(addr: usize, align: usize) -> Option<usize> {
    addr.checked_add(align - 1).map(|a| a & !(align - 1))
}

/// The address where the heap starts: after the injected payload, or `__heap_base`.
fn heap_start() -> usize {
    // Taking the address of a linker-provided symbol; it is never read.
    let base = core::ptr::addr_of!(__heap_base) as usize;
    let (ptr, len) = crate::payload::location();
    let end = if len > 0 {
        ptr as usize + len as usize
    } else {
        0
    };
    align_up(base.max(end), 16).unwrap_or(base)
}

/// The current heap top (OPA's heap pointer).
pub fn top() -> usize {
    // SAFETY: single-threaded (see `Sync` above); a plain read of a `usize`.
    let t = unsafe { *BUMP.top.get() };
    if t == 0 { heap_start() } else { t }
}

/// Rewinds or advances the heap top (OPA's `opa_heap_ptr_set`, and `opa_eval`'s heap
/// address): forgets the free lists, whose blocks may lie above the new top.
pub fn set_top(addr: usize) {
    clear_free_lists();
    set_bump(addr);
}

fn set_bump(addr: usize) {
    // SAFETY: single-threaded; plain write.
    unsafe { *BUMP.top.get() = addr }
}

/// Carves `size` bytes aligned to `align` off the top, growing memory as needed.
fn bump(size: usize, align: usize) -> *mut u8 {
    let Some(start) = align_up(top(), align) else {
        return core::ptr::null_mut();
    };
    let Some(end) = start.checked_add(size) else {
        return core::ptr::null_mut();
    };
    if !ensure_memory(end) {
        return core::ptr::null_mut();
    }
    set_bump(end);
    start as *mut u8
}

fn ensure_memory(end: usize) -> bool {
    let have = core::arch::wasm32::memory_size(0) * PAGE;
    if end <= have {
        return true;
    }
    let need = (end - have).div_ceil(PAGE);
    core::arch::wasm32::memory_grow(0, need) != usize::MAX
}

// SAFETY: `alloc` returns either null or a block of `layout.size()` bytes aligned to
// `layout.align()` that no other live allocation overlaps: blocks are carved from a
// monotonically advancing top, which only moves back on `dealloc` of the last block or on the
// host's rewind (after which no pointer from the rewound region is used again: see the
// crate's memory discipline).
unsafe impl GlobalAlloc for BumpAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(&layout) else {
            return bump(layout.size(), layout.align());
        };
        // SAFETY: single-threaded. A non-zero head is a block of this class freed since the
        // last rewind (so below the top and not in use), whose first word holds the next.
        unsafe {
            let heads = &mut *FREE.heads.get();
            let head = heads[class];
            if head != 0 {
                heads[class] = *(head as *const usize);
                return head as *mut u8;
            }
        }
        bump(class_size(class), CLASS_ALIGN)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        match class_of(&layout) {
            Some(class) => {
                // SAFETY: `ptr` is a live block of `class_size(class)` >= 16 bytes, 16-aligned,
                // that the caller gives up; we store the list link in its first word.
                unsafe {
                    let heads = &mut *FREE.heads.get();
                    *(ptr as *mut usize) = heads[class];
                    heads[class] = ptr as usize;
                }
            }
            None => {
                if ptr as usize + layout.size() == top() {
                    set_bump(ptr as usize);
                }
            }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Same class: the block already has room.
        // SAFETY: `new_layout` keeps the caller's (valid) alignment; the size is the caller's.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let (old_class, new_class) = (class_of(&layout), class_of(&new_layout));
        if old_class.is_some() && old_class == new_class {
            return ptr;
        }
        // A large most-recent block grows or shrinks in place.
        if old_class.is_none() && new_class.is_none() && ptr as usize + layout.size() == top() {
            let Some(end) = (ptr as usize).checked_add(new_size) else {
                return core::ptr::null_mut();
            };
            if !ensure_memory(end) {
                return core::ptr::null_mut();
            }
            set_bump(end);
            return ptr;
        }
        // SAFETY: `new_layout` is valid; the old block stays valid until it is copied and
        // freed.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

/// Copies `len` bytes at `addr` (written by the host) into an owned buffer.
pub fn read_bytes(addr: u32, len: u32) -> Vec<u8> {
    if len == 0 {
        return Vec::new();
    }
    // SAFETY: the host wrote `len` bytes at `addr` in our linear memory (OPA ABI contract
    // of `opa_json_parse` and `opa_eval`); wasm bounds checks trap on anything outside it.
    unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len as usize).to_vec() }
}

/// Leaks `bytes` as a NUL-terminated string (interior NULs dropped) and returns its address.
pub fn leak_cstring(mut bytes: Vec<u8>) -> u32 {
    bytes.retain(|b| *b != 0);
    bytes.push(0);
    let boxed = bytes.into_boxed_slice();
    Box::leak(boxed).as_ptr() as usize as u32
}

/// Moves a value to the heap and returns its address (an opaque OPA "value" handle).
pub fn leak<T>(value: T) -> u32 {
    Box::leak(Box::new(value)) as *mut T as usize as u32
}

/// Borrows a value previously returned by [`leak`].
///
/// Returns `None` for the null handle. The host only hands back handles we gave it; a
/// forged handle can at worst read garbage inside the sandbox, never outside it.
pub fn borrow<'a, T>(addr: u32) -> Option<&'a T> {
    if addr == 0 {
        return None;
    }
    // SAFETY: `addr` came from `leak::<T>` during this evaluation or before the heap snapshot
    // (OPA ABI: handles are only used between parse/dump calls of one evaluation, or are the
    // data handle created before the snapshot).
    unsafe { Some(&*(addr as usize as *const T)) }
}

/// Mutable variant of [`borrow`], for evaluation contexts.
pub fn borrow_mut<'a, T>(addr: u32) -> Option<&'a mut T> {
    if addr == 0 {
        return None;
    }
    // SAFETY: as for `borrow`; the ABI never aliases an evaluation context.
    unsafe { Some(&mut *(addr as usize as *mut T)) }
}
