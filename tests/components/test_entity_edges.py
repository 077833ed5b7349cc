"""split_tokens and trim_entities: no entity starts or ends on whitespace or an
invisible character, and an over-long token cannot cut off the text after it
(it made the transformer fail or truncate its window)."""
import pytest
import spacy
from spacy.tokens import DocBin, Span

from med_ner.components import clinical_context
from med_ner.components.entity_edges import add_edge_components, invisible, pieces, trim_entities
from med_ner.packaging.add_context import add_context

INVISIBLE = ["\u200d", "\ufe0f", "\u200b", "\ufeff", "\u00ad", "\u2060", "\u00a0", "\u3000", "\u034f", "\U000e0101"]
# 3,000 characters spaCy keeps as one token and a BERT tokenizer reads as 3,000 pieces.
LONG = "ab." * 1000
AFTER = " fever , chest pain and cough ."


@pytest.mark.parametrize("char", INVISIBLE)
def test_invisible_characters(char):
    assert invisible(char)


@pytest.mark.parametrize("char", ["a", "é", "\u2764", "\U0001f468", "-", "."])
def test_visible_characters(char):
    assert not invisible(char)


def test_pieces():
    assert pieces("\u200bfever\ufe0f", 100, 3) == ["\u200b", "fever", "\ufe0f"]
    assert pieces("abcdefg", 5, 3) == ["abc", "def", "g"]
    assert pieces("\u200d\u200d", 5, 3) == ["\u200d\u200d"]
    assert pieces("fever", 5, 3) == ["fever"]


def edges(doc):
    return [(ent.text[0], ent.text[-1]) for ent in doc.ents]


def ruler(with_edges: bool):
    """An entity_ruler whose patterns take in invisible tokens at either edge, as a model may."""
    nlp = spacy.blank("en")
    blank = {"TEXT": {"REGEX": r"^[\s\u200b-\u200d\ufe0f\ufeff\u00ad]+$"}}
    nlp.add_pipe("entity_ruler").add_patterns([
        {"label": "SYMPTOM", "pattern": [blank, {"LOWER": "fever"}]},
        {"label": "SYMPTOM", "pattern": [{"LOWER": "chest"}, {"LOWER": "pain"}, blank]},
        {"label": "SYMPTOM", "pattern": [blank, blank]},
    ])
    if with_edges:
        add_edge_components(nlp)
    return nlp


HOSTILE = ["Pain 👨\u200d⚕️ and \u200bfever today.", "Chest pain\ufe0f and \ufefffever.", "chest pain \u00a0 then",
           "x \u200b\u200c \u200d y"]


def test_without_the_components_entities_end_on_invisible_characters():
    # What the ner and ruler gave before: the fixture below would be pointless if this passed.
    docs = list(ruler(False).pipe(HOSTILE))
    assert any(invisible(a) or invisible(b) for doc in docs for a, b in edges(doc))


def test_entities_never_start_or_end_on_invisible_characters():
    nlp = ruler(True)
    assert nlp.pipe_names == ["split_tokens", "entity_ruler", "trim_entities"]
    docs = list(nlp.pipe(HOSTILE))
    for text, doc in zip(HOSTILE, docs):
        assert doc.text == text
        for a, b in edges(doc):
            assert not invisible(a) and not invisible(b), (text, edges(doc))
    assert [e.text for e in docs[0].ents] == ["fever"]
    assert [e.text for e in docs[1].ents] == ["Chest pain", "fever"]
    assert [(e.start_char, e.end_char) for e in docs[2].ents] == [(0, 10)]
    assert not docs[3].ents  # an entity of invisible characters only is dropped


