"""Issue 37, property tests: JSON with repeated keys or deep nesting through
the real readers (convert jsonl, annotate's input, label maps) is an error
naming the file and line, never a traceback; corpus-table option values are
checked by value, an invalid one named with its entry and option."""
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from med_ner.corpus.conversion import LabelMap
from med_ner.corpus.corpora import CorpusTable
from med_ner.corpus.jsonl import convert_jsonl
from med_ner.corpus.reading import ConversionError
from med_ner.prediction.annotate import InputError, read_records

PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
keys = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5))


def obj(pairs) -> str:
    """An object written as given: keys may repeat."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


@st.composite
def repeated_key_record(draw):
    """A record with a key given twice: at the top, or inside a span object."""
    key = draw(keys)
    first, second = (json.dumps(draw(scalars)) for _ in range(2))
    pairs = [(key, first), (key, second)]
    others = draw(st.lists(st.tuples(keys.filter(lambda k: k != key), scalars.map(json.dumps)), max_size=3,
                           unique_by=lambda p: p[0]))
    pairs[1:1] = others
    if draw(st.booleans()):
        return obj([("text", '"fever"'), ("spans", "[" + obj(pairs) + "]")])
    return obj(pairs)


@st.composite
def deep_value(draw):
    """Far more levels of [ and {"k": than the parser goes (hypothesis itself
    raises the recursion limit by some thousands), closed or not, maybe inside a record."""
    depth = draw(st.integers(6_000, 60_000))
    opener = draw(st.sampled_from(["[", '{"k": ', "mixed"]))
    levels = "".join(("[" if i % 2 else '{"k": ') for i in range(depth)) if opener == "mixed" else opener * depth
    closers = "".join("]" if c == "[" else "}" for c in levels if c in "[{")[::-1] if draw(st.booleans()) else ""
    value = levels + "0" + closers
    return '{"text": "fever", "meta": ' + value + "}" if draw(st.booleans()) else value


@st.composite
def jsonl_with_bad_line(draw, bad):
    """Valid records around one bad line; returns the text and the bad line's number."""
    before = draw(st.integers(0, 3))
    after = draw(st.integers(0, 2))
    blank = draw(st.booleans())
    lines = [json.dumps({"id": i, "text": "fever"}) for i in range(before)]
    if blank:
        lines.append("")
    lines.append(draw(bad))
    lines += [json.dumps({"id": 100 + i, "text": "cough"}) for i in range(after)]
    return "\n".join(lines) + "\n", before + blank + 1


def check_located(message: str, path: Path, line: int) -> None:
    assert message.startswith((f"{path}:{line}: ", f"{path}:{line} (offset ")), message
    assert "appears twice" in message or "nested deeper" in message, message


@PROPERTY
@given(case=st.one_of(jsonl_with_bad_line(repeated_key_record()), jsonl_with_bad_line(deep_value())))
def test_convert_jsonl_names_the_line(tmp_path_factory, case):
    text, line = case
    folder = tmp_path_factory.mktemp("hostile")
    source = folder / "in.jsonl"
    source.write_text(text, encoding="utf-8")
    with pytest.raises(ConversionError) as err:
        convert_jsonl(source, folder / "out.spacy", LabelMap())
    check_located(str(err.value), source, line)
    assert not (folder / "out.spacy").exists()


@PROPERTY
@given(case=st.one_of(jsonl_with_bad_line(repeated_key_record()), jsonl_with_bad_line(deep_value())))
def test_annotate_input_names_the_line(tmp_path_factory, case):
    text, line = case
    source = tmp_path_factory.mktemp("hostile") / "in.jsonl"
    source.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as err:
        read_records(source)
    check_located(str(err.value), source, line)


@st.composite
def label_map_text(draw):
    """A label map over several lines with a key given twice (at the top or
    in `map`) or nested too deep inside `map`; and the bad line."""
    if draw(st.booleans()):
        key = draw(st.sampled_from(["labels", "map"]))
        lines = ["{", '  "labels": ["SYMPTOM"],', '  "map": {"Sign": "SYMPTOM"},', f'  {json.dumps(key)}: null', "}"]
        if draw(st.booleans()):  # the repeat inside `map` instead
            label = draw(keys)
            lines = ["{", '  "labels": ["SYMPTOM"],', '  "map": {', f"    {json.dumps(label)}: null,",
                     f'    {json.dumps(label)}: "SYMPTOM"', "  }", "}"]
            return "\n".join(lines) + "\n", 5
        return "\n".join(lines[:3]).rstrip(",") + ",\n" + "\n".join(lines[3:]) + "\n", 4
    depth = draw(st.integers(6_000, 20_000))
    return '{\n  "labels": ["SYMPTOM"],\n  "map": {"Sign":\n' + "[" * depth + "\n}}\n", 4


@PROPERTY
@given(case=label_map_text())
def test_label_map_names_the_line(tmp_path_factory, case):
    text, line = case
    path = tmp_path_factory.mktemp("hostile") / "map.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConversionError) as err:
        LabelMap.from_file(path)
    check_located(str(err.value), path, line)


# Corpus-table option values: what each option takes, stated here apart from the code that checks it.
VALID = {
    "misaligned": lambda v: v in ("expand", "contract", "error"),
    "scheme": lambda v: v in ("auto", "iob1", "iob2"),
    "sep": lambda v: v in ("auto", "tab", "space"),
    "split_sentences": lambda v: v is True or v is False,
    "one_doc_per_line": lambda v: v is True or v is False,
    "annotated_lines_only": lambda v: v is True or v is False,
    "n_sents": lambda v: type(v) is int and v >= 1,
    "token_column": lambda v: type(v) is int,
    "tag_column": lambda v: type(v) is int,
}
OPTIONS = {"jsonl": ["misaligned"], "iob": ["scheme", "sep", "n_sents", "token_column", "tag_column"],
           "brat": ["misaligned", "split_sentences", "one_doc_per_line", "annotated_lines_only"]}
values = st.one_of(
    st.sampled_from(["expand", "contract", "error", "auto", "iob1", "iob2", "iobes", "tab", "space", "comma",
                     "no", "yes", "true", "false", "on", "10", "ten", "", "Tab"]),
    st.booleans(), st.integers(-3, 20), st.none(), st.floats(-2, 12, allow_nan=False), st.lists(st.integers(0, 2),
                                                                                              max_size=2),
    st.text(max_size=6))


@st.composite
def table_entry(draw):
    fmt = draw(st.sampled_from(sorted(OPTIONS)))
    options = draw(st.dictionaries(st.sampled_from(OPTIONS[fmt]), values, min_size=1, max_size=3))
    in_part = draw(st.booleans())  # options at the entry, or on a split's part
    return fmt, options, in_part


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=table_entry())
def test_corpus_table_option_values(tmp_path_factory, case):
    fmt, options, in_part = case
    folder = tmp_path_factory.mktemp("table")
    source = {"jsonl": "a.jsonl", "iob": "a.iob", "brat": "d"}[fmt]
    (folder / "c" / "d").mkdir(parents=True)
    for name in ("a.jsonl", "a.iob"):
        (folder / "c" / name).write_text("", encoding="utf-8")
    # JSON flow mappings are YAML: each value is read back as the JSON value written.
    flow = json.dumps(options)
    part = "{" + f'"path": "{source}"' + (", " + flow[1:-1] if in_part else "") + "}"
    table = folder / "corpora.yml"
    lines = ["other:", "  format: jsonl", "  splits: {train: [{path: x}], dev: [{path: x}], test: [{path: x}]}",
             "c:", f"  format: {fmt}"]
    if not in_part:
        lines += [f"  options: {flow}"]
    lines += ["  splits:", f"    train: [{part}]", f"    dev: [{part}]", f"    test: [{part}]"]
    table.write_text("\n".join(lines) + "\n", encoding="utf-8")
    invalid = [name for name, value in options.items() if not VALID[name](value)]
    if not invalid:
        CorpusTable(table).entry("c", folder / "c")
        return
    with pytest.raises(ConversionError) as err:
        CorpusTable(table).entry("c", folder / "c")
    message = str(err.value)
    assert message.startswith(f"{table}:") and "corpus 'c': " in message, message
    assert any(f"{name} must be" in message for name in invalid), message
    line = int(message[len(str(table)) + 1:].split(":", 1)[0])
    assert line == (6 if not in_part else 7), message  # the options line, or the train split's line
