"""Negation and uncertainty side by side: en_med_ner's clinical_context, negspacy
(NegEx, en_clinical termset) and medspaCy's ConText (default rules), on the
same test documents with the same sentence boundaries.

Two settings:
- gold: every system flags the gold entities;
- end to end: the pipeline finds the entities; negspacy and medspaCy flag
  those same predicted entities, so the rows differ only in the context step.
  A flagged entity counts when its span and label match a gold entity.

Writes JSON and a markdown table; negspacy has no uncertainty (n/a).
"""
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from med_ner.corpus.reading import split_lines


Key = Tuple[int, int, str]
FLAGS = ("negated", "uncertain")


def prf(gold: set, predicted: set) -> Dict[str, float]:
    from spacy.scorer import PRFScore

    score = PRFScore(tp=len(gold & predicted), fp=len(predicted - gold), fn=len(gold - predicted))
    return {"p": score.precision, "r": score.recall, "f": score.fscore, "tp": score.tp, "fp": score.fp, "fn": score.fn}


def bootstrap_f1(gold: set, predicted: set, n_docs: int) -> List[float]:
    """95% interval of F1 over resampled documents (keys start with the doc index)."""
    import numpy

    from med_ner.evaluation.metrics import bootstrap_f1 as bootstrap

    counts = numpy.zeros((n_docs, 3))
    for column, keys in enumerate((gold & predicted, predicted - gold, gold - predicted)):
        for key in keys:
            counts[key[0], column] += 1
    return [round(x, 3) for x in bootstrap(counts)]


def with_sentences(doc, vocab, ents):
    """A copy of `doc` over `vocab` with the given entities and the sentence
    boundaries clinical_context would use, so all systems see the same ones."""
    from spacy.tokens import Doc, Span

    from med_ner.components.clinical_context import sentence_ids

    sent_of = sentence_ids(doc)
    starts = [bool(i == 0 or sent_of[i] != sent_of[i - 1]) for i in range(len(doc))]
    copy = Doc(vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc], sent_starts=starts)
    copy.ents = [Span(copy, e.start, e.end, label=e.label_) for e in ents]
    return copy


def flagged(doc_index: int, doc, flags: List[Tuple[bool, bool]]) -> Dict[str, set]:
    out = {flag: set() for flag in FLAGS}
    for ent, values in zip(doc.ents, flags):
        for flag, on in zip(FLAGS, values):
            if on:
                out[flag].add((doc_index, ent.start_char, ent.end_char, ent.label_))
    return out


def run_negspacy(docs) -> List[List[Tuple[bool, bool]]]:
    import spacy
    from negspacy.negation import Negex  # noqa: F401  (registers the negex factory)
    from negspacy.termsets import termset

    nlp = spacy.blank("en")
    negex = nlp.add_pipe("negex", config={"neg_termset": termset("en_clinical").get_patterns()})
    results = []
    for doc in docs:
        copy = with_sentences(doc, nlp.vocab, doc.ents)
        negex(copy)
        results.append([(bool(e._.negex), False) for e in copy.ents])
    return results


