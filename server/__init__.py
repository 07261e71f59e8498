"""winnow serve: an OpenAI-compatible server whose output passes the runtime policy (see docs/SERVING.md)."""

from server.config import ServeConfig

__all__ = ["ServeConfig"]
