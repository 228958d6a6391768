"""What stands in for cert-manager in the sandbox, which has none: an auto-approver for
``zerossl.issuer.dev`` requests and a minimal ``Certificate`` -> CertificateRequest -> Secret
loop. Both act through the Kubernetes API only, so they run against any API server
(``python -m controller.sandbox cert-manager --kubeconfig ...``); see docs/sandbox.md."""
