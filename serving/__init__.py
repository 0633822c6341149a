"""The bundled serving tier: Kubernetes manifests for real vLLM and the vLLM engine emulator."""
