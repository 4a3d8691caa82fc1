"""Read the parts of dlib's binary serialisation that its face recognition ResNet file uses.

We convert dlib's pretrained face embedder to ONNX at build time and do not want dlib (a
large C++ extension) as a build dependency, so this module understands just enough of
dlib's format to pull every layer's weights and settings out of the ``.dat`` file. Layer
versions other than the ones that file holds are refused with a ValueError, as is any
malformed data; each error names the byte offset and what was expected there.

The format, as far as that file needs it:

* integers: a control byte (bit 7: negative, bits 0-3: byte count 1..8, bits 4-6: zero)
  followed by the absolute value in little-endian bytes;
* floats: two such integers, a signed mantissa then an exponent, worth
  ``mantissa * 2**exponent`` (exponents 32000/32001/32002 mean +inf/-inf/NaN);
* bools: the ASCII byte ``'1'`` or ``'0'``; strings: an integer length, then the bytes;
* tensors (version 2): four integer sizes, then raw little-endian float32 values; an
  "alias tensor" (version 1) is the four sizes alone and names a slice of a layer's
  parameter tensor (a conv's filters, then its biases);
* a network is nested: each wrapper writes its version and then the network it wraps,
  then (for a computational layer) its settings and training state. So the file holds the
  loss layer, one version number per wrapper from the top of the network down, the input
  layer, and then the layers' settings from the bottom up. Tag and skip wrappers write only
  their version, so they appear as ``tag_or_skip`` markers; which is which (and which tag
  an ``add_prev`` reads) lives in the C++ types, not the file.

Records come back in forward order: the input layer first, the loss layer last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

# Exponent values that dlib's float_details reserves for special numbers.
_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}

# Versions of the wrappers in the nested prefix of a network.
_TAG_OR_SKIP = 1  # add_tag_layer / add_skip_layer: the wrapped network, nothing else
_ADD_LAYER = 2  # add_layer: wrapped network, layer settings, flags, three tensors
_INPUT_ADD_LAYER = 3  # add_layer around the input layer: as above plus an expansion factor


@dataclass(frozen=True)
class LayerRecord:
    """One layer: its kind, weights and settings, and the byte offset where it is stored.

    For ``tag_or_skip`` markers the offset is that of their version number in the prefix.
    """

    kind: str
    version: str
    params: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)
    offset: int = 0


class _Reader:
    """A cursor over the file's bytes; every read names what it expects, for error messages."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def fail(self, what: str, found: str, at: int | None = None) -> ValueError:
        """Build the error for unexpected data at a byte offset (the cursor by default)."""
        offset = self.pos if at is None else at
        return ValueError(f"dlib file, byte offset {offset}: expected {what}, found {found}")

    def take(self, count: int, what: str) -> bytes:
        """Return the next ``count`` bytes, refusing to read past the end."""
        if self.pos + count > len(self.data):
            raise self.fail(what, f"end of data ({len(self.data) - self.pos} bytes left, {count} needed)")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self, what: str) -> int:
        """Read one of dlib's compact variable-length integers."""
        start = self.pos
        control = self.take(1, what)[0]
        size = control & 0x0F
        if control & 0x70 or not 1 <= size <= 8:
            raise self.fail(what, f"invalid integer control byte 0x{control:02x}", start)
        value = int.from_bytes(self.take(size, what), "little")
        return -value if control & 0x80 else value

    def count(self, what: str) -> int:
        """Read an integer that cannot be negative (a size, length or stride)."""
        start = self.pos
        value = self.integer(what)
        if value < 0:
            raise self.fail(what, f"negative value {value}", start)
        return value

    def real(self, what: str) -> float:
        """Read a float stored as integer mantissa and exponent (not as IEEE bytes)."""
        start = self.pos
        mantissa = self.integer(f"{what} (mantissa)")
        exponent = self.integer(f"{what} (exponent)")
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        if not -32768 <= exponent < 32000:
            raise self.fail(what, f"float exponent {exponent} out of range", start)
        return math.ldexp(mantissa, exponent)

    def boolean(self, what: str) -> bool:
        """Read a bool stored as the ASCII digit 1 or 0."""
        start = self.pos
        byte = self.take(1, what)
        if byte not in (b"0", b"1"):
            raise self.fail(what, f"bool byte {byte!r} (not b'0' or b'1')", start)
        return byte == b"1"

    def string(self, what: str) -> str:
        """Read a length-prefixed string (dlib names layer types and versions this way)."""
        length = self.count(f"{what} (length)")
        start = self.pos
        raw = self.take(length, what)
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(what, f"non-ASCII bytes {raw[:20]!r}", start) from None

    def version(self, what: str, allowed: tuple[int, ...]) -> int:
        """Read an integer version number and check it is one this reader knows."""
        start = self.pos
        value = self.integer(what)
        if value not in allowed:
            raise self.fail(f"{what} {' or '.join(map(str, allowed))}", f"version {value}", start)
        return value

    def shape(self, what: str) -> tuple[int, ...]:
        """Read the four sizes (samples, channels, rows, columns) of a tensor."""
        return tuple(self.count(f"{what} {name}") for name in ("num_samples", "k", "nr", "nc"))

    def tensor(self, what: str) -> np.ndarray:
        """Read a version 2 tensor: four sizes, then raw little-endian float32 data."""
        self.version(f"{what} tensor version", (2,))
        dims = self.shape(what)
        raw = self.take(4 * math.prod(dims), f"{what} float32 data of shape {dims}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(dims)

    def alias(self, what: str) -> tuple[int, ...]:
        """Read an alias tensor: the shape of a slice of a layer's parameter tensor."""
        self.version(f"{what} alias tensor version", (1,))
        return self.shape(what)

    def at_string(self, prefix: str) -> bool:
        """Tell whether a string starting with ``prefix`` is next, without consuming it."""
        start = self.pos
        try:
            return self.string("a string").startswith(prefix)
        except ValueError:
            return False
        finally:
            self.pos = start


def _split(
    reader: _Reader, params: np.ndarray, shapes: list[tuple[int, ...]], what: str, start: int
) -> list[np.ndarray]:
    """Cut a layer's parameter tensor into consecutive pieces of the given (alias) shapes."""
    flat = params.reshape(-1)
    sizes = [math.prod(shape) for shape in shapes]
    if sum(sizes) != flat.size:
        raise reader.fail(f"{what} parameters of {sum(sizes)} floats for {shapes}", f"{flat.size}", start)
    ends = np.cumsum(sizes)
    return [flat[end - size : end].reshape(shape) for shape, size, end in zip(shapes, sizes, ends)]


def _skip_multipliers(reader: _Reader, what: str) -> None:
    """Skip the four training-only learning-rate and weight-decay multipliers."""
    for _ in range(4):
        reader.real(f"{what} learning rate/weight decay multiplier")


def _con(reader: _Reader, version: str, start: int) -> LayerRecord:
    """Read a convolution: filters (out, in, rows, cols), bias, stride and padding."""
    params = reader.tensor("con_ params")
    settings = {
        "num_filters": reader.count("con_ num_filters"),
        "kernel": (reader.count("con_ nr"), reader.count("con_ nc")),
        "stride": (reader.count("con_ stride_y"), reader.count("con_ stride_x")),
        "padding": (reader.count("con_ padding_y"), reader.count("con_ padding_x")),
    }
    shapes = [reader.alias("con_ filters"), reader.alias("con_ biases")]
    _skip_multipliers(reader, "con_")
    weight, bias = _split(reader, params, shapes, "con_", start)
    return LayerRecord("con", version, {"weight": weight, "bias": bias.reshape(-1)}, settings, start)


def _affine(reader: _Reader, version: str, start: int) -> LayerRecord:
    """Read a per-channel ``gamma * x + beta`` (a batch norm frozen after training)."""
    params = reader.tensor("affine_ params")
    shapes = [reader.alias("affine_ gamma"), reader.alias("affine_ beta")]
    settings = {"mode": reader.integer("affine_ mode")}  # 0: per channel, 1: per element
    gamma, beta = _split(reader, params, shapes, "affine_", start)
    found = {"gamma": gamma.reshape(-1), "beta": beta.reshape(-1)}
    return LayerRecord("affine", version, found, settings, start)


def _relu(reader: _Reader, version: str, start: int) -> LayerRecord:
    """A ReLU of this version stores nothing but its name."""
    return LayerRecord("relu", version, offset=start)


def _pool(reader: _Reader, version: str, start: int) -> LayerRecord:
    """Read max or average pooling; a 0x0 window means the whole image (avg_pool_everything)."""
    settings = {
        "kernel": (reader.count("pool nr"), reader.count("pool nc")),
        "stride": (reader.count("pool stride_y"), reader.count("pool stride_x")),
        "padding": (reader.count("pool padding_y"), reader.count("pool padding_x")),
    }
    return LayerRecord(version.removesuffix("_2"), version, {}, settings, start)


def _add_prev(reader: _Reader, version: str, start: int) -> LayerRecord:
    """An add_prev stores nothing but its name; the tag it adds is part of the C++ type."""
    return LayerRecord("add_prev", version, offset=start)


def _fc(reader: _Reader, version: str, start: int) -> LayerRecord:
    """Read a fully connected layer; its weight matrix is (inputs, outputs)."""
    settings = {"num_outputs": reader.count("fc_ num_outputs")}
    settings["num_inputs"] = reader.count("fc_ num_inputs")
    params = reader.tensor("fc_ params")
    weights, biases = reader.alias("fc_ weights"), reader.alias("fc_ biases")
    settings["has_bias"] = reader.integer("fc_ bias mode") == 0  # 0: FC_HAS_BIAS, 1: FC_NO_BIAS
    _skip_multipliers(reader, "fc_")
    pieces = _split(reader, params, [weights, biases] if settings["has_bias"] else [weights], "fc_", start)
    found = {"weight": pieces[0].reshape(weights[:2])}
    if settings["has_bias"]:
        found["bias"] = pieces[1].reshape(-1)
    return LayerRecord("fc", version, found, settings, start)


def _input_rgb_image_sized(reader: _Reader, version: str, start: int) -> LayerRecord:
    """Read the input layer: the per-channel means (R, G, B) and the fixed image size."""
    mean = np.array([reader.real(f"input mean {channel}") for channel in "RGB"], np.float32)
    settings = {"size": (reader.count("input nr"), reader.count("input nc"))}
    return LayerRecord("input_rgb_image_sized", version, {"mean": mean}, settings, start)


def _loss_metric(reader: _Reader, version: str, start: int) -> LayerRecord:
    """Read the metric-learning loss; only training uses it, the embedding is the fc output."""
    margin = reader.real("loss margin")
    settings = {"margin": margin, "distance_threshold": reader.real("loss distance threshold")}
    return LayerRecord("loss_metric", version, {}, settings, start)


_Details = dict[str, Callable[[_Reader, str, int], LayerRecord]]
_LOSS: _Details = {"loss_metric_2": _loss_metric}
_INPUT: _Details = {"input_rgb_image_sized": _input_rgb_image_sized}
_LAYERS: _Details = {
    "con_4": _con,
    "affine_": _affine,
    "relu_": _relu,
    "max_pool_2": _pool,
    "avg_pool_2": _pool,
    "add_prev_": _add_prev,
    "fc_2": _fc,
}


def _details(reader: _Reader, table: _Details, what: str) -> LayerRecord:
    """Read a layer's type/version name and hand over to the reader for that type."""
    start = reader.pos
    version = reader.string(f"{what} type/version name")
    if version not in table:
        raise reader.fail(f"{what} of a known type ({', '.join(sorted(table))})", repr(version), start)
    return table[version](reader, version, start)


def _skip_training_state(reader: _Reader, extra_tensor: str) -> None:
    """Skip what add_layer writes after a layer's settings: three flags and three tensors."""
    for flag in ("this_layer_setup_called", "gradient_input_is_stale", "output_and_gradient_disabled"):
        reader.boolean(f"add_layer {flag}")
    for name in ("x_grad", "cached_output", extra_tensor):
        reader.tensor(f"add_layer {name}")


def _read_wrapper_prefix(reader: _Reader) -> list[tuple[int, int]]:
    """Read (offset, version) of each wrapper from the top of the network down to the input.

    The innermost one, an add_layer around the input layer, is checked and left out.
    """
    known = (_TAG_OR_SKIP, _ADD_LAYER, _INPUT_ADD_LAYER)
    wrappers = []
    while not reader.at_string("input_"):
        wrappers.append((reader.pos, reader.version("layer wrapper version", known)))
    *above, (offset, innermost) = wrappers or [(reader.pos, None)]
    if innermost != _INPUT_ADD_LAYER:
        wanted = f"add_layer version {_INPUT_ADD_LAYER} around the input layer"
        raise reader.fail(wanted, f"version {innermost}", offset)
    for offset, version in above:
        if version == _INPUT_ADD_LAYER:
            raise reader.fail("a layer wrapper version 1 or 2", f"version {version}", offset)
    return above


def _read_bottom(reader: _Reader) -> list[LayerRecord]:
    """Read the innermost add_layer: the input layer and the first computational layer."""
    records = [_details(reader, _INPUT, "input layer"), _details(reader, _LAYERS, "layer")]
    _skip_training_state(reader, "grad_final")
    reader.count("add_layer sample_expansion_factor")
    return records


def parse_network(data: bytes) -> list[LayerRecord]:
    """Parse a whole serialised network with a loss_metric on top, input layer first."""
    reader = _Reader(data)
    reader.version("loss layer version", (1,))
    loss = _details(reader, _LOSS, "loss layer")
    wrappers = _read_wrapper_prefix(reader)
    records = _read_bottom(reader)
    for offset, version in reversed(wrappers):
        if version == _TAG_OR_SKIP:
            records.append(LayerRecord("tag_or_skip", str(version), offset=offset))
        else:
            records.append(_details(reader, _LAYERS, "layer"))
            _skip_training_state(reader, "params_grad")
    if reader.pos != len(data):
        raise reader.fail("the end of the file after the network", f"{len(data) - reader.pos} more bytes")
    return records + [loss]


def read_network(path: str | Path) -> list[LayerRecord]:
    """Parse a dlib ``.dat`` network file into layer records, input first, loss last."""
    return parse_network(Path(path).read_bytes())
