"""A local stand-in for the BackgroundCut API that keeps its documented contract.

Its segmentation is deliberately simple (distance from the border colour); its job is
contract fidelity: keys, credits, every status code, limits, formats and the dynamic
rate limit, plus fault injection for reliability tests. It is built to run for long
sessions: bounded memory, per-connection timeouts, the 12 MB limit on the bytes actually
read, and one masked log line per request when asked. Needs `werkzeug` (the `emulator`
extra).
"""

from .server import Emulator, Fault, Seen

__all__ = ["Emulator", "Fault", "Seen"]
