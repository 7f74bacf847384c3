"""Hugging Face Space entry point: build the studio from Settings and launch it.

Importing this module has no side effects; the server starts only under __main__.
"""

import os

from empathy_studio.settings import apply_privacy_env, load_settings


def build():
    apply_privacy_env()
    from empathy_studio.services import Studio
    from empathy_studio.ui import build_app

    return build_app(Studio(load_settings()))


if __name__ == "__main__":
    from empathy_studio.ui import launch_options

    build().launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"),
                   server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")), **launch_options())
