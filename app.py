"""Hugging Face Space entry point (`app_file: app.py`): the same page as `python -m demo`.

The Space sets GRADIO_SERVER_NAME=0.0.0.0 and GRADIO_SERVER_PORT; `launch` honours both.
"""

from demo.app import build_app, launch

demo = build_app()  # module-level, so `gradio app.py` (reload mode) finds it

if __name__ == "__main__":
    launch([], app=demo)
