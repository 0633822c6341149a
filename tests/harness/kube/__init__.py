"""Parts of the Kubernetes API server stand-in; the entry point is ``tests.harness.kube_standin``."""
