"""med_ner: the library behind the en_med_ner pipeline.

Subpackages, one concept each:
- `med_ner.corpus`: readers that turn BRAT, CoNLL/IOB and JSONL annotations into DocBins with reports;
- `med_ner.pipeline`: the registered pipeline parts (transformer, optimizer, training logger, clinical_context);
- `med_ner.metrics`: scoring a pipeline on a DocBin;
- `med_ner.packaging`: the wheel's meta and the check of the installed wheel;
- `med_ner.cli`: the `med-ner` command (also `python -m med_ner`), thin wrappers over the above.
"""
__version__ = "0.1.0"
