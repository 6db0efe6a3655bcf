//! How many malloc arenas a server process may use (glibc only).
//!
//! glibc gives threads up to 8 arenas per core. A server's tokio workers and blocking threads
//! spread its allocations over many of them, and each arena rarely returns freed memory to the
//! system (fragmentation), so the resident size of `serve` crept by about 0.4 MiB a minute over
//! the 25 minutes measured, while its live heap stayed flat (heaptrack; docs/reliability.md,
//! "Soak figures"). Two arenas, one per core of the machine measured, brought that to 0.1 MiB
//! a minute or less. `MALLOC_ARENA_MAX` or a `glibc.malloc.arena_max` tunable set by the
//! operator wins.

/// The arena limit to set, or `None` to leave glibc's: `malloc_arena_max` is the environment's
/// `MALLOC_ARENA_MAX`, `tunables` its `GLIBC_TUNABLES`.
#[cfg_attr(not(all(target_os = "linux", target_env = "gnu")), allow(dead_code))]
pub fn arena_limit(
    malloc_arena_max: Option<&str>,
    tunables: Option<&str>,
    cores: usize,
) -> Option<i32> {
    if malloc_arena_max.is_some() || tunables.is_some_and(|t| t.contains("glibc.malloc.arena_max"))
    {
        return None;
    }
    Some(i32::try_from(cores.max(2)).unwrap_or(i32::MAX))
}

/// Limits the process's malloc arenas (see the module's comment). Call before any thread
/// starts.
pub fn limit_for_server() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let env = |name: &str| std::env::var(name).ok();
        if let Some(limit) = arena_limit(
            env("MALLOC_ARENA_MAX").as_deref(),
            env("GLIBC_TUNABLES").as_deref(),
            cores,
        ) {
            // SAFETY: mallopt only sets an allocator parameter and is thread-safe. It is called
            // before any thread starts because arenas are created as threads first allocate:
            // a limit set later would leave the arenas already made.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, limit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::arena_limit;

    #[test]
    fn one_arena_per_core_with_at_least_two() {
        assert_eq!(arena_limit(None, None, 2), Some(2));
        assert_eq!(arena_limit(None, None, 1), Some(2));
        assert_eq!(arena_limit(None, None, 64), Some(64));
    }

    #[test]
    fn the_operators_setting_wins() {
        assert_eq!(arena_limit(Some("8"), None, 2), None);
        assert_eq!(
            arena_limit(
                None,
                Some("glibc.malloc.arena_max=4:glibc.malloc.trim_threshold=0"),
                2
            ),
            None
        );
        assert_eq!(
            arena_limit(None, Some("glibc.malloc.trim_threshold=0"), 2),
            Some(2)
        );
    }
}
