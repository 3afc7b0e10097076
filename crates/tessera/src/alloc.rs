//! Allocator tuning for login floods.
//!
//! The binary allocates through mimalloc (see `main.rs`), which keeps
//! per-thread heaps and returns freed memory to the OS by itself. What
//! still goes through glibc's malloc is what C libraries allocate (SQLite's
//! page cache and statements). For that: glibc raises its mmap threshold
//! dynamically after large blocks are freed, so later large allocations
//! come from the heap and stay resident. Fixing the threshold keeps big
//! buffers on mmap (returned to the OS on free), and capping arenas stops
//! each thread from growing its own heap.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn tune() {
    // SAFETY: mallopt only adjusts allocator parameters; it is called once,
    // before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 4);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn tune() {}

/// Lowers the calling thread's CPU priority (nice 19). Password hashing runs
/// at this priority: under a login flood it still uses every idle cycle,
/// but the threads answering who-am-I and other cheap requests come first.
#[cfg(target_os = "linux")]
pub fn lower_thread_priority() {
    // SAFETY: gettid and setpriority only read and set this thread's
    // scheduling attributes; failure leaves the default priority.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

#[cfg(not(target_os = "linux"))]
pub fn lower_thread_priority() {}
