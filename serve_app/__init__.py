"""The Ray Serve application: ingress, predictor, metrics and scheduler deployments.

Importing the package does nothing; the deployment modules import `serve_app._ray_patches`.
"""
