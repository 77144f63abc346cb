"""A local stand-in for the BackgroundCut API that keeps its documented contract.

Its segmentation is deliberately simple (distance from the border colour); its job is
contract fidelity: keys, credits, every status code, limits, formats and the dynamic
rate limit, plus fault injection for reliability tests. Needs `werkzeug` (the
`emulator` extra).
"""

from .server import Emulator, Fault

__all__ = ["Emulator", "Fault"]
