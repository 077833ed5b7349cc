"""`demo`: serve the Gradio demo of a pipeline."""
import os
from typing import Optional

import typer

from med_ner.cli.app import CODE_OPTION, INFERENCE_OPTION, MODEL_OPTION, app, fail
from med_ner.service.demo import build_app
from med_ner.inference.loading import PipelineError, load_pipeline


@app.command("demo")
def demo_command(
    model: str = MODEL_OPTION,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on"),
    port: int = typer.Option(7860, "--port", help="Port to serve on"),
    max_chars: int = typer.Option(20000, "--max-chars", help="Longest input the demo processes"),
    code: Optional[str] = CODE_OPTION,
    inference: Optional[str] = INFERENCE_OPTION,
):
    """Serve the demo until interrupted."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        nlp = load_pipeline(model, code, inference=inference)
    except PipelineError as err:
        fail(str(err))
    demo = build_app(nlp, max_chars, "en_med_ner demo")
    typer.echo(f"serving {model} on http://{host}:{port}", err=True)
    demo.launch(server_name=host, server_port=port, share=False, inbrowser=False)
