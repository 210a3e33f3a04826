"""The library of standard PDEs, registered by name for configs (``pde.name``).

Each entry is a function of the PDE's physical parameters returning a :class:`PDE`.
Add your own with ``@PDES.register("name")``; nothing in the solvers or the PINN code
needs to change::

    @PDES.register("my_reaction_diffusion")
    def my_reaction_diffusion(d: float = 0.1) -> PDE:
        return PDE(name="my_reaction_diffusion", fields=("u",), ...)
"""

from .benchmarks import ginzburg_landau as ginzburg_landau
from .benchmarks import gray_scott_jaxpi as gray_scott_jaxpi
from .benchmarks import helmholtz as helmholtz
from .benchmarks import kdv_jaxpi as kdv_jaxpi
from .benchmarks import klein_gordon_forced as klein_gordon_forced
from .benchmarks import lid_driven_cavity as lid_driven_cavity
from .one_d import advection as advection
from .one_d import allen_cahn as allen_cahn
from .one_d import burgers as burgers
from .one_d import fisher_kpp as fisher_kpp
from .one_d import heat as heat
from .one_d import kdv as kdv
from .one_d import kuramoto_sivashinsky as kuramoto_sivashinsky
from .reaction import gray_scott as gray_scott
from .registry import PDES as PDES
from .sources import poisson_source as poisson_source
from .two_d import darcy as darcy
from .two_d import darcy_pde as darcy_pde
from .two_d import navier_stokes_2d as navier_stokes_2d
from .two_d import poisson as poisson
from .variable import heat_coefficient as heat_coefficient
