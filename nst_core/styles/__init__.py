"""Trained feed-forward styles, the timm way: list, find and load by name.

One job per module, read in this order:

- `registry`: which styles are installed and where (names, folders, metadata); no torch;
- `fileformat`: what a style's three files hold (NAME.safetensors, NAME.json, NAME.preview.jpg); no torch;
- `loader`: weights file -> frozen TransformerNet, cached per file version, device, dtype and layout;
- `writer`: a network -> the three files, each written atomically;
- `previews`: the small picture beside a style's name;
- `importers`: pytorch/examples .pth checkpoints -> styles.

Everything public is importable from here (`from nst_core.styles import get_style, load_style_model`).
"""

from .fileformat import FORMAT, FORMAT_VERSION, REQUIRED_KEYS
from .importers import import_torch_checkpoint
from .loader import build_model, clear_cache, load_style_model, read_style_weights
from .previews import PREVIEW_LONG_SIDE, render_preview, synthetic_preview_content
from .registry import (
    NAME_PATTERN,
    REPO_WEIGHTS_DIR,
    WEIGHTS_ENV,
    StyleInfo,
    check_name_free,
    check_writable_dir,
    default_style,
    get_style,
    list_styles,
    match_styles,
    record_scores,
    validate_name,
    weights_dirs,
)
from .writer import save_style

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "NAME_PATTERN",
    "PREVIEW_LONG_SIDE",
    "REPO_WEIGHTS_DIR",
    "REQUIRED_KEYS",
    "WEIGHTS_ENV",
    "StyleInfo",
    "build_model",
    "check_name_free",
    "check_writable_dir",
    "clear_cache",
    "default_style",
    "get_style",
    "import_torch_checkpoint",
    "list_styles",
    "load_style_model",
    "match_styles",
    "read_style_weights",
    "record_scores",
    "render_preview",
    "save_style",
    "synthetic_preview_content",
    "validate_name",
    "weights_dirs",
]
