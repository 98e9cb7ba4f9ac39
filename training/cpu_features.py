"""What the training scripts ask of the CPU they run on."""


def native_bf16():
    """True where the CPU has bf16 arithmetic (AVX512-BF16 or AMX). Elsewhere PyTorch 1.13
    emulates bf16 matmuls in scalar code, and a step under bf16 autocast is many times slower
    than in F32 (seen: no 20 steps of masked LM in 8 minutes on an AVX2-only EPYC)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_bf16(flag, device):
    """--bf16 -1 (the default) means: on for CUDA and for CPUs with native bf16, else off."""
    if flag >= 0:
        return flag
    return int(device.startswith("cuda") or native_bf16())
