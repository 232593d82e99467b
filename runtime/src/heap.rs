//! The allocator, raw memory access, and the module's `memcmp`.
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
//! The arena: a region reserved on the heap before the host's snapshot (so below every rewind)
//! for the few things that must outlive evaluations yet are created during one — compiled
//! regular expressions (see `regex_cache`). While [`in_arena`] runs a closure, every allocation
//! comes from the arena (its own size-class free lists, never emptied); a block is freed to
//! the region its address lies in, whatever the mode. When the arena is full, allocations
//! spill to the ordinary heap and [`in_arena`] reports it, so that the caller drops what it
//! built instead of keeping pointers that the next rewind would invalidate.
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

/// The arena's region, bump pointer and free lists (classes up to [`ARENA_MAX_CLASS`]).
struct Arena {
    start: usize,
    end: usize,
    top: usize,
    heads: [usize; ARENA_CLASSES],
    /// Allocations go to the arena (inside [`in_arena`]).
    active: bool,
    /// An allocation did not fit and came from the ordinary heap.
    spilled: bool,
}

/// Arena size classes: 16 B (2^4) to 1 MiB (2^20): compiling a regex grows vectors well past
/// the ordinary classes, and the arena must reuse what a compilation frees.
const ARENA_MAX_CLASS: u32 = 20;
const ARENA_CLASSES: usize = (ARENA_MAX_CLASS - MIN_CLASS + 1) as usize;

struct ArenaCell(UnsafeCell<Arena>);

// SAFETY: single-threaded, as `Bump`.
unsafe impl Sync for ArenaCell {}

static ARENA: ArenaCell = ArenaCell(UnsafeCell::new(Arena {
    start: 0,
    end: 0,
    top: 0,
    heads: [0; ARENA_CLASSES],
    active: false,
    spilled: false,
}));

fn arena() -> &'static mut Arena {
    // SAFETY: single-threaded; the allocator functions below never hold this reference across
    // a call that takes it again.
    unsafe { &mut *ARENA.0.get() }
}

/// Reserves an arena of `size` bytes at the heap top. Call only while allocations are
/// permanent (before the host's snapshot). Returns false (no arena) when memory cannot grow.
pub fn reserve_arena(size: usize) -> bool {
    let start = bump(size, CLASS_ALIGN);
    if start.is_null() {
        return false;
    }
    let a = arena();
    a.start = start as usize;
    a.end = start as usize + size;
    a.top = a.start;
    a.heads = [0; ARENA_CLASSES];
    true
}

/// Forgets the arena (the host rewound below it): nothing is allocated there any more, and
/// blocks in its former region are no longer treated as arena blocks.
pub fn drop_arena() {
    let a = arena();
    *a = Arena {
        start: 0,
        end: 0,
        top: 0,
        heads: [0; ARENA_CLASSES],
        active: false,
        spilled: false,
    };
}

/// Whether there is an arena.
pub fn has_arena() -> bool {
    arena().end > 0
}

/// Bytes of the arena never handed out yet (free-list blocks not counted).
pub fn arena_unused() -> usize {
    let a = arena();
    a.end - a.top
}

/// Runs `f` with every allocation coming from the arena. Returns its result and whether
/// every allocation fitted in the arena (`false`: some came from the ordinary heap, and
/// whatever `f` built must not outlive the evaluation). Without an arena, allocations are
/// ordinary and the result is `false`.
pub fn in_arena<R>(f: impl FnOnce() -> R) -> (R, bool) {
    let a = arena();
    if a.end == 0 || a.active {
        let r = f();
        return (r, false);
    }
    a.active = true;
    a.spilled = false;
    let r = f();
    let a = arena();
    a.active = false;
    (r, !a.spilled)
}

fn in_arena_region(ptr: usize) -> bool {
    let a = arena();
    ptr >= a.start && ptr < a.end
}

