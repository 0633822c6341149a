"""Sources: read a serving deployment's signals from a monitoring backend.

Each module implements :class:`controlplane.protocols.Source` for one backend
(``prometheus``: metrics; log sources beside it). Sources do the I/O; what they
return is pure data (:class:`controlplane.signals.Signals`), and every odd answer
becomes an explicit missing reading, never a zero.
"""