def run_medspacy(docs, python: Path) -> List[List[Tuple[bool, bool]]]:
    import spacy

    vocab = spacy.blank("en").vocab
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl"
        with src.open("w", encoding="utf-8") as f:
            for doc in docs:
                copy = with_sentences(doc, vocab, doc.ents)
                f.write(json.dumps({
                    "words": [t.text for t in copy], "spaces": [bool(t.whitespace_) for t in copy],
                    "sent_starts": [int(t.is_sent_start) for t in copy],
                    "ents": [[e.start, e.end, e.label_] for e in copy.ents],
                }) + "\n")
        script = Path(__file__).parent / "medspacy_runner.py"
        proc = subprocess.run([str(python), str(script), str(src), str(out)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"medspaCy run failed ({python}):\n{proc.stderr[-2000:]}")
        results = [[tuple(x) for x in json.loads(line)["flags"]] for line in split_lines(out.read_text(encoding="utf-8"))]
    if len(results) != len(docs):
        raise RuntimeError(f"medspaCy returned {len(results)} documents for {len(docs)}")
    return results


def run_ours(nlp, docs) -> List[List[Tuple[bool, bool]]]:
    component = nlp.get_pipe("clinical_context")
    results = []
    for doc in docs:
        copy = with_sentences(doc, nlp.vocab, doc.ents)
        component.set_flags(copy, copy.ents)
        results.append([(e._.is_negated, e._.is_uncertain) for e in copy.ents])
    return results


def score_setting(gold_docs, flagged_docs, systems: Dict[str, Optional[List]]) -> Dict:
    from med_ner.components.clinical_context import gold_flags

    gold = {flag: set() for flag in FLAGS}
    for i, doc in enumerate(gold_docs):
        for ent in doc.ents:
            for flag in gold_flags(doc, ent):
                gold[flag].add((i, ent.start_char, ent.end_char, ent.label_))
    rows = {}
    for name, results in systems.items():
        if results is None:
            continue
        predicted = {flag: set() for flag in FLAGS}
        for i, (doc, flags) in enumerate(zip(flagged_docs, results)):
            for flag, keys in flagged(i, doc, flags).items():
                predicted[flag] |= keys
        rows[name] = {flag: {**prf(gold[flag], predicted[flag]), "f_ci95": bootstrap_f1(gold[flag], predicted[flag], len(gold_docs))}
                      for flag in FLAGS}
        if name.startswith("negspacy"):
            rows[name]["uncertain"] = None  # NegEx has no uncertainty
    return {"gold_support": {flag: len(gold[flag]) for flag in FLAGS}, "systems": rows}


def markdown(result: Dict) -> str:
    lines = [
        f"Negation and uncertainty on `{result['data']}` ({result['documents']} documents). "
        "Gold `POLARITY` attributes: NEG = negated; UNCERTAIN, MAYBE_NEG, MAYBE_POS = uncertain. "
        "Same sentence boundaries for every system; 95% intervals from 1,000 bootstrap resamples of documents.",
    ]
    for setting, title in (("gold", "Gold entities"), ("end_to_end", "End to end (entities predicted by the NER)")):
        if setting not in result:
            continue
        block = result[setting]
        lines += ["", f"**{title}** — gold negated: {block['gold_support']['negated']}, "
                      f"gold uncertain: {block['gold_support']['uncertain']}"
                      + (f"; predicted entities: {block['predicted_entities']}" if "predicted_entities" in block else ""),
                  "", "| system | neg P | neg R | neg F1 (95% CI) | unc P | unc R | unc F1 (95% CI) |",
                  "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for name, row in block["systems"].items():
            cells = []
            for flag in FLAGS:
                s = row[flag]
                cells += ["n/a"] * 3 if s is None else [
                    f"{s['p']:.3f}", f"{s['r']:.3f}", f"{s['f']:.3f} ({s['f_ci95'][0]:.3f}–{s['f_ci95'][1]:.3f})"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_context_benchmark(nlp, data_path: Path, medspacy_python: Optional[Path], end_to_end: bool) -> Dict:
    """Flags of every system on the gold entities (and, with `end_to_end`, on
    the entities `nlp` predicts), scored against the gold polarity."""
    from spacy.tokens import DocBin

    if "clinical_context" not in nlp.pipe_names:
        raise ValueError("the pipeline has no clinical_context component (run the `context` step)")
    gold_docs = list(DocBin().from_disk(data_path).get_docs(nlp.vocab))
    if not any("ent_attrs" in d.user_data for d in gold_docs):
        raise ValueError(f"{data_path} has no polarity annotation (BRAT POLARITY attributes)")
    result: Dict = {"data": str(data_path), "documents": len(gold_docs), "seconds": {}}

    def systems_on(docs, setting):
        out = {}
        for name, run in (("en_med_ner clinical_context", lambda: run_ours(nlp, docs)),
                          ("negspacy 1.1.0 (en_clinical)", lambda: run_negspacy(docs)),
                          ("medspaCy 1.3.1 ConText", (lambda: run_medspacy(docs, medspacy_python)) if medspacy_python else None)):
            if run is None:
                continue
            start = time.perf_counter()
            out[name] = run()
            result["seconds"][f"{setting}/{name}"] = round(time.perf_counter() - start, 2)
        return out

    result["gold"] = score_setting(gold_docs, gold_docs, systems_on(gold_docs, "gold"))
    if end_to_end:
        predicted = list(nlp.pipe(d.text for d in gold_docs))
        block = score_setting(gold_docs, predicted, systems_on(predicted, "end_to_end"))
        block["predicted_entities"] = sum(len(d.ents) for d in predicted)
        result["end_to_end"] = block
    return result
