"""Annotate a corpus with a NER pipeline, locally or on a Dask cluster.

Input: a directory of .txt files (id = path relative to it, without .txt;
what a folder holds is decided by conversion.folder_files, and every file left
out is named), a single .txt file (one document), JSONL with {"id", "text"} per line, or a
DocBin (id from user_data["id"], else its position). Output: JSONL with
{"id", "text", "ents": [{"start", "end", "label", "text", "negated", "uncertain"}]}
in input order ("attributes" beside "ents", and on each entity, where the
pipeline links attributes: see prediction.records), and optionally a DocBin.

The input is cut into partitions of --partition-size documents. Each finished
partition is written to OUTPUT.parts/ with an atomic rename, so a rerun skips
the finished ones (a part counts as finished only when it holds one output per
input, with the input's ids; parts made from another input, model, --code,
--cpu-int8 or partition size are thrown away), and a partition whose worker
died is simply run again (Dask reschedules it) and written once. Settings,
input and model are checked before anything is written. Output lines are JSON
with raw non-ASCII characters, split at \n only (a text may hold U+2028). At the end every input id must appear
in the output exactly once, or the run fails and says which ids differ.

Dask workers must have the med_ner package installed (a LocalCluster shares
this environment) and be able to load the model.
"""
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from med_ner.corpus.reading import (ConversionError, blank_nlp, check_length, folder_files, read_docbin, read_jsonl,
                                    read_text, split_lines)
from med_ner.outputs import atomic_path, check_outputs, write_json
from med_ner.components.entity_confidence import check_threshold, set_threshold
from med_ner.inference.loading import load_pipeline as load_new_pipeline
from med_ner.prediction.records import document_record

Record = Tuple[str, str]  # (id, text)


class InputError(ValueError):
    pass


def read_records(path: Path, left_out: Optional[List[Dict[str, str]]] = None) -> List[Record]:
    """Documents as (id, text), with clear errors for missing or repeated ids,
    files that are not UTF-8 and input without documents; files of a folder
    that are not read go to `left_out`."""
    try:
        records = _read_records(Path(path), [] if left_out is None else left_out)
    except ConversionError as err:
        raise InputError(str(err)) from None
    if not records:
        raise InputError(f"{path}: no documents")
    return records


def json_id(value, path: Path, line_no: int) -> str:
    """An id is a string or an integer (as the service takes it); null, a
    boolean, a float, a list or an object is an error naming the line."""
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    kind = "null" if value is None else {bool: "a boolean", float: "a number with a fraction", list: "a list",
                                         dict: "an object"}.get(type(value), type(value).__name__)
    raise InputError(f"{path}:{line_no}: 'id' is {kind}; an id is a string or an integer")


def _read_records(path: Path, left_out: List[Dict[str, str]]) -> List[Record]:
    if path.is_dir():
        found, skipped = folder_files(path, (".txt",))
        left_out.extend(skipped)
        if not found[".txt"]:
            raise InputError(f"{path}: no .txt files")
        return [(doc_id, read_text(p, allow_empty=True)) for doc_id, p in sorted(found[".txt"].items())]
    if path.suffix.lower() == ".txt":
        return [(path.stem, read_text(path, allow_empty=True))]
    if path.suffix.lower() in (".jsonl", ".json"):
        records, seen = [], {}
        for line_no, obj in read_jsonl(path, read_text(path, allow_empty=True)):
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise InputError(f"{path}:{line_no}: expected an object with a string 'text'")
            if "id" not in obj:
                raise InputError(f"{path}:{line_no}: no 'id'")
            doc_id = json_id(obj["id"], path, line_no)
            if doc_id in seen:
                raise InputError(f"{path}:{line_no}: id {doc_id!r} repeats line {seen[doc_id]}")
            seen[doc_id] = line_no
            records.append((doc_id, obj["text"]))
        return records
    if path.suffix.lower() == ".spacy":
        import spacy

        docs = read_docbin(path, spacy.blank("xx").vocab)
        records = [(str(d.user_data.get("id", f"doc-{i}")), d.text) for i, d in enumerate(docs)]
        ids = [r[0] for r in records]
        if len(set(ids)) != len(ids):
            raise InputError(f"{path}: repeated document ids in user_data['id']")
        return records
    raise InputError(f"{path}: expected a directory of .txt files, a .txt, .jsonl or .spacy file")


