"""``python -m ollama_actors``: the same command line as the ``ollama-actors`` script."""

from ollama_actors.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
