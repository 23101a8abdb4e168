"""nst_core: neural style transfer, one engine for the CLI, the web demo and the chat bots.

>>> import nst_core
>>> nst_core.stylize("photo.jpg", style="starry_night").save("out.png")            # fast, feed-forward
>>> nst_core.stylize("photo.jpg", style_images=["painting.jpg"], steps=100)        # Gatys optimisation
>>> nst_core.stylize_video("clip.mp4", "out.mp4", style="udnie", size=480)         # video or animated GIF
"""

from .api import METHODS, stylize
from .arbitrary import ArbitraryOptions, arbitrary_status
from .errors import (
    Cancelled,
    DeviceOutOfMemory,
    ImageError,
    NSTError,
    OptionsError,
    StyleNotFoundError,
    VideoError,
    WeightsError,
)
from .fast.run import FastOptions
from .gatys import GatysOptions
from .images import encode_image, load_image, resize_long_side, save_image
from .lossnets import list_loss_nets, load_loss_net
from .progress import Progress
from .styles import StyleInfo, default_style, get_style, list_styles, match_styles
from .video.container import VideoLimits
from .video.frames import FrameStylizer
from .video.run import VideoResult, detect_media, stylize_video
from .video.temporal import StabilizerSettings

__version__ = "0.1.0"

__all__ = [
    "METHODS",
    "ArbitraryOptions",
    "Cancelled",
    "DeviceOutOfMemory",
    "FastOptions",
    "FrameStylizer",
    "GatysOptions",
    "ImageError",
    "NSTError",
    "OptionsError",
    "Progress",
    "StabilizerSettings",
    "StyleInfo",
    "StyleNotFoundError",
    "VideoError",
    "VideoLimits",
    "VideoResult",
    "WeightsError",
    "arbitrary_status",
    "default_style",
    "detect_media",
    "encode_image",
    "get_style",
    "list_loss_nets",
    "list_styles",
    "load_image",
    "load_loss_net",
    "match_styles",
    "resize_long_side",
    "save_image",
    "stylize",
    "stylize_video",
]
