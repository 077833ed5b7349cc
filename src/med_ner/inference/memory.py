"""Memory use of this process, one home for the benchmarks and the training log."""
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


def children_peak_rss_mb() -> float:
    """Largest peak RSS of this process's finished children, in MB (at least
    this process's RSS when it forked them; small next to a training)."""
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
