"""attribute_spans' parts: the candidate suggester, the token vectors (its
own CNN beside a listener on the pipeline's transformer) and the span model
that predicts in chunks what it would predict at once; trained on a
transformer pipeline, add-context links it to that pipeline's transformer and
refuses a pipeline with other transformer weights."""
import random

import numpy
import pytest
import spacy
from conftest import ROOT, attribute_gold_doc as gold_doc
from spacy.tokens import DocBin, Span
from spacy.util import registry

from med_ner.components import clinical_context
from med_ner.components.attribute_spans import candidate_spans, document_groups
from med_ner.packaging.add_context import add_context
from med_ner.training.train import TrainingError, train



def texts(doc, spans):
    return {doc[s:e].text for s, e in spans.tolist()}


def test_candidates_skip_punctuation_edges_and_long_spans_without_a_digit():
    nlp = spacy.blank("en")
    doc = nlp("Hemoglobin was 7.2 g/dL , severe pain in the left lower chest wall ; amoxicillin 500 mg p.o. daily")
    found = texts(doc, candidate_spans(doc, max_size=8, max_size_without_digit=4))
    assert {"7.2 g/dL", "severe", "500 mg p.o.", "p.o. daily"} <= found
    assert not any(t.startswith((",", ";")) or t.endswith((",", ";")) for t in found)
    # Five tokens or more only with a digit.
    assert "in the left lower chest" not in found and "was 7.2 g/dL , severe" in found
    assert "pain in the left" in found
    plain = nlp("severe pain in the left lower chest wall radiating to the back")
    spans = candidate_spans(plain, 8, 4)
    assert (spans[:, 1] - spans[:, 0]).max() == 4 and len(spans) == sum(len(plain) - n + 1 for n in range(1, 5))


def test_candidates_hold_no_sentence_end_but_may_hold_an_abbreviation_stop():
    nlp = spacy.blank("en")
    doc = nlp("Creatinine was 1.2 mg/dL . Sodium 140 mmol/L ! Potassium 4.1 ? He took 5 mg p.o. daily")
    found = texts(doc, candidate_spans(doc, 8, 4))
    assert {"1.2 mg/dL", "Sodium 140 mmol/L", "5 mg p.o. daily", "5 mg p.o."} <= found
    stops = {i for i, t in enumerate(doc) if t.text in {".", "!", "?"} and doc[i - 1].text != "p.o"}
    assert len(stops) == 3
    spans = candidate_spans(doc, 8, 4).tolist()
    assert spans and not any(start < i < end - 1 or (i == end - 1 and end - start > 1)
                             for start, end in spans for i in stops)


def test_candidates_keep_signs_and_brackets_of_values():
    nlp = spacy.blank("en")
    doc = nlp("ANA (-) , CRP <5 mg/L (normal)")
    found = texts(doc, candidate_spans(doc, 8, 4))
    assert {"-", "(-)", "<5 mg/L", "(normal)"} <= found


def test_candidates_do_not_start_or_end_on_edge_words():
    nlp = spacy.blank("en")
    doc = nlp("The dose was 500 mg of amoxicillin")
    everything = texts(doc, candidate_spans(doc, 8, 4))
    found = texts(doc, candidate_spans(doc, 8, 4, edge_words={"the", "was", "of"}))
    assert {"was 500 mg", "500 mg of", "The dose"} <= everything
    assert {"500 mg", "dose was 500 mg", "500 mg of amoxicillin", "dose"} <= found
    assert not any(t.split()[0].lower() in {"the", "was", "of"} or t.split()[-1] in {"the", "was", "of"}
                   for t in found)
    suggest = registry.misc.get("en_med_ner.attribute_candidates.v1")(edge_words=["The", "WAS", "of"])
    assert texts(doc, numpy.asarray(suggest([doc]).dataXd)) == found


