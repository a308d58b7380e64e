"""Serving the page: a queue of one generation at a time, an upload cap, local fonts only."""

from __future__ import annotations

import gradio as gr

MAX_FILE_SIZE = "10mb"
"""Uploads above this are refused by the server, with a message in the page."""

CSS = """
.person-title { font-weight: 600; font-size: 1.05em; display: flex; align-items: center; gap: .5em; }
.swatch { width: .9em; height: .9em; border-radius: 2px; display: inline-block; }
.status-error { color: var(--error-text-color); }
#canvas img, #gallery img { background: #18181c; }
"""


def serve(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = None, block: bool = True) -> str:
    """Queues ``demo`` (one generation at a time) and serves it on ``host:port``; returns its address.

    Uploads are capped at :data:`MAX_FILE_SIZE`; no server folder is exposed beyond Gradio's own cache.
    """
    demo.queue(default_concurrency_limit=4, max_size=32)
    theme = gr.themes.Default(  # local fonts only: the page loads nothing from other hosts
        primary_hue="amber",
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "sans-serif"],
        font_mono=["ui-monospace", "monospace"],
    )
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=False,
        max_file_size=MAX_FILE_SIZE,
        prevent_thread_lock=not block,
        theme=theme,
        css=CSS,
        footer_links=[],
        quiet=not block,
    )
    return url
