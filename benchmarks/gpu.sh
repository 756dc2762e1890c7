#!/usr/bin/env bash
# The accelerator benchmarks in one go, for a GPU VM with this project installed and a Python that
# also has PyTorch (the WGAN peer runs on the same GPU):
#
#   bash benchmarks/gpu.sh [PYTHON [STEP ...]]     (default: every step, in this order)
#
# throughput  WGAN throughput, jaxgan against the official PyTorch code on the same GPU, with the
#             share of the bf16 / fp32 peaks (gan_throughput_gpu).
# atari       The whole Atari DQN loop's frames/s beside envpool's raw step rate, XLA and host paths
#             (dqn_atari_gpu). envpool's XLA step has been reported to abort on GPUs with recent JAX:
#             when the run with both paths fails, the host path is measured alone and the log says
#             why. Then the XLA path with 4 environments, one step each per update (dqn_atari_gpu_envs4).
# determinism Bitwise reproducibility with and without XLA's deterministic-ops flag, and its cost on
#             the WGAN and DQN throughput (determinism_gpu).
# scaling     How DQN scales with vmapped seeds on the one GPU: 1, 8, 64 and 256 seeds and the 3x3
#             sweep x 8 seeds against its 9 separate runs (scaling_gpu).
# pong        DQN on Pong (cleanrl-atari, 4 environments) for 8 minutes, its curve beside CleanRL's
#             published one at the same steps (dqn_pong_gpu).
# Each step runs whatever happened to the one before; results land in benchmarks/results/.
set -u
py=${1:-python}
shift || true
steps=${*:-throughput atari determinism scaling pong}
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
status=0
step() {  # runs a command; a failure is reported, remembered and returned
  echo "== $*"
  "$@" && return 0
  local rc=$?
  echo "== failed ($rc): $*"
  status=1
  return $rc
}

for s in $steps; do
  case $s in
    throughput) step "$py" benchmarks/gan_throughput.py --name gan_throughput_gpu ;;
    atari)
      if ! step "$py" benchmarks/dqn_atari.py --paths xla host --speed-steps 8000 --curve-steps 0 \
           --name dqn_atari_gpu; then
        step "$py" benchmarks/dqn_atari.py --paths host --speed-steps 8000 --curve-steps 0 --name dqn_atari_gpu
      fi
      step "$py" benchmarks/dqn_atari.py --paths xla --num-envs 4 --speed-steps 16000 --curve-steps 0 \
        --name dqn_atari_gpu_envs4 ;;
    determinism) step "$py" benchmarks/determinism.py --dqn-steps 50000 --name determinism_gpu ;;
    scaling) step "$py" benchmarks/scaling.py --steps 30000 --devices 1 --name scaling_gpu ;;
    pong) step "$py" benchmarks/dqn_pong_curve.py --minutes 8 --num-envs 4 --name dqn_pong_gpu ;;
    *) echo "unknown step $s: choose from throughput atari determinism scaling pong"; exit 2 ;;
  esac
done
exit $status
