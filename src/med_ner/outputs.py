"""Where outputs go, checked before any work, and how they are written.

Every command that writes files checks all its output paths first
(`check_outputs`): an output that is also an input or another output, that
exists but is not a regular file (a folder, FIFO, device or socket), or whose
folder is a file, is refused with a message naming the option. Every output is
then written through `atomic_path`: into a temporary file beside it, flushed
to disk, then renamed over the old one, so a failure (a full disk, a kill)
leaves the old file or nothing, never half a file.
"""
import os
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator, Optional, Tuple, Union

from med_ner.corpus.reading import ConversionError

PathLike = Union[str, Path]
Named = Iterable[Tuple[str, Optional[PathLike]]]  # (option or role, path); a None path is skipped


class OutputError(ConversionError):
    """An output that cannot or must not be written; names the path and the option."""

    def __init__(self, path, message: str):
        super().__init__(path, message)


def _same(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def check_output(path: PathLike, what: str = "output") -> None:
    """One output path: not an existing non-regular file, and its nearest
    existing folder is a folder (missing folders are made when written)."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise OutputError(path, f"is a dangling symbolic link; the {what} would replace the link")
    if path.exists():
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise OutputError(path, f"is a directory, but the {what} is a file")
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                    else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise OutputError(path, f"is {kind}; the {what} must be a regular file (it is written to a temporary "
                                    f"file and renamed over the old one)")
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(path, f"cannot hold the {what}: {parent} is a file, not a folder")


def check_outputs(outputs: Named, inputs: Named = ()) -> None:
    """All outputs of a command, before any work: each one is writable where
    it goes (`check_output`), none is the same file as an input or as another
    output. Raises OutputError naming both options."""
    outputs = [(what, Path(p)) for what, p in outputs if p is not None]
    inputs = [(what, Path(p)) for what, p in inputs if p is not None]
    for what, path in outputs:
        check_output(path, what)
    for i, (what, path) in enumerate(outputs):
        for in_what, in_path in inputs:
            if _same(path, in_path):
                raise OutputError(path, f"the {what} is the {in_what}; writing it would destroy the input")
        for other_what, other in outputs[:i]:
            if _same(path, other):
                raise OutputError(path, f"the {what} is also the {other_what}; give them different paths")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: PathLike, what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it is flushed
    to disk and renamed to `path`; on any error it is removed and the old file
    is untouched. A write that fails (full disk, no permission) raises
    OutputError naming the path."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as err:
        raise OutputError(path, f"cannot write the {what}: {err.strerror or err}") from None
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write the {what}: {err.strerror or err}; the old file, if any, "
                                f"is unchanged") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text(path: PathLike, text: str, what: str = "output") -> None:
    """`text` as UTF-8 at `path`, atomically."""
    with atomic_path(path, what) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")


def write_json(path: PathLike, data, what: str = "output") -> None:
    import srsly

    write_text(path, srsly.json_dumps(data, indent=2) + "\n", what)


def echo_lines(lines: Iterable[str], stream=None) -> None:
    """Print lines to standard output; a full disk or a closed pipe behind it
    is an OutputError, not a traceback."""
    import sys

    stream = stream or sys.stdout
    try:
        for line in lines:
            stream.write(line + "\n")
        stream.flush()
    except BrokenPipeError:
        raise OutputError("<stdout>", "the reader of standard output went away (broken pipe)") from None
    except OSError as err:
        raise OutputError("<stdout>", f"cannot write standard output: {err.strerror or err}") from None
