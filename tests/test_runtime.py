"""Execution provider choice: CUDA first when there is one, else the CPU with a stated reason."""

from __future__ import annotations

import pytest

from core.errors import RuntimeUnavailableError
from core.models.registry import find_model
from core.models.runtime import CPU, CUDA, TENSORRT, choose_providers, create_session, onnxruntime, provider_options


def test_cuda_is_preferred_when_available():
    choice = choose_providers("auto", [CUDA, CPU])
    assert choice.providers == (CUDA, CPU) and choice.device == "CUDA"


def test_tensorrt_leads_when_present_with_cuda_behind_it_and_engines_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ONESHOT_TENSORRT_CACHE", str(tmp_path / "engines"))
    choice = choose_providers("auto", [TENSORRT, CUDA, CPU])
    assert choice.providers == (TENSORRT, CUDA, CPU) and choice.device == "TensorRT" and choice.on_gpu
    assert choose_providers("cuda", [TENSORRT, CUDA, CPU]).device == "TensorRT"
    (name, options), *rest = provider_options(choice)
    assert name == TENSORRT and rest == [CUDA, CPU]
    assert options["trt_engine_cache_enable"] and options["trt_engine_cache_path"] == str(tmp_path / "engines")
    assert provider_options(choose_providers("auto", [CUDA, CPU])) == [CUDA, CPU]


def test_tensorrt_alone_without_cuda_is_not_used():
    assert choose_providers("auto", [TENSORRT, CPU]).providers == (CPU,)


def test_cpu_fallback_says_why():
    choice = choose_providers("auto", ["AzureExecutionProvider", CPU])
    assert choice.providers == (CPU,) and choice.device == "CPU"
    assert "no CUDA provider" in choice.reason and "oneshot-faceid[gpu]" in choice.reason


def test_cuda_demanded_but_absent_is_an_error():
    with pytest.raises(RuntimeUnavailableError, match="CUDA was requested"):
        choose_providers("cuda", [CPU])


def test_cpu_can_be_forced_even_with_cuda():
    assert choose_providers("cpu", [CUDA, CPU]).providers == (CPU,)


def test_unknown_preference_is_rejected():
    with pytest.raises(ValueError, match="unknown provider preference"):
        choose_providers("tpu", [CPU])


def test_cuda_that_fails_to_start_falls_back_with_reason(monkeypatch):
    """A CUDA build without a usable driver: the session comes up on the CPU, and we say so."""
    ort = onnxruntime()
    monkeypatch.setattr(ort, "get_available_providers", lambda: [CUDA, CPU])
    real_session = ort.InferenceSession

    def cpu_only_session(path, options, providers):
        return real_session(path, options, providers=[CPU])

    monkeypatch.setattr(ort, "InferenceSession", cpu_only_session)
    session, choice = create_session(find_model("detect").path, "auto")
    assert session.get_providers() == [CPU]
    assert choice.device == "CPU" and not choice.on_gpu
    assert choice.reason.startswith("CPU: the CUDA provider failed to start")


@pytest.mark.gpu
def test_models_run_on_cuda_when_present():
    ort = onnxruntime()
    if CUDA not in ort.get_available_providers():
        pytest.skip("no CUDA execution provider in this ONNX Runtime build (install oneshot-faceid[gpu])")
    try:
        session, choice = create_session(find_model("embed").path, "cuda")
    except RuntimeUnavailableError as error:
        pytest.skip(f"CUDA provider installed but unusable here: {error}")
    assert session.get_providers()[0] == CUDA and choice.device == "CUDA"
