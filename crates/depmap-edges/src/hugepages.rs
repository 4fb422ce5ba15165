//! Transparent huge pages for the flow table's slab.
//!
//! Every packet reads one flow record at a random place in a slab of
//! several megabytes (128 bytes a flow). With 4 KiB pages nearly every such
//! read also misses the TLB, and a page walk inside a virtual machine costs
//! several memory reads more. Backing the slab with 2 MiB pages took 5-7%
//! off `depmap ingest`'s CPU time on the ingest benchmark (alternating runs
//! pinned to one CPU, 21 each; min 416 -> 393 ms, median 445 -> 422 ms).
//!
//! Most kernels ship with THP in `madvise` mode, where only memory a
//! process asks for gets huge pages, hence the call here. It is advice:
//! where THP is off, or on systems other than Linux, nothing changes.

/// Allocations smaller than this hold no aligned 2 MiB page; not worth a
/// system call.
const HUGE_PAGE: usize = 2 << 20;

/// Asks the kernel to back the whole pages of `v`'s allocation with
/// transparent huge pages (`madvise(MADV_HUGEPAGE)`). Call it again after
/// the vector reallocates.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn advise<T>(v: &Vec<T>) {
    const PAGE: usize = 4096;
    let start = v.as_ptr() as usize;
    let end = start.saturating_add(v.capacity().saturating_mul(std::mem::size_of::<T>()));
    if end - start < HUGE_PAGE {
        return;
    }
    // Whole pages only: the allocation need not start on a page boundary.
    let from = (start + PAGE - 1) & !(PAGE - 1);
    let to = end & !(PAGE - 1);
    if let Some(addr) = std::ptr::NonNull::new(from as *mut std::ffi::c_void) {
        // SAFETY: MADV_HUGEPAGE is advice about how to back the pages; it
        // neither changes their contents nor unmaps them, and the range
        // lies inside `v`'s live allocation. A refusal (THP disabled,
        // EINVAL on old kernels) leaves everything as it was.
        let _ = unsafe {
            nix::sys::mman::madvise(addr, to - from, nix::sys::mman::MmapAdvise::MADV_HUGEPAGE)
        };
    }
}

/// Elsewhere there is nothing to ask.
#[cfg(not(target_os = "linux"))]
pub(crate) fn advise<T>(_: &Vec<T>) {}

#[cfg(test)]
mod tests {
    #[test]
    fn advice_leaves_the_contents_alone() {
        let mut v: Vec<u64> = Vec::with_capacity(1 << 20);
        v.extend(0..1000u64);
        super::advise(&v);
        v.extend(1000..(1 << 20));
        super::advise(&Vec::<u8>::new());
        assert!(v.iter().enumerate().all(|(i, x)| *x == i as u64));
    }
}
