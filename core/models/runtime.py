"""ONNX Runtime sessions: which execution provider runs the models, and why.

The provider choice lives here only. ``auto`` prefers the GPU, through TensorRT when the
ONNX Runtime build has it (CUDA then runs what TensorRT cannot) and CUDA otherwise, and falls
back to the CPU with a reason the user can read (no GPU build installed, no driver, the
provider failed to start). Detector and embedder receive a ready session, so tests can hand
in any session they like.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, RuntimeUnavailableError
from ..paths import user_path

log = logging.getLogger(__name__)

# ONNX Runtime's recent Linux and macOS builds (measured with 1.32) record telemetry from the
# moment the module is imported: a persistent random device id and an offline queue of events
# (OS, executable path, CPU model, memory size, container or VM, ORT version; then session,
# model and execution-provider events) in ~/.cache/Microsoft/DeveloperTools/.onnxruntime
# ($XDG_CACHE_HOME if set), uploaded to Microsoft when online. ORT_DISABLE_TELEMETRY=1 before
# the import stops all of it: nothing is written or sent. A user who wants to share it sets
# ORT_DISABLE_TELEMETRY=0 in the environment.
TELEMETRY_VARIABLE = "ORT_DISABLE_TELEMETRY"
os.environ.setdefault(TELEMETRY_VARIABLE, "1")

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
DEVICES = {TENSORRT: "TensorRT", CUDA: "CUDA", CPU: "CPU"}
PREFERENCES = ("auto", "cuda", "cpu")


def device_name(provider: str) -> str:
    """``TensorRT``, ``CUDA`` or ``CPU`` for an ONNX Runtime provider (any other by its own name)."""
    return DEVICES.get(provider, provider)


@dataclass(frozen=True)
class ProviderChoice:
    """The providers a session runs on, in priority order, and the reason for that choice."""

    providers: tuple[str, ...]
    reason: str

    @property
    def device(self) -> str:
        """``TensorRT``, ``CUDA`` or ``CPU``: what the UI and ``oneshot info`` show."""
        return device_name(self.providers[0]) if self.providers else "CPU"

    @property
    def on_gpu(self) -> bool:
        return self.device != "CPU"


def onnxruntime():
    """Import ONNX Runtime, or explain how to install it."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise RuntimeUnavailableError(
            "ONNX Runtime is not installed: pip install 'oneshot-faceid[cpu]' "
            "(or 'oneshot-faceid[gpu]' for CUDA)"
        ) from None
    if os.environ.get(TELEMETRY_VARIABLE) != "0" and hasattr(ort, "disable_telemetry_events"):
        # Too late for what the import itself wrote if something imported ONNX Runtime before
        # this module set the variable, but it stops the events of the sessions to come.
        ort.disable_telemetry_events()
    return ort


def choose_providers(preference: str = "auto", available: list[str] | None = None) -> ProviderChoice:
    """Pick providers for a preference given what this ONNX Runtime build offers."""
    if preference not in PREFERENCES:
        raise ValueError(f"unknown provider preference {preference!r}; choose one of {PREFERENCES}")
    if available is None:
        available = onnxruntime().get_available_providers()
    if preference == "cpu":
        return ProviderChoice((CPU,), "CPU chosen in settings")
    if CUDA in available and TENSORRT in available:
        return ProviderChoice((TENSORRT, CUDA, CPU), "TensorRT and CUDA providers available")
    if CUDA in available:
        return ProviderChoice((CUDA, CPU), "CUDA provider available")
    reason = "this ONNX Runtime build has no CUDA provider (install oneshot-faceid[gpu])"
    if preference == "cuda":
        raise RuntimeUnavailableError(f"CUDA was requested but {reason}")
    return ProviderChoice((CPU,), f"CPU: {reason}")


def default_threads() -> int:
    """Intra-op threads: ``ONESHOT_THREADS`` if set, else every core this process may use."""
    configured = os.environ.get("ONESHOT_THREADS")
    if configured:
        return max(1, int(configured))
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def create_session(model_path: Path, preference: str = "auto", threads: int | None = None):
    """Open an inference session; return it with the provider choice actually in effect."""
    ort = onnxruntime()
    choice = choose_providers(preference, ort.get_available_providers())
    if choice.on_gpu and hasattr(ort, "preload_dlls"):
        _preload_cuda_libraries(ort)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # our own logging says what matters
    # Spinning worker threads make one model's repeated calls a little faster, but the
    # detector's idle spinners then steal the cores from the embedder that runs next, and
    # an idle desktop app would burn CPU: a 640x480 frame took 72 ms with spinning, 41 without.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(model_path), options, providers=provider_options(choice))
    except Exception as exc:  # ORT raises its own exception types for a bad file
        raise ModelError(f"{model_path}: not a usable ONNX model ({_first_line(exc)})") from None
    in_effect = tuple(session.get_providers())
    if in_effect[0] != choice.providers[0]:
        # A GPU provider is installed but could not start (no driver, no device, no TensorRT libraries).
        failure = f"the {choice.device} provider failed to start (driver, device or its libraries missing)"
        choice = ProviderChoice(in_effect, f"{device_name(in_effect[0])}: {failure}")
        if preference == "cuda" and not choice.on_gpu:
            raise RuntimeUnavailableError(f"CUDA was requested but {failure}")
    log.info("%s runs on %s (%s)", Path(model_path).name, ", ".join(in_effect), choice.reason)
    return session, choice


def provider_options(choice: ProviderChoice) -> list:
    """The providers with their options: TensorRT keeps its built engines in the user cache.

    Building a TensorRT engine takes a while; the cache makes it a first-start cost only.
    Engines stay FP32 (TensorRT's own FP16 switch is unchecked): FP16 comes from a model made
    and checked by ``oneshot models half``.
    """
    if choice.providers[0] != TENSORRT:
        return list(choice.providers)
    cache = user_path("ONESHOT_TENSORRT_CACHE", "cache", "tensorrt")
    return [(TENSORRT, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache),
                        "trt_timing_cache_enable": True}), *choice.providers[1:]]


def _preload_cuda_libraries(ort) -> None:
    """Load CUDA and cuDNN from the nvidia-* wheels (bundled in the GPU installer) if present.

    Without them ONNX Runtime looks only on the system library path; a failure here is not
    fatal, the session start then says whether CUDA works.
    """
    try:
        ort.preload_dlls()
    except Exception as exc:  # missing wheels or driver: the session start reports the outcome
        log.info("no bundled CUDA libraries preloaded (%s)", _first_line(exc))


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
