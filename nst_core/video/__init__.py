"""Video, animated GIF/WebP and live frames with a fast style or any painting, stabilised over time.

Read in this order: `run` (`stylize_video`: a file in, the same kind of file out; `detect_media` by content),
`frames` (`FrameStylizer`: batched network passes plus the stabiliser, for files and live streams), `temporal`
(`TemporalStabilizer`: the previous output warped by optical flow), `container` (PyAV: allow-listed demuxers,
limits, decode, encode with the sound copied), `animation` (animated GIF/WebP with Pillow).

The names below load on first use, so importing one submodule does not import the others.
"""

from ..lazy import lazy_exports

_EXPORTS = {
    "stylize_video": "run",
    "detect_media": "run",
    "not_a_video": "run",
    "VideoResult": "run",
    "FrameStylizer": "frames",
    "StabilizerSettings": "temporal",
    "TemporalStabilizer": "temporal",
    "VideoLimits": "container",
}

__all__ = sorted(_EXPORTS)

__getattr__ = lazy_exports(__name__, _EXPORTS)
