"""Physics-informed neural network surrogate of the steady-state transport equation (seed 000).

problem.PINNProblem (the non-dimensional PDE), networks (factorised modified MLP), residual
(hard boundary conditions, autodiff residual), train (collocation, balancing, RAD, curriculum,
checkpoints), reference (exact series), emulator.PINNEmulator (artifact, Simulator, guard).
"""

from .emulator import PINNEmulator

__all__ = ["PINNEmulator"]
