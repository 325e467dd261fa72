//! Process memory.

/// Return freed heap pages to the kernel (glibc's `malloc_trim`; elsewhere nothing to do).
/// Cheap when little is free; called after a crowd of connections has left.
pub fn release_free_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}