def test_suggester_returns_ragged_offsets_per_doc():
    nlp = spacy.blank("en")
    suggest = registry.misc.get("en_med_ner.attribute_candidates.v1")(max_size=3, max_size_without_digit=2)
    docs = [nlp("severe pain"), nlp(""), nlp("dose 5 mg daily")]
    out = suggest(docs)
    assert out.lengths.tolist() == [3, 0, 9]
    assert numpy.asarray(out.dataXd).shape == (12, 2)
    with pytest.raises(ValueError):
        registry.misc.get("en_med_ner.attribute_candidates.v1")(max_size=3, max_size_without_digit=4)


def test_token_vectors_are_the_cnn_beside_the_projected_context():
    nlp = spacy.blank("en")
    build = registry.architectures.get("en_med_ner.AttributeTok2Vec.v1")
    tok2vec = registry.architectures.get("spacy.HashEmbedCNN.v2")
    model = build(tok2vec(width=16, depth=1, embed_size=100, window_size=1, maxout_pieces=2, subword_features=True,
                          pretrained_vectors=None),
                  tok2vec(width=24, depth=1, embed_size=100, window_size=1, maxout_pieces=2, subword_features=True,
                          pretrained_vectors=None), context_width=8)
    docs = [nlp("severe chest pain"), nlp("7 mg")]
    model.initialize(X=docs)
    assert [x.shape for x in model.predict(docs)] == [(3, 24), (2, 24)]


def test_document_groups_hold_up_to_the_token_budget_and_a_long_document_alone():
    assert list(document_groups([3, 4, 0, 2, 9, 1, 1], 6)) == [(0, 1), (1, 4), (4, 5), (5, 7)]
    assert list(document_groups([], 6)) == []
    assert list(document_groups([0, 0], 1)) == [(0, 2)]


def span_categorizer(**sizes):
    build = registry.architectures.get("en_med_ner.AttributeSpanCategorizer.v1")
    tok2vec = registry.architectures.get("spacy.HashEmbedCNN.v2")(
        width=16, depth=2, embed_size=100, window_size=1, maxout_pieces=2, subword_features=True,
        pretrained_vectors=None)
    reducer = registry.layers.get("spacy.mean_max_reducer.v1")(hidden_size=12)
    scorer = registry.layers.get("Softmax.v2")(nO=4)
    return build(tok2vec, reducer, scorer, **sizes)


def test_span_categorizer_predicts_in_chunks_what_it_predicts_at_once():
    nlp = spacy.blank("en")
    suggest = registry.misc.get("en_med_ner.attribute_candidates.v1")(max_size=4, max_size_without_digit=2)
    texts = ["Hemoglobin was 7.2 g/dL , severe pain", "", "amoxicillin 500 mg p.o. daily for 7 days", "ok",
             "CRP <5 mg/L (normal) and ANA (-) on day 3"]
    docs = [nlp(text) for text in texts]
    model = span_categorizer(group_tokens=5, chunk_spans=3)
    model.initialize(X=(docs, suggest(docs)))
    spancat = model.layers[0]  # spaCy's SpanCategorizer.v1, the whole batch at once
    assert model.predict((docs[1:2], suggest(docs[1:2]))).shape == (0, 4)  # no candidates
    for batch in (docs, docs[1:3], docs[3:], docs[::-1]):
        indices = suggest(batch)
        chunked, at_once = model.predict((batch, indices)), spancat.predict((batch, indices))
        assert chunked.shape == at_once.shape == (int(indices.lengths.sum()), 4)
        numpy.testing.assert_allclose(chunked, at_once, rtol=1e-5, atol=1e-6)
    # Training goes through spaCy's model unchanged.
    indices = suggest(docs)
    scores, backprop = model.begin_update((docs, indices))
    assert scores.shape == (int(indices.lengths.sum()), 4)
    backprop(model.ops.alloc2f(*scores.shape))
    with pytest.raises(ValueError):
        span_categorizer(group_tokens=0)


def write_attribute_corpus(tmp_path, nlp):
    rng = random.Random(0)
    for name, n in (("train", 30), ("dev", 6)):
        DocBin(docs=[gold_doc(nlp, rng) for _ in range(n)], store_user_data=True).to_disk(tmp_path / f"{name}.spacy")


