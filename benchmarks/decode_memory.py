"""Peak memory of one upload decode at the pixel limit (ARENA_MAX_IMAGE_PIXELS, 64 Mi pixels).

Each case is encoded here and decoded in a fresh process, which reports the growth of its peak
resident set (ru_maxrss) over the baseline taken just before the decode: imports and the input
bytes do not count.
The README's "Limits" section quotes these figures; ARENA_MAX_CONCURRENT_DECODES multiplies
them.

    python benchmarks/decode_memory.py            # 8192x8192 RGB noise PNG and flat PNG, JPEG
"""

from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIDE = 8192  # 8192**2 = 64 Mi pixels = the default ARENA_MAX_IMAGE_PIXELS


def _encoded(kind: str) -> bytes:
    import numpy as np
    from PIL import Image

    if kind == "flat-png":  # the 307 KB PNG: tiny file, full-size decode
        image = Image.new("RGB", (SIDE, SIDE), (200, 120, 40))
        fmt = "PNG"
    else:
        pixels = np.random.default_rng(0).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
        image = Image.fromarray(pixels)
        fmt = "JPEG" if kind == "noise-jpeg" else "PNG"
    out = io.BytesIO()
    image.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {"compress_level": 1}))
    return out.getvalue()


def _child(kind: str, path: str) -> None:
    from app.imaging import decode_image

    with open(path, "rb") as handle:
        data = handle.read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    decoded = decode_image(data, max_bytes=1 << 31, max_pixels=SIDE * SIDE)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "kind": kind,
                "file_mib": round(len(data) / 2**20, 1),
                "served_mib": round(len(decoded.served_png) / 2**20, 1),
                "peak_growth_mib": round((peak - before) / 1024),
                "seconds": round(seconds, 1),
            }
        )
    )


def main() -> None:
    if len(sys.argv) > 3 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
        return
    with tempfile.TemporaryDirectory() as directory:
        for kind in ("flat-png", "noise-png", "noise-jpeg"):
            # Encoded here, so the child's high-water mark starts at the file, not the encoder.
            path = Path(directory) / kind
            path.write_bytes(_encoded(kind))
            subprocess.run([sys.executable, __file__, "--child", kind, str(path)], check=True)


if __name__ == "__main__":
    main()
