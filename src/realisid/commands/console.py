"""What the ``realisid`` executable lets through to the terminal: no third-party start-up notices,
no model-loading bars or empty cast notices; warnings, tracebacks and progress bars of long work stay.

MediaPipe's C++ graphs (TFLite, absl) print start-up notices straight to file descriptor 2, where
Python's logging, ``GLOG_minloglevel`` and ``TF_CPP_MIN_LOG_LEVEL`` do not reach them (absl logs
everything to stderr before ``absl::InitializeLog``, which MediaPipe never calls), some of them from
worker threads after a call has returned. So descriptor 2 becomes a pipe whose lines, less
:data:`NATIVE_NOTICES`, a thread copies to the terminal, while Python's ``sys.stderr`` keeps
writing to the terminal directly (so progress bars still see a terminal and tracebacks are never
held back).
"""

from __future__ import annotations

import io
import os
import re
import sys
import threading

NATIVE_NOTICES = re.compile(
    rb"Created TensorFlow Lite XNNPACK delegate"
    rb"|All log messages before absl::InitializeLog\(\) is called"
    rb"|inference_feedback_manager\.cc.*Disabling support for feedback tensors"
    rb"|landmark_projection_calculator\.cc.*NORM_RECT without IMAGE_DIMENSIONS"
)
"""The notices MediaPipe's face detector and face mesh print on every start, none of them actionable."""


def filter_native_notices() -> None:
    """Routes descriptor 2 through a thread that drops :data:`NATIVE_NOTICES`; ``sys.stderr`` is
    re-opened on the terminal itself. Once per process (the executable's start)."""
    try:
        terminal = os.dup(2)
    except OSError:  # no stderr: nothing to keep clean
        return
    sys.stderr.flush()
    sys.stderr = io.TextIOWrapper(
        io.FileIO(terminal, "w", closefd=False), encoding=sys.stderr.encoding, errors="backslashreplace",
        line_buffering=True, write_through=True,
    )
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)
    threading.Thread(target=_copy_lines, args=(read, terminal), name="native-stderr", daemon=True).start()


def _copy_lines(read: int, terminal: int) -> None:
    """Copies each line (ended by ``\\n`` or ``\\r``) from ``read`` to ``terminal`` unless it is a notice."""
    pending = b""
    try:
        while chunk := os.read(read, 1 << 16):
            *lines, pending = re.split(rb"(?<=[\r\n])", pending + chunk)
            kept = b"".join(line for line in lines if not NATIVE_NOTICES.search(line))
            if kept:
                os.write(terminal, kept)
        os.write(terminal, pending)
    except OSError:  # the terminal went away (a closed pipe): nothing left to show
        return


EMPTY_FLOAT32_NOTICE = "should be kept in float32: []"
"""diffusers 0.42 warns on every dtype cast of a model, naming the modules to keep in float32 even when
there are none."""


def quiet_model_loading() -> None:
    """Turns off diffusers' and transformers' loading bars (one per component and weight file) and
    :data:`EMPTY_FLOAT32_NOTICE`; download bars (huggingface_hub) and the denoising bar stay."""
    import logging

    import huggingface_hub.utils as hub
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    downloads_shown = not hub.are_progress_bars_disabled()
    diffusers_logging.disable_progress_bar()
    transformers_logging.disable_progress_bar()  # turns off huggingface_hub's download bars as well
    if downloads_shown:
        hub.enable_progress_bars()
    logging.getLogger("diffusers.models.modeling_utils").addFilter(_not_the_empty_float32_notice)


def _not_the_empty_float32_notice(record) -> bool:
    """A logging filter (one object, so adding it again is a no-op)."""
    return EMPTY_FLOAT32_NOTICE not in record.getMessage()
