"""One 1-D `.npy` array read with the standard library: how the shipped model's weights
are loaded without numpy in the worker (the file is an `.npz`, a zip of these; no pickle:
object arrays are refused by their dtype)."""

from __future__ import annotations

import ast
import sys
from array import array
from typing import Any, Final


class NpyError(ValueError):
    """Not a 1-D `.npy` array of a supported type; the message names what is wrong."""


_NPY_MAGIC: Final = b"\x93NUMPY"
_DTYPES: Final = {"|i1": "b", "|u1": "B", "<i2": "h", "<u2": "H", "<u4": "I", "<f4": "f"}


def read_npy(data: bytes, name: str) -> array[Any]:
    """One 1-D .npy array (int8, uint8, little-endian int16, uint16, uint32 or float32) as
    an ``array``."""
    if not data.startswith(_NPY_MAGIC) or len(data) < 10:
        raise NpyError(f"{name}: not a .npy array")
    major = data[6]
    if major == 1:
        header_len, start = int.from_bytes(data[8:10], "little"), 10
    elif major in (2, 3):
        header_len, start = int.from_bytes(data[8:12], "little"), 12
    else:
        raise NpyError(f"{name}: .npy version {major} not supported")
    try:
        header = ast.literal_eval(data[start : start + header_len].decode("latin-1"))
    except (ValueError, SyntaxError) as exc:
        raise NpyError(f"{name}: bad .npy header") from exc
    if not isinstance(header, dict):
        raise NpyError(f"{name}: bad .npy header")
    code = _DTYPES.get(str(header.get("descr")))
    shape = header.get("shape")
    if code is None or header.get("fortran_order") or not isinstance(shape, tuple) \
            or len(shape) != 1:
        raise NpyError(f"{name}: expected a 1-D int8/uint8/(u)int16/uint32/float32 array, "
                             f"got {header.get('descr')} {shape}")
    out: array[Any] = array(code)
    if code == "I" and out.itemsize != 4:
        out = array("L")  # platforms whose C unsigned int is not 4 bytes
        if out.itemsize != 4:
            raise NpyError(f"{name}: no 4-byte unsigned array type here")
    payload = data[start + header_len :]
    if len(payload) != shape[0] * out.itemsize:
        raise NpyError(f"{name}: truncated array")
    out.frombytes(payload)
    if out.itemsize > 1 and sys.byteorder == "big":
        out.byteswap()
    return out
