//! Allocator tuning for login floods.
//!
//! glibc raises its mmap threshold dynamically after large blocks are
//! freed, so later large allocations come from the heap and stay resident.
//! Fixing the threshold keeps big buffers on mmap (returned to the OS on
//! free), and capping arenas stops each thread from growing its own heap.
//! The hash pool already reuses its Argon2 memory; this covers the rest.

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
