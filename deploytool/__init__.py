"""deploytool: render, deploy and verify Milvus on Kubernetes per environment."""

__version__ = "0.1.0"
