"""What a GGUF file says about its model, read from the header alone (no weights loaded, no llama.cpp).

The header is: magic `GGUF`, version, tensor count, key/value count, the key/values (typed, arrays
included), then one record per tensor (name, shape, type, offset). Parameters are counted from the tensor
shapes; the quantisation is the file's `general.file_type`, named as llama.cpp names it.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path
from typing import Any, BinaryIO

import msgspec

MAGIC = b"GGUF"
# llama.cpp's `llama_ftype` values, as its quantize tool names them.
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16",
    36: "TQ1_0", 37: "TQ2_0",
}  # fmt: skip
# Scalar value types: struct format per GGUF type id (8 = string and 9 = array are read separately).
SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
# Keys kept (the rest, tokenizer vocabularies above all, are skipped); `{arch}` is the architecture.
WANTED = (
    "general.architecture", "general.name", "general.size_label", "general.file_type", "general.license",
    "tokenizer.chat_template", "{arch}.context_length", "{arch}.block_count", "{arch}.embedding_length",
    "{arch}.attention.head_count", "{arch}.attention.head_count_kv", "{arch}.attention.key_length",
    "{arch}.attention.value_length",
)  # fmt: skip


class GGUFError(ValueError):
    """The file is not a GGUF model (or is cut short)."""


class GGUFInfo(msgspec.Struct, kw_only=True, frozen=True):
    architecture: str
    name: str
    parameters: int  # counted from the tensor shapes
    quantization: str
    context_length: int | None
    chat_template: str | None
    size_bytes: int
    version: int
    layers: int | None = None
    embedding_length: int | None = None
    head_count: int | None = None
    head_count_kv: int | None = None
    key_length: int | None = None
    value_length: int | None = None
    license: str | None = None

    @property
    def parameters_label(self) -> str:
        """135M, 1.5B, 70B."""
        if self.parameters >= 1e9:
            return f"{self.parameters / 1e9:.1f}B".replace(".0B", "B")
        return f"{round(self.parameters / 1e6)}M"

    def kv_bytes_per_token(self) -> int | None:
        """Bytes of f16 KV cache one token takes (keys and values over every layer), if the header says."""
        if not (self.layers and self.head_count and self.embedding_length):
            return None
        kv_heads = self.head_count_kv or self.head_count
        head = self.embedding_length // self.head_count
        return self.layers * kv_heads * ((self.key_length or head) + (self.value_length or head)) * 2


class _Reader:
    def __init__(self, file: BinaryIO) -> None:
        self.file = file

    def read(self, size: int) -> bytes:
        data = self.file.read(size)
        if len(data) != size:
            raise GGUFError("the file ends inside its header")
        return data

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.read(self.scalar("<Q")).decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        self.file.seek(self.scalar("<Q"), 1)

    def value(self, kind: int, keep: bool) -> Any:
        if kind == STRING:
            if keep:
                return self.string()
            self.skip_string()
            return None
        if kind == ARRAY:
            item_kind, count = self.scalar("<I"), self.scalar("<Q")
            if item_kind in SCALARS and not keep:
                self.file.seek(struct.calcsize(SCALARS[item_kind]) * count, 1)
                return None
            items = [self.value(item_kind, keep) for _ in range(count)]
            return items if keep else None
        if kind not in SCALARS:
            raise GGUFError(f"unknown value type {kind} in the header")
        return self.scalar(SCALARS[kind])


def read_gguf(path: Path) -> GGUFInfo:
    """The model's metadata from `path`'s header; raises GGUFError when it is not a GGUF file."""
    with open(path, "rb") as file:
        reader = _Reader(file)
        if reader.read(4) != MAGIC:
            raise GGUFError(f"{path.name} is not a GGUF file")
        version = reader.scalar("<I")
        if version < 2:
            raise GGUFError(f"{path.name}: GGUF version {version} is too old (2 or later needed)")
        tensors, entries = reader.scalar("<Q"), reader.scalar("<Q")
        values: dict[str, Any] = {}
        wanted = set(WANTED)
        for _ in range(entries):
            key = reader.string()
            kind = reader.scalar("<I")
            arch = values.get("general.architecture", "")
            keep = key in wanted or (arch and key.replace(arch + ".", "{arch}.", 1) in wanted)
            value = reader.value(kind, keep=bool(keep))
            if keep:
                values[key] = value
        parameters = 0
        for _ in range(tensors):
            reader.skip_string()
            dims = [reader.scalar("<Q") for _ in range(reader.scalar("<I"))]
            reader.read(4 + 8)  # type, offset
            parameters += math.prod(dims)
    arch = str(values.get("general.architecture") or "unknown")

    def number(key: str) -> int | None:
        value = values.get(f"{arch}.{key}")
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None

    file_type = values.get("general.file_type")
    return GGUFInfo(
        architecture=arch,
        name=str(values.get("general.name") or path.stem),
        parameters=parameters,
        quantization=FILE_TYPES.get(file_type, f"type {file_type}") if isinstance(file_type, int) else "unknown",
        context_length=number("context_length"),
        chat_template=values.get("tokenizer.chat_template"),
        size_bytes=path.stat().st_size,
        version=version,
        layers=number("block_count"),
        embedding_length=number("embedding_length"),
        head_count=number("attention.head_count"),
        head_count_kv=number("attention.head_count_kv"),
        key_length=number("attention.key_length"),
        value_length=number("attention.value_length"),
        license=values.get("general.license"),
    )
