"""Pure scaling policy: the policy model, the decider and time-of-day schedules.

Must not import any I/O library; time comes in as ``now``.
"""
