"""Memory of the predicting process (med_ner.inference.memory): RSS readings
and handing a fragmented heap back to the OS."""
import subprocess
import sys

import pytest

from med_ner.inference.memory import current_rss_mb, peak_rss_mb

TRIM_PROBE = """
import ctypes, sys
from med_ner.inference.memory import current_rss_mb, release_free_memory
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
libc.mallopt(-3, 8 * 1024 * 1024)  # M_MMAP_THRESHOLD: 512 KB blocks come from the heap, as tensors' do
big = []
for i in range(200):
    big.append(libc.malloc(512 * 1024))
    libc.memset(big[-1], 1, 512 * 1024)  # touched, so resident
pin = libc.malloc(512 * 1024)  # kept: the heap cannot shrink at its top, as when later batches live on
for block in big:
    libc.free(block)
before = current_rss_mb()
if sys.argv[1] == "trim":
    release_free_memory()
print(before - current_rss_mb())
"""


def test_rss_readings_are_positive_and_peak_is_at_least_current():
    assert 0 < current_rss_mb() <= peak_rss_mb()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_free_memory_returns_a_fragmented_heap_to_the_os():
    """What made RSS grow with the documents processed: freed batch tensors left
    in glibc's heap. A prediction through a runtime ends with
    release_free_memory() (the transformer's trim_memory)."""

    def freed_mb(mode):
        proc = subprocess.run([sys.executable, "-c", TRIM_PROBE, mode], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        return float(proc.stdout)

    assert freed_mb("trim") > 80  # of the 100 MB freed
    assert freed_mb("keep") < 5  # glibc keeps them by itself


HUGE_PAGES_PROBE = """
import sys, spacy
from med_ner.inference.loading import load_pipeline
from med_ner.inference.memory import numpy_huge_pages
before = numpy_huge_pages()
spacy.blank("en").to_disk(sys.argv[1])
load_pipeline(sys.argv[1])
print(before, numpy_huge_pages())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="NumPy asks for huge pages on Linux only")
@pytest.mark.parametrize("env, expected", [(None, "False"), ("1", "True"), ("0", "False")])
def test_loading_a_pipeline_stops_numpy_asking_for_huge_pages_unless_the_user_decided(tmp_path, env, expected):
    import os

    environ = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env is not None:
        environ["NUMPY_MADVISE_HUGEPAGE"] = env
    out = subprocess.run([sys.executable, "-c", HUGE_PAGES_PROBE, str(tmp_path / "blank")], env=environ,
                         capture_output=True, text=True, check=True).stdout.split()
    assert out[-1] == expected  # after loading
    if env is not None:
        assert out[-2] == expected  # NumPy's own reading of the variable, left as it was
