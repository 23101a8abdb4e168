"""nst_core: neural style transfer, one engine for the CLI, the web demo and the chat bots.

>>> import nst_core
>>> nst_core.stylize("photo.jpg", style="starry_night").save("out.png")            # fast, feed-forward
>>> nst_core.stylize("photo.jpg", style_images=["painting.jpg"], steps=100)        # Gatys optimisation
>>> nst_core.stylize_video("clip.mp4", "out.mp4", style="udnie", size=480)         # video or animated GIF
"""

from .lazy import lazy_exports

# Where each public name lives. Loaded on first use (PEP 562), so importing a torch-free module such as
# `nst_core.styles.registry` or `nst_core.options` does not import torch through this package.
_EXPORTS = {
    "METHODS": "api", "stylize": "api", "ArbitraryOptions": "arbitrary", "arbitrary_status": "arbitrary",
    "Cancelled": "errors", "DeviceOutOfMemory": "errors", "ImageError": "errors", "NSTError": "errors",
    "OptionsError": "errors", "StyleNotFoundError": "errors", "VideoError": "errors", "WeightsError": "errors",
    "FastOptions": "fast.run", "FrameStylizer": "video.frames", "GatysOptions": "gatys", "encode_image": "images",
    "load_image": "images", "resize_long_side": "images", "save_image": "images", "list_loss_nets": "lossnets",
    "load_loss_net": "lossnets", "Progress": "progress", "StyleInfo": "styles", "default_style": "styles",
    "get_style": "styles", "list_styles": "styles", "match_styles": "styles",
    "StabilizerSettings": "video.temporal", "VideoResult": "video.run", "detect_media": "video.run",
    "stylize_video": "video.run", "VideoLimits": "video.container",
}  # fmt: skip

__getattr__ = lazy_exports(__name__, _EXPORTS)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
