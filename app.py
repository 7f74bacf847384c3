"""Hugging Face Space entry point: build the studio from Settings and launch it.

Importing this module has no side effects; the server starts only under __main__.
"""

import os

from empathy_studio.settings import apply_privacy_env, load_settings


def _interrupt(*_):
    raise KeyboardInterrupt


def build():
    """The studio and its app; the studio is closed (a last snapshot, the database) when the process ends."""
    apply_privacy_env()
    import atexit

    from empathy_studio.services import Studio
    from empathy_studio.settings import apply_server_env
    from empathy_studio.ui import build_app

    studio = Studio(load_settings())
    apply_server_env(studio.settings)
    studio.start()  # the server's own work: snapshots, accounts, jobs left by a dead server, the warmer, the starter model
    atexit.register(studio.close)
    return build_app(studio)


if __name__ == "__main__":
    import signal

    from empathy_studio.ui import launch_options

    signal.signal(signal.SIGTERM, _interrupt)  # a Space stops with SIGTERM
    build().launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **launch_options(),
    )