def fingerprint(records: List[Record], *, model: str, code: Optional[str], inference: Optional[str],
                partition_size: int, threshold: Optional[float] = None) -> str:
    """What the finished parts were made from: the input and every setting that
    changes the output or its partitioning (batch size and threads do not)."""
    settings = {"model": model, "code": code or "", "inference": inference, "partition_size": partition_size}
    if threshold is not None:
        settings["threshold"] = threshold
    settings = json.dumps(settings)
    digest = hashlib.sha256(settings.encode() + b"\0")
    for doc_id, text in records:
        digest.update(doc_id.encode() + b"\0" + text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()


_PIPELINES: Dict[Tuple, object] = {}


def load_pipeline(model: str, code: str, threads: int, inference: Optional[str] = None,
                  threshold: Optional[float] = None):
    """Load once per process (a Dask worker keeps it between partitions);
    `inference` None keeps the pipeline's own runtime, `threshold` None the
    entity_confidence component's own threshold."""
    key = (model, code or "", inference, threshold)
    if key not in _PIPELINES:
        nlp = load_new_pipeline(model, code, threads=threads, inference=inference)
        try:
            set_threshold(nlp, threshold)
        except ValueError as err:
            raise InputError(str(err)) from None
        _PIPELINES[key] = nlp
    return _PIPELINES[key]


def part_path(parts_dir: Path, index: int) -> Path:
    return parts_dir / f"part-{index:06d}.jsonl"


def annotate_partition(index: int, records: List[Record], model: str, code: str, batch_size: int, threads: int,
                       inference: Optional[str], parts_dir: str, threshold: Optional[float] = None) -> Tuple[int, int]:
    """Annotate one partition and write it atomically; returns (index, documents)."""
    nlp = load_pipeline(model, code, threads, inference, threshold)
    out = part_path(Path(parts_dir), index)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        # strict: a pipeline that yields fewer docs than it was given must not make a short part.
        for (doc_id, text), doc in zip(records, nlp.pipe((t for _, t in records), batch_size=batch_size), strict=True):
            f.write(json.dumps({"id": doc_id, "text": text, **document_record(doc)}, ensure_ascii=False) + "\n")
    os.replace(tmp, out)
    return index, len(records)


class Progress:
    def __init__(self, total_docs: int, done_docs: int, every: float = 2.0):
        self.total, self.done, self.start_done = total_docs, done_docs, done_docs
        self.start = self.last = time.perf_counter()
        self.every = every

    def update(self, docs: int, force: bool = False) -> None:
        self.done += docs
        now = time.perf_counter()
        if force or now - self.last >= self.every:
            self.last = now
            rate = (self.done - self.start_done) / max(now - self.start, 1e-9)
            if self.done >= self.total:
                tail = "done"
            elif rate > 0:
                tail = f"{rate:.1f} docs/s, ETA {(self.total - self.done) / rate:.0f} s"
            else:
                tail = "no partition finished yet"
            print(f"  {self.done}/{self.total} documents, {tail}", file=sys.stderr, flush=True)


def run_partitions(partitions: List[List[Record]], todo: List[int], model: str, code: str, batch_size: int,
                   threads: int, inference: Optional[str], parts_dir: Path, progress: Progress, dask: Optional[str],
                   workers: int, threshold: Optional[float] = None) -> None:
    args = (model, code or "", batch_size, threads, inference, str(parts_dir), threshold)
    if dask is None:
        for i in todo:
            _, n = annotate_partition(i, partitions[i], *args)
            progress.update(n)
        return
    from dask.distributed import as_completed

    client, cluster = connect(dask, workers)
    try:
        futures = [client.submit(annotate_partition, i, partitions[i], *args, key=f"annotate-{parts_dir.name}-{i}",
                                 pure=False, retries=2) for i in todo]
        for future in as_completed(futures):
            _, n = future.result()
            progress.update(n)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


SCHEDULER_TIMEOUT_S = 10


def connect(dask: str, workers: int):
    """(client, cluster or None) for --dask; a scheduler that does not answer
    within SCHEDULER_TIMEOUT_S is an InputError, raised before any output exists."""
    from dask.distributed import Client, LocalCluster

    if dask == "local":
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                               dashboard_address=None)
        return Client(cluster), cluster
    try:
        return Client(dask, timeout=f"{SCHEDULER_TIMEOUT_S}s"), None
    except (OSError, TimeoutError, ValueError) as err:
        raise InputError(f"--dask: no Dask scheduler answers at {dask!r} within {SCHEDULER_TIMEOUT_S} s "
                         f"({type(err).__name__}: {err})") from None


