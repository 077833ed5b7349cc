"""The cost of entity_confidence (or of any components named): words/s of one
pipeline with and without them, in one process, on the same texts, with the
same runtime.

The pipeline is loaded once; "without" runs it with entity_confidence disabled
(nlp.select_pipes), so both rows share the loaded runtime and the weights. Passes
alternate (without, with, then with, without, ...) for `rounds` rounds after an
untimed warm-up pass of each, so a slower spell of the machine falls on both; a
row's words/s is its fastest pass. Beside the speed, each row counts the
transformer model's forward runs per pass (the replay reads the transformer output
already on the docs, so the count is the same with and without) and the seconds
spent in entity_confidence's replay and annotation.
"""
import time
from pathlib import Path
from typing import Dict, List, Optional

ROWS = ("without", "with")
COMPONENT = "entity_confidence"


class ConfidenceBenchmarkError(Exception):
    """A pipeline or option that cannot be measured."""


class CallCounter:
    """Wraps a bound method: calls and seconds inside it."""

    def __init__(self, method):
        self.method = method
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self.method(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start
            self.calls += 1

    def reset(self) -> None:
        self.calls, self.seconds = 0, 0.0


def load(model: str, option: str, components=(COMPONENT,)):
    import spacy

    from bench.inference import OPTIONS
    from med_ner.inference.loading import offline
    from med_ner.inference.memory import no_huge_pages
    from med_ner.inference.transformer import inference_config

    if option not in OPTIONS:
        raise ConfidenceBenchmarkError(f"unknown inference option {option!r}: choose from {', '.join(OPTIONS)}")
    runtime, window, settings, env = OPTIONS[option]
    if env:
        raise ConfidenceBenchmarkError(f"option {option!r} sets the process environment ({env}); in one process "
                                       "it cannot: choose an option without one")
    if not Path(model).exists():
        raise ConfidenceBenchmarkError(f"{model}: not a pipeline directory")
    offline()
    no_huge_pages()  # as med-ner's commands load a pipeline
    nlp = spacy.load(model, config=inference_config(runtime, window, **settings))
    missing = [name for name in components if name not in nlp.pipe_names]
    if missing:
        raise ConfidenceBenchmarkError(f"{model}: the pipeline has no {', '.join(missing)} (entity_confidence: "
                                       "`med-ner calibrate`; attribute_spans, attribute_linker: `med-ner add-context "
                                       "--attributes`)")
    return nlp


def transformer_pipes(nlp) -> List[str]:
    return [name for name in nlp.pipe_names if nlp.get_pipe_meta(name).factory == "transformer"]


def run_pass(nlp, texts: List[str], row: str, batch_size: int, components=(COMPONENT,)) -> List[List]:
    """One pass over the texts; the entities of each doc."""
    if row == "without":
        with nlp.select_pipes(disable=list(components)):
            return [[(e.start_char, e.end_char, e.label_) for e in doc.ents]
                    for doc in nlp.pipe(texts, batch_size=batch_size)]
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts, batch_size=batch_size)]


def compare_confidence(model: str, corpus_dir: Path, output: Path, option: str = "onnx-int8", rounds: int = 5,
                       batch_size: int = 32, split: str = "test", limit: Optional[int] = None,
                       components=(COMPONENT,)) -> Dict:
    """Measure both rows in one process; writes `output` (JSON) and returns it.
    The replay counters and `confidence_share` are kept when entity_confidence is measured."""
    import srsly

    from bench import systems

    if rounds < 1 or batch_size < 1:
        raise ConfidenceBenchmarkError("--rounds and --batch-size must be at least 1")
    path = Path(corpus_dir) / f"{split}.spacy"
    if not path.exists():
        raise ConfidenceBenchmarkError(f"{path} not found: convert the corpus first (med-ner convert corpus)")
    docs = systems.load_docs(path, "en")[:limit]
    if not docs:
        raise ConfidenceBenchmarkError(f"{path}: no documents")
    texts, words = [doc.text for doc in docs], sum(len(doc) for doc in docs)
    components = list(components)
    nlp = load(model, option, components)
    component = nlp.get_pipe(COMPONENT) if COMPONENT in components else None
    counters = {}
    for name in transformer_pipes(nlp):
        # The transformer model's forward function: any run of it counts, from the pipe or from elsewhere.
        trf = nlp.get_pipe(name).model
        counters[name] = trf._func = CallCounter(trf._func)
    replay = annotate = CallCounter(lambda: None)  # nothing to time without entity_confidence
    if component is not None:
        replay = component.raw_scores = CallCounter(component.raw_scores)
        annotate = component.set_annotations = CallCounter(component.set_annotations)

    # warm-up: runtime built, caches filled
    entities = {row: run_pass(nlp, texts, row, batch_size, components) for row in ROWS}
    passes: Dict[str, List[Dict]] = {row: [] for row in ROWS}
    for round_index in range(rounds):
        for row in (ROWS if round_index % 2 == 0 else ROWS[::-1]):
            for counter in (*counters.values(), replay, annotate):
                counter.reset()
            start = time.perf_counter()
            run_pass(nlp, texts, row, batch_size, components)
            seconds = time.perf_counter() - start
            passes[row].append({"round": round_index + 1, "seconds": round(seconds, 4),
                                "words_per_second": round(words / seconds, 1),
                                "transformer_calls": sum(c.calls for c in counters.values()),
                                "confidence_seconds": round(replay.seconds + annotate.seconds, 4)})
    rows = []
    for row in ROWS:
        best = max(passes[row], key=lambda p: p["words_per_second"])
        rows.append({"row": row, "words_per_second": best["words_per_second"],
                     "words_per_second_by_round": [p["words_per_second"] for p in passes[row]],
                     "transformer_calls_per_pass": sorted({p["transformer_calls"] for p in passes[row]}),
                     "confidence_seconds_per_pass": min(p["confidence_seconds"] for p in passes[row]),
                     "entities": sum(len(e) for e in entities[row])})
    without, with_ = rows
    result = {
        "model": str(model), "corpus_dir": str(corpus_dir), "split": split, "documents": len(texts), "words": words,
        "option": option, "rounds": rounds, "batch_size": batch_size, "machine": systems.machine(),
        "components": components,
        "threshold": component.threshold if component else None,
        "calibration": component.calibrator.method if component else None,
        "rows": rows, "passes": passes,
        "cost": round(1 - with_["words_per_second"] / without["words_per_second"], 4),
        # Steadier than the difference of two speeds on a busy machine: the component's share of its passes.
        "confidence_share": round(sum(p["confidence_seconds"] for p in passes["with"])
                                  / sum(p["seconds"] for p in passes["with"]), 4),
        "same_transformer_calls": without["transformer_calls_per_pass"] == with_["transformer_calls_per_pass"],
        # At threshold 0 the component only adds confidences: the entities must be the same.
        "same_entities": entities["without"] == entities["with"] if not component or component.threshold == 0 else None,
        "replay_mismatches": component.replay_mismatches if component else None,
        "order": "one process, one load; passes alternate between the rows after an untimed warm-up of each",
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, result)
    return result


