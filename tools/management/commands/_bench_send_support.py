"""Helpers of bench_send: its files of built messages (the rest is shared, in tools.bench)."""

import struct
from pathlib import Path


def frames(path: Path):
    """Yield the (recipient, bytes) messages ``_bare_build`` wrote to ``path``."""
    with path.open("rb") as source:
        while head := source.read(6):
            size_to, size_data = struct.unpack("!HI", head)
            yield source.read(size_to).decode(), source.read(size_data)


def split(path: Path, parts: int) -> list[Path]:
    """Deal the messages in ``path`` into ``parts`` files, one after the other; return them."""
    paths = [path.with_suffix(f".{n}.bin") for n in range(parts)]
    outs = [target.open("wb") for target in paths]
    try:
        for index, (to, data) in enumerate(frames(path)):
            address = to.encode()
            header = struct.pack("!HI", len(address), len(data))
            outs[index % parts].write(header + address + data)
    finally:
        for out in outs:
            out.close()
    return paths
