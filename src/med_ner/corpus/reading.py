"""Reading input: the error that locates bad input by file, line and offset, and
the readers every converter, predict and evaluate share (UTF-8 text, lines,
folders, JSONL, DocBins), each refusing bad input with a ConversionError."""
import json
import os
import re
import stat
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import spacy
from spacy.tokens import Doc, DocBin


class ConversionError(Exception):
    """Bad input, located by file and line (and character offset where known)."""

    def __init__(self, path, message: str, line: Optional[int] = None, offset: Optional[int] = None):
        self.path = str(path)
        self.line = line
        self.offset = offset
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
        if self.offset is not None:
            where += f" (offset {self.offset})"
        return f"{where}: {self.message}"


def decode_utf8(data: bytes, source, keep_bom: bool = False) -> str:
    """UTF-8 bytes as text, without a leading BOM unless `keep_bom` (where
    offsets count it, as BRAT's do); bytes that are not UTF-8 are an error
    naming the line and byte offset."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ConversionError(
            source, f"not valid UTF-8 (byte {data[err.start]:#04x} at byte offset {err.start})", line=line
        ) from None
    return text[1:] if text.startswith("\ufeff") and not keep_bom else text


def read_bytes(path: Path) -> bytes:
    """The bytes of a file (or of a FIFO, read to its end); a folder or a
    missing file is an error."""
    path = Path(path)
    if path.is_dir():
        raise ConversionError(path, "is a directory, not a file")
    if not path.exists():
        raise ConversionError(path, "dangling symbolic link" if path.is_symlink() else "file not found")
    try:
        return path.read_bytes()
    except OSError as err:
        raise ConversionError(path, f"cannot read: {err.strerror or err}") from None


def read_text(path: Path, allow_empty: bool = False, keep_bom: bool = False) -> str:
    """Read a UTF-8 file; a file that is missing, a folder, empty or not UTF-8 is an error."""
    text = decode_utf8(read_bytes(path), path, keep_bom)
    if not allow_empty and not text.strip():
        raise ConversionError(path, "file is empty")
    return text


LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> List[str]:
    """The lines of a text file: split at \n, \r\n and a lone \r (old Mac
    files), never at U+2028, U+0085, form feed or the other characters
    str.splitlines() also breaks at, which JSON strings and clinical texts may
    hold. A final line break ends the last line; it does not start an empty one."""
    lines = LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def line_spans(text: str) -> List[Tuple[int, int]]:
    """(start, end) of each line of `text` as split_lines cuts it, the line
    break left out; a final line break does not start an empty line."""
    spans, pos = [], 0
    for match in LINE_BREAK.finditer(text):
        spans.append((pos, match.start()))
        pos = match.end()
    if pos < len(text) or not spans:
        spans.append((pos, len(text)))
    return spans


def folder_files(folder: Path, suffixes: Sequence[str]) -> Tuple[Dict[str, Dict[str, Path]], List[Dict[str, str]]]:
    """What a folder of documents holds, the one rule for every command that
    reads one: files in it and in its sub-folders (walked in name order),
    whose suffix is one of `suffixes` in any case (.txt, .TXT); a symbolic
    link counts as the file it points to. Returns {suffix: {id: path}} with
    id the path relative to `folder` without the suffix, and every file left
    out with the reason (another suffix, a dangling link, not a regular file,
    or an id given twice, e.g. a.txt beside a.TXT). Hidden files and folders
    (.git) are not documents and are not listed."""
    folder = Path(folder)
    wanted = {s.lower(): s for s in suffixes}
    found: Dict[str, Dict[str, Path]] = {s: {} for s in suffixes}
    left_out: List[Dict[str, str]] = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # .git and the like hold no documents
        for name in sorted(names) + sorted(d for d in dirs if Path(root, d).is_symlink()):
            path = Path(root, name)
            rel = path.relative_to(folder)
            suffix = wanted.get(path.suffix.lower())
            if suffix is None:
                if not (name.startswith(".") or path.is_dir()):
                    left_out.append({"file": rel.as_posix(), "reason": f"suffix is not {', '.join(suffixes)}"})
                continue
            try:
                mode = path.stat().st_mode
            except OSError:
                left_out.append({"file": rel.as_posix(), "reason": "dangling symbolic link"})
                continue
            if not stat.S_ISREG(mode):
                left_out.append({"file": rel.as_posix(), "reason": "not a regular file"})
                continue
            doc_id = rel.with_suffix("").as_posix()
            if doc_id in found[suffix]:
                left_out.append({"file": rel.as_posix(),
                                 "reason": f"same id as {found[suffix][doc_id].relative_to(folder).as_posix()}"})
                continue
            found[suffix][doc_id] = path
    return found, left_out


def read_jsonl(path: Path, text: Optional[str] = None) -> Iterator[Tuple[int, object]]:
    """(line number, value) of each non-blank line of a JSONL file (or of
    `text`, read from it); a line that is not JSON is an error with its line and column."""
    if text is None:
        text = read_text(path)
    from med_ner import strict_json

    for line_no, line in enumerate(split_lines(text), start=1):
        if not line.strip():
            continue
        try:
            value = strict_json.loads(line)
        except json.JSONDecodeError as err:
            raise ConversionError(path, f"invalid JSON: {err.msg}", line=line_no, offset=err.colno - 1) from None
        except strict_json.StrictJSONError as err:
            raise ConversionError(path, str(err), line=line_no) from None
        if "\\u" in line:  # only an escape can make a lone surrogate, which no later step can encode
            check_encodable(json.dumps(value, ensure_ascii=False), path, line_no)
        yield line_no, value


def check_encodable(text: str, source, line: Optional[int] = None) -> str:
    """`text` if it is all Unicode characters; a lone surrogate (from a JSON
    escape such as \\ud800, or from a command-line argument that was not
    UTF-8) is an error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ConversionError(source, f"holds a lone surrogate {text[err.start]!r}, which is not a character "
                                      "(a broken \\u escape, or bytes that are not UTF-8)", line=line) from None
    return text


def read_docbin(path: Path, vocab, data: Optional[bytes] = None) -> List[Doc]:
    """The Docs of a .spacy file (or of its bytes `data`, already read); a
    file that is missing or not a DocBin is an error."""
    path = Path(path)
    if data is None:
        if path.is_dir():
            raise ConversionError(path, "is a directory, not a DocBin")
        data = read_bytes(path)  # a FIFO too, as predict reads one
    try:
        return list(DocBin(store_user_data=True).from_bytes(data).get_docs(vocab))
    except Exception as err:  # zlib, msgpack and DocBin's own checks each raise their own kind
        raise ConversionError(path, f"not a spaCy DocBin ({type(err).__name__}: {err})") from None


def check_length(text: str, max_length: int, source, line: Optional[int] = None, doc_id=None) -> None:
    """A text longer than the pipeline's max_length (spaCy's 1,000,000
    characters by default) is refused before any work, naming the document,
    rather than failing in spaCy (E088) once outputs exist."""
    if len(text) > max_length:
        which = f"document {doc_id!r}: " if doc_id is not None else ""
        raise ConversionError(source, f"{which}text of {len(text):,} characters is longer than the pipeline's "
                                      f"max_length of {max_length:,} characters; split it into shorter documents",
                              line=line)


def blank_nlp(lang: str):
    """spacy.blank(lang), with an error that names the option for an unknown language."""
    try:
        spacy.util.get_lang_class(lang)
    except ImportError:
        raise ConversionError("--lang", f"spaCy has no language {lang!r} (e.g. en, es, de, fr, xx)") from None
    return spacy.blank(lang)