def huge_pages(machine: Dict) -> str:
    """The NumPy huge-page setting, for records that have it (med_ner.inference.memory.no_huge_pages)."""
    if "numpy_huge_pages" not in machine:
        return ""
    return ", NumPy huge pages " + ("on" if machine["numpy_huge_pages"] else "off")


def markdown_table(result: Dict) -> str:
    m = result["machine"]
    names = ", ".join(result.get("components") or [COMPONENT])
    if names != COMPONENT:
        return components_table(result, names)
    lines = [f"entity_confidence cost on `{result['model']}`, {result['split']} split of `{result['corpus_dir']}` "
             f"({result['documents']} documents, {result['words']} words), option {result['option']}, batch "
             f"{result['batch_size']} texts, {result['rounds']} alternating rounds in one process, "
             f"{m['cpu_count']} CPUs, {m['torch_threads']} torch threads{huge_pages(m)}. Words/s: the fastest "
             "pass.", "",
             "| pipeline | words/s | words/s by round | transformer calls per pass | entity_confidence s per pass "
             "| entities |",
             "| --- | ---: | --- | ---: | ---: | ---: |"]
    for r in result["rows"]:
        rounds = ", ".join(f"{w:,.0f}" for w in r["words_per_second_by_round"])
        calls = ", ".join(str(c) for c in r["transformer_calls_per_pass"])
        lines.append(f"| {r['row']} entity_confidence | {r['words_per_second']:,.0f} | {rounds} | {calls} | "
                     f"{r['confidence_seconds_per_pass']:.3f} | {r['entities']} |")
    change = "below" if result["cost"] >= 0 else "above (within the noise)"
    lines += ["", f"Cost: words/s with entity_confidence {abs(result['cost']) * 100:.1f}% {change} those without; "
              f"entity_confidence takes {result['confidence_share'] * 100:.1f}% of the time of the passes with it "
              f"(threshold {result['threshold']}, {result['calibration']} calibration). Same transformer calls with and "
              f"without: {'yes' if result['same_transformer_calls'] else 'NO'}. Replayed ner actions that differ "
              f"from the ner's: {result['replay_mismatches']}."]
    return "\n".join(lines) + "\n"


def components_table(result: Dict, names: str) -> str:
    m = result["machine"]
    lines = [f"Cost of {names} on `{result['model']}`, {result['split']} split of `{result['corpus_dir']}` "
             f"({result['documents']} documents, {result['words']} words), option {result['option']}, batch "
             f"{result['batch_size']} texts, {result['rounds']} alternating rounds in one process, "
             f"{m['cpu_count']} CPUs, {m['torch_threads']} torch threads{huge_pages(m)}. Words/s: the fastest "
             "pass.", "",
             "| pipeline | words/s | words/s by round | entities |", "| --- | ---: | --- | ---: |"]
    for r in result["rows"]:
        rounds = ", ".join(f"{w:,.0f}" for w in r["words_per_second_by_round"])
        lines.append(f"| {r['row']} {names} | {r['words_per_second']:,.0f} | {rounds} | {r['entities']} |")
    change = "below" if result["cost"] >= 0 else "above (within the noise)"
    lines += ["", f"Cost: words/s with {names} {abs(result['cost']) * 100:.1f}% {change} those without. Same "
              f"entities with and without: {'yes' if result['same_entities'] else 'NO'}."]
    return "\n".join(lines) + "\n"
