"""`python -m demo [--host H] [--port P] [--share]`: start the web page."""

from .app import launch

if __name__ == "__main__":
    launch()
