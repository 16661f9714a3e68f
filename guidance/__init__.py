"""Guidance documents as versioned JSON data, one file per document (``<key>.json``).

Adding a document is adding a file here; it is validated when the service starts.
"""

from pathlib import Path

GUIDANCE_DIR = Path(__file__).resolve().parent