def train_attributes(tmp_path, pipeline, out):
    train(ROOT / "configs" / "attributes.cfg", out,
          {"paths.train": str(tmp_path / "train.spacy"), "paths.dev": str(tmp_path / "dev.spacy"),
           "paths.release_model": str(pipeline), "training.max_steps": 6, "training.eval_frequency": 3},
          say=lambda line: None)
    return out / "model-last"


def test_attribute_spans_listen_to_the_pipeline_they_are_added_to(tmp_path, tiny_trained_pipeline):
    nlp = spacy.load(tiny_trained_pipeline)
    write_attribute_corpus(tmp_path, nlp)
    attributes = train_attributes(tmp_path, tiny_trained_pipeline, tmp_path / "attributes")
    trained = spacy.load(attributes)
    assert trained.pipe_names == ["transformer", "ner", "attribute_spans"]
    assert set(trained.get_pipe("transformer").listening_components) == {"ner", "attribute_spans"}
    # The span scorer reads the entity labels on the doc: the same text scores otherwise with other entities.
    spans = trained.get_pipe("attribute_spans")
    with trained.select_pipes(enable=["transformer"]):
        doc = trained("cough and severe chest pain , hemoglobin 7 mg .")
    doc.ents = [Span(doc, 3, 5, label="SYMPTOM"), Span(doc, 6, 7, label="TEST")]
    other = doc.copy()
    other.ents = []
    assert not numpy.allclose(spans.predict([doc])[1], spans.predict([other])[1])

    add_context(str(tiny_trained_pipeline), tmp_path / "train.spacy", tmp_path / "final",
                clinical_context.default_triggers("en"), 8, True, attributes=str(attributes))
    final = spacy.load(tmp_path / "final")
    assert final.pipe_names.count("transformer") == 1
    assert set(final.get_pipe("transformer").listening_components) == {"ner", "attribute_spans"}
    doc = final("cough and severe chest pain , hemoglobin 7 mg .")
    assert isinstance(list(doc.spans["attributes"]), list)  # predicted from the final pipeline's transformer

    # The same attributes on a pipeline whose transformer has other weights: refused, nothing written.
    other = spacy.load(tiny_trained_pipeline)
    for param in (p for node in other.get_pipe("transformer").model.walk() for s in node.shims
                  for p in s._model.parameters()):
        param.data.add_(0.01)
        break
    other.to_disk(tmp_path / "other")
    with pytest.raises(ValueError, match="listens to a transformer other than this pipeline's"):
        add_context(str(tmp_path / "other"), tmp_path / "train.spacy", tmp_path / "refused",
                    clinical_context.default_triggers("en"), 8, True, attributes=str(attributes))
    assert not (tmp_path / "refused").exists()


def test_attributes_config_without_its_entity_pipeline_is_a_clear_error(tmp_path):
    nlp = spacy.blank("en")
    write_attribute_corpus(tmp_path, nlp)
    with pytest.raises(TrainingError, match="release_model"):
        train(ROOT / "configs" / "attributes.cfg", tmp_path / "out",
              {"paths.train": str(tmp_path / "train.spacy"), "paths.dev": str(tmp_path / "dev.spacy")},
              say=lambda line: None)


def test_release_trains_attribute_spans_on_its_own_entity_pipeline():
    from weasel.util import load_project_config

    project = load_project_config(ROOT)
    steps = project["workflows"]["all-with-attributes"]
    assert steps.index("train") < steps.index("attributes") < steps.index("context")
    commands = {c["name"]: c for c in project["commands"]}
    assert "all-with-attributes" in commands["release"]["script"][0]
    assert "--vars.attributes_model training/release/attributes/model-best" in commands["release"]["script"][0]
    train_line = commands["attributes"]["script"][-1]
    assert "--paths.release_model training/sample/model-best" in train_line
    assert "--output training/sample/attributes" in train_line
