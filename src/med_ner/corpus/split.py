"""Make a deterministic document-level train/dev/test split of a BRAT folder.

The document stems (files with both a .txt and an .ann; a file without its
partner is left out and named) are sorted, shuffled
with random.Random(seed), and cut in order into train, dev and test of the
given sizes. Each output file lists its stems sorted, one a line, under a `#`
header saying how it was made; `med-ner convert brat` reads it with --ids.

assets/splits/maccrobat/ was made with:
    python -m med_ner convert split <MACCROBAT>/MACCROBAT2020 assets/splits/maccrobat --seed 13 --sizes 160 20 20
"""
import random
from pathlib import Path
from typing import Dict, List, Tuple

from med_ner.corpus.reading import folder_files


SPLITS = ("train", "dev", "test")


def document_stems(folder: Path) -> Tuple[List[str], List[str]]:
    """Sorted stems with both a .txt and an .ann file, and the names of files
    without their partner (left out: e.g. the stray hi.txt in a git checkout
    of MACCROBAT2020)."""
    found, _ = folder_files(folder, (".txt", ".ann"))
    txts, anns = set(found[".txt"]), set(found[".ann"])
    unpaired = sorted([f"{s}.txt" for s in txts - anns] + [f"{s}.ann" for s in anns - txts])
    if not txts & anns:
        raise ValueError(f"{folder}: no .txt/.ann pairs")
    return sorted(txts & anns), unpaired


def make_split(folder: Path, seed: int, sizes: Tuple[int, int, int]) -> Dict[str, List[str]]:
    stems, _ = document_stems(folder)
    if sum(sizes) != len(stems):
        raise ValueError(f"{folder}: sizes {sizes} add up to {sum(sizes)}, but there are {len(stems)} documents")
    random.Random(seed).shuffle(stems)
    out, pos = {}, 0
    for name, size in zip(SPLITS, sizes):
        out[name] = stems[pos:pos + size]
        pos += size
    return out


def header(folder: Path, seed: int, sizes: Tuple[int, int, int], name: str) -> str:
    n = sum(sizes)
    return (
        f"# {name} split of {folder.name}: the {n} document stems (.txt + .ann pairs) sorted, shuffled with "
        f"random.Random({seed}), then the first {sizes[0]} train, the next {sizes[1]} dev, the last {sizes[2]} test; "
        f"listed sorted. Made by: python -m med_ner convert split <folder> <output dir> --seed {seed} "
        f"--sizes {sizes[0]} {sizes[1]} {sizes[2]}\n"
    )


def write_split(folder: Path, output_dir: Path, seed: int, sizes: Tuple[int, int, int]) -> Dict[str, Path]:
    """The three id lists, all or none: a failure keeps the old three."""
    from med_ner.outputs import output_group, write_text

    split = make_split(folder, seed, sizes)
    paths = {name: output_dir / f"{name}.txt" for name in SPLITS}
    with output_group():
        for name in SPLITS:
            write_text(paths[name], header(folder, seed, sizes, name) + "".join(f"{s}\n" for s in sorted(split[name])),
                       f"{name} id list")
    return paths
