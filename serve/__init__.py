"""The planner over REST: the FastAPI app (`serve.app.create_app`), dynamic batching, the OpenAI
chat-completions view, and `serve.process.served` to run `tinyagent serve` from a script."""

from planner_eval._version import __version__

__all__ = ["__version__"]
