"""`release_trf_data`: a last pipeline component that drops the transformer's
output from each Doc once the components that listen to it have run.

spacy-transformers' set_annotations keeps the transformer's output on every
Doc (doc._.trf_data): the hidden states of all the Doc's windows, as a view of
the whole batch's array, about 1 MB per 10-sentence BC5CDR document with
MiniLM. A caller that keeps the Docs (docs = list(nlp.pipe(texts))) keeps all
of them; the entities, negation flags and everything else on the Doc stay.
"""
from spacy.language import Language


@Language.factory("release_trf_data", assigns=["doc._.trf_data"])
def make_release_trf_data(nlp: Language, name: str):
    return release_trf_data


def release_trf_data(doc):
    if doc.has_extension("trf_data"):
        doc._.trf_data = None
    return doc
