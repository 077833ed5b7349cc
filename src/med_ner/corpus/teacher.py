"""Silver labels from a teacher: a pipeline trained on fully annotated corpora
labels what a partially annotated corpus leaves out.

`teacher_fill` runs the teacher over one corpus's split and keeps, in
doc.spans[TEACHER_SPANS_KEY], the predictions whose label the corpus does not
annotate (BC5CDR annotates no BODY_PART, so the teacher's BODY_PART mentions
there are kept; its DRUG mentions are not, since BC5CDR's own "no DRUG" is
gold) and that overlap no gold entity. The gold entities stay untouched in
doc.ents: silver and gold are kept apart. The mix reader adds the silver spans
as entities only when its config names the span key (`silver_spans_key`), and
only in training; dev and test are scored on gold alone.
"""
from collections import Counter
from pathlib import Path
from typing import Dict, Iterable, List, Tuple

from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span

from med_ner.training.harmonise import CorpusLabels, silver_rejection

TEACHER_SPANS_KEY = "teacher"


class TeacherError(ValueError):
    pass


def check_teacher(nlp: Language, release_labels: List[str]) -> List[str]:
    """The teacher's NER labels, which must all be release labels."""
    if "ner" not in nlp.pipe_names:
        raise TeacherError(f"the teacher has no 'ner' component (it has {', '.join(nlp.pipe_names) or 'none'})")
    labels = list(nlp.get_pipe("ner").labels)
    stray = sorted(set(labels) - set(release_labels))
    if stray:
        raise TeacherError(f"the teacher predicts {stray}, which are not release labels ({', '.join(release_labels)})")
    return labels


def silver_spans(gold: Doc, predicted: Doc, annotates: Iterable[str]) -> Tuple[List[Span], Counter]:
    """The predicted entities to keep as silver on `gold` (same tokens), and a
    count of what was kept or dropped and why."""
    annotated = set(annotates)
    taken = {i for ent in gold.ents for i in range(ent.start, ent.end)}
    kept, tally = [], Counter()
    for ent in predicted.ents:
        reason = silver_rejection(ent, taken, annotated)
        if reason:
            tally[f"dropped, {reason}: {ent.label_}"] += 1
        else:
            kept.append(Span(gold, ent.start, ent.end, label=ent.label_))
            tally[f"kept: {ent.label_}"] += 1
    return kept, tally


def _words_doc(nlp: Language, doc: Doc) -> Doc:
    return Doc(nlp.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc])


def teacher_fill(nlp: Language, source: Path, output: Path, labels: CorpusLabels, batch_size: int = 16) -> Dict:
    """Write `source` (a DocBin) to `output` with the teacher's silver spans
    added; return the report. The gold entities are copied unchanged."""
    check_teacher(nlp, labels.release_labels)
    if not labels.partial:
        raise TeacherError(f"corpus {labels.name!r} annotates every release label: a teacher has nothing to fill")
    gold_docs = list(DocBin(store_user_data=True).from_disk(source).get_docs(nlp.vocab))
    out = DocBin(store_user_data=True)
    tally: Counter = Counter()
    words = 0
    predicted = nlp.pipe((_words_doc(nlp, doc) for doc in gold_docs), batch_size=batch_size)
    for gold, pred in zip(gold_docs, predicted):
        spans, counts = silver_spans(gold, pred, labels.annotates)
        gold.spans[TEACHER_SPANS_KEY] = spans
        tally.update(counts)
        words += len(gold)
        out.add(gold)
    output.parent.mkdir(parents=True, exist_ok=True)
    out.to_disk(output)
    kept = Counter({key.split(": ", 1)[1]: n for key, n in tally.items() if key.startswith("kept")})
    return {
        "corpus": labels.name,
        "source": str(source),
        "output": str(output),
        "documents": len(gold_docs),
        "words": words,
        "gold_entities": sum(len(doc.ents) for doc in gold_docs),
        "annotates": list(labels.annotates),
        "filled_labels": [lab for lab in labels.release_labels if lab not in labels.annotates],
        "silver_kept": dict(sorted(kept.items())),
        "silver_kept_total": sum(kept.values()),
        "teacher_predictions": dict(sorted(tally.items())),
        "span_key": TEACHER_SPANS_KEY,
    }
