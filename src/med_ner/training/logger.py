"""A training logger that prints spaCy's usual console table and also keeps
the curve: every evaluation's step, dev scores and losses go to
`<path>/training_log.jsonl` as they happen (with elapsed seconds, peak RSS
and, on a GPU, torch's GPU memory use), and `<path>/training_curve.png`
plots dev score and losses against steps when training ends (or stops with
an error)."""
import json
import time
from pathlib import Path
from typing import Dict, List, Optional

from spacy.training.loggers import console_logger
from spacy.util import registry

from med_ner.inference.memory import peak_rss_mb


def plot_curve(rows: List[Dict], png: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [r["step"] for r in rows]
    fig, score_ax = plt.subplots(figsize=(8, 4.5))
    score_ax.plot(steps, [r["score"] for r in rows], "o-", color="tab:blue", label="dev score")
    score_ax.set_xlabel("step")
    score_ax.set_ylabel("dev score (weighted, e.g. ents_f)")
    loss_ax = score_ax.twinx()
    for i, name in enumerate(sorted({k for r in rows for k in r["losses"]})):
        loss_ax.plot(steps, [r["losses"].get(name) for r in rows], "--", color=f"C{i + 1}", label=f"loss {name}")
    loss_ax.set_ylabel("training loss since the previous evaluation")
    lines = score_ax.get_legend_handles_labels()
    more = loss_ax.get_legend_handles_labels()
    score_ax.legend(lines[0] + more[0], lines[1] + more[1], loc="center right")
    score_ax.set_title(title or "training curve")
    fig.tight_layout()
    from med_ner.outputs import savefig

    try:
        savefig(fig, png, "training curve", dpi=100)
    finally:
        plt.close(fig)


def memory_use() -> Dict[str, float]:
    """Peak RSS of this process, and on a GPU torch's peak allocated and
    current reserved memory, in MB."""
    use = {"peak_rss_mb": peak_rss_mb()}
    try:
        import torch
    except ImportError:
        return use
    if torch.cuda.is_available():
        use["gpu_peak_allocated_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        use["gpu_reserved_mb"] = round(torch.cuda.memory_reserved() / 2**20, 1)
    return use


@registry.loggers("en_med_ner.training_curve.v1")
def training_curve_logger(path: Optional[str] = None, progress_bar: bool = False):
    console = console_logger(progress_bar=progress_bar)

    def setup(nlp, stdout, stderr):
        log_console, finalize_console = console(nlp, stdout, stderr)
        rows: List[Dict] = []
        started = time.perf_counter()
        out = Path(path) if path else None
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            (out / "training_log.jsonl").write_text("", encoding="utf-8")

        def log_step(info: Optional[Dict]) -> None:
            log_console(info)
            if info is None:
                return
            # words: training words processed so far, for words per second between rows
            row = {"step": info["step"], "epoch": info["epoch"], "score": info["score"], "words": info.get("words"),
                   "losses": {k: float(v) for k, v in info["losses"].items()},
                   "scores": {k: v for k, v in info["other_scores"].items() if isinstance(v, (int, float))},
                   "seconds": round(time.perf_counter() - started, 1), **memory_use()}
            rows.append(row)
            if out is not None:
                with (out / "training_log.jsonl").open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")

        def finalize() -> None:
            finalize_console()
            if out is not None and rows:
                plot_curve(rows, out / "training_curve.png", f"{nlp.lang} {' + '.join(nlp.pipe_names)}")

        return log_step, finalize

    return setup