def test_confidence_and_candidates_follow_the_trimmed_entity():
    from spacy.tokens import Span, SpanGroup

    from med_ner.components.entity_confidence import CANDIDATES_KEY
    from med_ner.components.entity_edges import trim_entities

    nlp = spacy.blank("en")
    nlp.add_pipe("split_tokens")
    doc = nlp("No \u200bfever here")
    ent = Span(doc, 1, 3, label="SYMPTOM")
    ent._.confidence = 0.8
    doc.ents = [ent]
    doc.spans[CANDIDATES_KEY] = SpanGroup(doc, spans=[Span(doc, 1, 3, label="DISEASE"), Span(doc, 1, 2, label="X")],
                                          attrs={"scores": [0.1, 0.2]})
    trim_entities(doc)
    assert [(e.text, e.label_, e._.confidence) for e in doc.ents] == [("fever", "SYMPTOM", 0.8)]
    group = doc.spans[CANDIDATES_KEY]
    assert [(s.text, s.label_) for s in group] == [("fever", "DISEASE")] and group.attrs["scores"] == [0.1]


def windows(doc):
    return [len(ids) for ids in doc._.trf_data.wordpieces.input_ids]


def test_an_over_long_token_does_not_cut_off_the_text_after_it(tiny_trained_pipeline):
    nlp = spacy.load(tiny_trained_pipeline)
    with pytest.raises(RuntimeError, match="512"):  # the 3,000 pieces overflow BERT's positions
        nlp(LONG + AFTER)
    add_edge_components(nlp)
    assert nlp.pipe_names == ["split_tokens", "transformer", "ner", "trim_entities"]
    doc = nlp(LONG + AFTER)
    assert doc.text == LONG + AFTER and max(len(token) for token in doc if token.idx < len(LONG)) == 3
    assert max(windows(doc)) <= 512
    tail = doc[-7:]
    assert [t.text for t in tail] == ["fever", ",", "chest", "pain", "and", "cough", "."]
    # Every token after the long one has transformer pieces (none was cut off).
    assert all(len(doc._.trf_data.align[t.i].data) for t in tail)
    # No entity runs from the long token into the text after it.
    [[long_start, long_end]] = doc.user_data["split_tokens"]
    assert long_start == 0 and long_end >= len(LONG) - 1
    assert not [ent for ent in doc.ents if ent.start_char < long_end < ent.end_char]


def test_an_entity_crossing_a_split_token_keeps_its_longest_part_outside_it():
    nlp = spacy.blank("en")
    nlp.add_pipe("split_tokens", config={"max_chars": 10, "piece_chars": 3})
    doc = nlp("x " + "q" * 12 + " chest pain")
    assert [t.text for t in doc] == ["x", "qqq", "qqq", "qqq", "qqq", "chest", "pain"]
    assert doc.user_data["split_tokens"] == [[2, 14]]
    doc.ents = [Span(doc, 0, 7, label="SYMPTOM"), ]
    doc.ents[0]._.confidence = 0.4
    trim_entities(doc)
    assert [(e.text, e.label_, e._.confidence) for e in doc.ents] == [("chest pain", "SYMPTOM", 0.4)]
    doc.ents = [Span(doc, 2, 4, label="DRUG")]  # inside the split token only: left as it is
    trim_entities(doc)
    assert [e.text for e in doc.ents] == ["qqqqqq"]


def test_add_context_saves_the_components_in_the_pipeline(tmp_path):
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "SYMPTOM", "pattern": "fever"}])
    nlp.to_disk(tmp_path / "ruler")
    DocBin(docs=[nlp("No fever.")]).to_disk(tmp_path / "train.spacy")
    add_context(str(tmp_path / "ruler"), tmp_path / "train.spacy", tmp_path / "final", clinical_context.default_triggers("en"),
                8, False)
    config = (tmp_path / "final" / "config.cfg").read_text()
    assert "[components.split_tokens]" in config and "max_chars = 100" in config
    final = spacy.load(tmp_path / "final")
    assert final.pipe_names == ["split_tokens", "entity_ruler", "trim_entities", "clinical_context"]
    doc = final("She denies \u200bfever.")
    assert [(e.text, e._.is_negated) for e in doc.ents] == [("fever", True)]
    # Run again on its own output: the components stay once each.
    add_context(str(tmp_path / "final"), tmp_path / "train.spacy", tmp_path / "again",
                clinical_context.default_triggers("en"), 8, False)
    assert spacy.load(tmp_path / "again").pipe_names == final.pipe_names