def read_part(path: Path) -> List[Dict]:
    """The records of one part file (JSON lines; split at \n only, since a
    text may hold a raw U+2028 or U+0085)."""
    return [json.loads(line) for line in split_lines(path.read_text(encoding="utf-8")) if line]


def part_is_complete(path: Path, records: List[Record]) -> bool:
    """A part is finished when it holds one output per input, with the input's ids in order."""
    if not path.is_file():
        return False
    try:
        return [r.get("id") for r in read_part(path)] == [doc_id for doc_id, _ in records]
    except (ValueError, AttributeError):  # cut short or overwritten: run it again
        return False


def merge(records: List[Record], n_parts: int, parts_dir: Path, output: Path) -> int:
    """Concatenate the parts in order and check every id appears exactly once."""
    expected = [doc_id for doc_id, _ in records]
    seen: List[str] = []
    with atomic_path(output) as tmp:
        with tmp.open("w", encoding="utf-8", newline="\n") as out:
            for i in range(n_parts):
                for line in split_lines(part_path(parts_dir, i).read_text(encoding="utf-8")):
                    seen.append(json.loads(line)["id"])
                    out.write(line + "\n")
        if seen != expected:
            missing = sorted(set(expected) - set(seen))
            repeated = sorted({x for x in seen if seen.count(x) > 1})
            raise RuntimeError(f"output does not match input: {len(expected)} in, {len(seen)} out; "
                               f"missing {missing[:10]}, repeated {repeated[:10]}")
    return len(seen)


def write_docbin(output: Path, docbin_path: Path, model_lang: str) -> None:
    import spacy
    from spacy.tokens import DocBin

    from med_ner.components.attribute_extensions import ATTRIBUTES_KEY
    from med_ner.components.clinical_context import polarity

    nlp = spacy.blank(model_lang)
    docs = []
    for rec in read_part(output):
        doc = nlp.make_doc(rec["text"])
        doc.ents = [doc.char_span(e["start"], e["end"], label=e["label"], alignment_mode="expand") for e in rec["ents"]]
        doc.user_data["id"] = rec["id"]
        # Flags as converted BRAT corpora store them (clinical_context.gold_flags reads them back).
        doc.user_data["ent_attrs"] = {f"{e['start']}:{e['end']}": {"POLARITY": polarity(e["negated"], e["uncertain"])}
                                      for e in rec["ents"] if "negated" in e}
        if "attributes" in rec:
            doc.spans[ATTRIBUTES_KEY] = [doc.char_span(a["start"], a["end"], label=a["label"], alignment_mode="expand")
                                         for a in rec["attributes"]]
        docs.append(doc)
    data = DocBin(docs=docs, store_user_data=True).to_bytes()
    with atomic_path(docbin_path, "--docbin output") as tmp:
        tmp.write_bytes(data)


