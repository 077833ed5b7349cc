"""Where outputs go, checked before any work, and how they are written.

Every command that writes files checks all its output paths first
(`check_outputs`): an output that is also an input or another output, that
exists but is not a regular file (a folder, FIFO, device or socket), or whose
folder is a file, is refused with a message naming the option. Every output is
then written through `atomic_path`: into a temporary file beside it, flushed
to disk, then renamed over the old one, so a failure (a full disk, a kill)
leaves the old file or nothing, never half a file. Outputs that belong
together (a DocBin and its report) are written inside `output_group`: every
file is complete before the first is renamed into place. A folder output (a
pipeline) is written through `atomic_dir`.
"""
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
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
    _check_parent(path, what)


def _check_parent(path: Path, what: str) -> None:
    parent = path.absolute().parent
    while not parent.exists() and not parent.is_symlink() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise OutputError(path, f"cannot hold the {what}: {parent} is a file, not a folder")


def check_output_dir(path: PathLike, what: str = "output folder") -> None:
    """A folder output: an existing one is a folder, and its nearest existing
    parent is a folder."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise OutputError(path, f"is a dangling symbolic link; the {what} would replace the link")
    if path.exists() and not path.is_dir():
        raise OutputError(path, f"is a file, but the {what} is a folder")
    _check_parent(path, what)


def _inside(inner: Path, outer: Path) -> bool:
    try:
        inner.resolve().relative_to(outer.resolve())
        return True
    except ValueError:
        return False


def check_outputs(outputs: Named, inputs: Named = (), folders: Named = ()) -> None:
    """All outputs of a command, before any work: each one is writable where
    it goes (`check_output`; `folders` are folder outputs, replaced whole),
    none is the same file as an input or as another output, and no input lies
    inside an output folder. Raises OutputError naming both options."""
    folders = [(what, Path(p)) for what, p in folders if p is not None]
    outputs = [(what, Path(p)) for what, p in outputs if p is not None]
    inputs = [(what, Path(p)) for what, p in inputs if p is not None]
    for what, path in outputs:
        check_output(path, what)
    for what, path in folders:
        check_output_dir(path, what)
        for in_what, in_path in inputs:
            if in_path.exists() and (_same(path, in_path) or _inside(in_path, path)):
                relation = "is" if _same(path, in_path) else "holds"
                raise OutputError(path, f"the {what} {relation} the {in_what}; replacing it would destroy the input")
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


# The open output_group, if any: (temporary, final path, what) to rename at its end.
_GROUP: ContextVar[Optional[list]] = ContextVar("med_ner_output_group", default=None)


def _commit(pending: list) -> None:
    """Rename every temporary into place; if one rename fails, the files
    already renamed get their old content back (kept through a hard link)."""
    done = []  # (path, backup or None)
    try:
        for tmp, path, what in pending:
            backup = None
            if path.exists():
                backup = path.with_name(f".{path.name}.{os.getpid()}.old")
                try:
                    os.link(path, backup)
                except OSError:
                    backup = None
            try:
                os.replace(tmp, path)
            except OSError as err:
                if backup is not None:
                    backup.unlink(missing_ok=True)
                raise OutputError(path, f"cannot write the {what}: {err.strerror or err}; the old files, if any, "
                                        f"are unchanged") from None
            done.append((path, backup))
    except BaseException:
        for path, backup in reversed(done):
            if backup is not None:
                os.replace(backup, path)
            else:
                path.unlink(missing_ok=True)
        for tmp, _, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    for _, backup in done:
        if backup is not None:
            backup.unlink(missing_ok=True)


@contextmanager
def output_group() -> Iterator[None]:
    """Outputs that belong together: every `atomic_path` inside the block is
    written and flushed to its temporary, and all are renamed into place only
    when the block ends without an error, so a failure (a full disk on the
    second file) leaves all the old files, never a new one beside an old one."""
    if _GROUP.get() is not None:  # nested: the outer group commits
        yield
        return
    pending: list = []
    token = _GROUP.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _, _ in pending:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _GROUP.reset(token)
    _commit(pending)


@contextmanager
def atomic_path(path: PathLike, what: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside `path` to write; on success it is flushed
    to disk and renamed to `path` (at the end of the open `output_group`, if
    any); on any error it is removed and the old file is untouched. A write
    that fails (full disk, no permission) raises OutputError naming the path."""
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
        group = _GROUP.get()
        if group is None:
            os.replace(tmp, path)
        else:
            group.append((tmp, path, what))
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise OutputError(path, f"cannot write the {what}: {err.strerror or err}; the old file, if any, "
                                f"is unchanged") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(path: PathLike, what: str = "output folder") -> Iterator[Path]:
    """Yield a temporary folder beside `path` to fill; on success it replaces
    `path` whole (the old folder is moved aside, then removed); on any error
    it is removed and the old folder is untouched."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as err:
        raise OutputError(path, f"cannot write the {what}: {err.strerror or err}") from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        old = None
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
            os.replace(path, old / path.name)
        try:
            os.replace(tmp, path)
        except OSError:
            if old is not None:
                os.replace(old / path.name, path)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(path, f"cannot write the {what}: {err.strerror or err}; the old folder, if any, "
                                f"is unchanged") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def savefig(fig, path: PathLike, what: str = "figure", **options) -> None:
    """A matplotlib figure at `path`, atomically (the format from the suffix,
    since the temporary's own suffix is .tmp)."""
    path = Path(path)
    with atomic_path(path, what) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **options)


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
