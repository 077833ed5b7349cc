"""A component that takes a little time per document, so a test can act
while a batch job is still running (imported on Dask workers via --code)."""
import time

from spacy.language import Language


@Language.component("test_slow")
def slow(doc):
    time.sleep(0.02)
    return doc
