
# ---- from demo.py

def main(
    model: str = typer.Option("en_med_ner", "--model", "-m", help="Pipeline directory or installed package"),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on"),
    port: int = typer.Option(7860, "--port", help="Port to serve on"),
    max_chars: int = typer.Option(20000, "--max-chars", help="Longest input the demo processes"),
    code: Optional[str] = typer.Option(None, "--code", help="Python files with registered functions, comma-separated"),
):
    """Serve the demo until interrupted."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    nlp = load_pipeline(model, code)
    app = build_app(nlp, max_chars, "en_med_ner demo")
    typer.echo(f"serving {model} on http://{host}:{port}", err=True)
    app.launch(server_name=host, server_port=port, share=False, inbrowser=False)


if __name__ == "__main__":
    typer.run(main)
