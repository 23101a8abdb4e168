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

from ..lazy import lazy_exports
from .fileformat import FORMAT, FORMAT_VERSION, REQUIRED_KEYS
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

# The torch side, loaded on first use (PEP 562): the registry and the file format stay torch-free to import.
_HOME = {
    "import_torch_checkpoint": "importers", "build_model": "loader", "clear_cache": "loader",
    "load_style_model": "loader", "read_style_weights": "loader", "PREVIEW_LONG_SIDE": "previews",
    "render_preview": "previews", "synthetic_preview_content": "previews", "save_style": "writer",
}  # fmt: skip


__getattr__ = lazy_exports(__name__, _HOME)


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