def _manifest_key(manifest: Path) -> Optional[str]:
    try:
        return json.loads(manifest.read_text(encoding="utf-8"))["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def summary(result: Dict, output: Path) -> str:
    """The line the command prints at the end."""
    rate = (f"{result['docs_per_second']} docs/s" if result["docs_per_second"] is not None
            else "nothing left to annotate")
    return (f"{result['documents_in']} documents in, {result['documents_out']} out ({result['resumed_documents']} "
            f"from an earlier run); {rate} -> {output}")


def annotate(input_path: Path, output: Path, model: str, *, stats: Optional[Path] = None, **options) -> Dict:
    """Annotate `input_path` into `output` (see _annotate for the options);
    `stats`: also write the counts and speed there as JSON. Bad input and
    outputs that cannot be written are an InputError."""
    check = [("output", output), ("--docbin output", options.get("docbin")), ("--stats output", stats)]
    try:
        check_outputs(check, inputs=[("input", input_path)])
        parts = Path(output).with_name(Path(output).name + ".parts")
        if (parts.exists() or parts.is_symlink()) and not parts.is_dir():
            raise InputError(f"{parts}: is not a folder, but annotate keeps its finished partitions there")
        result = _annotate(input_path, output, model, **options)
        if stats is not None:
            write_json(stats, result, "--stats output")
    except ConversionError as err:
        raise InputError(str(err)) from None
    return result


def _annotate(input_path: Path, output: Path, model: str, *, code: Optional[str] = None, batch_size: int = 32,
              threads: int = 0, partition_size: int = 200, dask: Optional[str] = None, workers: int = 2,
              docbin: Optional[Path] = None, lang: str = "en",
              inference: Optional[str] = None, threshold: Optional[float] = None) -> Dict:
    """`inference`: a transformer runtime (med_ner.inference.runtimes.RUNTIMES;
    None keeps the pipeline's own); `threshold`: drop entities below this
    confidence (None keeps the pipeline's entity_confidence threshold)."""
    # Everything that can be wrong with the arguments is found before any output exists.
    for name, value in (("--batch-size", batch_size), ("--partition-size", partition_size), ("--workers", workers)):
        if value < 1:
            raise InputError(f"{name} must be at least 1, not {value}")
    if threshold is not None:
        try:
            threshold = check_threshold(threshold, "--threshold")
        except ValueError as err:
            raise InputError(str(err)) from None
    if docbin is not None:
        blank_nlp(lang)  # an unknown --lang: a ConversionError, which annotate() reports
    left_out: List[Dict[str, str]] = []
    records = read_records(input_path, left_out)
    for item in left_out:
        print(f"left out {item['file']}: {item['reason']}", file=sys.stderr)
    if threads <= 0:
        cores = os.cpu_count() or 1
        threads = cores if dask is None else max(1, cores // max(workers, 1))
    nlp = load_pipeline(model, code, threads, inference, threshold)
    for doc_id, text in records:
        check_length(text, nlp.max_length, input_path, doc_id=doc_id)
    if dask not in (None, "local"):
        connect(dask, workers)[0].close()  # a scheduler that does not answer fails here, before any output
    output.parent.mkdir(parents=True, exist_ok=True)
    partitions = [records[i:i + partition_size] for i in range(0, len(records), partition_size)]
    parts_dir = output.with_name(output.name + ".parts")
    parts_dir.mkdir(parents=True, exist_ok=True)
    manifest = parts_dir / "manifest.json"
    key = fingerprint(records, model=model, code=code, inference=inference, partition_size=partition_size,
                      threshold=threshold)
    if _manifest_key(manifest) != key:
        # Another input, model or setting: earlier parts are not ours.
        for stale in parts_dir.glob("part-*"):
            stale.unlink()
    manifest.write_text(json.dumps({"fingerprint": key, "documents": len(records), "partitions": len(partitions)}))
    todo = [i for i in range(len(partitions)) if not part_is_complete(part_path(parts_dir, i), partitions[i])]
    skipped_docs = len(records) - sum(len(partitions[i]) for i in todo)
    print(f"{len(records)} documents in {len(partitions)} partitions; {len(partitions) - len(todo)} already done; "
          f"{'local nlp.pipe' if dask is None else f'Dask ({dask}, {workers} workers)' if dask == 'local' else f'Dask ({dask})'}; "
          f"{threads} torch threads per process", file=sys.stderr)
    progress = Progress(len(records), skipped_docs)
    start = time.perf_counter()
    run_partitions(partitions, todo, model, code, batch_size, threads, inference, parts_dir, progress, dask, workers,
                   threshold)
    seconds = time.perf_counter() - start
    progress.update(0, force=True)
    n_out = merge(records, len(partitions), parts_dir, output)
    for leftover in parts_dir.glob("*.tmp"):  # written by a worker that died
        leftover.unlink()
    if docbin is not None:
        write_docbin(output, docbin, lang)
    processed = len(records) - skipped_docs
    return {"documents_in": len(records), "documents_out": n_out, "resumed_documents": skipped_docs,
            "left_out_files": left_out,
            "processed_documents": processed, "seconds": round(seconds, 2),
            "docs_per_second": round(processed / seconds, 2) if seconds > 0 and processed else None}
