"""Actuators: carry a Decision out on the serving tier, and decide who may.

- ``kubernetes``: a Deployment's replica count through the scale subresource
  (official client), with owner-conflict hand-off and at-most-once patches.
- ``leader``: Lease leader election, so only one controller replica actuates.
- ``events``: Kubernetes Events on the Deployments we act on.
- ``kubeclient``: client configuration and error classification.
- ``local``: replicas as local processes (single-machine mode).

This package imports none of its modules, so single-machine mode never loads the
Kubernetes client; import the one you need by name.
"""

__all__: list[str] = []