fn arena_class_of(layout: &Layout) -> Option<usize> {
    if layout.align() > CLASS_ALIGN || layout.size() > 1 << ARENA_MAX_CLASS {
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

/// An arena block for `layout`, or null when the arena has no room.
fn arena_alloc(layout: &Layout) -> *mut u8 {
    let a = arena();
    let (size, align) = match arena_class_of(layout) {
        Some(class) => {
            let head = a.heads[class];
            if head != 0 {
                // SAFETY: a non-zero head is a freed arena block of this class, not in use,
                // whose first word holds the next.
                a.heads[class] = unsafe { *(head as *const usize) };
                return head as *mut u8;
            }
            (class_size(class), CLASS_ALIGN)
        }
        None => (layout.size(), layout.align()),
    };
    let Some(start) = align_up(a.top, align) else {
        return core::ptr::null_mut();
    };
    match start.checked_add(size) {
        Some(end) if end <= a.end => {
            a.top = end;
            start as *mut u8
        }
        _ => core::ptr::null_mut(),
    }
}

fn arena_dealloc(ptr: *mut u8, layout: &Layout) {
    let a = arena();
    match arena_class_of(layout) {
        Some(class) => {
            // SAFETY: `ptr` is a live arena block of `class_size(class)` >= 16 bytes,
            // 16-aligned, that the caller gives up; its first word becomes the list link.
            unsafe { *(ptr as *mut usize) = a.heads[class] };
            a.heads[class] = ptr as usize;
        }
        None => {
            if ptr as usize + layout.size() == a.top {
                a.top = ptr as usize;
            }
        }
    }
}

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
        if arena().active {
            let p = arena_alloc(&layout);
            if !p.is_null() {
                return p;
            }
            arena().spilled = true;
        }
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
        if in_arena_region(ptr as usize) {
            arena_dealloc(ptr, &layout);
            return;
        }
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
        if in_arena_region(ptr as usize) || arena().active {
            // Arena blocks (and blocks moving into the arena) keep their class's room, else
            // move: never grown in place, so an arena block cannot reach past the arena.
            let class = arena_class_of(&layout);
            if in_arena_region(ptr as usize)
                && class.is_some()
                && class == arena_class_of(&new_layout)
            {
                return ptr;
            }
            // SAFETY: `new_layout` is valid; the old block stays valid until it is copied and
            // freed (to the region it lies in).
            unsafe {
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    core::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                return new;
            }
        }
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

// ---------------------------------------------------------------------------------------
// Byte comparison.

/// `memcmp` of the module, eight bytes at a time. The one compiler-builtins gives
/// wasm32-unknown-unknown compares byte by byte, and regorus compares strings (object keys on
/// every lookup, set members, equality) through it: with it, it was the module's most
/// executed function. `bcmp` (equality only) is the same function.
///
/// # Safety
/// `a` and `b` point to `n` readable bytes each (the C contract).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while n - i >= 8 {
        // SAFETY: `i + 8 <= n`, and the caller guarantees `n` readable bytes at `a` and `b`;
        // the reads are unaligned ones.
        let (x, y) = unsafe {
            (
                a.add(i).cast::<u64>().read_unaligned(),
                b.add(i).cast::<u64>().read_unaligned(),
            )
        };
        if x != y {
            // wasm is little-endian: the first differing byte holds the lowest differing bits.
            let shift = (x ^ y).trailing_zeros() / 8 * 8;
            return i32::from((x >> shift) as u8) - i32::from((y >> shift) as u8);
        }
        i += 8;
    }
    while i < n {
        // SAFETY: `i < n`, as above.
        let (p, q) = unsafe { (*a.add(i), *b.add(i)) };
        if p != q {
            return i32::from(p) - i32::from(q);
        }
        i += 1;
    }
    0
}

/// `bcmp`: zero when the `n` bytes at `a` and `b` are equal (see [`memcmp`]).
///
/// # Safety
/// As [`memcmp`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: the caller's guarantee is passed on.
    unsafe { memcmp(a, b, n) }
}
