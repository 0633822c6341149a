"""Sub-commands of ``controlplane``; one module each, discovered by :mod:`controlplane.cli`."""
