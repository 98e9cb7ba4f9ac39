# Sourced by the scripts that run PyTorch (run_pretrain.sh, run_finetune.sh,
# bench/compare_ort.sh). Debian's OpenBLAS 0.3.21 does not recognise AVX-512 Zen CPUs and falls
# back to slow kernels; forcing SKYLAKEX fixes that there, but is an illegal instruction on CPUs
# without AVX-512. An OPENBLAS_CORETYPE already in the environment is kept.
if grep -qw avx512bw /proc/cpuinfo; then export OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-SKYLAKEX}"; fi
