"""Memory use of this process (for the benchmarks and the training log),
giving freed memory back to the OS after a prediction (trim_memory), and
NumPy's huge-page requests (no_huge_pages)."""
import os
import resource


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    raise OSError(f"no {field} in /proc/self/status")


def peak_rss_mb() -> float:
    """Peak RSS of this process, in MB: /proc's VmHWM where there is one,
    because ru_maxrss survives exec and would count the parent's RSS at fork."""
    try:
        return _status_mb("VmHWM")
    except OSError:
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def current_rss_mb() -> float:
    """Resident memory of this process now, in MB (peak where /proc is missing)."""
    try:
        return _status_mb("VmRSS")
    except OSError:
        return peak_rss_mb()


_LIBC = None
# RSS (MB) after the last trim: trimming again only once RSS has grown this much
# past it keeps the cost of malloc_trim off most batches.
_TRIM_GROWTH_MB = 64
_trimmed_at_mb = 0.0


def release_free_memory() -> None:
    """Hand the allocator's free pages back to the OS (glibc's malloc_trim)
    once RSS has grown by _TRIM_GROWTH_MB since the last time.

    Batches of different shapes leave freed tensors scattered through glibc's
    heaps, and RSS then grows with the documents processed (measured: float32
    904 -> 1,090 MB over the BC5CDR test set). Trimming after every batch cost
    5% of onnx-int8's words/s; gated by growth it costs a read of
    /proc/self/status a batch. The transformer's
    `trim_memory = false` turns it off. A no-op off glibc."""
    global _LIBC, _trimmed_at_mb
    if _LIBC is None:
        try:
            import ctypes

            _LIBC = ctypes.CDLL("libc.so.6")
            _LIBC.malloc_trim.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):
            _LIBC = False
    if not _LIBC:
        return
    rss = current_rss_mb()
    if rss - _trimmed_at_mb < _TRIM_GROWTH_MB:
        return
    _LIBC.malloc_trim(0)
    _trimmed_at_mb = current_rss_mb()


def _numpy_multiarray():
    try:
        from numpy._core import multiarray  # NumPy 2
    except ImportError:
        from numpy.core import multiarray
    return multiarray


def no_huge_pages() -> None:
    """Stop NumPy asking Linux for transparent huge pages (MADV_HUGEPAGE) for
    its arrays of 4 MB and more, in this process, unless the user set
    NUMPY_MADVISE_HUGEPAGE (NumPy reads it at import; it then decides).

    Where the kernel's THP `defrag` setting is `madvise` (its default), a page
    fault in memory so marked waits while the kernel compacts memory to find a
    free huge page, and the marking outlives the array (numpy/numpy#31590).
    Single passes of the release pipeline with its attribute components over
    MACCROBAT's test documents then dropped to 1,700-2,400 words/s from about
    6,000 (benchmarks/attributes/speed-runs.json). A no-op where NumPy has no
    such switch."""
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        return
    setter = getattr(_numpy_multiarray(), "_set_madvise_hugepage", None)
    if setter is not None:
        setter(False)


def numpy_huge_pages() -> bool:
    """Whether NumPy asks for huge pages for large arrays in this process (for benchmark records)."""
    getter = getattr(_numpy_multiarray(), "_get_madvise_hugepage", None)
    return bool(getter()) if getter is not None else False
