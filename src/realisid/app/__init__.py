"""The web UI: compose a scene of several people, each placed by a face box, and generate it.

Plain Python, testable without a browser: the sampling controls (``controls``), the previews of references,
landmarks and layout (``previews``) and generation (``generation``). On top of them, Gradio: the event
handlers (``handlers``), a person's panel (``panels``), the page and its events (``page``) and ``serve``.
"""

from .controls import Sampling
from .page import build_demo
from .server import MAX_FILE_SIZE, serve

__all__ = ["MAX_FILE_SIZE", "Sampling", "build_demo", "serve"]
