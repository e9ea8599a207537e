"""aipctl sim: an AWS-compatible emulator for what aipctl builds on (moto's server, extended).

Product code never imports this package; it only talks HTTP to it, exactly as to AWS.
"""

from aipctl_sim.server import EmulatorServer

__all__ = ["EmulatorServer"]
